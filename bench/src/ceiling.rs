//! The generator's own ceiling: how fast it publishes into a null sink that discards
//! everything, and how fast it receives and checks messages from a source that only blasts
//! pre-built `MSG` frames. Both stand-ins run on the server's CPUs, as a server would, and cost
//! next to nothing, so what is measured is the generator.
//!
//! A run's *headroom* is then how many times faster the generator alone would have done that
//! run's publishing and receiving: `elapsed / (published / pub_ceiling + delivered /
//! sub_ceiling)`. Below [`MIN_HEADROOM`] the generator may be the bottleneck, and the report
//! says so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::check::SeqChecker;
use crate::conn::{Conn, WRITE_BATCH};
use crate::proto::{self, Frame};
use crate::scenario::{Measurement, Params, Scenario};
use crate::sys;
use crate::traffic::{self, Topology};

/// The bar: the generator alone must run at least 5 times faster than the server.
pub const MIN_HEADROOM: f64 = 5.0;

const INFO: &[u8] = b"INFO {\"server_id\":\"null-sink\",\"version\":\"0.0.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n";

/// The generator's rates at one payload size, in messages per second.
///
/// The headline rates are per CPU-second of the generator thread (messages over the thread's
/// own CPU time), so a stand-in slower than the generator cannot understate it; the wall-clock
/// rates are kept beside them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Ceiling {
    pub size: usize,
    /// Publishing into the null sink, one connection, per generator CPU-second.
    pub pub_rate: f64,
    /// Receiving and checking from the blast source, one connection, per CPU-second.
    pub sub_rate: f64,
    /// Publishing, per wall-clock second.
    #[serde(default)]
    pub pub_wall_rate: f64,
    /// Receiving, per wall-clock second.
    #[serde(default)]
    pub sub_wall_rate: f64,
}

impl Ceiling {
    /// Headroom of a measured run (see the module docs) for a generator with `gen_cpus` CPUs
    /// (its connections run in parallel up to that many); `None` when the run moved no
    /// messages or is not throughput-bound (latency, idle).
    pub fn headroom(&self, m: &Measurement, gen_cpus: usize) -> Option<f64> {
        let scenario: Scenario = m.scenario.parse().ok()?;
        if scenario.is_latency() || scenario == Scenario::Idle || self.pub_rate <= 0.0 {
            return None;
        }
        let gen_s =
            m.published as f64 / self.pub_rate + m.delivered as f64 / self.sub_rate.max(1.0);
        let parallel = gen_cpus.min(m.publishers + m.subscribers).max(1) as f64;
        (gen_s > 0.0).then(|| m.elapsed_s * parallel / gen_s)
    }
}

/// Measures the ceiling at `size`, with the stand-in server pinned to `server_cpus`.
pub fn measure(size: usize, server_cpus: &[usize], duration: Duration) -> Result<Ceiling, String> {
    let p = Params {
        duration,
        max_msgs: u64::MAX / 2,
        window_bytes: 0,
        ..Params::quick()
    };
    // Publishing: the real publisher code against the null sink.
    let (addr, sink) = spawn_stand_in(server_cpus.to_vec(), None)?;
    let topo = Topology::for_scenario(Scenario::Pub, &p).ok_or("no pub topology")?;
    let m = traffic::run(addr.into(), Scenario::Pub, &topo, size, &p, None);
    let _ = sink.join();
    if !m.errors.is_empty() {
        return Err(format!("null sink run failed: {}", m.errors.join("; ")));
    }
    // Receiving: the subscriber's read-parse-check path against the blast source.
    let (addr, source) = spawn_stand_in(server_cpus.to_vec(), Some((size, duration)))?;
    let (sub_wall_rate, sub_rate) = receive_all(addr)?;
    let _ = source.join();
    Ok(Ceiling {
        size,
        pub_rate: m.published as f64 / m.generator_cpu_s.max(1e-6),
        sub_rate,
        pub_wall_rate: m.pub_rate,
        sub_wall_rate,
    })
}

