//! What crosses cores: the messages shards send each other, and the SPSC channels they
//! travel on (one per ordered shard pair, glommio's lock-free `shared_channel`).
//!
//! Every item from shard A to shard B goes through the one A→B channel, in order, batched
//! (a channel item is a `Vec` of messages: whatever A produced for B since its last send).
//! That single FIFO per pair is what keeps the guarantees simple:
//! - per-publisher order: a publisher lives on one shard, so its messages to B are in order;
//! - interest before messages: an interest change A sends before a barrier is installed on B
//!   before B acknowledges the barrier, so after the ack every publish on B sees it.
//!
//! Acknowledgements also ride on the batches themselves: each batch carries the sender's
//! mesh sequence at its last push to the receiver (`seq`) and the `seq` of the last batch
//! the sender applied from the receiver (`ack`). A barrier that the acknowledgements
//! already cover needs no round trip: a reply that comes back from the shard (or the
//! routes) that took the request carries the proof that the request was applied there.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use glommio::channels::shared_channel::{self, ConnectedSender, SharedReceiver, SharedSender};

use super::MsgRef;

/// Batches in flight per channel before the sender waits.
pub const CHANNEL_BATCHES: usize = 1024;

/// A message published on one shard for the subscribers of another.
///
/// Its bytes, `start..end` of the batch's shared buffer ([`ShardMsg::Msgs`]), hold subject,
/// reply, the size tokens as the publisher wrote them, and the header+payload: a slice of
/// the publishing shard's batch arena, shared by every destination shard. The buffer is
/// shared once per batch, not per message: a `Bytes` per message cost a reference count
/// update on each side, and the receiver's decrement (a locked instruction, waiting for the
/// payload copies before it to drain) was 5-7% of a routed 1 KiB run.
#[derive(Debug, Clone)]
pub struct CrossMsg {
    pub start: u32,
    pub end: u32,
    pub subj_len: u32,
    pub reply_len: u32,
    pub hdr_tok_len: u16,
    pub size_tok_len: u16,
    /// Header length within the payload (0 without headers).
    pub hdr_len: u32,
    /// Whether the message has headers (an HPUB), even when `hdr_len` is 0.
    pub has_hdr: bool,
    /// Deliver to the destination's plain subscriptions.
    pub plain: bool,
    /// Queue groups the destination must deliver to (one member each).
    pub queues: Vec<Bytes>,
}

impl CrossMsg {
    /// The message as delivery sees it, given its batch's buffer.
    pub fn view<'a>(&'a self, buf: &'a [u8]) -> MsgRef<'a> {
        let b = &buf[self.start as usize..self.end as usize];
        let s = self.subj_len as usize;
        let r = s + self.reply_len as usize;
        let h = r + self.hdr_tok_len as usize;
        let z = h + self.size_tok_len as usize;
        MsgRef {
            subject: &b[..s],
            reply: &b[s..r],
            hdr_tok: &b[r..h],
            size_tok: &b[h..z],
            hdr_len: self.hdr_len as usize,
            has_hdr: self.has_hdr,
            payload: &b[z..],
        }
    }
}

/// Hands `staged` (destination, message) pairs over grouped by destination, each group in
/// staging order, and leaves `staged` empty with its room kept. Groups become one
/// [`ShardMsg::Msgs`] each, so a batch costs one reference to its buffer per destination.
pub fn drain_by_destination(
    staged: &mut Vec<(u16, CrossMsg)>,
    mut each: impl FnMut(usize, Vec<CrossMsg>),
) {
    // Stable: per-destination order is publish order. Usually one destination (two
    // shards, or the routes), where the sort is a single pass.
    staged.sort_by_key(|(to, _)| *to);
    let mut it = staged.drain(..).peekable();
    while let Some((to, first)) = it.next() {
        let mut msgs = vec![first];
        while let Some((_, m)) = it.next_if(|(t, _)| *t == to) {
            msgs.push(m);
        }
        each(to as usize, msgs);
    }
}

/// One item on a shard-to-shard channel.
#[derive(Debug)]
pub enum ShardMsg {
    /// Messages to deliver, in order, all slices of `buf`.
    Msgs { buf: Bytes, msgs: Vec<CrossMsg> },
    /// The sender's interest in `subject` (and `queue`) changed by `delta`. Plain interest
    /// is sent only on 0↔1 transitions; queue interest on every change (it is a weight).
    Interest {
        subject: Bytes,
        queue: Option<Bytes>,
        delta: i32,
    },
    /// Acknowledge once everything before this has been applied.
    Barrier { id: u64 },
    /// The answer to a [`ShardMsg::Barrier`].
    BarrierAck { id: u64 },
    /// From the control shard (cluster only): what client INFO now says about the cluster.
    /// Shards send it as an async INFO to the clients that take one (spec AI-01).
    Cluster(Arc<ClusterView>),
}

