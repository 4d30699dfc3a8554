//! The publish/subscribe engine behind every throughput scenario: a [`Topology`] says which
//! connections publish where and who must receive what; [`run`] drives it with one thread per
//! connection and checks every delivery.
//!
//! Timeline: subscribers connect, subscribe and `PING` (the `PONG` means the server knows the
//! subscriptions); publishers connect; everyone waits on one barrier; publishers write 64 KiB
//! batches until the time or count bound, then `PING` so the `PONG` marks the end of their
//! publishing; the coordinator waits until every subscriber has what it should, or until the
//! deliveries stop for [`Params::drain`].
//!
//! Against a cluster ([`Nodes`] with two addresses) publishers connect to node A and
//! subscribers to node B, and each subscriber, after its `PONG`, also waits until probes
//! published on A reach it ([`cluster::await_interest`]): only then does A know B's interest.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::check::{SeqChecker, Verdict};
use crate::cluster::{self, Nodes};
use crate::conn::{Conn, WRITE_BATCH};
use crate::proto::{self, Frame};
use crate::scenario::{Measurement, Params, Scenario};

/// One publishing connection.
#[derive(Debug, Clone)]
pub struct PubSpec {
    /// Subjects used round-robin, one per message.
    pub subjects: Vec<String>,
}

/// One subscribing connection and its subscriptions (subject, optional queue group).
#[derive(Debug, Clone)]
pub struct SubSpec {
    pub subs: Vec<(String, Option<String>)>,
}

/// A publisher's messages must reach the union of `members` (subscriber indices) exactly
/// once: one member for a plain subscriber, several for a queue group.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub publisher: usize,
    pub members: Vec<usize>,
}

/// Who publishes, who subscribes, and what each subscriber must receive.
#[derive(Debug, Clone)]
pub struct Topology {
    pub pubs: Vec<PubSpec>,
    pub subs: Vec<SubSpec>,
    pub deliveries: Vec<Delivery>,
}

