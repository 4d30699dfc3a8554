//! Permissions (spec AU-04, SJ-04, §2.6 `Permissions Violation ...`): each rule, its exact
//! `-ERR`, and that the message is dropped while the connection stays. Every test passes
//! against nats-server too (`NATS_SERVER_IS_GO=1`).

mod common;

use common::{Frame, Raw, Server};

/// A server whose users have the given permission blocks: `users` is a list of
/// `(name, permissions-map-text)`; every password is `p`.
fn server(users: &[(&str, &str)], extra: &str) -> Server {
    let list: Vec<String> = users
        .iter()
        .map(|(u, p)| {
            if p.is_empty() {
                format!("{{user: {u}, password: p}}")
            } else {
                format!("{{user: {u}, password: p, permissions: {p}}}")
            }
        })
        .collect();
    let conf = format!(
        "authorization {{\n  users: [\n    {}\n  ]\n{extra}}}\n",
        list.join("\n    ")
    );
    Server::start_with_config(&conf, &[])
}

fn login(s: &Server, user: &str) -> Raw {
    s.client(&format!(
        r#"{{"verbose":false,"user":"{user}","pass":"p"}}"#
    ))
}

/// Expects exactly this `-ERR` next, then a PING/PONG to show the connection stays.
#[track_caller]
fn expect_err_kept(raw: &mut Raw, text: &str) {
    loop {
        match raw.read_frame() {
            Frame::Ping => raw.send(b"PONG\r\n"),
            Frame::Err(e) => {
                assert_eq!(e, format!("'{text}'"));
                break;
            }
            other => panic!("expected -ERR '{text}', got {other:?}"),
        }
    }
    raw.ping_pong();
}

#[test]
fn au04_publish_allow_and_deny_deny_wins() {
    let s = server(
        &[
            (
                "pubr",
                "{publish: {allow: [\"foo.>\"], deny: [\"foo.secret.*\"]}}",
            ),
            ("subr", ""),
        ],
        "",
    );
    let mut sub = login(&s, "subr");
    sub.send(b"SUB > 1\r\n");
    sub.ping_pong();
    let mut p = login(&s, "pubr");
    p.send(b"PUB foo.secret.x 1\r\na\r\n");
    expect_err_kept(
        &mut p,
        "Permissions Violation for Publish to \"foo.secret.x\"",
    );
    p.send(b"PUB bar 1\r\nb\r\n");
    expect_err_kept(&mut p, "Permissions Violation for Publish to \"bar\"");
    p.send(b"PUB foo.ok 1\r\nc\r\n");
    p.ping_pong();
    // Only the allowed message reached the subscriber.
    let msgs = sub.msgs_until_pong();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].subject, "foo.ok");
}

#[test]
fn au04_publish_as_a_plain_list_and_verbose_ok_only_when_allowed() {
    let s = server(&[("u", "{publish: [\"a\", \"b.*\"]}")], "");
    let mut c = s.client(r#"{"user":"u","pass":"p"}"#);
    c.send(b"PUB b.1 0\r\n\r\n");
    c.expect(b"+OK\r\n");
    c.send(b"PUB c 0\r\n\r\n");
    expect_err_kept(&mut c, "Permissions Violation for Publish to \"c\"");
}

#[test]
fn au04_subscribe_allow_and_deny() {
    let s = server(
        &[(
            "u",
            "{subscribe: {allow: [\"foo.*\", \"bar\"], deny: [\"foo.secret\"]}}",
        )],
        "",
    );
    let mut c = login(&s, "u");
    c.send(b"SUB baz 1\r\n");
    expect_err_kept(&mut c, "Permissions Violation for Subscription to \"baz\"");
    c.send(b"SUB foo.secret 2\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"foo.secret\"",
    );
    c.send(b"SUB foo.a.b 3\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"foo.a.b\"",
    );
    // As in nats-server, `foo.*` matches the token `>` too: `foo.>` passes the allow list.
    c.send(b"SUB foo.> 7\r\n");
    c.ping_pong();
    c.send(b"SUB baz q 4\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"baz\" using queue \"q\"",
    );
    // Allowed ones work.
    c.send(b"SUB foo.* 5\r\nSUB bar 6\r\nPUB bar 1\r\nx\r\n");
    let msgs = c.msgs_until_pong();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].sid, "6");
}