/// The cluster as clients see it in INFO.
#[derive(Debug, Default)]
pub struct ClusterView {
    /// The cluster name (it may change once: a dynamic name adopts a peer's).
    pub name: String,
    /// This server's client URLs, then every peer's (empty until the first route).
    pub connect_urls: Vec<String>,
    /// How many of `connect_urls` are this server's: in lame duck mode clients are given
    /// only the others (spec AI-02).
    pub own_urls: usize,
}

/// A batch: one channel item.
#[derive(Debug, Default)]
pub struct Batch {
    pub msgs: Vec<ShardMsg>,
    /// The sender's mesh sequence at its last push to the receiver: everything the sender
    /// counted at or below it for the receiver is in this batch or an earlier one (staged
    /// messages are counted above every push, and each push flushes them first). The
    /// routes' member never waits on a barrier, and sends 0.
    pub seq: u64,
    /// The `seq` of the last batch the sender had applied from the receiver.
    pub ack: u64,
    /// Message bytes in the batch (see [`Inflight`]).
    pub bytes: usize,
}

/// Message bytes a sender has handed to one channel that its receiver has not applied
/// yet, shared by the two ends of that channel only (updated once per batch).
///
/// The channel holds [`CHANNEL_BATCHES`] batches of any size, so a receiver that stops
/// taking them (the routes' member holding back for a route far behind) would let a flood
/// pile up in it unbounded. A pump waits while more than [`INFLIGHT_MAX`] bytes are in
/// flight; then the outbox fills, and the publishers wait at its high-water mark.
pub type Inflight = Arc<std::sync::atomic::AtomicUsize>;

/// See [`Inflight`].
pub const INFLIGHT_MAX: usize = 16 * 1024 * 1024;

