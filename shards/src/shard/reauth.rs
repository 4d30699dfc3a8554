//! What a reload that changes authorization does to the clients already connected, as
//! nats-server's `reloadAuthorization` does it (spec §4.7):
//!
//! - a client that named a user or an nkey (in CONNECT, or through `no_auth_user` or
//!   `verify_and_map`) that is no longer in the `users` or `nkeys` list is closed without a
//!   word (nats-server's `clientHasMovedToDifferentAccount`: it will reconnect and be judged
//!   afresh). This includes clients of a single `user`/`password`, which is not a list;
//! - every other client that sent CONNECT is authenticated again, with the CONNECT it sent
//!   and the new settings; one that fails gets `-ERR 'Authorization Violation'` and is
//!   closed. Like nats-server, removing authorization altogether fails them all (its check
//!   refuses a client when nothing is configured to check it against);
//! - one that passes gets its user's new permissions, and each subscription they no longer
//!   allow is removed with `-ERR 'Permissions Violation for Subscription to "s" (sid "1")'`.
//!
//! A bcrypt password is compared on the shard's blocking thread, as at CONNECT.
//!
//! One deliberate difference: nats-server 2.15 runs this on every reload, because it always
//! sees its user list as changed, so an unrelated reload (say `max_payload`) also closes
//! clients that sent a user name to a server without a users list. Users would not expect
//! that, and it is no part of what a reload means, so nats-tpc runs it only when the
//! authorization settings changed.

use std::rc::Rc;

use log::info;

use super::conn::Conn;
use super::connect;
use super::Shard;
use crate::auth::perms::judge_subscription;
use crate::auth::{self, Verdict};
use crate::protocol::CloseReason;

impl Shard {
    /// Re-checks this shard's clients against the options now in force (their
    /// authorization changed).
    pub(super) fn reauthorize(self: &Rc<Self>) {
        for c in self.clients() {
            if !c.st.borrow().connect_received || c.is_closing() {
                continue;
            }
            if self.user_gone(&c) {
                c.close(CloseReason::ClientClosed);
                continue;
            }
            match self.recheck(&c) {
                Verdict::Ok(a) => self.apply(&c, a),
                Verdict::Denied => connect::refuse(&c),
                Verdict::Bcrypt { hash, given, then } => {
                    let shard = self.clone();
                    glommio::spawn_local(async move {
                        let ok = glommio::executor()
                            .spawn_blocking(move || auth::compare(&hash, &given))
                            .await;
                        if c.is_closing() {
                            return;
                        }
                        if ok {
                            shard.apply(&c, then);
                        } else {
                            connect::refuse(&c);
                        }
                    })
                    .detach();
                }
            }
        }
    }

    /// Whether the user or nkey the client authenticated as is no longer configured.
    fn user_gone(&self, c: &Conn) -> bool {
        let opts = self.opts();
        let a = opts.auth.as_deref();
        let o = &c.st.borrow().opts;
        if !o.nkey.is_empty() {
            !a.and_then(|a| a.nkeys.as_ref())
                .is_some_and(|m| m.contains_key(&o.nkey))
        } else if !o.user.is_empty() {
            !a.and_then(|a| a.users.as_ref())
                .is_some_and(|m| m.contains_key(&o.user))
        } else {
            false
        }
    }

    fn recheck(&self, c: &Conn) -> Verdict {
        let opts = self.opts();
        let Some(a) = opts.auth.as_ref().filter(|a| a.required()) else {
            return Verdict::Denied;
        };
        let mut st = c.st.borrow_mut();
        let st = &mut *st;
        let id = connect::cert_identity(&opts, st);
        a.check_mapped(
            &mut st.opts,
            &st.nonce,
            connect::cert_map(&opts, id.as_ref()),
        )
    }

    /// Installs the new permissions and removes the subscriptions they deny; the others get
    /// their delivery check set anew (off when the client is now unrestricted).
    fn apply(&self, c: &Rc<Conn>, a: auth::Authed) {
        let mut subs: Vec<(Box<[u8]>, super::SubKey)> = {
            let mut st = c.st.borrow_mut();
            connect::set_perms(c, &mut st, a);
            st.subs.iter().map(|(sid, k)| (sid.clone(), *k)).collect()
        };
        // Oldest first, so the errors come in a stable order.
        subs.sort_by_key(|(_, k)| *k);
        for (sid, key) in subs {
            let Some((subject, queue)) = self
                .st
                .borrow()
                .subs
                .get(key as usize)
                .map(|s| (s.subject.clone(), s.queue.clone()))
            else {
                continue;
            };
            let judged = judge_subscription(
                c.st.borrow_mut().perms.as_deref_mut(),
                &subject,
                queue.as_deref(),
            );
            if let Some(deny_check) = judged {
                if let Some(s) = self.st.borrow_mut().subs.get_mut(key as usize) {
                    s.deny_check = deny_check;
                }
                continue;
            }
            c.st.borrow_mut().subs.remove(&sid);
            self.remove_sub(key);
            let (s, sid) = (auth::go_quote(&subject), auth::go_quote(&sid));
            let who = connect::auth_user_label(&c.st.borrow().opts);
            match queue {
                None => {
                    c.queue_err(
                        format!(
                            "-ERR 'Permissions Violation for Subscription to {s} (sid {sid})'\r\n"
                        )
                        .as_bytes(),
                    );
                    info!("Removed sub {s} (sid {sid}) for {who} - not authorized");
                }
                Some(q) => {
                    let q = auth::go_quote(&q);
                    c.queue_err(
                        format!(
                            "-ERR 'Permissions Violation for Subscription to {s} using queue {q} (sid {sid})'\r\n"
                        )
                        .as_bytes(),
                    );
                    info!("Removed sub {s} using queue {q} (sid {sid}) for {who} - not authorized");
                }
            }
        }
    }
}
