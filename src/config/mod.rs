//! The configuration file (`-c file.conf`): grammar, variables, includes and
//! the options nats-tpc understands (spec §4).
//!
//! # Layout
//! - `lexer`: characters to tokens, with nats-server's positions and messages.
//! - `parser`: tokens to a tree of [`parser::Value`]s, resolving `$variables`
//!   and `include` files.
//! - `apply`: the tree to [`ConfigOptions`], checking every top-level key the
//!   way nats-server's `opts.go` does, and refusing features nats-tpc lacks;
//!   `auth`, `cluster` and `tls` do the same for their blocks.
//! - `gofmt`: Go's duration syntax and `%q` quoting, for identical messages.
//! - `tests`, `difftable` (test only): fixtures under `testdata/` and a table
//!   of small configs, checked against what `nats-server -t` printed.
//!
//! Errors are strings already formatted like nats-server's
//! (`file:line:col: reason`), because their only use is to be printed.

// The server consumes these options as it grows; until then some fields and
// helpers have no reader.
#![allow(dead_code)]

pub mod apply;
pub mod auth;
pub mod cluster;
pub(crate) mod gofmt;
mod lexer;
pub mod parser;
pub mod tls;

#[cfg(test)]
mod difftable;
#[cfg(test)]
mod tests;

#[allow(unused_imports)]
pub use apply::{load, ConfigOptions};
#[allow(unused_imports)]
pub use auth::{
    AuthorizationConfig, Permissions, ResponsePermission, SubjectPermission, UserConfig,
};
#[allow(unused_imports)]
pub use cluster::{ClusterAuth, ClusterConfig, Compression, RoutePermissions};
#[allow(unused_imports)]
pub use tls::TlsConfig;
