//! Cross-shard delivery (spec §10, TC-01..07), ours only: skipped when the binary is Go.
//!
//! Every test starts the server with `--shards N -D` and places connections by reading the
//! `Client connection created on shard S` debug line for their cid: placement is checked,
//! never assumed. Each scenario runs with 2 and with 4 shards.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{one_per_shard, pub_frame, quiet_per_shard, skip_for_go, End, Raw, Server};

fn start(shards: usize) -> Server {
    Server::start_sharded(shards, &["-D"])
}

fn payload_text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).into_owned()
}

/// Reads messages until one arrives on `marker_subject`; returns the payloads before it.
fn payloads_until(raw: &mut Raw, marker_subject: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let m = raw.next_msg();
        if m.subject == marker_subject {
            return got;
        }
        got.push(payload_text(&m.payload));
    }
}

// ---- placement and ids --------------------------------------------------------------------

fn placement_covers_every_shard_and_cids_are_unique(shards: usize) {
    let server = start(shards);
    let conns = quiet_per_shard(&server, shards);
    let mut cids = BTreeSet::new();
    for c in &conns {
        assert!(cids.insert(c.cid()), "duplicate cid {}", c.cid());
    }
    // TC-01: one process-wide counter, whatever shard accepts.
    let more: Vec<Raw> = (0..20).map(|_| server.quiet()).collect();
    for c in &more {
        assert!(cids.insert(c.cid()), "duplicate cid {}", c.cid());
    }
}

#[test]
fn tc01_cids_are_unique_across_2_shards() {
    if skip_for_go("tc01_cids_are_unique_across_2_shards") {
        return;
    }
    placement_covers_every_shard_and_cids_are_unique(2);
}

#[test]
fn tc01_cids_are_unique_across_4_shards() {
    if skip_for_go("tc01_cids_are_unique_across_4_shards") {
        return;
    }
    placement_covers_every_shard_and_cids_are_unique(4);
}

// ---- fan-out ------------------------------------------------------------------------------

fn fan_out_reaches_every_shard(shards: usize) {
    let server = start(shards);
    let mut subs = quiet_per_shard(&server, shards);
    for (i, sub) in subs.iter_mut().enumerate() {
        sub.send(format!("SUB fan.> {i}\r\n").as_bytes());
        sub.ping_pong();
    }
    let mut publishers = quiet_per_shard(&server, shards);
    for (p, publisher) in publishers.iter_mut().enumerate() {
        publisher.send(&pub_frame(
            &format!("fan.from.{p}"),
            p.to_string().as_bytes(),
        ));
        for (i, sub) in subs.iter_mut().enumerate() {
            let m = sub.next_msg();
            assert_eq!(m.subject, format!("fan.from.{p}"));
            assert_eq!(m.sid, i.to_string());
            assert_eq!(m.payload, p.to_string().as_bytes());
        }
    }
    for sub in subs.iter_mut() {
        assert!(
            sub.msgs_until_pong().is_empty(),
            "one copy per subscription"
        );
    }
}

#[test]
fn fan_out_across_2_shards() {
    if skip_for_go("fan_out_across_2_shards") {
        return;
    }
    fan_out_reaches_every_shard(2);
}

#[test]
fn fan_out_across_4_shards() {
    if skip_for_go("fan_out_across_4_shards") {
        return;
    }
    fan_out_reaches_every_shard(4);
}

// ---- queue groups (TC-03) -----------------------------------------------------------------

