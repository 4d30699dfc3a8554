//! Spec §2.1 (CP-01..07) and the parser rows of §2.6: framing, split reads, unknown
//! operations and the silent closes. Every expectation was checked against Go nats-server
//! 2.15.1.

mod common;

use std::time::Duration;

use common::{Raw, Server};

const UNKNOWN_OP: &[u8] = b"-ERR 'Unknown Protocol Operation'\r\n";

/// Sends `chunks` as separate writes with a pause between them, so the server most likely
/// sees them in separate reads (correctness never depends on it).
fn send_split(raw: &mut Raw, chunks: &[&[u8]]) {
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
        raw.send(chunk);
    }
}

// ---- CP-01: case, whitespace, line ends -------------------------------------------------

#[test]
fn cp01_operation_names_are_case_insensitive() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"connect {\"verbose\":false}\r\nsub foo 1\r\nPuB foo 1\r\na\r\npub foo 1\r\nb\r\n");
    raw.send(b"Sub bar 2\r\nunsub 2\r\nPUB bar 1\r\nc\r\nping\r\n");
    raw.expect(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n");
    raw.send(b"Ping\r\npINg\r\n");
    raw.expect(b"PONG\r\nPONG\r\n");
}

#[test]
fn cp01_hpub_and_connect_are_case_insensitive() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"Connect {\"verbose\":false,\"headers\":true}\r\nsub foo 1\r\n");
    raw.send(b"hpub foo 12 13\r\nNATS/1.0\r\n\r\nx\r\nPING\r\n");
    raw.expect(b"HMSG foo 1 12 13\r\nNATS/1.0\r\n\r\nx\r\nPONG\r\n");
}

#[test]
fn cp01_arguments_are_separated_by_spaces_or_tabs() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB \t foo  \t 1\r\nPUB\tfoo \t 2\r\nhi\r\nPUB  foo   reply  1\r\nz\r\n");
    raw.expect(b"MSG foo 1 2\r\nhi\r\nMSG foo 1 reply 1\r\nz\r\n");
    raw.send(b"UNSUB \t 1\r\nPUB foo 1\r\nq\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn cp01_bare_lf_ends_a_control_line() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false}\nSUB foo 1\nPUB foo 2\nhi\r\nPING\n");
    raw.expect(b"MSG foo 1 2\r\nhi\r\nPONG\r\n");
}

// ---- CP-02: payload terminator and split reads ------------------------------------------

#[test]
fn cp02_payload_terminator_must_be_crlf() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 5\r\nhelloXX");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn cp02_payload_terminated_by_bare_lf_is_unknown_op() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo 5\r\nhello\n");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn cp02_payload_cr_followed_by_other_byte_is_unknown_op() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo 5\r\nhello\rX");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn cp02_payload_longer_than_its_size_is_unknown_op() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 3\r\nhello\r\n");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn cp02_op_split_across_reads() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    send_split(&mut raw, &[b"SU", b"B fo", b"o 1\r", b"\nPI", b"NG\r\n"]);
    raw.expect(b"PONG\r\n");
    send_split(
        &mut raw,
        &[b"P", b"UB foo 5", b"\r\nhel", b"lo", b"\r", b"\n"],
    );
    raw.expect(b"MSG foo 1 5\r\nhello\r\n");
}

#[test]
fn cp02_payload_split_byte_by_byte() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\n");
    let frame = b"PUB foo 4\r\nab\r\n\r\nPING\r\n";
    for b in frame.iter() {
        raw.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(2));
    }
    raw.expect(b"MSG foo 1 4\r\nab\r\n\r\nPONG\r\n");
}

#[test]
fn cp02_hpub_split_across_reads() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    send_split(
        &mut raw,
        &[
            b"SUB foo 1\r\nHP",
            b"UB foo 12",
            b" 14\r\nNATS/1",
            b".0\r\n\r",
            b"\nhi\r",
            b"\n",
        ],
    );
    raw.expect(b"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
}

#[test]
fn cp02_bad_terminator_after_a_split_is_unknown_op() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    send_split(&mut raw, &[b"PUB foo 5\r\nhel", b"lo!!"]);
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn many_frames_in_one_write() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    let mut batch = b"SUB foo 1\r\n".to_vec();
    let mut want = Vec::new();
    for i in 0..500 {
        let p = format!("m{i}");
        batch.extend_from_slice(&common::pub_frame("foo", p.as_bytes()));
        want.extend_from_slice(&common::msg_frame("foo", "1", p.as_bytes()));
    }
    batch.extend_from_slice(b"PING\r\n");
    want.extend_from_slice(b"PONG\r\n");
    raw.send(&batch);
    raw.expect(&want);
}

// ---- CP-04: sizes -----------------------------------------------------------------------

#[test]
fn cp04_size_with_non_digit_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo 5x\r\n");
    raw.expect_closed();
}

#[test]
fn cp04_negative_size_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo -5\r\n");
    raw.expect_closed();
}

#[test]
fn cp04_plus_sign_size_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo +5\r\n");
    raw.expect_closed();
}

#[test]
fn cp04_overflowing_size_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo 99999999999999999999\r\n");
    raw.expect_closed();
}

#[test]
fn cp04_bad_hpub_sizes_close_silently() {
    let server = Server::start(&[]);
    for line in [
        &b"HPUB foo x 14\r\n"[..],
        b"HPUB foo 12 1x\r\n",
        b"HPUB foo 14\r\n",
    ] {
        let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
        raw.send(line);
        raw.expect_closed();
    }
}

