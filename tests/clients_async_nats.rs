//! The `async-nats` client against the real server: what a Rust user of nats-tpc sees.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, Message, RequestErrorKind, Subscriber};
use bytes::Bytes;
use common::Server;
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(server: &Server) -> Client {
    async_nats::connect(server.url()).await.expect("connect")
}

async fn next(sub: &mut Subscriber) -> Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended")
}

/// A round trip through the server: everything this client sent before it has been processed
/// when it returns. `Client::flush` in async-nats only drains the client's write buffer (it
/// sends no PING), so it cannot order one client's SUB before another client's PUB. A request
/// to a subject nobody serves comes back as a 503 no-responders status.
async fn sync(client: &Client) {
    let res = tokio::time::timeout(WAIT, client.request("_sync.nobody.listens", "".into()))
        .await
        .expect("sync round trip timed out");
    match res {
        Err(e) if e.kind() == RequestErrorKind::NoResponders => {}
        other => panic!("sync: expected no responders, got {other:?}"),
    }
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

#[tokio::test]
async fn server_info_is_read_from_info() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let info = client.server_info();
    assert!(info.client_id > 0);
    assert_eq!(info.max_payload, 1_048_576);
    assert_eq!(info.proto, 1);
    assert_eq!(info.port, server.port());
    assert!(info.server_id.starts_with('N'));
}

#[tokio::test]
async fn publish_subscribe_between_clients() {
    let server = Server::start(&[]);
    let sub_client = connect(&server).await;
    let mut sub = sub_client.subscribe("greet.joe").await.unwrap();
    sync(&sub_client).await;

    let pub_client = connect(&server).await;
    pub_client
        .publish("greet.joe", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    pub_client.flush().await.unwrap();

    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "greet.joe");
    assert_eq!(m.payload, Bytes::from_static(b"hello"));
    assert!(m.reply.is_none());
    assert!(m.headers.is_none());
}

#[tokio::test]
async fn publish_to_self_is_echoed_by_default() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("me").await.unwrap();
    client.publish("me", "x".into()).await.unwrap();
    assert_eq!(text(&next(&mut sub).await), "x");
}

#[tokio::test]
async fn wildcard_subscriptions() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut star = client.subscribe("a.*.c").await.unwrap();
    let mut gt = client.subscribe("a.>").await.unwrap();
    client.flush().await.unwrap();

    for subject in ["a", "a.b", "a.b.c", "a.x.y.z", "b.b.c"] {
        client.publish(subject, subject.into()).await.unwrap();
    }
    client.flush().await.unwrap();

    // `a.*.c` gets only a.b.c; `a.>` gets everything below `a` but not `a` itself.
    assert_eq!(next(&mut star).await.subject.as_str(), "a.b.c");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut gt).await.subject.to_string());
    }
    assert_eq!(got, ["a.b", "a.b.c", "a.x.y.z"]);
    // And nothing more: a marker published last comes next on each.
    client.publish("a.end.c", "m".into()).await.unwrap();
    assert_eq!(next(&mut star).await.subject.as_str(), "a.end.c");
    assert_eq!(next(&mut gt).await.subject.as_str(), "a.end.c");
}

#[tokio::test]
async fn request_reply() {
    let server = Server::start(&[]);
    let responder = connect(&server).await;
    let mut service = responder.subscribe("svc.echo").await.unwrap();
    sync(&responder).await;
    let task = tokio::spawn(async move {
        for _ in 0..3 {
            let m = next(&mut service).await;
            let reply = m.reply.clone().expect("request has a reply subject");
            let answer = format!("re:{}", text(&m));
            responder.publish(reply, answer.into()).await.unwrap();
        }
        responder.flush().await.unwrap();
    });

    let client = connect(&server).await;
    for i in 0..3 {
        let resp = tokio::time::timeout(WAIT, client.request("svc.echo", i.to_string().into()))
            .await
            .expect("request timed out")
            .expect("request failed");
        assert_eq!(text(&resp), format!("re:{i}"));
    }
    task.await.unwrap();
}

#[tokio::test]
async fn request_with_no_responders_fails_fast() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let err = tokio::time::timeout(WAIT, client.request("nobody.home", "?".into()))
        .await
        .expect("the 503 must arrive, not a client timeout")
        .expect_err("nobody listens");
    assert_eq!(err.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn no_responders_status_on_a_manual_inbox() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply("svc.none", inbox, "?".into())
        .await
        .unwrap();
    let m = next(&mut replies).await;
    assert_eq!(m.status, Some(async_nats::StatusCode::NO_RESPONDERS));
    assert!(m.payload.is_empty());
}

