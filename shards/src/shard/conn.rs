//! A client connection: its reader task (parse and act), its writer task (coalesced
//! flushes, PING timer, slow-consumer deadline) and the state they share.
//!
//! The reader owns the read buffer and processes everything one read returned before it
//! reads again; whatever it (or another connection) queues for a client lands in that
//! client's `out` buffer, and the writer flushes it in one write the next time it runs.
//! Closing is a flag plus a wake-up: the writer flushes what it may, shuts the socket down,
//! and the reader, woken by the shutdown, removes the connection's subscriptions.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::{or, poll_fn};
use glommio::net::TcpStream;
use glommio::timer::Timer;
use log::{debug, error, info, trace};
use rustc_hash::FxHasher;

use super::connect;
use super::handshake::{self, Established, InfoLines, TlsConnInfo};
use super::stream::{read_some, write_all, write_bounded, Bounded, Shared as SharedStream, Stream};
use super::{MsgRef, Shard, SubKey, YieldNow};
use crate::auth::perms::{judge_subscription, ConnPerms, SYS_QUEUE};
use crate::auth::{self, AuthConfig};
use crate::defaults::{FIRST_CLIENT_PING_INTERVAL, READ_BUFFER_SIZE};
use crate::goquote;
use crate::options::{Options, WritePolicy};
use crate::protocol::errors::soft;
use crate::protocol::info::{ConnectOpts, ServerInfo};
use crate::protocol::{CloseReason, Limits, Op, Parsed, Parser, ProtoError, PubArgs};
use crate::subject;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A new connection's read buffer.
const MIN_READ_BUFFER: usize = 1024;

/// How long a closing connection may take to flush its last bytes (an `-ERR`).
const CLOSE_FLUSH_DEADLINE: Duration = Duration::from_millis(500);

/// nats-server re-measures a client's RTT with a PING at least this often.
const RTT_MEASUREMENT_INTERVAL: Duration = Duration::from_secs(3600);

/// State shared by a connection's reader and writer (and by publishers on its shard).
pub struct ConnState {
    /// Bytes waiting for the writer.
    pub out: Vec<u8>,
    /// Bytes the writer is writing right now (count toward `max_pending`).
    pub inflight: usize,
    /// The writer's waker, set while it waits.
    pub writer: Option<Waker>,
    /// The pinger's waker, to end it when the connection closes.
    pub pinger: Option<Waker>,
    /// Set once: why the connection is closing.
    pub closing: Option<CloseReason>,
    /// Whether the writer flushes `out` before shutting down (not for slow consumers).
    pub flush_on_close: bool,
    pub opts: ConnectOpts,
    /// Headers negotiated (client asked and the server supports them).
    pub headers: bool,
    pub connect_received: bool,
    pub first_pong_sent: bool,
    /// sid → subscription.
    pub subs: FxMap<Box<[u8]>, SubKey>,
    /// Server PINGs not yet answered.
    pub pings_out: u32,
    /// Last time the client sent messages or subscription changes (nats-server's lastIn;
    /// `/connz` shows it on the wall clock as last_activity, see `last_activity`).
    pub last_in: Instant,
    /// When the writer sends the next PING.
    pub next_ping: Instant,
    /// The shard's mesh sequence number (interest changes and cross-shard messages) that
    /// must be applied on every other shard before the writer sends this client anything
    /// more: set by its SUBs and by its publishes that left the shard.
    pub interest_need: u64,
    /// Set by the writer when it has finished (flushed and shut the socket down).
    pub writer_done: bool,
    /// The reader's waker while it waits for the writer to finish.
    pub done_waker: Option<Waker>,
    /// Messages and payload bytes received from / sent to this client (for `/connz`).
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    /// When the connection was accepted (wall clock, for `/connz`).
    pub start: std::time::SystemTime,
    /// Round-trip time measured by the last server PING.
    pub rtt: Duration,
    /// When the last server PING went out (for nats-server's RTT-driven first PING).
    pub rtt_start: Option<Instant>,
    /// The authenticated user's permissions; `None` when unrestricted.
    pub perms: Option<Box<ConnPerms>>,
    /// The nonce sent in INFO for nkey signatures (empty when no nkey users exist).
    pub nonce: String,
    /// When the client is closed with `Authentication Timeout` if no CONNECT came.
    pub auth_deadline: Option<Instant>,
    /// What the TLS handshake negotiated, for TLS connections.
    pub tls: Option<Box<TlsConnInfo>>,
}

impl ConnState {
    /// The client's last activity on the wall clock (`/connz` last_activity), derived from
    /// `last_in` when asked rather than read from the clock on every read.
    pub fn last_activity(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() - self.last_in.elapsed()
    }
}

/// A client connection.
pub struct Conn {
    pub cid: u64,
    pub peer: SocketAddr,
    fd: RawFd,
    pub st: RefCell<ConnState>,
    /// `-V`/`trace`, per connection so a reload can switch it without a shared read.
    trace: Cell<bool>,
    /// Whether deliveries to this client record reply subjects (`allow_responses`), so the
    /// delivery path borrows the state for that only when it must.
    pub track_replies: Cell<bool>,
    /// Set by [`Conn::send_msg`]: more than 3/4 of `max_pending` is waiting to be written,
    /// so publishers feeding it should stall a little (nats-server's fast producer stall).
    pub behind: Cell<bool>,
}

