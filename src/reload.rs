//! Config reload on SIGHUP or `-sl reload` (spec §4.7, nats-server's reload.go).
//!
//! The config file is read again and the command line re-applied on top (flags keep
//! precedence). The new settings are compared with those in force, setting by setting in
//! the order of nats-server's `Options` struct: the first change to a setting that cannot
//! be reloaded fails the whole reload with nats-server's message, and nothing changes.
//! Otherwise each change is logged as `Reloaded: <name> = <value>` and put in force.

use clap::ArgMatches;
use log::{error, info, warn};

use shards::monitor::format::go_duration;

use crate::wiring::Resolved;

/// How a changed setting is handled.
enum Kind {
    /// Not reloadable: the reload fails, naming nats-server's field.
    Fixed,
    /// Reloadable, logged as `Reloaded: <name> = <new value>`.
    Value(&'static str),
    /// Not a value nats-server compares: it logs the line at every reload.
    Always(&'static str),
    /// Reloadable, logged as this line when it changed.
    Changed(&'static str),
    /// Reloadable, logged as `<line> = <new value>` (nats-server's own wording, without
    /// the `Reloaded:` prefix).
    Line(&'static str),
    /// `no_auth_user`: nats-server refuses any change but dropping it when its user is
    /// gone from the new users.
    NoAuthUser,
    /// The `cluster {}` block less its routes: reloadable but for the listen address
    /// (nats-server's `validateClusterOpts`), logged as `Reloaded: cluster`.
    Cluster,
}

/// One setting as the diff sees it.
struct Field {
    /// nats-server's `Options` field name (its error message names it).
    go: &'static str,
    value: String,
    kind: Kind,
}

fn field(go: &'static str, value: impl ToString, kind: Kind) -> Field {
    Field {
        go,
        value: value.to_string(),
        kind,
    }
}

fn opt_str(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The route listen host and port as nats-server's reload compares them: none without a
/// cluster block, and a random port (`-1`) is the port bound at start-up.
fn cluster_listen(r: &Resolved, bound: Option<u16>) -> (String, i64) {
    match &r.opts.cluster {
        None => (String::new(), 0),
        Some(c) if c.port < 0 => (c.host.clone(), bound.map_or(-1, i64::from)),
        Some(c) => (c.host.clone(), i64::from(c.port)),
    }
}

/// The cluster settings the `Cluster` field compares: all but the routes (their own field).
fn cluster_value(r: &Resolved, bound: Option<u16>) -> String {
    let Some(c) = &r.opts.cluster else {
        return String::new();
    };
    let mut c = c.clone();
    c.routes.clear();
    c.port = cluster_listen(r, bound).1 as i32;
    format!("{c:?}")
}

/// The configured routes, in an order that does not count (nats-server sorts them).
fn routes_value(r: &Resolved) -> String {
    let mut v: Vec<String> = r
        .opts
        .cluster
        .iter()
        .flat_map(|c| c.routes.iter())
        .map(|u| format!("{u:?}"))
        .collect();
    v.sort();
    v.join(",")
}

/// nats-server's `validateClusterOpts`: the listen address cannot change, and a new
/// `advertise` must parse.
fn validate_cluster(old: &Resolved, new: &Resolved, bound: Option<u16>) -> Result<(), String> {
    let (oh, op) = cluster_listen(old, bound);
    let (nh, np) = cluster_listen(new, bound);
    if oh != nh {
        return Err(format!(
            "config reload not supported for cluster host: old={oh}, new={nh}"
        ));
    }
    if op != np {
        return Err(format!(
            "config reload not supported for cluster port: old={op}, new={np}"
        ));
    }
    if let Some(a) = new.opts.cluster.as_ref().and_then(|c| c.advertise.as_ref()) {
        go_check_host_port(a)
            .map_err(|e| format!("invalid Cluster.Advertise value of {a}, err={e}"))?;
    }
    Ok(())
}

/// The errors of Go's `parseHostPort` (net.SplitHostPort, then strconv.Atoi).
fn go_check_host_port(s: &str) -> Result<(), String> {
    let port = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            None => return Err(format!("address {s}: missing ']' in address")),
            Some((_, "")) => return Ok(()),
            Some((_, tail)) => match tail.strip_prefix(':') {
                Some(p) => p,
                None => return Err(format!("address {s}: missing port in address")),
            },
        }
    } else {
        match s.matches(':').count() {
            0 => return Ok(()),
            1 => s.rsplit_once(':').map_or("", |(_, p)| p),
            _ => return Err(format!("address {s}: too many colons in address")),
        }
    };
    let p = port.trim();
    match p.parse::<i64>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("strconv.Atoi: parsing {p:?}: invalid syntax")),
    }
}

/// The settings of `r` in nats-server's `Options` order; `bound` is the route port
/// bound at start-up.
fn fields(r: &Resolved, bound: Option<u16>) -> Vec<Field> {
    use Kind::*;
    let o = &r.opts;
    let lo = &r.log;
    let po = &r.process;
    let auth = o.auth.as_deref();
    let max_conn = if o.max_connections == usize::MAX {
        "-1".to_string()
    } else {
        o.max_connections.to_string()
    };
    vec![
        field("ServerName", opt_str(&o.server_name), Fixed),
        field("Host", &o.host, Fixed),
        // A random port (`-p -1`) is never a change (nats-server skips a new 0).
        field("Port", if o.port <= 0 { 0 } else { o.port }, Fixed),
        field(
            "ClientAdvertise",
            opt_str(&o.client_advertise),
            Line("Reload: client_advertise"),
        ),
        field("Trace", lo.trace, Value("trace")),
        field("Debug", lo.debug, Value("debug")),
        field("TraceVerbose", lo.trace_verbose, Value("trace_verbose")),
        field("NoHeaderSupport", o.no_header_support, Fixed),
        field("Logtime", lo.logtime, Value("logtime")),
        field("LogtimeUTC", lo.utc, Value("logtime_utc")),
        field("MaxConn", max_conn, Value("max_connections")),
        field("MaxSubs", o.max_subscriptions, Fixed),
        field(
            "Nkeys",
            auth.and_then(|a| a.nkeys.as_ref())
                .map(|m| {
                    let mut v: Vec<String> = m.values().map(|u| format!("{u:?}")).collect();
                    v.sort();
                    v.join(",")
                })
                .unwrap_or_default(),
            Changed("authorization nkey users"),
        ),
        field("Users", "", Always("authorization users")),
        field("Accounts", "", Always("accounts")),
        field(
            "NoAuthUser",
            auth.and_then(|a| a.no_auth_user.clone())
                .unwrap_or_default(),
            NoAuthUser,
        ),
        field(
            "Username",
            auth.and_then(|a| a.username.clone()).unwrap_or_default(),
            Changed("authorization username"),
        ),
        field(
            "Password",
            auth.and_then(|a| a.password.as_ref())
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            Changed("authorization password"),
        ),
        field(
            "Authorization",
            auth.and_then(|a| a.token.as_ref())
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            Changed("authorization token"),
        ),
        field(
            "PingInterval",
            go_duration(o.ping_interval),
            Value("ping_interval"),
        ),
        field("MaxPingsOut", o.ping_max, Value("ping_max")),
        field("HTTPHost", opt_str(&o.http_host), Fixed),
        field("HTTPPort", o.http_port.unwrap_or(0), Fixed),
        field("HTTPBasePath", &o.http_base_path, Fixed),
        field(
            "AuthTimeout",
            o.auth_timeout.as_secs_f64(),
            Value("authorization timeout"),
        ),
        field(
            "MaxControlLine",
            o.max_control_line,
            Value("max_control_line"),
        ),
        field("MaxPayload", o.max_payload, Value("max_payload")),
        field("MaxPending", o.max_pending, Fixed),
        field("Cluster", cluster_value(r, bound), Cluster),
        field("PidFile", opt_str(&po.pid_file), Value("pid_file")),
        field(
            "PortsFileDir",
            opt_str(&po.ports_file_dir),
            Value("ports_file_dir"),
        ),
        field("LogFile", opt_str(&lo.file), Value("log_file")),
        field("LogSizeLimit", lo.size_limit, Fixed),
        field("LogMaxFiles", lo.max_files, Fixed),
        field("Syslog", lo.syslog, Value("syslog")),
        field("RemoteSyslog", &lo.remote_syslog, Value("remote_syslog")),
        field("Routes", routes_value(r), Changed("cluster routes")),
        field(
            "TLSConfig",
            o.tls.as_ref().map(|t| format!("{t:?}")).unwrap_or_default(),
            Changed(if o.tls.is_some() {
                "tls = enabled"
            } else {
                "tls = disabled"
            }),
        ),
        field("AllowNonTLS", o.allow_non_tls, Fixed),
        field(
            "WriteDeadline",
            go_duration(o.write_deadline),
            Value("write_deadline"),
        ),
        field("WriteTimeout", o.write_timeout.as_str(), Fixed),
        field("MaxClosedClients", o.max_closed_clients, Fixed),
        field(
            "LameDuckDuration",
            go_duration(po.lame_duck_duration),
            Fixed,
        ),
        field(
            "LameDuckGracePeriod",
            go_duration(po.lame_duck_grace_period),
            Fixed,
        ),
        field(
            "MaxTracedMsgLen",
            o.max_traced_msg_len,
            Value("max_traced_msg_len"),
        ),
        // Ours: the shard count is fixed at start-up.
        field("Shards", o.shards, Fixed),
    ]
}

/// The `Reloaded: ...` lines for going from `old` to `new`, or the error that fails the
/// reload. `bound` is the route port bound at start-up.
fn diff(old: &Resolved, new: &Resolved, bound: Option<u16>) -> Result<Vec<String>, String> {
    let unsupported = |a: &Field, b: &Field| {
        format!(
            "config reload not supported for {}: old={}, new={}",
            a.go, a.value, b.value
        )
    };
    // With route TLS, nats-server sees a new cluster block at every reload (it holds a
    // freshly loaded certificate), and so do we: the certificates are read again.
    let route_tls = new.opts.cluster.as_ref().is_some_and(|c| c.tls.is_some());
    let mut notes = Vec::new();
    for (a, b) in fields(old, bound).into_iter().zip(fields(new, bound)) {
        debug_assert_eq!(a.go, b.go);
        let changed = a.value != b.value || (route_tls && matches!(b.kind, Kind::Cluster));
        match b.kind {
            Kind::Always(text) => notes.push(format!("Reloaded: {text}")),
            _ if !changed => {}
            Kind::Fixed => return Err(unsupported(&a, &b)),
            Kind::Cluster => {
                validate_cluster(old, new, bound)?;
                notes.push("Reloaded: cluster".to_string());
            }
            Kind::Value(name) => notes.push(format!("Reloaded: {name} = {}", b.value)),
            Kind::Changed(text) => notes.push(format!("Reloaded: {text}")),
            Kind::Line(text) => notes.push(format!("{text} = {}", b.value)),
            Kind::NoAuthUser => {
                let user_gone = !new
                    .opts
                    .auth
                    .as_deref()
                    .and_then(|a| a.users.as_ref())
                    .is_some_and(|u| u.contains_key(&a.value));
                if a.value.is_empty() || !b.value.is_empty() || !user_gone {
                    return Err(unsupported(&a, &b));
                }
            }
        }
    }
    Ok(notes)
}

/// What a successful reload changed outside the engine, for `main` to act on.
pub struct Applied {
    pub pid_file_changed: bool,
    pub ports_file_dir_changed: bool,
}

/// Reloads: on success `current` holds the new settings, already in force in the engine
/// and the logger. On failure the error is logged and nothing changes.
pub fn reload(
    m: &ArgMatches,
    current: &mut Resolved,
    running: &shards::server::Running,
) -> Option<Applied> {
    match try_reload(m, current, running) {
        Ok(a) => Some(a),
        Err(e) => {
            error!("Failed to reload server configuration: {e}");
            None
        }
    }
}

fn try_reload(
    m: &ArgMatches,
    current: &mut Resolved,
    running: &shards::server::Running,
) -> Result<Applied, String> {
    let Some(path) = current.config_file.clone() else {
        return Err("can only reload config when a file is provided using -c or --config".into());
    };
    let new = crate::wiring::resolve(m).map_err(|e| {
        e.into_iter()
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let bound = running.route_addr.map(|a| a.port());
    let notes = diff(current, &new, bound)?;
    let new_log = if new.log != current.log {
        Some(crate::logging::prepare(&new.log)?)
    } else {
        None
    };
    running.reload(new.opts.clone())?;
    // nats-server logs the changes with the logger in force, then swaps it: the last
    // line goes to the new one.
    for n in &notes {
        info!("{n}");
        let insecure = new
            .opts
            .cluster
            .as_ref()
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| t.insecure);
        if n == "Reloaded: cluster" && insecure {
            warn!("TLS certificate chain and hostname of solicited routes will not be verified. DO NOT USE IN PRODUCTION!");
        }
    }
    if let Some(p) = new_log {
        crate::logging::apply(p);
    }
    let applied = Applied {
        pid_file_changed: new.process.pid_file != current.process.pid_file,
        ports_file_dir_changed: new.process.ports_file_dir != current.process.ports_file_dir,
    };
    *current = new;
    info!(
        "Reloaded server configuration {}",
        crate::process::digest_suffix(&path)
    );
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::go_check_host_port;

    #[test]
    fn advertise_errors_read_like_go_parse_host_port() {
        for ok in ["host", "host:4242", "10.0.0.1:1", "[::1]:6222", "[::1]"] {
            assert_eq!(go_check_host_port(ok), Ok(()), "{ok}");
        }
        let cases = [
            (
                "bad:host:x",
                "address bad:host:x: too many colons in address",
            ),
            (
                "host:notaport",
                "strconv.Atoi: parsing \"notaport\": invalid syntax",
            ),
            ("[::1", "address [::1: missing ']' in address"),
        ];
        for (s, want) in cases {
            assert_eq!(go_check_host_port(s).unwrap_err(), want, "{s}");
        }
    }
}
