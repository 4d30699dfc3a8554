//! Authentication, differentially: for a set of configs and CONNECT attempts, nats-tpc and
//! the nats-server on PATH must give the same result and the same error text (spec §2.11,
//! CL-04). Skipped (with a line) when no Go server is on PATH.
//!
//! Also `/connz?auth=true` and `/connz?user=` with authenticated users (spec §5), compared
//! with nats-server's answer to the same clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::{go_server_on_path, server_bin, Frame, Raw, Server, TempConfig};
use serde_json::Value;

/// What a client sees: the INFO's auth fields, then the frames up to the PONG or the close.
fn outcome(port: u16, ops: &str, nkey: Option<&nkeys::KeyPair>) -> String {
    let mut raw = Raw::connect(port);
    let mut out = format!(
        "auth_required={} nonce={} | ",
        raw.info["auth_required"],
        raw.info["nonce"].as_str().map_or(0, str::len)
    );
    let mut ops = ops.to_string();
    if let Some(kp) = nkey {
        let nonce = raw.info["nonce"].as_str().unwrap_or("");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(kp.sign(nonce.as_bytes()).expect("sign"));
        ops = ops.replace("$SIG", &sig);
    }
    raw.send(ops.as_bytes());
    loop {
        match raw.read_frame() {
            Frame::Ok => out.push_str("+OK "),
            Frame::Pong => {
                out.push_str("PONG");
                return out;
            }
            Frame::Err(e) => {
                out.push_str(&format!("-ERR {e}"));
                raw.expect_closed();
                out.push_str(" closed");
                return out;
            }
            other => {
                out.push_str(&format!("{other:?}"));
                return out;
            }
        }
    }
}

fn start(bin: &Path, conf: &str, args: &[&str]) -> Server {
    let cfg = TempConfig::new(conf);
    let mut all: Vec<&str> = vec!["-c", cfg.path().to_str().expect("utf-8 temp path")];
    all.extend_from_slice(args);
    let s = Server::start_binary(bin, &all);
    drop(cfg);
    s
}

fn go() -> Option<PathBuf> {
    let g = go_server_on_path();
    if g.is_none() {
        eprintln!("skipping: no nats-server on PATH");
    }
    g
}

