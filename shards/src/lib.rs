#![recursion_limit = "256"]
//! The nats-tpc engine: the NATS client protocol served thread-per-core on io_uring.
//!
//! # Layout
//! - [`auth`]: client authentication at CONNECT and per-connection permissions.
//! - [`protocol`]: parser, wire errors, INFO/CONNECT documents. No I/O.
//! - [`subject`]: subject and wildcard rules.
//! - [`sublist`]: the subscription index (token trie with a match cache).
//! - [`shard`]: what one core owns (connections, subscriptions, the other shards' interest)
//!   and delivery; [`shard::conn`] is a client connection, [`shard::mesh`] what crosses cores.
//! - [`server`]: start-up (io_uring check, listeners, executors).
//! - [`monitor`]: the HTTP monitor on the control shard; [`stats`] the counters it reads.
//! - [`tls`]: rustls configurations and what a client certificate says (`verify_and_map`).
//! - [`route`]: clustering (routes to other servers), on the control shard.
//! - [`defaults`], [`options`]: every default, named after the nats-server option.
//! - [`goquote`]: Go's `%q`, for log lines that quote bytes as nats-server does.
//!
//! # Threads
//! One glommio executor per shard, pinned to a CPU of the process's affinity mask, each
//! with its own `SO_REUSEPORT` listener; one more executor, the control shard, for what is
//! global (the monitor and the routes). Shards share nothing on the hot path: they
//! talk over one SPSC channel per ordered pair (see [`shard::mesh`]).

pub mod auth;
pub mod defaults;
pub mod goquote;
pub mod monitor;
pub mod nkey;
pub mod options;
pub mod protocol;
pub mod route;
pub mod server;
pub mod shard;
pub mod stats;
pub mod subject;
pub mod sublist;
pub mod tls;
pub mod uring;
