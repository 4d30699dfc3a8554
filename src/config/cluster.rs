//! `cluster {}` (spec §4.4; nats-server's `parseCluster`).

use std::time::Duration;

use shards::options::WritePolicy;

use super::apply::{parse_listen, Report};
use super::auth::{self, SubjectPermission};
use super::gofmt::{go_quote, parse_duration};
use super::parser::{Item, Value};
use super::tls::{self, TlsConfig};

/// nats-server caps a route's ping interval at this (defaultRouteMaxPingInterval).
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);

/// The `cluster {}` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterConfig {
    pub name: Option<String>,
    /// `host`/`net`, or the host part of `listen`.
    pub host: Option<String>,
    /// `port`, or the port part of `listen`.
    pub port: Option<i64>,
    /// `advertise`/`cluster_advertise`.
    pub advertise: Option<String>,
    pub no_advertise: Option<bool>,
    /// Route URLs as written, duplicates dropped (with a warning).
    pub routes: Option<Vec<String>>,
    /// `authorization { user, password, timeout }`.
    pub authorization: Option<ClusterAuth>,
    pub connect_retries: Option<i64>,
    pub connect_backoff: Option<bool>,
    /// -1 disables pooling.
    pub pool_size: Option<i64>,
    /// Pinned accounts (`accounts`).
    pub accounts: Option<Vec<String>>,
    pub compression: Option<Compression>,
    /// `permissions { import, export }`.
    pub permissions: Option<RoutePermissions>,
    pub tls: Option<TlsConfig>,
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<i64>,
    pub write_deadline: Option<Duration>,
    pub write_timeout: Option<WritePolicy>,
}

/// Credentials routes must present.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterAuth {
    pub user: Option<String>,
    pub password: Option<String>,
    /// Seconds.
    pub timeout: Option<f64>,
}

/// Which subjects routes import (publish to us) and export (accept SUBs for).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutePermissions {
    pub import: Option<SubjectPermission>,
    pub export: Option<SubjectPermission>,
}

/// Route compression: a mode (`accept`, `off`, `s2_auto`, `s2_fast`, ...;
/// not checked here, as nats-server checks it at start) and RTT thresholds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compression {
    pub mode: String,
    pub rtt_thresholds: Vec<Duration>,
}

pub(crate) fn parse(it: &Item, r: &mut Report) -> Option<ClusterConfig> {
    let Value::Map(m) = &it.value else {
        r.err(
            &it.pos,
            format_args!("Expected map to define cluster, got {}", it.value.go_type()),
        );
        return None;
    };
    let mut c = ClusterConfig::default();
    let mut auth_perms = None;
    for e in &m.entries {
        let v = &e.item;
        match e.lower.as_str() {
            "name" => {
                if let Some(n) = r.str(v) {
                    if n.contains(' ') {
                        r.err(&v.pos, "cluster name cannot contain spaces");
                    } else {
                        c.name = Some(n.to_string());
                    }
                }
            }
            "listen" => match parse_listen(&v.value) {
                Ok((host, port)) => {
                    if host.is_some() {
                        c.host = host;
                    }
                    c.port = Some(port);
                }
                Err(err) => r.err(&v.pos, err),
            },
            "port" => c.port = r.int(v).or(c.port),
            "host" | "net" => c.host = r.str(v).map(String::from).or(c.host.take()),
            "authorization" => {
                if let Some((a, perms)) = authorization(r, &e.key, v) {
                    c.authorization = Some(a);
                    auth_perms = perms;
                }
            }
            "routes" => {
                if let Some(list) = r.array(v) {
                    c.routes = routes(list, r);
                }
            }
            "tls" => {
                if let Some(t) = tls::parse(v, r, false) {
                    c.tls = Some(t);
                }
            }
            "cluster_advertise" | "advertise" => {
                c.advertise = r.str(v).map(String::from).or(c.advertise.take())
            }
            "no_advertise" => c.no_advertise = r.bool(v).or(c.no_advertise),
            "connect_retries" => c.connect_retries = r.int(v).or(c.connect_retries),
            "connect_backoff" => c.connect_backoff = r.bool(v).or(c.connect_backoff),
            "permissions" => {
                let Some(p) = auth::parse_permissions(v, r) else {
                    continue;
                };
                if p.allow_responses.is_some() {
                    r.err(
                        &v.pos,
                        "Cluster permissions do not support dynamic responses",
                    );
                    continue;
                }
                if let Err(err) = check_route_subjects(&p) {
                    r.err(&v.pos, err);
                    continue;
                }
                c.permissions = Some(RoutePermissions {
                    import: p.publish,
                    export: p.subscribe,
                });
            }
            "pool_size" => c.pool_size = r.int(v).or(c.pool_size),
            "accounts" => c.accounts = r.string_list("accounts", v).or(c.accounts.take()),
            "compression" => {
                if let Some(comp) = compression(&e.key, v, r) {
                    c.compression = Some(comp);
                }
            }
            "ping_interval" => {
                if let Some(d) = r.duration("ping_interval", v) {
                    if d > ROUTE_MAX_PING_INTERVAL {
                        r.warn(
                            &v.pos,
                            "Cluster 'ping_interval' will reset to 30s which is the max for routes",
                        );
                    }
                    c.ping_interval = Some(d);
                }
            }
            "ping_max" => c.ping_max = r.int(v).or(c.ping_max),
            "write_deadline" => {
                c.write_deadline = r.duration("write_deadline", v).or(c.write_deadline)
            }
            "write_timeout" => c.write_timeout = r.write_timeout(v).or(c.write_timeout),
            _ => r.unknown(&e.key, v),
        }
    }
    // Permissions in the block itself win over the deprecated ones given
    // inside `authorization`, whatever the order.
    if c.permissions.is_none() {
        c.permissions = auth_perms;
    }
    Some(c)
}

