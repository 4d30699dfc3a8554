//! From a parsed config file and the command line to the engine's [`Options`]: the config
//! first, then every flag given on the command line overrides it (spec §3).

use clap::ArgMatches;
use shards::options::{Options, TlsOpts};

use crate::config::ConfigOptions;
use crate::logging::LogOptions;
use crate::process::ProcessOptions;

fn flag_bool(m: &ArgMatches, id: &str) -> Option<bool> {
    m.get_one::<bool>(id).copied()
}

fn flag_str<'a>(m: &'a ArgMatches, id: &str) -> Option<&'a String> {
    m.get_one::<String>(id)
}

/// Refuses config settings for features the engine does not have yet, naming them, so a
/// file written for nats-server never runs with part of it silently ignored.
fn refuse_unsupported(c: &ConfigOptions) -> Result<(), String> {
    let mut missing = Vec::new();
    if c.authorization.is_some() || c.no_auth_user.is_some() {
        missing.push("authorization");
    }
    if c.tls
        .as_ref()
        .is_some_and(|t| t.connection_rate_limit.is_some())
    {
        missing.push("tls.connection_rate_limit");
    }
    if c.cluster.is_some() {
        missing.push("cluster");
    }
    if c.syslog == Some(true) || c.remote_syslog.is_some() {
        missing.push("syslog");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "configuration uses features nats-tpc does not support yet: {}",
            missing.join(", ")
        ))
    }
}

/// The engine's TLS options from a `tls {}` block.
fn tls_opts(t: &crate::config::TlsConfig) -> Result<TlsOpts, String> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        // nats-server starts without a certificate and then fails every handshake.
        return Err("tls: 'cert_file' and 'key_file' are required".to_string());
    };
    Ok(TlsOpts {
        cert_file: cert.clone(),
        key_file: key.clone(),
        ca_file: t.ca_file.clone(),
        verify: t.verify,
        map: t.map,
        timeout: match t.timeout {
            Some(s) if s > 0.0 && s.is_finite() => std::time::Duration::from_secs_f64(s),
            _ => shards::defaults::TLS_TIMEOUT,
        },
        handshake_first: t.handshake_first,
        handshake_first_fallback: t.handshake_first_fallback,
        cipher_suites: t.cipher_suites.clone(),
        curve_preferences: t.curve_preferences.clone(),
        min_tls13: t.min_version.as_deref() == Some("1.3"),
        pinned_certs: t.pinned_certs.clone(),
    })
}

/// The `--tls*` flags (nats-server's `overrideTLS`): `--tls=false` turns TLS off, config
/// included; any other TLS flag builds the certificate settings from the flags alone, and
/// the config's timeout, handshake_first, pinned_certs and verify_and_map stay.
fn apply_tls_flags(o: &mut Options, m: &ArgMatches) -> Result<(), String> {
    if flag_bool(m, "tls") == Some(false) {
        o.tls = None;
        return Ok(());
    }
    let given = flag_bool(m, "tls").is_some()
        || ["tlscert", "tlskey", "tlscacert"]
            .iter()
            .any(|id| flag_str(m, id).is_some())
        || flag_bool(m, "tlsverify").is_some();
    if !given {
        return Ok(());
    }
    let cert = flag_str(m, "tlscert")
        .ok_or("TLS Server certificate must be present and valid")?
        .clone();
    let key = flag_str(m, "tlskey")
        .ok_or("TLS Server private key must be present and valid")?
        .clone();
    let base = o.tls.take().unwrap_or(TlsOpts {
        timeout: shards::defaults::TLS_TIMEOUT,
        ..TlsOpts::default()
    });
    o.tls = Some(TlsOpts {
        cert_file: cert,
        key_file: key,
        ca_file: flag_str(m, "tlscacert").cloned(),
        verify: flag_bool(m, "tlsverify").unwrap_or(false),
        cipher_suites: None,
        curve_preferences: None,
        min_tls13: false,
        ..base
    });
    Ok(())
}

fn positive(name: &str, v: i64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{name}: invalid value {v}"))
}

