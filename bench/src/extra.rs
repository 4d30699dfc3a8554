//! The scenarios that are not plain publish/subscribe: subscription churn (as a side load
//! beside a pub/sub stream) and many idle connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::proto;
use crate::scenario::{Measurement, Params, Scenario};
use crate::sys;
use crate::traffic::{SideLoad, SideResult};

/// A side load that SUBs and UNSUBs at `rate` pairs per second until told to stop. Half the
/// subscriptions are wildcards (`churn.*.N`): in nats-server a wildcard insert or removal
/// invalidates the subject-match cache, which is what makes churn hurt the data path.
pub fn churn(rate: u64) -> SideLoad {
    Box::new(move |addr: SocketAddr, stop: Arc<AtomicBool>| {
        let mut r = SideResult::default();
        let mut c = match Conn::connect(addr) {
            Ok(c) => c,
            Err(e) => {
                r.errors.push(format!("churn: {e}"));
                return r;
            }
        };
        let _ = c.set_read_timeout(Some(Duration::from_millis(1)));
        let t0 = Instant::now();
        let mut done = 0u64;
        let mut out = Vec::new();
        while !stop.load(Ordering::Acquire) {
            let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
            out.clear();
            // Cap one batch so a late wake-up does not turn into one huge burst.
            while done < due && out.len() < 32 * 1024 {
                let sid = done + 1;
                let subject = if sid & 1 == 0 {
                    format!("churn.{sid}")
                } else {
                    format!("churn.*.{sid}")
                };
                proto::encode_sub(&mut out, subject.as_bytes(), None, sid);
                proto::encode_unsub(&mut out, sid);
                done += 1;
            }
            if let Err(e) = c.write_all(&out) {
                r.errors.push(format!("churn: {e}"));
                return r;
            }
            // Reading answers server PINGs and notices -ERR; it also paces the loop (1 ms).
            if let Err(e) = c.read_some(|_| {}) {
                r.errors.push(format!("churn: {e}"));
                return r;
            }
        }
        // The PONG proves the server processed every SUB/UNSUB sent.
        if let Err(e) = c.flush(|_| {}) {
            r.errors.push(format!("churn: final flush: {e}"));
        }
        r.errors
            .extend(c.errors.drain(..).map(|e| format!("churn: -ERR {e}")));
        r.ops_per_sec = done as f64 / t0.elapsed().as_secs_f64();
        r
    })
}

/// Opens `Params::idle_conns` connections that only handshake, and reads the server's RSS
/// before and after; needs the server's pid.
pub fn idle(addr: SocketAddr, server_pid: Option<u32>, p: &Params) -> Measurement {
    let mut m = Measurement {
        scenario: Scenario::Idle.name().to_string(),
        ..Measurement::default()
    };
    let limit = sys::raise_nofile_limit();
    let want = p.idle_conns;
    // Leave room for the generator's own files.
    let n = want.min(limit.saturating_sub(64) as usize);
    if n < want {
        m.errors.push(format!(
            "open-file limit {limit} allows only {n} of {want} connections"
        ));
    }
    let rss = |pid| sys::process_rss_bytes(pid);
    // Let the server settle (Go's runtime starts lazily) before the baseline.
    thread::sleep(Duration::from_millis(200));
    let before = server_pid.and_then(rss);
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        match Conn::connect(addr) {
            Ok(c) => conns.push(c),
            Err(e) => {
                m.errors.push(format!("idle connection {i}: {e}"));
                break;
            }
        }
    }
    // One more round trip on the last connection: the server has set up all the others.
    if let Some(c) = conns.last_mut() {
        if let Err(e) = c.flush(|_| {}) {
            m.errors.push(format!("idle: {e}"));
        }
    }
    thread::sleep(Duration::from_millis(200));
    let after = server_pid.and_then(rss);
    m.elapsed_s = t0.elapsed().as_secs_f64();
    m.published = n as u64;
    m.delivered = conns.len() as u64;
    m.msgs_per_sec = conns.len() as f64 / m.elapsed_s;
    m.verdict.expected = n as u64;
    m.verdict.received = conns.len() as u64;
    m.verdict.lost = (n - conns.len()) as u64;
    if let (Some(b), Some(a)) = (before, after) {
        if !conns.is_empty() {
            m.rss_per_conn = Some((a as f64 - b as f64) / conns.len() as f64);
        }
    }
    m
}
