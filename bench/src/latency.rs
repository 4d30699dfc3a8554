//! Request/reply latency: a responder connection in the generator echoes every request;
//! a requester measures the round trip into an HDR histogram (nanoseconds, 3 significant
//! digits).
//!
//! Closed loop: one request outstanding, the next sent when the reply arrives; it measures
//! the service time but hides queueing. Fixed rate: requests leave on a schedule whatever the
//! replies do, and each latency is taken from the time the request *should* have left, so a
//! stall in the server (or the generator) shows as the latency every delayed request
//! suffered rather than as one slow sample (coordinated-omission correction).
//!
//! Routed (`routed-req`): the requester on node A, the responder on node B, closed loop;
//! each side first waits until probes from the other node reach its subscription, since
//! a request or reply sent before the route carries the interest would be dropped.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::check::SeqChecker;
use crate::cluster::{self, Nodes};
use crate::conn::{Conn, WRITE_BATCH};
use crate::proto::{self, Frame, STAMP_LEN};
use crate::scenario::{Latency, Measurement, Params, Scenario};

const REQ_SUBJECT: &str = "bench.req";
const INBOX: &str = "_INBOX.bench.1";
/// Bytes of a request payload that carry the actual send time (ns since start), after the
/// stamp: payloads are at least this long.
const MIN_SIZE: usize = STAMP_LEN + 8;

fn histogram() -> Histogram<u64> {
    // 1 ns to 60 s; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds")
}

/// Starts the responder on `addr`: it echoes every request to its reply subject, one write
/// per read. With `probe_from`, it first waits until requests published there reach it.
fn responder(
    addr: SocketAddr,
    probe_from: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
) -> Result<thread::JoinHandle<Vec<String>>, String> {
    let mut c = cluster::subscribe(addr, &[REQ_SUBJECT]).map_err(|e| e.to_string())?;
    if let Some(from) = probe_from {
        cluster::await_interest(from, &mut c, &[REQ_SUBJECT], cluster::INTEREST_TIMEOUT)?;
    }
    c.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    Ok(thread::spawn(move || {
        let mut out = Vec::with_capacity(WRITE_BATCH);
        let mut errors = Vec::new();
        while !stop.load(Ordering::Acquire) {
            out.clear();
            let r = c.read_some(|f| {
                if let Frame::Msg {
                    reply: Some(reply),
                    payload,
                    ..
                } = f
                {
                    proto::encode_pub(&mut out, reply, None, payload);
                }
            });
            if let Err(e) = r.and_then(|_| c.write_all(&out)) {
                errors.push(format!("responder: {e}"));
                break;
            }
        }
        errors.extend(c.errors.drain(..).map(|e| format!("responder: -ERR {e}")));
        errors
    }))
}

/// The requester's connection on `addr`, subscribed to its inbox; with `probe_from`, once
/// replies published there reach it.
fn requester_conn(addr: SocketAddr, probe_from: Option<SocketAddr>) -> Result<Conn, String> {
    let mut c = cluster::subscribe(addr, &[INBOX]).map_err(|e| e.to_string())?;
    if let Some(from) = probe_from {
        cluster::await_interest(from, &mut c, &[INBOX], cluster::INTEREST_TIMEOUT)?;
    }
    Ok(c)
}

fn request_frame(out: &mut Vec<u8>, payload: &mut [u8], seq: u64, sent_ns: u64) {
    proto::stamp(payload, 0, seq);
    payload[STAMP_LEN..MIN_SIZE].copy_from_slice(&sent_ns.to_le_bytes());
    proto::encode_pub(out, REQ_SUBJECT.as_bytes(), Some(INBOX.as_bytes()), payload);
}

