//! CONNECT and authentication for a client connection (spec §2.4, §2.11, CL-04): the
//! CONNECT options, the credentials checked against [`crate::auth`] (bcrypt on the shard's
//! blocking thread), `verify_and_map` from the TLS client certificate, the `no_auth_user`
//! stand-in for a client whose first operation is not CONNECT, and the pieces a reload
//! re-uses to judge connected clients again (`reauth.rs`).

use std::rc::Rc;
use std::time::Instant;

use log::{debug, error};

use super::conn::{fail, first_ping_delay, send_ok, Conn, ConnState};
use super::{Shard, SubKey};
use crate::auth::perms::ConnPerms;
use crate::auth::{self, Authed, CertMap, Verdict};
use crate::goquote;
use crate::options::Options;
use crate::protocol::info::ConnectOpts;
use crate::protocol::ProtoError;
use crate::tls::identity::CertIdentity;

/// CONNECT (spec §2.4, CL-04): options, authentication, then the checks that need both.
pub(super) async fn handle_connect(
    shard: &Rc<Shard>,
    conn: &Rc<Conn>,
    json: &[u8],
) -> Result<(), ProtoError> {
    let authed = match connect_begin(shard, conn, json)? {
        None => None,
        Some(Verdict::Ok(a)) => Some(a),
        Some(Verdict::Denied) => return Err(auth_failed(conn)),
        Some(Verdict::Bcrypt { hash, given, then }) => {
            // Tens of milliseconds of hashing: on the shard's blocking thread, so the other
            // clients of this shard are served meanwhile.
            let ok = glommio::executor()
                .spawn_blocking(move || auth::compare(&hash, &given))
                .await;
            if conn.is_closing() {
                return Ok(());
            }
            if !ok {
                return Err(auth_failed(conn));
            }
            Some(then)
        }
    };
    connect_end(shard, conn, authed)
}

/// Applies the CONNECT options and decides on the credentials (`None` when the server
/// requires no authentication: credentials are then ignored, as nats-server ignores them).
fn connect_begin(
    shard: &Rc<Shard>,
    conn: &Rc<Conn>,
    json: &[u8],
) -> Result<Option<Verdict>, ProtoError> {
    // nats-server drops a connection's subscriptions on a second CONNECT (it may move the
    // client to another account), even when the account stays the same.
    let old: Vec<SubKey> = {
        let mut st = conn.st.borrow_mut();
        // Like nats-server's auth timer, the deadline ends at CONNECT whatever follows.
        st.auth_deadline = None;
        if st.connect_received {
            st.subs.drain().map(|(_, k)| k).collect()
        } else {
            Vec::new()
        }
    };
    for k in old {
        shard.remove_sub(k);
    }
    let mut st = conn.st.borrow_mut();
    st.opts.apply(json)?;
    st.connect_received = true;
    let opts = shard.opts();
    st.headers = st.opts.headers && !opts.no_header_support;
    let Some(a) = opts.auth.as_ref().filter(|a| a.required()) else {
        return Ok(None);
    };
    let st = &mut *st;
    let id = cert_identity(&opts, st);
    Ok(Some(a.check_mapped(
        &mut st.opts,
        &st.nonce,
        cert_map(&opts, id.as_ref()),
    )))
}

/// The identity of the client's leaf certificate when `verify_and_map` needs it.
pub(super) fn cert_identity(opts: &Options, st: &ConnState) -> Option<CertIdentity> {
    if !opts.tls.as_ref().is_some_and(|t| t.map) {
        return None;
    }
    let leaf = st.tls.as_ref()?.peer_certs.first()?;
    match CertIdentity::from_der(leaf) {
        Ok(id) => Some(id),
        Err(e) => {
            debug!("client certificate not readable for verify_and_map: {e:?}");
            None
        }
    }
}

pub(super) fn cert_map<'a>(opts: &Options, id: Option<&'a CertIdentity>) -> CertMap<'a> {
    if opts.tls.as_ref().is_some_and(|t| t.map) {
        CertMap::On(id)
    } else {
        CertMap::Off
    }
}

