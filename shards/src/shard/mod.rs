//! One shard: the state a pinned core owns, and message delivery.
//!
//! # What a shard owns
//! - the client connections its listener accepted ([`conn`]; their TLS in [`handshake`], their
//!   CONNECT and authentication in [`connect`], and what a reload does to them in `reauth` and
//!   [`housekeeping`]),
//! - its subscriptions and their index (`local`),
//! - its copy of the other shards' interest (`remote`), built from their `Interest` messages,
//! - one outbox per other shard, drained by a pump task into the SPSC channel ([`mesh`]).
//!
//! Nothing here is shared with another core; all of it sits in one `RefCell` that is never
//! borrowed across an `.await`.
//!
//! # Delivery
//! A publish is matched against `local` (delivered right away into each subscriber's
//! outbound buffer) and against `remote` (one [`mesh::CrossMsg`] per interested shard,
//! sharing one `Bytes`). A queue group picks exactly one member across all shards: the
//! publishing shard draws among its local members and the other shards' member counts, and
//! names the group in the message to the shard it drew.
//!
//! # Routes
//! With a `cluster {}` block the control shard joins the mesh as one more member (id
//! `nshards`, see [`crate::route`]): it receives every shard's interest transitions and
//! publishes for remote servers, and sends the routes' aggregated interest and routed
//! messages like any other member. Without one, `members == nshards` and nothing changes.

pub mod conn;
pub mod connect;
pub mod control;
pub mod handshake;
pub mod housekeeping;
pub mod mesh;
mod reauth;
pub mod stream;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasherDefault;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_lite::future::poll_fn;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use rustc_hash::FxHasher;
use slab::Slab;

use crate::options::Options;
use crate::stats;
use crate::sublist::{MatchResult, Sublist};
use conn::Conn;
use mesh::{Batch, CrossMsg, Inflight, Outboxes, ShardMsg};

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Arena size at which staged cross-shard messages are flushed before the batch ends.
pub(crate) const ARENA_FLUSH: usize = 256 * 1024;
/// The least a fresh arena is given room for.
pub(crate) const ARENA_MIN: usize = 4 * 1024;

/// Process-wide, read-mostly state. The counters are touched per connection, never per
/// message.
pub struct Shared {
    /// The options in force: replaced whole by a reload (SIGHUP), read by the shards once
    /// per [`OPTS_POLL`] and by the monitor per request, never per message.
    current: RwLock<Arc<Options>>,
    /// Bumped by every reload, so a shard notices with one relaxed load.
    opts_gen: AtomicU64,
    /// The reload generation each mesh member has put in force (clients re-judged, limits
    /// applied, routes changed), so a reload can wait for all of them as nats-server's
    /// does. Indexed like the mesh: client shards, then the control shard's router.
    pub opts_applied: Vec<AtomicU64>,
    /// Lame duck mode (spec AI-02), driven by the binary's signal handling.
    pub ldm: LameDuck,
    pub server_id: String,
    pub server_name: String,
    /// The client port actually bound (differs from `opts.port` for `-p -1`).
    pub port: u16,
    pub nshards: usize,
    /// Mesh members: the client shards, plus the control shard (id `nshards`) when the
    /// server is part of a cluster.
    pub members: usize,
    /// `client_advertise` as (host, port): what INFO and peers' `connect_urls` show.
    pub client_advertise: Option<(String, u16)>,
    /// Next client id (spec CL-08, TC-01).
    pub next_cid: AtomicU64,
    /// Open client connections over all shards, for `max_connections`.
    pub num_clients: AtomicUsize,
    /// Clients still to close because a reload lowered `max_connections` below the number
    /// open: each shard takes from it for its own clients until it is 0.
    pub over_max: AtomicUsize,
    /// Each shard's published counters (index = shard id).
    pub stats: Vec<crate::stats::ShardStats>,
    /// When the server started.
    pub start: std::time::SystemTime,
    /// The TLS configurations in force (client and HTTPS monitor), when `tls` is set.
    pub tls: crate::tls::TlsSwap,
    /// The route TLS configuration in force, when `cluster { tls {} }` is set; a reload
    /// replaces it and the router takes it with the new options.
    route_tls: RwLock<Option<Arc<crate::tls::RouteTlsConfigs>>>,
}