impl Conn {
    /// Turns protocol tracing for this connection on or off (a reload of `trace`).
    pub fn set_trace(&self, on: bool) {
        self.trace.set(on);
    }

    /// `ip:port - cid:N`, the start of every line nats-server logs for a client.
    pub(crate) fn prefix(&self) -> String {
        format!("{} - cid:{}", self.peer, self.cid)
    }

    /// `<-> [DELSUB sid]`: nats-server traces every subscription removal (UNSUB, the
    /// auto-unsubscribe limit, the connection closing).
    pub(crate) fn trace_delsub(&self, sid: &[u8]) {
        if self.trace.get() {
            trace!(
                "{} - <-> [DELSUB {}]",
                self.prefix(),
                String::from_utf8_lossy(sid)
            );
        }
    }

    /// `<<- MSG_PAYLOAD: ["..."]` (`dir` `<<-` in, `->>` out) as nats-server's
    /// `traceMsgInternal` writes it: nothing for an empty payload, and past `max` bytes
    /// (when not 0) the first `max` bytes followed by `...`.
    fn trace_payload(&self, dir: &str, payload: &[u8], max: usize) {
        if payload.is_empty() {
            return;
        }
        let mut q = String::with_capacity(payload.len().min(max.max(1)) + 8);
        if max > 0 && payload.len() > max {
            goquote::push_quoted_inner(&mut q, &payload[..max]);
            q.push_str("...");
        } else {
            goquote::push_quoted_inner(&mut q, payload);
        }
        trace!("{} - {dir} MSG_PAYLOAD: [\"{q}\"]", self.prefix());
    }

    /// Whether the protocol is traced (`-V`).
    pub(super) fn trace(&self) -> bool {
        self.trace.get()
    }

    /// Queues bytes for the client and wakes the writer.
    pub fn queue(&self, data: &[u8]) {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() {
            return;
        }
        st.out.extend_from_slice(data);
        if let Some(w) = st.writer.take() {
            w.wake();
        }
    }

    pub(crate) fn queue_err(&self, line: &[u8]) {
        if self.trace.get() {
            let text = String::from_utf8_lossy(&line[5..line.len() - 2]);
            trace!("{} - ->> [-ERR {}]", self.prefix(), text);
        }
        self.queue(line);
    }

    /// Starts closing the connection (the first reason wins).
    pub fn close(&self, reason: CloseReason) {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() {
            return;
        }
        st.closing = Some(reason);
        st.flush_on_close = !matches!(
            reason,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        );
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        if let Some(w) = st.pinger.take() {
            w.wake();
        }
    }

    /// Whether this client's deny-subscribe list refuses a message on `subject` to its
    /// subscription in `queue` (nats-server's `checkDenySub`).
    pub fn delivery_denied(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.st
            .borrow_mut()
            .perms
            .as_mut()
            .is_some_and(|p| p.delivery_denied(subject, queue.unwrap_or(b"")))
    }

    /// Records a reply subject this client received, which `allow_responses` lets it answer.
    pub fn track_reply(&self, reply: &[u8]) {
        if let Some(p) = self.st.borrow_mut().perms.as_mut() {
            p.track_reply(reply);
        }
    }

    pub(super) fn is_closing(&self) -> bool {
        self.st.borrow().closing.is_some()
    }

    /// Writes a MSG/HMSG for subscription `sid`. Returns false when the message was not
    /// queued (connection closing, or closed now as a slow consumer).
    pub fn send_msg(&self, opts: &Options, m: &MsgRef, sid: &[u8]) -> bool {
        let mut st = self.st.borrow_mut();
        if st.closing.is_some() {
            return false;
        }
        let start = st.out.len();
        let with_hdr = m.has_hdr && st.headers;
        let out = &mut st.out;
        let body = if with_hdr {
            out.extend_from_slice(b"HMSG ");
            m.payload
        } else {
            out.extend_from_slice(b"MSG ");
            &m.payload[m.hdr_len..]
        };
        out.extend_from_slice(m.subject);
        out.push(b' ');
        out.extend_from_slice(sid);
        out.push(b' ');
        if !m.reply.is_empty() {
            out.extend_from_slice(m.reply);
            out.push(b' ');
        }
        if with_hdr {
            out.extend_from_slice(m.hdr_tok);
            out.push(b' ');
            out.extend_from_slice(m.size_tok);
        } else if m.has_hdr {
            // Headers stripped for a client that did not ask for them: a fresh size.
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        } else {
            out.extend_from_slice(m.size_tok);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        st.out_msgs += 1;
        st.out_bytes += body.len() as u64;
        let pending = st.out.len() + st.inflight;
        self.behind
            .set(super::far_behind(pending, opts.max_pending));
        if pending > opts.max_pending {
            st.out.truncate(start);
            drop(st);
            info!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                self.prefix(),
                opts.max_pending
            );
            self.close(CloseReason::SlowConsumerPendingBytes);
            return false;
        }
        if self.trace.get() {
            let line_end = memchr::memchr(b'\r', &st.out[start..]).unwrap_or(0);
            trace!(
                "{} - ->> [{}]",
                self.prefix(),
                String::from_utf8_lossy(&st.out[start..start + line_end])
            );
            self.trace_payload("->>", body, opts.max_traced_msg_len);
        }
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        true
    }
}

