//! Server options: what the command line and the config file resolve to.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::AuthConfig;

use crate::defaults::*;

/// `write_timeout`: what a flush does when `write_deadline` passes before it is done.
/// nats-server closes the connection as a slow consumer under `Close`; under `Retry` it
/// closes only if nothing at all was written meanwhile, and otherwise marks the connection
/// a slow consumer and goes on writing. `Default` is `Close` for clients and `Retry` for
/// routes; `/varz` shows `write_timeout` only when it is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WritePolicy {
    #[default]
    Default,
    Close,
    Retry,
}

impl WritePolicy {
    /// Whether a flush that made progress goes on past the deadline; `default` is the
    /// connection kind's own policy.
    pub fn retries(self, default: WritePolicy) -> bool {
        match self {
            WritePolicy::Default => default == WritePolicy::Retry,
            p => p == WritePolicy::Retry,
        }
    }

    /// The `/varz` value (`""` when not set, which `/varz` leaves out).
    pub fn as_str(self) -> &'static str {
        match self {
            WritePolicy::Default => "",
            WritePolicy::Close => "close",
            WritePolicy::Retry => "retry",
        }
    }
}

/// All settings the engine reads. Built by the binary from flags and the config file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Client bind host (`-a`, `host`).
    pub host: String,
    /// Client port; `-1` picks a random port (`-p`, `port`).
    pub port: i32,
    /// Server name (`server_name`); defaults to the server id.
    pub server_name: Option<String>,
    /// Number of client shards (`--shards`, `shards`); 0 means one per usable CPU.
    pub shards: usize,
    /// `max_payload`.
    pub max_payload: usize,
    /// `max_control_line`.
    pub max_control_line: usize,
    /// `max_pending`.
    pub max_pending: usize,
    /// `max_connections`; 0 rejects every client, as in nats-server.
    pub max_connections: usize,
    /// `max_subscriptions` per connection; 0 = unlimited.
    pub max_subscriptions: usize,
    /// `ping_interval`.
    pub ping_interval: Duration,
    /// `ping_max`.
    pub ping_max: u32,
    /// `write_deadline`.
    pub write_deadline: Duration,
    /// `write_timeout`: what a client flush that outlives `write_deadline` does
    /// (`Default` is `Close` for clients).
    pub write_timeout: WritePolicy,
    /// `no_header_support`.
    pub no_header_support: bool,
    /// `debug` / `-D`.
    pub debug: bool,
    /// `trace` / `-V`.
    pub trace: bool,
    /// `max_traced_msg_len` / `--max_traced_msg_len`: traced payloads longer than this are
    /// cut and end in `...`; 0 traces them whole.
    pub max_traced_msg_len: usize,
    /// Cluster name, when the config has a `cluster {}` block; shown in INFO.
    pub cluster_name: Option<String>,
    /// HTTP monitor host (`http: host:port`; defaults to `host`).
    pub http_host: Option<String>,
    /// HTTP monitor port (`-m`, `http_port`, `monitor_port`); `-1` picks a random port.
    pub http_port: Option<i32>,
    /// Prefix of every monitor endpoint (`http_base_path`).
    pub http_base_path: String,
    /// Closed connections kept for `/connz?state=closed` (`max_closed_clients`).
    pub max_closed_clients: usize,
    /// `client_advertise` / `--client_advertise`: `host[:port]` shown to clients in INFO
    /// and given to peers for their `connect_urls`.
    pub client_advertise: Option<String>,
    /// The `cluster {}` block and cluster flags; `None` runs no routes at all.
    pub cluster: Option<ClusterOpts>,
    /// Client authentication (`authorization {}`, `no_auth_user`, `--user`/`--pass`/`--auth`);
    /// `None` when clients need not authenticate. One `Arc` so a reload can swap it whole.
    pub auth: Option<Arc<AuthConfig>>,
    /// Time a client has to send its CONNECT when authentication is required
    /// (`authorization.timeout`).
    pub auth_timeout: Duration,
    /// Most tokens a subscription subject may have (`max_sub_tokens`); 0 = no limit.
    pub max_sub_tokens: usize,
    /// HTTPS monitor port (`-ms`, `https_port`); `-1` picks a random port. Needs `tls`.
    pub https_port: Option<i32>,
    /// Client TLS (`tls {}`, `--tls*`).
    pub tls: Option<TlsOpts>,
    /// `allow_non_tls`: with `tls`, plaintext clients are served too (INFO `tls_available`).
    pub allow_non_tls: bool,
}

