//! One route connection: its handshake (RT-01..RT-05), reader, writer and pinger.
//!
//! Like a client connection, the reader parses everything one read returned and the writer
//! flushes the `out` buffer that the router (RS+/RS-/RMSG from any shard's traffic) and the
//! reader (PONG, INFO) append to. Closing is a flag and a wake-up; the reader's task then
//! removes the route from the router and decides whether to dial again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_lite::future::{or, poll_fn};
use glommio::net::TcpStream;
use glommio::timer::Timer;
use log::{debug, error, info, trace};
use rustc_hash::FxHasher;

use super::info::{RouteConnect, RouteInfo};
use super::proto::{self, Parsed, RouteOp};
use super::solicit::{self, Solicit};
use super::Router;
use crate::defaults::{
    FIRST_ROUTE_PING_INTERVAL, READ_BUFFER_SIZE, ROUTE_CONTROL_LINE_FACTOR, ROUTE_MAX_PING_INTERVAL,
};
use crate::options::RouteUrl;
use crate::shard::far_behind;
use crate::shard::stream::{
    read_some, write_all, write_bounded, Bounded, Shared as Stream, Stream as Transport,
};

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Largest routed message we take (routes have no `max_payload` in nats-server; this bounds
/// the read buffer).
const MAX_ROUTED_PAYLOAD: usize = 64 * 1024 * 1024;

/// How long a closing route may take to flush its last bytes (an `-ERR`).
const CLOSE_FLUSH_DEADLINE: Duration = Duration::from_millis(500);

/// Why a route closed, in nats-server's words (`ClosedState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClose {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
    ParseError,
    ProtocolViolation,
    StaleConnection,
    DuplicateRoute,
    ClusterNameConflict,
    DuplicateServerName,
    WrongPort,
    WrongGateway,
    ReadError,
    WriteError,
    SlowConsumerWriteDeadline,
    TlsHandshakeError,
    /// A reload dropped the route from `routes` (nats-server's `RouteRemoved`).
    RouteRemoved,
}

impl RouteClose {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClose::ClientClosed => "Client Closed",
            RouteClose::AuthenticationTimeout => "Authentication Timeout",
            RouteClose::AuthenticationViolation => "Authentication Failure",
            RouteClose::ParseError => "Parse Error",
            RouteClose::ProtocolViolation => "Protocol Violation",
            RouteClose::StaleConnection => "Stale Connection",
            RouteClose::DuplicateRoute => "Duplicate Route",
            RouteClose::ClusterNameConflict => "Cluster Name Conflict",
            RouteClose::DuplicateServerName => "Duplicate Server Name",
            RouteClose::WrongPort => "Incorrect Port",
            RouteClose::WrongGateway => "Wrong Gateway",
            RouteClose::ReadError => "Read Error",
            RouteClose::WriteError => "Write Error",
            RouteClose::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            RouteClose::TlsHandshakeError => "TLS Handshake Failure",
            RouteClose::RouteRemoved => "Route Removed",
        }
    }
}

/// What the reader and writer share.
pub struct RouteState {
    pub out: Vec<u8>,
    pub inflight: usize,
    pub(super) writer: Option<Waker>,
    pub(super) pinger: Option<Waker>,
    pub closing: Option<RouteClose>,
    pub(super) flush_on_close: bool,
    pub(super) writer_done: bool,
    pub(super) done_waker: Option<Waker>,
    /// Set when we dialled it (or adopted a duplicate's dial): where to dial again.
    pub solicit: Option<Solicit>,
    /// Reconnect even as an accepted route (it replaced a dialled duplicate).
    pub(super) retry: bool,
    /// Never dial again once closed: a reload removed it, or no longer admits it
    /// (nats-server's `setNoReconnect`).
    pub(super) no_reconnect: bool,
    /// The credentials of the peer's CONNECT (accepted routes), checked again when a
    /// reload changes `cluster { authorization }`.
    pub(super) connect_user: String,
    pub(super) connect_pass: String,
    pub(super) connect_received: bool,
    pub(super) info_received: bool,
    pub registered: bool,
    pub remote_id: String,
    pub remote_name: String,
    /// The peer's route URL (from its INFO), for `/routez` and gossip.
    pub remote_url: Option<RouteUrl>,
    pub headers: bool,
    /// The peer's client URLs (its INFO `connect_urls`); not advertised while it is in
    /// lame duck mode.
    pub(super) connect_urls: Vec<String>,
    pub(super) ldm: bool,
    /// The peer's cluster permissions as its INFO gave them (`import`, `export`).
    pub(super) perms: (Option<super::info::PermJson>, Option<super::info::PermJson>),
    /// The peer's interest on this route: weight per (subject, queue).
    pub(super) subs: FxMap<(Bytes, Option<Bytes>), u32>,
    pub(super) pings_out: u32,
    pub(super) rtt_start: Option<Instant>,
    pub rtt: Duration,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

/// A route connection.
pub struct Route {
    pub rid: u64,
    pub key: Cell<usize>,
    pub peer: SocketAddr,
    /// We dialled it (it was not accepted by our listener).
    pub dialled: bool,
    fd: RawFd,
    pub(super) trace: bool,
    pub st: RefCell<RouteState>,
}

impl Route {
    /// `ip:port - rid:N`, nats-server's log prefix.
    pub fn prefix(&self) -> String {
        format!("{} - rid:{}", self.peer, self.rid)
    }

