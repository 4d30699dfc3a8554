//! Spec §2.2 and §2.5: the connection lifecycle and every client operation, as raw bytes.
//! Every expectation here was checked against the Go nats-server 2.15.1.

mod common;

use common::{hpub_frame, msg_frame, pub_frame, Frame, Raw, Server};
use serde_json::Value;

// ---- §2.2 connection lifecycle ----------------------------------------------------------

#[test]
fn cl01_info_is_sent_immediately_on_accept() {
    let server = Server::start(&[]);
    // Raw::connect sends nothing and reads a line: the server must speak first.
    let raw = server.raw();
    assert_eq!(raw.info["proto"], Value::from(1));
    assert_eq!(raw.info["headers"], Value::Bool(true));
    assert_eq!(raw.info["max_payload"], Value::from(1_048_576));
    assert_eq!(raw.info["port"], Value::from(server.port()));
    assert_eq!(raw.info["host"], Value::from("127.0.0.1"));
    assert_eq!(raw.info["client_ip"], Value::from("127.0.0.1"));
    let id = raw.info["server_id"].as_str().expect("server_id");
    assert!(id.starts_with('N') && id.len() == 56, "server_id {id}");
    let version = raw.info["version"].as_str().expect("version");
    assert_eq!(version.split('.').count(), 3, "semver version {version}");
}

#[test]
fn cp06_info_line_has_a_space_before_crlf() {
    let server = Server::start(&[]);
    let raw = server.raw();
    assert!(raw.info_line.starts_with(b"INFO {"));
    assert!(
        raw.info_line.ends_with(b"} \r\n"),
        "INFO must end with `}} \\r\\n`: {}",
        common::show(&raw.info_line)
    );
}

#[test]
fn cl05_telnet_without_connect_defaults_to_verbose() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"SUB foo 1\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"PUB foo 2\r\nhi\r\n");
    raw.expect(b"+OK\r\nMSG foo 1 2\r\nhi\r\n");
    raw.send(b"UNSUB 1\r\n");
    raw.expect(b"+OK\r\n");
    raw.ping_pong();
}

#[test]
fn cl05_omitted_connect_fields_default_to_verbose_pedantic_echo() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {}\r\n");
    raw.expect(b"+OK\r\n");
    // pedantic: the wildcard publish is reported, and (§2.6) still delivered; echo: to self.
    raw.send(b"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\n");
    raw.expect(b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG foo.* 1 2\r\nhi\r\n");
    raw.ping_pong();
}

#[test]
fn cl06_verbose_handshake_is_ok_then_pong() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":true,\"pedantic\":false}\r\nPING\r\n");
    raw.expect(b"+OK\r\nPONG\r\n");
    raw.expect_nothing(200);
}

#[test]
fn cl06_protocol0_gets_only_pong() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false,\"protocol\":0}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
    raw.expect_nothing(200);
}

#[test]
fn cl06_protocol1_gets_pong_then_info_with_connect_info() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
    let line = raw.expect_line_prefix("INFO ");
    assert!(
        line.ends_with("} \r\n"),
        "INFO needs the trailing space: {line}"
    );
    let info = common::parse_info(line.as_bytes());
    assert_eq!(info["connect_info"], Value::Bool(true));
    assert_eq!(info["remote_account"], Value::from("$G"));
    // The spec shows `"acc_is_sys":false`; Go 2.15.1 omits the field (omitempty). Either way
    // it must not claim the system account.
    assert_ne!(info.get("acc_is_sys"), Some(&Value::Bool(true)));
    assert_eq!(info["client_id"], raw.info["client_id"]);
    // Only the first PONG is followed by an INFO.
    raw.ping_pong();
    raw.expect_nothing(200);
}

#[test]
fn cl08_client_ids_are_unique_and_increasing() {
    // The spec says cids start at 1; Go 2.15.1 gives its first client cid 5 (the system
    // account's internal clients draw from the same counter), so only the order is checked.
    let server = Server::start(&[]);
    let mut last = 0;
    for _ in 0..5 {
        let raw = server.raw();
        let cid = raw.cid();
        assert!(cid > last, "cid {cid} after {last}");
        last = cid;
    }
}

// ---- §2.5 operations --------------------------------------------------------------------

#[test]
fn pub_delivers_msg_to_a_subscriber() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\n");
    raw.expect(b"MSG foo 1 5\r\nhello\r\n");
    raw.ping_pong();
}

#[test]
fn pub_with_reply_subject_is_delivered_with_reply() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo reply.x 1\r\na\r\n");
    raw.expect(b"MSG foo 1 reply.x 1\r\na\r\n");
}

#[test]
fn pub_with_empty_payload() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 0\r\n\r\n");
    raw.expect(b"MSG foo 1 0\r\n\r\n");
}

#[test]
fn pub_payload_may_contain_crlf_and_binary() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    let payload = b"a\r\nPING\r\n\x00\xff";
    raw.send(b"SUB foo 1\r\n");
    raw.send(&pub_frame("foo", payload));
    raw.expect(&msg_frame("foo", "1", payload));
    raw.ping_pong();
}

#[test]
fn pub_between_connections() {
    let server = Server::start(&[]);
    let mut sub = server.quiet();
    sub.send(b"SUB greet 7\r\n");
    sub.ping_pong();
    let mut publisher = server.quiet();
    publisher.send(b"PUB greet 2\r\nhi\r\n");
    sub.expect(b"MSG greet 7 2\r\nhi\r\n");
}

