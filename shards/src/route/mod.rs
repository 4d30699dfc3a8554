//! Clustering: the routes to other servers, run by the control shard (spec §7).
//!
//! # Who owns what
//! The [`Router`] lives on the control shard and owns every route connection, the
//! client shards' interest as the cluster must see it, and the routes' interest as the
//! shards must see it. It is a member of the shard mesh (id `nshards`, see
//! [`crate::shard::mesh`]), so it talks to the shards with the same `ShardMsg`s they send
//! each other, over the same SPSC channels:
//!
//! - shard → router: `Interest` transitions (aggregated here over all shards; RS+/RS- go out
//!   on the cluster-wide 0↔1 transitions, and on every change of a queue weight: RF-01,
//!   TC-02), `Msg` for remote servers (one RMSG per interested server: RF-02, with the
//!   queue groups the publisher drew for the routes: RF-04), and `Barrier`s (acknowledged
//!   after everything before them was applied, so a client's PONG after SUB means the RS+ is
//!   queued on every route).
//! - router → shard: `Interest` of "the routes" as one member (plain: 0↔1 over all routes;
//!   queue: the sum of the routes' weights), `Msg` for messages routes sent us (never
//!   forwarded to another route: RF-03), and `Cluster` when the client INFO's cluster name
//!   or `connect_urls` change (AI-01).
//!
//! # Layout
//! - [`proto`]: the route wire protocol, no I/O.
//! - [`info`]: the route INFO and CONNECT documents.
//! - [`conn`]: one route connection (reader, writer, pinger).
//! - `ops`: what a route says: the handshake, gossip, interest and messages.
//! - [`solicit`]: dialling explicit and gossiped routes, and reconnecting them.
//! - `reload`: putting a reloaded `cluster {}` block in force (spec §4.7).
//! - [`tls`]: the TLS handshake that starts every route when `cluster { tls {} }` is set.

pub mod conn;
pub mod info;
mod ops;
pub mod proto;
mod reload;
pub mod solicit;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_lite::future::poll_fn;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use log::{debug, error};
use rustc_hash::FxHasher;
use slab::Slab;

use crate::options::{join_host_port, ClusterOpts, SubjectPerm, WritePolicy};
use crate::shard::mesh::{Batch, ClusterView, CrossMsg, Inflight, Outboxes, ShardMsg};
use crate::shard::Shared;
use crate::subject;
use crate::sublist::Sublist;
use conn::Route;
use info::RouteInfo;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Interest key: subject and queue group.
type Key = (Bytes, Option<Bytes>);

/// The router's mutable state; never borrowed across an `.await`.
pub struct RouterState {
    /// Every route connection, handshaking or registered; the slab key is the route's
    /// value in `route_subs`.
    pub routes: Slab<Rc<Route>>,
    /// Registered routes by remote server id (one connection per server).
    pub by_id: FxMap<String, usize>,
    /// The client shards' subscriptions (value = shard id, counted).
    shard_subs: Sublist<u16>,
    /// Local interest over all shards: plain = shards interested, queue = members.
    local: FxMap<Key, u32>,
    /// The routes' interest (value = route slab key, counted by queue weight).
    route_subs: Sublist<u16>,
    /// The routes' interest as the shards know it: plain = routes interested, queue = the
    /// sum of the routes' weights.
    remote: FxMap<Key, u32>,
    outbox: Outboxes,
    /// Routed messages for shards, staged per route read (one `Bytes` per read).
    arena: BytesMut,
    staged: Vec<(u16, CrossMsg)>,
    /// The cluster name (a dynamic one may adopt a peer's), and whether it is dynamic.
    pub cluster_name: String,
    pub dynamic: bool,
    /// Whether a route was ever registered (from then on INFO carries `connect_urls`).
    ever_routed: bool,
    /// Servers (by id) we are dialling because a peer told us about them.
    pub dialling: Vec<String>,
    /// The traffic of routes that closed (live routes keep their own counters).
    closed_traffic: Traffic,
}