/// Applies a config file's settings.
fn apply_config(o: &mut Options, lo: &mut LogOptions, c: &ConfigOptions) -> Result<(), String> {
    refuse_unsupported(c)?;
    if let Some(h) = &c.host {
        o.host = h.clone();
    }
    if let Some(p) = c.port {
        o.port = i32::try_from(p).map_err(|_| format!("port: invalid value {p}"))?;
    }
    if let Some(n) = &c.server_name {
        o.server_name = Some(n.clone());
    }
    if let Some(v) = c.max_payload {
        o.max_payload = positive("max_payload", v as i64)?;
    }
    if let Some(v) = c.max_control_line {
        o.max_control_line = positive("max_control_line", v as i64)?;
    }
    if let Some(v) = c.max_pending {
        o.max_pending = positive("max_pending", v)?;
    }
    if let Some(v) = c.max_connections {
        // nats-server maps 0 to "reject everyone" (spec CL-02); negative means no limit.
        o.max_connections = if v < 0 { usize::MAX } else { v as usize };
    }
    if let Some(v) = c.max_subscriptions {
        o.max_subscriptions = if v < 0 { 0 } else { v as usize };
    }
    if let Some(d) = c.ping_interval {
        o.ping_interval = d;
    }
    if let Some(v) = c.ping_max {
        o.ping_max = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    }
    if let Some(d) = c.write_deadline {
        o.write_deadline = d;
    }
    if let Some(b) = c.no_header_support {
        o.no_header_support = b;
    }
    if let Some(n) = c.shards {
        o.shards = n;
    }
    if let Some(p) = c.http_port {
        o.http_port = Some(i32::try_from(p).map_err(|_| format!("http_port: invalid value {p}"))?);
    }
    if let Some(h) = &c.http_host {
        o.http_host = Some(h.clone());
    }
    if let Some(b) = &c.http_base_path {
        o.http_base_path = b.clone();
    }
    if let Some(n) = c.max_closed_clients {
        o.max_closed_clients = n.max(0) as usize;
    }
    if let Some(p) = c.https_port {
        o.https_port =
            Some(i32::try_from(p).map_err(|_| format!("https_port: invalid value {p}"))?);
    }
    if let Some(t) = &c.tls {
        o.tls = Some(tls_opts(t)?);
    }
    if let Some(b) = c.allow_non_tls {
        o.allow_non_tls = b;
    }
    if let Some(b) = c.debug {
        lo.debug = b;
    }
    if let Some(b) = c.trace {
        lo.trace = b;
    }
    if let Some(b) = c.logtime {
        lo.logtime = b;
    }
    if let Some(b) = c.logtime_utc {
        lo.utc = b;
    }
    if let Some(f) = &c.log_file {
        lo.file = Some(f.clone());
    }
    Ok(())
}

/// Everything `main` needs to start: engine options, logging options, the config file's
/// warnings and path.
pub struct Resolved {
    pub opts: Options,
    pub log: LogOptions,
    pub warnings: Vec<String>,
    pub config_file: Option<String>,
    /// Pid file and ports file directory.
    pub process: ProcessOptions,
}

/// Builds the options from the config file (if any) and the flags.
pub fn resolve(m: &ArgMatches) -> Result<Resolved, Vec<String>> {
    let mut o = Options::default();
    let mut lo = LogOptions {
        debug: false,
        trace: false,
        logtime: true,
        utc: false,
        file: None,
    };
    let mut warnings = Vec::new();
    let mut po = ProcessOptions::default();
    let config_file = flag_str(m, "config").cloned();
    if let Some(path) = &config_file {
        let (c, w) = crate::config::load(std::path::Path::new(path)).map_err(|mut e| {
            // nats-server's config error text ends with a newline of its own: a blank line.
            e.push(String::new());
            e
        })?;
        warnings = w;
        apply_config(&mut o, &mut lo, &c).map_err(|e| vec![e])?;
        po.pid_file = c.pid_file.clone();
        po.ports_file_dir = c.ports_file_dir.clone();
    }
    let one = |e: String| vec![e];
    if let Some(a) = flag_str(m, "addr") {
        o.host = a.clone();
    }
    if let Some(p) = flag_str(m, "port") {
        o.port = p
            .parse::<i32>()
            .map_err(|_| one(format!("invalid value \"{p}\" for flag -port: parse error")))?;
    }
    if let Some(p) = flag_str(m, "http_port") {
        o.http_port = Some(p.parse::<i32>().map_err(|_| {
            one(format!(
                "invalid value \"{p}\" for flag -http_port: parse error"
            ))
        })?);
    }
    if let Some(p) = flag_str(m, "https_port") {
        o.https_port = Some(p.parse::<i32>().map_err(|_| {
            one(format!(
                "invalid value \"{p}\" for flag -https_port: parse error"
            ))
        })?);
    }
    apply_tls_flags(&mut o, m).map_err(one)?;
    if let Some(t) = &o.tls {
        // Certificate problems end the start, before any log line, as in nats-server.
        shards::tls::build(t).map_err(|e| one(e.to_string()))?;
    }
    if let Some(n) = flag_str(m, "server_name") {
        o.server_name = Some(n.clone());
    }
    if let Some(s) = flag_str(m, "shards") {
        o.shards = s.parse::<usize>().map_err(|_| {
            one(format!(
                "invalid value \"{s}\" for flag -shards: parse error"
            ))
        })?;
    }
    if let Some(b) = flag_bool(m, "debug") {
        lo.debug = b;
    }
    if let Some(b) = flag_bool(m, "trace") {
        lo.trace = b;
    }
    for id in ["dv", "dvv"] {
        if let Some(b) = flag_bool(m, id) {
            lo.debug = b;
            lo.trace = b;
        }
    }
    if let Some(b) = flag_bool(m, "vv") {
        lo.trace = b;
    }
    if let Some(b) = flag_bool(m, "logtime") {
        lo.logtime = b;
    }
    if let Some(b) = flag_bool(m, "logtime_utc") {
        lo.utc = b;
    }
    if let Some(f) = flag_str(m, "log") {
        lo.file = Some(f.clone());
    }
    if let Some(p) = flag_str(m, "pid") {
        po.pid_file = Some(p.clone());
    }
    if let Some(d) = flag_str(m, "ports_file_dir") {
        po.ports_file_dir = Some(d.clone());
    }
    o.debug = lo.debug;
    o.trace = lo.trace;
    Ok(Resolved {
        opts: o,
        log: lo,
        warnings,
        config_file,
        process: po,
    })
}