/// Serves one accepted client connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let shared = shard.shared.clone();
    let opts = shard.opts();
    let cid = shared.next_cid.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let fd = stream.as_raw_fd();
    let now = Instant::now();
    let auth = opts.auth.as_deref().filter(|a| a.required());
    let nonce = match auth {
        Some(a) if a.nonce_required() => AuthConfig::new_nonce(),
        _ => String::new(),
    };
    let conn = Rc::new(Conn {
        cid,
        peer,
        fd,
        trace: Cell::new(opts.trace),
        track_replies: Cell::new(false),
        behind: Cell::new(false),
        st: RefCell::new(ConnState {
            out: Vec::new(),
            inflight: 0,
            writer: None,
            pinger: None,
            closing: None,
            flush_on_close: true,
            opts: ConnectOpts::default(),
            headers: false,
            connect_received: false,
            first_pong_sent: false,
            subs: FxMap::default(),
            pings_out: 0,
            last_in: now,
            // Awaiting authentication, nothing but the deadline comes before CONNECT (which
            // sets the first PING), as with nats-server's ping timer at accept.
            next_ping: now
                + match auth {
                    Some(_) => opts.ping_interval,
                    None => first_ping_delay(&shard),
                },
            interest_need: 0,
            writer_done: false,
            done_waker: None,
            in_msgs: 0,
            in_bytes: 0,
            out_msgs: 0,
            out_bytes: 0,
            start: std::time::SystemTime::now(),
            rtt: Duration::ZERO,
            rtt_start: None,
            perms: None,
            nonce,
            // The timer starts after INFO (and, with TLS, after the handshake), CL-04.
            auth_deadline: auth.map(|_| now + opts.auth_timeout),
            tls: None,
        }),
    });
    debug!(
        "{} - Client connection created on shard {}",
        conn.prefix(),
        shard.id
    );

    // INFO first (CL-01), then the max_connections check (CL-02). With TLS, INFO goes out
    // as part of the handshake sequence instead, unless the client is refused anyway.
    let mut info = client_info(&shard, cid, &peer);
    if let Some(a) = auth {
        info.auth_required = a.info_auth_required();
        info.nonce = conn.st.borrow().nonce.clone();
    }
    let tls = match &opts.tls {
        Some(_) => shared.tls.get(),
        None => None,
    };
    let counted = shared.num_clients.fetch_add(1, Ordering::Relaxed) < opts.max_connections;
    if !counted || tls.is_none() {
        conn.queue(&info.to_line());
    }
    if !counted {
        shared.num_clients.fetch_sub(1, Ordering::Relaxed);
        conn.queue_err(soft::MAX_CONNECTIONS);
        conn.close(CloseReason::MaxConnectionsExceeded);
    }
    shard.st.borrow_mut().conns.insert(cid, conn.clone());
    if counted {
        crate::stats::add(&shard.local.connections, 1);
        crate::stats::add(&shard.local.total_connections, 1);
        shard.publish_stats();
    }

    let established = match (&tls, &opts.tls) {
        (Some(cfg), Some(o)) if counted => {
            let lines = InfoLines {
                normal: info.to_line(),
                tls_first: ServerInfo {
                    tls_required: true,
                    ..info.clone()
                }
                .to_line(),
            };
            handshake::establish(&conn, stream, cfg, o, opts.allow_non_tls, lines).await
        }
        _ => Ok(Established {
            stream: Stream::Plain(stream),
            tls: None,
            info: None,
        }),
    };
    match established {
        Ok(est) => {
            if let Some(line) = est.info {
                conn.queue(&line);
            }
            conn.st.borrow_mut().tls = est.tls.map(Box::new);
            let stream: SharedStream = Rc::new(RefCell::new(est.stream));
            glommio::spawn_local(writer(shard.clone(), conn.clone(), stream.clone())).detach();
            glommio::spawn_local(pinger(shard.clone(), conn.clone())).detach();
            if counted {
                reader(&shard, &conn, &stream).await;
                // The reader may stop mid-batch (an error after some publishes).
                shard.flush_staged();
            }
        }
        Err(reason) => {
            // The socket is already closed; no writer ever ran.
            conn.close(reason);
            conn.st.borrow_mut().writer_done = true;
        }
    }
    if counted {
        shared.num_clients.fetch_sub(1, Ordering::Relaxed);
    }
    // Wait for the writer's shutdown before cleaning up, so every queued byte had its chance.
    conn.close(CloseReason::ClientClosed);
    poll_fn(|cx| {
        let mut st = conn.st.borrow_mut();
        if st.writer_done {
            Poll::Ready(())
        } else {
            st.done_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
    let reason = conn
        .st
        .borrow()
        .closing
        .unwrap_or(CloseReason::ClientClosed);
    if counted && opts.max_closed_clients > 0 {
        // Kept for /connz?state=closed, with the subscriptions it had.
        let mut info = shard.conn_info(&conn, true);
        info.stop = Some(std::time::SystemTime::now());
        info.reason = Some(reason.as_str());
        let mut st = shard.st.borrow_mut();
        if st.closed.len() >= opts.max_closed_clients {
            st.closed.pop_front();
        }
        st.closed.push_back(info);
    }
    let subs: Vec<(Box<[u8]>, SubKey)> = conn.st.borrow_mut().subs.drain().collect();
    for &(_, k) in &subs {
        shard.remove_sub(k);
    }
    shard.st.borrow_mut().conns.remove(&cid);
    if counted {
        let l = &shard.local;
        l.connections.set(l.connections.get() - 1);
        match reason {
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline => {
                crate::stats::add(&l.slow_consumers, 1)
            }
            CloseReason::StaleConnection => crate::stats::add(&l.stale_connections, 1),
            _ => {}
        }
        shard.publish_stats();
    }
    debug!(
        "{} - Client connection closed: {}",
        conn.prefix(),
        reason.as_str()
    );
    // nats-server traces the removal of each subscription after the close line.
    for (sid, _) in &subs {
        conn.trace_delsub(sid);
    }
}

fn client_info(shard: &Shard, cid: u64, peer: &SocketAddr) -> ServerInfo {
    let sh = &shard.shared;
    let opts = shard.opts();
    let (cluster, connect_urls) = match &shard.st.borrow().cluster {
        // In lame duck mode clients are pointed at the other servers only (AI-02).
        Some(v) if sh.ldm.entered.load(Ordering::Acquire) => (
            v.name.clone(),
            v.connect_urls[v.own_urls.min(v.connect_urls.len())..].to_vec(),
        ),
        Some(v) => (v.name.clone(), v.connect_urls.clone()),
        None => (opts.cluster_name.clone().unwrap_or_default(), Vec::new()),
    };
    // From the options in force, so a reloaded `client_advertise` shows to new clients
    // (nats-server's setInfoHostPort); peers keep the URLs gossiped at start-up, as there.
    let advertised = opts
        .client_advertise
        .as_deref()
        .and_then(|a| crate::options::split_host_port(a, sh.port));
    let (host, port) = advertised.unwrap_or_else(|| (opts.host.clone(), sh.port));
    ServerInfo {
        server_id: sh.server_id.clone(),
        server_name: sh.server_name.clone(),
        version: crate::defaults::VERSION.to_string(),
        proto: crate::defaults::PROTO,
        go: "nats-tpc".to_string(),
        host,
        port,
        headers: !opts.no_header_support,
        // nats-server: tls_required unless allow_non_tls, which says tls_available instead.
        tls_required: opts.tls.is_some() && !opts.allow_non_tls,
        tls_verify: opts.tls.as_ref().is_some_and(|t| t.verify),
        tls_available: opts.tls.is_some() && opts.allow_non_tls,
        max_payload: opts.max_payload as i32,
        auth_required: opts.auth.as_ref().is_some_and(|a| a.required()),
        client_id: cid,
        client_ip: peer.ip().to_string(),
        cluster,
        connect_urls,
        ..Default::default()
    }
}

/// Sends the current INFO to every client that takes async INFO: protocol 1 and past its
/// first PONG (spec AI-01); the others get it with that PONG.
pub fn send_async_info(shard: &Shard) {
    let conns: Vec<Rc<Conn>> = shard.st.borrow().conns.values().cloned().collect();
    for c in conns {
        let wants = {
            let st = c.st.borrow();
            st.closing.is_none() && st.first_pong_sent && st.opts.protocol >= 1
        };
        if wants {
            c.queue(&client_info(shard, c.cid, &c.peer).to_line());
        }
    }
}

async fn reader(shard: &Rc<Shard>, conn: &Rc<Conn>, stream: &SharedStream) {
    let mut parser = Parser::default();
    // Idle connections keep a small buffer; one whose reads fill it gets a bigger one, up
    // to READ_BUFFER_SIZE (nats-server grows from 512 B to 64 KiB the same way).
    let mut buf = vec![0u8; MIN_READ_BUFFER];
    let (mut start, mut end) = (0usize, 0usize);
    let mut need = 1usize;
    // nats-server's `expectConnect`: with authentication required, the first operation must
    // be CONNECT (CL-04), unless a `no_auth_user` can stand in for it.
    let mut awaiting_auth = shard.opts().auth.as_ref().is_some_and(|a| a.required());
    loop {
        if conn.is_closing() {
            return;
        }
        // Make room: move the unparsed tail to the front, grow for a large frame.
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
                conn.close(CloseReason::ClientClosed);
                return;
            }
            Ok(n) => {
                if end + n == buf.len() && buf.len() < READ_BUFFER_SIZE {
                    buf.resize(buf.len() * 2, 0);
                }
                n
            }
            Err(_) => {
                conn.close(CloseReason::ReadError);
                return;
            }
        };
        end += n;
        let busy_since = Instant::now();
        let mut active = false;
        let headers = conn.st.borrow().headers;
        // Per read, not per connection: a reload may have changed the limits.
        let opts = shard.opts();
        let lim = Limits {
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
            headers,
        };
        loop {
            let lim = Limits {
                headers: conn.st.borrow().headers,
                ..lim
            };
            if awaiting_auth && start < end {
                // Judged on the first byte, as nats-server's parser does.
                if !matches!(buf[start], b'C' | b'c') && !connect::implicit_connect(shard, conn) {
                    fail(conn, ProtoError::AuthViolation);
                    return;
                }
                awaiting_auth = false;
            }
            match parser.parse(&buf[start..end], &lim) {
                Ok(Parsed::Op {
                    op: Op::Connect(json),
                    consumed,
                }) => {
                    if conn.trace.get() {
                        trace_in(conn, &Op::Connect(json), 0);
                    }
                    // May wait for a bcrypt comparison off the shard's thread; the bytes
                    // after the CONNECT wait with it, so order holds.
                    let res = connect::handle_connect(shard, conn, json).await;
                    start += consumed;
                    if let Err(e) = res {
                        fail(conn, e);
                        return;
                    }
                    if conn.is_closing() {
                        return;
                    }
                }
                Ok(Parsed::Op { op, consumed }) => {
                    // Activity that makes a server PING unnecessary (nats-server's lastIn).
                    active |= matches!(
                        op,
                        Op::Ping | Op::Pub(_) | Op::HPub(_) | Op::Sub { .. } | Op::Unsub { .. }
                    );
                    let res = handle_op(shard, conn, op);
                    start += consumed;
                    if let Err(e) = res {
                        fail(conn, e);
                        return;
                    }
                    if conn.is_closing() {
                        return;
                    }
                }
                Ok(Parsed::Incomplete {
                    consumed,
                    need: more,
                }) => {
                    start += consumed;
                    need = more;
                    break;
                }
                Err(e) => {
                    fail(conn, e);
                    return;
                }
            }
        }
        shard.flush_staged();
        // One clock read for both: reads are the hot path (clock reads were a tenth of a
        // shard's user time in a request/reply profile).
        let done = Instant::now();
        crate::stats::add(&shard.local.busy_ns, (done - busy_since).as_nanos() as u64);
        if active {
            conn.st.borrow_mut().last_in = done;
        }
        shard.publish_stats();
        if start == end {
            start = 0;
            end = 0;
            // Give back the memory a large frame needed.
            if buf.len() > READ_BUFFER_SIZE {
                buf = vec![0u8; READ_BUFFER_SIZE];
            }
        }
        shard.wait_outbox().await;
        // A subscriber this read filled past 3/4 of max_pending: give it a moment to drain
        // before reading more (nats-server stalls fast producers the same way).
        shard.stall().await;
        // Let the writers and pumps woken by this batch run before reading more.
        YieldNow(false).await;
    }
}

