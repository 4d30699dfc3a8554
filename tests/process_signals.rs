//! Signals (spec §9, D-03): SIGINT and SIGTERM stop the server cleanly with exit 0 and the
//! log lines nats-server prints; connected clients see the connection end.

mod common;

use std::time::Duration;

use common::Server;

fn signal(server: &Server, sig: libc::c_int) {
    // SAFETY: kill(2) on the child we started.
    let rc = unsafe { libc::kill(server.pid() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn stops_cleanly(sig: libc::c_int, trapped: &str) {
    let mut server = Server::start(&[]);
    let mut client = server.raw();
    client.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n");
    client.ping_pong();
    signal(&server, sig);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("server exits after the signal");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    client.expect_closed();
    server.wait_for_log(
        &format!("Trapped \"{trapped}\" signal"),
        Duration::from_secs(2),
    );
    server.wait_for_log("Server Exiting..", Duration::from_secs(2));
}

#[test]
fn d03_sigterm_stops_with_exit_0() {
    stops_cleanly(libc::SIGTERM, "terminated");
}

#[test]
fn d03_sigint_stops_with_exit_0() {
    stops_cleanly(libc::SIGINT, "interrupt");
}

#[test]
fn d04_startup_lines_tools_wait_for() {
    let server = Server::start(&[]);
    server.wait_for_log("[INF] Starting nats-server", Duration::from_secs(2));
    server.wait_for_log("[INF]   Version:  ", Duration::from_secs(2));
    server.wait_for_log(
        &format!(
            "[INF] Listening for client connections on 127.0.0.1:{}",
            server.port()
        ),
        Duration::from_secs(2),
    );
    server.wait_for_log("[INF] Server is ready", Duration::from_secs(2));
}
