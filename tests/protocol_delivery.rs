//! Spec §2.7 (SJ-01..03) and §2.8 (DS-01..06): subjects, wildcards and who gets a message.
//! Checked against Go nats-server 2.15.1.
//!
//! A negative check across connections ("B does not get X") publishes X and then a marker
//! that B does get, from the same connection: per-publisher order (DS-03) puts X first if it
//! were delivered. This holds on a sharded server too, with no sleeps.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{hmsg_frame, hpub_frame, Msg, Raw, Server};

fn payload_of(m: &Msg) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

fn sids(msgs: &[Msg]) -> BTreeSet<String> {
    msgs.iter().map(|m| m.sid.clone()).collect()
}

/// Subscribes `subs` (`(subject, sid)`) on a fresh quiet connection and flushes.
fn subscriber(server: &Server, subs: &[(&str, &str)]) -> Raw {
    let mut raw = server.quiet();
    for (subject, sid) in subs {
        raw.send(format!("SUB {subject} {sid}\r\n").as_bytes());
    }
    raw.ping_pong();
    raw
}

// ---- SJ-01: subject syntax --------------------------------------------------------------

#[test]
fn sj01_subjects_are_case_sensitive() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB Foo 1\r\nPUB foo 1\r\na\r\nPUB FOO 1\r\nb\r\nPUB Foo 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG Foo 1 1\r\nc\r\nPONG\r\n");
}

#[test]
fn sj01_subjects_may_hold_utf8_and_punctuation() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    let subject = "héllo.wörld.$x.-_~!@#%".as_bytes();
    let mut sub = b"SUB ".to_vec();
    sub.extend_from_slice(subject);
    sub.extend_from_slice(b" 1\r\nPUB ");
    sub.extend_from_slice(subject);
    sub.extend_from_slice(b" 1\r\nz\r\n");
    raw.send(&sub);
    let mut want = b"MSG ".to_vec();
    want.extend_from_slice(subject);
    want.extend_from_slice(b" 1 1\r\nz\r\n");
    raw.expect(&want);
}

#[test]
fn sj01_empty_tokens_are_invalid_subjects() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    for bad in ["foo.", ".foo", "foo..bar", "."] {
        raw.send(format!("SUB {bad} 1\r\n").as_bytes());
        raw.expect(b"-ERR 'Invalid Subject'\r\n");
    }
    raw.ping_pong();
}

#[test]
fn sj01_pedantic_publish_to_empty_token_subject_is_invalid_and_matches_nothing() {
    // Go reports the subject and delivers nothing: an invalid literal matches no sub.
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"pedantic":true}"#);
    raw.send(b"SUB > 1\r\nPUB foo..bar 2\r\nhi\r\nPING\r\n");
    raw.expect(b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n");
}

// ---- SJ-02: wildcards -------------------------------------------------------------------

#[test]
fn sj02_star_matches_exactly_one_token() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo.* 1\r\n");
    raw.send(b"PUB foo 1\r\na\r\nPUB foo.bar 1\r\nb\r\nPUB foo.bar.baz 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG foo.bar 1 1\r\nb\r\nPONG\r\n");
}

#[test]
fn sj02_star_in_the_middle() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB a.*.c 1\r\n");
    raw.send(b"PUB a.b.c 1\r\n1\r\nPUB a.c 1\r\n2\r\nPUB a.b.b.c 1\r\n3\r\nPUB a.x.c 1\r\n4\r\n");
    raw.send(b"PING\r\n");
    raw.expect(b"MSG a.b.c 1 1\r\n1\r\nMSG a.x.c 1 1\r\n4\r\nPONG\r\n");
}

#[test]
fn sj02_gt_matches_one_or_more_trailing_tokens() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo.> 1\r\n");
    raw.send(b"PUB foo 1\r\na\r\nPUB foo.bar 1\r\nb\r\nPUB foo.bar.baz 1\r\nc\r\nPING\r\n");
    raw.expect(b"MSG foo.bar 1 1\r\nb\r\nMSG foo.bar.baz 1 1\r\nc\r\nPONG\r\n");
}

#[test]
fn sj02_full_wildcard_matches_everything() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB > 1\r\nPUB a 1\r\n1\r\nPUB a.b.c 1\r\n2\r\nPING\r\n");
    raw.expect(b"MSG a 1 1\r\n1\r\nMSG a.b.c 1 1\r\n2\r\nPONG\r\n");
}