/// `cluster { authorization {...} }`: one user, no token, no users list.
/// Also returns the deprecated `permissions` given inside it.
fn authorization(
    r: &mut Report,
    key: &str,
    v: &Item,
) -> Option<(ClusterAuth, Option<RoutePermissions>)> {
    let a = auth::parse_authorization(v, r)?;
    if a.users.is_some() {
        r.err(
            &v.pos,
            "Cluster authorization does not allow multiple users",
        );
        return None;
    }
    if a.token.is_some() {
        r.err(&v.pos, "Cluster authorization does not support tokens");
        return None;
    }
    let mut perms = None;
    if let Some(p) = a.default_permissions {
        if let Err(err) = check_route_subjects(&p) {
            r.err(&v.pos, err);
            return None;
        }
        r.invalid_use(
            v,
            key,
            "setting \"permissions\" within cluster authorization block is deprecated",
        );
        perms = Some(RoutePermissions {
            import: p.publish,
            export: p.subscribe,
        });
    }
    let ca = ClusterAuth {
        user: a.user,
        password: a.password,
        timeout: a.timeout,
    };
    Some((ca, perms))
}

/// nats-server's `checkClusterPermissionSubjects`.
fn check_route_subjects(p: &auth::Permissions) -> Result<(), String> {
    let lists = [
        (
            "cluster import allow",
            p.publish.as_ref().and_then(|s| s.allow.as_ref()),
        ),
        (
            "cluster import deny",
            p.publish.as_ref().and_then(|s| s.deny.as_ref()),
        ),
        (
            "cluster export allow",
            p.subscribe.as_ref().and_then(|s| s.allow.as_ref()),
        ),
        (
            "cluster export deny",
            p.subscribe.as_ref().and_then(|s| s.deny.as_ref()),
        ),
    ];
    for (what, list) in lists {
        if let Some(list) = list {
            auth::check_subjects(list, false).map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Ok(())
}

fn routes(list: &[Item], r: &mut Report) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    let mut failed = false;
    for el in list {
        let Some(u) = r.str(el) else {
            failed = true;
            continue;
        };
        if out.iter().any(|x| x == u) {
            r.invalid_use(el, u, "Duplicate route entry detected");
            continue;
        }
        let trimmed = u.trim();
        if !plausible_url(trimmed) {
            r.err(
                &el.pos,
                format_args!("error parsing route url [{}]", go_quote(trimmed)),
            );
            failed = true;
            continue;
        }
        out.push(u.to_string());
    }
    if failed {
        None
    } else {
        Some(out)
    }
}

/// The few inputs Go's `url.Parse` rejects: control characters, bad `%`
/// escapes, and a scheme-less first segment holding a colon.
fn plausible_url(u: &str) -> bool {
    if u.chars().any(|c| c.is_control()) {
        return false;
    }
    // A space in the host part (`nats://a b:1`) is an invalid host name.
    if let Some(i) = u.find("://") {
        let rest = &u[i + 3..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = rest[..end].rsplit('@').next().unwrap_or("");
        if host.contains(' ') {
            return false;
        }
    }
    let b = u.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    match u.find(':') {
        None => true,
        Some(colon) => {
            let scheme = &u[..colon];
            let valid_scheme = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if colon == 0 {
                return false;
            }
            // No valid scheme: the colon sits in the first path segment,
            // unless a '/' comes first.
            valid_scheme || u[..colon].contains('/')
        }
    }
}

fn compression(key: &str, v: &Item, r: &mut Report) -> Option<Compression> {
    match &v.value {
        Value::String(s) => Some(Compression {
            mode: s.clone(),
            rtt_thresholds: Vec::new(),
        }),
        Value::Bool(b) => Some(Compression {
            mode: if *b { "s2_fast" } else { "off" }.to_string(),
            rtt_thresholds: Vec::new(),
        }),
        Value::Map(m) => {
            let mut c = Compression::default();
            for e in &m.entries {
                let item = &e.item;
                match e.lower.as_str() {
                    "mode" => c.mode = r.str(item).map(String::from).unwrap_or(c.mode),
                    "rtt_thresholds" | "thresholds" | "rtts" | "rtt" => {
                        let list = r.array(item)?;
                        for el in list {
                            let s = r.str(el)?;
                            match parse_duration(s) {
                                Ok(n) if n >= 0 => {
                                    c.rtt_thresholds.push(Duration::from_nanos(n as u64))
                                }
                                Ok(_) => {
                                    r.err(
                                        &item.pos,
                                        "compression RTT thresholds cannot be negative",
                                    );
                                    return None;
                                }
                                Err(err) => {
                                    r.err(&item.pos, err);
                                    return None;
                                }
                            }
                        }
                    }
                    _ => {
                        if !item.used_variable {
                            r.err(
                                &item.pos,
                                format_args!("unknown field {}", go_quote(&e.key)),
                            );
                            return None;
                        }
                    }
                }
            }
            Some(c)
        }
        other => {
            r.err(
                &v.pos,
                format_args!(
                    "field {} should be a boolean or a structure, got {}",
                    go_quote(key),
                    other.go_type()
                ),
            );
            None
        }
    }
}