#[tokio::test]
async fn queue_group_delivers_each_message_once() {
    const N: usize = 300;
    let server = Server::start(&[]);
    let mut members = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let c = connect(&server).await;
        members.push(c.queue_subscribe("jobs", "workers".into()).await.unwrap());
        sync(&c).await;
        clients.push(c);
    }
    let publisher = connect(&server).await;
    for i in 0..N {
        publisher
            .publish("jobs", i.to_string().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();

    let mut all = futures::stream::select_all(members);
    let mut seen = BTreeSet::new();
    for _ in 0..N {
        let m = tokio::time::timeout(WAIT, all.next())
            .await
            .expect("timed out: a queue message was lost")
            .expect("stream ended");
        assert!(seen.insert(text(&m)), "duplicate {}", text(&m));
    }
    let want: BTreeSet<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn two_queue_groups_each_get_every_message() {
    const N: usize = 50;
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut a = futures::stream::select_all(vec![
        client.queue_subscribe("q", "a".into()).await.unwrap(),
        client.queue_subscribe("q", "a".into()).await.unwrap(),
    ]);
    let mut b = client.queue_subscribe("q", "b".into()).await.unwrap();
    client.flush().await.unwrap();
    for i in 0..N {
        client.publish("q", i.to_string().into()).await.unwrap();
    }
    let mut got_a = BTreeSet::new();
    for _ in 0..N {
        let m = tokio::time::timeout(WAIT, a.next()).await.unwrap().unwrap();
        assert!(got_a.insert(text(&m)));
    }
    for i in 0..N {
        assert_eq!(text(&next(&mut b).await), i.to_string(), "group b in order");
    }
}

#[tokio::test]
async fn headers_round_trip() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("h").await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "abc-123");
    headers.append("X-Multi", "one");
    headers.append("X-Multi", "two");
    client
        .publish_with_headers("h", headers, "body".into())
        .await
        .unwrap();
    let m = next(&mut sub).await;
    let h = m.headers.expect("headers delivered");
    assert_eq!(h.get("X-Trace").map(|v| v.as_str()), Some("abc-123"));
    let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["one", "two"]);
    assert_eq!(m.payload, Bytes::from_static(b"body"));
}

#[tokio::test]
async fn request_with_headers_and_reply_headers() {
    let server = Server::start(&[]);
    let responder = connect(&server).await;
    let mut service = responder.subscribe("svc.h").await.unwrap();
    sync(&responder).await;
    tokio::spawn(async move {
        let m = next(&mut service).await;
        let got = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Q"))
            .map(|v| v.to_string());
        let mut headers = HeaderMap::new();
        headers.insert("A", got.unwrap_or_default().as_str());
        responder
            .publish_with_headers(m.reply.unwrap(), headers, "ok".into())
            .await
            .unwrap();
        responder.flush().await.unwrap();
    });
    let client = connect(&server).await;
    let mut headers = HeaderMap::new();
    headers.insert("Q", "42");
    let resp = tokio::time::timeout(
        WAIT,
        client.request_with_headers("svc.h", headers, "?".into()),
    )
    .await
    .unwrap()
    .unwrap();
    let h = resp.headers.clone().expect("reply headers");
    assert_eq!(h.get("A").map(|v| v.as_str()), Some("42"));
    assert_eq!(text(&resp), "ok");
}

#[tokio::test]
async fn flush_then_publishes_arrive_in_order() {
    const N: usize = 1000;
    let server = Server::start(&[]);
    let sub_client = connect(&server).await;
    let mut sub = sub_client.subscribe("ordered").await.unwrap();
    sync(&sub_client).await;
    let publisher = connect(&server).await;
    for i in 0..N {
        publisher
            .publish("ordered", i.to_string().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    for i in 0..N {
        assert_eq!(text(&next(&mut sub).await), i.to_string());
    }
}

#[tokio::test]
async fn subscribe_then_round_trip_then_publish_from_other_client_always_delivers() {
    let server = Server::start(&[]);
    let publisher = connect(&server).await;
    let sub_client = connect(&server).await;
    for i in 0..200 {
        let subject = format!("race.{i}");
        let mut sub = sub_client.subscribe(subject.clone()).await.unwrap();
        sync(&sub_client).await;
        publisher.publish(subject, "x".into()).await.unwrap();
        publisher.flush().await.unwrap();
        next(&mut sub).await;
        sub.unsubscribe().await.unwrap();
    }
}

#[tokio::test]
async fn unsubscribe_after_ends_the_subscription() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(2).await.unwrap();
    let mut other = client.subscribe("limited").await.unwrap();
    client.flush().await.unwrap();
    for i in 0..5 {
        client
            .publish("limited", i.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(text(&next(&mut sub).await), "0");
    assert_eq!(text(&next(&mut sub).await), "1");
    let end = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("the subscription must end");
    assert!(end.is_none(), "got a message past the limit: {end:?}");
    for i in 0..5 {
        assert_eq!(text(&next(&mut other).await), i.to_string());
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut gone = client.subscribe("u").await.unwrap();
    let mut stays = client.subscribe("u").await.unwrap();
    gone.unsubscribe().await.unwrap();
    client.flush().await.unwrap();
    client.publish("u", "after".into()).await.unwrap();
    assert_eq!(text(&next(&mut stays).await), "after");
    let end = tokio::time::timeout(WAIT, gone.next())
        .await
        .expect("ended");
    assert!(end.is_none());
}

#[tokio::test]
async fn no_echo_suppresses_own_messages_only() {
    let server = Server::start(&[]);
    let quiet = ConnectOptions::new()
        .no_echo()
        .connect(server.url())
        .await
        .expect("connect no_echo");
    let mut own = quiet.subscribe("chat").await.unwrap();
    sync(&quiet).await;
    let listener = connect(&server).await;
    let mut theirs = listener.subscribe("chat").await.unwrap();
    sync(&listener).await;

    quiet.publish("chat", "from-quiet".into()).await.unwrap();
    sync(&quiet).await;
    listener
        .publish("chat", "from-listener".into())
        .await
        .unwrap();
    listener.flush().await.unwrap();

    // The no-echo client sees only the other client's message.
    assert_eq!(text(&next(&mut own).await), "from-listener");
    // The other client sees both (its own echo included).
    assert_eq!(text(&next(&mut theirs).await), "from-quiet");
    assert_eq!(text(&next(&mut theirs).await), "from-listener");
}

#[tokio::test]
async fn large_payload_near_max_payload() {
    let server = Server::start(&[]);
    let client = connect(&server).await;
    let mut sub = client.subscribe("big").await.unwrap();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    client
        .publish("big", Bytes::from(payload.clone()))
        .await
        .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(m.payload.len(), payload.len());
    assert!(m.payload == payload);
}