#[test]
fn connect_attempts_match_nats_server() {
    let Some(go) = go() else { return };
    let ours = server_bin();
    let kp = nkeys::KeyPair::new_user();
    let pk = kp.public_key();
    let hash = bcrypt::hash("bpass", 4).expect("bcrypt");
    let nk = format!(r#"CONNECT {{"verbose":false,"nkey":"{pk}","sig":"$SIG"}}\r\nPING\r\n"#)
        .replace("\\r\\n", "\r\n");
    let configs: Vec<(String, Vec<&str>)> = vec![
        ("authorization { token: tok }\n".into(), vec![]),
        ("authorization { user: u, password: p }\n".into(), vec![]),
        (format!("authorization {{ user: u, password: \"{hash}\" }}\n"), vec![]),
        (
            format!("authorization {{ users: [{{user: a, password: pa}}, {{user: b, password: \"{hash}\"}}, {{nkey: {pk}}}] }}\n"),
            vec![],
        ),
        (
            "authorization { users: [{user: a, password: pa}, {user: g, password: pg}] }\nno_auth_user: g\n".into(),
            vec![],
        ),
        (
            "authorization { users: [{user: w, password: pw, allowed_connection_types: [\"WEBSOCKET\"]}, {user: s, password: ps, allowed_connection_types: [\"STANDARD\"]}] }\n".into(),
            vec![],
        ),
        ("port: -1\n".into(), vec!["--user", "fu", "--pass", "fp"]),
        ("authorization { token: conf }\n".into(), vec!["--auth", "flag"]),
        ("port: -1\n".into(), vec![]),
    ];
    let attempts: Vec<String> = [
        r#"CONNECT {"verbose":false,"auth_token":"tok"}"#,
        r#"CONNECT {"verbose":false,"auth_token":"flag"}"#,
        r#"CONNECT {"verbose":false,"auth_token":"conf"}"#,
        r#"CONNECT {"user":"u","pass":"p"}"#,
        r#"CONNECT {"verbose":false,"user":"u","pass":"bpass"}"#,
        r#"CONNECT {"verbose":false,"user":"a","pass":"pa"}"#,
        r#"CONNECT {"verbose":false,"user":"b","pass":"bpass"}"#,
        r#"CONNECT {"verbose":false,"user":"b","pass":"pa"}"#,
        r#"CONNECT {"verbose":false,"user":"w","pass":"pw"}"#,
        r#"CONNECT {"verbose":false,"user":"s","pass":"ps"}"#,
        r#"CONNECT {"verbose":false,"user":"fu","pass":"fp"}"#,
        r#"CONNECT {"verbose":false}"#,
        r#"CONNECT {"verbose":false,"user":"a","pass":"pa","account":"X"}"#,
        r#"CONNECT {"verbose":false,"auth_token":"tok","protocol":5}"#,
        r#"CONNECT {"verbose":false,"nkey":"UNKNOWN","sig":"AAAA"}"#,
    ]
    .iter()
    .map(|c| format!("{c}\r\nPING\r\n"))
    .chain(["PING\r\n".to_string(), "SUB foo 1\r\nPING\r\n".to_string()])
    .collect();
    let mut diffs = Vec::new();
    for (conf, args) in &configs {
        let g = start(&go, conf, args);
        let o = start(&ours, conf, args);
        for a in attempts.iter().chain(std::iter::once(&nk)) {
            let key = a.contains("$SIG").then_some(&kp);
            let (gr, or) = (outcome(g.port(), a, key), outcome(o.port(), a, key));
            if std::env::var_os("NATS_DIFF_SHOW").is_some() {
                eprintln!("{conf:?} {args:?} {a:?}\n  -> {gr}");
            }
            if gr != or {
                diffs.push(format!(
                    "config {conf:?} {args:?}\n  sent {a:?}\n  go:   {gr}\n  ours: {or}"
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

fn monitor(bin: &Path, conf: &str) -> (Server, u16) {
    let s = start(bin, conf, &["-m", "-1"]);
    let line = s.wait_for_log("Starting http monitor on", Duration::from_secs(5));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("monitor port");
    (s, port)
}

fn get_json(port: u16, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitor");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON ({e}): {body}"))
}

/// The `authorized_user` of each connection, in cid order.
fn users(v: &Value) -> Vec<Value> {
    v["connections"]
        .as_array()
        .map(|a| a.iter().map(|c| c["authorized_user"].clone()).collect())
        .unwrap_or_default()
}

#[test]
fn connz_shows_authenticated_users_like_nats_server() {
    let Some(go) = go() else { return };
    let kp = nkeys::KeyPair::new_user();
    let conf = format!(
        "authorization {{ users: [{{user: alice, password: a}}, {{user: bob, password: b}}, {{nkey: {}}}] }}\n",
        kp.public_key()
    );
    let mut results = Vec::new();
    for bin in [go, server_bin()] {
        let (s, mport) = monitor(&bin, &conf);
        let alice = s.client(r#"{"verbose":false,"user":"alice","pass":"a"}"#);
        let bob = s.client(r#"{"verbose":false,"user":"bob","pass":"b"}"#);
        let mut nk = Raw::connect(s.port());
        let nonce = nk.info["nonce"].as_str().expect("nonce").to_string();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(kp.sign(nonce.as_bytes()).expect("sign"));
        nk.send(
            format!(
                "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
                kp.public_key()
            )
            .as_bytes(),
        );
        nk.expect(b"PONG\r\n");
        let all = get_json(mport, "/connz?auth=true");
        let plain = get_json(mport, "/connz");
        let only_bob = get_json(mport, "/connz?auth=true&user=bob");
        results.push((
            users(&all),
            users(&plain),
            users(&only_bob),
            only_bob["total"].clone(),
        ));
        drop((alice, bob, nk, s));
    }
    let (ours, go) = (results.pop().unwrap(), results.pop().unwrap());
    assert_eq!(
        go.0,
        vec![
            Value::from("alice"),
            Value::from("bob"),
            Value::from(kp.public_key())
        ],
        "nats-server's view"
    );
    assert_eq!(ours, go);
}