impl Shared {
    /// Process-wide state for a server starting with `opts`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        opts: Options,
        server_id: String,
        server_name: String,
        port: u16,
        nshards: usize,
        tls: crate::tls::TlsSwap,
        members: usize,
        client_advertise: Option<(String, u16)>,
    ) -> Shared {
        Shared {
            current: RwLock::new(Arc::new(opts)),
            opts_gen: AtomicU64::new(0),
            opts_applied: (0..members).map(|_| AtomicU64::new(0)).collect(),
            ldm: LameDuck::default(),
            server_id,
            server_name,
            port,
            nshards,
            next_cid: AtomicU64::new(1),
            num_clients: AtomicUsize::new(0),
            over_max: AtomicUsize::new(0),
            stats: (0..nshards).map(|_| Default::default()).collect(),
            start: std::time::SystemTime::now(),
            tls,
            route_tls: RwLock::new(None),
            members,
            client_advertise,
        }
    }

    /// The reload generation: bumped by every [`Shared::set_opts`].
    pub fn opts_generation(&self) -> u64 {
        self.opts_gen.load(Ordering::Acquire)
    }

    /// The route TLS configuration in force.
    pub fn route_tls(&self) -> Option<Arc<crate::tls::RouteTlsConfigs>> {
        self.route_tls
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the route TLS configuration (start-up and reload, before the options).
    pub fn set_route_tls(&self, t: Option<Arc<crate::tls::RouteTlsConfigs>>) {
        *self.route_tls.write().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// The options in force now.
    pub fn opts(&self) -> Arc<Options> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the options (a reload). The caller has checked that only reloadable
    /// settings changed; each shard picks the new ones up within [`OPTS_POLL`].
    pub fn set_opts(&self, opts: Options) -> u64 {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(opts);
        self.opts_gen.fetch_add(1, Ordering::Release) + 1
    }
}

/// Lame duck mode's progress, set by the binary and acted on by every shard.
#[derive(Default)]
pub struct LameDuck {
    /// Entered: listeners close, clients get an INFO with `ldm:true`.
    pub entered: AtomicBool,
    /// Shards whose listener is closed.
    pub listeners_closed: AtomicUsize,
    /// Set after the grace period: the nanoseconds over which clients are to be closed.
    pub close_over_ns: AtomicU64,
}

/// How often a shard looks for new options and lame duck mode.
pub const OPTS_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// A message as the delivery code sees it, wherever it came from.
#[derive(Clone, Copy)]
pub struct MsgRef<'a> {
    pub subject: &'a [u8],
    pub reply: &'a [u8],
    pub hdr_tok: &'a [u8],
    pub size_tok: &'a [u8],
    pub hdr_len: usize,
    pub has_hdr: bool,
    pub payload: &'a [u8],
}

/// A subscription owned by this shard.
pub struct Sub {
    pub conn: Rc<Conn>,
    pub sid: Box<[u8]>,
    pub subject: Bytes,
    pub queue: Option<Bytes>,
    /// Auto-unsubscribe after this many deliveries (0 = never).
    pub max: u64,
    /// Whether deliveries are checked against the owner's deny-subscribe list: a wildcard or
    /// queue subscription that overlaps a denied subject (AU-04).
    pub deny_check: bool,
    pub delivered: u64,
}

/// Subscription key in the shard's slab.
pub type SubKey = u32;

/// What a shard owns, behind one `RefCell`.
pub struct State {
    pub subs: Slab<Sub>,
    pub local: Sublist<SubKey>,
    pub remote: Sublist<u16>,
    /// Local subscription count per (subject, queue), to send interest transitions.
    interest: FxMap<(Bytes, Option<Bytes>), u32>,
    outbox: Outboxes,
    next_barrier: u64,
    /// What the control shard last said about the cluster (client INFO `cluster` and
    /// `connect_urls`); `None` until it does.
    pub cluster: Option<Arc<mesh::ClusterView>>,
    barriers: FxMap<u64, (usize, Option<Waker>)>,
    /// Mesh sequence: interest changes and cross-shard publishes sent so far. A barrier
    /// started at sequence N proves every other shard applied everything up to N.
    interest_seq: u64,
    /// Every interest change up to this one is known to be applied on all other shards.
    interest_acked: u64,
    pub conns: FxMap<u64, Rc<Conn>>,
    /// Recently closed connections for `/connz?state=closed`, oldest first.
    pub closed: std::collections::VecDeque<control::ConnInfo>,
    /// Payload bytes of this batch's messages for other shards, frozen into one `Bytes`.
    arena: BytesMut,
    /// Messages for other shards waiting for the end of the batch (destination, message),
    /// their bytes in `arena`.
    staged: Vec<(u16, CrossMsg)>,
}

