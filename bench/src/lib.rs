//! nats-bench: a load generator and side-by-side harness that measures any NATS server the
//! same way: nats-tpc, the Go `nats-server`, or anything else that speaks the protocol.
//!
//! The generator speaks the raw client protocol itself: one blocking thread per connection,
//! 64 KiB batched writes, 256 KiB reads parsed in place. Every payload carries a (publisher,
//! sequence) stamp, and every subscriber checks loss, duplicates and order while it measures;
//! a run that sees any is marked failed. A built-in ceiling check against a null sink shows
//! how many times faster than the server the generator is.
//!
//! # Layout
//!
//! - [`proto`]: the client side of the wire protocol, no I/O (parser for `MSG`/`HMSG`/...,
//!   encoders for `PUB`/`SUB`/`UNSUB`, the payload stamp).
//! - [`check`]: per-subscriber sequence checking (loss, duplicates, reordering).
//! - [`conn`]: one blocking connection: handshake, batched writes, parse-per-read.
//! - [`scenario`]: the scenario list, their parameters and [`scenario::Measurement`].
//! - [`traffic`]: the publish/subscribe engine behind every throughput scenario.
//! - [`latency`]: request/reply, closed loop and fixed rate with coordinated-omission
//!   correction.
//! - [`extra`]: subscription churn and idle connections.
//! - [`ceiling`]: the generator's own ceiling against a null sink and a blast source.
//! - [`server`]: starting servers fresh on free ports, pinned to CPUs.
//! - [`cluster`]: two-node clusters for the routed scenarios, and the probes that say when a
//!   route carries a run's interest.
//! - [`sys`]: CPU pinning, process CPU time and RSS, per-CPU busy time.
//! - [`compare`]: the A/B orchestration (rounds, interference checks, shard sweep).
//! - [`report`]: JSON lines records, statistics and the Markdown report.
//! - [`svg`]: hand-written SVG charts.

pub mod ceiling;
pub mod check;
pub mod cluster;
pub mod compare;
pub mod conn;
pub mod extra;
pub mod latency;
pub mod proto;
pub mod report;
pub mod scenario;
pub mod server;
pub mod svg;
pub mod sys;
pub mod traffic;

use cluster::Nodes;
use scenario::{Measurement, Params, Scenario};

/// Runs one scenario once against a server (a `SocketAddr`) or, for the routed scenarios, a
/// two-node cluster ([`Nodes`]: publishers on `a`, subscribers on `b`). `size` is ignored by
/// scenarios that use a fixed size; `server_pid` is needed for memory figures (idle).
pub fn run_case(
    nodes: impl Into<Nodes>,
    scenario: Scenario,
    size: usize,
    params: &Params,
    server_pid: Option<u32>,
) -> Measurement {
    let nodes = nodes.into();
    match scenario {
        Scenario::ReqReply | Scenario::ReqRate | Scenario::RoutedReq => {
            latency::run(nodes, scenario, params)
        }
        Scenario::Idle => extra::idle(nodes.a, server_pid, params),
        _ => {
            let Some(topo) = traffic::Topology::for_scenario(scenario, params) else {
                unreachable!("every other scenario has a topology")
            };
            let side = (scenario == Scenario::Churn).then(|| extra::churn(params.churn_rate));
            traffic::run(nodes, scenario, &topo, size, params, side)
        }
    }
}

/// The (scenario, size) pairs a run covers: each size for the throughput scenarios, one
/// entry for the others.
pub fn cases(scenarios: &[Scenario], sizes: &[usize], params: &Params) -> Vec<(Scenario, usize)> {
    let mut out = Vec::new();
    for &s in scenarios {
        if s.sweeps_sizes() {
            out.extend(sizes.iter().map(|&z| (s, z)));
        } else if s.is_latency() {
            out.push((s, params.latency_size));
        } else if s == Scenario::Idle {
            out.push((s, 0));
        } else {
            // Subjects and churn: one representative size.
            out.push((s, 128));
        }
    }
    out
}