#[test]
fn au04_deny_subscribe_filters_wildcard_deliveries() {
    let s = server(
        &[
            ("u", "{subscribe: {deny: [\"foo.secret\", \"q.* grp\"]}}"),
            ("pubr", ""),
        ],
        "",
    );
    let mut c = login(&s, "u");
    c.send(b"SUB foo.* 1\r\nSUB > 2\r\nSUB q.1 grp 3\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"q.1\" using queue \"grp\"",
    );
    c.send(b"SUB q.* grp 4\r\nSUB q.* other 5\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"q.*\" using queue \"grp\"",
    );
    let mut p = login(&s, "pubr");
    p.send(b"PUB foo.secret 1\r\na\r\nPUB foo.public 1\r\nb\r\nPUB q.1 1\r\nc\r\n");
    p.ping_pong();
    let mut got: Vec<(String, String)> = c
        .msgs_until_pong()
        .into_iter()
        .map(|m| (m.subject, m.sid))
        .collect();
    got.sort();
    let want: Vec<(String, String)> = [
        ("foo.public", "1"),
        ("foo.public", "2"),
        ("q.1", "2"),
        ("q.1", "5"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "foo.secret must reach neither wildcard");
}

#[test]
fn au04_queue_group_permissions() {
    let s = server(&[("u", "{subscribe: [\"foo\", \"bar v1\"]}")], "");
    let mut c = login(&s, "u");
    c.send(b"SUB bar 1\r\n");
    expect_err_kept(&mut c, "Permissions Violation for Subscription to \"bar\"");
    c.send(b"SUB bar v2 2\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"bar\" using queue \"v2\"",
    );
    c.send(b"SUB bar v1 3\r\nSUB foo anyq 4\r\nSUB foo 5\r\n");
    c.ping_pong();
}

#[test]
fn sj04_sys_queue_group_is_reserved_without_any_auth() {
    let s = Server::start(&[]);
    let mut c = s.quiet();
    c.send(b"SUB foo _sys_ 1\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"foo\" using queue \"_sys_\"",
    );
}

#[test]
fn au04_default_permissions_apply_to_users_without_their_own() {
    let s = server(
        &[("plain", ""), ("own", "{publish: \">\"}")],
        "  default_permissions: { publish: \"only.this\" }\n",
    );
    let mut c = login(&s, "plain");
    c.send(b"PUB other 0\r\n\r\n");
    expect_err_kept(&mut c, "Permissions Violation for Publish to \"other\"");
    c.send(b"PUB only.this 0\r\n\r\n");
    c.ping_pong();
    let mut c = login(&s, "own");
    c.send(b"PUB other 0\r\n\r\n");
    c.ping_pong();
}

#[test]
fn au04_allow_responses_with_max() {
    let s = server(
        &[
            ("svc", "{subscribe: \"req\", allow_responses: {max: 2}}"),
            ("cli", ""),
        ],
        "",
    );
    let mut svc = login(&s, "svc");
    svc.send(b"SUB req 1\r\n");
    svc.ping_pong();
    let mut cli = login(&s, "cli");
    cli.send(b"SUB _INBOX.x 9\r\nPUB req _INBOX.x 1\r\nq\r\n");
    cli.ping_pong();
    let m = svc.next_msg();
    assert_eq!(m.reply.as_deref(), Some("_INBOX.x"));
    // Publishing anywhere else is denied (allow_responses turns off the blanket allow).
    svc.send(b"PUB elsewhere 0\r\n\r\n");
    expect_err_kept(
        &mut svc,
        "Permissions Violation for Publish to \"elsewhere\"",
    );
    // Two responses are allowed, the third is not.
    svc.send(b"PUB _INBOX.x 2\r\nr1\r\nPUB _INBOX.x 2\r\nr2\r\n");
    svc.ping_pong();
    svc.send(b"PUB _INBOX.x 2\r\nr3\r\n");
    expect_err_kept(
        &mut svc,
        "Permissions Violation for Publish to \"_INBOX.x\"",
    );
    let got: Vec<Vec<u8>> = cli
        .msgs_until_pong()
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, vec![b"r1".to_vec(), b"r2".to_vec()]);
    // A reply subject never received is not allowed.
    svc.send(b"PUB _INBOX.y 0\r\n\r\n");
    expect_err_kept(
        &mut svc,
        "Permissions Violation for Publish to \"_INBOX.y\"",
    );
}

