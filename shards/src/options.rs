//! Server options: what the command line and the config file resolve to.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::AuthConfig;

use crate::defaults::*;

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
        }
    }
}