/// The client `tls {}` block or the `--tls*` flags (spec §4.6). Paths are used as given, so
/// relative ones resolve against the working directory, as in nats-server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOpts {
    /// `cert_file` / `--tlscert`.
    pub cert_file: String,
    /// `key_file` / `--tlskey`.
    pub key_file: String,
    /// `ca_file` / `--tlscacert`: roots for client certificates (system roots otherwise).
    pub ca_file: Option<String>,
    /// `verify` / `--tlsverify`: require and verify a client certificate.
    pub verify: bool,
    /// `verify_and_map`: the client certificate names the user (see [`crate::tls::identity`]).
    pub map: bool,
    /// `timeout`: how long the handshake may take (default [`TLS_TIMEOUT`]).
    pub timeout: Duration,
    /// `handshake_first`: the TLS handshake comes before INFO.
    pub handshake_first: bool,
    /// `handshake_first: auto` or a duration: how long to wait for a client's TLS hello
    /// before sending INFO first after all.
    pub handshake_first_fallback: Option<Duration>,
    /// `cipher_suites`, Go names; TLS 1.2 suites rustls lacks (CBC, RSA key exchange) are
    /// ignored with a warning.
    pub cipher_suites: Option<Vec<String>>,
    /// `curve_preferences`, Go names.
    pub curve_preferences: Option<Vec<String>>,
    /// `min_version: "1.3"`.
    pub min_tls13: bool,
    /// `pinned_certs`: hex SHA-256 of the SubjectPublicKeyInfo of each allowed client.
    pub pinned_certs: Option<Vec<String>>,
    /// `insecure` (routes only): do not verify the certificate of a route we dial.
    pub insecure: bool,
}

/// Route settings (spec §4.4 and the cluster flags of §3).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOpts {
    /// `name` / `--cluster_name`; `None` makes a dynamic name (which may adopt a peer's).
    pub name: Option<String>,
    /// Route listen host (`host`, `listen`, `--cluster`).
    pub host: String,
    /// Route listen port; `-1` picks a random one.
    pub port: i32,
    /// `advertise` / `--cluster_advertise`: `host[:port]` peers should dial.
    pub advertise: Option<String>,
    /// `no_advertise` / `--no_advertise`.
    pub no_advertise: bool,
    /// Explicit routes (`routes`, `--routes`), reconnected forever.
    pub routes: Vec<RouteUrl>,
    /// `authorization { user, password }` routes must present (and that we present when
    /// dialling a gossiped server that requires auth).
    pub user: Option<String>,
    pub password: Option<String>,
    /// `authorization { timeout }`.
    pub auth_timeout: Duration,
    /// `connect_retries`: attempts for implicit routes.
    pub connect_retries: u32,
    /// `connect_backoff`: double the delay between attempts, up to 30 s.
    pub connect_backoff: bool,
    /// `ping_interval` (at most 30 s for routes).
    pub ping_interval: Duration,
    /// `ping_max`.
    pub ping_max: u32,
    /// `cluster { write_deadline }`; without it routes use the top-level `write_deadline`.
    pub write_deadline: Option<Duration>,
    /// `cluster { write_timeout }` (`Default` is `Retry` for routes).
    pub write_timeout: WritePolicy,
    /// `permissions { import }`: subjects routes may send us (we send RS+ only for these).
    pub import: Option<SubjectPerm>,
    /// `permissions { export }`: subjects we send to routes (their RS+ for others is ignored).
    pub export: Option<SubjectPerm>,
    /// `tls {}`: every route runs TLS, certificates verified both ways (see
    /// [`crate::tls::build_route`]).
    pub tls: Option<TlsOpts>,
}