    pub fn is_registered(&self) -> bool {
        self.st.borrow().registered
    }

    pub fn set_registered(&self) {
        self.st.borrow_mut().registered = true;
    }

    pub fn remote_id(&self) -> String {
        self.st.borrow().remote_id.clone()
    }

    pub fn is_implicit_solicited(&self) -> bool {
        matches!(&self.st.borrow().solicit, Some(s) if !s.explicit)
    }

    pub fn gossip_mode(&self) -> u8 {
        self.st.borrow().solicit.as_ref().map_or(0, |s| s.gossip)
    }

    /// The peer's client URLs to advertise, unless it is in lame duck mode or not
    /// registered.
    pub fn advertised_urls(&self) -> Vec<String> {
        let st = self.st.borrow();
        if st.registered && !st.ldm {
            st.connect_urls.clone()
        } else {
            Vec::new()
        }
    }

    /// Queues protocol bytes for the peer.
    pub fn queue_proto(&self, data: &[u8]) {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() {
            return;
        }
        st.out.extend_from_slice(data);
        if let Some(w) = st.writer.take() {
            w.wake();
        }
    }

    pub(super) fn queue_err(&self, text: &str) {
        if self.trace {
            trace!("{} - \"->> [-ERR {}]\"", self.prefix(), text);
        }
        self.queue_proto(format!("-ERR '{text}'\r\n").as_bytes());
    }

    /// Writes one RMSG/HMSG (RF-02). Returns whether the route is now more than 3/4 of
    /// `max_pending` behind, when the router holds the shards that feed it back (see
    /// `Router::stall`).
    ///
    /// A route is never closed for pending bytes: nats-server closes only clients that way
    /// (`queueOutbound`, `c.kind == CLIENT`) and stalls a route's producers instead.
    /// Closing it lost everything in flight and reconnected (a routed 16 B flood tripped
    /// it whenever node A outran node B).
    pub fn send_msg(&self, max_pending: usize, m: &proto::OutMsg, queues: &[&[u8]]) -> bool {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() || !st.registered {
            return false;
        }
        let headers = st.headers;
        let n = proto::rmsg(&mut st.out, m, queues, headers);
        st.out_msgs += 1;
        st.out_bytes += n as u64;
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        far_behind(st.out.len() + st.inflight, max_pending)
    }

    /// Whether the route is at most 3/4 of `max_pending` behind again (or closing).
    pub fn drained(&self, max_pending: usize) -> bool {
        let st = self.st.borrow();
        st.closing.is_some() || !far_behind(st.out.len() + st.inflight, max_pending)
    }

    /// Closed from now on, this route is not dialled again.
    pub(super) fn set_no_reconnect(&self) {
        self.st.borrow_mut().no_reconnect = true;
    }

    /// Starts closing (the first reason wins).
    pub fn close(&self, reason: RouteClose) {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() {
            return;
        }
        st.closing = Some(reason);
        st.flush_on_close = !matches!(reason, RouteClose::SlowConsumerWriteDeadline);
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        if let Some(w) = st.pinger.take() {
            w.wake();
        }
    }

    pub(super) fn is_closing(&self) -> bool {
        self.st.borrow().closing.is_some()
    }

    /// Sets the peer's weight for `key`; returns the previous one.
    pub fn set_sub(&self, key: &(Bytes, Option<Bytes>), weight: u32) -> u32 {
        let mut st = self.st.borrow_mut();
        if weight == 0 {
            st.subs.remove(key).unwrap_or(0)
        } else {
            st.subs.insert(key.clone(), weight).unwrap_or(0)
        }
    }

