//! Clustering (spec §7, §2.10, §4.4): 3-node clusters of real processes on loopback, ours
//! alone and mixed with the Go nats-server. With `NATS_SERVER_IS_GO=1` every node is Go.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cluster::{
    assert_no_errors, check_plain_traffic, check_queue_exactly_once, payload, sync_interest,
    wait_full_mesh, Kind, Node, Spec, MESH_TIMEOUT,
};
use common::Raw;
use futures::StreamExt;

const T: Kind = Kind::Tested;
const G: Kind = Kind::Go;

/// Seed `a`, then `b` and `c` each with one route to the seed only (GS-01/02 must mesh them).
fn three(a: Kind, b: Kind, c: Kind) -> (Node, Node, Node) {
    let n1 = Node::start(Spec::new(a, "n1"));
    let n2 = Node::start(Spec::new(b, "n2").routes(&[n1.route_port]));
    let n3 = Node::start(Spec::new(c, "n3").routes(&[n1.route_port]).shards(1));
    wait_full_mesh(&[&n1, &n2, &n3]);
    (n1, n2, n3)
}

#[test]
fn rt_full_mesh_from_a_single_seed_and_connect_urls() {
    let (a, b, c) = three(T, T, T);
    // AI-01: every client learns every server's client URL.
    let info = &a.server.quiet().info;
    let urls: BTreeSet<String> = info["connect_urls"]
        .as_array()
        .expect("connect_urls once routes exist")
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    assert_eq!(urls, want);
    assert_eq!(info["cluster"], "c1");
    assert_no_errors(&[&a, &b, &c]);
}

#[test]
fn traffic_between_nodes_and_shards_in_publisher_order() {
    let (a, b, c) = three(T, T, T);
    check_plain_traffic(&[&a, &b, &c], "ours");
    assert_no_errors(&[&a, &b, &c]);
}

#[test]
fn rf04_queue_group_across_nodes_and_shards_gets_each_message_once() {
    let (a, b, c) = three(T, T, T);
    check_queue_exactly_once(&[&a, &b, &c], "ours");
    assert_no_errors(&[&a, &b, &c]);
}