/// Moves one member's outbox for another into their channel, batch by batch, forever (or
/// until the receiver is gone): `take` is that outbox's [`Outboxes::poll_take`]. Waits
/// while more than [`INFLIGHT_MAX`] bytes sent are not applied yet; the receiver subtracts
/// each batch's bytes once it is done with it.
pub async fn pump(
    tx: &ConnectedSender<Batch>,
    inflight: &Inflight,
    mut take: impl FnMut(&mut Context<'_>) -> Poll<Batch>,
) {
    loop {
        super::poll_until(None, || inflight.load(Ordering::Acquire) <= INFLIGHT_MAX).await;
        let batch = std::future::poll_fn(&mut take).await;
        inflight.fetch_add(batch.bytes, Ordering::AcqRel);
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

/// The channel ends one shard owns before it connects them on its executor.
pub struct MeshEnds {
    /// `senders[j]` sends to shard j (`None` for itself).
    pub senders: Vec<Option<(SharedSender<Batch>, Inflight)>>,
    /// `receivers[i]` receives from shard i (`None` for itself).
    pub receivers: Vec<Option<(SharedReceiver<Batch>, Inflight)>>,
}

/// Creates the full mesh for `n` members (the client shards, plus the control shard when
/// clustering): `n * (n - 1)` SPSC channels.
pub fn build(n: usize) -> Vec<MeshEnds> {
    let mut ends: Vec<MeshEnds> = (0..n)
        .map(|_| MeshEnds {
            senders: (0..n).map(|_| None).collect(),
            receivers: (0..n).map(|_| None).collect(),
        })
        .collect();
    for from in 0..n {
        for to in 0..n {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(CHANNEL_BATCHES);
                let inflight = Inflight::default();
                ends[from].senders[to] = Some((tx, inflight.clone()));
                ends[to].receivers[from] = Some((rx, inflight));
            }
        }
    }
    ends
}

/// Messages queued for one other mesh member before a sender waits for its pump.
pub const OUTBOX_HIGH_WATER: usize = 64 * 1024;
/// Message bytes queued for one other mesh member before a sender waits for its pump
/// (with large messages the count alone allowed 64 MiB).
pub const OUTBOX_HIGH_WATER_BYTES: usize = 8 * 1024 * 1024;

/// The most messages a fresh outbox queue is given room for up front.
const OUTBOX_ROOM_MAX: usize = 4096;

/// A mesh member's outgoing queues, one per other member, each drained into its SPSC
/// channel by a pump task. Shared by the client shards and the route side of the control
/// shard, which send the same way.
pub struct Outboxes {
    queues: Vec<Vec<ShardMsg>>,
    /// Per member: messages (not items) and their bytes queued.
    counts: Vec<usize>,
    bytes: Vec<usize>,
    pump_wakers: Vec<Option<Waker>>,
    drain_waiters: Vec<Waker>,
    /// Per member: the owner's mesh sequence when it last queued something for it.
    pushed: Vec<u64>,
    /// Per member: the `seq` of the last batch applied from it (sent back as `ack`).
    applied_from: Vec<u64>,
    /// Per member: the highest of the owner's `seq`s it says it applied.
    acked_by: Vec<u64>,
}

impl Outboxes {
    /// Empty queues for `n` members (the slot of the owner itself stays unused).
    pub fn new(n: usize) -> Outboxes {
        Outboxes {
            queues: (0..n).map(|_| Vec::new()).collect(),
            counts: vec![0; n],
            bytes: vec![0; n],
            pump_wakers: (0..n).map(|_| None).collect(),
            drain_waiters: Vec::new(),
            pushed: vec![0; n],
            applied_from: vec![0; n],
            acked_by: vec![0; n],
        }
    }

    /// Queues `m` for member `to` at the owner's mesh sequence `seq`, waking its pump when
    /// the queue was empty.
    pub fn push(&mut self, to: usize, m: ShardMsg, seq: u64) {
        self.pushed[to] = seq;
        let (count, bytes) = match &m {
            ShardMsg::Msgs { msgs, .. } => (
                msgs.len(),
                msgs.iter().map(|c| (c.end - c.start) as usize).sum(),
            ),
            _ => (1, 0),
        };
        self.counts[to] += count;
        self.bytes[to] += bytes;
        let q = &mut self.queues[to];
        q.push(m);
        if q.len() == 1 {
            if let Some(w) = self.pump_wakers[to].take() {
                w.wake();
            }
        }
    }

    /// The pump's side: everything queued for `to`, stamped (see [`Batch`]), or pending
    /// until there is some.
    pub fn poll_take(&mut self, to: usize, cx: &mut Context<'_>) -> Poll<Batch> {
        if self.queues[to].is_empty() {
            self.pump_wakers[to] = Some(cx.waker().clone());
            return Poll::Pending;
        }
        // The batch's Vec leaves with it (the receiver frees it); the next one starts with
        // room for as many, instead of growing from empty by reallocations.
        self.counts[to] = 0;
        let bytes = std::mem::take(&mut self.bytes[to]);
        let room = self.queues[to].len().min(OUTBOX_ROOM_MAX);
        let msgs = std::mem::replace(&mut self.queues[to], Vec::with_capacity(room));
        for w in self.drain_waiters.drain(..) {
            w.wake();
        }
        Poll::Ready(Batch {
            msgs,
            seq: self.pushed[to],
            ack: self.applied_from[to],
            bytes,
        })
    }

    /// Records a batch from member `from`: what it acknowledges, and (call once the batch
    /// is applied) its `seq`, to acknowledge back.
    pub fn acked(&mut self, from: usize, ack: u64) {
        self.acked_by[from] = self.acked_by[from].max(ack);
    }

    /// See [`Outboxes::acked`].
    pub fn applied(&mut self, from: usize, seq: u64) {
        self.applied_from[from] = seq;
    }

    /// Whether every other member is known to have applied everything the owner queued
    /// for it at sequence `need` or before (`me` is the owner's own slot).
    pub fn covers(&self, me: usize, need: u64) -> bool {
        (0..self.queues.len())
            .filter(|&j| j != me)
            .all(|j| self.acked_by[j] >= need.min(self.pushed[j]))
    }

    /// Ready while every queue is under [`OUTBOX_HIGH_WATER`]; otherwise pending until a
    /// pump drains one.
    pub fn poll_below_high_water(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.counts.iter().all(|&c| c < OUTBOX_HIGH_WATER)
            && self.bytes.iter().all(|&b| b < OUTBOX_HIGH_WATER_BYTES)
        {
            Poll::Ready(())
        } else {
            self.drain_waiters.push(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Messages queued over all members.
    pub fn depth(&self) -> usize {
        self.counts.iter().sum()
    }
}