fn subj(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

fn plain(s: &str) -> SubSpec {
    SubSpec {
        subs: vec![(s.to_string(), None)],
    }
}

impl Topology {
    /// The topology of a throughput scenario; `None` for the others.
    pub fn for_scenario(s: Scenario, p: &Params) -> Option<Topology> {
        let one = |publisher, member| Delivery {
            publisher,
            members: vec![member],
        };
        let t = match s {
            Scenario::Pub => Topology {
                pubs: vec![PubSpec {
                    subjects: subj("bench.pub"),
                }],
                subs: vec![],
                deliveries: vec![],
            },
            Scenario::PubSub | Scenario::Churn => Topology {
                pubs: vec![PubSpec {
                    subjects: subj("bench.ps"),
                }],
                subs: vec![plain("bench.ps")],
                deliveries: vec![one(0, 0)],
            },
            // The same shape as pub-sub; `run` puts the two ends on different nodes.
            Scenario::Routed => Topology {
                pubs: vec![PubSpec {
                    subjects: subj("bench.routed"),
                }],
                subs: vec![plain("bench.routed")],
                deliveries: vec![one(0, 0)],
            },
            Scenario::FanOut => Topology {
                pubs: vec![PubSpec {
                    subjects: subj("bench.fo"),
                }],
                subs: (0..p.fan).map(|_| plain("bench.fo")).collect(),
                deliveries: (0..p.fan).map(|i| one(0, i)).collect(),
            },
            Scenario::FanIn => Topology {
                pubs: (0..p.fan)
                    .map(|_| PubSpec {
                        subjects: subj("bench.fi"),
                    })
                    .collect(),
                subs: vec![plain("bench.fi")],
                deliveries: (0..p.fan).map(|i| one(i, 0)).collect(),
            },
            Scenario::Queue => Topology {
                pubs: vec![PubSpec {
                    subjects: subj("bench.q"),
                }],
                subs: (0..p.fan)
                    .map(|_| SubSpec {
                        subs: vec![("bench.q".into(), Some("workers".into()))],
                    })
                    .collect(),
                deliveries: vec![Delivery {
                    publisher: 0,
                    members: (0..p.fan).collect(),
                }],
            },
            Scenario::Pairs => Topology {
                pubs: (0..p.pairs)
                    .map(|i| PubSpec {
                        subjects: subj(&format!("bench.pair.{i}")),
                    })
                    .collect(),
                subs: (0..p.pairs)
                    .map(|i| plain(&format!("bench.pair.{i}")))
                    .collect(),
                deliveries: (0..p.pairs).map(|i| one(i, i)).collect(),
            },
            Scenario::Subjects => {
                let n = p.subjects.max(1);
                let subjects: Vec<String> = (0..n).map(|i| format!("bench.many.{i}")).collect();
                Topology {
                    pubs: vec![PubSpec {
                        subjects: subjects.clone(),
                    }],
                    subs: vec![
                        SubSpec {
                            subs: subjects.into_iter().map(|s| (s, None)).collect(),
                        },
                        plain("bench.many.*"),
                        plain("bench.>"),
                    ],
                    deliveries: vec![one(0, 0), one(0, 1), one(0, 2)],
                }
            }
            Scenario::ReqReply | Scenario::ReqRate | Scenario::RoutedReq | Scenario::Idle => {
                return None
            }
        };
        Some(t)
    }
}

/// Optional extra load that runs while publishers publish (the churn scenario).
pub type SideLoad = Box<dyn FnOnce(SocketAddr, Arc<AtomicBool>) -> SideResult + Send>;

/// What a side load did.
#[derive(Debug, Default)]
pub struct SideResult {
    /// Operations per second achieved.
    pub ops_per_sec: f64,
    pub errors: Vec<String>,
}

/// Per-subscriber progress shared with the publishers (for flow control) and the
/// coordinator: distinct messages received from each publisher, updated once per read.
struct Progress {
    per_pub: Vec<AtomicU64>,
    /// Nanoseconds from the start signal to the latest delivery.
    last_ns: AtomicU64,
}

/// Runs `topo` with `size`-byte payloads: publishers on `nodes.a`, subscribers on `nodes.b`.
pub fn run(
    nodes: Nodes,
    scenario: Scenario,
    topo: &Topology,
    size: usize,
    p: &Params,
    side: Option<SideLoad>,
) -> Measurement {
    let npub = topo.pubs.len();
    let nsub = topo.subs.len();
    let mut m = Measurement {
        scenario: scenario.name().to_string(),
        size,
        publishers: npub,
        subscribers: nsub,
        ..Measurement::default()
    };
    let progress: Arc<Vec<Progress>> = Arc::new(
        (0..nsub)
            .map(|_| Progress {
                per_pub: (0..npub).map(|_| AtomicU64::new(0)).collect(),
                last_ns: AtomicU64::new(0),
            })
            .collect(),
    );
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..npub).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    // Everyone, plus this thread, which starts the clock.
    let barrier = Arc::new(Barrier::new(npub + nsub + 1));
    let failed = Arc::new(AtomicBool::new(false));

    let start_cell = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut sub_threads = Vec::new();
    for (i, spec) in topo.subs.iter().cloned().enumerate() {
        let (progress, stop, barrier, failed) = (
            progress.clone(),
            stop.clone(),
            barrier.clone(),
            failed.clone(),
        );
        let start_cell = start_cell.clone();
        sub_threads.push(thread::spawn(move || {
            subscriber(
                nodes,
                i,
                npub,
                &spec,
                &progress,
                &stop,
                &barrier,
                &failed,
                &start_cell,
            )
        }));
    }
    // Which deliveries each publisher must watch for flow control.
    let mut pub_threads = Vec::new();
    for (i, spec) in topo.pubs.iter().cloned().enumerate() {
        let watch: Vec<Vec<usize>> = topo
            .deliveries
            .iter()
            .filter(|d| d.publisher == i)
            .map(|d| d.members.clone())
            .collect();
        let (progress, sent, barrier, failed) = (
            progress.clone(),
            sent.clone(),
            barrier.clone(),
            failed.clone(),
        );
        let (size, p) = (size, p.clone());
        pub_threads.push(thread::spawn(move || {
            publisher(
                nodes.a, i, &spec, size, &p, &watch, &progress, &sent, &barrier, &failed,
            )
        }));
    }

    barrier.wait();
    let t0 = Instant::now();
    let _ = start_cell.set(t0);
    let side_stop = Arc::new(AtomicBool::new(false));
    let side_thread = side.map(|f| {
        let s = side_stop.clone();
        thread::spawn(move || f(nodes.a, s))
    });

    let mut pub_end = Duration::ZERO;
    for t in pub_threads {
        match t.join() {
            Ok(Ok((end, cpu))) => {
                pub_end = pub_end.max(end.duration_since(t0));
                m.generator_cpu_s += cpu;
            }
            Ok(Err(e)) => m.errors.push(e),
            Err(_) => m.errors.push("publisher thread panicked".into()),
        }
    }
    side_stop.store(true, Ordering::Release);
    if let Some(t) = side_thread {
        match t.join() {
            Ok(r) => {
                m.churn_per_sec = Some(r.ops_per_sec);
                m.errors.extend(r.errors);
            }
            Err(_) => m.errors.push("side load panicked".into()),
        }
    }
    let published: Vec<u64> = sent.iter().map(|s| s.load(Ordering::Acquire)).collect();

    // Drain: wait until every delivery is complete, or deliveries stop for `drain`.
    let complete = || {
        topo.deliveries.iter().all(|d| {
            let got: u64 = d
                .members
                .iter()
                .map(|&s| progress[s].per_pub[d.publisher].load(Ordering::Acquire))
                .sum();
            got >= published[d.publisher]
        })
    };
    let mut last_change = Instant::now();
    let mut last_seen = u64::MAX;
    while !complete() && !failed.load(Ordering::Acquire) {
        let now_seen: u64 = progress
            .iter()
            .flat_map(|p| p.per_pub.iter())
            .map(|a| a.load(Ordering::Acquire))
            .sum();
        if now_seen != last_seen {
            last_seen = now_seen;
            last_change = Instant::now();
        } else if last_change.elapsed() > p.drain {
            m.errors.push(format!(
                "deliveries stopped for {:?} before all arrived",
                p.drain
            ));
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Release);

    let mut checkers = Vec::new();
    for t in sub_threads {
        match t.join() {
            Ok((c, errs, cpu)) => {
                m.errors.extend(errs);
                m.generator_cpu_s += cpu;
                checkers.push(c);
            }
            Err(_) => {
                m.errors.push("subscriber thread panicked".into());
                checkers.push(SeqChecker::new(npub));
            }
        }
    }

    // Verdicts: each delivery, then anything a subscriber got that no delivery names.
    let mut v = Verdict::default();
    for d in &topo.deliveries {
        let members: Vec<&SeqChecker> = d.members.iter().map(|&s| &checkers[s]).collect();
        v.add(&SeqChecker::stream_verdict(
            &members,
            d.publisher,
            published[d.publisher],
        ));
    }
    for (s, c) in checkers.iter().enumerate() {
        v.foreign += c.unstamped();
        for p in 0..npub {
            let expected = topo
                .deliveries
                .iter()
                .any(|d| d.publisher == p && d.members.contains(&s));
            if !expected {
                v.foreign += c.distinct(p);
            }
        }
    }
    m.verdict = v;
    m.published = published.iter().sum();
    m.delivered = checkers.iter().map(SeqChecker::total).sum();
    let last_ns = progress
        .iter()
        .map(|p| p.last_ns.load(Ordering::Acquire))
        .max()
        .unwrap_or(0);
    let pub_s = pub_end.as_secs_f64().max(1e-9);
    m.pub_rate = m.published as f64 / pub_s;
    if nsub > 0 {
        let sub_s = (last_ns as f64 / 1e9).max(1e-9);
        m.sub_rate = m.delivered as f64 / sub_s;
        m.elapsed_s = sub_s.max(pub_s);
        m.msgs_per_sec = m.sub_rate;
    } else {
        m.elapsed_s = pub_s;
        m.msgs_per_sec = m.pub_rate;
    }
    m.bytes_per_sec = m.msgs_per_sec * size as f64;
    m
}

#[allow(clippy::too_many_arguments)]
fn subscriber(
    nodes: Nodes,
    index: usize,
    npub: usize,
    spec: &SubSpec,
    progress: &[Progress],
    stop: &AtomicBool,
    barrier: &Barrier,
    failed: &AtomicBool,
    start: &std::sync::OnceLock<Instant>,
) -> (SeqChecker, Vec<String>, f64) {
    let mut checker = SeqChecker::new(npub);
    let mut errors = Vec::new();
    let conn = (|| {
        let mut c = Conn::connect(nodes.b)?;
        let mut out = Vec::new();
        for (sid, (s, q)) in spec.subs.iter().enumerate() {
            proto::encode_sub(
                &mut out,
                s.as_bytes(),
                q.as_deref().map(str::as_bytes),
                sid as u64 + 1,
            );
        }
        c.write_all(&out)?;
        c.flush(|_| {})?;
        if nodes.is_cluster() {
            // Wildcards cannot be probed with one subject; no routed topology uses them.
            let literal: Vec<&str> = spec
                .subs
                .iter()
                .map(|(s, _)| s.as_str())
                .filter(|s| !s.split('.').any(|t| t == "*" || t == ">"))
                .collect();
            cluster::await_interest(nodes.a, &mut c, &literal, cluster::INTEREST_TIMEOUT)
                .map_err(std::io::Error::other)?;
        }
        // Short timeouts so the loop notices `stop` while the server is silent.
        c.set_read_timeout(Some(Duration::from_millis(20)))?;
        Ok::<_, std::io::Error>(c)
    })();
    barrier.wait();
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            failed.store(true, Ordering::Release);
            errors.push(format!("subscriber {index}: {e}"));
            return (checker, errors, crate::sys::thread_cpu_seconds());
        }
    };
    let me = &progress[index];
    while !stop.load(Ordering::Acquire) {
        let r = conn.read_some(|f| {
            if let Frame::Msg { payload, .. } = f {
                if !proto::is_probe(payload) {
                    checker.observe_payload(payload);
                }
            }
        });
        match r {
            Ok(r) if r.bytes > 0 => {
                if let Some(t0) = start.get() {
                    me.last_ns
                        .store(t0.elapsed().as_nanos() as u64, Ordering::Release);
                }
                for p in 0..npub {
                    me.per_pub[p].store(checker.distinct(p), Ordering::Release);
                }
            }
            Ok(_) => {}
            Err(e) => {
                errors.push(format!("subscriber {index}: {e}"));
                failed.store(true, Ordering::Release);
                break;
            }
        }
    }
    errors.extend(
        conn.errors
            .drain(..)
            .map(|e| format!("subscriber {index}: -ERR {e}")),
    );
    (checker, errors, crate::sys::thread_cpu_seconds())
}