fn queue_group_over_all_shards_gets_each_message_once(shards: usize) {
    const N: usize = 1000;
    let server = start(shards);
    // Two members per shard, plus `done` so each member knows the publisher has finished.
    let mut members: Vec<Raw> = Vec::new();
    for _ in 0..2 {
        members.extend(quiet_per_shard(&server, shards));
    }
    for m in members.iter_mut() {
        m.send(b"SUB work workers 1\r\nSUB done 2\r\n");
        m.ping_pong();
    }
    let mut publishers = quiet_per_shard(&server, shards);
    let publisher = &mut publishers[0];
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend_from_slice(&pub_frame("work", i.to_string().as_bytes()));
    }
    batch.extend_from_slice(b"PUB done 0\r\n\r\n");
    publisher.send(&batch);

    let mut all: Vec<String> = Vec::new();
    for m in members.iter_mut() {
        all.extend(payloads_until(m, "done"));
    }
    assert_eq!(all.len(), N, "exactly one delivery per message in total");
    let distinct: BTreeSet<usize> = all
        .iter()
        .map(|p| p.parse().unwrap_or(usize::MAX))
        .collect();
    assert_eq!(distinct, (0..N).collect::<BTreeSet<_>>());
    for m in members.iter_mut() {
        assert!(m.msgs_until_pong().is_empty());
    }
}

#[test]
fn queue_group_over_2_shards_gets_each_message_once() {
    if skip_for_go("queue_group_over_2_shards_gets_each_message_once") {
        return;
    }
    queue_group_over_all_shards_gets_each_message_once(2);
}

#[test]
fn queue_group_over_4_shards_gets_each_message_once() {
    if skip_for_go("queue_group_over_4_shards_gets_each_message_once") {
        return;
    }
    queue_group_over_all_shards_gets_each_message_once(4);
}

// ---- order (TC-04) ------------------------------------------------------------------------

fn per_publisher_order_across_shards(shards: usize) {
    const N: usize = 5000;
    let server = start(shards);
    let mut subs = quiet_per_shard(&server, shards);
    for sub in subs.iter_mut() {
        sub.send(b"SUB seq.* 1\r\n");
        sub.ping_pong();
    }
    // Every publisher shard to every subscriber shard, all publishers at once.
    let mut publishers = quiet_per_shard(&server, shards);
    for (p, publisher) in publishers.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for i in 0..N {
            batch.extend_from_slice(&pub_frame(&format!("seq.{p}"), i.to_string().as_bytes()));
            if i % 500 == 499 {
                publisher.send(&batch);
                batch.clear();
            }
        }
    }
    for (s, sub) in subs.iter_mut().enumerate() {
        let mut next_expected = vec![0usize; shards];
        for _ in 0..N * shards {
            let m = sub.next_msg();
            let p: usize = m.subject["seq.".len()..].parse().expect("publisher index");
            let seq: usize = payload_text(&m.payload).parse().expect("sequence");
            assert_eq!(
                seq, next_expected[p],
                "subscriber on shard {s}: publisher on shard {p} out of order"
            );
            next_expected[p] += 1;
        }
    }
}

#[test]
fn per_publisher_order_across_2_shards() {
    if skip_for_go("per_publisher_order_across_2_shards") {
        return;
    }
    per_publisher_order_across_shards(2);
}

#[test]
fn per_publisher_order_across_4_shards() {
    if skip_for_go("per_publisher_order_across_4_shards") {
        return;
    }
    per_publisher_order_across_shards(4);
}

// ---- subscribe, flush, publish from another shard -----------------------------------------

fn subscribe_flush_then_publish_from_other_shard_always_delivers(shards: usize) {
    const ROUNDS: usize = 1000;
    let server = start(shards);
    let mut conns = quiet_per_shard(&server, shards);
    let (first, rest) = conns.split_at_mut(1);
    let sub = &mut first[0];
    for i in 0..ROUNDS {
        // Publish from each of the other shards in turn.
        let publisher = &mut rest[i % rest.len()];
        // SUB + PING: the PONG promises that the interest is visible on every shard.
        sub.send(format!("SUB race.{i} {i}\r\nPING\r\n").as_bytes());
        sub.expect(b"PONG\r\n");
        publisher.send(&pub_frame(&format!("race.{i}"), b"x"));
        let m = sub.next_msg();
        assert_eq!(
            (m.subject.as_str(), m.sid.as_str()),
            (format!("race.{i}").as_str(), i.to_string().as_str()),
            "round {i}"
        );
        sub.send(format!("UNSUB {i}\r\n").as_bytes());
    }
    sub.ping_pong();
}

