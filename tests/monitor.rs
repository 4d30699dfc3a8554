//! The HTTP monitor (spec §5), compared with nats-server: the same clients and traffic
//! against both, then the same keys, the same JSON types and equal counters where the
//! traffic fixes them. Tests that need only ours (`/shardz`, JSONP) say so.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{go_server_on_path, is_go, server_bin, Server};
use serde_json::Value;

/// A monitor-enabled server of the binary under test (or of `bin`).
fn start(bin: &Path, args: &[&str]) -> (Server, u16) {
    let mut all = vec!["-m", "-1"];
    all.extend_from_slice(args);
    let server = Server::start_binary(bin, &all);
    let line = server.wait_for_log("Starting http monitor on", Duration::from_secs(5));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("monitor port in the log line");
    (server, port)
}

struct HttpResp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.body))
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`.
fn get(port: u16, path: &str) -> HttpResp {
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
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys and types of `ours` must match `go`'s, except the keys listed as Go-only.
fn same_shape(what: &str, go: &Value, ours: &Value, go_only: &[&str]) {
    let (Value::Object(g), Value::Object(o)) = (go, ours) else {
        panic!("{what}: not objects");
    };
    for (k, gv) in g {
        if go_only.contains(&k.as_str()) {
            continue;
        }
        let ov = o
            .get(k)
            .unwrap_or_else(|| panic!("{what}: key {k:?} missing (Go has {gv})"));
        // Go writes whole floats like 2 as `2`; serde reads them as ints. Either is a number.
        let num = |t| t == "int" || t == "float";
        let (gk, ok) = (kind(gv), kind(ov));
        assert!(
            gk == ok || (num(gk) && num(ok)),
            "{what}: key {k:?} is {ok} here but {gk} in nats-server"
        );
    }
    for k in o.keys() {
        assert!(
            g.contains_key(k) || go_only.contains(&k.as_str()),
            "{what}: key {k:?} is not in nats-server's output"
        );
    }
}

/// Keys nats-server 2.15 prints that describe what nats-tpc does not have (no git commit
/// of a Go build, no JetStream feature flags, no OCSP, no disk I/O semaphore).
const VARZ_GO_ONLY: &[&str] = &[
    "git_commit",
    "feature_flags",
    "disk_io_wait_stats",
    "gomemlimit",
    "tags",
    "metadata",
];

fn both() -> Option<(Server, u16, Server, u16)> {
    if is_go() {
        eprintln!("skipping: compares nats-tpc with nats-server, NATS_SERVER_IS_GO=1");
        return None;
    }
    let Some(go) = go_server_on_path() else {
        eprintln!("skipping: no nats-server on PATH");
        return None;
    };
    let (g, gp) = start(&go, &[]);
    let (o, op) = start(&server_bin(), &[]);
    Some((g, gp, o, op))
}

/// The same traffic for both: a subscriber, a named publisher, 10 messages of 5 bytes.
fn traffic(server: &Server) -> (common::Raw, common::Raw) {
    let mut sub = server.client(r#"{"verbose":false,"name":"sub","lang":"rust","version":"1.0"}"#);
    sub.send(b"SUB mon.> 7\r\nSUB other 8\r\n");
    sub.ping_pong();
    let mut publ = server.client(r#"{"verbose":false,"name":"pub"}"#);
    for _ in 0..10 {
        publ.send(b"PUB mon.x 5\r\nhello\r\n");
    }
    publ.ping_pong();
    sub.read_msgs(10);
    (sub, publ)
}

#[test]
fn varz_has_nats_server_keys_types_and_counters() {
    let Some((g, gp, o, op)) = both() else { return };
    let gv0 = get(gp, "/varz").json();
    let ov0 = get(op, "/varz").json();
    let _keep_g = traffic(&g);
    let _keep_o = traffic(&o);
    let gv = get(gp, "/varz").json();
    let ov = get(op, "/varz").json();
    same_shape("/varz", &gv, &ov, VARZ_GO_ONLY);
    for k in [
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "connections",
    ] {
        assert_eq!(ov[k], gv[k], "/varz {k}");
    }
    // nats-server counts its system account's internal subscriptions too: compare growth.
    let grown = |v: &Value, v0: &Value, k: &str| v[k].as_u64().unwrap() - v0[k].as_u64().unwrap();
    assert_eq!(grown(&ov, &ov0, "subscriptions"), 2);
    assert_eq!(
        grown(&ov, &ov0, "subscriptions"),
        grown(&gv, &gv0, "subscriptions")
    );
    assert_eq!(ov["ping_interval"], 120_000_000_000u64);
    assert_eq!(ov["write_deadline"], 10_000_000_000u64);
    assert_eq!(ov["http_port"].as_u64(), Some(op as u64));
}

#[test]
fn connz_entries_match_nats_server() {
    let Some((g, gp, o, op)) = both() else { return };
    let _keep_g = traffic(&g);
    let _keep_o = traffic(&o);
    let gc = get(gp, "/connz?subs=detail&sort=msgs_from").json();
    let oc = get(op, "/connz?subs=detail&sort=msgs_from").json();
    same_shape("/connz", &gc, &oc, &[]);
    assert_eq!(oc["num_connections"], 2);
    assert_eq!(oc["total"], gc["total"]);
    let (gpub, opub) = (&gc["connections"][0], &oc["connections"][0]);
    same_shape("/connz publisher", gpub, opub, &[]);
    assert_eq!(opub["name"], "pub");
    assert_eq!(opub["in_msgs"], 10);
    assert_eq!(opub["in_bytes"], 50);
    let (gsub, osub) = (&gc["connections"][1], &oc["connections"][1]);
    same_shape("/connz subscriber", gsub, osub, &[]);
    for k in [
        "name",
        "lang",
        "version",
        "out_msgs",
        "out_bytes",
        "subscriptions",
    ] {
        assert_eq!(osub[k], gsub[k], "/connz subscriber {k}");
    }
    let detail = osub["subscriptions_list_detail"].as_array().unwrap();
    assert_eq!(detail.len(), 2);
    same_shape(
        "/connz subscription detail",
        &gsub["subscriptions_list_detail"][0],
        &detail[0],
        &[],
    );
}

#[test]
fn connz_bad_queries_give_nats_servers_400s() {
    let Some((_g, gp, _o, op)) = both() else {
        return;
    };
    for q in [
        "/connz?sort=foo",
        "/connz?sort=stop",
        "/connz?limit=x",
        "/connz?subs=maybe",
    ] {
        let (gr, or) = (get(gp, q), get(op, q));
        assert_eq!(gr.status, 400, "{q}: Go");
        assert_eq!(or.status, 400, "{q}");
        assert_eq!(or.body.trim(), gr.body.trim(), "{q}");
    }
}

#[test]
fn subsz_counts_and_test_filter() {
    let Some((g, gp, o, op)) = both() else { return };
    let _keep_g = traffic(&g);
    let _keep_o = traffic(&o);
    let gs = get(gp, "/subsz").json();
    let os = get(op, "/subsz").json();
    same_shape("/subsz", &gs, &os, &[]);
    let os = get(op, "/subsz?subs=1&test=mon.x").json();
    let list = os["subscriptions_list"].as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "mon.>");
    assert_eq!(get(op, "/subsz?test=a.*").status, 400);
    assert_eq!(get(op, "/subsz?acc=foo").json()["num_subscriptions"], 0);
    assert_eq!(get(op, "/subsz?acc=$G").json()["num_subscriptions"], 2);
}

#[test]
fn healthz_and_headers_like_nats_server() {
    let Some((_g, gp, _o, op)) = both() else {
        return;
    };
    for path in ["/healthz", "/healthz?js-enabled-only=true"] {
        let (gr, or) = (get(gp, path), get(op, path));
        assert_eq!(or.status, 200);
        assert_eq!(or.body, gr.body, "{path}");
        assert_eq!(or.header("Content-Type"), Some("application/json"));
        assert_eq!(or.header("Access-Control-Allow-Origin"), Some("*"));
    }
    assert_eq!(get(op, "/nothere").status, 404);
    for path in [
        "/routez",
        "/gatewayz",
        "/leafz",
        "/accountz",
        "/accstatz",
        "/jsz",
    ] {
        same_shape(path, &get(gp, path).json(), &get(op, path).json(), &[]);
    }
    assert_eq!(get(op, "/").status, 200);
}

#[test]
fn jsonp_callback_as_the_2_7_servers() {
    if is_go() {
        return; // nats-server 2.15 dropped JSONP; nats-tpc keeps it (spec §5).
    }
    let (_o, op) = start(&server_bin(), &[]);
    let r = get(op, "/varz?callback=cb");
    assert_eq!(r.header("Content-Type"), Some("application/javascript"));
    assert!(
        r.body.starts_with("cb({") && r.body.ends_with("})"),
        "{}",
        r.body
    );
}

#[test]
fn shardz_counts_per_shard_with_known_traffic() {
    if is_go() {
        return;
    }
    let (server, port) = start(&server_bin(), &["--shards", "2", "-D"]);
    // One subscriber and one publisher on each shard.
    let mut by_shard: Vec<Vec<common::Raw>> = vec![Vec::new(), Vec::new()];
    while by_shard.iter().any(|v| v.len() < 2) {
        let c = server.quiet();
        let s = server.shard_of(c.cid());
        if by_shard[s].len() < 2 {
            by_shard[s].push(c);
        }
    }
    for conns in by_shard.iter_mut() {
        conns[0].send(b"SUB z 1\r\n");
        conns[0].ping_pong();
    }
    // Shard 0's publisher sends 3, shard 1's sends 5: every message reaches both subscribers.
    for (shard, n) in [(0usize, 3usize), (1, 5)] {
        for _ in 0..n {
            by_shard[shard][1].send(b"PUB z 2\r\nhi\r\n");
        }
        by_shard[shard][1].ping_pong();
    }
    for conns in by_shard.iter_mut() {
        conns[0].read_msgs(8);
        conns[0].ping_pong();
    }
    let z = get(port, "/shardz").json();
    let shards = z["shards"].as_array().unwrap();
    assert_eq!(z["num_shards"], 2);
    for (i, n) in [(0usize, 3u64), (1, 5)] {
        let s = &shards[i];
        assert_eq!(s["connections"], 2, "shard {i}");
        assert_eq!(s["subscriptions"], 1, "shard {i}");
        assert_eq!(s["in_msgs"], n, "shard {i}");
        assert_eq!(s["out_msgs"], 8, "shard {i}");
        assert_eq!(s["cross_shard_out_msgs"], n, "shard {i}");
        assert_eq!(s["cross_shard_in_msgs"], 8 - n, "shard {i}");
        assert!(s["busy_ns"].as_u64().unwrap() > 0, "shard {i} busy time");
    }
    let v = get(port, "/varz").json();
    assert_eq!(v["in_msgs"], 8);
    assert_eq!(v["out_msgs"], 16);
    assert_eq!(v["connections"], 4);
}

#[test]
fn connz_closed_connections_are_kept_with_reason() {
    let Some((g, gp, o, op)) = both() else { return };
    for server in [&g, &o] {
        let mut c = server.client(r#"{"verbose":false,"name":"gone"}"#);
        c.send(b"SUB foo 1\r\n");
        c.ping_pong();
        c.send(b"-ERR 'bye'\r\n");
        c.expect_closed();
    }
    std::thread::sleep(Duration::from_millis(200));
    let gc = get(gp, "/connz?state=closed&subs=1").json();
    let oc = get(op, "/connz?state=closed&subs=1").json();
    same_shape("/connz closed", &gc, &oc, &[]);
    let (gconn, oconn) = (&gc["connections"][0], &oc["connections"][0]);
    same_shape("/connz closed entry", gconn, oconn, &[]);
    for k in ["name", "reason", "subscriptions", "subscriptions_list"] {
        assert_eq!(oconn[k], gconn[k], "closed {k}");
    }
    assert_eq!(get(op, "/connz").json()["total"], 0);
    assert_eq!(get(op, "/connz?state=any").json()["total"], 1);
}

#[test]
fn healthz_parameters_like_nats_server() {
    let Some((_g, gp, _o, op)) = both() else {
        return;
    };
    for q in [
        "stream=x",
        "consumer=c",
        "consumer=c&stream=s&account=a",
        "account=a",
        "details=true",
        "js-server-only=true",
        "js-enabled-only=x",
    ] {
        let path = format!("/healthz?{q}");
        let (gr, or) = (get(gp, &path), get(op, &path));
        assert_eq!(or.status, gr.status, "{path}");
        assert_eq!(or.body.trim(), gr.body.trim(), "{path}");
    }
}

#[test]
fn connz_account_user_and_auth_filters_like_nats_server() {
    let Some((g, gp, o, op)) = both() else { return };
    let _keep_g = traffic(&g);
    let _keep_o = traffic(&o);
    for q in [
        "/connz?auth=true",
        "/connz?acc=$G",
        "/connz?acc=foo",
        "/connz?user=bob",
    ] {
        let (gc, oc) = (get(gp, q).json(), get(op, q).json());
        assert_eq!(oc["total"], gc["total"], "{q}");
        assert_eq!(kind(&oc["connections"]), kind(&gc["connections"]), "{q}");
        if let (Some(ga), Some(oa)) = (gc["connections"].as_array(), oc["connections"].as_array()) {
            if let (Some(g0), Some(o0)) = (ga.first(), oa.first()) {
                same_shape(q, g0, o0, &[]);
                assert_eq!(o0["name_tag"], g0["name_tag"], "{q}");
            }
        }
    }
}
