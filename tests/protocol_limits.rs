//! Spec §2.6 and §2.9: the limits from the config file (`-c`), their `-ERR` texts and whether
//! the connection closes; keepalive PINGs and `Stale Connection`; slow consumers. Checked
//! against Go nats-server 2.15.1.

mod common;

use std::time::Duration;

use common::{End, Frame, Server};
use serde_json::Value;

// ---- Maximum Payload Violation ----------------------------------------------------------

#[test]
fn max_payload_is_advertised_in_info() {
    let server = Server::start_with_config("max_payload: 16\n", &[]);
    let raw = server.raw();
    assert_eq!(raw.info["max_payload"], Value::from(16));
}

#[test]
fn max_payload_allows_exactly_the_limit() {
    let server = Server::start_with_config("max_payload: 16\n", &[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 16\r\n0123456789abcdef\r\n");
    raw.expect(b"MSG foo 1 16\r\n0123456789abcdef\r\n");
}

#[test]
fn max_payload_violation_is_checked_on_the_control_line() {
    let server = Server::start_with_config("max_payload: 16\n", &[]);
    let mut raw = server.quiet();
    // No payload is sent: the size alone triggers the error.
    raw.send(b"PUB foo 17\r\n");
    raw.expect(b"-ERR 'Maximum Payload Violation'\r\n");
    raw.expect_closed();
}

#[test]
fn max_payload_applies_to_hpub_total_size() {
    let server = Server::start_with_config("max_payload: 16\n", &[]);
    let mut ok = server.client(r#"{"verbose":false,"headers":true}"#);
    ok.send(b"HPUB foo 12 16\r\nNATS/1.0\r\n\r\n0123\r\nPING\r\n");
    ok.expect(b"PONG\r\n");
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"HPUB foo 12 17\r\n");
    raw.expect(b"-ERR 'Maximum Payload Violation'\r\n");
    raw.expect_closed();
}

// ---- CP-03: maximum control line exceeded -----------------------------------------------

const MCL_CONF: &str = "max_control_line: 64\n";

/// `PUB <subject> 1` whose argument part (after `PUB `) is exactly `len` bytes.
fn pub_line_with_args_len(len: usize) -> Vec<u8> {
    let subject = "s".repeat(len - 2);
    format!("PUB {subject} 1\r\nx\r\n").into_bytes()
}

#[test]
fn cp03_control_line_at_the_limit_is_accepted() {
    let server = Server::start_with_config(MCL_CONF, &[]);
    let mut raw = server.quiet();
    raw.send(&pub_line_with_args_len(64));
    raw.ping_pong();
}

#[test]
fn cp03_control_line_over_the_limit_is_lowercase_error_and_close() {
    let server = Server::start_with_config(MCL_CONF, &[]);
    let mut raw = server.quiet();
    raw.send(&pub_line_with_args_len(65));
    raw.expect(b"-ERR 'maximum control line exceeded'\r\n");
    raw.expect_closed();
}

#[test]
fn cp03_control_line_limit_applies_to_connect() {
    let server = Server::start_with_config(MCL_CONF, &[]);
    let mut raw = server.raw();
    let name = "n".repeat(80);
    raw.send(format!("CONNECT {{\"verbose\":false,\"name\":\"{name}\"}}\r\n").as_bytes());
    raw.expect(b"-ERR 'maximum control line exceeded'\r\n");
    raw.expect_closed();
}

#[test]
fn cp03_control_line_limit_applies_to_sub() {
    let server = Server::start_with_config(MCL_CONF, &[]);
    let mut raw = server.quiet();
    raw.send(format!("SUB {} 1\r\n", "s".repeat(80)).as_bytes());
    raw.expect(b"-ERR 'maximum control line exceeded'\r\n");
    raw.expect_closed();
}

#[test]
fn cp03_control_line_limit_is_checked_on_a_partial_line() {
    let server = Server::start_with_config(MCL_CONF, &[]);
    let mut raw = server.quiet();
    // No line end ever comes: the server must not wait for it.
    raw.send(format!("PUB {}", "s".repeat(100)).as_bytes());
    raw.expect(b"-ERR 'maximum control line exceeded'\r\n");
    raw.expect_closed();
}

// ---- CL-02: maximum connections exceeded ------------------------------------------------

#[test]
fn cl02_max_connections_error_comes_after_info() {
    let server = Server::start_with_config("max_connections: 1\n", &[]);
    let mut first = server.quiet();
    // Raw::connect reads the INFO first: the error must come after it.
    let mut second = server.raw();
    second.expect(b"-ERR 'maximum connections exceeded'\r\n");
    second.expect_closed();
    first.ping_pong();
}

#[test]
fn cl02_max_connections_zero_rejects_everyone() {
    let server = Server::start_with_config("max_connections: 0\n", &[]);
    let mut raw = server.raw();
    raw.expect(b"-ERR 'maximum connections exceeded'\r\n");
    raw.expect_closed();
}

// ---- maximum subscriptions exceeded -----------------------------------------------------

#[test]
fn max_subscriptions_exceeded_keeps_the_connection() {
    let server = Server::start_with_config("max_subscriptions: 2\n", &[]);
    let mut raw = server.quiet();
    raw.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
    raw.expect(b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
    // The rejected sub does not exist, the others do.
    raw.send(b"PUB c 1\r\nx\r\nPUB a 1\r\ny\r\n");
    raw.expect(b"MSG a 1 1\r\ny\r\n");
    // Freeing a slot allows a new sub.
    raw.send(b"UNSUB 1\r\nSUB c 3\r\nPUB c 1\r\nz\r\nPING\r\n");
    raw.expect(b"MSG c 3 1\r\nz\r\nPONG\r\n");
}

#[test]
fn max_subscriptions_counts_per_connection() {
    let server = Server::start_with_config("max_subscriptions: 1\n", &[]);
    let mut a = server.quiet();
    a.send(b"SUB x 1\r\nPING\r\n");
    a.expect(b"PONG\r\n");
    let mut b = server.quiet();
    b.send(b"SUB x 1\r\nPING\r\n");
    b.expect(b"PONG\r\n");
}

// ---- Invalid Subject / Invalid Publish Subject ------------------------------------------

#[test]
fn invalid_subject_keeps_the_connection() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo. 1\r\nSUB foo..bar 2\r\nSUB .foo 3\r\nSUB foo.>.bar 4\r\nPING\r\n");
    for _ in 0..4 {
        raw.expect(b"-ERR 'Invalid Subject'\r\n");
    }
    raw.expect(b"PONG\r\n");
    raw.send(b"SUB foo 5\r\nPUB foo 1\r\nx\r\n");
    raw.expect(b"MSG foo 5 1\r\nx\r\n");
}

#[test]
fn invalid_publish_subject_pedantic_still_delivers() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"pedantic":true}"#);
    raw.send(b"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n");
    raw.expect(b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 2\r\nhi\r\nPONG\r\n");
}

#[test]
fn invalid_publish_subject_delivers_to_another_connection() {
    let server = Server::start(&[]);
    let mut sub = server.quiet();
    sub.send(b"SUB foo.> 9\r\n");
    sub.ping_pong();
    let mut publisher = server.client(r#"{"verbose":false,"pedantic":true}"#);
    publisher.send(b"PUB foo.> 2\r\nhi\r\nPING\r\n");
    publisher.expect(b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n");
    sub.expect(b"MSG foo.> 9 2\r\nhi\r\n");
}

#[test]
fn non_pedantic_wildcard_publish_has_no_error() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"pedantic":false}"#);
    raw.send(b"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n");
    raw.expect(b"MSG foo.* 1 2\r\nhi\r\nPONG\r\n");
}

// ---- CONNECT errors ---------------------------------------------------------------------

#[test]
fn invalid_client_protocol_closes() {
    let server = Server::start(&[]);
    for proto in ["2", "-1"] {
        let mut raw = server.raw();
        raw.send(
            format!("CONNECT {{\"verbose\":false,\"protocol\":{proto}}}\r\nPING\r\n").as_bytes(),
        );
        raw.expect(b"-ERR 'invalid client protocol'\r\n");
        raw.expect_closed();
    }
}

#[test]
fn no_responders_requires_headers_support() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false,\"no_responders\":true}\r\nPING\r\n");
    raw.expect(b"-ERR 'no responders requires headers support'\r\n");
    raw.expect_closed();
}