#[allow(clippy::too_many_arguments)]
fn publisher(
    addr: SocketAddr,
    id: usize,
    spec: &PubSpec,
    size: usize,
    p: &Params,
    watch: &[Vec<usize>],
    progress: &[Progress],
    sent: &[AtomicU64],
    barrier: &Barrier,
    failed: &AtomicBool,
) -> Result<(Instant, f64), String> {
    let conn = Conn::connect(addr);
    // Frame templates, one per subject: the stamp is patched in place per message.
    let payload = proto::payload_template(size);
    let templates: Vec<(Vec<u8>, usize)> = spec
        .subjects
        .iter()
        .map(|s| {
            let mut f = Vec::new();
            proto::pub_header(&mut f, s.as_bytes(), None, size);
            let at = f.len();
            f.extend_from_slice(&payload);
            f.extend_from_slice(proto::CRLF);
            (f, at)
        })
        .collect();
    barrier.wait();
    let mut conn = conn.map_err(|e| {
        failed.store(true, Ordering::Release);
        format!("publisher {id}: {e}")
    })?;
    let deadline = Instant::now() + p.duration;
    let frame_len = templates[0].0.len();
    let per_batch = (WRITE_BATCH / frame_len).max(1) as u64;
    let window_msgs = if p.window_bytes == 0 || watch.is_empty() {
        u64::MAX
    } else {
        (p.window_bytes / size.max(1)).max(per_batch as usize * 2) as u64
    };
    let mut buf = Vec::with_capacity(WRITE_BATCH + frame_len);
    let mut seq: u64 = 0;
    let nsubj = templates.len();
    // With one subject every batch holds the same frames: build it once and patch only the
    // stamps, so the generator copies 12 bytes per message instead of the whole frame.
    let (one_frame, one_at) = &templates[0];
    let prebuilt = nsubj == 1;
    if prebuilt {
        for _ in 0..per_batch {
            buf.extend_from_slice(one_frame);
        }
    }
    while seq < p.max_msgs && !failed.load(Ordering::Relaxed) {
        let n = per_batch.min(p.max_msgs - seq);
        if prebuilt {
            buf.truncate(n as usize * frame_len);
            for i in 0..n as usize {
                let at = i * frame_len + one_at;
                proto::stamp(&mut buf[at..at + size], id as u32, seq);
                seq += 1;
            }
        } else {
            buf.clear();
            for _ in 0..n {
                let (t, at) = &templates[(seq % nsubj as u64) as usize];
                let base = buf.len();
                buf.extend_from_slice(t);
                proto::stamp(&mut buf[base + at..base + at + size], id as u32, seq);
                seq += 1;
            }
        }
        conn.write_all(&buf)
            .map_err(|e| format!("publisher {id}: {e}"))?;
        sent[id].store(seq, Ordering::Release);
        if Instant::now() >= deadline {
            break;
        }
        // Flow control: wait while the slowest receiver is more than a window behind.
        while window_msgs != u64::MAX && !failed.load(Ordering::Relaxed) {
            let slowest = watch
                .iter()
                .map(|members| {
                    members
                        .iter()
                        .map(|&s| progress[s].per_pub[id].load(Ordering::Acquire))
                        .sum::<u64>()
                })
                .min()
                .unwrap_or(seq);
            if seq - slowest.min(seq) <= window_msgs {
                break;
            }
            if Instant::now() >= deadline + p.drain {
                return Err(format!("publisher {id}: subscribers stopped receiving"));
            }
            thread::sleep(Duration::from_micros(50));
        }
    }
    conn.flush(|_| {})
        .map_err(|e| format!("publisher {id}: final flush: {e}"))?;
    let end = Instant::now();
    if let Some(e) = conn.errors.first() {
        return Err(format!("publisher {id}: -ERR {e}"));
    }
    Ok((end, crate::sys::thread_cpu_seconds()))
}
