//! What a route says, frame by frame: the handshake (CONNECT, first INFO: RT-01..RT-05),
//! gossip and lame-duck INFOs (GS-02, GS-03), interest and messages.

use std::rc::Rc;

use bytes::Bytes;
use log::{debug, error, trace};

use super::conn::{Route, RouteClose};
use super::info::{RouteConnect, RouteInfo};
use super::proto::{self, RouteOp};
use super::{solicit, Router};
use crate::auth;
use crate::options::RouteUrl;

fn trace_in(route: &Route, op: &RouteOp) {
    let text = match op {
        RouteOp::Connect(j) => format!("CONNECT {}", String::from_utf8_lossy(j)),
        RouteOp::Info(j) => format!("INFO {}", String::from_utf8_lossy(j)),
        RouteOp::Ping => "PING".into(),
        RouteOp::Pong => "PONG".into(),
        RouteOp::Ok => "+OK".into(),
        RouteOp::Err(e) => format!("-ERR {}", String::from_utf8_lossy(e)),
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => {
            let mut s = format!(
                "RS+ {} {}",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            );
            if let Some((q, w)) = queue {
                s.push_str(&format!(" {} {w}", String::from_utf8_lossy(q)));
            }
            s
        }
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => {
            let mut s = format!(
                "RS- {} {}",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            );
            if let Some(q) = queue {
                s.push_str(&format!(" {}", String::from_utf8_lossy(q)));
            }
            s
        }
        RouteOp::Msg(m) => format!(
            "RMSG {} {} {}",
            String::from_utf8_lossy(m.account),
            String::from_utf8_lossy(m.subject),
            String::from_utf8_lossy(m.size_tok)
        ),
    };
    trace!("{} - \"<<- [{}]\"", route.prefix(), text);
}

pub(super) fn handle_op(
    router: &Rc<Router>,
    route: &Rc<Route>,
    op: RouteOp,
) -> Result<(), RouteClose> {
    if route.trace {
        trace_in(route, &op);
    }
    // RT-01: an accepted route must start with CONNECT.
    if !route.dialled && !route.st.borrow().connect_received && !matches!(op, RouteOp::Connect(_)) {
        error!("{} - authentication error", route.prefix());
        route.queue_err("Authorization Violation");
        return Err(RouteClose::AuthenticationViolation);
    }
    match op {
        // The reader hands CONNECT to `handle_connect` (it may wait for bcrypt).
        RouteOp::Connect(_) => Ok(()),
        RouteOp::Info(json) => handle_info(router, route, json),
        RouteOp::Ping => {
            route.queue_proto(b"PONG\r\n");
            Ok(())
        }
        RouteOp::Pong => {
            let mut st = route.st.borrow_mut();
            st.pings_out = 0;
            if let Some(t) = st.rtt_start {
                st.rtt = t.elapsed();
            }
            Ok(())
        }
        RouteOp::Ok => Ok(()),
        RouteOp::Err(text) => {
            let text = String::from_utf8_lossy(text);
            // Expected in interop mode (§7.5): a nats-server dials a dedicated $SYS route,
            // sees we do not pool, and says so.
            if text.contains("Not possible to have a dedicated route") {
                debug!("{} - Route Error {text}", route.prefix());
            } else {
                error!("{} - Route Error {text}", route.prefix());
            }
            Err(RouteClose::ParseError)
        }
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => {
            if !route.is_registered() || account != proto::GLOBAL_ACCOUNT {
                return Ok(());
            }
            if !crate::subject::is_valid_subject(subject) || !router.can_export(subject) {
                return Ok(());
            }
            let (q, w) = match queue {
                Some((q, w)) => (Some(Bytes::copy_from_slice(q)), w.max(1)),
                None => (None, 1),
            };
            router.remote_interest(
                route.key.get(),
                route,
                (Bytes::copy_from_slice(subject), q),
                w,
            );
            Ok(())
        }
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => {
            if !route.is_registered() || account != proto::GLOBAL_ACCOUNT {
                return Ok(());
            }
            let key = (
                Bytes::copy_from_slice(subject),
                queue.map(Bytes::copy_from_slice),
            );
            router.remote_interest(route.key.get(), route, key, 0);
            Ok(())
        }
        RouteOp::Msg(m) => {
            if !route.is_registered() {
                return Ok(());
            }
            {
                let mut st = route.st.borrow_mut();
                st.in_msgs += 1;
                st.in_bytes += m.payload.len() as u64;
            }
            router.route_in(&m);
            Ok(())
        }
    }
}