/// The CONNECT checks after authentication, then `+OK`.
fn connect_end(
    shard: &Rc<Shard>,
    conn: &Rc<Conn>,
    authed: Option<Authed>,
) -> Result<(), ProtoError> {
    let verbose = {
        let mut st = conn.st.borrow_mut();
        if let Some(a) = authed {
            set_perms(conn, &mut st, a);
        }
        if !st.opts.account.is_empty() || st.opts.new_account {
            return Err(ProtoError::AuthViolation);
        }
        if !(0..=1).contains(&st.opts.protocol) {
            return Err(ProtoError::BadClientProtocol);
        }
        if st.opts.no_responders && !st.headers {
            return Err(ProtoError::NoRespondersRequiresHeaders);
        }
        let now = Instant::now();
        st.next_ping = now + first_ping_delay(shard);
        // nats-server's first RTT estimate: accept to CONNECT.
        st.rtt = st.start.elapsed().unwrap_or_default();
        st.opts.verbose
    };
    if verbose {
        send_ok(conn);
    }
    Ok(())
}

/// Installs what an authentication gave the connection (nats-server's `RegisterUser`).
pub(super) fn set_perms(conn: &Conn, st: &mut ConnState, a: Authed) {
    st.perms = a.permissions.map(|p| Box::new(ConnPerms::new(&p)));
    conn.track_replies
        .set(st.perms.as_ref().is_some_and(|p| p.tracks_replies()));
}

/// Logs a failed authentication as nats-server does and returns the error that closes.
fn auth_failed(conn: &Conn) -> ProtoError {
    let who = match raw_auth_user(&conn.st.borrow().opts) {
        "" => String::new(),
        u if !conn.st.borrow().opts.nkey.is_empty() => format!(" - Nkey \"{u}\""),
        "[REDACTED]" => " - Token \"[REDACTED]\"".to_string(),
        u => format!(" - User \"{u}\""),
    };
    error!("{} - authentication error{who}", conn.prefix());
    ProtoError::AuthViolation
}

/// Refuses a client that no longer authenticates (after a reload), as nats-server's
/// `authViolation`: logged, `-ERR 'Authorization Violation'`, closed.
pub(super) fn refuse(conn: &Conn) {
    fail(conn, auth_failed(conn));
}

/// Who a client is in log lines (nats-server's `getAuthUser`).
pub(super) fn auth_user_label(o: &ConnectOpts) -> String {
    if !o.nkey.is_empty() {
        format!("Nkey {}", goquote::quote(o.nkey.as_bytes()))
    } else if !o.user.is_empty() {
        format!("User {}", goquote::quote(o.user.as_bytes()))
    } else if !o.auth_token.is_empty() {
        "Token \"[REDACTED]\"".to_string()
    } else {
        "User \"N/A\"".to_string()
    }
}

/// The user `/connz?auth=true` shows (nats-server's `getRawAuthUser`).
pub fn raw_auth_user(o: &ConnectOpts) -> &str {
    if !o.nkey.is_empty() {
        &o.nkey
    } else if !o.user.is_empty() {
        &o.user
    } else if !o.auth_token.is_empty() {
        "[REDACTED]"
    } else {
        ""
    }
}

/// A client whose first operation is not CONNECT, on a server with a `no_auth_user`: it is
/// that user from now on (nats-server lets telnet demos work this way). False when it cannot
/// be, and the connection must close.
pub(super) fn implicit_connect(shard: &Shard, conn: &Conn) -> bool {
    let opts = shard.opts();
    let Some(a) = opts.auth.as_ref() else {
        return false;
    };
    if a.no_auth_user_for_implicit_connect().is_none() {
        return false;
    }
    let mut st = conn.st.borrow_mut();
    st.auth_deadline = None;
    st.connect_received = true;
    let st = &mut *st;
    let id = cert_identity(&opts, st);
    match a.check_mapped(&mut st.opts, &st.nonce, cert_map(&opts, id.as_ref())) {
        Verdict::Ok(authed) => {
            set_perms(conn, st, authed);
            true
        }
        // The user's password was copied into the options: a bcrypt hash never matches
        // itself, so nats-server refuses this case, and so do we without hashing.
        Verdict::Bcrypt { .. } | Verdict::Denied => false,
    }
}