// ---- CP-05: PING arguments, client +OK/INFO/-ERR, route and leaf ops --------------------

#[test]
fn cp05_ping_ignores_trailing_bytes() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PING foo bar\r\nPING\t\r\n");
    raw.expect(b"PONG\r\nPONG\r\n");
}

#[test]
fn cp05_client_ok_and_info_are_ignored() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"+OK\r\nINFO {}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn cp05_client_err_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"-ERR 'foo'\r\n");
    raw.expect_closed();
}

#[test]
fn cp05_route_ops_from_a_client_are_unknown() {
    let server = Server::start(&[]);
    for op in [
        &b"RS+ $G foo\r\n"[..],
        b"RMSG $G foo 1\r\nx\r\n",
        b"RS- $G foo\r\n",
    ] {
        let mut raw = server.quiet();
        raw.send(op);
        raw.expect(UNKNOWN_OP);
        raw.expect_closed();
    }
}

#[test]
fn cp05_account_ops_from_a_client_are_unknown() {
    let server = Server::start(&[]);
    for op in [&b"A+ foo\r\n"[..], b"A- foo\r\n"] {
        let mut raw = server.quiet();
        raw.send(op);
        raw.expect(UNKNOWN_OP);
        raw.expect_closed();
    }
}

#[test]
fn cp05_leaf_ops_from_a_client_are_unknown() {
    let server = Server::start(&[]);
    for op in [&b"LS+ foo\r\n"[..], b"LMSG foo 1\r\nx\r\n"] {
        let mut raw = server.quiet();
        raw.send(op);
        raw.expect(UNKNOWN_OP);
        raw.expect_closed();
    }
}

// ---- CP-07: size tokens echoed ----------------------------------------------------------

#[test]
fn cp07_msg_echoes_the_size_token_verbatim() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nPUB foo 05\r\nhello\r\nPUB foo r 005\r\nhello\r\n");
    raw.expect(b"MSG foo 1 05\r\nhello\r\nMSG foo 1 r 005\r\nhello\r\n");
}

#[test]
fn cp07_hmsg_echoes_the_size_tokens_verbatim() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"SUB foo 1\r\nHPUB foo 012 0014\r\nNATS/1.0\r\n\r\nhi\r\n");
    raw.expect(b"HMSG foo 1 012 0014\r\nNATS/1.0\r\n\r\nhi\r\n");
}

// ---- Unknown Protocol Operation ---------------------------------------------------------

#[test]
fn unknown_op_is_an_error_and_closes() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"XYZ\r\n");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn unknown_op_before_connect() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"HELLO\r\n");
    raw.expect(UNKNOWN_OP);
    raw.expect_closed();
}

#[test]
fn op_names_without_arguments_are_unknown_ops() {
    // Go's parser wants a space or tab after PUB/SUB/UNSUB/HPUB; a line end there is a bad
    // byte, not a bad argument count.
    let server = Server::start(&[]);
    for op in [&b"PUB\r\n"[..], b"SUB\r\n", b"UNSUB\r\n", b"HPUB\r\n"] {
        let mut raw = server.quiet();
        raw.send(op);
        raw.expect(UNKNOWN_OP);
        raw.expect_closed();
    }
}

#[test]
fn misspelled_op_is_unknown_op() {
    let server = Server::start(&[]);
    for op in [
        &b"PUBB foo 1\r\n"[..],
        b"PIN\r\n\r\n",
        b"SUBX foo 1\r\n",
        b"MSG foo 1 1\r\n",
    ] {
        let mut raw = server.quiet();
        raw.send(op);
        raw.expect(UNKNOWN_OP);
        raw.expect_closed();
    }
}

// ---- silent closes ----------------------------------------------------------------------

#[test]
fn pub_with_too_few_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo\r\n");
    raw.expect_closed();
}

#[test]
fn pub_with_too_many_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"PUB foo bar baz 5\r\n");
    raw.expect_closed();
}

#[test]
fn sub_with_too_few_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo\r\n");
    raw.expect_closed();
}

#[test]
fn sub_with_too_many_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo a b c\r\n");
    raw.expect_closed();
}

#[test]
fn unsub_with_too_many_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"UNSUB 1 2 3\r\n");
    raw.expect_closed();
}

#[test]
fn hpub_with_too_few_arguments_closes_silently() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"HPUB foo\r\n");
    raw.expect_closed();
}

#[test]
fn invalid_connect_json_closes_silently() {
    let server = Server::start(&[]);
    for line in [
        &b"CONNECT {\"verbose\":false\r\n"[..],
        b"CONNECT \r\n",
        b"CONNECT\r\n",
    ] {
        let mut raw = server.raw();
        raw.send(line);
        raw.expect_closed();
    }
}

#[test]
fn connect_with_unknown_fields_is_accepted() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"CONNECT {\"verbose\":false,\"bogus\":[1,2],\"lang\":\"rust\"}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn second_connect_is_allowed_and_drops_earlier_subscriptions() {
    // The spec says a second CONNECT drops subscriptions only if the account changes. Go
    // 2.15.1 drops them even when the account stays `$G`: `SUB foo 1`, `CONNECT {...}`,
    // `PUB foo 1` delivers nothing, while a SUB made after the second CONNECT works.
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nCONNECT {\"verbose\":true}\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"PUB foo 1\r\nx\r\nPING\r\n");
    raw.expect(b"+OK\r\nPONG\r\n");
    raw.send(b"SUB foo 2\r\nPUB foo 1\r\ny\r\n");
    raw.expect(b"+OK\r\n+OK\r\nMSG foo 2 1\r\ny\r\n");
}
