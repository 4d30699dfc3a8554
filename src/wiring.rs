//! From a parsed config file and the command line to the engine's [`Options`]: the config
//! first, then every flag given on the command line overrides it (spec §3).

use clap::ArgMatches;
use shards::options::{ClusterOpts, Options, RouteUrl, SubjectPerm};

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
    if c.https_port.is_some() {
        missing.push("the HTTPS monitor (https/https_port)");
    }
    if c.authorization.is_some() || c.no_auth_user.is_some() {
        missing.push("authorization");
    }
    if c.tls.is_some() {
        missing.push("tls");
    }
    if let Some(cl) = &c.cluster {
        if cl.tls.is_some() {
            missing.push("cluster tls (TLS for routes)");
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
        if cl.write_timeout.is_some() {
            missing.push("cluster write_timeout");
        }
        let pass = cl
            .authorization
            .as_ref()
            .and_then(|a| a.password.as_deref());
        if pass.is_some_and(|p| p.starts_with("$2")) {
            missing.push("bcrypt cluster passwords");
        }
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

fn positive(name: &str, v: i64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{name}: invalid value {v}"))
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
    if let Some(d) = cl.write_deadline {
        co.write_deadline = d;
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
    if let Some(a) = &c.client_advertise {
        o.client_advertise = Some(a.clone());
    }
    if let Some(cl) = &c.cluster {
        o.cluster_name = cl.name.clone();
        o.cluster = Some(cluster_from_config(cl)?);
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
