//! The subscription index: a trie of subject tokens with `*` and `>` branches, queue groups
//! at the leaves, and a cache of match results.
//!
//! Each shard owns one index for its own subscriptions (values are subscription keys) and
//! one for what the other shards are interested in (values are shard ids, counted). Both use
//! this type: a value is stored with a count, so the same value inserted twice needs two
//! removals. Queue groups with the same name are one group, whichever subjects their
//! members used (as in nats-server's sublist).
//!
//! The cache maps a literal subject to its result. An insert or removal drops exactly the
//! cached subjects its pattern matches, so a result is never stale.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

use rustc_hash::FxHasher;

use crate::subject;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Largest number of cached match results; past it, the cache is cleared.
const CACHE_MAX: usize = 4096;

/// Members of one queue group in a match result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup<T> {
    pub name: Rc<[u8]>,
    pub members: Vec<(T, u32)>,
}

/// The subscriptions matching one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<T> {
    /// Plain subscriptions with their counts.
    pub plain: Vec<(T, u32)>,
    /// Queue groups, each with its members.
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> Default for MatchResult<T> {
    fn default() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> MatchResult<T> {
    /// No subscription matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

struct Node<T> {
    next: Level<T>,
    plain: Vec<(T, u32)>,
    queues: Vec<QueueGroup<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            next: Level::default(),
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty() && self.next.is_empty()
    }
}

struct Level<T> {
    literal: FxMap<Box<[u8]>, Node<T>>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            literal: FxMap::default(),
            pwc: None,
            fwc: None,
        }
    }
}

impl<T> Level<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }
}

/// Counters for monitoring (`/subsz`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub inserts: u64,
    pub removes: u64,
    pub matches: u64,
    pub cache_hits: u64,
}

/// A subscription index. Not thread-safe by design: each shard owns its own.
pub struct Sublist<T> {
    root: Level<T>,
    cache: FxMap<Box<[u8]>, Rc<MatchResult<T>>>,
    count: usize,
    pub stats: Stats,
}

impl<T: Copy + Eq> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Eq> Sublist<T> {
    /// An empty index.
    pub fn new() -> Self {
        Sublist {
            root: Level::default(),
            cache: FxMap::default(),
            count: 0,
            stats: Stats::default(),
        }
    }

    /// Number of stored (value, subject, queue) entries, counting repeats.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Number of cached match results.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Inserts `v` under `subj` (and queue group `queue`). The subject must be valid
    /// ([`subject::is_valid_subject`]); returns false and stores nothing otherwise.
    pub fn insert(&mut self, subj: &[u8], queue: Option<&[u8]>, v: T) -> bool {
        if !subject::is_valid_subject(subj) {
            return false;
        }
        let mut level = &mut self.root;
        let mut tokens = subj.split(|&b| b == b'.').peekable();
        let node = loop {
            let t = tokens.next().expect("valid subjects have a token");
            let node: &mut Node<T> = match t {
                b"*" => level.pwc.get_or_insert_with(Default::default),
                b">" => level.fwc.get_or_insert_with(Default::default),
                _ => level.literal.entry(t.into()).or_default(),
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = &mut node.next;
        };
        match queue {
            None => add_counted(&mut node.plain, v),
            Some(q) => match node.queues.iter_mut().find(|g| &*g.name == q) {
                Some(g) => add_counted(&mut g.members, v),
                None => node.queues.push(QueueGroup {
                    name: q.into(),
                    members: vec![(v, 1)],
                }),
            },
        }
        self.count += 1;
        self.stats.inserts += 1;
        self.invalidate(subj);
        true
    }

    /// Removes one count of `v` under `subj`/`queue`. Returns whether it was there.
    pub fn remove(&mut self, subj: &[u8], queue: Option<&[u8]>, v: T) -> bool {
        let tokens: Vec<&[u8]> = subj.split(|&b| b == b'.').collect();
        let removed = remove_in(&mut self.root, &tokens, queue, v);
        if removed {
            self.count -= 1;
            self.stats.removes += 1;
            self.invalidate(subj);
        }
        removed
    }

    fn invalidate(&mut self, subj: &[u8]) {
        if self.cache.is_empty() {
            return;
        }
        if subject::has_wildcard(subj) {
            self.cache.retain(|k, _| !subject::matches(subj, k));
        } else {
            self.cache.remove(subj);
        }
    }

    /// All entries matching the literal subject `subj`.
    pub fn matches(&mut self, subj: &[u8]) -> Rc<MatchResult<T>> {
        self.stats.matches += 1;
        if let Some(r) = self.cache.get(subj) {
            self.stats.cache_hits += 1;
            return r.clone();
        }
        let mut res = MatchResult::default();
        let tokens: Vec<&[u8]> = subj.split(|&b| b == b'.').collect();
        // An empty token matches nothing (nats-server does not match `foo..bar`).
        if !tokens.iter().any(|t| t.is_empty()) {
            match_level(&self.root, &tokens, &mut res);
        }
        let res = Rc::new(res);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(subj.into(), res.clone());
        res
    }

    /// Visits every stored entry as (subject, queue, value, count).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>, T, u32)) {
        let mut path = Vec::new();
        walk(&self.root, &mut path, &mut f);
    }
}