#[test]
fn rf05_no_responders_only_when_no_server_has_interest() {
    let (a, _b, c) = three(T, T, T);
    let mut responder = c.server.quiet();
    responder.send(b"SUB svc.echo r1\r\n");
    responder.ping_pong();
    let mut req = a
        .server
        .client(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    req.send(b"SUB _INBOX.me.* 1\r\n");
    req.ping_pong();
    sync_interest(&mut req, &mut responder, "svc");
    req.send(b"PUB svc.echo _INBOX.me.1 4\r\nping\r\n");
    let m = responder.next_msg();
    assert_eq!(m.reply.as_deref(), Some("_INBOX.me.1"));
    // The reply travels back over the route to the requester's server.
    sync_interest(&mut responder, &mut req, "inbox");
    responder.send(b"PUB _INBOX.me.1 4\r\npong\r\n");
    let r = req.next_msg();
    assert_eq!(
        (r.subject.as_str(), r.payload.as_slice()),
        ("_INBOX.me.1", &b"pong"[..])
    );
    req.send(b"PUB svc.nobody _INBOX.me.2 0\r\n\r\n");
    let r = req.next_msg();
    let h = String::from_utf8_lossy(r.headers.as_deref().expect("503 status")).into_owned();
    assert!(h.starts_with("NATS/1.0 503"), "{h}");
}

#[test]
fn rt03_route_authorization() {
    let mut spec = Spec::new(T, "a");
    spec.auth = Some("ruser:T0pS3cr3t".into());
    let a = Node::start(spec);
    let mut bad = Spec::new(T, "b").routes(&[a.route_port]);
    bad.route_auth = Some("ruser:wrong".into());
    let b = Node::start(bad);
    let none = Node::start(Spec::new(T, "n").routes(&[a.route_port]));
    let mut good = Spec::new(T, "c").routes(&[a.route_port]);
    good.auth = Some("ruser:T0pS3cr3t".into());
    let c = Node::start(good);
    wait_full_mesh(&[&a, &c]);
    b.server
        .wait_for_log("Authorization Violation", MESH_TIMEOUT);
    none.server
        .wait_for_log("Authorization Violation", MESH_TIMEOUT);
    a.server
        .wait_for_log("Authentication Failure", MESH_TIMEOUT);
    assert!(b.peers().is_empty() && none.peers().is_empty());
    assert_eq!(a.peers(), BTreeSet::from([c.id.clone()]));
}

#[test]
fn routez_shows_routes_with_counters() {
    // nats-server pools 4 connections per peer, so its /routez has another shape.
    if common::skip_for_go("routez_shows_routes_with_counters") {
        return;
    }
    let a = Node::start(Spec::new(T, "a"));
    let b = Node::start(Spec::new(T, "b").routes(&[a.route_port]));
    wait_full_mesh(&[&a, &b]);
    let mut sub = b.server.quiet();
    sub.send(b"SUB rz.x 1\r\n");
    sub.ping_pong();
    let mut p = a.server.quiet();
    sync_interest(&mut p, &mut sub, "rz");
    for _ in 0..10 {
        p.send(b"PUB rz.x 5\r\nhello\r\n");
    }
    p.ping_pong();
    sub.read_msgs(10);
    let ra = a.monitor("/routez?subs=1");
    assert_eq!(ra["num_routes"], 1);
    let r = &ra["routes"][0];
    assert_eq!(r["remote_id"], b.id.as_str());
    assert_eq!(r["remote_name"], "b");
    assert_eq!(r["did_solicit"], false);
    assert!(r["out_msgs"].as_u64().unwrap() >= 10, "{r}");
    assert!(r["out_bytes"].as_u64().unwrap() >= 50, "{r}");
    assert!(r["subscriptions"].as_u64().unwrap() >= 1, "{r}");
    let list = r["subscriptions_list"].as_array().unwrap();
    assert!(list.iter().any(|s| s == "rz.x"), "{r}");
    let rb = b.monitor("/routez");
    let r = &rb["routes"][0];
    assert_eq!(
        (r["did_solicit"].as_bool(), r["is_configured"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(r["in_msgs"].as_u64().unwrap() >= 10, "{r}");
    let v = a.monitor("/varz");
    assert_eq!(v["routes"], 1);
    assert_eq!(v["cluster"]["name"], "c1");
    assert_eq!(v["cluster"]["cluster_port"], a.route_port);
}

#[test]
fn docker_default_config_routes_with_its_authorization() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/nats-server.conf");
    let mut sa = Spec::new(T, "a");
    sa.extra = vec![
        "-c".into(),
        conf.into(),
        "--cluster_name".into(),
        "my_cluster".into(),
    ];
    // --cluster overrides the port; its userinfo keeps the image's route credentials.
    sa.auth = Some("ruser:T0pS3cr3t".into());
    let a = Node::start(sa);
    assert_eq!(a.monitor("/varz")["cluster"]["name"], "my_cluster");
    let mut sb = Spec::new(T, "b").routes(&[a.route_port]);
    sb.route_auth = Some("ruser:T0pS3cr3t".into());
    sb.extra = vec!["--cluster_name".into(), "my_cluster".into()];
    let b = Node::start(sb);
    wait_full_mesh(&[&a, &b]);
    assert_no_errors(&[&a, &b]);
}

/// A node dies with SIGKILL while traffic flows: the others keep serving, its client fails
/// over through `connect_urls`, and it rejoins when restarted on the same ports.
fn kill_and_rejoin(ka: Kind, kb: Kind, kc: Kind) {
    let (a, b, c) = three(ka, kb, kc);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wait = Duration::from_secs(20);
    let (client, mut fsub) = rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(c.server.url())
            .await
            .expect("connect to c");
        let sub = client.subscribe("failover.x").await.unwrap();
        client.flush().await.unwrap();
        (client, sub)
    });
    // The client's INFO listed every server; traffic reaches it from a.
    let mut pa = a.server.quiet();
    let mut sb = b.server.quiet();
    sb.send(b"SUB flow.x 1\r\n");
    sb.ping_pong();
    sync_interest(&mut pa, &mut sb, "flow");
    let got = |pa: &mut Raw, rt: &tokio::runtime::Runtime, sub: &mut async_nats::Subscriber| {
        let deadline = Instant::now() + wait;
        loop {
            pa.send(b"PUB failover.x 2\r\nhi\r\n");
            pa.ping_pong();
            let m = rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            });
            if let Ok(Some(m)) = m {
                assert_eq!(&m.payload[..], b"hi");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no message reached the failed-over client"
            );
        }
    };
    got(&mut pa, &rt, &mut fsub);
    pa.send(b"PUB flow.x 1\r\n1\r\n");
    let (spec, cport, rport) = c.kill();
    pa.send(b"PUB flow.x 1\r\n2\r\n");
    let m = sb.read_msgs(2);
    assert_eq!((payload(&m[0]), payload(&m[1])), ("1".into(), "2".into()));
    // The client reconnects to a or b (learnt from connect_urls) and resubscribes.
    got(&mut pa, &rt, &mut fsub);
    let mut spec = spec;
    spec.ports = Some((cport, rport));
    let c = Node::start(spec);
    wait_full_mesh(&[&a, &b, &c]);
    let mut sc = c.server.quiet();
    sc.send(b"SUB back.x 1\r\n");
    sc.ping_pong();
    sync_interest(&mut pa, &mut sc, "back");
    pa.send(b"PUB back.x 4\r\nhome\r\n");
    assert_eq!(payload(&sc.next_msg()), "home");
    drop(client);
}

