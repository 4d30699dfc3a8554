//! A reloaded `cluster {}` block put in force on the routes (spec §4.7; nats-server's
//! `clusterOption`, `routesOption`, the route part of `reloadAuthorization` and
//! `reloadClusterPermissions`).
//!
//! The binary has already compared the old and new settings and refused a reload that
//! changes what cannot change (the listen host and port). The control shard polls the
//! options generation like the client shards do (see [`crate::shard::housekeeping`]), then:
//!
//! - removed `routes` close with `Route Removed` and are not dialled again; added ones
//!   are dialled;
//! - accepted routes whose CONNECT no longer passes `authorization` are refused as
//!   nats-server's `authViolation` does, and not redialled (dialled routes present the
//!   credentials of their URL, which the reload did not change, or they would have been
//!   removed and added);
//! - a new `name` is adopted at once; `no_advertise` changes what clients are told;
//! - new `permissions` are sent to every route in our INFO, and interest is added or
//!   withdrawn both ways to match them;
//! - everything else (timeouts, pings, retries, TLS) is read when next needed, so it applies
//!   to new connections, and to open ones at their next ping or write.

use std::rc::Rc;

use glommio::timer::sleep;
use log::{debug, info};

use super::conn::{Route, RouteClose};
use super::{allowed, ops, proto, solicit, tls, Router};
use crate::options::{ClusterOpts, RouteUrl};

impl Router {
    /// Puts every reload in force, forever.
    pub async fn watch_reload(self: Rc<Self>) {
        let mut generation = self.shared.opts_generation();
        loop {
            sleep(crate::shard::OPTS_POLL).await;
            let now = self.shared.opts_generation();
            if now == generation {
                continue;
            }
            generation = now;
            self.max_pending.set(self.shared.opts().max_pending);
            // A reload never removes the cluster block (that changes the port: refused).
            if let Some(new) = self.shared.opts().cluster.clone() {
                self.apply_reload(new).await;
            }
            self.write_deadline
                .set(super::route_deadline(&self.copts(), &self.shared.opts()));
            if let Some(a) = self.shared.opts_applied.get(self.shared.nshards) {
                a.store(now, std::sync::atomic::Ordering::Release);
            }
        }
    }

    async fn apply_reload(self: &Rc<Self>, new: ClusterOpts) {
        *self.tls.borrow_mut() = self.shared.route_tls();
        let old = self.copts();
        if *old == new {
            return;
        }
        debug!("Applying reloaded cluster settings");
        *self.copts.borrow_mut() = Rc::new(new.clone());
        self.reload_name(&old, &new);
        if old.no_advertise != new.no_advertise {
            self.publish_view();
        }
        if old.import != new.import || old.export != new.export {
            self.reload_permissions(&old, &new);
        }
        if old.routes != new.routes {
            *self.tls_name.borrow_mut() = tls::first_route_name(&new.routes);
            self.reload_routes(&old.routes, &new.routes);
        }
        if old.user != new.user || old.password != new.password {
            self.reload_authorization().await;
        }
    }

    /// A configured name replaces ours (nats-server's `setClusterName`); none makes the
    /// name dynamic again, so a peer's may be adopted.
    fn reload_name(&self, old: &ClusterOpts, new: &ClusterOpts) {
        if old.name == new.name {
            return;
        }
        let updated = {
            let mut st = self.st.borrow_mut();
            st.dynamic = new.name.is_none();
            match &new.name {
                Some(n) if *n != st.cluster_name => {
                    st.cluster_name = n.clone();
                    true
                }
                _ => false,
            }
        };
        if updated {
            info!("Cluster name updated to {}", self.st.borrow().cluster_name);
            self.publish_view();
        }
    }

    /// Closes the routes dialled for a removed URL for good, dials the added ones.
    fn reload_routes(self: &Rc<Self>, old: &[RouteUrl], new: &[RouteUrl]) {
        let routes: Vec<Rc<Route>> = self
            .st
            .borrow()
            .routes
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        for url in old.iter().filter(|u| !new.contains(u)) {
            for r in &routes {
                let dialled_for =
                    r.st.borrow()
                        .solicit
                        .as_ref()
                        .is_some_and(|s| s.url == *url);
                if dialled_for {
                    r.set_no_reconnect();
                    r.close(RouteClose::RouteRemoved);
                    info!("Removed route {}", display_url(url));
                }
            }
        }
        for url in new.iter().filter(|u| !old.contains(u)) {
            let s = solicit::Solicit {
                url: url.clone(),
                explicit: true,
                gossip: 0,
            };
            glommio::spawn_local(solicit::connect(self.clone(), s, true, None)).detach();
        }
    }

    /// Refuses the accepted routes whose CONNECT the new `authorization` does not admit.
    /// Routes we dialled are left alone: we hold no credentials of theirs to check.
    async fn reload_authorization(&self) {
        let accepted: Vec<Rc<Route>> = self
            .st
            .borrow()
            .routes
            .iter()
            .map(|(_, r)| r.clone())
            .filter(|r| {
                let st = r.st.borrow();
                st.solicit.is_none() && st.connect_received && st.closing.is_none()
            })
            .collect();
        for r in accepted {
            let (user, pass) = {
                let st = r.st.borrow();
                (st.connect_user.clone(), st.connect_pass.clone())
            };
            if ops::authorized(self, &user, &pass).await || r.is_closing() {
                continue;
            }
            r.set_no_reconnect();
            let reason = ops::auth_violation(&r, &user);
            r.close(reason);
        }
    }

    /// New cluster permissions: our INFO with them goes to every route; local interest
    /// that may now be imported is announced and interest that may not any more is
    /// withdrawn; routes' interest we may no longer export is dropped.
    fn reload_permissions(&self, old: &ClusterOpts, new: &ClusterOpts) {
        let mut subs = Vec::new();
        let mut unsubs = Vec::new();
        let routes: Vec<Rc<Route>> = {
            let st = self.st.borrow();
            for ((s, q), n) in st.local.iter() {
                let was = allowed(old.import.as_ref(), s);
                let now = allowed(new.import.as_ref(), s);
                if now && !was {
                    proto::rs_plus(&mut subs, s, q.as_deref().map(|q| (q, *n)));
                } else if was && !now {
                    proto::rs_minus(&mut unsubs, s, q.as_deref());
                }
            }
            st.routes
                .iter()
                .filter(|(_, r)| r.is_registered())
                .map(|(_, r)| r.clone())
                .collect()
        };
        let info = self.info().to_line();
        for r in &routes {
            let dropped: Vec<_> =
                r.st.borrow()
                    .subs
                    .keys()
                    .filter(|k| !allowed(new.export.as_ref(), &k.0))
                    .cloned()
                    .collect();
            for k in dropped {
                self.remote_interest(r.key.get(), r, k, 0);
            }
            for bytes in [&info, &subs, &unsubs] {
                if !bytes.is_empty() {
                    r.queue_proto(bytes);
                }
            }
        }
    }
}

/// A route URL as nats-server prints it in `Removed route ...`.
fn display_url(u: &RouteUrl) -> String {
    let userinfo = match (&u.user, &u.password) {
        (Some(user), Some(p)) => format!("{user}:{p}@"),
        (Some(user), None) => format!("{user}@"),
        _ => String::new(),
    };
    format!("nats-route://{userinfo}{}", u.host_port())
}
