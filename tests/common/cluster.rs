//! Clusters of real server processes on loopback: ours (the binary under test) and the Go
//! nats-server on PATH, in any mix.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{go_server_on_path, is_go, server_bin, Msg, Raw, Server};

/// How long a cluster gets to form or heal.
pub const MESH_TIMEOUT: Duration = Duration::from_secs(20);

/// Which binary a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The binary under test (ours, or Go with `NATS_SERVER_IS_GO=1`).
    Tested,
    /// The Go nats-server on PATH.
    Go,
}

/// How to start one node.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub name: String,
    /// Client shards (ours only).
    pub shards: usize,
    /// Route ports to solicit (`--routes`).
    pub routes: Vec<u16>,
    /// Fixed client and route ports (a restart); random otherwise.
    pub ports: Option<(u16, u16)>,
    /// Extra arguments.
    pub extra: Vec<String>,
    /// Userinfo for `--cluster` and the routes (`user:pass`).
    pub auth: Option<String>,
    /// Userinfo for the routes only (overrides `auth` there).
    pub route_auth: Option<String>,
    /// Pass `--cluster` (the default); false when the config file's `cluster {}` block
    /// says where to listen (the flag would drop its `authorization`).
    pub cluster_flag: bool,
}

impl Spec {
    pub fn new(kind: Kind, name: &str) -> Spec {
        Spec {
            kind,
            name: name.to_string(),
            shards: 2,
            routes: Vec::new(),
            ports: None,
            extra: Vec::new(),
            auth: None,
            route_auth: None,
            cluster_flag: true,
        }
    }

    pub fn routes(mut self, r: &[u16]) -> Spec {
        self.routes = r.to_vec();
        self
    }

    pub fn shards(mut self, n: usize) -> Spec {
        self.shards = n;
        self
    }
}

/// A running cluster node.
pub struct Node {
    pub server: Server,
    pub spec: Spec,
    pub route_port: u16,
    pub http_port: u16,
    pub id: String,
}

fn bin(kind: Kind) -> PathBuf {
    match kind {
        Kind::Tested => server_bin(),
        Kind::Go => go_server_on_path().expect("nats-server on PATH for mixed clusters"),
    }
}

fn ours(kind: Kind) -> bool {
    kind == Kind::Tested && !is_go()
}

