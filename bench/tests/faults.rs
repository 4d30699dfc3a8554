//! The harness must notice a server that loses, duplicates or reorders messages. These tests
//! run the real scenarios against a tiny in-process NATS server that does exactly that on
//! purpose, and check the verdict; a clean fake must pass.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nats_bench::cluster::Nodes;
use nats_bench::run_case;
use nats_bench::scenario::{Params, Scenario};

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// Drop every Nth delivery.
    Drop(u64),
    /// Hold every Nth delivery back and send it after the next one.
    Swap(u64),
    /// Send every Nth delivery twice.
    Duplicate(u64),
}

struct Sub {
    conn: usize,
    sid: String,
    subject: String,
    queue: Option<String>,
}

struct Client {
    out: Mutex<TcpStream>,
    held: Mutex<Option<Vec<u8>>>,
}

#[derive(Default)]
struct State {
    subs: Vec<Sub>,
    clients: HashMap<usize, Arc<Client>>,
    queue_rr: HashMap<String, usize>,
}

struct Fake {
    fault: Fault,
    state: Mutex<State>,
    deliveries: AtomicU64,
}

fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Fake {
    fn start(fault: Fault) -> SocketAddr {
        Fake::start_on_ports(fault, 1)[0]
    }

    /// One fake behind two ports: to the generator it looks like a two-node cluster whose
    /// route is up from the start and never loses interest.
    fn start_cluster(fault: Fault) -> Nodes {
        let p = Fake::start_on_ports(fault, 2);
        Nodes { a: p[0], b: p[1] }
    }

    fn start_on_ports(fault: Fault, n: usize) -> Vec<SocketAddr> {
        let fake = Arc::new(Fake {
            fault,
            state: Mutex::new(State::default()),
            deliveries: AtomicU64::new(0),
        });
        let ids = Arc::new(AtomicUsize::new(0));
        (0..n)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let (fake, ids) = (fake.clone(), ids.clone());
                thread::spawn(move || {
                    for s in l.incoming() {
                        let Ok(s) = s else { return };
                        let fake = fake.clone();
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        thread::spawn(move || fake.serve(id, s));
                    }
                });
                addr
            })
            .collect()
    }

    fn serve(&self, id: usize, s: TcpStream) {
        s.set_nodelay(true).unwrap();
        let client = Arc::new(Client {
            out: Mutex::new(s.try_clone().unwrap()),
            held: Mutex::new(None),
        });
        client
            .out
            .lock()
            .unwrap()
            .write_all(b"INFO {\"server_id\":\"fake\",\"max_payload\":1048576}\r\n")
            .unwrap();
        self.state
            .lock()
            .unwrap()
            .clients
            .insert(id, client.clone());
        let mut r = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let args: Vec<&str> = line.split_whitespace().collect();
            match args.first().map(|a| a.to_ascii_uppercase()).as_deref() {
                Some("PING") => client.out.lock().unwrap().write_all(b"PONG\r\n").unwrap(),
                Some("SUB") => {
                    let (subject, queue, sid) = match args.len() {
                        3 => (args[1], None, args[2]),
                        _ => (args[1], Some(args[2].to_string()), args[3]),
                    };
                    self.state.lock().unwrap().subs.push(Sub {
                        conn: id,
                        sid: sid.into(),
                        subject: subject.into(),
                        queue,
                    });
                }
                Some("UNSUB") => {
                    let sid = args[1];
                    self.state
                        .lock()
                        .unwrap()
                        .subs
                        .retain(|s| !(s.conn == id && s.sid == sid));
                }
                Some("PUB") => {
                    let (subject, reply, n) = match args.len() {
                        3 => (args[1], None, args[2]),
                        _ => (args[1], Some(args[2]), args[3]),
                    };
                    let mut payload = vec![0u8; n.parse::<usize>().unwrap() + 2];
                    r.read_exact(&mut payload).unwrap();
                    payload.truncate(payload.len() - 2);
                    self.publish(subject, reply, &payload);
                }
                _ => {} // CONNECT and anything else
            }
        }
    }

    fn publish(&self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let mut st = self.state.lock().unwrap();
        let mut targets: Vec<(Arc<Client>, String)> = Vec::new();
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in st.subs.iter().enumerate() {
            if !matches(&s.subject, subject) {
                continue;
            }
            match &s.queue {
                None => targets.push((st.clients[&s.conn].clone(), s.sid.clone())),
                Some(q) => groups.entry(q.clone()).or_default().push(i),
            }
        }
        for (q, members) in groups {
            let rr = st.queue_rr.entry(q).or_default();
            let pick = members[*rr % members.len()];
            *rr += 1;
            let s = &st.subs[pick];
            targets.push((st.clients[&s.conn].clone(), s.sid.clone()));
        }
        drop(st);
        for (client, sid) in targets {
            let mut frame = format!("MSG {subject} {sid} ");
            if let Some(r) = reply {
                frame.push_str(r);
                frame.push(' ');
            }
            frame.push_str(&format!("{}\r\n", payload.len()));
            let mut frame = frame.into_bytes();
            frame.extend_from_slice(payload);
            frame.extend_from_slice(b"\r\n");
            self.deliver(&client, frame);
        }
    }

    fn deliver(&self, c: &Client, frame: Vec<u8>) {
        let n = self.deliveries.fetch_add(1, Ordering::Relaxed) + 1;
        let mut out = c.out.lock().unwrap();
        let mut held = c.held.lock().unwrap();
        let _ = match self.fault {
            Fault::Drop(k) if n.checked_rem(k) == Some(0) => Ok(()),
            Fault::Duplicate(k) if n.checked_rem(k) == Some(0) => {
                out.write_all(&[&frame[..], &frame[..]].concat())
            }
            Fault::Swap(k) if n.checked_rem(k) == Some(0) && held.is_none() => {
                *held = Some(frame);
                Ok(())
            }
            _ => {
                let r = out.write_all(&frame);
                if let Some(h) = held.take() {
                    let _ = out.write_all(&h);
                }
                r
            }
        };
    }
}