    /// Empties the peer's interest (the route closed).
    pub fn take_subs(&self) -> Vec<((Bytes, Option<Bytes>), u32)> {
        self.st.borrow_mut().subs.drain().collect()
    }

    /// A duplicate connection to the same server is being closed: keep its dial target, so
    /// this one reconnects as the duplicate would have (nats-server's
    /// `handleDuplicateRoute`).
    pub fn adopt_duplicate(&self, dup: &Route) {
        let d = dup.st.borrow().solicit.clone();
        let mut st = self.st.borrow_mut();
        if let Some(d) = d {
            match &mut st.solicit {
                None => st.solicit = Some(d),
                Some(s) if d.explicit && !s.explicit => *s = d,
                Some(_) => {}
            }
        }
        st.retry = true;
    }

    /// The URL other servers should dial for this peer: its advertised `ip`, or its
    /// address as we see it with its route port (GS-02).
    pub fn route_url_for_gossip(&self, info: &RouteInfo) -> String {
        if !info.ip.is_empty() {
            return info.ip.clone();
        }
        format!(
            "nats-route://{}/",
            crate::options::join_host_port(&self.peer.ip().to_string(), info.port)
        )
    }

    /// This route's message counters.
    pub fn traffic(&self) -> super::Traffic {
        let st = self.st.borrow();
        super::Traffic {
            in_msgs: st.in_msgs,
            in_bytes: st.in_bytes,
            out_msgs: st.out_msgs,
            out_bytes: st.out_bytes,
        }
    }

    /// Number of the peer's subscriptions (for `/routez`).
    pub fn num_subs(&self) -> usize {
        self.st.borrow().subs.len()
    }