#[test]
fn no_responders_with_headers_is_accepted() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false,\"no_responders\":true,\"headers\":true}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

// ---- keepalive: §11.4 and Stale Connection ----------------------------------------------

#[test]
fn first_server_ping_comes_seconds_after_connect_not_minutes() {
    // Default ping_interval is 2 minutes, but the first PING goes out after ~2 s.
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    assert_eq!(raw.read_frame(), Frame::Ping);
    raw.send(b"PONG\r\n");
    raw.ping_pong();
}

#[test]
fn stale_connection_with_ping_max_1() {
    let server = Server::start_with_config("ping_interval: \"100ms\"\nping_max: 1\n", &[]);
    let mut raw = server.quiet();
    raw.expect(b"PING\r\n-ERR 'Stale Connection'\r\n");
    raw.expect_closed();
}

#[test]
fn stale_connection_with_default_ping_max() {
    let server = Server::start_with_config("ping_interval: \"100ms\"\n", &[]);
    let mut raw = server.quiet();
    raw.expect(b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    raw.expect_closed();
}

#[test]
fn answering_pings_keeps_the_connection() {
    let server = Server::start_with_config("ping_interval: \"100ms\"\nping_max: 1\n", &[]);
    let mut raw = server.quiet();
    for _ in 0..5 {
        assert_eq!(raw.read_frame(), Frame::Ping);
        raw.send(b"PONG\r\n");
    }
    raw.ping_pong();
}

// ---- slow consumer ----------------------------------------------------------------------

#[test]
fn slow_consumer_is_closed_while_others_keep_receiving() {
    // max_payload must not exceed max_pending (Go refuses to start otherwise).
    let server = Server::start_with_config("max_payload: 65536\nmax_pending: 131072\n", &[]);
    let mut slow = server.quiet();
    slow.send(b"SUB big 1\r\n");
    slow.ping_pong();
    let mut fast = server.quiet();
    fast.send(b"SUB big 1\r\n");
    fast.ping_pong();
    let mut publisher = server.quiet();

    let payload = vec![b'x'; 16 * 1024];
    let batch: Vec<u8> = common::pub_frame("big", &payload).repeat(4);
    // 32 MiB in all: far more than the kernel buffers of the never-reading subscriber, in
    // batches the fast subscriber drains before the next one (so it stays under max_pending).
    for _ in 0..512 {
        publisher.send(&batch);
        for m in fast.read_msgs(4) {
            assert_eq!(m.payload.len(), payload.len());
        }
    }

    let (bytes, end) = slow.read_until_closed_or_timeout(Duration::from_secs(10));
    assert_eq!(end, End::Closed, "the slow consumer must be disconnected");
    // Slow consumers are closed silently: there is no `-ERR 'Slow Consumer'`.
    assert!(
        !bytes.windows(4).any(|w| w == b"-ERR"),
        "no -ERR for a slow consumer"
    );

    publisher.send(b"PUB big 4\r\nlast\r\n");
    fast.expect(b"MSG big 1 4\r\nlast\r\n");
    publisher.ping_pong();
}
