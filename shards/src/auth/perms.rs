//! One connection's compiled permissions (spec AU-04): allow and deny lists as small
//! subscription indexes, checked per PUB through a per-connection cache, per SUB, and per
//! delivery for subscriptions that can overlap a denied subject.
//!
//! Built at CONNECT from the user's [`Permissions`], like nats-server's `setPermissions`; a
//! connection without permissions has none of this (`ConnState::perms` is `None`), so its
//! publishes pay nothing.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

use rustc_hash::FxHasher;

use super::{Permissions, ResponsePermission};
use crate::subject;
use crate::sublist::{MatchResult, Sublist};

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A delivery's (subject, queue) as the deny cache's key; the queue is empty for plain subs.
type DenyKey = (Box<[u8]>, Box<[u8]>);

/// Publish decisions cached per connection (nats-server's `maxPermCacheSize`).
const MAX_PUB_CACHE: usize = 128;
/// Delivery deny decisions cached per connection (`maxDenyPermCacheSize`).
const MAX_DENY_CACHE: usize = 256;
/// Entries dropped at once when a cache is full (`pruneSize`).
const PRUNE_SIZE: usize = 32;
/// Replies tracked before expired ones are pruned (`replyPermLimit`).
const REPLY_PRUNE_COUNT: usize = 4096;
/// Longest time between prunes of tracked replies (`replyPruneTime`).
const REPLY_PRUNE_TIME: Duration = Duration::from_secs(1);

/// The queue group nats-server reserves (`sysGroup`): subscribing with it is always denied.
pub const SYS_QUEUE: &[u8] = b"_sys_";

/// A received reply subject this connection may answer (`allow_responses`).
struct Reply {
    since: Instant,
    sent: i64,
}

/// Compiled permissions of one connection.
pub struct ConnPerms {
    pub_allow: Option<Sublist<u8>>,
    pub_deny: Option<Sublist<u8>>,
    pub_cache: FxMap<Box<[u8]>, bool>,
    sub_allow: Option<Sublist<u8>>,
    sub_deny: Option<Sublist<u8>>,
    /// The deny-subscribe entries, as (subject, queue), to tell which subscriptions need a
    /// check at delivery.
    deny_entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    deny_cache: FxMap<DenyKey, bool>,
    resp: Option<ResponsePermission>,
    replies: FxMap<Box<[u8]>, Reply>,
    replies_since_prune: usize,
    last_prune: Instant,
}

fn index<'a>(entries: impl Iterator<Item = &'a String>, queues: bool) -> Sublist<u8> {
    let mut sl = Sublist::new();
    for e in entries {
        let mut parts = e.split_whitespace();
        let subj = parts.next().unwrap_or("");
        let queue = if queues { parts.next() } else { None };
        // The config check already refused anything else; an entry that is still not a valid
        // subject is skipped, as nats-server skips it.
        sl.insert(subj.as_bytes(), queue.map(str::as_bytes), 0);
    }
    sl
}

/// nats-server's `queueMatches`: the queue is named (or matched by a wildcard name) among
/// the matching entries' queues, or there are none.
fn queue_matches(queue: &[u8], r: &MatchResult<u8>) -> bool {
    r.queues.is_empty()
        || r.queues
            .iter()
            .any(|g| *g.name == *queue || subject::matches(&g.name, queue))
}

impl ConnPerms {
    /// Compiles a user's permissions.
    pub fn new(p: &Permissions) -> ConnPerms {
        let (mut pub_allow, mut pub_deny) = (None, None);
        if let Some(pp) = &p.publish {
            if let Some(allow) = &pp.allow {
                pub_allow = Some(index(allow.iter(), false));
            }
            if let Some(deny) = pp.deny.as_ref().filter(|d| !d.is_empty()) {
                pub_deny = Some(index(deny.iter(), false));
            }
        }
        let (mut sub_allow, mut sub_deny, mut deny_entries) = (None, None, Vec::new());
        if let Some(sp) = &p.subscribe {
            if let Some(allow) = sp.allow.as_ref().filter(|a| !a.is_empty()) {
                sub_allow = Some(index(allow.iter(), true));
            }
            if let Some(deny) = sp.deny.as_ref().filter(|d| !d.is_empty()) {
                sub_deny = Some(index(deny.iter(), true));
                for d in deny {
                    let mut parts = d.split_whitespace();
                    let s = parts.next().unwrap_or("").as_bytes().to_vec();
                    deny_entries.push((s, parts.next().map(|q| q.as_bytes().to_vec())));
                }
            }
        }
        ConnPerms {
            pub_allow,
            pub_deny,
            pub_cache: FxMap::default(),
            sub_allow,
            sub_deny,
            deny_entries,
            deny_cache: FxMap::default(),
            resp: p.response.clone(),
            replies: FxMap::default(),
            replies_since_prune: 0,
            last_prune: Instant::now(),
        }
    }

    /// Whether the permissions restrict publishing at all.
    pub fn checks_publish(&self) -> bool {
        self.pub_allow.is_some() || self.pub_deny.is_some()
    }