fn add_counted<T: Copy + Eq>(list: &mut Vec<(T, u32)>, v: T) {
    match list.iter_mut().find(|(x, _)| *x == v) {
        Some((_, n)) => *n += 1,
        None => list.push((v, 1)),
    }
}

fn remove_counted<T: Copy + Eq>(list: &mut Vec<(T, u32)>, v: T) -> bool {
    match list.iter().position(|(x, _)| *x == v) {
        Some(i) => {
            if list[i].1 > 1 {
                list[i].1 -= 1;
            } else {
                list.swap_remove(i);
            }
            true
        }
        None => false,
    }
}

fn remove_in<T: Copy + Eq>(
    level: &mut Level<T>,
    tokens: &[&[u8]],
    queue: Option<&[u8]>,
    v: T,
) -> bool {
    let (t, rest) = match tokens.split_first() {
        Some(x) => x,
        None => return false,
    };
    let node: &mut Node<T> = match *t {
        b"*" => match level.pwc.as_deref_mut() {
            Some(n) => n,
            None => return false,
        },
        b">" => match level.fwc.as_deref_mut() {
            Some(n) => n,
            None => return false,
        },
        _ => match level.literal.get_mut(*t) {
            Some(n) => n,
            None => return false,
        },
    };
    let removed = if rest.is_empty() {
        match queue {
            None => remove_counted(&mut node.plain, v),
            Some(q) => match node.queues.iter().position(|g| &*g.name == q) {
                Some(i) => {
                    let r = remove_counted(&mut node.queues[i].members, v);
                    if node.queues[i].members.is_empty() {
                        node.queues.swap_remove(i);
                    }
                    r
                }
                None => false,
            },
        }
    } else {
        remove_in(&mut node.next, rest, queue, v)
    };
    if removed && node.is_empty() {
        match *t {
            b"*" => level.pwc = None,
            b">" => level.fwc = None,
            _ => {
                level.literal.remove(*t);
            }
        }
    }
    removed
}

fn collect<T: Copy + Eq>(node: &Node<T>, res: &mut MatchResult<T>) {
    res.plain.extend_from_slice(&node.plain);
    for g in &node.queues {
        match res.queues.iter_mut().find(|r| r.name == g.name) {
            Some(r) => r.members.extend_from_slice(&g.members),
            None => res.queues.push(g.clone()),
        }
    }
}

fn match_level<T: Copy + Eq>(level: &Level<T>, tokens: &[&[u8]], res: &mut MatchResult<T>) {
    let Some((t, rest)) = tokens.split_first() else {
        return;
    };
    if let Some(fwc) = &level.fwc {
        collect(fwc, res);
    }
    if let Some(pwc) = &level.pwc {
        if rest.is_empty() {
            collect(pwc, res);
        } else {
            match_level(&pwc.next, rest, res);
        }
    }
    if let Some(n) = level.literal.get(*t) {
        if rest.is_empty() {
            collect(n, res);
        } else {
            match_level(&n.next, rest, res);
        }
    }
}