#[test]
fn sj02_gt_must_be_last() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo.>.bar 1\r\nSUB >.foo 2\r\nPING\r\n");
    raw.expect(b"-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nPONG\r\n");
}

#[test]
fn sj02_wildcard_chars_inside_tokens_are_literal() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo* 1\r\nSUB f>o 2\r\n");
    raw.send(b"PUB foo* 1\r\na\r\nPUB f>o 1\r\nb\r\nPUB fooo 1\r\nc\r\nPUB foo 1\r\nd\r\nPING\r\n");
    raw.expect(b"MSG foo* 1 1\r\na\r\nMSG f>o 2 1\r\nb\r\nPONG\r\n");
}

#[test]
fn sj03_non_pedantic_wildcard_publish_matches_wildcard_subs() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"pedantic":false}"#);
    raw.send(b"SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB *.* 4\r\nSUB foo.bar 5\r\n");
    raw.send(b"PUB foo.* 2\r\nhi\r\n");
    let msgs = raw.msgs_until_pong();
    // Order among the matching subs is not specified.
    assert_eq!(
        sids(&msgs),
        BTreeSet::from(["1", "2", "3", "4"].map(String::from))
    );
    assert_eq!(msgs.len(), 4);
    assert!(msgs
        .iter()
        .all(|m| m.subject == "foo.*" && m.payload == b"hi"));
}

// ---- §11.7 ------------------------------------------------------------------------------

#[test]
fn s11_7_gt_does_not_match_the_bare_prefix() {
    let server = Server::start(&[]);
    let mut sub = subscriber(&server, &[("foo.>", "1"), ("marker", "2")]);
    let mut publisher = server.quiet();
    publisher.send(b"PUB foo 1\r\nx\r\nPUB marker 1\r\nm\r\n");
    sub.expect(b"MSG marker 2 1\r\nm\r\n");
}

#[test]
fn s11_7_overlapping_subs_on_one_connection_get_two_copies() {
    let server = Server::start(&[]);
    let mut sub = subscriber(&server, &[("foo.*", "1"), ("foo.bar", "2"), ("foo.>", "3")]);
    let mut publisher = server.quiet();
    publisher.send(b"PUB foo.bar 1\r\nx\r\n");
    let msgs = sub.read_msgs(3);
    assert_eq!(
        sids(&msgs),
        BTreeSet::from(["1", "2", "3"].map(String::from))
    );
    assert!(sub.msgs_until_pong().is_empty());
}

// ---- DS-01: fan-out ---------------------------------------------------------------------

#[test]
fn ds01_every_matching_subscription_gets_one_copy() {
    let server = Server::start(&[]);
    let mut subs: Vec<Raw> = (0..5)
        .map(|i| subscriber(&server, &[("fan.out", &i.to_string())]))
        .collect();
    let mut publisher = server.quiet();
    publisher.send(b"PUB fan.out 3\r\nabc\r\n");
    for (i, sub) in subs.iter_mut().enumerate() {
        sub.expect(format!("MSG fan.out {i} 3\r\nabc\r\n").as_bytes());
        assert!(sub.msgs_until_pong().is_empty());
    }
}