/// An allow/deny pair of subject lists (`None` = no list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPerm {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// One route URL: `nats-route://user:pass@host:port` (only userinfo and host:port count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl RouteUrl {
    /// Parses a route URL as nats-server reads it. The port defaults to 6222 (the
    /// `nats-route` default); a user without a password is allowed here (the password is
    /// then empty).
    pub fn parse(raw: &str) -> Result<RouteUrl, String> {
        let t = raw.trim();
        let rest = match t.find("://") {
            Some(i) => &t[i + 3..],
            None => t,
        };
        let rest = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(pct_decode(a)), Some(pct_decode(b))),
                None => (Some(pct_decode(u)), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport, DEFAULT_ROUTE_PORT)
            .ok_or_else(|| format!("error parsing route url [{raw:?}]"))?;
        Ok(RouteUrl {
            host,
            port,
            user,
            password,
        })
    }

    /// `host:port` (brackets for IPv6).
    pub fn host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host[:port]` (IPv6 in brackets); a missing port is `default`.
pub fn split_host_port(s: &str, default: u16) -> Option<(String, u16)> {
    if let Some(r) = s.strip_prefix('[') {
        let (h, tail) = r.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => default,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => Some((s.to_string(), default)),
        None if s.is_empty() => None,
        None => Some((s.to_string(), default)),
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            name: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_ROUTE_PORT as i32,
            advertise: None,
            no_advertise: false,
            routes: Vec::new(),
            user: None,
            password: None,
            auth_timeout: AUTH_TIMEOUT,
            connect_retries: 0,
            connect_backoff: false,
            ping_interval: ROUTE_MAX_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX_OUT,
            write_deadline: None,
            write_timeout: WritePolicy::Default,
            import: None,
            export: None,
            tls: None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT as i32,
            server_name: None,
            shards: 0,
            max_payload: MAX_PAYLOAD_SIZE,
            max_control_line: MAX_CONTROL_LINE_SIZE,
            max_pending: MAX_PENDING_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX_OUT,
            write_deadline: DEFAULT_FLUSH_DEADLINE,
            write_timeout: WritePolicy::Default,
            no_header_support: false,
            debug: false,
            trace: false,
            max_traced_msg_len: 0,
            cluster_name: None,
            http_host: None,
            http_port: None,
            http_base_path: String::new(),
            max_closed_clients: DEFAULT_MAX_CLOSED_CLIENTS,
            auth: None,
            auth_timeout: AUTH_TIMEOUT,
            max_sub_tokens: 0,
            https_port: None,
            tls: None,
            allow_non_tls: false,
            client_advertise: None,
            cluster: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls_as_nats_server_reads_them() {
        let u = RouteUrl::parse(" nats-route://ruser:T0pS3cr3t@10.0.0.1:6222 ").unwrap();
        assert_eq!(u.host, "10.0.0.1");
        assert_eq!(u.port, 6222);
        assert_eq!(u.user.as_deref(), Some("ruser"));
        assert_eq!(u.password.as_deref(), Some("T0pS3cr3t"));
        let u = RouteUrl::parse("nats://host").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.user), ("host", 6222, None));
        let u = RouteUrl::parse("nats://u%40x:p%3A@[::1]:7000/").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 7000);
        assert_eq!(u.user.as_deref(), Some("u@x"));
        assert_eq!(u.password.as_deref(), Some("p:"));
        assert_eq!(u.host_port(), "[::1]:7000");
        assert!(RouteUrl::parse("nats://h:notaport").is_err());
        assert!(RouteUrl::parse("nats://").is_err());
    }
}