/// The routes' write deadline: the `cluster {}` block's, or else the top-level one
/// (client.go: `opts.Cluster.WriteDeadline` only when set).
fn route_deadline(c: &ClusterOpts, o: &crate::options::Options) -> std::time::Duration {
    c.write_deadline.unwrap_or(o.write_deadline)
}

/// The longest the router holds one batch from a shard for a route far behind.
const ROUTE_STALL_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Messages and payload bytes (headers included) received from and sent to routes, as
/// nats-server counts them into `/varz` `in_msgs`/`out_msgs` (one per RMSG/HMSG).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

impl Traffic {
    fn add(&mut self, o: Traffic) {
        self.in_msgs += o.in_msgs;
        self.in_bytes += o.in_bytes;
        self.out_msgs += o.out_msgs;
        self.out_bytes += o.out_bytes;
    }
}

/// The routes of this server.
pub struct Router {
    pub shared: Arc<Shared>,
    /// The `cluster {}` settings in force; a reload replaces them whole (see `reload`).
    copts: RefCell<Rc<ClusterOpts>>,
    /// This member's id in the mesh (`nshards`).
    pub me: usize,
    /// The route listener's bound address.
    pub listen: SocketAddr,
    /// Our client URLs for peers' and clients' `connect_urls`.
    pub client_urls: Vec<String>,
    /// Addresses that reach this server's route port (self-routes are skipped).
    pub self_addrs: Vec<SocketAddr>,
    pub st: RefCell<RouterState>,
    /// `max_pending` in force (a reload may change it), kept here because every routed
    /// message checks it: reading the shared options takes a lock and an `Arc` clone,
    /// atomics on a cache line every shard touches.
    max_pending: Cell<usize>,
    /// The routes' write deadline: the cluster block's, or else the top-level one (kept
    /// for the same reason, and refreshed with it).
    write_deadline: Cell<std::time::Duration>,
    /// A route the last routed message left more than 3/4 of `max_pending` behind.
    behind: RefCell<Option<Rc<Route>>>,
    rng: Cell<u64>,
    /// Route flushes that passed `write_deadline` (`/varz` `slow_consumers` counts them
    /// with the clients'), and the times a route became a slow consumer
    /// (`slow_consumer_stats.routes`), as nats-server counts them.
    slow_consumer_events: Cell<u64>,
    slow_consumer_routes: Cell<u64>,
    /// Routes closed as stale (no PONG to `ping_max` PINGs), for `/varz`.
    pub stale_routes: Cell<u64>,
    /// Route TLS (`cluster { tls {} }`): every route starts with a TLS handshake. A reload
    /// replaces it; routes already up keep the session they have.
    tls: RefCell<Option<Arc<crate::tls::RouteTlsConfigs>>>,
    /// The name a dialled route's certificate is checked against when we dial an IP
    /// address (see [`tls`]); forgotten after a certificate that lacks it.
    pub tls_name: RefCell<Option<String>>,
}