fn walk<T: Copy + Eq>(
    level: &Level<T>,
    path: &mut Vec<u8>,
    f: &mut impl FnMut(&[u8], Option<&[u8]>, T, u32),
) {
    let mut visit = |tok: &[u8], node: &Node<T>, path: &mut Vec<u8>| {
        let len = path.len();
        if !path.is_empty() {
            path.push(b'.');
        }
        path.extend_from_slice(tok);
        for &(v, n) in &node.plain {
            f(path, None, v, n);
        }
        for g in &node.queues {
            for &(v, n) in &g.members {
                f(path, Some(&g.name), v, n);
            }
        }
        walk(&node.next, path, f);
        path.truncate(len);
    };
    for (tok, node) in &level.literal {
        visit(tok, node, path);
    }
    if let Some(n) = &level.pwc {
        visit(b"*", n, path);
    }
    if let Some(n) = &level.fwc {
        visit(b">", n, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(r: &MatchResult<u32>) -> Vec<u32> {
        let mut v: Vec<u32> = r.plain.iter().map(|x| x.0).collect();
        v.sort();
        v
    }

    #[test]
    fn literal_and_wildcards() {
        let mut s = Sublist::new();
        assert!(s.insert(b"foo.bar", None, 1));
        assert!(s.insert(b"foo.*", None, 2));
        assert!(s.insert(b"foo.>", None, 3));
        assert!(s.insert(b">", None, 4));
        assert!(s.insert(b"*.bar", None, 5));
        assert!(s.insert(b"foo", None, 6));
        assert_eq!(plain(&s.matches(b"foo.bar")), vec![1, 2, 3, 4, 5]);
        assert_eq!(plain(&s.matches(b"foo")), vec![4, 6]);
        assert_eq!(plain(&s.matches(b"foo.bar.baz")), vec![3, 4]);
        assert!(!s.insert(b"foo.>.bar", None, 7));
        assert!(!s.insert(b"foo..bar", None, 7));
    }

    #[test]
    fn cache_stays_correct_under_churn() {
        let mut s = Sublist::new();
        s.insert(b"a.b", None, 1);
        assert_eq!(plain(&s.matches(b"a.b")), vec![1]);
        s.insert(b"a.*", None, 2);
        assert_eq!(plain(&s.matches(b"a.b")), vec![1, 2]);
        s.remove(b"a.b", None, 1);
        assert_eq!(plain(&s.matches(b"a.b")), vec![2]);
        s.remove(b"a.*", None, 2);
        assert!(s.matches(b"a.b").is_empty());
        assert_eq!(s.count(), 0);
        assert!(s.root.is_empty(), "empty nodes are pruned");
    }

    #[test]
    fn counts_and_queue_groups() {
        let mut s = Sublist::new();
        s.insert(b"q.x", Some(b"g"), 1u32);
        s.insert(b"q.*", Some(b"g"), 2);
        s.insert(b"q.x", Some(b"h"), 3);
        s.insert(b"q.x", Some(b"g"), 1);
        let r = s.matches(b"q.x");
        assert_eq!(r.queues.len(), 2);
        let g = r.queues.iter().find(|g| &*g.name == b"g").unwrap();
        let mut m = g.members.clone();
        m.sort();
        assert_eq!(m, vec![(1, 2), (2, 1)]);
        assert!(s.remove(b"q.x", Some(b"g"), 1));
        let r = s.matches(b"q.x");
        let g = r.queues.iter().find(|g| &*g.name == b"g").unwrap();
        let mut m = g.members.clone();
        m.sort();
        assert_eq!(m, vec![(1, 1), (2, 1)]);
        assert!(!s.remove(b"q.x", Some(b"zz"), 1));
    }

    #[test]
    fn for_each_visits_everything() {
        let mut s = Sublist::new();
        s.insert(b"a.*.c", None, 1u32);
        s.insert(b"a.>", Some(b"q"), 2);
        let mut seen = Vec::new();
        s.for_each(|subj, q, v, n| seen.push((subj.to_vec(), q.map(|q| q.to_vec()), v, n)));
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (b"a.*.c".to_vec(), None, 1, 1),
                (b"a.>".to_vec(), Some(b"q".to_vec()), 2, 1)
            ]
        );
    }
}