    /// Whether messages delivered to this connection must be tracked for `allow_responses`.
    pub fn tracks_replies(&self) -> bool {
        self.resp.is_some()
    }

    /// Allow and deny lists alone (nats-server's `pubAllowedFullCheck` without responses).
    fn lists_allow(&mut self, subject: &[u8]) -> Option<bool> {
        if let Some(&v) = self.pub_cache.get(subject) {
            return Some(v);
        }
        let mut allowed = true;
        if let Some(a) = &mut self.pub_allow {
            allowed = !a.matches(subject).plain.is_empty();
        }
        if allowed {
            if let Some(d) = &mut self.pub_deny {
                allowed = d.matches(subject).plain.is_empty();
            }
        }
        if !allowed && self.resp.is_some() {
            // Not cached: a tracked reply may allow it, and that changes over time.
            return None;
        }
        if self.pub_cache.len() >= MAX_PUB_CACHE {
            prune(&mut self.pub_cache);
        }
        self.pub_cache.insert(subject.into(), allowed);
        Some(allowed)
    }

    /// Whether this connection may publish to `subject` (deny wins; a tracked reply subject
    /// is allowed up to `max` times within `expires`).
    pub fn pub_allowed(&mut self, subject: &[u8]) -> bool {
        if !self.checks_publish() {
            return true;
        }
        match self.lists_allow(subject) {
            Some(v) => v,
            None => self.response_allowed(subject),
        }
    }

    /// nats-server's `responseAllowed`: counts the response against its request.
    fn response_allowed(&mut self, subject: &[u8]) -> bool {
        let Some(rp) = &self.resp else { return false };
        let Some(r) = self.replies.get_mut(subject) else {
            return false;
        };
        r.sent += 1;
        let over = rp.max_msgs > 0 && r.sent > rp.max_msgs;
        let expired = !rp.expires.is_zero() && r.since.elapsed() > rp.expires;
        if over || expired {
            self.replies.remove(subject);
            false
        } else {
            true
        }
    }

    /// A message with reply subject `reply` was delivered to this connection: it may answer
    /// it (when it could not publish there anyway).
    pub fn track_reply(&mut self, reply: &[u8]) {
        if self.resp.is_none() || self.lists_allow(reply) == Some(true) {
            return;
        }
        let now = Instant::now();
        self.replies.insert(
            reply.into(),
            Reply {
                since: now,
                sent: 0,
            },
        );
        self.replies_since_prune += 1;
        if self.replies_since_prune > REPLY_PRUNE_COUNT
            || now.duration_since(self.last_prune) > REPLY_PRUNE_TIME
        {
            self.prune_replies(now);
        }
    }

    fn prune_replies(&mut self, now: Instant) {
        if let Some(rp) = &self.resp {
            let (max, ttl) = (rp.max_msgs, rp.expires);
            self.replies.retain(|_, r| {
                !(max > 0 && r.sent >= max || !ttl.is_zero() && now.duration_since(r.since) > ttl)
            });
        }
        self.replies_since_prune = 0;
        self.last_prune = now;
    }

    /// nats-server's `canSubscribe`: the allow list (a `"subject queue"` entry restricts
    /// queue subscriptions to that queue), then the deny list.
    pub fn can_subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let queue = queue.filter(|q| !q.is_empty());
        let mut allowed = true;
        if let Some(a) = &mut self.sub_allow {
            let r = a.matches(subject);
            allowed = !r.plain.is_empty();
            if let Some(q) = queue {
                if !r.queues.is_empty() {
                    allowed = queue_matches(q, &r);
                }
            }
        }
        if allowed {
            if let Some(d) = &mut self.sub_deny {
                let r = d.matches(subject);
                allowed = r.plain.is_empty();
                if allowed {
                    if let Some(q) = queue {
                        if !r.queues.is_empty() {
                            allowed = !queue_matches(q, &r);
                        }
                    }
                }
            }
        }
        allowed
    }

    /// Whether deliveries to a subscription on `subject` (with a queue or not) must be checked
    /// against the deny list: it is a wildcard or queue subscription that overlaps a denied
    /// subject (nats-server's `loadMsgDenyFilterIfNeeded`).
    pub fn needs_delivery_check(&self, subject: &[u8], queue: bool) -> bool {
        (queue || subject::has_wildcard(subject))
            && self
                .deny_entries
                .iter()
                .any(|(d, _)| subjects_collide(d, subject))
    }

    /// nats-server's `checkDenySub`: whether a message on `subject` must not be delivered to
    /// this connection's subscription in `queue` (empty for a plain one).
    pub fn delivery_denied(&mut self, subject: &[u8], queue: &[u8]) -> bool {
        let key: DenyKey = (subject.into(), queue.into());
        if let Some(&v) = self.deny_cache.get(&key) {
            return v;
        }
        let Some(d) = &mut self.sub_deny else {
            return false;
        };
        let r = d.matches(subject);
        let mut denied = !r.plain.is_empty();
        if !denied && !queue.is_empty() && !r.queues.is_empty() {
            denied = queue_matches(queue, &r);
        }
        if self.deny_cache.len() >= MAX_DENY_CACHE {
            prune(&mut self.deny_cache);
        }
        self.deny_cache.insert(key, denied);
        denied
    }
}