#[test]
fn sj05_reserved_reply_subjects_are_refused() {
    let s = Server::start(&[]);
    let mut c = s.quiet();
    for reply in ["_R_.x", "$JS.ACK.a", "_GR_.b"] {
        c.send(format!("PUB foo {reply} 0\r\n\r\n").as_bytes());
        expect_err_kept(
            &mut c,
            &format!("Permissions Violation for Publish with Reply of \"{reply}\""),
        );
    }
    c.send(b"PUB _GR_.x 0\r\n\r\n");
    expect_err_kept(&mut c, "Permissions Violation for Publish to \"_GR_.x\"");
}

#[test]
fn permissions_survive_across_shards() {
    // The deny filter sits with the subscriber, wherever the publisher is.
    let conf = "authorization { users: [ {user: u, password: p, permissions: {subscribe: {deny: \"a.b\"}}}, {user: v, password: p} ] }\n";
    let s = Server::start_sharded_with_config(2, conf, &[]);
    let mut subs = Vec::new();
    for _ in 0..4 {
        let mut c = login(&s, "u");
        c.send(b"SUB a.* 1\r\n");
        c.ping_pong();
        subs.push(c);
    }
    let mut p = login(&s, "v");
    p.send(b"PUB a.b 1\r\nx\r\nPUB a.c 1\r\ny\r\n");
    p.ping_pong();
    for c in &mut subs {
        let m = c.next_msg();
        assert_eq!(m.subject, "a.c");
        assert!(c.msgs_until_pong().is_empty());
    }
}

#[test]
fn max_sub_tokens_is_a_permissions_violation() {
    let s = Server::start_with_config("max_sub_tokens: 3\n", &[]);
    let mut c = s.quiet();
    c.send(b"SUB a.b.c.d 1\r\n");
    expect_err_kept(
        &mut c,
        "Permissions Violation for Subscription to \"a.b.c.d\", too many tokens",
    );
    c.send(b"SUB a.b.c 2\r\nPUB a.b.c 1\r\nx\r\n");
    assert_eq!(c.msgs_until_pong().len(), 1);
}

#[test]
fn au04_allow_responses_expires() {
    // `expires`: a reply subject may be answered only that long after the request came.
    let s = server(
        &[
            (
                "svc",
                "{subscribe: \"req\", allow_responses: {max: 10, expires: \"400ms\"}}",
            ),
            ("cli", ""),
        ],
        "",
    );
    let mut svc = login(&s, "svc");
    svc.send(b"SUB req 1\r\n");
    svc.ping_pong();
    let mut cli = login(&s, "cli");
    cli.send(b"SUB _INBOX.> 9\r\nPUB req _INBOX.a 1\r\nq\r\n");
    cli.ping_pong();
    assert_eq!(svc.next_msg().reply.as_deref(), Some("_INBOX.a"));
    // In time: allowed.
    svc.send(b"PUB _INBOX.a 2\r\nr1\r\n");
    svc.ping_pong();
    assert_eq!(cli.next_msg().payload, b"r1");
    std::thread::sleep(std::time::Duration::from_millis(900));
    // Too late: denied, and the requester gets nothing more.
    svc.send(b"PUB _INBOX.a 2\r\nr2\r\n");
    expect_err_kept(
        &mut svc,
        "Permissions Violation for Publish to \"_INBOX.a\"",
    );
    // A new request opens the subject again.
    cli.send(b"PUB req _INBOX.b 1\r\nq\r\n");
    cli.ping_pong();
    assert_eq!(svc.next_msg().reply.as_deref(), Some("_INBOX.b"));
    svc.send(b"PUB _INBOX.b 2\r\nr3\r\n");
    svc.ping_pong();
    let got: Vec<Vec<u8>> = cli
        .msgs_until_pong()
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, vec![b"r3".to_vec()]);
}