/// One shard.
pub struct Shard {
    pub id: usize,
    pub shared: Arc<Shared>,
    /// This shard's copy of the options in force, and the reload generation it came from.
    opts: RefCell<Rc<Options>>,
    opts_gen: Cell<u64>,
    pub st: RefCell<State>,
    rng: Cell<u64>,
    /// Set by [`Shard::publish`] when the message went to other shards: the sequence number
    /// the publisher's next reply must wait for.
    pub publisher_need: Cell<u64>,
    /// Running counters, published to `shared.stats[id]` once per batch.
    pub local: crate::stats::LocalStats,
    /// A subscriber a delivery left more than 3/4 full (see [`Shard::stall`]).
    behind: RefCell<Option<Rc<Conn>>>,
}

impl Shard {
    /// A shard with empty state.
    pub fn new(id: usize, shared: Arc<Shared>) -> Rc<Shard> {
        let n = shared.members;
        Rc::new(Shard {
            id,
            opts: RefCell::new(Rc::new((*shared.opts()).clone())),
            opts_gen: Cell::new(shared.opts_gen.load(Ordering::Acquire)),
            st: RefCell::new(State {
                subs: Slab::new(),
                local: Sublist::new(),
                remote: Sublist::new(),
                interest: FxMap::default(),
                outbox: Outboxes::new(n),
                next_barrier: 0,
                cluster: None,
                barriers: FxMap::default(),
                interest_seq: 0,
                interest_acked: 0,
                conns: FxMap::default(),
                closed: Default::default(),
                arena: BytesMut::new(),
                staged: Vec::new(),
            }),
            publisher_need: Cell::new(0),
            local: Default::default(),
            behind: RefCell::new(None),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) << 32) ^ seed()),
            shared,
        })
    }

    /// The options in force on this shard.
    pub fn opts(&self) -> Rc<Options> {
        self.opts.borrow().clone()
    }

    /// Takes a reload's options if there is one; returns whether they changed.
    pub fn refresh_opts(&self) -> bool {
        let gen = self.shared.opts_gen.load(Ordering::Acquire);
        if gen == self.opts_gen.get() {
            return false;
        }
        self.opts_gen.set(gen);
        let opts = Rc::new((*self.shared.opts()).clone());
        let conns: Vec<Rc<Conn>> = self.st.borrow().conns.values().cloned().collect();
        for c in conns {
            c.set_trace(opts.trace);
        }
        *self.opts.borrow_mut() = opts;
        true
    }

    /// Whether anyone else needs this shard's interest (other shards, or the routes).
    fn multi(&self) -> bool {
        self.shared.members > 1
    }

    /// A cheap per-shard random number (xorshift): queue member choice needs no more.
    pub fn rand(&self, n: usize) -> usize {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % n as u64) as usize
    }

    fn push_out(&self, st: &mut State, to: usize, m: ShardMsg) {
        if !matches!(m, ShardMsg::Msgs { .. }) {
            // Keep order: messages published before this item go first.
            self.flush_staged_locked(st);
        }
        let seq = st.interest_seq;
        st.outbox.push(to, m, seq);
    }

    fn broadcast_interest(
        &self,
        st: &mut State,
        subject: &Bytes,
        queue: &Option<Bytes>,
        delta: i32,
    ) {
        st.interest_seq += 1;
        for to in 0..self.shared.members {
            if to != self.id {
                let m = ShardMsg::Interest {
                    subject: subject.clone(),
                    queue: queue.clone(),
                    delta,
                };
                self.push_out(st, to, m);
            }
        }
    }

    /// Adds a subscription; returns false if the subject is invalid.
    pub fn add_sub(
        &self,
        conn: &Rc<Conn>,
        sid: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
        deny_check: bool,
    ) -> Option<SubKey> {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let entry = st.subs.vacant_entry();
        let key = entry.key() as SubKey;
        if !st.local.insert(subject, queue, key) {
            return None;
        }
        let subject = Bytes::copy_from_slice(subject);
        let queue = queue.map(Bytes::copy_from_slice);
        entry.insert(Sub {
            conn: conn.clone(),
            sid: sid.into(),
            subject: subject.clone(),
            queue: queue.clone(),
            max: 0,
            delivered: 0,
            deny_check,
        });
        if self.multi() {
            let count = st
                .interest
                .entry((subject.clone(), queue.clone()))
                .or_insert(0);
            *count += 1;
            if queue.is_some() || *count == 1 {
                self.broadcast_interest(st, &subject, &queue, 1);
            }
            // Even without a broadcast of its own, this subscription relies on the one that
            // made the shard interested, which may still be in flight.
            conn.st.borrow_mut().interest_need = st.interest_seq;
        }
        Some(key)
    }

    /// Removes a subscription from the index and the other shards' view.
    /// The caller removes it from the connection's own sid map.
    pub fn remove_sub(&self, key: SubKey) {
        let mut st = self.st.borrow_mut();
        self.remove_sub_locked(&mut st, key);
    }

    fn remove_sub_locked(&self, st: &mut State, key: SubKey) {
        let Some(sub) = st.subs.try_remove(key as usize) else {
            return;
        };
        st.local.remove(&sub.subject, sub.queue.as_deref(), key);
        if self.multi() {
            let k = (sub.subject.clone(), sub.queue.clone());
            let mut send = sub.queue.is_some();
            if let Some(c) = st.interest.get_mut(&k) {
                *c -= 1;
                if *c == 0 {
                    st.interest.remove(&k);
                    send = true;
                }
            }
            if send {
                self.broadcast_interest(st, &sub.subject, &sub.queue, -1);
            }
        }
    }

    /// Writes one message to a subscription. Returns whether it was delivered.
    fn deliver(&self, st: &mut State, key: SubKey, m: &MsgRef) -> bool {
        let Some(sub) = st.subs.get_mut(key as usize) else {
            return false;
        };
        if sub.max > 0 && sub.delivered >= sub.max {
            return false;
        }
        if sub.deny_check && sub.conn.delivery_denied(m.subject, sub.queue.as_deref()) {
            return false;
        }
        sub.delivered += 1;
        let done = sub.max > 0 && sub.delivered >= sub.max;
        if done {
            log::debug!(
                "{} - Auto-unsubscribe limit of {} reached for sid '{}'",
                sub.conn.prefix(),
                sub.max,
                String::from_utf8_lossy(&sub.sid)
            );
        }
        let ok = sub.conn.send_msg(&self.opts.borrow(), m, &sub.sid);
        if ok && sub.conn.behind.get() {
            *self.behind.borrow_mut() = Some(sub.conn.clone());
        }
        if ok && !m.reply.is_empty() && sub.conn.track_replies.get() {
            sub.conn.track_reply(m.reply);
        }
        if ok {
            stats::add(&self.local.out_msgs, 1);
            let len = if m.has_hdr && sub.conn.st.borrow().headers {
                m.payload.len()
            } else {
                m.payload.len() - m.hdr_len
            };
            stats::add(&self.local.out_bytes, len as u64);
        }
        if done {
            let conn = sub.conn.clone();
            let sid = sub.sid.clone();
            conn.trace_delsub(&sid);
            conn.st.borrow_mut().subs.remove(&sid);
            self.remove_sub_locked(st, key);
        }
        ok
    }

    /// Delivers to one member of a local queue group, trying the next on failure
    /// (nats-server's DS-02). `skip` filters out echo-suppressed members.
    fn deliver_queue(
        &self,
        st: &mut State,
        members: &[(SubKey, u32)],
        m: &MsgRef,
        skip: Option<u64>,
    ) -> bool {
        if members.is_empty() {
            return false;
        }
        let start = self.rand(members.len());
        for i in 0..members.len() {
            let key = members[(start + i) % members.len()].0;
            if let (Some(cid), Some(sub)) = (skip, st.subs.get(key as usize)) {
                if sub.conn.cid == cid {
                    continue;
                }
            }
            if self.deliver(st, key, m) {
                return true;
            }
        }
        false
    }

    /// Routes a message published by a client of this shard. `skip_cid` is the publisher
    /// when it asked for no echo. Returns whether anyone (here or on another shard) got it.
    pub fn publish(&self, m: &MsgRef, skip_cid: Option<u64>) -> bool {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let r = st.local.matches(m.subject);
        let mut delivered = false;
        for &(key, _) in &r.plain {
            if let Some(cid) = skip_cid {
                if st.subs.get(key as usize).map(|s| s.conn.cid) == Some(cid) {
                    continue;
                }
            }
            delivered |= self.deliver(st, key, m);
        }
        if !self.multi() {
            for g in &r.queues {
                delivered |= self.deliver_queue(st, &g.members, m, skip_cid);
            }
            return delivered;
        }
        let rr = st.remote.matches(m.subject);
        if rr.is_empty() {
            for g in &r.queues {
                delivered |= self.deliver_queue(st, &g.members, m, skip_cid);
            }
            return delivered;
        }
        // Per destination member: deliver to plain subs (a bit each)? which queue groups?
        let n = self.shared.members;
        let mut plain: u128 = 0;
        for &(shard, _) in &rr.plain {
            plain |= 1 << shard;
        }
        let mut queues: Vec<(u16, Bytes)> = Vec::new();
        if !r.queues.is_empty() || !rr.queues.is_empty() {
            self.pick_queues(st, &r, &rr, m, skip_cid, &mut queues, &mut delivered);
        }
        let mut range: Option<(usize, usize)> = None;
        let mut cross = false;
        for to in 0..n {
            let to_plain = plain & (1 << to) != 0;
            let has_q = queues.iter().any(|(s, _)| *s as usize == to);
            if !to_plain && !has_q {
                continue;
            }
            // The message is copied once into the batch arena, whatever the fan-out.
            let (start, end) = *range.get_or_insert_with(|| {
                let start = st.arena.len();
                for part in [m.subject, m.reply, m.hdr_tok, m.size_tok, m.payload] {
                    st.arena.extend_from_slice(part);
                }
                (start, st.arena.len())
            });
            let mut msg = CrossMsg {
                start: start as u32,
                end: end as u32,
                subj_len: m.subject.len() as u32,
                reply_len: m.reply.len() as u32,
                hdr_tok_len: m.hdr_tok.len() as u16,
                size_tok_len: m.size_tok.len() as u16,
                hdr_len: m.hdr_len as u32,
                has_hdr: m.has_hdr,
                plain: to_plain,
                queues: Vec::new(),
            };
            if has_q {
                msg.queues = queues
                    .iter()
                    .filter(|(s, _)| *s as usize == to)
                    .map(|(_, q)| q.clone())
                    .collect();
            }
            st.staged.push((to as u16, msg));
            delivered = true;
            cross = true;
        }
        if cross {
            // Like an interest change, a message sent to other shards is something a later
            // reply to the publisher must not overtake (see `barrier`).
            st.interest_seq += 1;
            self.publisher_need.set(st.interest_seq);
        }
        if st.arena.len() >= ARENA_FLUSH {
            self.flush_staged_locked(st);
        }
        delivered
    }

    /// Moves the messages staged by this batch of publishes into the outboxes, each a slice
    /// of one shared `Bytes`. Called at the end of every read and before anything else is
    /// queued for another shard, so per-source order holds.
    pub fn flush_staged(&self) {
        let mut st = self.st.borrow_mut();
        self.flush_staged_locked(&mut st);
    }

    fn flush_staged_locked(&self, st: &mut State) {
        if st.staged.is_empty() {
            return;
        }
        let frozen = st.arena.split().freeze();
        // The next batch gets room for as much as this one held: growing the arena from
        // empty copied it over and over (realloc was 6% of a routed 1 KiB run).
        st.arena.reserve(frozen.len().clamp(ARENA_MIN, ARENA_FLUSH));
        // Drained and put back, not dropped: a fresh Vec per batch grew (reallocating, and
        // faulting in new pages) to the batch's message count every time.
        let mut staged = std::mem::take(&mut st.staged);
        mesh::drain_by_destination(&mut staged, |to, msgs| {
            stats::add(&self.local.cross_out_msgs, msgs.len() as u64);
            let buf = frozen.clone();
            self.push_out(st, to, ShardMsg::Msgs { buf, msgs });
        });
        st.staged = staged;
    }

    /// Chooses one member per queue group among local members and other shards' weights.
    #[allow(clippy::too_many_arguments)]
    fn pick_queues(
        &self,
        st: &mut State,
        r: &MatchResult<SubKey>,
        rr: &MatchResult<u16>,
        m: &MsgRef,
        skip_cid: Option<u64>,
        queues: &mut Vec<(u16, Bytes)>,
        delivered: &mut bool,
    ) {
        for g in &r.queues {
            let local: u32 = g.members.iter().map(|x| x.1).sum();
            let remote = rr.queues.iter().find(|q| q.name == g.name);
            let rw: u32 = remote
                .map(|q| q.members.iter().map(|x| x.1).sum())
                .unwrap_or(0);
            let pick = self.rand((local + rw) as usize) as u32;
            if pick < local {
                if self.deliver_queue(st, &g.members, m, skip_cid) {
                    *delivered = true;
                    continue;
                }
                // Every local member failed (echo, closed): fall through to a remote one.
                if rw == 0 {
                    continue;
                }
            }
            if let Some(q) = remote {
                let shard = pick_weighted(&q.members, self.rand(rw as usize) as u32);
                queues.push((shard, Bytes::copy_from_slice(&g.name)));
            }
        }
        for q in &rr.queues {
            if r.queues.iter().any(|g| g.name == q.name) {
                continue;
            }
            let rw: u32 = q.members.iter().map(|x| x.1).sum();
            let shard = pick_weighted(&q.members, self.rand(rw as usize) as u32);
            queues.push((shard, Bytes::copy_from_slice(&q.name)));
        }
    }

    /// Delivers a message that another shard routed here.
    fn deliver_cross(&self, buf: &[u8], cm: &CrossMsg) {
        let m = cm.view(buf);
        let subject = m.subject;
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let r = st.local.matches(subject);
        if cm.plain {
            for &(key, _) in &r.plain {
                self.deliver(st, key, &m);
            }
        }
        for name in &cm.queues {
            if let Some(g) = r.queues.iter().find(|g| *g.name == **name) {
                self.deliver_queue(st, &g.members, &m, None);
            }
        }
    }

    /// Publishes this shard's counters for the control shard (once per batch).
    pub fn publish_stats(&self) {
        let st = self.st.borrow();
        let depth = st.outbox.depth();
        self.local.publish(
            &self.shared.stats[self.id],
            st.subs.len() as u64,
            depth as u64,
        );
    }

    /// Applies one batch from shard `from`.
    pub fn apply_batch(&self, from: usize, batch: Batch) {
        self.st.borrow_mut().outbox.acked(from, batch.ack);
        for m in batch.msgs {
            match m {
                ShardMsg::Msgs { buf, msgs } => {
                    stats::add(&self.local.cross_in_msgs, msgs.len() as u64);
                    for cm in &msgs {
                        self.deliver_cross(&buf, cm);
                    }
                }
                ShardMsg::Interest {
                    subject,
                    queue,
                    delta,
                } => {
                    let mut st = self.st.borrow_mut();
                    // Shards send ±1; the routes' member sends queue weights, which move
                    // by any amount.
                    for _ in 0..delta.unsigned_abs() {
                        if delta > 0 {
                            st.remote.insert(&subject, queue.as_deref(), from as u16);
                        } else {
                            st.remote.remove(&subject, queue.as_deref(), from as u16);
                        }
                    }
                }
                ShardMsg::Cluster(view) => {
                    self.st.borrow_mut().cluster = Some(view);
                    conn::send_async_info(self);
                }
                ShardMsg::Barrier { id } => {
                    let mut st = self.st.borrow_mut();
                    self.push_out(&mut st, from, ShardMsg::BarrierAck { id });
                }
                ShardMsg::BarrierAck { id } => {
                    let mut st = self.st.borrow_mut();
                    if let Some(b) = st.barriers.get_mut(&id) {
                        b.0 -= 1;
                        if b.0 == 0 {
                            if let Some(w) = b.1.take() {
                                w.wake();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Waits until every other shard has applied everything this shard sent before now.
    /// A connection's writer calls it before writing anything that follows a SUB.
    /// Does nothing when everything up to `need` (an interest sequence number) is known
    /// to be applied already.
    pub async fn barrier(&self, need: u64) {
        if !self.multi() || self.st.borrow().interest_acked >= need {
            return;
        }
        {
            // Acknowledgements that came back on batches (a reply from the member that
            // took the request) may already cover it: no round trip then. Staged
            // messages go out first, so `covers` judges what was really queued.
            let mut st = self.st.borrow_mut();
            self.flush_staged_locked(&mut st);
            if st.outbox.covers(self.id, need) {
                st.interest_acked = st.interest_acked.max(need);
                return;
            }
        }
        let (id, covers) = {
            let mut st = self.st.borrow_mut();
            let covers = st.interest_seq;
            let id = st.next_barrier;
            st.next_barrier += 1;
            st.barriers.insert(id, (self.shared.members - 1, None));
            for to in 0..self.shared.members {
                if to != self.id {
                    self.push_out(&mut st, to, ShardMsg::Barrier { id });
                }
            }
            (id, covers)
        };
        poll_fn(|cx| {
            let mut st = self.st.borrow_mut();
            let b = st.barriers.get_mut(&id).expect("barrier registered");
            if b.0 == 0 {
                st.barriers.remove(&id);
                st.interest_acked = st.interest_acked.max(covers);
                Poll::Ready(())
            } else {
                b.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Waits while any outbox is over its high-water mark (the other shard is behind).
    pub async fn wait_outbox(&self) {
        poll_fn(|cx| self.st.borrow_mut().outbox.poll_below_high_water(cx)).await
    }

    /// Moves this shard's outbox for `to` into the channel, batch by batch, forever.
    pub async fn pump(self: Rc<Self>, to: usize, tx: ConnectedSender<Batch>, inflight: Inflight) {
        mesh::pump(&tx, &inflight, |cx| {
            self.st.borrow_mut().outbox.poll_take(to, cx)
        })
        .await
    }

    /// Applies batches from shard `from`, forever.
    pub async fn receive(
        self: Rc<Self>,
        from: usize,
        rx: ConnectedReceiver<Batch>,
        inflight: Inflight,
    ) {
        while let Some(batch) = rx.recv().await {
            let t = std::time::Instant::now();
            let seq = batch.seq;
            let bytes = batch.bytes;
            self.apply_batch(from, batch);
            self.st.borrow_mut().outbox.applied(from, seq);
            stats::add(&self.local.busy_ns, t.elapsed().as_nanos() as u64);
            self.publish_stats();
            // Back-pressure across shards: a batch that filled a subscriber waits for it,
            // the channel fills, and the publishers' shard stalls them at its outbox.
            self.stall().await;
            inflight.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

fn pick_weighted(members: &[(u16, u32)], mut r: u32) -> u16 {
    for &(shard, w) in members {
        if r < w {
            return shard;
        }
        r -= w;
    }
    members.last().map(|m| m.0).unwrap_or(0)
}

fn seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

impl Shard {
    /// nats-server's fast producer stall: when a delivery left a subscriber more than 3/4
    /// of `max_pending` behind, the publishing side (a client's reader, or the receiver of
    /// another shard's batches) waits up to [`STALL_MAX`] for it to drain below that before
    /// going on, instead of burying it until it is closed as a slow consumer.
    pub async fn stall(&self) {
        let Some(c) = self.behind.borrow_mut().take() else {
            return;
        };
        poll_until(Some(std::time::Instant::now() + STALL_MAX), || {
            let st = c.st.borrow();
            st.closing.is_some() || !far_behind(st.out.len() + st.inflight, self.opts().max_pending)
        })
        .await
    }
}

/// Whether `pending` output bytes are more than 3/4 of `max_pending`, where nats-server's
/// fast producer stall starts (client.go `queueOutbound`): for clients and routes alike.
pub(crate) fn far_behind(pending: usize, max_pending: usize) -> bool {
    pending > max_pending / 4 * 3
}

/// Returns once `done` says so, or once `until` has passed; looks every [`STALL_POLL`].
/// The back-pressure waits (a stalled publisher, a router holding a batch for a route, a
/// pump over its bytes in flight) poll: what they wait on lives on another connection's
/// writer or another core, which has no waker to give.
pub(crate) async fn poll_until(until: Option<std::time::Instant>, mut done: impl FnMut() -> bool) {
    while !done() && until.is_none_or(|t| std::time::Instant::now() < t) {
        glommio::timer::sleep(STALL_POLL).await;
    }
}

/// The longest a publisher is stalled for one read (nats-server: `stallTotalAllowed`).
const STALL_MAX: std::time::Duration = std::time::Duration::from_millis(10);
/// How often a stalled publisher looks at its subscriber again (see [`poll_until`]).
const STALL_POLL: std::time::Duration = std::time::Duration::from_micros(500);

/// A future that yields once to the executor (lets woken tasks run).
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