pub(super) fn fail(conn: &Conn, e: ProtoError) {
    let (line, reason) = e.wire();
    if let Some(line) = line {
        conn.queue_err(line);
    }
    debug!("{} - Client connection error: {}", conn.prefix(), e);
    conn.close(reason);
}

/// Traces an operation read from the client (`max_payload_trace`: `max_traced_msg_len`).
fn trace_in(conn: &Conn, op: &Op, max_payload_trace: usize) {
    let (name, arg): (&str, Option<String>) = match op {
        Op::Connect(a) => ("CONNECT", Some(String::from_utf8_lossy(a).into_owned())),
        Op::Pub(pa) | Op::HPub(pa) => {
            let name = if matches!(op, Op::Pub(_)) {
                "PUB"
            } else {
                "HPUB"
            };
            let mut s = String::from_utf8_lossy(pa.subject).into_owned();
            if let Some(r) = pa.reply {
                s.push(' ');
                s.push_str(&String::from_utf8_lossy(r));
            }
            if matches!(op, Op::HPub(_)) {
                s.push(' ');
                s.push_str(&String::from_utf8_lossy(pa.hdr_token));
            }
            s.push(' ');
            s.push_str(&String::from_utf8_lossy(pa.size_token));
            (name, Some(s))
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            let mut s = String::from_utf8_lossy(subject).into_owned();
            if let Some(q) = queue {
                s.push(' ');
                s.push_str(&String::from_utf8_lossy(q));
            }
            s.push(' ');
            s.push_str(&String::from_utf8_lossy(sid));
            ("SUB", Some(s))
        }
        Op::Unsub { sid, max } => {
            let mut s = String::from_utf8_lossy(sid).into_owned();
            if let Some(m) = max {
                s.push_str(&format!(" {m}"));
            }
            ("UNSUB", Some(s))
        }
        Op::Ping => ("PING", None),
        Op::Pong => ("PONG", None),
        _ => return,
    };
    match arg {
        Some(a) => trace!("{} - <<- [{} {}]", conn.prefix(), name, a),
        None => trace!("{} - <<- [{}]", conn.prefix(), name),
    }
    if let Op::Pub(pa) | Op::HPub(pa) = op {
        conn.trace_payload("<<-", pa.payload, max_payload_trace);
    }
}

