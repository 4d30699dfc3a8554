//! Every default of the server, each named after the nats-server option it mirrors
//! (`server/const.go` in nats-server).

use std::time::Duration;

/// The version advertised in INFO and printed by `-v`. Clients gate features on it (spec
/// G-01). We implement the core protocol as nats-server 2.14 speaks it (post-PONG INFO with
/// `connect_info`, the 503 no-responders block with `Nats-Subject`), and no JetStream: the
/// version-gated client features are all JetStream features, and without `jetstream` in INFO
/// clients do not use them.
pub const VERSION: &str = "2.14.5";
/// Client protocol version (`PROTO`).
pub const PROTO: i32 = 1;
/// Default client port (`DEFAULT_PORT`).
pub const DEFAULT_PORT: u16 = 4222;
/// Default client bind host (`DEFAULT_HOST`).
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Maximum length of the argument part of a protocol line (`max_control_line`).
pub const MAX_CONTROL_LINE_SIZE: usize = 4096;
/// Maximum message payload (`max_payload`).
pub const MAX_PAYLOAD_SIZE: usize = 1024 * 1024;
/// Maximum outbound bytes pending for one client (`max_pending`).
pub const MAX_PENDING_SIZE: usize = 64 * 1024 * 1024;
/// Maximum number of client connections (`max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
/// Server PING cadence (`ping_interval`).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// Outstanding PINGs before `Stale Connection` (`ping_max`).
pub const DEFAULT_PING_MAX_OUT: u32 = 2;
/// The first PING to a client goes out this long after CONNECT (`firstClientPingInterval`).
pub const FIRST_CLIENT_PING_INTERVAL: Duration = Duration::from_secs(2);
/// A flush that takes longer closes the client as a slow consumer (`write_deadline`).
pub const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(10);
/// Maximum subscriptions per connection, 0 = unlimited (`max_subscriptions`).
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 0;
/// Authentication timeout (`authorization.timeout`).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);
/// TLS handshake timeout (`tls.timeout`, `TLS_TIMEOUT`).
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);
/// Size of the closed-connections ring (`max_closed_clients`).
pub const DEFAULT_MAX_CLOSED_CLIENTS: usize = 10_000;
/// Memory glommio registers per ring for file I/O. We do no file I/O on the hot path, and the
/// default (10 MiB in 3 rings per executor) exceeds a default 8 MiB memlock limit.
pub const GLOMMIO_IO_MEMORY: usize = 64 * 1024;
/// Initial size of a connection's read buffer; it grows for larger frames.
pub const READ_BUFFER_SIZE: usize = 64 * 1024;
/// Most client shards one server runs (a publish tracks destination shards in a `u128`).
pub const MAX_SHARDS: usize = 128;

/// `lame_duck_duration`: lame duck mode closes clients over this time (nats-server's
/// `DEFAULT_LAME_DUCK_DURATION`).
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);

/// `lame_duck_grace_period`: lame duck mode waits this long before closing the first
/// client (`DEFAULT_LAME_DUCK_GRACE_PERIOD`).
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Default route port (`DEFAULT_ROUTE_PORT` in nats-server's docs; `cluster { port }`).
pub const DEFAULT_ROUTE_PORT: u16 = 6222;
/// A route's PING interval is capped at this (`defaultRouteMaxPingInterval`).
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The first PING on a route goes out this long after it is created (`firstPingInterval`).
pub const FIRST_ROUTE_PING_INTERVAL: Duration = Duration::from_secs(1);
/// Delay between route connect attempts (`DEFAULT_ROUTE_CONNECT`).
pub const DEFAULT_ROUTE_CONNECT: Duration = Duration::from_secs(1);
/// Longest delay between attempts with `connect_backoff` (`DEFAULT_ROUTE_CONNECT_MAX`).
pub const DEFAULT_ROUTE_CONNECT_MAX: Duration = Duration::from_secs(30);
/// Delay before reconnecting a route that closed (`DEFAULT_ROUTE_RECONNECT`).
pub const DEFAULT_ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// Dial timeout for a route (`DEFAULT_ROUTE_DIAL`).
pub const DEFAULT_ROUTE_DIAL: Duration = Duration::from_secs(1);
/// Failed first connects are logged as errors once, then every this many attempts
/// (`DEFAULT_CONNECT_ERROR_REPORTS`).
pub const DEFAULT_CONNECT_ERROR_REPORTS: u64 = 3600;
/// Route control lines may be this many times `max_control_line` (`MAX_CONTROL_LINE_SIZE`
/// times 16 for routes in nats-server's parser: interest lines carry long queue names).
pub const ROUTE_CONTROL_LINE_FACTOR: usize = 16;
