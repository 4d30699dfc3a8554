//! Counters for monitoring, gathered without slowing the hot path.
//!
//! Each shard counts in plain `Cell`s (no atomics per message) and publishes its running
//! totals into its own [`ShardStats`] once per batch (one relaxed store per counter). The
//! control shard reads and sums them for `/varz`, `/shardz` and `/metrics`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A shard's published totals. Written only by its shard, read by the control shard.
/// Aligned so two shards' counters never share a cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardStats {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub connections: AtomicU64,
    pub total_connections: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub stale_connections: AtomicU64,
    pub subscriptions: AtomicU64,
    /// Messages this shard sent to other shards.
    pub cross_out_msgs: AtomicU64,
    /// Messages this shard received from other shards.
    pub cross_in_msgs: AtomicU64,
    /// Items waiting in this shard's outboxes at the last publish.
    pub outbox_depth: AtomicU64,
    /// Nanoseconds spent processing client reads and other shards' batches.
    pub busy_ns: AtomicU64,
}

/// The shard-local running totals.
#[derive(Debug, Default)]
pub struct LocalStats {
    pub in_msgs: Cell<u64>,
    pub in_bytes: Cell<u64>,
    pub out_msgs: Cell<u64>,
    pub out_bytes: Cell<u64>,
    pub connections: Cell<u64>,
    pub total_connections: Cell<u64>,
    pub slow_consumers: Cell<u64>,
    pub stale_connections: Cell<u64>,
    pub cross_out_msgs: Cell<u64>,
    pub cross_in_msgs: Cell<u64>,
    pub busy_ns: Cell<u64>,
}

/// Adds `n` to a counter cell.
#[inline]
pub fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

impl LocalStats {
    /// Stores the running totals into `to` (called once per batch).
    pub fn publish(&self, to: &ShardStats, subscriptions: u64, outbox_depth: u64) {
        to.in_msgs.store(self.in_msgs.get(), Relaxed);
        to.in_bytes.store(self.in_bytes.get(), Relaxed);
        to.out_msgs.store(self.out_msgs.get(), Relaxed);
        to.out_bytes.store(self.out_bytes.get(), Relaxed);
        to.connections.store(self.connections.get(), Relaxed);
        to.total_connections
            .store(self.total_connections.get(), Relaxed);
        to.slow_consumers.store(self.slow_consumers.get(), Relaxed);
        to.stale_connections
            .store(self.stale_connections.get(), Relaxed);
        to.cross_out_msgs.store(self.cross_out_msgs.get(), Relaxed);
        to.cross_in_msgs.store(self.cross_in_msgs.get(), Relaxed);
        to.busy_ns.store(self.busy_ns.get(), Relaxed);
        to.subscriptions.store(subscriptions, Relaxed);
        to.outbox_depth.store(outbox_depth, Relaxed);
    }
}

/// Sums of every shard's totals.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub connections: u64,
    pub total_connections: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
    pub subscriptions: u64,
}

/// Adds up all shards.
pub fn totals(all: &[ShardStats]) -> Totals {
    let mut t = Totals::default();
    for s in all {
        t.in_msgs += s.in_msgs.load(Relaxed);
        t.in_bytes += s.in_bytes.load(Relaxed);
        t.out_msgs += s.out_msgs.load(Relaxed);
        t.out_bytes += s.out_bytes.load(Relaxed);
        t.connections += s.connections.load(Relaxed);
        t.total_connections += s.total_connections.load(Relaxed);
        t.slow_consumers += s.slow_consumers.load(Relaxed);
        t.stale_connections += s.stale_connections.load(Relaxed);
        t.subscriptions += s.subscriptions.load(Relaxed);
    }
    t
}