impl Router {
    /// A router with no routes yet.
    pub fn new(
        shared: Arc<Shared>,
        listen: SocketAddr,
        name: String,
        dynamic: bool,
        tls: Option<Arc<crate::tls::RouteTlsConfigs>>,
    ) -> Rc<Router> {
        let copts = shared
            .opts()
            .cluster
            .clone()
            .expect("the router runs only with a cluster block");
        let me = shared.nshards;
        let local_ips = solicit::local_ips();
        let client_urls = client_urls(&shared, &local_ips);
        let mut self_addrs: Vec<SocketAddr> = local_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, listen.port()))
            .collect();
        self_addrs.push(listen);
        let max_pending = shared.opts().max_pending;
        let write_deadline = route_deadline(&copts, &shared.opts());
        Rc::new(Router {
            max_pending: Cell::new(max_pending),
            write_deadline: Cell::new(write_deadline),
            behind: RefCell::new(None),
            me,
            listen,
            client_urls,
            self_addrs,
            st: RefCell::new(RouterState {
                routes: Slab::new(),
                by_id: FxMap::default(),
                shard_subs: Sublist::new(),
                local: FxMap::default(),
                route_subs: Sublist::new(),
                remote: FxMap::default(),
                outbox: Outboxes::new(me),
                arena: BytesMut::new(),
                staged: Vec::new(),
                cluster_name: name,
                dynamic,
                ever_routed: false,
                dialling: Vec::new(),
                closed_traffic: Traffic::default(),
            }),
            rng: Cell::new(solicit::seed()),
            slow_consumer_events: Cell::new(0),
            slow_consumer_routes: Cell::new(0),
            stale_routes: Cell::new(0),
            tls_name: RefCell::new(tls::first_route_name(&copts.routes)),
            tls: RefCell::new(tls),
            copts: RefCell::new(Rc::new(copts)),
            shared,
        })
    }

    /// The `cluster {}` settings in force now.
    pub fn copts(&self) -> Rc<ClusterOpts> {
        self.copts.borrow().clone()
    }

    /// The route TLS configuration in force now, if routes run TLS.
    pub fn tls(&self) -> Option<Arc<crate::tls::RouteTlsConfigs>> {
        self.tls.borrow().clone()
    }

    /// A cheap random number below `n` (xorshift).
    pub fn rand(&self, n: usize) -> usize {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % n.max(1) as u64) as usize
    }

    /// Our route INFO (RT-04), as sent on a new route.
    pub fn info(&self) -> RouteInfo {
        let sh = &self.shared;
        let st = self.st.borrow();
        let copts = self.copts();
        let tls = self.tls.borrow().is_some();
        let (host, port, ip) = match &copts.advertise {
            Some(a) => {
                let (h, p) = crate::options::split_host_port(a, self.listen.port())
                    .unwrap_or_else(|| (a.clone(), self.listen.port()));
                let ip = format!("nats-route://{}/", join_host_port(&h, p));
                (h, p, ip)
            }
            None => (copts.host.clone(), self.listen.port(), String::new()),
        };
        RouteInfo {
            server_id: sh.server_id.clone(),
            server_name: sh.server_name.clone(),
            version: crate::defaults::VERSION.to_string(),
            proto: info::ROUTE_PROTO,
            go: "nats-tpc".to_string(),
            host,
            port,
            headers: !sh.opts().no_header_support,
            auth_required: copts.user.is_some(),
            tls_required: tls,
            tls_verify: tls,
            max_payload: sh.opts().max_payload as i64,
            ip,
            cluster: st.cluster_name.clone(),
            cluster_dynamic: st.dynamic,
            connect_urls: if copts.no_advertise {
                Vec::new()
            } else {
                self.client_urls.clone()
            },
            import: copts.import.as_ref().map(Into::into),
            export: copts.export.as_ref().map(Into::into),
            ..Default::default()
        }
    }

    // ----- the mesh side -----

    fn push_out(&self, st: &mut RouterState, to: usize, m: ShardMsg) {
        if !matches!(m, ShardMsg::Msgs { .. }) {
            self.flush_staged_locked(st);
        }
        // The router never waits on a barrier: its sequence stays 0.
        st.outbox.push(to, m, 0);
    }

    /// Moves the routed messages staged by one route read into the outboxes.
    pub fn flush_staged(&self) {
        let mut st = self.st.borrow_mut();
        self.flush_staged_locked(&mut st);
    }

    fn flush_staged_locked(&self, st: &mut RouterState) {
        if st.staged.is_empty() {
            return;
        }
        let frozen = st.arena.split().freeze();
        // Room for a batch like this one, so the arena does not grow by copying.
        st.arena.reserve(
            frozen
                .len()
                .clamp(crate::shard::ARENA_MIN, crate::shard::ARENA_FLUSH),
        );
        // Drained, not taken: a fresh Vec for every route read grew (reallocating, and
        // faulting in new pages) to the read's message count each time.
        let outbox = &mut st.outbox;
        crate::shard::mesh::drain_by_destination(&mut st.staged, |to, msgs| {
            let buf = frozen.clone();
            outbox.push(to, ShardMsg::Msgs { buf, msgs }, 0);
        });
    }

    /// Moves the outbox for shard `to` into its channel, forever.
    pub async fn pump(self: Rc<Self>, to: usize, tx: ConnectedSender<Batch>, inflight: Inflight) {
        crate::shard::mesh::pump(&tx, &inflight, |cx| {
            self.st.borrow_mut().outbox.poll_take(to, cx)
        })
        .await
    }

    /// nats-server's fast producer stall for routes: after a batch left a route more than
    /// 3/4 of `max_pending` behind, wait for it to drain below that, up to
    /// [`ROUTE_STALL_MAX`] per batch (a route that never drains is closed by its write
    /// deadline; until then its producers move one batch a second).
    async fn stall(&self) {
        let Some(r) = self.behind.borrow_mut().take() else {
            return;
        };
        let until = std::time::Instant::now() + ROUTE_STALL_MAX;
        crate::shard::poll_until(Some(until), || r.drained(self.max_pending.get())).await
    }

    /// Waits while a shard is far behind (route readers call it between reads).
    pub async fn wait_outbox(&self) {
        poll_fn(|cx| self.st.borrow_mut().outbox.poll_below_high_water(cx)).await
    }

    /// Applies batches from shard `from`, forever.
    pub async fn receive(
        self: Rc<Self>,
        from: usize,
        rx: ConnectedReceiver<Batch>,
        inflight: Inflight,
    ) {
        while let Some(batch) = rx.recv().await {
            let seq = batch.seq;
            let bytes = batch.bytes;
            for m in batch.msgs {
                match m {
                    ShardMsg::Msgs { buf, msgs } => {
                        for cm in &msgs {
                            self.route_out(&buf, cm);
                        }
                    }
                    ShardMsg::Interest {
                        subject,
                        queue,
                        delta,
                    } => self.local_interest(from, subject, queue, delta),
                    ShardMsg::Barrier { id } => {
                        let mut st = self.st.borrow_mut();
                        self.push_out(&mut st, from, ShardMsg::BarrierAck { id });
                    }
                    // The router never starts a barrier, and shards never send it cluster
                    // views.
                    ShardMsg::BarrierAck { .. } | ShardMsg::Cluster(_) => {}
                }
            }
            // Acknowledged on the next batch to that shard (see `mesh::Batch`).
            self.st.borrow_mut().outbox.applied(from, seq);
            // Back-pressure: while a route is far behind, this shard's batches wait here,
            // its bytes in flight reach `INFLIGHT_MAX`, its pump waits, its outbox fills,
            // and its publishers wait at the outbox's high-water mark.
            self.stall().await;
            inflight.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    /// A shard's interest changed: keep the cluster-wide count, tell the routes on its
    /// transitions.
    fn local_interest(&self, from: usize, subject: Bytes, queue: Option<Bytes>, delta: i32) {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        for _ in 0..delta.unsigned_abs() {
            if delta > 0 {
                st.shard_subs
                    .insert(&subject, queue.as_deref(), from as u16);
            } else {
                st.shard_subs
                    .remove(&subject, queue.as_deref(), from as u16);
            }
        }
        let key = (subject, queue);
        let old = st.local.get(&key).copied().unwrap_or(0);
        let new = (old as i64 + delta as i64).max(0) as u32;
        if new == 0 {
            st.local.remove(&key);
        } else {
            st.local.insert(key.clone(), new);
        }
        let line = match &key.1 {
            Some(q) if new > 0 => {
                let mut l = Vec::new();
                proto::rs_plus(&mut l, &key.0, Some((q, new)));
                l
            }
            Some(q) if old > 0 => {
                let mut l = Vec::new();
                proto::rs_minus(&mut l, &key.0, Some(q));
                l
            }
            None if old == 0 && new > 0 => {
                let mut l = Vec::new();
                proto::rs_plus(&mut l, &key.0, None);
                l
            }
            None if old > 0 && new == 0 => {
                let mut l = Vec::new();
                proto::rs_minus(&mut l, &key.0, None);
                l
            }
            _ => return,
        };
        if !allowed(self.copts.borrow().import.as_ref(), &key.0) {
            return;
        }
        for (_, r) in st.routes.iter() {
            if r.is_registered() {
                r.queue_proto(&line);
            }
        }
    }

    /// A message published here for remote servers: one RMSG per interested route.
    fn route_out(&self, buf: &[u8], cm: &CrossMsg) {
        let m = cm.view(buf);
        let targets: Vec<(usize, Vec<Bytes>)> = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let r = st.route_subs.matches(m.subject);
            let mut targets: Vec<(usize, Vec<Bytes>)> = r
                .plain
                .iter()
                .map(|&(k, _)| (k as usize, Vec::new()))
                .collect();
            for q in &cm.queues {
                let Some(g) = r.queues.iter().find(|g| *g.name == **q) else {
                    continue;
                };
                let total: u32 = g.members.iter().map(|x| x.1).sum();
                let k = pick_weighted(&g.members, self.rand(total as usize) as u32) as usize;
                match targets.iter_mut().find(|t| t.0 == k) {
                    Some(t) => t.1.push(q.clone()),
                    None => targets.push((k, vec![q.clone()])),
                }
            }
            targets
        };
        if targets.is_empty() {
            return;
        }
        if !allowed(self.copts.borrow().export.as_ref(), m.subject) {
            return;
        }
        let out = proto::OutMsg {
            subject: m.subject,
            reply: m.reply,
            hdr_tok: m.hdr_tok,
            size_tok: m.size_tok,
            hdr_len: m.hdr_len,
            has_hdr: m.has_hdr,
            payload: m.payload,
        };
        for (k, queues) in targets {
            let route = self.st.borrow().routes.get(k).cloned();
            if let Some(r) = route {
                let qs: Vec<&[u8]> = queues.iter().map(|q| &q[..]).collect();
                if r.send_msg(self.max_pending.get(), &out, &qs) {
                    *self.behind.borrow_mut() = Some(r);
                }
            }
        }
    }

    /// A message from a route: to the shards with interest, never to another route.
    pub fn route_in(&self, m: &proto::RoutedMsg) {
        if m.account != proto::GLOBAL_ACCOUNT {
            return;
        }
        if !allowed(self.copts.borrow().import.as_ref(), m.subject) {
            return;
        }
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let r = st.shard_subs.matches(m.subject);
        if r.is_empty() {
            return;
        }
        let mut plain: u128 = 0;
        for &(s, _) in &r.plain {
            plain |= 1 << s;
        }
        let mut queues: Vec<(u16, Bytes)> = Vec::new();
        for q in &m.queues {
            if let Some(g) = r.queues.iter().find(|g| *g.name == **q) {
                let total: u32 = g.members.iter().map(|x| x.1).sum();
                let s = pick_weighted(&g.members, self.rand(total as usize) as u32);
                queues.push((s, Bytes::copy_from_slice(q)));
            }
        }
        let mut range: Option<(usize, usize)> = None;
        for to in 0..self.me {
            let to_plain = plain & (1 << to) != 0;
            let qs: Vec<Bytes> = queues
                .iter()
                .filter(|(s, _)| *s as usize == to)
                .map(|(_, q)| q.clone())
                .collect();
            if !to_plain && qs.is_empty() {
                continue;
            }
            let (start, end) = *range.get_or_insert_with(|| {
                let start = st.arena.len();
                for part in [m.subject, m.reply, m.hdr_tok, m.size_tok, m.payload] {
                    st.arena.extend_from_slice(part);
                }
                (start, st.arena.len())
            });
            let msg = CrossMsg {
                start: start as u32,
                end: end as u32,
                subj_len: m.subject.len() as u32,
                reply_len: m.reply.len() as u32,
                hdr_tok_len: m.hdr_tok.len() as u16,
                size_tok_len: m.size_tok.len() as u16,
                hdr_len: m.hdr_len as u32,
                has_hdr: m.has_hdr,
                plain: to_plain,
                queues: qs,
            };
            st.staged.push((to as u16, msg));
        }
    }

    /// A route's interest in `key` is now `weight` (0 = none).
    pub fn remote_interest(&self, key_route: usize, route: &Route, key: Key, weight: u32) {
        let old_w = route.set_sub(&key, weight);
        self.apply_remote(key_route, &key, old_w, weight);
    }

    /// Moves a route's weight for `key` from `old_w` to `new_w` in the routes' index and
    /// tells the shards when the routes' aggregate changes as they see it.
    fn apply_remote(&self, key_route: usize, key: &Key, old_w: u32, new_w: u32) {
        if old_w == new_w {
            return;
        }
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let v = key_route as u16;
        for _ in new_w..old_w {
            st.route_subs.remove(&key.0, key.1.as_deref(), v);
        }
        for _ in old_w..new_w {
            st.route_subs.insert(&key.0, key.1.as_deref(), v);
        }
        // Plain interest counts routes; queue interest sums weights.
        let (from, to) = if key.1.is_some() {
            (old_w, new_w)
        } else {
            (old_w.min(1), new_w.min(1))
        };
        let old = st.remote.get(key).copied().unwrap_or(0);
        let new = (old as i64 + to as i64 - from as i64).max(0) as u32;
        if new == 0 {
            st.remote.remove(key);
        } else {
            st.remote.insert(key.clone(), new);
        }
        let delta: i32 = if key.1.is_some() {
            new as i32 - old as i32
        } else {
            (new.min(1) as i32) - (old.min(1) as i32)
        };
        if delta == 0 {
            return;
        }
        for to in 0..self.me {
            let m = ShardMsg::Interest {
                subject: key.0.clone(),
                queue: key.1.clone(),
                delta,
            };
            self.push_out(st, to, m);
        }
    }

    /// Whether a peer's RS+ for `subject` may be accepted (we export only what is allowed).
    pub fn can_export(&self, subject: &[u8]) -> bool {
        allowed(self.copts.borrow().export.as_ref(), subject)
    }

    /// Every local interest as RS+ lines, sent once to a newly registered route (RT-06).
    pub fn all_interest(&self) -> Vec<u8> {
        let st = self.st.borrow();
        let copts = self.copts();
        let mut out = Vec::new();
        for ((s, q), n) in st.local.iter() {
            if !allowed(copts.import.as_ref(), s) {
                continue;
            }
            proto::rs_plus(&mut out, s, q.as_deref().map(|q| (q, *n)));
        }
        out
    }

    /// Tells every shard the cluster view clients should see, after routes came or went.
    pub fn publish_view(&self) {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let mut urls: Vec<String> = Vec::new();
        let mut own_urls = 0;
        if st.ever_routed && !self.copts.borrow().no_advertise {
            urls.extend(self.client_urls.iter().cloned());
            own_urls = urls.len();
            for (_, r) in st.routes.iter() {
                for u in r.advertised_urls() {
                    if !urls.contains(&u) {
                        urls.push(u);
                    }
                }
            }
        }
        let view = Arc::new(ClusterView {
            name: st.cluster_name.clone(),
            connect_urls: urls,
            own_urls,
        });
        for to in 0..self.me {
            self.push_out(st, to, ShardMsg::Cluster(view.clone()));
        }
    }

    /// Registers a route whose first INFO passed the checks. Returns false for a duplicate
    /// (the caller closes it).
    pub fn register(
        &self,
        key: usize,
        route: &Rc<Route>,
        info: &RouteInfo,
        raw: serde_json::Value,
    ) -> bool {
        {
            let mut st = self.st.borrow_mut();
            if let Some(&existing) = st.by_id.get(&info.server_id) {
                if let Some(e) = st.routes.get(existing) {
                    e.adopt_duplicate(route);
                }
                return false;
            }
            st.by_id.insert(info.server_id.clone(), key);
            st.ever_routed = true;
            st.dialling.retain(|id| *id != info.server_id);
        }
        debug!(
            "{} - Registering remote route {:?}",
            route.prefix(),
            info.server_id
        );
        route.set_registered();
        let subs = self.all_interest();
        if !subs.is_empty() {
            route.queue_proto(&subs);
        }
        debug!("{} - Sent local subscriptions to route", route.prefix());
        self.publish_view();
        // GS-01: tell the other routes about this server, unless we only know it from
        // gossip ourselves (then its seed told them) or it asked not to be gossiped.
        let from_gossip =
            route.is_implicit_solicited() && route.gossip_mode() != info::GOSSIP_OVERRIDE;
        if !from_gossip && info.gossip_mode != info::GOSSIP_DISABLED {
            let mut v = raw;
            if let Some(o) = v.as_object_mut() {
                o.remove("nonce");
                o.remove("gossip_mode");
                o.insert(
                    "ip".into(),
                    serde_json::Value::String(route.route_url_for_gossip(info)),
                );
            }
            let mut line = b"INFO ".to_vec();
            line.extend_from_slice(v.to_string().as_bytes());
            line.extend_from_slice(b" \r\n");
            let st = self.st.borrow();
            for (k, r) in st.routes.iter() {
                if k != key && r.is_registered() {
                    r.queue_proto(&line);
                }
            }
        }
        true
    }

    /// A route closed: forget it, its interest and its URLs.
    pub fn remove(&self, key: usize, route: &Route) {
        let was = {
            let mut st = self.st.borrow_mut();
            let id = route.remote_id();
            let was = st.by_id.get(&id) == Some(&key);
            if was {
                st.by_id.remove(&id);
            }
            was
        };
        for (k, w) in route.take_subs() {
            self.apply_remote(key, &k, w, 0);
        }
        let mut st = self.st.borrow_mut();
        st.routes.try_remove(key);
        let t = route.traffic();
        st.closed_traffic.add(t);
        drop(st);
        if was {
            self.publish_view();
        }
    }

    /// Adopts a peer's cluster name (we are dynamic, RT-05) and drops the other routes. We
    /// stay dynamic while the name we took is: dynamic names converge on the largest.
    pub fn adopt_cluster_name(&self, name: &str, dynamic: bool, keep: usize) {
        let others: Vec<Rc<Route>> = {
            let mut st = self.st.borrow_mut();
            st.cluster_name = name.to_string();
            st.dynamic = dynamic;
            st.routes
                .iter()
                .filter(|(k, _)| *k != keep)
                .map(|(_, r)| r.clone())
                .collect()
        };
        log::info!("Cluster name updated to {name}");
        for r in others {
            r.close(conn::RouteClose::ClusterNameConflict);
        }
        self.publish_view();
    }

    /// Lame duck mode (spec AI-02, GS-03): once the binary enters it, every route gets our
    /// INFO with `"ldm":true` (once, as nats-server's `sendLDMToRoutes`), and peers stop
    /// giving their clients our URLs. Polled like the shards' housekeeping: the binary's
    /// signal handling is not on an executor.
    pub async fn watch_lame_duck(self: Rc<Self>) {
        while !self.shared.ldm.entered.load(Ordering::Acquire) {
            glommio::timer::sleep(crate::shard::OPTS_POLL).await;
        }
        let mut info = self.info();
        info.ldm = true;
        let line = info.to_line();
        let routes: Vec<Rc<Route>> = self
            .st
            .borrow()
            .routes
            .iter()
            .filter(|(_, r)| r.is_registered())
            .map(|(_, r)| r.clone())
            .collect();
        for r in routes {
            if r.trace {
                log::trace!(
                    "{} - \"->> [INFO {}]\"",
                    r.prefix(),
                    String::from_utf8_lossy(&line[5..line.len() - 2])
                );
            }
            r.queue_proto(&line);
        }
    }

    /// All route traffic since start, closed routes included (for `/varz`).
    pub fn traffic(&self) -> Traffic {
        let st = self.st.borrow();
        let mut t = st.closed_traffic;
        for (_, r) in st.routes.iter() {
            t.add(r.traffic());
        }
        t
    }

    /// How route flushes are bounded: the write deadline, and whether a flush that made
    /// progress goes on past it (`write_timeout`, `retry` unless set otherwise).
    pub fn write_bound(&self) -> (std::time::Duration, bool) {
        let retry = self.copts().write_timeout.retries(WritePolicy::Retry);
        (self.write_deadline.get(), retry)
    }

    /// A route flush passed `write_deadline`; `first` if the route was not a slow consumer
    /// already.
    pub fn count_slow_consumer(&self, first: bool) {
        crate::stats::add(&self.slow_consumer_events, 1);
        if first {
            crate::stats::add(&self.slow_consumer_routes, 1);
        }
    }

    /// The counts of [`Router::count_slow_consumer`]: events, and routes turned slow.
    pub fn slow_consumers(&self) -> (u64, u64) {
        (
            self.slow_consumer_events.get(),
            self.slow_consumer_routes.get(),
        )
    }

    /// Number of registered routes (for `/varz`).
    pub fn num_routes(&self) -> usize {
        self.st.borrow().by_id.len()
    }

    /// Serves the route listener, forever.
    pub async fn accept_loop(self: Rc<Self>, listener: glommio::net::TcpListener) {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    glommio::spawn_local(conn::serve(self.clone(), stream, None)).detach();
                }
                Err(e) => {
                    error!("Error accepting route connection: {e}");
                    glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }
}