    /// The peer's subscriptions as `/routez?subs=1` lists them.
    pub fn subs_list(&self) -> Vec<String> {
        self.st
            .borrow()
            .subs
            .keys()
            .map(|(s, q)| match q {
                Some(q) => format!(
                    "{} {}",
                    String::from_utf8_lossy(s),
                    String::from_utf8_lossy(q)
                ),
                None => String::from_utf8_lossy(s).into_owned(),
            })
            .collect()
    }
}

/// Serves one route connection, accepted (`solicit` None) or dialled, until it closes; then
/// dials again if it should (GS-04). With route TLS the handshake comes first.
pub async fn serve(router: Rc<Router>, tcp: TcpStream, solicit: Option<Solicit>) {
    let shared = router.shared.clone();
    let rid = shared.next_cid.fetch_add(1, Ordering::Relaxed);
    let _ = tcp.set_nodelay(true);
    let peer = tcp
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let fd = tcp.as_raw_fd();
    let stream = match router.tls() {
        None => Transport::Plain(tcp),
        Some(cfg) => {
            let prefix = format!("{peer} - rid:{rid}");
            let host = solicit.as_ref().map(|s| s.url.host.clone());
            match super::tls::handshake(&router, &cfg, tcp, host.as_deref(), &prefix).await {
                Ok(s) => s,
                Err(e) => {
                    super::tls::log_failure(&prefix, &e);
                    info!(
                        "{prefix} - Router connection closed: {}",
                        RouteClose::TlsHandshakeError.as_str()
                    );
                    if let Some(s) = solicit {
                        debug!(
                            "Attempting reconnect for solicited route \"nats-route://{}\"",
                            s.url.host_port()
                        );
                        glommio::spawn_local(solicit::reconnect(router.clone(), s)).detach();
                    }
                    return;
                }
            }
        }
    };
    let now = SystemTime::now();
    let dialled = solicit.is_some();
    let route = Rc::new(Route {
        rid,
        key: Cell::new(0),
        peer,
        dialled,
        fd,
        trace: shared.opts().trace,
        st: RefCell::new(RouteState {
            out: Vec::new(),
            inflight: 0,
            writer: None,
            pinger: None,
            closing: None,
            flush_on_close: true,
            writer_done: false,
            done_waker: None,
            solicit,
            retry: false,
            no_reconnect: false,
            connect_user: String::new(),
            connect_pass: String::new(),
            connect_received: false,
            info_received: false,
            registered: false,
            remote_id: String::new(),
            remote_name: String::new(),
            remote_url: None,
            headers: false,
            connect_urls: Vec::new(),
            ldm: false,
            perms: (None, None),
            subs: FxMap::default(),
            pings_out: 0,
            rtt_start: None,
            rtt: Duration::ZERO,
            start: now,
            last_activity: now,
            in_msgs: 0,
            in_bytes: 0,
            out_msgs: 0,
            out_bytes: 0,
        }),
    });
    let key = router.st.borrow_mut().routes.insert(route.clone());
    route.key.set(key);
    // RT-01: the dialling side speaks first, with CONNECT; both then send INFO.
    if dialled {
        let connect = {
            let st = router.st.borrow();
            let s = route.st.borrow();
            let url = &s.solicit.as_ref().expect("dialled").url;
            RouteConnect {
                echo: true,
                user: url.user.clone().unwrap_or_default(),
                pass: url.password.clone().unwrap_or_default(),
                tls_required: router.tls().is_some(),
                headers: !shared.opts().no_header_support,
                name: shared.server_id.clone(),
                cluster: st.cluster_name.clone(),
                cluster_dynamic: st.dynamic,
                ..Default::default()
            }
        };
        route.queue_proto(&connect.to_line());
        debug!("{} - Route connect msg sent", route.prefix());
    }
    route.queue_proto(&router.info().to_line());
    info!("{} - Route connection created", route.prefix());

    let stream: Stream = Rc::new(RefCell::new(stream));
    glommio::spawn_local(writer(router.clone(), route.clone(), stream.clone())).detach();
    glommio::spawn_local(pinger(router.clone(), route.clone())).detach();
    if !dialled && router.copts().user.is_some() {
        glommio::spawn_local(auth_timer(router.clone(), route.clone())).detach();
    }
    reader(&router, &route, &stream).await;
    router.flush_staged();
    route.close(RouteClose::ClientClosed);
    poll_fn(|cx| {
        let mut st = route.st.borrow_mut();
        if st.writer_done {
            Poll::Ready(())
        } else {
            st.done_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
    router.remove(key, &route);
    let (reason, name, remote_id, sol, retry, url, no_reconnect) = {
        let st = route.st.borrow();
        (
            st.closing.unwrap_or(RouteClose::ClientClosed),
            st.remote_name.clone(),
            st.remote_id.clone(),
            st.solicit.clone(),
            st.retry,
            st.remote_url.clone(),
            st.no_reconnect,
        )
    };
    if name.is_empty() {
        info!(
            "{} - Router connection closed: {}",
            route.prefix(),
            reason.as_str()
        );
    } else {
        info!(
            "{} - Router connection closed: {} - Remote: {}",
            route.prefix(),
            reason.as_str(),
            name
        );
    }
    if remote_id == shared.server_id || no_reconnect {
        return;
    }
    let target = match (sol, retry, url) {
        (Some(s), _, _) => Some(s),
        // An accepted route that replaced a dialled duplicate: dial it like an implicit one.
        (None, true, Some(url)) => Some(Solicit {
            url,
            explicit: false,
            gossip: 0,
        }),
        _ => None,
    };
    let Some(target) = target else { return };
    if target.explicit && !solicit::still_configured(&router, &target.url) {
        return;
    }
    if !remote_id.is_empty() && router.st.borrow().by_id.contains_key(&remote_id) {
        debug!("Not attempting reconnect for solicited route, already connected to {remote_id:?}");
        return;
    }
    debug!(
        "Attempting reconnect for solicited route \"nats-route://{}\"",
        target.url.host_port()
    );
    glommio::spawn_local(solicit::reconnect(router.clone(), target)).detach();
}

/// RT-02: an accepted route has `authorization { timeout }` to send a valid CONNECT.
async fn auth_timer(router: Rc<Router>, route: Rc<Route>) {
    let timeout = router.copts().auth_timeout;
    Timer::new(timeout).await;
    if !route.st.borrow().connect_received && !route.is_closing() {
        error!("{} - Authentication Timeout", route.prefix());
        route.queue_err("Authentication Timeout");
        route.close(RouteClose::AuthenticationTimeout);
    }
}

async fn reader(router: &Rc<Router>, route: &Rc<Route>, stream: &Stream) {
    let opts = router.shared.opts();
    let max_line = opts.max_control_line * ROUTE_CONTROL_LINE_FACTOR;
    let max_payload = MAX_ROUTED_PAYLOAD.max(opts.max_payload);
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let (mut start, mut end) = (0usize, 0usize);
    let mut need = 1usize;
    loop {
        if route.is_closing() {
            return;
        }
        if end + need > buf.len() || end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end + need > buf.len() {
                buf.resize((end + need).next_power_of_two(), 0);
            }
        }
        let n = match read_some(stream, &mut buf[end..]).await {
            Ok(0) => {
                route.close(RouteClose::ClientClosed);
                return;
            }
            Ok(n) => n,
            Err(_) => {
                route.close(RouteClose::ReadError);
                return;
            }
        };
        end += n;
        loop {
            match proto::parse(&buf[start..end], max_line, max_payload) {
                Ok(Parsed::Op { op, consumed }) => {
                    let res = match op {
                        RouteOp::Connect(json) => {
                            super::ops::handle_connect(router, route, json).await
                        }
                        op => super::ops::handle_op(router, route, op),
                    };
                    start += consumed;
                    if let Err(reason) = res {
                        route.close(reason);
                        return;
                    }
                    if route.is_closing() {
                        return;
                    }
                }
                Ok(Parsed::Incomplete { need: more }) => {
                    need = more;
                    break;
                }
                Err(e) => {
                    error!("{} - Route parser error: {e}", route.prefix());
                    route.close(RouteClose::ParseError);
                    return;
                }
            }
        }
        router.flush_staged();
        route.st.borrow_mut().last_activity = SystemTime::now();
        if start == end {
            start = 0;
            end = 0;
            if buf.len() > READ_BUFFER_SIZE {
                buf = vec![0u8; READ_BUFFER_SIZE];
            }
        }
        router.wait_outbox().await;
    }
}

/// Route PINGs (RT-06): the first after a second, then every `ping_interval` (at most
/// 30 s); `ping_max` unanswered ones close the route as stale.
async fn pinger(router: Rc<Router>, route: Rc<Route>) {
    // Read at every round, so a reloaded ping_interval/ping_max applies to open routes.
    let interval = || router.copts().ping_interval.min(ROUTE_MAX_PING_INTERVAL);
    let mut next = Instant::now() + FIRST_ROUTE_PING_INTERVAL.min(interval());
    loop {
        let closed = or(
            async {
                Timer::new(next.saturating_duration_since(Instant::now())).await;
                false
            },
            poll_fn(|cx| {
                let mut st = route.st.borrow_mut();
                if st.closing.is_some() {
                    Poll::Ready(true)
                } else {
                    st.pinger = Some(cx.waker().clone());
                    Poll::Pending
                }
            }),
        )
        .await;
        if closed {
            return;
        }
        next = Instant::now() + interval();
        let ping_max = router.copts().ping_max;
        let stale = {
            let mut st = route.st.borrow_mut();
            if st.pings_out + 1 > ping_max {
                true
            } else {
                st.pings_out += 1;
                st.rtt_start = Some(Instant::now());
                false
            }
        };
        if stale {
            debug!("{} - Stale Router Connection - Closing", route.prefix());
            crate::stats::add(&router.stale_routes, 1);
            route.queue_err("Stale Connection");
            route.close(RouteClose::StaleConnection);
            return;
        }
        route.queue_proto(b"PING\r\n");
    }
}

async fn writer(router: Rc<Router>, route: Rc<Route>, stream: Stream) {
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let closing = poll_fn(|cx| {
            let mut st = route.st.borrow_mut();
            if st.closing.is_some() {
                Poll::Ready(true)
            } else if !st.out.is_empty() {
                Poll::Ready(false)
            } else {
                st.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if closing {
            break;
        }
        let (deadline, retry) = router.write_bound();
        {
            let mut st = route.st.borrow_mut();
            std::mem::swap(&mut st.out, &mut spare);
            st.inflight = spare.len();
        }
        let prefix = || route.prefix();
        let late = |first, _going_on| router.count_slow_consumer(first);
        let res = write_bounded(&stream, &spare, 0, deadline, retry, prefix, late).await;
        spare.clear();
        if spare.capacity() > 4 * READ_BUFFER_SIZE {
            spare = Vec::new();
        }
        route.st.borrow_mut().inflight = 0;
        match res {
            Bounded::Done => {}
            Bounded::Deadline => {
                route.close(RouteClose::SlowConsumerWriteDeadline);
                break;
            }
            Bounded::Failed => {
                route.close(RouteClose::WriteError);
                break;
            }
        }
    }
    let last = {
        let mut st = route.st.borrow_mut();
        st.writer = None;
        if st.flush_on_close {
            std::mem::take(&mut st.out)
        } else {
            Vec::new()
        }
    };
    if !last.is_empty() {
        let _ = or(write_all(&stream, &last), async {
            Timer::new(CLOSE_FLUSH_DEADLINE).await;
            Ok(())
        })
        .await;
    }
    // SAFETY: the fd is owned by `stream`, which we still hold.
    unsafe {
        libc::shutdown(route.fd, libc::SHUT_RDWR);
    }
    let mut st = route.st.borrow_mut();
    st.writer_done = true;
    if let Some(w) = st.done_waker.take() {
        w.wake();
    }
}