pub(super) fn send_ok(conn: &Conn) {
    if conn.trace.get() {
        trace!("{} - ->> [OK]", conn.prefix());
    }
    conn.queue(b"+OK\r\n");
}

/// Acts on one operation.
fn handle_op(shard: &Rc<Shard>, conn: &Rc<Conn>, op: Op) -> Result<(), ProtoError> {
    if conn.trace.get() {
        trace_in(conn, &op, shard.opts().max_traced_msg_len);
    }
    match op {
        // The reader handles CONNECT itself (it may wait).
        Op::Connect(_) => Ok(()),
        Op::Pub(pa) | Op::HPub(pa) => {
            let has_hdr = matches!(op, Op::HPub(_));
            handle_pub(shard, conn, &pa, has_hdr);
            Ok(())
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            handle_sub(shard, conn, subject, queue, sid);
            Ok(())
        }
        Op::Unsub { sid, max } => {
            handle_unsub(shard, conn, sid, max);
            Ok(())
        }
        Op::Ping => {
            handle_ping(shard, conn);
            Ok(())
        }
        Op::Pong => {
            let mut st = conn.st.borrow_mut();
            st.pings_out = 0;
            if let Some(t) = st.rtt_start {
                st.rtt = t.elapsed();
            }
            Ok(())
        }
        Op::Ok | Op::Info(_) => Ok(()),
        Op::Err(_) => Err(ProtoError::ClientErr),
        Op::ClientHmsg => {
            if conn.st.borrow().opts.verbose {
                send_ok(conn);
            }
            Ok(())
        }
    }
}