/// Whether `subject` passes an allow/deny pair: allowed by some allow pattern (or no allow
/// list) and not denied by any deny pattern. A wildcard subject is checked against the
/// patterns literally and by matching, as nats-server's permission sublist does.
pub fn allowed(perm: Option<&SubjectPerm>, subject: &[u8]) -> bool {
    let Some(p) = perm else { return true };
    let hit = |pats: &Vec<String>| {
        pats.iter().any(|pat| {
            let pat = pat.as_bytes();
            pat == subject || subject::matches(pat, subject)
        })
    };
    if let Some(allow) = &p.allow {
        if !hit(allow) {
            return false;
        }
    }
    if let Some(deny) = &p.deny {
        if hit(deny) {
            return false;
        }
    }
    true
}

pub(crate) fn pick_weighted(members: &[(u16, u32)], mut r: u32) -> u16 {
    for &(m, w) in members {
        if r < w {
            return m;
        }
        r -= w;
    }
    members.last().map(|m| m.0).unwrap_or(0)
}

/// This server's client URLs as peers and clients should dial them (spec §2.3
/// `connect_urls`): `client_advertise`, else the listen host, else (host 0.0.0.0) every
/// non-loopback interface address.
fn client_urls(sh: &Shared, local_ips: &[IpAddr]) -> Vec<String> {
    if let Some((h, p)) = &sh.client_advertise {
        return vec![join_host_port(h, *p)];
    }
    let opts = sh.opts();
    let host = opts.host.as_str();
    let any = host.is_empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
    if !any {
        return vec![join_host_port(host, sh.port)];
    }
    let urls: Vec<String> = local_ips
        .iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified() && !is_link_local(ip))
        .map(|ip| join_host_port(&ip.to_string(), sh.port))
        .collect();
    if urls.is_empty() {
        vec![join_host_port("127.0.0.1", sh.port)]
    } else {
        urls
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_allow_then_deny() {
        let p = SubjectPerm {
            allow: Some(vec!["foo.>".into(), "bar".into()]),
            deny: Some(vec!["foo.secret".into()]),
        };
        assert!(allowed(Some(&p), b"foo.x"));
        assert!(allowed(Some(&p), b"bar"));
        assert!(!allowed(Some(&p), b"baz"));
        assert!(!allowed(Some(&p), b"foo.secret"));
        assert!(allowed(None, b"anything"));
        assert!(allowed(Some(&p), b"foo.>"));
    }

    #[test]
    fn weighted_pick_covers_every_member() {
        let m = [(0u16, 2u32), (3, 1)];
        assert_eq!(pick_weighted(&m, 0), 0);
        assert_eq!(pick_weighted(&m, 1), 0);
        assert_eq!(pick_weighted(&m, 2), 3);
    }
}
