//! nats-tpc patch: spinning before parking, for executors that have their CPU to themselves.
//!
//! Waking a thread that sleeps in `io_uring_enter` costs more than the wake-up: on a VM the
//! sleeping CPU halts, and the wake is an interrupt to a halted virtual CPU, tens of
//! microseconds on the sender's side and the sleeper's. A shard in a request/reply exchange
//! sleeps between every message, so it pays that once per hop. [`Spinner`] lets the run
//! loop poll a little longer before parking, but only where it cannot hurt:
//! - after short sleeps (traffic is arriving in quick turns; an idle shard parks at once);
//! - while the thread had its CPU to itself: less than 1% of the last sampling period
//!   (10 ms) waiting on the run queue (`/proc/thread-self/schedstat`), so a spinner never
//!   takes time from a client or another shard pinned to the same CPU;
//! - where spins after the same recent history of waits have been finding work (a small
//!   predictor, as in branch prediction), so a shard that alternates a quick wait with a
//!   long one spins only on the quick one.
//!
//! Each turn of the spin yields to the kernel (`sched_yield`), which also runs the io_uring
//! task work that `IORING_SETUP_COOP_TASKRUN` defers to the next kernel entry: the rings
//! are set up that way so completions for a running thread do not interrupt it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// How long the loop polls before parking.
const SPIN: Duration = Duration::from_micros(30);
/// Sleeps at most this long count as "quick turns".
const SHORT_SLEEP: Duration = Duration::from_micros(500);
/// How often the run-queue wait is sampled.
const SAMPLE: Duration = Duration::from_millis(10);
/// A turn that received more than this is streaming, not taking turns with a peer.
const TURN_BYTES: u64 = 4096;
/// Where the predictor says a spin would find nothing, one wait in this many (for that
/// history) spins anyway, since only a spin can tell that traffic has changed.
const PROBE_EVERY: u32 = 32;

#[derive(Debug)]
pub(crate) struct Spinner {
    schedstat: Option<File>,
    /// When the last sample was taken, and the run-queue wait (ns) then.
    sampled: Option<(Instant, u64)>,
    alone: bool,
    /// Whether the last wait (a spin that found work, or a park) was short.
    quick: bool,
    /// `RX_BYTES` when the last turn began.
    rx_mark: u64,
    /// Whether each of the last two waits ended within a spin's length (bit 0 the latest)...
    history: u8,
    /// ...and, for each such history, a 2-bit count of how spins after it went: spin at 2
    /// and above; a spin that finds work sets it to 3, one that parks takes 1 off. Traffic
    /// often alternates: at a fixed request rate a shard waits a few microseconds for the
    /// responder's reply, then most of the period for the next request, and spinning on
    /// every wait burned a whole spin on the second one (88 us of CPU per request at
    /// 10k/s, against 31 parked). Only spins teach it: a parked wait includes the wake-up,
    /// so its length says little about what a spin would have found.
    table: [u8; 4],
    /// For each history, waits the predictor said not to spin since its last probe.
    declined: [u32; 4],
    /// Whether the current wait spun.
    spinning: bool,
}

impl Spinner {
    pub(crate) fn new() -> Spinner {
        let off = std::env::var_os("NATS_TPC_NO_SPIN").is_some()
            || !crate::sys::COOP_TASKRUN.load(std::sync::atomic::Ordering::Relaxed);
        Spinner {
            schedstat: if off {
                None
            } else {
                File::open("/proc/thread-self/schedstat").ok()
            },
            sampled: None,
            alone: false,
            quick: false,
            rx_mark: 0,
            history: 0,
            table: [2; 4],
            declined: [0; 4],
            spinning: false,
        }
    }

    /// Until when to spin before parking, if at all.
    pub(crate) fn spin_until(&mut self) -> Option<Instant> {
        // Streaming (a turn that read more than a request's worth) waits parked: a
        // spinner would read the stream in small bites, each one a socket lock the
        // sending CPU then waits on (pub 1 KiB: 0.72x), where a parked shard wakes to a
        // batch.
        let rx = crate::net::RX_BYTES.with(|b| b.get());
        let turn = rx - self.rx_mark;
        self.rx_mark = rx;
        self.spinning = false;
        if !self.quick || self.schedstat.is_none() || turn > TURN_BYTES {
            return None;
        }
        let h = self.history as usize;
        if self.table[h] < 2 {
            self.declined[h] += 1;
            if self.declined[h] < PROBE_EVERY {
                return None;
            }
        }
        self.declined[h] = 0;
        let now = Instant::now();
        if self.sampled.map_or(true, |(t, _)| now - t >= SAMPLE) {
            self.sample(now);
        }
        self.spinning = self.alone;
        self.alone.then(|| now + SPIN)
    }

    /// The wait ended without parking: the spin (or the first poll) found work.
    pub(crate) fn found(&mut self) {
        self.quick = true;
        self.learn(true);
    }

    /// The loop parked for `slept`.
    pub(crate) fn parked(&mut self, slept: Duration) {
        self.quick = slept <= SHORT_SLEEP;
        // A spin that ended in a park missed; an unspun park goes into the history as what
        // a spin would have seen, as far as its length (wake-up included) tells.
        self.learn(!self.spinning && slept <= SPIN);
    }

    fn learn(&mut self, hit: bool) {
        let count = &mut self.table[self.history as usize];
        if self.spinning {
            *count = if hit { 3 } else { count.saturating_sub(1) };
        }
        self.history = (self.history << 1 | hit as u8) & 3;
    }

    fn sample(&mut self, now: Instant) {
        let Some(wait) = self.run_queue_wait() else {
            self.schedstat = None;
            return;
        };
        self.alone = match self.sampled {
            Some((t, w)) => {
                let period = (now - t).as_nanos() as u64;
                wait.saturating_sub(w) * 100 < period
            }
            None => false,
        };
        self.sampled = Some((now, wait));
    }

    /// Nanoseconds this thread has spent runnable but waiting for its CPU.
    fn run_queue_wait(&self) -> Option<u64> {
        let mut buf = [0u8; 96];
        let n = self.schedstat.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }
}