/// 2 s plus a random 0-20 %, as nats-server's `setFirstPingTimer`.
pub(super) fn first_ping_delay(shard: &Shard) -> Duration {
    let d = FIRST_CLIENT_PING_INTERVAL;
    let interval = shard.opts().ping_interval.min(d);
    interval + interval * shard.rand(21) as u32 / 100
}

fn handle_pub(shard: &Rc<Shard>, conn: &Rc<Conn>, pa: &PubArgs, has_hdr: bool) {
    // Checked first by nats-server, before permissions are looked at (SJ-05).
    let gateway_reply = subject::is_reserved_publish(pa.subject);
    let (pedantic, verbose, echo, no_responders, allowed) = {
        let mut st = conn.st.borrow_mut();
        st.in_msgs += 1;
        st.in_bytes += pa.payload.len() as u64;
        let allowed = gateway_reply || st.perms.as_mut().is_none_or(|p| p.pub_allowed(pa.subject));
        (
            st.opts.pedantic,
            st.opts.verbose,
            st.opts.echo,
            st.opts.no_responders,
            allowed,
        )
    };
    crate::stats::add(&shard.local.in_msgs, 1);
    crate::stats::add(&shard.local.in_bytes, pa.payload.len() as u64);
    if pedantic && !subject::is_valid_literal_subject(pa.subject) {
        conn.queue_err(soft::INVALID_PUBLISH_SUBJECT);
    }
    if gateway_reply || !allowed || subject::is_nrg(pa.subject) {
        // The message is dropped; the connection stays (AU-04).
        pub_violation(conn, pa.subject);
        return;
    }
    let reply = pa.reply.unwrap_or(b"");
    if subject::is_reserved_reply(reply) {
        let line = format!(
            "-ERR 'Permissions Violation for Publish with Reply of {}'\r\n",
            auth::go_quote(reply)
        );
        conn.queue_err(line.as_bytes());
        error!(
            "{} - Publish Violation - Reply {}",
            conn.prefix(),
            auth::go_quote(reply)
        );
        return;
    }
    if verbose {
        send_ok(conn);
    }
    let m = MsgRef {
        subject: pa.subject,
        reply,
        hdr_tok: pa.hdr_token,
        size_tok: pa.size_token,
        hdr_len: pa.hdr_len,
        has_hdr,
        payload: pa.payload,
    };
    shard.publisher_need.set(0);
    let delivered = shard.publish(&m, if echo { None } else { Some(conn.cid) });
    let need = shard.publisher_need.get();
    if need > 0 {
        // What the server says to this client next (a PONG, a 503, a reply) must not arrive
        // before the message reached the other shards' subscribers, as with nats-server's
        // synchronous delivery.
        conn.st.borrow_mut().interest_need = need;
    }
    if !delivered && no_responders && !reply.is_empty() {
        send_no_responders(shard, conn, pa.subject, reply);
    }
}

fn pub_violation(conn: &Conn, subj: &[u8]) {
    let q = auth::go_quote(subj);
    conn.queue_err(format!("-ERR 'Permissions Violation for Publish to {q}'\r\n").as_bytes());
    error!("{} - Publish Violation - Subject {q}", conn.prefix());
}

fn sub_violation(conn: &Conn, subj: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
    let (s, sid) = (auth::go_quote(subj), String::from_utf8_lossy(sid));
    let (line, log) = match queue {
        None => (
            format!("-ERR 'Permissions Violation for Subscription to {s}'\r\n"),
            format!("Subscription Violation - Subject {s}, SID {sid}"),
        ),
        Some(q) => {
            let q = auth::go_quote(q);
            (
                format!("-ERR 'Permissions Violation for Subscription to {s} using queue {q}'\r\n"),
                format!("Subscription Violation - Subject {s}, Queue: {q}, SID {sid}"),
            )
        }
    };
    conn.queue_err(line.as_bytes());
    error!("{} - {log}", conn.prefix());
}

/// DS-05: the 503 status to a requester's own reply subscription.
fn send_no_responders(shard: &Rc<Shard>, conn: &Rc<Conn>, subj: &[u8], reply: &[u8]) {
    let sid = {
        let mut st = shard.st.borrow_mut();
        let st = &mut *st;
        let r = st.local.matches(reply);
        r.plain
            .iter()
            .filter_map(|(k, _)| st.subs.get(*k as usize))
            .find(|s| s.conn.cid == conn.cid)
            .map(|s| s.sid.clone())
    };
    let Some(sid) = sid else { return };
    let hdr_len = 32 + subj.len();
    let mut line = Vec::with_capacity(64 + 2 * subj.len() + reply.len());
    line.extend_from_slice(b"HMSG ");
    line.extend_from_slice(reply);
    line.push(b' ');
    line.extend_from_slice(&sid);
    line.extend_from_slice(
        format!(" {hdr_len} {hdr_len}\r\nNATS/1.0 503\r\nNats-Subject: ").as_bytes(),
    );
    line.extend_from_slice(subj);
    line.extend_from_slice(b"\r\n\r\n\r\n");
    conn.queue(&line);
}