/// Drops a few arbitrary entries, as nats-server's random pruning does.
fn prune<K: Clone + Eq + std::hash::Hash, V>(m: &mut FxMap<K, V>) {
    let keys: Vec<K> = m.keys().take(PRUNE_SIZE).cloned().collect();
    for k in keys {
        m.remove(&k);
    }
}

/// Whether some literal subject matches both `a` and `b` (nats-server's `SubjectsCollide`).
pub fn subjects_collide(a: &[u8], b: &[u8]) -> bool {
    let mut ta = a.split(|&c| c == b'.');
    let mut tb = b.split(|&c| c == b'.');
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) | (Some(_), Some(b">")) => return true,
            (Some(x), Some(y)) => {
                if x != b"*" && y != b"*" && x != y {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Whether a connection with `perms` (`None`: unrestricted) may subscribe, as
/// [`ConnPerms::can_subscribe`] says, and if so whether deliveries to the subscription need
/// [`ConnPerms::needs_delivery_check`]: `None` when denied, else `Some(check)`. What both a
/// SUB and a reload's re-check of existing subscriptions ask.
pub fn judge_subscription(
    perms: Option<&mut ConnPerms>,
    subject: &[u8],
    queue: Option<&[u8]>,
) -> Option<bool> {
    match perms {
        None => Some(false),
        Some(p) => p
            .can_subscribe(subject, queue)
            .then(|| p.needs_delivery_check(subject, queue.is_some())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::SubjectPermission;
    use super::*;

    fn list(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn perms(pa: &[&str], pd: &[&str], sa: &[&str], sd: &[&str]) -> ConnPerms {
        let opt = |v: &[&str]| if v.is_empty() { None } else { list(v) };
        ConnPerms::new(&Permissions {
            publish: Some(SubjectPermission {
                allow: opt(pa),
                deny: opt(pd),
            }),
            subscribe: Some(SubjectPermission {
                allow: opt(sa),
                deny: opt(sd),
            }),
            response: None,
        })
    }

    #[test]
    fn au04_deny_wins_and_wildcards_count() {
        let mut p = perms(&["foo.>"], &["foo.secret.*"], &[], &[]);
        assert!(p.pub_allowed(b"foo.bar"));
        assert!(!p.pub_allowed(b"foo.secret.x"));
        assert!(p.pub_allowed(b"foo.secret"));
        assert!(!p.pub_allowed(b"bar"));
        // Cached answers stay the same.
        assert!(!p.pub_allowed(b"foo.secret.x"));
        assert!(p.pub_allowed(b"foo.bar"));
    }

    #[test]
    fn au04_queue_permissions() {
        let mut p = perms(&[], &[], &["foo", "bar v1"], &["baz.* q.*"]);
        assert!(p.can_subscribe(b"foo", None));
        assert!(p.can_subscribe(b"foo", Some(b"any")));
        assert!(!p.can_subscribe(b"bar", None));
        assert!(p.can_subscribe(b"bar", Some(b"v1")));
        assert!(!p.can_subscribe(b"bar", Some(b"v2")));
        let mut p = perms(&[], &[], &[], &["baz.* q.*"]);
        assert!(p.can_subscribe(b"baz.1", None));
        assert!(!p.can_subscribe(b"baz.1", Some(b"q.a")));
        assert!(p.can_subscribe(b"baz.1", Some(b"r")));
    }

    #[test]
    fn au04_delivery_filter_for_wildcards() {
        let mut p = perms(&[], &[], &[], &["foo.secret"]);
        assert!(p.can_subscribe(b"foo.*", None));
        assert!(p.needs_delivery_check(b"foo.*", false));
        assert!(!p.needs_delivery_check(b"bar.*", false));
        assert!(!p.needs_delivery_check(b"foo.bar", false));
        assert!(p.delivery_denied(b"foo.secret", b""));
        assert!(!p.delivery_denied(b"foo.public", b""));
    }

    #[test]
    fn allow_responses_max_and_expiry() {
        let mut p = ConnPerms::new(&Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec![]),
                deny: None,
            }),
            subscribe: None,
            response: Some(ResponsePermission {
                max_msgs: 2,
                expires: Duration::from_secs(60),
            }),
        });
        assert!(!p.pub_allowed(b"_INBOX.1"));
        p.track_reply(b"_INBOX.1");
        assert!(p.pub_allowed(b"_INBOX.1"));
        assert!(p.pub_allowed(b"_INBOX.1"));
        assert!(!p.pub_allowed(b"_INBOX.1"));
    }

    #[test]
    fn collide() {
        assert!(subjects_collide(b"foo.*", b"foo.bar"));
        assert!(subjects_collide(b"foo.>", b"*.bar.baz"));
        assert!(!subjects_collide(b"foo.*", b"foo.bar.baz"));
        assert!(!subjects_collide(b"foo", b"bar"));
        assert!(subjects_collide(b">", b"a"));
    }
}
