//! The scenarios, modelled on `nats bench`, and what one run of one of them measured.
//!
//! Every scenario is bounded twice: by time ([`Params::duration`]) and by count
//! ([`Params::max_msgs`] per publisher). A scenario that passes neither bound in
//! [`Params::duration`] plus the drain time still ends: what did not arrive is reported lost.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::Verdict;

/// One workload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One publisher, no subscriber: the server parses and drops.
    Pub,
    /// One publisher, one subscriber on the same subject.
    PubSub,
    /// One publisher, N subscribers on the same subject.
    FanOut,
    /// N publishers, one subscriber.
    FanIn,
    /// One publisher, N subscribers in one queue group: each message to exactly one.
    Queue,
    /// N independent publisher/subscriber pairs, each pair on its own subject: the shape
    /// that can use many cores.
    Pairs,
    /// One publisher on node A of a two-node cluster, one subscriber on node B: every
    /// message crosses the route.
    Routed,
    /// Request/reply, one request outstanding at a time (closed loop).
    ReqReply,
    /// Request/reply at a fixed rate, latency measured from the intended send time
    /// (coordinated-omission corrected).
    ReqRate,
    /// Closed-loop request/reply across a two-node cluster: the requester on node A, the
    /// responder on node B, so each round trip crosses the route twice.
    RoutedReq,
    /// 10,000+ subjects: a publisher cycles through them; one subscriber holds a literal
    /// subscription per subject, one holds `*`, one holds `>`.
    Subjects,
    /// Publisher/subscriber traffic while another connection does SUB/UNSUB at a set rate.
    Churn,
    /// Many idle connections: server memory per connection from its RSS.
    Idle,
}

/// Every scenario, in report order.
pub const ALL: [Scenario; 13] = [
    Scenario::Pub,
    Scenario::PubSub,
    Scenario::FanOut,
    Scenario::FanIn,
    Scenario::Queue,
    Scenario::Pairs,
    Scenario::Routed,
    Scenario::ReqReply,
    Scenario::ReqRate,
    Scenario::RoutedReq,
    Scenario::Subjects,
    Scenario::Churn,
    Scenario::Idle,
];

/// Payload sizes measured by default: 16 B, 128 B, 1 KiB, 16 KiB.
pub const DEFAULT_SIZES: [usize; 4] = [16, 128, 1024, 16 * 1024];

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::PubSub => "pub-sub",
            Scenario::FanOut => "fan-out",
            Scenario::FanIn => "fan-in",
            Scenario::Queue => "queue",
            Scenario::Pairs => "pairs",
            Scenario::Routed => "routed",
            Scenario::ReqReply => "req-reply",
            Scenario::ReqRate => "req-rate",
            Scenario::RoutedReq => "routed-req",
            Scenario::Subjects => "subjects",
            Scenario::Churn => "churn",
            Scenario::Idle => "idle",
        }
    }

    /// Whether the scenario is run once per payload size (the others use one fixed size).
    pub fn sweeps_sizes(self) -> bool {
        matches!(
            self,
            Scenario::Pub
                | Scenario::PubSub
                | Scenario::FanOut
                | Scenario::FanIn
                | Scenario::Queue
                | Scenario::Pairs
                | Scenario::Routed
        )
    }

    /// Whether the headline figure is a latency rather than a throughput.
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Scenario::ReqReply | Scenario::ReqRate | Scenario::RoutedReq
        )
    }

    /// Whether the scenario runs against a two-node cluster: publishers (requesters) on
    /// node A, subscribers (responders) on node B.
    pub fn is_routed(self) -> bool {
        matches!(self, Scenario::Routed | Scenario::RoutedReq)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ALL.iter().copied().find(|x| x.name() == s).ok_or_else(|| {
            let names: Vec<_> = ALL.iter().map(|x| x.name()).collect();
            format!("unknown scenario {s:?}; known: {}", names.join(", "))
        })
    }
}

/// Parses a comma-separated scenario list; `all` means every scenario.
pub fn parse_scenarios(s: &str) -> Result<Vec<Scenario>, String> {
    if s == "all" {
        return Ok(ALL.to_vec());
    }
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(Scenario::from_str)
        .collect()
}

/// Parses sizes such as `16,128,1k,16KiB`.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            let lower = x.to_ascii_lowercase();
            let (num, mult) = if let Some(n) = lower
                .strip_suffix("kib")
                .or_else(|| lower.strip_suffix("kb"))
                .or_else(|| lower.strip_suffix('k'))
            {
                (n.to_string(), 1024)
            } else {
                (lower.trim_end_matches('b').to_string(), 1)
            };
            num.trim()
                .parse::<usize>()
                .map(|n| n * mult)
                .map_err(|_| format!("bad size {x:?}"))
        })
        .collect()
}