fn params() -> Params {
    Params {
        duration: Duration::from_millis(200),
        max_msgs: 20_000,
        drain: Duration::from_millis(500),
        ..Params::quick()
    }
}

#[test]
fn clean_server_passes_pub_sub() {
    let addr = Fake::start(Fault::None);
    let m = run_case(addr, Scenario::PubSub, 16, &params(), None);
    assert!(m.ok(), "{m:?}");
    assert!(m.published > 0);
    assert_eq!(m.delivered, m.published);
}

#[test]
fn clean_server_passes_fan_in_queue_and_pairs() {
    for s in [
        Scenario::FanIn,
        Scenario::Queue,
        Scenario::Pairs,
        Scenario::FanOut,
    ] {
        let addr = Fake::start(Fault::None);
        let m = run_case(addr, s, 128, &params(), None);
        assert!(m.ok(), "{s}: {m:?}");
        assert_eq!(m.verdict.received, m.verdict.expected, "{s}");
    }
}

#[test]
fn dropped_messages_are_reported_as_loss() {
    let addr = Fake::start(Fault::Drop(100));
    let m = run_case(addr, Scenario::PubSub, 16, &params(), None);
    assert!(!m.ok());
    assert!(m.verdict.lost > 0, "{:?}", m.verdict);
    assert_eq!(m.verdict.duplicates, 0);
    assert_eq!(m.verdict.lost, m.published - m.delivered);
}

#[test]
fn reordered_messages_are_reported() {
    let addr = Fake::start(Fault::Swap(50));
    let m = run_case(addr, Scenario::PubSub, 16, &params(), None);
    assert!(!m.ok());
    assert!(m.verdict.reordered > 0, "{:?}", m.verdict);
    assert_eq!(m.verdict.duplicates, 0);
}

#[test]
fn duplicated_messages_are_reported() {
    let addr = Fake::start(Fault::Duplicate(70));
    let m = run_case(addr, Scenario::FanOut, 16, &params(), None);
    assert!(!m.ok());
    assert!(m.verdict.duplicates > 0, "{:?}", m.verdict);
    assert_eq!(m.verdict.lost, 0);
}

#[test]
fn queue_group_duplicates_and_loss_are_reported() {
    let addr = Fake::start(Fault::Drop(30));
    let m = run_case(addr, Scenario::Queue, 16, &params(), None);
    assert!(m.verdict.lost > 0 && !m.ok(), "{:?}", m.verdict);
}

#[test]
fn request_reply_latency_through_the_fake() {
    let addr = Fake::start(Fault::None);
    let mut p = params();
    p.rate = 2000;
    for s in [Scenario::ReqReply, Scenario::ReqRate] {
        let m = run_case(addr, s, 128, &p, None);
        assert!(m.ok(), "{s}: {m:?}");
        let l = m.latency.expect("latency");
        assert!(l.count > 10 && l.p50_us > 0.0 && l.p50_us <= l.p99_us && l.p99_us <= l.max_us);
    }
}

#[test]
fn lost_replies_fail_the_fixed_rate_run() {
    let addr = Fake::start(Fault::Drop(25));
    let mut p = params();
    p.rate = 2000;
    let m = run_case(addr, Scenario::ReqRate, 128, &p, None);
    assert!(!m.ok() && m.verdict.lost > 0, "{:?}", m.verdict);
}

#[test]
fn routed_runs_publish_on_a_and_subscribe_on_b() {
    let nodes = Fake::start_cluster(Fault::None);
    let m = run_case(nodes, Scenario::Routed, 1024, &params(), None);
    assert!(m.ok(), "{m:?}");
    assert!(m.published > 0);
    // The interest probes published on A before the run are not counted.
    assert_eq!(m.delivered, m.published);
    assert_eq!(m.verdict.foreign, 0);
    let m = run_case(nodes, Scenario::RoutedReq, 128, &params(), None);
    assert!(m.ok(), "{m:?}");
    assert!(m.latency.is_some_and(|l| l.count > 10));
}

#[test]
fn loss_and_reordering_across_the_route_fail_the_run() {
    let m = run_case(
        Fake::start_cluster(Fault::Drop(100)),
        Scenario::Routed,
        16,
        &params(),
        None,
    );
    assert!(!m.ok() && m.verdict.lost > 0, "{:?}", m.verdict);
    let m = run_case(
        Fake::start_cluster(Fault::Swap(50)),
        Scenario::Routed,
        16,
        &params(),
        None,
    );
    assert!(!m.ok() && m.verdict.reordered > 0, "{:?}", m.verdict);
}