#[test]
fn subscribe_flush_publish_from_other_shard_2_shards() {
    if skip_for_go("subscribe_flush_publish_from_other_shard_2_shards") {
        return;
    }
    subscribe_flush_then_publish_from_other_shard_always_delivers(2);
}

#[test]
fn subscribe_flush_publish_from_other_shard_4_shards() {
    if skip_for_go("subscribe_flush_publish_from_other_shard_4_shards") {
        return;
    }
    subscribe_flush_then_publish_from_other_shard_always_delivers(4);
}

// ---- publish, flush: the PONG follows delivery on the other shard --------------------------

/// PUB + PING on one shard: the PONG promises the message reached the subscriber on the
/// other shard (nats-server delivers synchronously). While the other shard sends batches
/// back all the time (a noise publisher there, a subscriber here), the acknowledgements
/// those batches carry are what lets the PONG go without a barrier round trip: this checks
/// they never vouch for a message that was not applied yet.
fn publish_flush_orders_delivery_under_return_traffic(shards: usize) {
    const ROUNDS: usize = 500;
    let server = start(shards);
    let mut front = quiet_per_shard(&server, shards);
    let mut back = quiet_per_shard(&server, shards);
    let mut sink = front.remove(0);
    let mut publisher = back.remove(0);
    let mut sub = front.remove(0);
    let mut noise = back.remove(0);
    sub.send(b"SUB x 1\r\n");
    sub.ping_pong();
    sink.send(b"SUB back 1\r\n");
    sink.ping_pong();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let batch = pub_frame("back", b"n").repeat(20);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                noise.send(&batch);
                std::thread::sleep(Duration::from_micros(200));
            }
            noise.ping_pong();
        })
    };
    let sink_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sink.try_next_msg(Duration::from_millis(20));
            }
        })
    };
    for i in 0..ROUNDS {
        publisher.send(&pub_frame("x", i.to_string().as_bytes()));
        publisher.send(b"PING\r\n");
        publisher.expect(b"PONG\r\n");
        // The message was queued for `sub` before that PONG left, so it comes before the
        // PONG answering a PING sent now.
        let got: Vec<String> = sub
            .msgs_until_pong()
            .iter()
            .map(|m| payload_text(&m.payload))
            .collect();
        assert_eq!(got, vec![i.to_string()], "round {i}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noise_thread.join().expect("noise publisher");
    sink_thread.join().expect("sink");
}

#[test]
fn publish_flush_orders_delivery_under_return_traffic_2_shards() {
    if skip_for_go("publish_flush_orders_delivery_under_return_traffic_2_shards") {
        return;
    }
    publish_flush_orders_delivery_under_return_traffic(2);
}

#[test]
fn publish_flush_orders_delivery_under_return_traffic_4_shards() {
    if skip_for_go("publish_flush_orders_delivery_under_return_traffic_4_shards") {
        return;
    }
    publish_flush_orders_delivery_under_return_traffic(4);
}

// ---- unsubscribe, flush: delivery stops ---------------------------------------------------

fn unsubscribe_flush_stops_delivery_from_other_shard(shards: usize) {
    const ROUNDS: usize = 300;
    let server = start(shards);
    let mut conns = quiet_per_shard(&server, shards);
    let (first, rest) = conns.split_at_mut(1);
    let sub = &mut first[0];
    sub.send(b"SUB marker 0\r\n");
    sub.ping_pong();
    for i in 1..=ROUNDS {
        let publisher = &mut rest[i % rest.len()];
        sub.send(format!("SUB topic {i}\r\nPING\r\n").as_bytes());
        sub.expect(b"PONG\r\n");
        publisher.send(b"PUB topic 6\r\nbefore\r\n");
        let m = sub.next_msg();
        assert_eq!(
            (m.sid.as_str(), m.payload.as_slice()),
            (i.to_string().as_str(), &b"before"[..])
        );
        // UNSUB + PING: after the PONG no shard may deliver to the sub.
        sub.send(format!("UNSUB {i}\r\nPING\r\n").as_bytes());
        sub.expect(b"PONG\r\n");
        publisher.send(b"PUB topic 5\r\nafter\r\nPUB marker 1\r\nm\r\n");
        let m = sub.next_msg();
        assert_eq!(
            (m.subject.as_str(), m.payload.as_slice()),
            ("marker", &b"m"[..]),
            "round {i}: delivery after UNSUB+PONG"
        );
    }
}

#[test]
fn unsubscribe_flush_stops_delivery_2_shards() {
    if skip_for_go("unsubscribe_flush_stops_delivery_2_shards") {
        return;
    }
    unsubscribe_flush_stops_delivery_from_other_shard(2);
}

#[test]
fn unsubscribe_flush_stops_delivery_4_shards() {
    if skip_for_go("unsubscribe_flush_stops_delivery_4_shards") {
        return;
    }
    unsubscribe_flush_stops_delivery_from_other_shard(4);
}

// ---- auto-unsubscribe counts across shards (TC-07) ----------------------------------------

fn auto_unsubscribe_counts_deliveries_from_every_shard(shards: usize) {
    let server = start(shards);
    let mut subs = quiet_per_shard(&server, shards);
    let sub = &mut subs[0];
    let max = 2 * shards;
    sub.send(format!("SUB limited 1\r\nUNSUB 1 {max}\r\nSUB marker 2\r\n").as_bytes());
    sub.ping_pong();
    let mut publishers = quiet_per_shard(&server, shards);
    // Each publisher sends 3, one shard after the other: 3 * shards > max deliveries.
    let mut delivered = 0;
    for publisher in publishers.iter_mut() {
        publisher.send(b"PUB limited 1\r\nx\r\nPUB limited 1\r\nx\r\nPUB limited 1\r\nx\r\n");
        publisher.send(b"PUB marker 0\r\n\r\n");
        delivered += payloads_until(sub, "marker").len();
    }
    assert_eq!(delivered, max, "exactly max deliveries in total");
}

#[test]
fn auto_unsubscribe_across_2_shards() {
    if skip_for_go("auto_unsubscribe_across_2_shards") {
        return;
    }
    auto_unsubscribe_counts_deliveries_from_every_shard(2);
}

#[test]
fn auto_unsubscribe_across_4_shards() {
    if skip_for_go("auto_unsubscribe_across_4_shards") {
        return;
    }
    auto_unsubscribe_counts_deliveries_from_every_shard(4);
}

// ---- no responders (TC-05) ----------------------------------------------------------------

fn no_responders_uses_global_interest(shards: usize) {
    let server = start(shards);
    let mut requesters = one_per_shard(
        &server,
        shards,
        r#"{"verbose":false,"headers":true,"no_responders":true}"#,
    );
    let mut responders = quiet_per_shard(&server, shards);
    let last = shards - 1;
    responders[last].send(b"SUB svc.up 1\r\n");
    responders[last].ping_pong();
    for (s, req) in requesters.iter_mut().enumerate() {
        let inbox = format!("_INBOX.{s}");
        req.send(format!("SUB {inbox} 1\r\n").as_bytes());
        // A responder on another shard: no 503.
        req.send(format!("PUB svc.up {inbox} 1\r\n?\r\n").as_bytes());
        let m = responders[last].next_msg();
        assert_eq!(m.reply.as_deref(), Some(inbox.as_str()));
        // Nobody on any shard: the 503 comes back on the publisher's connection, and it is
        // the first thing there (no 503 was sent for svc.up).
        req.send(format!("PUB svc.down {inbox} 1\r\n?\r\n").as_bytes());
        req.expect(
            format!("HMSG {inbox} 1 40 40\r\nNATS/1.0 503\r\nNats-Subject: svc.down\r\n\r\n\r\n")
                .as_bytes(),
        );
    }
}

#[test]
fn no_responders_across_2_shards() {
    if skip_for_go("no_responders_across_2_shards") {
        return;
    }
    no_responders_uses_global_interest(2);
}

#[test]
fn no_responders_across_4_shards() {
    if skip_for_go("no_responders_across_4_shards") {
        return;
    }
    no_responders_uses_global_interest(4);
}

// ---- slow consumer on one shard (TC-07) ---------------------------------------------------

fn slow_consumer_on_one_shard_does_not_stop_others(shards: usize) {
    let server = Server::start_sharded_with_config(
        shards,
        "max_payload: 65536\nmax_pending: 131072\n",
        &["-D"],
    );
    let mut conns = quiet_per_shard(&server, shards);
    // The slow consumer is alone on shard 0; every other shard gets a fast subscriber.
    let mut slow = conns.remove(0);
    slow.send(b"SUB big 1\r\n");
    slow.ping_pong();
    let mut fast: Vec<Raw> = conns;
    for f in fast.iter_mut() {
        f.send(b"SUB big 1\r\n");
        f.ping_pong();
    }
    let mut publishers = quiet_per_shard(&server, shards);
    let publisher = &mut publishers[shards - 1];

    let payload = vec![b'x'; 16 * 1024];
    let batch: Vec<u8> = pub_frame("big", &payload).repeat(4);
    for _ in 0..512 {
        publisher.send(&batch);
        for f in fast.iter_mut() {
            for m in f.read_msgs(4) {
                assert_eq!(m.payload.len(), payload.len());
            }
        }
    }
    let (bytes, end) = slow.read_until_closed_or_timeout(Duration::from_secs(10));
    assert_eq!(end, End::Closed, "the slow consumer must be disconnected");
    assert!(!bytes.windows(4).any(|w| w == b"-ERR"));

    publisher.send(b"PUB big 4\r\nlast\r\n");
    for f in fast.iter_mut() {
        // next_msg answers the server's keepalive PING, which a loaded run can reach (the
        // first PING comes 2 s after CONNECT).
        let m = f.next_msg();
        assert_eq!((m.subject.as_str(), m.sid.as_str()), ("big", "1"));
        assert_eq!(m.payload, b"last");
    }
}

#[test]
fn slow_consumer_on_one_of_2_shards() {
    if skip_for_go("slow_consumer_on_one_of_2_shards") {
        return;
    }
    slow_consumer_on_one_shard_does_not_stop_others(2);
}

#[test]
fn slow_consumer_on_one_of_4_shards() {
    if skip_for_go("slow_consumer_on_one_of_4_shards") {
        return;
    }
    slow_consumer_on_one_shard_does_not_stop_others(4);
}

// ---- max_connections is global (TC-01) ----------------------------------------------------

fn max_connections_is_counted_over_all_shards(shards: usize) {
    let server = Server::start_sharded_with_config(shards, "max_connections: 3\n", &["-D"]);
    let mut open: Vec<Raw> = (0..3).map(|_| server.quiet()).collect();
    // Whatever shard the next ones land on, they are over the global limit.
    for _ in 0..shards * 2 {
        let mut extra = server.raw();
        extra.expect(b"-ERR 'maximum connections exceeded'\r\n");
        extra.expect_closed();
    }
    for c in open.iter_mut() {
        c.ping_pong();
    }
}

#[test]
fn max_connections_global_over_2_shards() {
    if skip_for_go("max_connections_global_over_2_shards") {
        return;
    }
    max_connections_is_counted_over_all_shards(2);
}

#[test]
fn max_connections_global_over_4_shards() {
    if skip_for_go("max_connections_global_over_4_shards") {
        return;
    }
    max_connections_is_counted_over_all_shards(4);
}