#[test]
fn killed_node_clients_fail_over_and_node_rejoins() {
    kill_and_rejoin(T, T, T);
}

// ----- mixed clusters: nats-tpc and nats-server 2.x in one cluster (§7.5) -----

#[test]
fn mixed_go_seed_mesh_traffic_and_queues() {
    let (a, b, c) = three(G, T, G);
    check_plain_traffic(&[&a, &b, &c], "mixg");
    check_queue_exactly_once(&[&a, &b, &c], "mixg");
    assert_no_errors(&[&a, &b, &c]);
}

#[test]
fn mixed_our_seed_mesh_traffic_and_queues() {
    let (a, b, c) = three(T, G, T);
    check_plain_traffic(&[&a, &b, &c], "mixt");
    check_queue_exactly_once(&[&a, &b, &c], "mixt");
    assert_no_errors(&[&a, &b, &c]);
}

#[test]
fn mixed_killed_node_fails_over_and_rejoins() {
    kill_and_rejoin(G, G, T);
}

#[test]
fn rt05_dynamic_cluster_names_converge() {
    let dynamic = |s: Spec| {
        let mut s = s;
        s.extra = vec!["--cluster_name".into(), String::new()];
        s
    };
    let a = Node::start(dynamic(Spec::new(T, "a")));
    let b = Node::start(dynamic(Spec::new(G, "b").routes(&[a.route_port])));
    let c = Node::start(dynamic(
        Spec::new(T, "c").routes(&[a.route_port, b.route_port]),
    ));
    wait_full_mesh(&[&a, &b, &c]);
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        let names: BTreeSet<String> = [&a, &b, &c]
            .iter()
            .map(|n| {
                n.monitor("/varz")["cluster"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        if names.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "cluster names differ: {names:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rt05_cluster_name_mismatch_is_rejected() {
    let a = Node::start(Spec::new(T, "a"));
    let mut other = Spec::new(T, "o").routes(&[a.route_port]);
    other.extra = vec!["--cluster_name".into(), "other".into()];
    let o = Node::start(other);
    a.server.wait_for_log(
        "Rejecting connection, cluster name \"other\" does not match \"c1\"",
        MESH_TIMEOUT,
    );
    o.server.wait_for_log("Cluster Name Conflict", MESH_TIMEOUT);
    assert!(a.peers().is_empty() && o.peers().is_empty());
}

#[test]
fn g04_duplicate_server_name_is_refused() {
    let a = Node::start(Spec::new(T, "same"));
    let b = Node::start(Spec::new(T, "same").routes(&[a.route_port]));
    a.server
        .wait_for_log("Remote server has a duplicate name: \"same\"", MESH_TIMEOUT);
    // The refused route may be registered on the other side for a moment before it closes.
    let deadline = Instant::now() + MESH_TIMEOUT;
    while !(a.peers().is_empty() && b.peers().is_empty()) {
        assert!(Instant::now() < deadline, "duplicate-name route stayed up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cluster_permissions_import_and_export() {
    // a sends interest only for what it imports, and takes interest only in what it exports.
    let conf = common::TempConfig::new(
        "cluster {\n  name: c1\n  port: -1\n  permissions {\n    import: [\"imp.>\", \"_probe.>\"]\n    export: [\"exp.>\", \"_probe.>\"]\n  }\n}\n",
    );
    let mut sa = Spec::new(T, "a");
    sa.extra = vec!["-c".into(), conf.path().to_string_lossy().into_owned()];
    let a = Node::start(sa);
    let b = Node::start(Spec::new(T, "b").routes(&[a.route_port]));
    wait_full_mesh(&[&a, &b]);
    let mut sa_ = a.server.quiet();
    let mut sb = b.server.quiet();
    sa_.send(b"SUB imp.x 1\r\nSUB other.x 2\r\n");
    sa_.ping_pong();
    sb.send(b"SUB exp.y 1\r\nSUB no.y 2\r\n");
    sb.ping_pong();
    let mut pa = a.server.quiet();
    let mut pb = b.server.quiet();
    sync_interest(&mut pb, &mut sa_, "perm.a");
    sync_interest(&mut pa, &mut sb, "perm.b");
    pb.send(b"PUB other.x 1\r\nx\r\nPUB imp.x 1\r\ni\r\n");
    pb.ping_pong();
    pa.send(b"PUB no.y 1\r\nn\r\nPUB exp.y 1\r\ne\r\n");
    pa.ping_pong();
    assert_eq!(sa_.next_msg().subject, "imp.x");
    assert_eq!(sb.next_msg().subject, "exp.y");
    assert!(sa_.msgs_until_pong().is_empty());
    assert!(sb.msgs_until_pong().is_empty());
}

/// The `connect_urls` of an INFO, as a set.
fn urls_of(info: &serde_json::Value) -> BTreeSet<String> {
    info["connect_urls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads async INFOs (answering PINGs) until one satisfies `want`; returns it.
#[track_caller]
fn wait_info(
    c: &mut Raw,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no INFO with {what}");
        let line = c.read_line();
        if line == b"PING\r\n" {
            c.send(b"PONG\r\n");
            continue;
        }
        if line.starts_with(b"INFO ") {
            let info = common::parse_info(&line);
            if want(&info) {
                return info;
            }
        }
    }
}

/// AI-02/GS-03: when `a` enters lame duck mode it tells its routes (`"ldm":true`), and a
/// client of `b` that takes async INFO sees `a`'s URL leave `connect_urls` while the route
/// is still up; `a`'s own clients are pointed at the others only.
fn ldm_seen_by_peers(ka: Kind, kb: Kind) {
    let conf =
        common::TempConfig::new("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"10s\"\n");
    let mut sa = Spec::new(ka, "a");
    sa.extra = vec!["-c".into(), conf.path().display().to_string()];
    let a = Node::start(sa);
    let b = Node::start(Spec::new(kb, "b").routes(&[a.route_port]));
    wait_full_mesh(&[&a, &b]);
    let url_a = format!("127.0.0.1:{}", a.port());
    let url_b = format!("127.0.0.1:{}", b.port());
    let proto1 = r#"{"verbose":false,"protocol":1}"#;
    let mut ca = a.server.client(proto1);
    let mut cb = b.server.client(proto1);
    let both = BTreeSet::from([url_a.clone(), url_b.clone()]);
    // Both clients connected after the mesh formed: their first INFO lists both servers.
    assert_eq!(urls_of(&ca.info), both);
    assert_eq!(urls_of(&cb.info), both);
    // SAFETY: kill(2) on a child the test started.
    let rc = unsafe { libc::kill(a.server.pid() as libc::pid_t, libc::SIGUSR2) };
    assert_eq!(rc, 0);
    let only_b = BTreeSet::from([url_b.clone()]);
    let info = wait_info(&mut cb, "a's URL removed", |i| urls_of(i) == only_b);
    assert!(info["ldm"].is_null(), "b is not in lame duck mode: {info}");
    assert!(
        b.peers().contains(&a.id),
        "the route to a must still be up: the URL went because of ldm"
    );
    let info = wait_info(&mut ca, "ldm", |i| i["ldm"] == true);
    assert_eq!(urls_of(&info), only_b, "{info}");
}

#[test]
fn ai02_lame_duck_mode_is_seen_by_peers() {
    ldm_seen_by_peers(T, T);
}

#[test]
fn mixed_our_lame_duck_mode_is_seen_by_a_go_peer() {
    ldm_seen_by_peers(T, G);
}

#[test]
fn mixed_go_lame_duck_mode_is_seen_by_us() {
    ldm_seen_by_peers(G, T);
}

/// The counters of `/varz` and of the one route in `/routez` this test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counters {
    in_msgs: u64,
    in_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
    in_client_msgs: u64,
    out_client_msgs: u64,
    route_in_msgs: u64,
    route_in_bytes: u64,
    route_out_msgs: u64,
    route_out_bytes: u64,
}

impl Counters {
    /// `n`'s counters, the route ones summed over its connections to `peer` (nats-server
    /// has several).
    fn of(n: &Node, peer: &Node) -> Counters {
        let v = n.monitor("/varz");
        let r = n.monitor("/routez");
        let get = |j: &serde_json::Value, k: &str| j[k].as_u64().unwrap_or(0);
        let mut c = Counters {
            in_msgs: get(&v, "in_msgs"),
            in_bytes: get(&v, "in_bytes"),
            out_msgs: get(&v, "out_msgs"),
            out_bytes: get(&v, "out_bytes"),
            in_client_msgs: get(&v, "in_client_msgs"),
            out_client_msgs: get(&v, "out_client_msgs"),
            ..Counters::default()
        };
        for rt in r["routes"].as_array().into_iter().flatten() {
            if rt["remote_id"] == peer.id.as_str() {
                c.route_in_msgs += get(rt, "in_msgs");
                c.route_in_bytes += get(rt, "in_bytes");
                c.route_out_msgs += get(rt, "out_msgs");
                c.route_out_bytes += get(rt, "out_bytes");
            }
        }
        c
    }

    fn minus(self, o: Counters) -> Counters {
        Counters {
            in_msgs: self.in_msgs - o.in_msgs,
            in_bytes: self.in_bytes - o.in_bytes,
            out_msgs: self.out_msgs - o.out_msgs,
            out_bytes: self.out_bytes - o.out_bytes,
            in_client_msgs: self.in_client_msgs - o.in_client_msgs,
            out_client_msgs: self.out_client_msgs - o.out_client_msgs,
            route_in_msgs: self.route_in_msgs - o.route_in_msgs,
            route_in_bytes: self.route_in_bytes - o.route_in_bytes,
            route_out_msgs: self.route_out_msgs - o.route_out_msgs,
            route_out_bytes: self.route_out_bytes - o.route_out_bytes,
        }
    }

    /// Every counter at least `o`'s (a Go node also routes its system account's events).
    fn covers(self, o: Counters) -> bool {
        self.in_msgs >= o.in_msgs
            && self.in_bytes >= o.in_bytes
            && self.out_msgs >= o.out_msgs
            && self.out_bytes >= o.out_bytes
            && self.in_client_msgs >= o.in_client_msgs
            && self.out_client_msgs >= o.out_client_msgs
            && self.route_in_msgs >= o.route_in_msgs
            && self.route_in_bytes >= o.route_in_bytes
            && self.route_out_msgs >= o.route_out_msgs
            && self.route_out_bytes >= o.route_out_bytes
    }
}

/// Waits until `n`'s counters moved from `before` by exactly `want` (by at least `want` on
/// a Go node), and fails with both when they do not.
#[track_caller]
fn wait_counters(n: &Node, peer: &Node, before: Counters, want: Counters) {
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        let got = Counters::of(n, peer).minus(before);
        let ok = if n.is_ours() {
            got == want
        } else {
            got.covers(want)
        };
        if ok {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got, want, "{}: counters moved wrong", n.spec.name);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/varz` counts route traffic as nats-server does (checked against nats-server 2.15 in a
/// 2-node cluster): `in_msgs`/`in_bytes` are messages and payload bytes (headers included)
/// from clients and from routes, `out_msgs`/`out_bytes` to clients and one per routed
/// message sent, `in_client_*`/`out_client_*` clients only; `/routez` counts the same per
/// route.
fn varz_counts_route_traffic(ka: Kind, kb: Kind) {
    let a = Node::start(Spec::new(ka, "a"));
    let b = Node::start(Spec::new(kb, "b").routes(&[a.route_port]));
    wait_full_mesh(&[&a, &b]);
    let hdr = r#"{"verbose":false,"headers":true}"#;
    let mut local = a.server.client(hdr);
    let mut remote: Vec<Raw> = (0..2).map(|_| b.server.client(hdr)).collect();
    let mut p = a.server.client(hdr);
    local.send(b"SUB vz.x 1\r\n");
    local.ping_pong();
    for (i, s) in remote.iter_mut().enumerate() {
        s.send(format!("SUB vz.x {i}\r\n").as_bytes());
        s.ping_pong();
        sync_interest(&mut p, s, &format!("vz{i}"));
    }
    // The probes' counts settle before the snapshot.
    std::thread::sleep(Duration::from_millis(300));
    let (a0, b0) = (Counters::of(&a, &b), Counters::of(&b, &a));
    const N: u64 = 25;
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    for k in 0..N {
        let body = format!("m-{k}");
        bytes += body.len() as u64;
        batch.extend_from_slice(format!("PUB vz.x {}\r\n{body}\r\n", body.len()).as_bytes());
    }
    let headers = b"NATS/1.0\r\nX: y\r\n\r\n";
    batch.extend_from_slice(&common::hpub_frame("vz.x", None, headers, b"with-hdr"));
    bytes += (headers.len() + b"with-hdr".len()) as u64;
    let msgs = N + 1;
    p.send(&batch);
    p.ping_pong();
    local.read_msgs(msgs as usize);
    for s in remote.iter_mut() {
        s.read_msgs(msgs as usize);
    }
    wait_counters(
        &a,
        &b,
        a0,
        Counters {
            in_msgs: msgs,
            in_bytes: bytes,
            in_client_msgs: msgs,
            // One to the local subscriber, one RMSG/HMSG to b.
            out_msgs: 2 * msgs,
            out_bytes: 2 * bytes,
            out_client_msgs: msgs,
            route_out_msgs: msgs,
            route_out_bytes: bytes,
            ..Counters::default()
        },
    );
    wait_counters(
        &b,
        &a,
        b0,
        Counters {
            in_msgs: msgs,
            in_bytes: bytes,
            out_msgs: 2 * msgs,
            out_bytes: 2 * bytes,
            out_client_msgs: 2 * msgs,
            route_in_msgs: msgs,
            route_in_bytes: bytes,
            ..Counters::default()
        },
    );
}

#[test]
fn varz_counts_route_traffic_in_and_out() {
    varz_counts_route_traffic(T, T);
}

#[test]
fn mixed_varz_counts_route_traffic_our_publisher() {
    varz_counts_route_traffic(T, G);
}

#[test]
fn mixed_varz_counts_route_traffic_go_publisher() {
    varz_counts_route_traffic(G, T);
}

/// Spec §2.9: `max_pending` closes clients only. nats-server never closes a route for
/// pending bytes (client.go `queueOutbound` checks `c.kind == CLIENT`); a route more than
/// 3/4 of `max_pending` behind stalls the publishers feeding it instead. Node B is stopped
/// (SIGSTOP) while a publisher on node A floods 192 MiB for a subscriber on B, far past
/// A's `max_pending` (8 MiB here) and past 64 MiB: A must hold the publisher back rather
/// than take it all in (it took 2 GB in 4 s once), and keep the route (closing it lost
/// everything in flight and reconnected). What B then does with its own subscriber, which
/// this test does not read, is B's client policy and not checked.
#[test]
fn route_far_behind_is_not_closed_as_a_slow_consumer() {
    const MSGS: usize = 192 * 1024;
    let conf = common::TempConfig::new("max_pending: 8388608\n");
    let mut spec = Spec::new(T, "n1").shards(1);
    spec.extra = vec!["-c".into(), conf.path().display().to_string()];
    let a = Node::start(spec);
    let b = Node::start(Spec::new(T, "n2").routes(&[a.route_port]).shards(1));
    wait_full_mesh(&[&a, &b]);
    let mut publisher = a.server.quiet();
    let mut sub = b.server.quiet();
    sub.send(b"SUB flood 1\r\n");
    sync_interest(&mut publisher, &mut sub, "flood");
    let route_before = a.monitor("/routez")["routes"][0]["rid"].clone();

    b.server.signal(libc::SIGSTOP);
    let writer = std::thread::spawn(move || {
        let body = vec![b'x'; 1024];
        let frame = common::pub_frame("flood", &body);
        let chunk: Vec<u8> = frame.repeat(1024);
        for _ in 0..MSGS / 1024 {
            publisher.send(&chunk);
        }
        publisher.ping_pong();
    });
    // Long enough for the publisher to have pushed everything were it not held (loopback
    // takes 192 MiB in well under a second).
    std::thread::sleep(Duration::from_secs(2));
    let taken = a.monitor("/varz")["in_msgs"].as_u64().unwrap_or(0) as usize;
    b.server.signal(libc::SIGCONT);
    assert!(
        taken < MSGS * 3 / 4,
        "node A took {taken} of {MSGS} messages while its route was stuck"
    );
    writer.join().expect("publisher thread");

    assert_eq!(
        a.monitor("/routez")["routes"][0]["rid"],
        route_before,
        "the route was closed and replaced"
    );
    let slow: Vec<String> = a
        .server
        .logs()
        .into_iter()
        .filter(|l| l.contains("Slow Consumer"))
        .collect();
    assert!(slow.is_empty(), "node A: {slow:?}");
    drop(sub);
}

/// A TCP proxy in front of `target` that passes bytes towards the dialler (from `target`)
/// at about 5 MiB/s (256 KiB every 50 ms) and the other way at full speed: routes dialled
/// through it make `target` a slowly read, but never stalled, writer.
fn throttling_proxy(target: u16) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for dialler in listener.incoming() {
            let Ok(dialler) = dialler else { return };
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                return;
            };
            // So the target's bytes wait in the target.
            common::small_receive_buffer(&upstream);
            let pipe = |mut from: TcpStream, mut to: TcpStream, slow: bool| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 256 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if slow {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                })
            };
            pipe(
                upstream.try_clone().unwrap(),
                dialler.try_clone().unwrap(),
                true,
            );
            pipe(dialler, upstream, false);
        }
    });
    port
}

/// Node A (config `top`, and `cluster {}` with `extra`) has a subscriber's node B
/// routed to it through [`throttling_proxy`]; a publisher on A sends 16 MiB, which takes A's
/// route flushes seconds, with bytes moving all the time. Returns the nodes, the messages
/// B's subscriber got, and whether A's route to B is the one it started with.
fn route_flush_outlives_the_deadline(top: &str, extra: &str) -> (Node, Node, usize, bool) {
    const MSGS: usize = 1024;
    let conf = common::TempConfig::new(&format!(
        "{top}\ncluster {{\n  name: c1\n  port: -1\n  {extra}\n}}\n"
    ));
    let mut spec = Spec::new(T, "n1").shards(1);
    spec.extra = vec!["-c".into(), conf.path().display().to_string()];
    let a = Node::start(spec);
    let proxy = throttling_proxy(a.route_port);
    let b = Node::start(Spec::new(T, "n2").routes(&[proxy]).shards(1));
    wait_full_mesh(&[&a, &b]);
    let mut publisher = a.server.quiet();
    let mut sub = b.server.quiet();
    sub.send(b"SUB flood 1\r\n");
    sync_interest(&mut publisher, &mut sub, "flood");
    // nats-server pools several connections per peer: all of them.
    let rids = |n: &Node| -> Vec<serde_json::Value> {
        n.monitor("/routez")["routes"]
            .as_array()
            .map(|r| r.iter().map(|r| r["rid"].clone()).collect())
            .unwrap_or_default()
    };
    let routes_before = rids(&a);

    let reader = std::thread::spawn(move || {
        let mut got = 0;
        while got < MSGS {
            match sub.try_next_msg(Duration::from_secs(5)) {
                Some(m) if m.subject == "flood" => got += 1,
                Some(_) => {}
                None => break,
            }
        }
        got
    });
    let frame = common::pub_frame("flood", &[b'x'; 16 * 1024]);
    for _ in 0..MSGS / 64 {
        publisher.send(&frame.repeat(64));
    }
    publisher.ping_pong();
    let got = reader.join().expect("reader");
    let kept = rids(&a) == routes_before;
    (a, b, got, kept)
}

/// Spec §2.9: `write_timeout` is `retry` for routes by default. A route flush that outlives
/// `write_deadline` while bytes still move makes the route a slow consumer (counted in
/// `slow_consumer_stats.routes` once each time it turns slow, each passed deadline in
/// `slow_consumers`) and goes on; it is not closed, and nothing is lost.
#[test]
fn route_flush_past_the_deadline_goes_on_by_default() {
    let (a, _b, got, kept) = route_flush_outlives_the_deadline("", "write_deadline: \"500ms\"");
    assert_eq!(got, 1024, "messages lost; node A: {:#?}", a.server.logs());
    assert!(kept, "the route was closed and replaced");
    let detected = a
        .server
        .wait_for_log("Slow Consumer Detected", MESH_TIMEOUT);
    assert!(
        detected.contains("WriteDeadline of 500ms exceeded"),
        "{detected}"
    );
    a.server
        .wait_for_log("Slow Consumer Recovered", MESH_TIMEOUT);
    let v = a.monitor("/varz");
    let routes = v["slow_consumer_stats"]["routes"].as_u64().unwrap_or(0);
    assert!(routes >= 1, "{}", v["slow_consumer_stats"]);
    assert_eq!(v["slow_consumer_stats"]["clients"], 0);
    assert!(v["slow_consumers"].as_u64() >= Some(routes));
    assert!(v["cluster"].get("write_timeout").is_none());
    assert_eq!(v["cluster"]["write_deadline"], 500_000_000u64);
}

/// `cluster { write_timeout: close }`: the same slow route is closed at the deadline (and
/// dialled again), losing what was in flight.
#[test]
fn route_flush_past_the_deadline_closes_the_route_under_close() {
    let (a, _b, got, kept) =
        route_flush_outlives_the_deadline("", "write_deadline: \"500ms\"\n  write_timeout: close");
    assert!(
        got < 1024,
        "every message arrived over a route that should have closed"
    );
    assert!(!kept, "the route survived its deadline");
    a.server
        .wait_for_log("Slow Consumer Detected", MESH_TIMEOUT);
    assert_eq!(a.monitor("/varz")["cluster"]["write_timeout"], "close");
}

/// Without its own `write_deadline`, the `cluster {}` block's routes take the top-level one
/// (client.go: `opts.Cluster.WriteDeadline` only when set), and `/varz` leaves the cluster's
/// out.
#[test]
fn routes_take_the_top_level_write_deadline_by_default() {
    let (a, _b, got, kept) =
        route_flush_outlives_the_deadline("write_deadline: \"500ms\"", "write_timeout: close");
    assert!(got < 1024 && !kept, "the route outlived a 500ms deadline");
    let v = a.monitor("/varz");
    assert!(
        v["cluster"].get("write_deadline").is_none(),
        "{}",
        v["cluster"]
    );
    assert_eq!(v["write_deadline"], 500_000_000u64);
}