/// How large and how long each scenario is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// How long publishers publish (or requesters request).
    pub duration: Duration,
    /// Most messages one publisher sends.
    pub max_msgs: u64,
    /// N in fan-out, fan-in and queue.
    pub fan: usize,
    /// Number of independent pairs.
    pub pairs: usize,
    /// Most payload bytes one publisher may have sent but not yet seen delivered to every
    /// subscriber that should get them; keeps the server below its slow-consumer limit
    /// (nats-server's `max_pending` is 64 MiB). 0 turns flow control off.
    pub window_bytes: usize,
    /// Requests per second in the fixed-rate latency scenario.
    pub rate: u64,
    /// Payload of the latency scenarios.
    pub latency_size: usize,
    /// Subjects in the many-subjects scenario.
    pub subjects: usize,
    /// SUB+UNSUB pairs per second in the churn scenario.
    pub churn_rate: u64,
    /// Connections opened in the idle scenario.
    pub idle_conns: usize,
    /// How long to wait for the last messages after publishers finish.
    pub drain: Duration,
}

impl Params {
    /// Defaults for a real run: seconds per scenario.
    pub fn standard() -> Params {
        Params {
            duration: Duration::from_secs(3),
            max_msgs: 20_000_000,
            fan: 4,
            pairs: 4,
            window_bytes: 16 << 20,
            rate: 10_000,
            latency_size: 128,
            subjects: 10_000,
            churn_rate: 10_000,
            idle_conns: 2_000,
            drain: Duration::from_secs(5),
        }
    }

    /// Defaults for tests and CI smoke runs: well under a second per scenario.
    pub fn quick() -> Params {
        Params {
            duration: Duration::from_millis(300),
            max_msgs: 2_000_000,
            fan: 3,
            pairs: 2,
            rate: 2_000,
            subjects: 10_000,
            churn_rate: 2_000,
            idle_conns: 200,
            drain: Duration::from_secs(3),
            ..Params::standard()
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Samples recorded.
    pub count: u64,
}

impl Latency {
    /// Summarises a histogram recorded in nanoseconds.
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
            count: h.len(),
        }
    }

    /// The percentiles in report order, with their labels.
    pub fn points(&self) -> [(&'static str, f64); 5] {
        [
            ("p50", self.p50_us),
            ("p90", self.p90_us),
            ("p99", self.p99_us),
            ("p99.9", self.p999_us),
            ("max", self.max_us),
        ]
    }
}

/// What one run of one scenario at one size measured, as the generator saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measurement {
    pub scenario: String,
    /// Payload bytes per message.
    pub size: usize,
    pub publishers: usize,
    pub subscribers: usize,
    /// Seconds from the start signal to the last delivery (or last `PONG` for pub-only).
    pub elapsed_s: f64,
    /// Messages published (every one acknowledged by a `PING`/`PONG` round).
    pub published: u64,
    /// Messages received by all subscribers together (a fan-out of 4 counts each 4 times).
    pub delivered: u64,
    /// The headline rate: deliveries per second, or publishes per second when no one
    /// subscribes, or requests per second for the latency scenarios.
    pub msgs_per_sec: f64,
    /// Publishes per second, until the publishers' final `PONG`.
    pub pub_rate: f64,
    /// Deliveries per second, until the last delivery.
    pub sub_rate: f64,
    /// Payload bytes per second at the headline rate.
    pub bytes_per_sec: f64,
    /// Loss, duplicates and reordering seen by the subscribers.
    pub verdict: Verdict,
    /// Errors: `-ERR` lines from the server, I/O errors, timeouts.
    pub errors: Vec<String>,
    /// Latency percentiles (request/reply scenarios).
    pub latency: Option<Latency>,
    /// Latency from the actual rather than intended send time (fixed-rate only): the
    /// uncorrected figure, shown to make the coordinated-omission correction visible.
    pub latency_uncorrected: Option<Latency>,
    /// SUB+UNSUB pairs per second achieved (churn).
    pub churn_per_sec: Option<f64>,
    /// Server RSS growth per idle connection in bytes (idle).
    pub rss_per_conn: Option<f64>,
    /// CPU seconds the generator's connection threads used (throughput scenarios).
    #[serde(default)]
    pub generator_cpu_s: f64,
}

impl Measurement {
    /// True when the run saw no loss, duplicate, reordering or error.
    pub fn ok(&self) -> bool {
        self.verdict.is_clean() && self.errors.is_empty()
    }
}