#[test]
fn hpub_delivers_hmsg_to_header_subscriber() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    // "NATS/1.0\r\n" (10) + "A: bcdefg\r\n" (11) + "\r\n" (2) = 23 header bytes.
    raw.send(b"SUB foo 1\r\nHPUB foo 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nhi\r\n");
    raw.expect(b"HMSG foo 1 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nhi\r\n");
    raw.send(b"HPUB foo reply.y 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    raw.expect(b"HMSG foo 1 reply.y 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    raw.ping_pong();
}

#[test]
fn hpub_headers_are_stripped_for_a_subscriber_without_headers() {
    let server = Server::start(&[]);
    let mut plain = server.client(r#"{"verbose":false,"headers":false}"#);
    plain.send(b"SUB foo 1\r\n");
    plain.ping_pong();
    let mut publisher = server.client(r#"{"verbose":false,"headers":true}"#);
    publisher.send(&hpub_frame(
        "foo",
        None,
        b"NATS/1.0\r\nA: bcdefg\r\n\r\n",
        b"hi",
    ));
    plain.expect(b"MSG foo 1 2\r\nhi\r\n");
}

#[test]
fn hpub_without_headers_in_connect_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    raw.expect_closed();
}

#[test]
fn hpub_header_size_above_total_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"HPUB foo 14 12\r\n");
    raw.expect_closed();
}

#[test]
fn sub_repeated_sid_is_a_noop() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    raw.expect(b"MSG foo 1 2\r\nhi\r\n");
    raw.ping_pong();
}

#[test]
fn sub_repeated_sid_keeps_the_first_subject() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 2\r\nhi\r\nPUB foo 2\r\nho\r\n");
    raw.expect(b"MSG foo 1 2\r\nho\r\n");
    raw.ping_pong();
}

#[test]
fn sub_with_queue_group_gets_one_copy_per_group() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo q 1\r\nSUB foo q 2\r\nPUB foo 2\r\nhi\r\n");
    let msgs = raw.msgs_until_pong();
    assert_eq!(msgs.len(), 1, "one member of the group: {msgs:?}");
    assert!(msgs[0].sid == "1" || msgs[0].sid == "2");
    assert_eq!(msgs[0].payload, b"hi");
}

#[test]
fn unsub_stops_delivery() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1\r\nPUB foo 1\r\nb\r\nPING\r\n");
    raw.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n");
}

#[test]
fn unsub_unknown_sid_is_ignored_with_ok_when_verbose() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"UNSUB 99\r\nPING\r\n");
    raw.expect(b"+OK\r\nPONG\r\n");
}

#[test]
fn unsub_with_max_auto_unsubscribes_after_max_deliveries() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nUNSUB 1 2\r\n");
    raw.send(b"PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n");
}

#[test]
fn unsub_with_max_at_or_below_delivered_unsubscribes_at_once() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nUNSUB 1 1\r\n");
    raw.send(b"PUB foo 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n");
}

#[test]
fn unsub_with_invalid_max_unsubscribes_at_once() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1 x\r\nPUB foo 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n");
    raw.send(b"SUB bar 2\r\nUNSUB 2 0\r\nPUB bar 1\r\nd\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn msg_two_matching_subs_on_one_connection_get_two_copies() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nSUB foo 2\r\nPUB foo 2\r\nhi\r\n");
    let mut sids: Vec<String> = raw.msgs_until_pong().into_iter().map(|m| m.sid).collect();
    sids.sort();
    assert_eq!(sids, ["1", "2"]);
}

#[test]
fn ping_gets_pong_and_never_ok() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    // No CONNECT: verbose is on, and still PING gets only PONG.
    raw.send(b"PING\r\n");
    raw.expect(b"PONG\r\n");
    raw.send(b"PING\r\nPING\r\n");
    raw.expect(b"PONG\r\nPONG\r\n");
    raw.expect_nothing(200);
}

#[test]
fn server_pong_answers_do_not_need_connect() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    // A PONG from the client with no outstanding PING is harmless.
    raw.send(b"PONG\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn verbose_ok_after_connect_pub_sub_unsub() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":true}\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"SUB foo 1\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"PUB foo 1\r\nx\r\n");
    raw.expect(b"+OK\r\nMSG foo 1 1\r\nx\r\n");
    raw.send(b"UNSUB 1\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"PING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn verbose_ok_after_hpub() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":true,\"headers\":true}\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n");
    raw.expect(b"+OK\r\nPONG\r\n");
}

#[test]
fn client_ok_and_info_are_ignored() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"+OK\r\nINFO {\"server_id\":\"x\"}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn client_err_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"-ERR 'something'\r\n");
    raw.expect_closed();
}

#[test]
fn frames_can_be_read_one_by_one() {
    // Sanity check of the harness's frame reader against a real exchange.
    let server = Server::start(&[]);
    let mut raw = Raw::connect(server.port());
    raw.send(b"SUB a 1\r\nPUB a 1\r\nz\r\nPING\r\n");
    assert_eq!(raw.read_frame(), Frame::Ok);
    assert_eq!(raw.read_frame(), Frame::Ok);
    match raw.read_frame() {
        Frame::Msg(m) => assert_eq!((m.subject.as_str(), m.payload.as_slice()), ("a", &b"z"[..])),
        other => panic!("expected MSG, got {other:?}"),
    }
    assert_eq!(raw.read_frame(), Frame::Pong);
}
