//! A shard's slow loop: picks up reloaded options and carries out lame duck mode.
//!
//! Both are decided by the binary's signal handling on the main thread, which writes them
//! into [`Shared`](super::Shared); each shard polls every [`OPTS_POLL`] rather than being
//! sent a message, because the main thread is not a glommio executor and cannot use the
//! shard mesh. One relaxed load per shard per poll costs nothing on the message path.
//!
//! Lame duck mode (spec AI-02), as nats-server does it:
//! 1. `entered`: each shard stops accepting (its `SO_REUSEPORT` listener is shut down, so
//!    new connections are refused once every shard has done it) and sends `INFO` with
//!    `"ldm":true` to its clients that take async INFO;
//! 2. after the grace period the binary sets `close_over_ns`, and each shard closes its
//!    own clients one by one over that time (at most a second apart, at least half the
//!    interval), with the reason `Server Shutdown`;
//! 3. the binary exits once no client is left.

use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use glommio::timer::Timer;
use glommio::Task;

use super::conn::{self, Conn};
use super::{Shard, OPTS_POLL};
use crate::protocol::CloseReason;

/// The accept loop of this shard's listener, so lame duck mode can stop it.
pub struct Acceptor {
    pub task: Task<()>,
    pub fd: RawFd,
}

impl Shard {
    /// Runs forever: reloads, then lame duck mode when it comes.
    pub async fn housekeeping(self: Rc<Self>, acceptor: Acceptor) {
        let mut acceptor = Some(acceptor);
        let mut closing_started = false;
        loop {
            Timer::new(OPTS_POLL).await;
            let before = self.opts();
            if self.refresh_opts() {
                if before.auth != self.opts().auth {
                    self.reauthorize();
                }
                self.close_over_max();
                self.shared.opts_applied[self.id].store(self.opts_gen.get(), Ordering::Release);
            }
            let ldm = &self.shared.ldm;
            if let Some(a) = acceptor.take_if(|_| ldm.entered.load(Ordering::Acquire)) {
                // Shut the listening socket down first: a pending io_uring accept keeps the
                // file open until it is cancelled, and the kernel would keep queueing
                // connections on it meanwhile.
                // SAFETY: the fd belongs to the listener the accept task still owns.
                unsafe {
                    libc::shutdown(a.fd, libc::SHUT_RDWR);
                }
                a.task.cancel().await;
                for c in self.clients() {
                    conn::send_ldm_info(&self, &c);
                }
                ldm.listeners_closed.fetch_add(1, Ordering::AcqRel);
            }
            let over = ldm.close_over_ns.load(Ordering::Acquire);
            if over > 0 && !closing_started {
                closing_started = true;
                let shard = self.clone();
                glommio::spawn_local(async move {
                    shard.close_clients(Duration::from_nanos(over)).await
                })
                .detach();
            }
        }
    }

    /// Closes this shard's share of the clients over a lowered `max_connections`, newest
    /// first (nats-server picks at random).
    fn close_over_max(&self) {
        let over = &self.shared.over_max;
        for c in self.clients().into_iter().rev() {
            if c.is_closing() {
                continue;
            }
            let took = over
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
            if !took {
                return;
            }
            c.queue_err(crate::protocol::errors::soft::MAX_CONNECTIONS);
            c.close(CloseReason::MaxConnectionsExceeded);
        }
    }

    /// This shard's client connections, oldest first.
    pub(super) fn clients(&self) -> Vec<Rc<Conn>> {
        let mut v: Vec<Rc<Conn>> = self.st.borrow().conns.values().cloned().collect();
        v.sort_by_key(|c| c.cid);
        v
    }

    /// Closes this shard's clients spread over `over` (nats-server's `lameDuckMode`).
    async fn close_clients(&self, over: Duration) {
        let clients = self.clients();
        let n = clients.len() as u64;
        if n == 0 {
            return;
        }
        let si = (over.as_nanos() as u64 / n).clamp(1, 1_000_000_000);
        for (i, c) in clients.iter().enumerate() {
            c.close(CloseReason::ServerShutdown);
            if i + 1 == clients.len() {
                break;
            }
            let v = (self.rand(si as usize) as u64).max(si / 2);
            Timer::new(Duration::from_nanos(v)).await;
        }
    }
}