/// The port number that follows `needle` in a log line.
pub fn port_after(line: &str, needle: &str) -> u16 {
    line.split(needle)
        .nth(1)
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

impl Node {
    /// Starts a node in cluster `c1` with a monitor.
    pub fn start(spec: Spec) -> Node {
        let route_port = spec.ports.map_or("-1".to_string(), |(_, r)| r.to_string());
        let auth = spec
            .auth
            .as_ref()
            .map(|a| format!("{a}@"))
            .unwrap_or_default();
        let mut args: Vec<String> = vec![
            "-n".into(),
            spec.name.clone(),
            "-m".into(),
            "-1".into(),
            "--cluster_name".into(),
            "c1".into(),
        ];
        if spec.cluster_flag {
            args.extend([
                "--cluster".into(),
                format!("nats://{auth}127.0.0.1:{route_port}"),
            ]);
        }
        if let Some((c, _)) = spec.ports {
            args.extend(["-p".into(), c.to_string()]);
        }
        if !spec.routes.is_empty() {
            let rauth = spec
                .route_auth
                .as_ref()
                .or(spec.auth.as_ref())
                .map(|a| format!("{a}@"))
                .unwrap_or_default();
            let urls: Vec<String> = spec
                .routes
                .iter()
                .map(|p| format!("nats-route://{rauth}127.0.0.1:{p}"))
                .collect();
            args.extend(["--routes".into(), urls.join(",")]);
        }
        if ours(spec.kind) {
            args.extend(["--shards".into(), spec.shards.to_string(), "-D".into()]);
        }
        args.extend(spec.extra.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start_binary(&bin(spec.kind), &refs);
        let rl = server.wait_for_log("Listening for route connections on", MESH_TIMEOUT);
        let hl = server.wait_for_log("Starting http monitor on", MESH_TIMEOUT);
        let id = Raw::connect(server.port()).info["server_id"]
            .as_str()
            .expect("server_id")
            .to_string();
        Node {
            route_port: port_after(&rl, "Listening for route connections on 127.0.0.1:"),
            http_port: port_after(&hl, "Starting http monitor on 127.0.0.1:"),
            server,
            spec,
            id,
        }
    }

    /// Whether the node is ours (shards, `-D` placement lines).
    pub fn is_ours(&self) -> bool {
        ours(self.spec.kind)
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// GET a monitor endpoint as JSON.
    pub fn monitor(&self, path: &str) -> Value {
        http_json(self.http_port, path)
    }

    /// The server ids this node has a route to (a Go node has several connections per peer).
    pub fn peers(&self) -> BTreeSet<String> {
        route_peers(self.http_port)
    }

    /// `[ERR]` lines, less the one nats-server logs by design when a peer does not pool
    /// routes (spec §7.5: its dedicated `$SYS` route is refused).
    pub fn errors(&self) -> Vec<String> {
        self.server
            .logs()
            .into_iter()
            .filter(|l| l.contains("[ERR]"))
            .filter(|l| !l.contains("Not possible to have a dedicated route for account \"$SYS\""))
            .collect()
    }

    /// Kills the process with SIGKILL; returns its client and route ports for a restart.
    pub fn kill(self) -> (Spec, u16, u16) {
        let Node {
            server,
            spec,
            route_port,
            ..
        } = self;
        let port = server.port();
        drop(server);
        (spec, port, route_port)
    }
}

/// Waits until every node has a route to every other one.
#[track_caller]
pub fn wait_full_mesh(nodes: &[&Node]) {
    let deadline = Instant::now() + MESH_TIMEOUT;
    for n in nodes {
        let want: BTreeSet<String> = nodes
            .iter()
            .filter(|o| o.id != n.id)
            .map(|o| o.id.clone())
            .collect();
        loop {
            let got = n.peers();
            if got == want {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} has routes to {got:?}, wanted {want:?}; logs:\n{}",
                    n.spec.name,
                    n.server.logs().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Makes sure interest `sub` registered (SUBs sent before this call) is known at the
/// server of `publisher`: a probe subscription sent after them on `sub` must travel the
/// same routes in order, so once a probe published via `publisher` arrives, so has every
/// earlier subscription.
#[track_caller]
pub fn sync_interest(publisher: &mut Raw, sub: &mut Raw, tag: &str) {
    let subject = format!("_probe.{tag}");
    sub.send(format!("SUB {subject} probe-{tag}\r\n").as_bytes());
    sub.ping_pong();
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        publisher.send(format!("PUB {subject} 0\r\n\r\n").as_bytes());
        if let Some(m) = sub.try_next_msg(Duration::from_millis(100)) {
            assert_eq!(m.subject, subject, "unexpected message while probing");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "interest never reached the publisher's server"
        );
    }
    sub.send(format!("UNSUB probe-{tag}\r\n").as_bytes());
    for m in sub.msgs_until_pong() {
        assert_eq!(m.subject, subject, "unexpected message while probing");
    }
    publisher.ping_pong();
}

/// Up to two raw clients on a node: on different shards when the node is ours.
pub fn clients(n: &Node) -> Vec<Raw> {
    let first = n.server.quiet();
    if !n.is_ours() || n.spec.shards < 2 {
        return vec![first];
    }
    let s0 = n.server.shard_of(first.cid());
    for _ in 0..64 {
        let c = n.server.quiet();
        if n.server.shard_of(c.cid()) != s0 {
            return vec![first, c];
        }
    }
    panic!("no connection landed on a second shard");
}

pub fn payload(m: &Msg) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

pub fn assert_no_errors(nodes: &[&Node]) {
    for n in nodes {
        let errs = n.errors();
        assert!(
            errs.is_empty(),
            "{} logged errors:\n{}",
            n.spec.name,
            errs.join("\n")
        );
    }
}

/// Every subscriber, on every node and shard, gets every message of every publisher once
/// and in each publisher's order (DS-03 across routes).
pub fn check_plain_traffic(nodes: &[&Node], tag: &str) {
    const M: usize = 40;
    let subject = format!("plain.{tag}");
    let mut subs: Vec<Raw> = nodes.iter().flat_map(|n| clients(n)).collect();
    let mut pubs: Vec<Raw> = nodes.iter().map(|n| n.server.quiet()).collect();
    for (i, s) in subs.iter_mut().enumerate() {
        s.send(format!("SUB {subject} {i}\r\n").as_bytes());
        s.ping_pong();
    }
    for (j, p) in pubs.iter_mut().enumerate() {
        for (i, s) in subs.iter_mut().enumerate() {
            sync_interest(p, s, &format!("{tag}.{j}.{i}"));
        }
    }
    publish_numbered(&mut pubs, &subject, M);
    for (i, s) in subs.iter_mut().enumerate() {
        let msgs = s.read_msgs(M * pubs.len());
        let mut next: BTreeMap<usize, usize> = BTreeMap::new();
        for m in &msgs {
            assert_eq!(m.subject, subject);
            let text = payload(m);
            let (j, k) = text.split_once('-').expect("j-k payload");
            let (j, k): (usize, usize) = (j.parse().unwrap(), k.parse().unwrap());
            let want = next.entry(j).or_insert(0);
            assert_eq!(
                k, *want,
                "subscriber {i}: publisher {j} out of order or duplicated"
            );
            *want += 1;
        }
        assert!(
            next.values().all(|&n| n == M),
            "subscriber {i} got {next:?}"
        );
    }
}

/// Each publisher `j` sends `n` messages `j-0` .. `j-(n-1)` on `subject` in one write and
/// waits for the PONG that says the server has them.
fn publish_numbered(pubs: &mut [Raw], subject: &str, n: usize) {
    for (j, p) in pubs.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for k in 0..n {
            let body = format!("{j}-{k}");
            batch.extend_from_slice(
                format!("PUB {subject} {}\r\n{body}\r\n", body.len()).as_bytes(),
            );
        }
        p.send(&batch);
        p.ping_pong();
    }
}

/// A queue group with members on every node (two shards on ours) gets each message exactly
/// once, whichever server published it (RF-04, TC-03).
pub fn check_queue_exactly_once(nodes: &[&Node], tag: &str) {
    const N: usize = 150;
    let subject = format!("queue.{tag}");
    let mut members: Vec<Raw> = nodes.iter().flat_map(|n| clients(n)).collect();
    let mut pubs: Vec<Raw> = nodes.iter().map(|n| n.server.quiet()).collect();
    for (i, m) in members.iter_mut().enumerate() {
        m.send(format!("SUB {subject} workers {i}\r\n").as_bytes());
        m.ping_pong();
    }
    for (j, p) in pubs.iter_mut().enumerate() {
        for (i, m) in members.iter_mut().enumerate() {
            sync_interest(p, m, &format!("{tag}.{j}.{i}"));
        }
    }
    publish_numbered(&mut pubs, &subject, N);
    let want = N * pubs.len();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut per_member = vec![0usize; members.len()];
    let deadline = Instant::now() + MESH_TIMEOUT;
    while seen.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} queue messages arrived",
            seen.len()
        );
        for (i, m) in members.iter_mut().enumerate() {
            while let Some(msg) = m.try_next_msg(Duration::from_millis(20)) {
                assert!(
                    seen.insert(payload(&msg)),
                    "{} delivered twice",
                    payload(&msg)
                );
                per_member[i] += 1;
            }
        }
    }
    // Nothing more may come: a duplicate would show up here.
    for m in members.iter_mut() {
        if let Some(msg) = m.try_next_msg(Duration::from_millis(300)) {
            panic!("extra delivery {}", payload(&msg));
        }
    }
    assert_eq!(seen.len(), want, "members got {per_member:?}");
}

/// A plain HTTP/1.1 GET, parsed as JSON.
/// The server ids the server monitored on `http_port` has a route to, from `/routez`.
pub fn route_peers(http_port: u16) -> BTreeSet<String> {
    http_json(http_port, "/routez")["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["remote_id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn http_json(port: u16, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitor");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("header/body split");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON ({e}): {body}"))
}

/// The body of a `Transfer-Encoding: chunked` response (Go's monitor uses it for large ones).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