fn handle_sub(
    shard: &Rc<Shard>,
    conn: &Rc<Conn>,
    subject: &[u8],
    queue: Option<&[u8]>,
    sid: &[u8],
) {
    let max_subs = shard.opts().max_subscriptions;
    let (verbose, exists, deny_check) = {
        let mut st = conn.st.borrow_mut();
        // Permissions first, as nats-server checks them; `_sys_` is refused to everyone.
        let judged = if queue == Some(SYS_QUEUE) {
            None
        } else {
            judge_subscription(st.perms.as_deref_mut(), subject, queue)
        };
        let Some(deny_check) = judged else {
            drop(st);
            sub_violation(conn, subject, queue, sid);
            return;
        };
        let max_tokens = shard.opts().max_sub_tokens;
        if max_tokens > 0 && subject.split(|&b| b == b'.').count() > max_tokens {
            drop(st);
            let s = auth::go_quote(subject);
            conn.queue_err(
                format!(
                    "-ERR 'Permissions Violation for Subscription to {s}, too many tokens'\r\n"
                )
                .as_bytes(),
            );
            error!(
                "{} - Subscription Violation Too Many Tokens - Subject {s}, SID {}",
                conn.prefix(),
                String::from_utf8_lossy(sid)
            );
            return;
        }
        if max_subs > 0 && st.subs.len() >= max_subs {
            drop(st);
            conn.queue_err(soft::MAX_SUBSCRIPTIONS);
            return;
        }
        (st.opts.verbose, st.subs.contains_key(sid), deny_check)
    };
    if !exists {
        match shard.add_sub(conn, sid, subject, queue, deny_check) {
            Some(key) => {
                conn.st.borrow_mut().subs.insert(sid.into(), key);
            }
            None => {
                conn.queue_err(soft::INVALID_SUBJECT);
                return;
            }
        }
    }
    if verbose {
        send_ok(conn);
    }
}

fn handle_unsub(shard: &Rc<Shard>, conn: &Rc<Conn>, sid: &[u8], max: Option<i64>) {
    let (verbose, key) = {
        let st = conn.st.borrow();
        (st.opts.verbose, st.subs.get(sid).copied())
    };
    if verbose {
        send_ok(conn);
    }
    let Some(key) = key else { return };
    let max = max.unwrap_or(-1);
    let keep = {
        let mut st = shard.st.borrow_mut();
        match st.subs.get_mut(key as usize) {
            Some(sub) if max > 0 && (max as u64) > sub.delivered => {
                sub.max = max as u64;
                true
            }
            _ => false,
        }
    };
    if !keep {
        conn.trace_delsub(sid);
        conn.st.borrow_mut().subs.remove(sid);
        shard.remove_sub(key);
    }
}

fn handle_ping(shard: &Rc<Shard>, conn: &Rc<Conn>) {
    if conn.trace.get() {
        trace!("{} - ->> [PONG]", conn.prefix());
    }
    conn.queue(b"PONG\r\n");
    let send_info = {
        let mut st = conn.st.borrow_mut();
        if st.connect_received && !st.first_pong_sent {
            st.first_pong_sent = true;
            st.opts.protocol >= 1
        } else {
            false
        }
    };
    if send_info {
        // 2.12+: after the first PONG, an INFO that confirms the CONNECT (CL-06).
        let mut info = client_info(shard, conn.cid, &conn.peer);
        info.connect_info = true;
        info.remote_account = "$G".to_string();
        conn.queue(&info.to_line());
    }
}

/// Lame duck mode started: tells a client that takes async INFO (spec AI-01/AI-02).
pub fn send_ldm_info(shard: &Shard, conn: &Conn) {
    let eligible = {
        let st = conn.st.borrow();
        st.opts.protocol >= 1 && st.first_pong_sent
    };
    if eligible {
        let mut info = client_info(shard, conn.cid, &conn.peer);
        info.ldm = true;
        conn.queue(&info.to_line());
    }
}

/// What woke the writer.
enum Wake {
    Data,
    Closing,
}