/// Subscribes and receives until the source closes, checking every message exactly as a
/// subscriber in a real run does; returns messages per wall-clock second and per CPU-second.
fn receive_all(addr: SocketAddr) -> Result<(f64, f64), String> {
    let mut c = Conn::connect(addr).map_err(|e| format!("blast source: {e}"))?;
    let mut sub = Vec::new();
    proto::encode_sub(&mut sub, b"bench.ceiling", None, 1);
    c.write_all(&sub).map_err(|e| e.to_string())?;
    let mut checker = SeqChecker::new(1);
    let cpu0 = sys::thread_cpu_seconds();
    // The source starts as soon as it answers this PING: the read that brings the PONG may
    // bring the first messages too, and they count.
    c.flush(|f| {
        if let Frame::Msg { payload, .. } = f {
            checker.observe_payload(payload);
        }
    })
    .map_err(|e| e.to_string())?;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    loop {
        let r = c.read_some(|f| {
            if let Frame::Msg { payload, .. } = f {
                checker.observe_payload(payload);
            }
        });
        match r {
            Ok(r) if r.bytes > 0 => {
                last = Instant::now();
                first.get_or_insert(last);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("blast source: {e}")),
        }
    }
    let v = checker.verdict(&[checker.distinct(0)]);
    if v.duplicates + v.reordered + v.foreign > 0 {
        return Err(format!("ceiling receive saw a bad stream: {v:?}"));
    }
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let cpu = sys::thread_cpu_seconds() - cpu0;
    let n = checker.total() as f64;
    Ok((n / secs.max(1e-9), n / cpu.max(1e-6)))
}

/// Listens on a free loopback port and serves one client from a thread pinned to `cpus`:
/// a null sink (`blast` is `None`) or a blast source of `size`-byte messages for a duration.
fn spawn_stand_in(
    cpus: Vec<usize>,
    blast: Option<(usize, Duration)>,
) -> Result<(SocketAddr, thread::JoinHandle<()>), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let h = thread::spawn(move || {
        let _ = sys::pin_current_thread(&cpus);
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_nodelay(true);
        if s.write_all(INFO).is_err() {
            return;
        }
        match blast {
            None => null_sink(s),
            Some((size, d)) => {
                // The client's CONNECT+PING, then its SUB+PING.
                if answer_pings(&mut s, 2).is_ok() {
                    blast_source(s, size, d);
                }
            }
        }
    });
    Ok((addr, h))
}

/// Reads until `n` PINGs were answered.
fn answer_pings(s: &mut TcpStream, n: usize) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = 0;
    let mut carry = Vec::new();
    while seen < n {
        let k = s.read(&mut buf)?;
        if k == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        carry.extend_from_slice(&buf[..k]);
        let found = memchr::memmem::find_iter(&carry, b"PING\r\n").count();
        for _ in 0..found {
            s.write_all(b"PONG\r\n")?;
        }
        seen += found;
        // Keep a tail in case "PING\r\n" straddles two reads.
        let keep = carry.len().saturating_sub(5);
        carry.drain(..keep);
    }
    Ok(())
}

fn null_sink(mut s: TcpStream) {
    let mut buf = vec![0u8; 1 << 20];
    let finder = memchr::memmem::Finder::new(b"PING\r\n");
    let mut tail = [0u8; 5];
    let mut tail_len = 0;
    loop {
        let k = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => k,
        };
        // A PING split across reads: check the seam with the previous read's tail.
        let mut seam = tail[..tail_len].to_vec();
        seam.extend_from_slice(&buf[..k.min(5)]);
        let pings = finder.find_iter(&buf[..k]).count() + finder.find_iter(&seam).count();
        for _ in 0..pings {
            if s.write_all(b"PONG\r\n").is_err() {
                return;
            }
        }
        tail_len = k.min(5);
        tail[..tail_len].copy_from_slice(&buf[k - tail_len..k]);
    }
}

fn blast_source(mut s: TcpStream, size: usize, d: Duration) {
    let mut frame = b"MSG bench.ceiling 1 ".to_vec();
    frame.extend_from_slice(size.to_string().as_bytes());
    frame.extend_from_slice(b"\r\n");
    let at = frame.len();
    frame.extend_from_slice(&proto::payload_template(size));
    frame.extend_from_slice(b"\r\n");
    let per = (WRITE_BATCH / frame.len()).max(1);
    let mut batch = Vec::with_capacity(per * frame.len());
    for _ in 0..per {
        batch.extend_from_slice(&frame);
    }
    let deadline = Instant::now() + d;
    let mut seq = 0u64;
    while Instant::now() < deadline {
        for i in 0..per {
            let o = i * frame.len() + at;
            proto::stamp(&mut batch[o..o + size], 0, seq);
            seq += 1;
        }
        if s.write_all(&batch).is_err() {
            return;
        }
    }
    // Closing is the end-of-stream signal the receiver waits for.
}