/// Runs the closed-loop or fixed-rate request/reply scenario: the requester on `nodes.a`,
/// the responder on `nodes.b`.
pub fn run(nodes: Nodes, scenario: Scenario, p: &Params) -> Measurement {
    let size = p.latency_size.max(MIN_SIZE);
    let mut m = Measurement {
        scenario: scenario.name().to_string(),
        size,
        publishers: 1,
        subscribers: 1,
        ..Measurement::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let routed = nodes.is_cluster();
    let resp = match responder(nodes.b, routed.then_some(nodes.a), stop.clone()) {
        Ok(r) => r,
        Err(e) => {
            m.errors.push(format!("responder: {e}"));
            return m;
        }
    };
    let result = match requester_conn(nodes.a, routed.then_some(nodes.b)) {
        Ok(c) if scenario == Scenario::ReqRate => fixed_rate(c, size, p, &mut m),
        Ok(c) => closed_loop(c, size, p, &mut m),
        Err(e) => Err(format!("requester: {e}")),
    };
    if let Err(e) = result {
        m.errors.push(e);
    }
    stop.store(true, Ordering::Release);
    match resp.join() {
        Ok(errs) => m.errors.extend(errs),
        Err(_) => m.errors.push("responder panicked".into()),
    }
    m.bytes_per_sec = m.msgs_per_sec * size as f64;
    m
}

fn closed_loop(mut c: Conn, size: usize, p: &Params, m: &mut Measurement) -> Result<(), String> {
    let mut h = histogram();
    let mut payload = proto::payload_template(size);
    let mut checker = SeqChecker::new(1);
    let mut out = Vec::new();
    c.set_read_timeout(Some(p.drain))
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let deadline = t0 + p.duration;
    let mut seq = 0u64;
    while seq < p.max_msgs && Instant::now() < deadline {
        out.clear();
        let sent = Instant::now();
        request_frame(&mut out, &mut payload, seq, 0);
        c.write_all(&out).map_err(|e| format!("requester: {e}"))?;
        let before = checker.total();
        while checker.total() == before {
            let r = c
                .read_some(|f| {
                    if let Frame::Msg { payload, .. } = f {
                        if !proto::is_probe(payload) {
                            checker.observe_payload(payload);
                        }
                    }
                })
                .map_err(|e| format!("requester: {e}"))?;
            if r.bytes == 0 {
                return Err(format!("no reply to request {seq} within {:?}", p.drain));
            }
        }
        h.saturating_record(sent.elapsed().as_nanos() as u64);
        seq += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    m.published = seq;
    m.delivered = checker.total();
    m.verdict = checker.verdict(&[seq]);
    m.elapsed_s = elapsed;
    m.msgs_per_sec = seq as f64 / elapsed;
    m.pub_rate = m.msgs_per_sec;
    m.sub_rate = m.msgs_per_sec;
    m.latency = Some(Latency::from_histogram(&h));
    Ok(())
}

fn fixed_rate(mut c: Conn, size: usize, p: &Params, m: &mut Measurement) -> Result<(), String> {
    let rate = p.rate.max(1);
    let interval_ns = 1_000_000_000 / rate;
    let total = p
        .max_msgs
        .min((p.duration.as_secs_f64() * rate as f64).ceil() as u64)
        .max(1);
    let mut writer = c.try_clone_stream().map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    // The writer owns the schedule. Only it writes on this socket during the run; the reader
    // answers server PINGs too, but nats-server pings every 2 minutes, far longer than a run.
    let sender = {
        thread::spawn(move || -> Result<u64, String> {
            let mut payload = proto::payload_template(size);
            let mut out = Vec::with_capacity(WRITE_BATCH);
            let mut seq = 0u64;
            while seq < total {
                let due_ns = seq * interval_ns;
                let now_ns = t0.elapsed().as_nanos() as u64;
                if now_ns < due_ns {
                    let wait = due_ns - now_ns;
                    // Sleep most of the wait; the last stretch is yielded away, since sleep
                    // overshoots by tens of microseconds.
                    if wait > 200_000 {
                        thread::sleep(Duration::from_nanos(wait - 100_000));
                    } else {
                        thread::yield_now();
                    }
                    continue;
                }
                // Send every request that is due now in one write.
                out.clear();
                while seq < total && seq * interval_ns <= now_ns && out.len() < WRITE_BATCH {
                    let sent_ns = t0.elapsed().as_nanos() as u64;
                    request_frame(&mut out, &mut payload, seq, sent_ns);
                    seq += 1;
                }
                writer
                    .write_all(&out)
                    .map_err(|e| format!("requester: {e}"))?;
            }
            Ok(seq)
        })
    };
    let mut corrected = histogram();
    let mut uncorrected = histogram();
    let mut checker = SeqChecker::new(1);
    let mut last_progress = Instant::now();
    let deadline = t0 + p.duration + p.drain;
    let mut read_err = None;
    while checker.total() < total && Instant::now() < deadline {
        let r = c.read_some(|f| {
            if let Frame::Msg { payload, .. } = f {
                if proto::is_probe(payload) {
                    return;
                }
                let now_ns = t0.elapsed().as_nanos() as u64;
                checker.observe_payload(payload);
                if let Some((_, seq)) = proto::read_stamp(payload) {
                    corrected.saturating_record(now_ns.saturating_sub(seq * interval_ns).max(1));
                    if payload.len() >= MIN_SIZE {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&payload[STAMP_LEN..MIN_SIZE]);
                        let sent = u64::from_le_bytes(b);
                        uncorrected.saturating_record(now_ns.saturating_sub(sent).max(1));
                    }
                }
            }
        });
        match r {
            Ok(r) if r.bytes > 0 => last_progress = Instant::now(),
            Ok(_) if sender.is_finished() && last_progress.elapsed() > p.drain => break,
            Ok(_) => {}
            Err(e) => {
                read_err = Some(format!("requester: {e}"));
                break;
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let sent = match sender.join() {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("request sender panicked".into()),
    };
    if let Some(e) = read_err {
        m.errors.push(e);
    }
    m.published = sent;
    m.delivered = checker.total();
    m.verdict = checker.verdict(&[sent]);
    m.elapsed_s = elapsed;
    m.msgs_per_sec = checker.total() as f64 / elapsed;
    m.pub_rate = sent as f64 / elapsed;
    m.sub_rate = m.msgs_per_sec;
    m.latency = Some(Latency::from_histogram(&corrected));
    m.latency_uncorrected = Some(Latency::from_histogram(&uncorrected));
    Ok(())
}
