//! From a parsed config file and the command line to the engine's [`Options`]: the config
//! first, then every flag given on the command line overrides it (spec §3).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::ArgMatches;
use shards::auth::{self as engine, AuthConfig, Secret};
use shards::options::{ClusterOpts, Options, RouteUrl, SubjectPerm, TlsOpts};

use crate::config::auth as conf;
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
    if c.tls
        .as_ref()
        .is_some_and(|t| t.connection_rate_limit.is_some())
    {
        missing.push("tls.connection_rate_limit");
    }
    if let Some(cl) = &c.cluster {
        if cl.tls.as_ref().is_some_and(|t| t.map) {
            missing.push("cluster tls verify_and_map");
        }
        if cl.tls.as_ref().is_some_and(|t| t.check_known_urls) {
            missing.push("cluster tls verify_cert_and_check_known_urls");
        }
        if cl
            .tls
            .as_ref()
            .is_some_and(|t| t.connection_rate_limit.is_some())
        {
            missing.push("cluster tls connection_rate_limit");
        }
        if cl.pool_size.is_some_and(|n| n > 0) {
            missing.push("cluster pool_size (route pooling; leave it out or set -1)");
        }
        if cl.accounts.as_ref().is_some_and(|a| !a.is_empty()) {
            missing.push("cluster accounts (pinned account routes)");
        }
        if cl
            .compression
            .as_ref()
            .is_some_and(|m| !matches!(m.mode.as_str(), "" | "off" | "accept" | "not supported"))
        {
            missing.push("cluster compression");
        }
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

/// `max_traced_msg_len`: nats-server truncates only for values above 0.
fn traced_len(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A Go `Int64Var`/`IntVar` flag value, with the flag package's error text.
fn flag_int(v: &str, name: &str) -> Result<i64, String> {
    crate::cli::go_parse_int(v)
        .map_err(|why| format!("invalid value \"{v}\" for flag -{name}: {why}"))
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
        insecure: t.insecure,
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

fn engine_perms(p: &conf::Permissions) -> engine::Permissions {
    let list = |sp: &Option<conf::SubjectPermission>| {
        sp.as_ref().map(|sp| engine::SubjectPermission {
            allow: sp.allow.clone(),
            deny: sp.deny.clone(),
        })
    };
    engine::Permissions {
        publish: list(&p.publish),
        subscribe: list(&p.subscribe),
        response: p
            .allow_responses
            .as_ref()
            .map(|r| engine::ResponsePermission {
                max_msgs: r.max_msgs,
                // nats-server's negative expiry ("never") is a zero one here.
                expires: if r.expires == Duration::MAX {
                    Duration::ZERO
                } else {
                    r.expires
                },
            }),
    }
}

/// The engine's authentication settings from `authorization {}` and `no_auth_user`.
fn auth_config(a: Option<&conf::AuthorizationConfig>, no_auth_user: Option<&String>) -> AuthConfig {
    let mut out = AuthConfig {
        no_auth_user: no_auth_user.cloned(),
        ..Default::default()
    };
    let Some(a) = a else { return out };
    out.token = a.token.clone().map(Secret::new);
    out.username = a.user.clone();
    out.password = a.password.clone().map(Secret::new);
    if let Some(users) = &a.users {
        let mut by_name = HashMap::new();
        let mut by_nkey = HashMap::new();
        for u in users {
            let entry = engine::User {
                name: u.nkey.clone().unwrap_or_else(|| u.user.clone()),
                password: u.password.clone().map(Secret::new),
                permissions: u.permissions.as_ref().map(|p| Arc::new(engine_perms(p))),
                allowed_connection_types: u.allowed_connection_types.clone(),
            };
            match &u.nkey {
                Some(k) => by_nkey.insert(k.clone(), Arc::new(entry)),
                None => by_name.insert(u.user.clone(), Arc::new(entry)),
            };
        }
        // As nats-server: a `users` list (even of nkeys only, or empty) means users are
        // configured; nkeys only when there is one.
        out.users = Some(by_name);
        out.nkeys = (!by_nkey.is_empty()).then_some(by_nkey);
    }
    out
}

fn perm(p: &Option<crate::config::auth::SubjectPermission>) -> Option<SubjectPerm> {
    p.as_ref().map(|p| SubjectPerm {
        allow: p.allow.clone(),
        deny: p.deny.clone(),
    })
}

/// The `cluster {}` block as route options (the port decides later whether routes run).
fn cluster_from_config(cl: &crate::config::cluster::ClusterConfig) -> Result<ClusterOpts, String> {
    let mut co = ClusterOpts {
        port: 0,
        ..Default::default()
    };
    co.name = cl.name.clone();
    if let Some(h) = &cl.host {
        co.host = h.clone();
    }
    if let Some(p) = cl.port {
        co.port = i32::try_from(p).map_err(|_| format!("cluster port: invalid value {p}"))?;
    }
    co.advertise = cl.advertise.clone();
    co.no_advertise = cl.no_advertise.unwrap_or(false);
    for r in cl.routes.iter().flatten() {
        co.routes.push(RouteUrl::parse(r)?);
    }
    if let Some(t) = &cl.tls {
        let t = tls_opts(t)?;
        // nats-server (getDefaultAuthTimeout): with TLS a route has the TLS timeout plus a
        // second to authenticate, unless `authorization { timeout }` says otherwise.
        co.auth_timeout = t.timeout + std::time::Duration::from_secs(1);
        co.tls = Some(t);
    }
    if let Some(a) = &cl.authorization {
        co.user = a.user.clone();
        co.password = a.password.clone();
        if let Some(t) = a.timeout {
            co.auth_timeout = std::time::Duration::from_secs_f64(t.max(0.0));
        }
    }
    if let Some(n) = cl.connect_retries {
        co.connect_retries = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    }
    co.connect_backoff = cl.connect_backoff.unwrap_or(false);
    if let Some(d) = cl.ping_interval {
        co.ping_interval = d;
    }
    if let Some(n) = cl.ping_max {
        co.ping_max = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    }
    co.write_deadline = cl.write_deadline;
    if let Some(p) = cl.write_timeout {
        co.write_timeout = p;
    }
    if let Some(p) = &cl.permissions {
        co.import = perm(&p.import);
        co.export = perm(&p.export);
    }
    Ok(co)
}

/// The cluster flags of spec §3 on top of the config's block. `--cluster` replaces the
/// listen address and the authorization (none without userinfo, as nats-server does).
fn apply_cluster_flags(co: &mut ClusterOpts, m: &ArgMatches) -> Result<(), String> {
    if let Some(u) = flag_str(m, "cluster") {
        if u.is_empty() {
            co.port = 0;
        } else {
            let random = u.ends_with(":-1");
            let fixed = if random {
                format!("{}:0", &u[..u.len() - 3])
            } else {
                u.clone()
            };
            let rest = fixed.split_once("://").map_or(fixed.as_str(), |(_, r)| r);
            let rest = rest.split('/').next().unwrap_or("");
            let (userinfo, hostport) = match rest.rsplit_once('@') {
                Some((a, b)) => (Some(a), b),
                None => (None, rest),
            };
            let (h, p) = hostport
                .rsplit_once(':')
                .ok_or_else(|| format!("address {hostport}: missing port in address"))?;
            let h = h.trim_start_matches('[').trim_end_matches(']');
            co.host = h.to_string();
            co.port = if random {
                -1
            } else {
                p.parse::<i32>()
                    .map_err(|_| format!("invalid cluster port in {u:?}"))?
            };
            match userinfo {
                Some(ui) => match ui.split_once(':') {
                    Some((user, pass)) => {
                        co.user = Some(user.to_string());
                        co.password = Some(pass.to_string());
                    }
                    None => return Err("expected cluster password to be set".to_string()),
                },
                None => {
                    co.user = None;
                    co.password = None;
                }
            }
        }
    }
    if let Some(r) = flag_str(m, "routes") {
        co.routes = r
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(RouteUrl::parse)
            .collect::<Result<_, _>>()?;
    }
    if let Some(n) = flag_str(m, "cluster_name") {
        if n.contains(' ') {
            return Err("cluster name cannot contain spaces".to_string());
        }
        co.name = Some(n.clone()).filter(|n| !n.is_empty());
    }
    if let Some(a) = flag_str(m, "cluster_advertise") {
        co.advertise = Some(a.clone()).filter(|a| !a.is_empty());
    }
    if let Some(b) = flag_bool(m, "no_advertise") {
        co.no_advertise = b;
    }
    if let Some(n) = flag_str(m, "connect_retries") {
        co.connect_retries = n
            .parse::<i64>()
            .map_err(|_| format!("invalid value \"{n}\" for flag -connect_retries: parse error"))?
            .max(0) as u32;
    }
    Ok(())
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
    if let Some(p) = c.write_timeout {
        o.write_timeout = p;
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
    if let Some(n) = c.max_sub_tokens {
        o.max_sub_tokens = n as usize;
    }
    if c.authorization.is_some() || c.no_auth_user.is_some() {
        o.auth = Some(Arc::new(auth_config(
            c.authorization.as_ref(),
            c.no_auth_user.as_ref(),
        )));
    }
    if let Some(t) = c.authorization.as_ref().and_then(|a| a.timeout) {
        // nats-server takes 0 for "the default".
        if t > 0.0 {
            o.auth_timeout = Duration::try_from_secs_f64(t)
                .map_err(|_| format!("authorization timeout: invalid value {t}"))?;
        }
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
    if let Some(b) = c.trace_verbose {
        lo.trace_verbose = b;
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
    if let Some(a) = &c.client_advertise {
        o.client_advertise = Some(a.clone());
    }
    if let Some(cl) = &c.cluster {
        o.cluster_name = cl.name.clone();
        o.cluster = Some(cluster_from_config(cl)?);
    }
    if let Some(n) = c.log_size_limit {
        lo.size_limit = n;
    }
    if let Some(n) = c.log_max_num {
        lo.max_files = n;
    }
    if let Some(b) = c.syslog {
        lo.syslog = b;
    }
    if let Some(r) = &c.remote_syslog {
        lo.remote_syslog = r.clone();
    }
    if let Some(n) = c.max_traced_msg_len {
        o.max_traced_msg_len = traced_len(n);
    }
    Ok(())
}

/// `--user`, `--pass` and `--auth` override the config's single user and token (AU-05); then
/// the whole authentication setup is checked as nats-server checks it at start-up.
fn apply_auth_flags(o: &mut Options, m: &ArgMatches) -> Result<(), String> {
    let (user, pass, token) = (
        flag_str(m, "user").filter(|s| !s.is_empty()),
        flag_str(m, "pass").filter(|s| !s.is_empty()),
        flag_str(m, "auth").filter(|s| !s.is_empty()),
    );
    if user.is_some() || pass.is_some() || token.is_some() {
        let mut a = o.auth.as_deref().cloned().unwrap_or_default();
        if let Some(u) = user {
            a.username = Some(u.clone());
        }
        if let Some(p) = pass {
            a.password = Some(Secret::new(p.clone()));
        }
        if let Some(t) = token {
            a.token = Some(Secret::new(t.clone()));
        }
        o.auth = Some(Arc::new(a));
    }
    if let Some(a) = &o.auth {
        a.validate()?;
    }
    Ok(())
}

/// Everything `main` needs to start: engine options, logging options, the config file's
/// warnings and path.
#[derive(Clone)]
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
    let mut lo = LogOptions::default();
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
        if let Some(d) = c.lame_duck_duration {
            po.lame_duck_duration = d;
        }
        if let Some(d) = c.lame_duck_grace_period {
            po.lame_duck_grace_period = d;
        }
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
    // nats-server applies these after the plain flags, in this order (Go's flag.Visit).
    if let Some(b) = flag_bool(m, "dv") {
        lo.debug = b;
        lo.trace = b;
    }
    if let Some(b) = flag_bool(m, "dvv") {
        lo.debug = b;
        lo.trace = b;
        lo.trace_verbose = b;
    }
    if let Some(b) = flag_bool(m, "vv") {
        lo.trace = b;
        lo.trace_verbose = b;
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
    if let Some(v) = flag_str(m, "log_size_limit") {
        lo.size_limit = flag_int(v, "log_size_limit").map_err(one)?;
    }
    if let Some(b) = flag_bool(m, "syslog") {
        lo.syslog = b;
    }
    if let Some(r) = flag_str(m, "remote_syslog") {
        lo.remote_syslog = r.clone();
    }
    if let Some(v) = flag_str(m, "max_traced_msg_len") {
        o.max_traced_msg_len = traced_len(flag_int(v, "max_traced_msg_len").map_err(one)?);
    }
    if let Some(p) = flag_str(m, "pid") {
        po.pid_file = Some(p.clone());
    }
    if let Some(d) = flag_str(m, "ports_file_dir") {
        po.ports_file_dir = Some(d.clone());
    }
    if let Some(a) = flag_str(m, "client_advertise") {
        o.client_advertise = Some(a.clone()).filter(|a| !a.is_empty());
    }
    // Routes run only with a cluster port, from the config or `--cluster` (spec §3).
    let mut co = o.cluster.take().unwrap_or(ClusterOpts {
        port: 0,
        ..Default::default()
    });
    apply_cluster_flags(&mut co, m).map_err(one)?;
    if co.name.is_some() {
        o.cluster_name = co.name.clone();
    }
    if co.port != 0 {
        o.cluster = Some(co);
    }
    apply_auth_flags(&mut o, m).map_err(one)?;
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