/// CONNECT from the dialling side (RT-03). Async: a bcrypt cluster password is compared on
/// the control shard's blocking thread, so the other routes and the monitor keep being
/// served meanwhile; the reader waits, so nothing after the CONNECT is handled before it.
pub(super) async fn handle_connect(
    router: &Rc<Router>,
    route: &Rc<Route>,
    json: &[u8],
) -> Result<(), RouteClose> {
    if route.trace {
        trace_in(route, &RouteOp::Connect(json));
    }
    if route.st.borrow().connect_received {
        return Ok(());
    }
    let Ok(c) = serde_json::from_slice::<RouteConnect>(json) else {
        return Err(RouteClose::ProtocolViolation);
    };
    if !c.lang.is_empty() {
        error!("{} - attempted to connect to route port", route.prefix());
        route.queue_err("attempted to connect to route port");
        return Err(RouteClose::WrongPort);
    }
    if !c.gateway.is_empty() {
        let t = format!(
            "Rejecting connection from gateway {:?} on the Route port",
            c.gateway
        );
        error!("{} - {t}", route.prefix());
        route.queue_err(&t);
        return Err(RouteClose::WrongGateway);
    }
    // RT-03: the single cluster user; its password may be a bcrypt hash (AU-02).
    if router.copts().user.is_some() {
        let ok = authorized(router, &c.user, &c.pass).await;
        if route.is_closing() {
            // The auth timer fired while bcrypt ran.
            return Ok(());
        }
        if !ok {
            return Err(auth_violation(route, &c.user));
        }
    }
    let ours = router.st.borrow().cluster_name.clone();
    if c.cluster != ours {
        let dynamic = router.st.borrow().dynamic;
        if dynamic && (!c.cluster_dynamic || ours < c.cluster) && !c.cluster.is_empty() {
            router.adopt_cluster_name(&c.cluster, c.cluster_dynamic, route.key.get());
        } else {
            let t = format!(
                "Rejecting connection, cluster name {:?} does not match {:?}",
                c.cluster, ours
            );
            error!("{} - {t}", route.prefix());
            route.queue_err(&t);
            return Err(RouteClose::ClusterNameConflict);
        }
    }
    let mut st = route.st.borrow_mut();
    st.connect_received = true;
    st.connect_user = c.user;
    st.connect_pass = c.pass;
    st.remote_id = c.name;
    st.headers = c.headers && !router.shared.opts().no_header_support;
    Ok(())
}

/// Refuses a route whose credentials `cluster { authorization }` does not admit, as
/// nats-server's `authViolation`: logged (with the user it gave), `-ERR`, closed.
pub(super) fn auth_violation(route: &Route, user: &str) -> RouteClose {
    if user.is_empty() {
        error!("{} - authentication error", route.prefix());
    } else {
        error!(
            "{} - authentication error - User {:?}",
            route.prefix(),
            user
        );
    }
    route.queue_err("Authorization Violation");
    RouteClose::AuthenticationViolation
}

/// Whether `user`/`pass` pass `cluster { authorization }` as it is now (nats-server's
/// `isRouterAuthorized`); a bcrypt password is compared off the executor.
pub(super) async fn authorized(router: &Router, user: &str, pass: &str) -> bool {
    let copts = router.copts();
    let Some(want) = &copts.user else {
        return true;
    };
    if user != want {
        return false;
    }
    let hash = copts.password.clone().unwrap_or_default();
    if auth::is_bcrypt(&hash) {
        let given = pass.to_string();
        glommio::executor()
            .spawn_blocking(move || auth::compare(&hash, &given))
            .await
    } else {
        auth::plain_equal(&hash, pass)
    }
}

