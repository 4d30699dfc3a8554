//! nats-server's fast producer stall (its client.go `stalledWait`), across shards: ours only,
//! skipped when the binary is Go. A binary of its own so that no other test shares the CPUs
//! while it measures whether a subscriber keeps up.

mod common;

use common::{pub_frame, quiet_per_shard, skip_for_go, Server};

#[test]
fn fan_in_over_shards_stalls_publishers_instead_of_dropping_the_subscriber() {
    // nats-server's fast producer stall: publishers on three other shards blast 6 times
    // max_pending at one subscriber that reads as fast as it can; the publishers are held
    // back while the subscriber is behind, so it is not closed as a slow consumer and gets
    // every message, in each publisher's order. (max_pending stays well above the 256 KiB a
    // shard batches per hand-off, as the 64 MiB default does.)
    if skip_for_go("fan_in_over_shards_stalls_publishers_instead_of_dropping_the_subscriber") {
        return;
    }
    const SHARDS: usize = 4;
    const PER_PUBLISHER: usize = 2048;
    let server = Server::start_sharded_with_config(
        SHARDS,
        "max_payload: 65536\nmax_pending: 4194304\n",
        &["-D"],
    );
    let mut conns = quiet_per_shard(&server, SHARDS);
    let mut sub = conns.remove(0);
    sub.send(b"SUB fan 1\r\n");
    sub.ping_pong();
    let writers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(p, mut publisher)| {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                for i in 0..PER_PUBLISHER {
                    let mut payload = format!("{p}:{i}:").into_bytes();
                    payload.resize(4096, b'x');
                    all.extend_from_slice(&pub_frame("fan", &payload));
                }
                publisher.send(&all);
                publisher.ping_pong();
                publisher
            })
        })
        .collect();
    let mut next = [0usize; SHARDS - 1];
    for _ in 0..PER_PUBLISHER * (SHARDS - 1) {
        let m = sub.next_msg();
        let text = String::from_utf8_lossy(&m.payload).into_owned();
        let mut it = text.split(':');
        let p: usize = it.next().unwrap().parse().unwrap();
        let i: usize = it.next().unwrap().parse().unwrap();
        assert_eq!(i, next[p], "publisher {p} out of order");
        next[p] += 1;
    }
    for w in writers {
        w.join().expect("publisher thread");
    }
    sub.ping_pong();
}