#[test]
fn ds01_echo_false_skips_own_subscriptions_only() {
    let server = Server::start(&[]);
    let mut other = subscriber(&server, &[("foo", "1")]);
    let mut me = server.client(r#"{"verbose":false,"echo":false}"#);
    me.send(b"SUB foo 1\r\nSUB foo q 2\r\nPUB foo 2\r\nhi\r\n");
    assert!(me.msgs_until_pong().is_empty(), "no echo to self");
    other.expect(b"MSG foo 1 2\r\nhi\r\n");
}

#[test]
fn ds01_echo_defaults_to_true() {
    let server = Server::start(&[]);
    let mut me = server.quiet();
    me.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    me.expect(b"MSG foo 1 2\r\nhi\r\n");
}

// ---- DS-02: queue groups ----------------------------------------------------------------

#[test]
fn ds02_each_message_goes_to_exactly_one_member_of_each_group() {
    const N: usize = 200;
    let server = Server::start(&[]);
    // Two groups of three members each on separate connections, plus a plain subscriber;
    // everyone also listens on `done` so it knows when the publisher has finished.
    let mut members: Vec<(String, Raw)> = Vec::new();
    for group in ["g1", "g2"] {
        for i in 0..3 {
            let mut raw = server.quiet();
            raw.send(format!("SUB work {group} 1\r\nSUB done 2\r\n").as_bytes());
            raw.ping_pong();
            members.push((format!("{group}/{i}"), raw));
        }
    }
    let mut plain = subscriber(&server, &[("work", "1"), ("done", "2")]);

    let mut publisher = server.quiet();
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend_from_slice(&common::pub_frame("work", i.to_string().as_bytes()));
    }
    batch.extend_from_slice(b"PUB done 0\r\n\r\n");
    publisher.send(&batch);

    let until_done = |raw: &mut Raw| -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let m = raw.next_msg();
            if m.subject == "done" {
                return got;
            }
            got.push(payload_of(&m));
        }
    };

    let mut per_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, raw) in members.iter_mut() {
        let got = until_done(raw);
        let group = if name.starts_with("g1") { "g1" } else { "g2" };
        per_group.entry(group).or_default().extend(got);
    }
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    for (group, mut got) in per_group {
        got.sort_by_key(|p| p.parse::<usize>().unwrap_or(usize::MAX));
        assert_eq!(got, expected, "group {group}: every message exactly once");
    }
    assert_eq!(
        until_done(&mut plain),
        expected,
        "plain sub gets all, in order"
    );
}

#[test]
fn ds02_queue_and_plain_subs_on_one_connection() {
    let server = Server::start(&[]);
    let mut raw = server.quiet();
    raw.send(b"SUB foo 1\r\nSUB foo q 2\r\nSUB foo q 3\r\nSUB foo r 4\r\nPUB foo 2\r\nhi\r\n");
    let msgs = raw.msgs_until_pong();
    let got = sids(&msgs);
    assert_eq!(msgs.len(), 3, "plain + one of q + r: {msgs:?}");
    assert!(got.contains("1") && got.contains("4"));
    assert!(got.contains("2") ^ got.contains("3"));
}

// ---- DS-03: order -----------------------------------------------------------------------

#[test]
fn ds03_one_publisher_to_one_subscriber_keeps_order() {
    const N: usize = 2000;
    let server = Server::start(&[]);
    let mut sub = subscriber(&server, &[("seq", "1")]);
    let mut publisher = server.quiet();
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend_from_slice(&common::pub_frame("seq", i.to_string().as_bytes()));
        if i % 100 == 99 {
            publisher.send(&batch);
            batch.clear();
        }
    }
    let got: Vec<String> = sub.read_msgs(N).iter().map(payload_of).collect();
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
}

// ---- DS-04: auto-unsubscribe ------------------------------------------------------------

#[test]
fn ds04_auto_unsubscribe_counts_deliveries_across_publishers() {
    let server = Server::start(&[]);
    let mut sub = server.quiet();
    sub.send(b"SUB foo 1\r\nUNSUB 1 3\r\nSUB marker 2\r\n");
    sub.ping_pong();
    let mut p1 = server.quiet();
    let mut p2 = server.quiet();
    p1.send(b"PUB foo 1\r\na\r\n");
    sub.expect(b"MSG foo 1 1\r\na\r\n");
    p2.send(b"PUB foo 1\r\nb\r\n");
    sub.expect(b"MSG foo 1 1\r\nb\r\n");
    p1.send(b"PUB foo 1\r\nc\r\n");
    sub.expect(b"MSG foo 1 1\r\nc\r\n");
    p2.send(b"PUB foo 1\r\nd\r\nPUB marker 1\r\nm\r\n");
    sub.expect(b"MSG marker 2 1\r\nm\r\n");
}

// ---- DS-05: no responders ---------------------------------------------------------------

const NR_CONNECT: &str = r#"{"verbose":false,"headers":true,"no_responders":true}"#;

#[test]
fn ds05_no_responders_gets_503_with_nats_subject() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB _INBOX.x 1\r\nPUB svc.a _INBOX.x 2\r\nhi\r\nPING\r\n");
    // n = 32 + len("svc.a") = 37
    raw.expect(b"HMSG _INBOX.x 1 37 37\r\nNATS/1.0 503\r\nNats-Subject: svc.a\r\n\r\n\r\nPONG\r\n");
}

