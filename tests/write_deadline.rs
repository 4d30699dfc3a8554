//! Spec §2.9 `write_deadline` and `write_timeout`, for clients: a flush that outlives the
//! deadline makes the client a slow consumer. Under `close` (the clients' default) it is
//! closed; under `retry` it is closed only if nothing at all was written during the
//! deadline, and otherwise keeps receiving, with `Slow Consumer Detected`/`State`/
//! `Recovered` notices and `/varz` counting each passed deadline. Checked against Go
//! nats-server 2.15.1 (client.go `handleWriteTimeout`).

mod common;

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use common::cluster::{http_json, port_after};
use common::{Raw, Server};

/// 16 MiB for the subscriber: far more than loopback's socket buffers hold, well under the
/// default `max_pending` (64 MiB), so only the deadline can make it a slow consumer.
const MSGS: usize = 1024;
const PAYLOAD: usize = 16 * 1024;

/// How the subscriber reads.
#[derive(Clone, Copy)]
enum Reader {
    /// Not at all (its buffers fill and nothing more can be written).
    Stalled,
    /// What the 64 KiB receive buffer holds, every 20 ms: about 3 MiB/s, so one flush of
    /// megabytes takes seconds, but bytes move in every deadline (500 ms).
    Trickle,
}

struct Outcome {
    /// The subscriber and the publisher, still open.
    _conns: (Raw, Raw),
    server: Server,
    http: u16,
    msgs: usize,
    closed: bool,
}

/// Starts a server with `conf` (plus a monitor port), floods a subscriber that reads as
/// `reader` says, and reports how many messages it got and whether it was closed.
fn flood(conf: &str, reader: Reader) -> Outcome {
    let server = Server::start_with_config(&format!("{conf}\nhttp_port: -1\n"), &[]);
    let http = port_after(
        &server.wait_for_log("Starting http monitor on", Duration::from_secs(5)),
        "Starting http monitor on 127.0.0.1:",
    );
    let mut sub = server.quiet();
    common::small_receive_buffer(sub.stream());
    sub.send(b"SUB big 1\r\n");
    sub.ping_pong();
    let mut publisher = server.quiet();
    let frame = common::pub_frame("big", &vec![b'x'; PAYLOAD]);
    for _ in 0..MSGS / 64 {
        publisher.send(&frame.repeat(64));
    }
    // The server has taken every message: they wait in the subscriber's buffer.
    publisher.ping_pong();

    let mut stream = sub.stream().try_clone().expect("clone");
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    if let Reader::Stalled = reader {
        // Not a byte read until the server gives up on the subscriber. Under `retry` the
        // first deadlines may still pass with bytes written (into socket buffers that grow),
        // so it is the first one with nothing written that closes the subscriber.
        let give_up = Instant::now() + Duration::from_secs(20);
        while !closed_as_slow(http) {
            assert!(Instant::now() < give_up, "{:#?}", server.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut msgs = common::PatternCount::new(b"MSG big 1 ");
    let mut buf = vec![0u8; 256 * 1024];
    let mut closed = false;
    let give_up = Instant::now() + Duration::from_secs(30);
    while msgs.count < MSGS && Instant::now() < give_up {
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => msgs.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if let Reader::Trickle = reader {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Outcome {
        _conns: (sub, publisher),
        msgs: msgs.count,
        server,
        http,
        closed,
    }
}

/// Whether `/connz?state=closed` lists a connection closed for the write deadline.
fn closed_as_slow(http: u16) -> bool {
    http_json(http, "/connz?state=closed")["connections"]
        .as_array()
        .is_some_and(|all| {
            all.iter()
                .any(|c| c["reason"] == "Slow Consumer (Write Deadline)")
        })
}

fn notices(server: &Server, what: &str) -> usize {
    server
        .logs()
        .iter()
        .filter(|l| l.contains(&format!("Slow Consumer {what}")))
        .count()
}

#[test]
fn by_default_a_client_whose_flush_outlives_the_deadline_is_closed() {
    let o = flood("write_deadline: \"500ms\"", Reader::Trickle);
    assert!(o.closed, "closed after {} of {MSGS} messages", o.msgs);
    assert!(o.msgs < MSGS, "got all {MSGS} messages");
    let line = o
        .server
        .wait_for_log("Slow Consumer Detected", Duration::from_secs(1));
    assert!(
        line.contains("WriteDeadline of 500ms exceeded with"),
        "{line}"
    );
    assert_eq!(notices(&o.server, "Recovered"), 0);
    let v = http_json(o.http, "/varz");
    assert_eq!(v["slow_consumers"], 1, "{}", v["slow_consumers"]);
    assert_eq!(v["slow_consumer_stats"]["clients"], 1);
    // Not set in the config: left out of /varz.
    assert!(v.get("write_timeout").is_none(), "{}", v["write_timeout"]);
    assert!(closed_as_slow(o.http));
}

#[test]
fn write_timeout_close_is_the_clients_default_made_explicit() {
    let o = flood(
        "write_deadline: \"500ms\"\nwrite_timeout: close",
        Reader::Trickle,
    );
    assert!(o.closed, "closed after {} of {MSGS} messages", o.msgs);
    assert_eq!(http_json(o.http, "/varz")["write_timeout"], "close");
}

#[test]
fn write_timeout_retry_keeps_a_client_that_reads_slowly() {
    let o = flood(
        "write_deadline: \"500ms\"\nwrite_timeout: retry",
        Reader::Trickle,
    );
    assert!(!o.closed, "closed after {} of {MSGS} messages", o.msgs);
    assert_eq!(o.msgs, MSGS);
    // One notice per passed deadline: the first says Detected, the rest State, and the
    // flush that finally completes says Recovered.
    let detected = notices(&o.server, "Detected");
    let state = notices(&o.server, "State");
    assert!(detected >= 1, "{:?}", o.server.logs());
    o.server.wait_for_log(
        "Slow Consumer Recovered: Flush took",
        Duration::from_secs(5),
    );
    let v = http_json(o.http, "/varz");
    assert_eq!(v["write_timeout"], "retry");
    assert_eq!(
        v["slow_consumers"].as_u64(),
        Some((detected + state) as u64),
        "one count per passed deadline"
    );
    assert_eq!(v["connections"], 2, "both clients still connected");
}

#[test]
fn write_timeout_retry_still_closes_a_client_that_reads_nothing() {
    let o = flood(
        "write_deadline: \"500ms\"\nwrite_timeout: retry",
        Reader::Stalled,
    );
    assert!(
        o.closed,
        "a stalled client must be closed even under retry: {:#?}",
        o.server.logs()
    );
    assert!(o.msgs < MSGS);
}

#[test]
fn write_timeout_cannot_be_changed_by_a_reload() {
    let server = Server::start_with_config("write_timeout: close\n", &[]);
    let line = server.reload(
        "write_timeout: retry\n",
        "Failed to reload server configuration",
    );
    assert!(
        line.ends_with("config reload not supported for WriteTimeout: old=close, new=retry"),
        "{line}"
    );
}