/// Sends the server's PINGs (spec CL-07): its own task, so the writer arms no timer per
/// flush. Ends when the connection closes.
async fn pinger(shard: Rc<Shard>, conn: Rc<Conn>) {
    loop {
        let (next, auth_deadline) = {
            let st = conn.st.borrow();
            (st.next_ping, st.auth_deadline)
        };
        // Before CONNECT the authentication deadline may come first.
        let next = auth_deadline.map_or(next, |d| d.min(next));
        let closed = or(
            async {
                Timer::new(next.saturating_duration_since(Instant::now())).await;
                false
            },
            poll_fn(|cx| {
                let mut st = conn.st.borrow_mut();
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
        if conn
            .st
            .borrow()
            .auth_deadline
            .is_some_and(|d| Instant::now() >= d)
        {
            debug!("{} - Authentication Timeout", conn.prefix());
            conn.queue_err(soft::AUTH_TIMEOUT);
            conn.close(CloseReason::AuthenticationTimeout);
            return;
        }
        // CONNECT may have moved the deadline while we slept.
        if Instant::now() >= conn.st.borrow().next_ping {
            ping_timer(&shard, &conn);
        }
    }
}

async fn writer(shard: Rc<Shard>, conn: Rc<Conn>, stream: SharedStream) {
    let tls = stream.borrow().is_tls();
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let wake = poll_fn(|cx| {
            let mut st = conn.st.borrow_mut();
            if st.closing.is_some() {
                Poll::Ready(Wake::Closing)
            } else if !st.out.is_empty() {
                Poll::Ready(Wake::Data)
            } else {
                st.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if let Wake::Closing = wake {
            break;
        }
        // Whatever the server says after a SUB (PONG, +OK, a 503, a message) promises the
        // client that every shard knows the subscription, as with nats-server's one sublist:
        // hold the bytes until the other shards have applied this connection's interest.
        let need = conn.st.borrow().interest_need;
        shard.barrier(need).await;
        {
            let mut st = conn.st.borrow_mut();
            std::mem::swap(&mut st.out, &mut spare);
            st.inflight = spare.len();
            st.writer = None;
        }
        let res = flush(&shard, &conn, &stream, tls, &spare).await;
        spare.clear();
        if spare.capacity() > 4 * READ_BUFFER_SIZE {
            spare = Vec::new();
        }
        conn.st.borrow_mut().inflight = 0;
        match res {
            Bounded::Done => {}
            Bounded::Deadline => {
                conn.close(CloseReason::SlowConsumerWriteDeadline);
                break;
            }
            Bounded::Failed => {
                // Closing meanwhile (a publisher found this client a slow consumer) also
                // ends here: the close reason is already set.
                conn.close(CloseReason::WriteError);
                break;
            }
        }
    }
    // Closing: flush what is left (an -ERR), unless the client stopped reading.
    let last = {
        let mut st = conn.st.borrow_mut();
        st.writer = None;
        if st.flush_on_close {
            std::mem::take(&mut st.out)
        } else {
            st.out = Vec::new();
            Vec::new()
        }
    };
    if !last.is_empty() || tls {
        let _ = or(
            async {
                write_all(&stream, &last).await?;
                if tls {
                    // Ends the TLS session properly, after the last bytes.
                    stream.borrow_mut().send_close_notify();
                    write_all(&stream, &[]).await?;
                }
                io::Result::Ok(())
            },
            async {
                Timer::new(CLOSE_FLUSH_DEADLINE).await;
                Ok(())
            },
        )
        .await;
    }
    // Wakes the reader out of its read and tells the client we are done.
    // SAFETY: the fd is owned by `stream`, which we still hold.
    unsafe {
        libc::shutdown(conn.fd, libc::SHUT_RDWR);
    }
    let mut st = conn.st.borrow_mut();
    st.writer_done = true;
    if let Some(w) = st.done_waker.take() {
        w.wake();
    }
}

/// One write of everything queued, bounded by `write_deadline` under the `write_timeout`
/// policy (see [`write_bounded`]), abandoned if the connection is closed meanwhile (a slow
/// consumer detected by a publisher).
async fn flush(
    shard: &Shard,
    conn: &Conn,
    stream: &SharedStream,
    tls: bool,
    all: &[u8],
) -> Bounded {
    let mut data = all;
    // Fast path: the socket usually takes everything at once, and then no deadline timer is
    // needed at all. TLS bytes go through rustls, always on the path below.
    while !tls && !data.is_empty() {
        // SAFETY: sends from a live buffer on a socket we own; MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::send(
                conn.fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::WouldBlock => break,
            io::ErrorKind::Interrupted => continue,
            _ => return Bounded::Failed,
        }
    }
    if data.is_empty() {
        return Bounded::Done;
    }
    let (deadline, retry) = {
        let o = shard.opts();
        (
            o.write_deadline,
            o.write_timeout.retries(WritePolicy::Close),
        )
    };
    let late = |_first, going_on| {
        if going_on {
            // A close counts itself (see `closed`).
            crate::stats::add(&shard.local.slow_consumers, 1);
            shard.publish_stats();
        }
    };
    let written = all.len() - data.len();
    let prefix = || conn.prefix();
    let write = write_bounded(stream, data, written, deadline, retry, prefix, late);
    let closing = poll_fn(|cx| {
        let mut st = conn.st.borrow_mut();
        if st.closing.is_some() && !st.flush_on_close {
            Poll::Ready(Bounded::Failed)
        } else {
            st.writer = Some(cx.waker().clone());
            Poll::Pending
        }
    });
    or(write, closing).await
}

/// The PING timer fired (spec CL-07, §2.9 ping_max).
fn ping_timer(shard: &Shard, conn: &Conn) {
    let opts = shard.opts();
    let now = Instant::now();
    let mut st = conn.st.borrow_mut();
    st.next_ping = now + opts.ping_interval;
    // nats-server always sends a PING when it has no fresh RTT (the first one, and hourly);
    // otherwise recent client activity makes the PING unnecessary.
    let need_rtt = st
        .rtt_start
        .is_none_or(|t| now.duration_since(t) > RTT_MEASUREMENT_INTERVAL);
    if !need_rtt && now.duration_since(st.last_in) < opts.ping_interval {
        return;
    }
    if st.pings_out + 1 > opts.ping_max {
        drop(st);
        conn.queue_err(soft::STALE_CONNECTION);
        debug!("{} - Stale Client Connection - Closing", conn.prefix());
        conn.close(CloseReason::StaleConnection);
        return;
    }
    st.pings_out += 1;
    st.rtt_start = Some(now);
    drop(st);
    if conn.trace.get() {
        trace!("{} - ->> [PING]", conn.prefix());
    }
    conn.queue(b"PING\r\n");
}