fn handle_info(router: &Rc<Router>, route: &Rc<Route>, json: &[u8]) -> Result<(), RouteClose> {
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Err(RouteClose::ProtocolViolation);
    };
    let Ok(info) = serde_json::from_value::<RouteInfo>(raw.clone()) else {
        return Err(RouteClose::ProtocolViolation);
    };
    let first = !route.st.borrow().info_received;
    if !first {
        return async_info(router, route, &info);
    }
    let sh = &router.shared;
    // RT-05: a route to ourselves.
    if info.server_id == sh.server_id {
        route.st.borrow_mut().remote_id = info.server_id.clone();
        debug!("{} - Detected route to self, ignoring", route.prefix());
        return Err(RouteClose::DuplicateRoute);
    }
    let ours = router.st.borrow().cluster_name.clone();
    if !info.cluster.is_empty() && info.cluster != ours {
        let dynamic = router.st.borrow().dynamic;
        if dynamic && (!info.cluster_dynamic || ours < info.cluster) {
            router.adopt_cluster_name(&info.cluster, info.cluster_dynamic, route.key.get());
        } else {
            let t = format!(
                "Rejecting connection, cluster name {:?} does not match {:?}",
                info.cluster, ours
            );
            error!("{} - {t}", route.prefix());
            route.queue_err(&t);
            return Err(RouteClose::ClusterNameConflict);
        }
    }
    if !route.dialled && info.server_name == sh.server_name {
        error!(
            "{} - Remote server has a duplicate name: {:?}",
            route.prefix(),
            info.server_name
        );
        return Err(RouteClose::DuplicateServerName);
    }
    if !info.route_account.is_empty() {
        // §7.5: we run one connection per server, with the account on every line.
        let t = format!(
            "Not possible to have a dedicated route for account {:?} between those servers",
            info.route_account
        );
        debug!("{} - {t}", route.prefix());
        route.queue_err(&t);
        return Err(RouteClose::ProtocolViolation);
    }
    {
        let mut st = route.st.borrow_mut();
        st.info_received = true;
        st.remote_id = info.server_id.clone();
        st.remote_name = info.server_name.clone();
        st.headers = info.headers && !sh.opts().no_header_support;
        st.connect_urls = info.connect_urls.clone();
        st.ldm = info.ldm;
        st.perms = (info.import.clone(), info.export.clone());
        if st.remote_url.is_none() {
            st.remote_url = Some(match &st.solicit {
                Some(s) => s.url.clone(),
                None => RouteUrl {
                    host: route.peer.ip().to_string(),
                    port: info.port,
                    user: None,
                    password: None,
                },
            });
        }
    }
    if !router.register(route.key.get(), route, &info, raw) {
        debug!(
            "{} - Detected duplicate remote route {:?}",
            route.prefix(),
            info.server_id
        );
        return Err(RouteClose::DuplicateRoute);
    }
    Ok(())
}

/// An INFO on a registered route: news of another server (GS-02) or of the peer (GS-03).
fn async_info(router: &Rc<Router>, route: &Rc<Route>, info: &RouteInfo) -> Result<(), RouteClose> {
    let remote_id = route.remote_id();
    if !remote_id.is_empty() && info.server_id != remote_id {
        solicit::implicit(router, info);
        return Ok(());
    }
    let (changed, perms_changed) = {
        let mut st = route.st.borrow_mut();
        let changed = st.ldm != info.ldm;
        st.ldm = info.ldm;
        let perms = (info.import.clone(), info.export.clone());
        let perms_changed = st.perms != perms;
        st.perms = perms;
        (changed, perms_changed)
    };
    if changed && !router.copts().no_advertise {
        router.publish_view();
    }
    // The peer reloaded its cluster permissions: send our interest again, so what it may
    // now take reaches it (RS+ for interest it already has changes nothing there).
    if perms_changed && route.is_registered() {
        let subs = router.all_interest();
        if !subs.is_empty() {
            route.queue_proto(&subs);
        }
    }
    Ok(())
}
