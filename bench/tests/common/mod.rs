//! What the harness's integration tests share.

use std::process::Command;

/// The Go nats-server to test against (`NATS_GO_SERVER`, else `nats-server` on PATH), if it
/// runs.
pub fn go_server() -> Option<String> {
    let bin = std::env::var("NATS_GO_SERVER").unwrap_or_else(|_| "nats-server".into());
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(bin)
}
