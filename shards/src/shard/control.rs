//! What the control shard may ask a shard (for `/connz` and `/subsz`), and the answers.
//! Questions and answers travel on one SPSC channel pair per shard, like everything else
//! that crosses cores; a shard answers from its own state between batches.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};

use super::Shard;

/// A question from the control shard.
#[derive(Debug, Clone, Copy)]
pub enum ControlReq {
    /// Every open connection (and the closed ones kept, if `closed`), with their
    /// subscriptions if `subs`.
    Connz {
        subs: bool,
        open: bool,
        closed: bool,
    },
    /// Subscription index statistics, and the subscriptions if `list`.
    Subsz { list: bool },
}

/// One subscription, as `/connz?subs=detail` and `/subsz?subs=1` show it.
#[derive(Debug, Clone)]
pub struct SubInfo {
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    pub max: u64,
    pub cid: u64,
}

/// One open connection, as `/connz` shows it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub cid: u64,
    pub shard: usize,
    pub ip: String,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub rtt: Duration,
    pub pending_bytes: u64,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub num_subs: u64,
    pub name: String,
    pub lang: String,
    pub version: String,
    /// The authenticated user, nkey or `[REDACTED]` token (`authorized_user`).
    pub user: String,
    pub subs: Vec<SubInfo>,
    /// For closed connections: when and why.
    pub stop: Option<SystemTime>,
    pub reason: Option<&'static str>,
    /// For TLS connections: what was negotiated.
    pub tls: Option<TlsSummary>,
}

/// A TLS connection as `/connz` shows it (`tls_version`, `tls_cipher_suite`, `tls_first`,
/// `tls_peer_certs`).
#[derive(Debug, Clone)]
pub struct TlsSummary {
    pub version: String,
    pub cipher: String,
    pub first: bool,
    pub peer_certs: Vec<PeerCert>,
}

/// One client certificate: Go's subject string, SHA-256 of its SPKI and of the whole cert.
#[derive(Debug, Clone)]
pub struct PeerCert {
    pub subject: String,
    pub spki_sha256: String,
    pub cert_sha256: String,
}

fn tls_summary(t: &super::handshake::TlsConnInfo) -> TlsSummary {
    use crate::tls::{identity::hex, sha256};
    TlsSummary {
        version: t.version.clone(),
        cipher: t.cipher.clone(),
        first: t.first,
        peer_certs: t
            .peer_certs
            .iter()
            .map(|c| PeerCert {
                subject: crate::tls::identity::CertIdentity::from_der(c)
                    .map(|i| i.subject_string())
                    .unwrap_or_default(),
                spki_sha256: crate::tls::der::cert_fields(c)
                    .map(|f| hex(&sha256(f.spki)))
                    .unwrap_or_default(),
                cert_sha256: hex(&sha256(c)),
            })
            .collect(),
    }
}

/// Index statistics of one shard.
#[derive(Debug, Clone, Default)]
pub struct SubszPart {
    pub num_subscriptions: u64,
    pub num_cache: u64,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    pub cache_hits: u64,
    pub subs: Vec<SubInfo>,
}

/// An answer to a [`ControlReq`].
#[derive(Debug)]
pub enum ControlResp {
    Connz(Vec<ConnInfo>),
    Subsz(SubszPart),
}

impl Shard {
    fn sub_info(&self, key: u32) -> Option<SubInfo> {
        let st = self.st.borrow();
        let s = st.subs.get(key as usize)?;
        Some(SubInfo {
            subject: String::from_utf8_lossy(&s.subject).into_owned(),
            queue: s
                .queue
                .as_ref()
                .map(|q| String::from_utf8_lossy(q).into_owned()),
            sid: String::from_utf8_lossy(&s.sid).into_owned(),
            msgs: s.delivered,
            max: s.max,
            cid: s.conn.cid,
        })
    }

    /// A `/connz` entry for one of this shard's connections.
    pub fn conn_info(&self, c: &super::conn::Conn, subs: bool) -> ConnInfo {
        let st = c.st.borrow();
        let keys: Vec<u32> = st.subs.values().copied().collect();
        let mut info = ConnInfo {
            cid: c.cid,
            shard: self.id,
            ip: c.peer.ip().to_string(),
            port: c.peer.port(),
            start: st.start,
            last_activity: st.last_activity(),
            rtt: st.rtt,
            pending_bytes: (st.out.len() + st.inflight) as u64,
            in_msgs: st.in_msgs,
            out_msgs: st.out_msgs,
            in_bytes: st.in_bytes,
            out_bytes: st.out_bytes,
            num_subs: keys.len() as u64,
            name: st.opts.name.clone(),
            lang: st.opts.lang.clone(),
            version: st.opts.version.clone(),
            user: super::connect::raw_auth_user(&st.opts).to_string(),
            subs: Vec::new(),
            stop: None,
            reason: None,
            tls: st.tls.as_deref().map(tls_summary),
        };
        drop(st);
        if subs {
            info.subs = keys.iter().filter_map(|k| self.sub_info(*k)).collect();
        }
        info
    }

    fn answer(&self, req: ControlReq) -> ControlResp {
        match req {
            ControlReq::Connz { subs, open, closed } => {
                let mut out = Vec::new();
                if open {
                    let conns: Vec<_> = self.st.borrow().conns.values().cloned().collect();
                    for c in conns {
                        if c.st.borrow().closing.is_some() {
                            continue;
                        }
                        out.push(self.conn_info(&c, subs));
                    }
                }
                if closed {
                    out.extend(self.st.borrow().closed.iter().cloned().map(|mut c| {
                        if !subs {
                            c.subs.clear();
                        }
                        c
                    }));
                }
                ControlResp::Connz(out)
            }
            ControlReq::Subsz { list } => {
                let (mut part, keys) = {
                    let st = self.st.borrow();
                    let stats = st.local.stats;
                    let part = SubszPart {
                        num_subscriptions: st.subs.len() as u64,
                        num_cache: st.local.cache_len() as u64,
                        num_inserts: stats.inserts,
                        num_removes: stats.removes,
                        num_matches: stats.matches,
                        cache_hits: stats.cache_hits,
                        subs: Vec::new(),
                    };
                    let keys: Vec<u32> = if list {
                        st.subs.iter().map(|(k, _)| k as u32).collect()
                    } else {
                        Vec::new()
                    };
                    (part, keys)
                };
                part.subs = keys.iter().filter_map(|k| self.sub_info(*k)).collect();
                ControlResp::Subsz(part)
            }
        }
    }

    /// Answers the control shard's questions, forever.
    pub async fn serve_control(
        self: Rc<Self>,
        rx: ConnectedReceiver<ControlReq>,
        tx: ConnectedSender<ControlResp>,
    ) {
        while let Some(req) = rx.recv().await {
            let resp = self.answer(req);
            if tx.send(resp).await.is_err() {
                return;
            }
        }
    }
}