#[test]
fn ds05_no_responders_block_is_exact_for_any_subject() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB reply.> 9\r\n");
    for subject in ["a", "svc.longer.subject.name", "x.y"] {
        raw.send(format!("PUB {subject} reply.{subject} 0\r\n\r\n").as_bytes());
        let block = format!("NATS/1.0 503\r\nNats-Subject: {subject}\r\n\r\n");
        assert_eq!(block.len(), 32 + subject.len());
        let reply = format!("reply.{subject}");
        raw.expect(&hmsg_frame(&reply, "9", None, block.as_bytes(), b""));
    }
    raw.ping_pong();
}

#[test]
fn ds05_no_responders_for_hpub_too() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB _INBOX.x 1\r\n");
    raw.send(&hpub_frame(
        "svc.a",
        Some("_INBOX.x"),
        b"NATS/1.0\r\nK: v\r\n\r\n",
        b"hi",
    ));
    raw.expect(b"HMSG _INBOX.x 1 37 37\r\nNATS/1.0 503\r\nNats-Subject: svc.a\r\n\r\n\r\n");
}

#[test]
fn ds05_no_503_when_someone_is_listening() {
    let server = Server::start(&[]);
    let mut responder = subscriber(&server, &[("svc.a", "5")]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB _INBOX.x 1\r\nPUB svc.a _INBOX.x 2\r\nhi\r\n");
    responder.expect(b"MSG svc.a 5 _INBOX.x 2\r\nhi\r\n");
    assert!(raw.msgs_until_pong().is_empty());
}

#[test]
fn ds05_no_503_without_no_responders_option() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"SUB _INBOX.x 1\r\nPUB svc.a _INBOX.x 2\r\nhi\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn ds05_no_503_without_a_reply_subject() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB _INBOX.x 1\r\nPUB svc.a 2\r\nhi\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn ds05_no_503_when_the_reply_subject_has_no_sub() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"PUB svc.a _INBOX.x 2\r\nhi\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn ds05_503_goes_to_a_wildcard_reply_sub_with_its_sid() {
    let server = Server::start(&[]);
    let mut raw = server.client(NR_CONNECT);
    raw.send(b"SUB _INBOX.* 7\r\nPUB svc.a _INBOX.x 2\r\nhi\r\n");
    raw.expect(b"HMSG _INBOX.x 7 37 37\r\nNATS/1.0 503\r\nNats-Subject: svc.a\r\n\r\n\r\n");
}

#[test]
fn ds05_echo_suppressed_own_subscriber_counts_as_nobody() {
    let server = Server::start(&[]);
    let mut raw =
        server.client(r#"{"verbose":false,"headers":true,"no_responders":true,"echo":false}"#);
    raw.send(b"SUB _INBOX.x 1\r\nSUB svc.a 2\r\nPUB svc.a _INBOX.x 2\r\nhi\r\n");
    raw.expect(b"HMSG _INBOX.x 1 37 37\r\nNATS/1.0 503\r\nNats-Subject: svc.a\r\n\r\n\r\n");
}

// ---- DS-06: header blocks pass through untouched ----------------------------------------

#[test]
fn ds06_header_block_is_delivered_byte_for_byte() {
    let server = Server::start(&[]);
    let mut sub = server.client(r#"{"verbose":false,"headers":true}"#);
    sub.send(b"SUB h 1\r\n");
    sub.ping_pong();
    let mut publisher = server.client(r#"{"verbose":false,"headers":true}"#);
    let blocks: [&[u8]; 4] = [
        b"NATS/1.0\r\n\r\n",
        b"NATS/1.0 503\r\n\r\n",
        b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n",
        b"NATS/1.0\r\nnats-msg-id: lower\r\nX-Multi: a\r\nX-Multi: b\r\nEmpty:\r\n\r\n",
    ];
    for block in blocks {
        publisher.send(&hpub_frame("h", Some("r.1"), block, b"body"));
        sub.expect(&hmsg_frame("h", "1", Some("r.1"), block, b"body"));
    }
}

#[test]
fn ds06_header_only_message_with_empty_payload() {
    let server = Server::start(&[]);
    let mut raw = server.client(r#"{"verbose":false,"headers":true}"#);
    raw.send(b"SUB h 1\r\n");
    raw.send(&hpub_frame("h", None, b"NATS/1.0\r\nA: 1\r\n\r\n", b""));
    raw.expect(&hmsg_frame(
        "h",
        "1",
        None,
        b"NATS/1.0\r\nA: 1\r\n\r\n",
        b"",
    ));
}
