//! TLS (spec §4.6, §2.2 CL-01/CL-03, §2.3 INFO `tls_*`, §3 `--tls*` and `-ms`): real clients
//! (async-nats, and a blocking rustls client for the raw protocol) against certificates made
//! by the test. Every case also runs against nats-server (`NATS_SERVER_IS_GO=1`).

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use common::{is_go, server_bin, Server, READ_TIMEOUT};
use futures::StreamExt;
use pki::{read_plain_line, Pair, Pki, TlsRaw};
use rustls::version::{TLS12, TLS13};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn info_json(line: &str) -> Value {
    let json = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
    serde_json::from_str(json.trim_end()).expect("INFO json")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// async-nats with TLS: the test CA, optionally a client certificate and TLS first.
async fn nats_connect(
    server: &Server,
    pki: &Pki,
    identity: Option<&Pair>,
    tls_first: bool,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut o = ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pki.ca.clone());
    if let Some(p) = identity {
        o = o.add_client_certificate(p.cert.clone(), p.key.clone());
    }
    if tls_first {
        o = o.tls_first();
    }
    let url = format!("tls://127.0.0.1:{}", server.port());
    match tokio::time::timeout(WAIT, o.connect(url)).await {
        Ok(r) => r,
        Err(_) => panic!("connect did not finish within {WAIT:?}"),
    }
}

/// A message goes from the client back to itself through the server.
async fn round_trip(client: &async_nats::Client) {
    round_trip_on(client, "tls.echo").await;
}

/// [`round_trip`] on a given subject.
async fn round_trip_on(client: &async_nats::Client, subject: &'static str) {
    let mut sub = client.subscribe(subject).await.expect("subscribe");
    client.flush().await.expect("flush");
    client
        .publish(subject, "over tls".into())
        .await
        .expect("publish");
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open");
    assert_eq!(&m.payload[..], b"over tls");
}

/// `/connz?auth=true` from the plain HTTP monitor on `mport`.
fn connz_auth(mport: u16) -> Value {
    let mut tcp = TcpStream::connect(("127.0.0.1", mport)).unwrap();
    std::io::Write::write_all(
        &mut tcp,
        b"GET /connz?auth=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&read_to_close(&mut tcp)).into_owned();
    let json = &text[text.find('{').unwrap()..=text.rfind('}').unwrap()];
    serde_json::from_str(json).expect("connz json")
}

/// Reads until EOF; returns what came (a reset counts as the end too).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("connection not closed by the server: {e}"),
        }
    }
}

#[tokio::test]
async fn tls_flags_require_tls_in_info_and_serve_async_nats() {
    let pki = Pki::new();
    let flags = pki.tls_flags();
    let server = Server::start(&strs(&flags));
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let info = info_json(&read_plain_line(&mut tcp).unwrap());
    assert_eq!(info["tls_required"], Value::Bool(true));
    assert!(info.get("tls_verify").is_none());
    assert!(info.get("tls_available").is_none());
    let client = nats_connect(&server, &pki, None, false)
        .await
        .expect("TLS client connects");
    round_trip(&client).await;
    server.wait_for_log("TLS required for client connections", WAIT);
}

#[test]
fn cl03_plaintext_client_on_tls_port_is_closed_without_a_reply() {
    let pki = Pki::new();
    let flags = pki.tls_flags();
    let server = Server::start(&strs(&flags));
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let info = info_json(&read_plain_line(&mut tcp).unwrap());
    assert_eq!(info["tls_required"], Value::Bool(true));
    std::io::Write::write_all(&mut tcp, b"CONNECT {}\r\nPING\r\n").unwrap();
    // Not a TLS record: nats-server closes at once, answering nothing (no PONG, no alert).
    assert_eq!(common::show(&read_to_close(&mut tcp)), "");
}

#[test]
fn cl03_client_that_never_starts_tls_gets_tls_required_at_the_timeout() {
    let pki = Pki::new();
    let server = Server::start_with_config(&pki.tls_block("  timeout: 0.5"), &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    read_plain_line(&mut tcp).unwrap();
    let rest = read_to_close(&mut tcp);
    if is_go() {
        // nats-server races its -ERR against the read deadline and usually loses it.
        assert!(
            rest.is_empty() || rest == b"-ERR 'Secure Connection - TLS Required'\r\n",
            "{}",
            common::show(&rest)
        );
    } else {
        assert_eq!(
            common::show(&rest),
            common::show(b"-ERR 'Secure Connection - TLS Required'\r\n")
        );
    }
}

#[test]
fn stalled_handshake_does_not_delay_clients_on_the_same_shard_and_is_closed() {
    let pki = Pki::new();
    // One shard: the stalled client and the others share it.
    let server = Server::start_sharded_with_config(1, &pki.tls_block("  timeout: 8"), &[]);
    let mut staller = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    staller.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    read_plain_line(&mut staller).unwrap();
    // The start of a TLS record header, and then nothing.
    std::io::Write::write_all(&mut staller, &[0x16, 0x03, 0x01]).unwrap();
    let stalled_at = Instant::now();

    for _ in 0..3 {
        let cfg = pki.client_config(None, &[&TLS13, &TLS12]);
        let mut c = TlsRaw::connect(server.port(), cfg, false).expect("handshake");
        c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
        c.expect("PONG\r\n").expect("PONG over TLS");
    }
    // The others were served while the stalled handshake was pending: the timeout is long
    // enough that this holds on any machine, and a shard blocked by the stalled handshake
    // would have served them only after closing it.
    staller.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = staller.read(&mut b);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "stalled client closed before the others were served: {r:?}"
    );
    staller.set_nonblocking(false).unwrap();
    // And at the timeout the stalled client is closed, without a plaintext -ERR in the middle
    // of its handshake.
    let rest = read_to_close(&mut staller);
    assert!(rest.is_empty(), "{}", common::show(&rest));
    assert!(stalled_at.elapsed() >= Duration::from_secs(7));
}

#[tokio::test]
async fn mutual_tls_accepts_ca_signed_client_and_rejects_others() {
    let pki = Pki::new();
    let conf = pki.tls_block(&format!(
        "  ca_file: \"{}\"\n  verify: true",
        pki.ca.display()
    ));
    let server = Server::start_with_config(&conf, &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let info = info_json(&read_plain_line(&mut tcp).unwrap());
    assert_eq!(info["tls_required"], Value::Bool(true));
    assert_eq!(info["tls_verify"], Value::Bool(true));

    let alice = nats_connect(&server, &pki, Some(&pki.alice), false)
        .await
        .expect("client signed by the CA connects");
    round_trip(&alice).await;
    assert!(
        nats_connect(&server, &pki, Some(&pki.rogue), false)
            .await
            .is_err(),
        "client signed by another CA must be refused"
    );
    assert!(
        nats_connect(&server, &pki, None, false).await.is_err(),
        "client without a certificate must be refused"
    );
    // The raw view: the handshake itself fails for the rogue certificate.
    let cfg = pki.client_config(Some(&pki.rogue), &[&TLS13, &TLS12]);
    let refused = TlsRaw::connect(server.port(), cfg, false)
        .and_then(|mut c| {
            c.send(b"PING\r\n")?;
            c.expect("PONG\r\n")
        })
        .is_err();
    assert!(refused);
}

#[tokio::test]
async fn tlsverify_flags_verify_client_certificates() {
    let pki = Pki::new();
    let mut flags = pki.tls_flags();
    flags.extend([
        "--tlsverify".to_string(),
        "--tlscacert".to_string(),
        pki.ca.display().to_string(),
    ]);
    let server = Server::start(&strs(&flags));
    let bob = nats_connect(&server, &pki, Some(&pki.bob), false)
        .await
        .expect("bob connects");
    round_trip(&bob).await;
    assert!(nats_connect(&server, &pki, Some(&pki.rogue), false)
        .await
        .is_err());
}

#[tokio::test]
async fn cl01_handshake_first_serves_a_tls_first_client() {
    let pki = Pki::new();
    let server = Server::start_with_config(&pki.tls_block("  handshake_first: true"), &[]);
    server.wait_for_log("TLS Handshake First", WAIT);
    let client = nats_connect(&server, &pki, None, true)
        .await
        .expect("tls_first client connects");
    round_trip(&client).await;
    // Raw: the first thing after the handshake is INFO, over TLS, with tls_required.
    let cfg = pki.client_config(None, &[&TLS13, &TLS12]);
    let mut c = TlsRaw::connect(server.port(), cfg, true).expect("TLS first handshake");
    let info = info_json(&c.line().unwrap());
    assert_eq!(info["tls_required"], Value::Bool(true));
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    c.expect("PONG\r\n").unwrap();
    // A client that waits for INFO first waits in vain and fails.
    assert!(nats_connect(&server, &pki, None, false).await.is_err());
}

#[tokio::test]
async fn handshake_first_auto_falls_back_to_info_first() {
    let pki = Pki::new();
    let server = Server::start_with_config(&pki.tls_block("  handshake_first: auto"), &[]);
    // A client that says nothing gets INFO after the fallback delay...
    let cfg = pki.client_config(None, &[&TLS13]);
    let mut c = TlsRaw::connect(server.port(), cfg.clone(), false).expect("INFO first");
    assert_eq!(
        info_json(c.plain_info.as_deref().unwrap())["tls_required"],
        Value::Bool(true)
    );
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    c.expect("PONG\r\n").unwrap();
    // ...and a TLS-first client is served TLS first.
    let mut f = TlsRaw::connect(server.port(), cfg, true).expect("TLS first");
    assert!(f.line().unwrap().starts_with("INFO "));
    let client = nats_connect(&server, &pki, None, true)
        .await
        .expect("tls_first");
    round_trip(&client).await;
}

#[tokio::test]
async fn allow_non_tls_serves_plaintext_and_tls_clients() {
    let pki = Pki::new();
    let conf = format!("{}allow_non_tls: true\n", pki.tls_block(""));
    let server = Server::start_with_config(&conf, &[]);
    server.wait_for_log("TLS available for client connections", WAIT);
    let mut raw = server.raw();
    assert_eq!(raw.info["tls_available"], Value::Bool(true));
    assert!(raw.info.get("tls_required").is_none());
    raw.send(b"CONNECT {\"verbose\":false}\r\n");
    raw.ping_pong();
    let plain = async_nats::connect(server.url()).await.expect("plaintext");
    round_trip(&plain).await;
    let tls = nats_connect(&server, &pki, None, false).await.expect("tls");
    round_trip(&tls).await;
}

#[tokio::test]
async fn pinned_certs_accept_only_listed_keys() {
    let pki = Pki::new();
    let pin = shards::tls::identity::hex(&shards::tls::sha256(&pki.alice.spki));
    let conf = pki.tls_block(&format!(
        "  ca_file: \"{}\"\n  verify: true\n  pinned_certs: [\"{pin}\"]",
        pki.ca.display()
    ));
    let server = Server::start_with_config(&conf, &[]);
    let alice = nats_connect(&server, &pki, Some(&pki.alice), false)
        .await
        .expect("pinned key connects");
    round_trip(&alice).await;
    // Bob's certificate is valid (same CA) but not pinned.
    assert!(nats_connect(&server, &pki, Some(&pki.bob), false)
        .await
        .is_err());
}

#[test]
fn min_version_1_3_refuses_tls12_clients() {
    let pki = Pki::new();
    let server = Server::start_with_config(&pki.tls_block("  min_version: \"1.3\""), &[]);
    let old = pki.client_config(None, &[&TLS12]);
    assert!(TlsRaw::connect(server.port(), old, false).is_err());
    let new = pki.client_config(None, &[&TLS13, &TLS12]);
    let c = TlsRaw::connect(server.port(), new, false).expect("TLS 1.3 client");
    assert_eq!(c.version(), Some(rustls::ProtocolVersion::TLSv1_3));
}

#[test]
fn cipher_suites_pick_the_tls12_suites() {
    let pki = Pki::new();
    let conf = pki.tls_block("  cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\"]");
    let server = Server::start_with_config(&conf, &[]);
    let suite_client = |suite: rustls::SupportedCipherSuite| {
        let mut p = rustls::crypto::ring::default_provider();
        p.cipher_suites = vec![suite];
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(&pki.ca).unwrap();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(c.unwrap()).unwrap();
        }
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(p))
                .with_protocol_versions(&[&TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    use rustls::crypto::ring::cipher_suite as cs;
    let listed = suite_client(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    TlsRaw::connect(server.port(), listed, false).expect("listed suite");
    let other = suite_client(cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    assert!(TlsRaw::connect(server.port(), other, false).is_err());
}

/// A GET over TLS; returns the status line and body.
fn https_get(pki: &Pki, port: u16, path: &str) -> (String, String) {
    let cfg = pki.client_config(None, &[&TLS13, &TLS12]);
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let name =
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    std::io::Write::write_all(
        &mut s,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    // Go and hyper may end without close_notify: keep what came.
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn https_monitor_serves_varz_over_tls() {
    let pki = Pki::new();
    let mut flags = pki.tls_flags();
    flags.extend(["-ms".to_string(), "-1".to_string()]);
    let server = Server::start(&strs(&flags));
    let line = server.wait_for_log("Starting https monitor on 127.0.0.1:", WAIT);
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let (status, body) = https_get(&pki, port, "/varz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // A chunked body (hyper) or a plain one (Go): find the JSON object.
    let json = &body[body.find('{').expect("json body")..=body.rfind('}').expect("json end")];
    let v: Value = serde_json::from_str(json).expect("varz json");
    // nats-server reports the port as configured.
    assert_eq!(v["https_port"], Value::from(-1));
    assert_eq!(v["http_port"], Value::from(0));
    assert_eq!(v["tls_required"], Value::Bool(true));
    // Plain HTTP on the HTTPS port gets no varz.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut tcp, b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(!String::from_utf8_lossy(&read_to_close(&mut tcp)).contains("server_id"));
}

#[tokio::test]
async fn connz_shows_the_tls_version_and_cipher() {
    let pki = Pki::new();
    let conf = pki.tls_block(&format!(
        "  ca_file: \"{}\"\n  verify: true",
        pki.ca.display()
    ));
    let server = Server::start_with_config(&conf, &["-m", "-1"]);
    let line = server.wait_for_log("Starting http monitor on 127.0.0.1:", WAIT);
    let mport: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let client = nats_connect(&server, &pki, Some(&pki.alice), false)
        .await
        .expect("connect");
    round_trip(&client).await;
    let v = connz_auth(mport);
    let c = &v["connections"][0];
    assert_eq!(c["tls_version"], Value::from("1.3"));
    assert!(c["tls_cipher_suite"]
        .as_str()
        .is_some_and(|s| s.starts_with("TLS_")));
    let peer = &c["tls_peer_certs"][0];
    assert_eq!(peer["subject"], Value::from("CN=alice,OU=Eng,O=Acme"));
    assert_eq!(
        peer["spki_sha256"],
        Value::from(shards::tls::identity::hex(&shards::tls::sha256(
            &pki.alice.spki
        )))
    );
}

#[test]
fn verify_and_map_identity_of_a_real_certificate() {
    // The identity nats-server maps to a user, read from an rcgen certificate.
    let pki = Pki::new();
    let id = shards::tls::identity::CertIdentity::from_der(&pki.alice.der).expect("parse");
    assert_eq!(id.emails, vec!["alice@example.com".to_string()]);
    assert_eq!(id.rdn_string(), "CN=alice,OU=Eng,O=Acme");
    let users = ["bob", "alice@example.com", "CN=alice,OU=Eng,O=Acme"];
    assert_eq!(id.map_user(&users), Some("alice@example.com"));
    assert_eq!(
        id.map_user(&users[..1]),
        None,
        "no user named by the certificate"
    );
    assert_eq!(
        id.map_user(&["O=Acme,OU=Eng,CN=alice"]),
        Some("O=Acme,OU=Eng,CN=alice")
    );
    let bob = shards::tls::identity::CertIdentity::from_der(&pki.bob.der).expect("parse");
    assert_eq!(bob.map_user(&users), None);
    assert_eq!(bob.map_user(&["CN=bob"]), Some("CN=bob"));
}

/// What a raw TLS client with `identity` sees after sending `ops` (which end in PING): the
/// lines up to the PONG, or up to the close (server PINGs answered, INFO skipped).
fn tls_transcript(port: u16, pki: &Pki, identity: &Pair, ops: &str) -> String {
    let cfg = pki.client_config(Some(identity), &[&TLS13, &TLS12]);
    let mut c = TlsRaw::connect(port, cfg, false).expect("handshake");
    c.send(ops.as_bytes()).expect("send");
    let mut out = String::new();
    loop {
        match c.line() {
            Ok(l) if l == "PING\r\n" => c.send(b"PONG\r\n").expect("pong"),
            Ok(l) if l.starts_with("INFO ") => {}
            Ok(l) => {
                out.push_str(l.trim_end());
                if l == "PONG\r\n" {
                    return out;
                }
                out.push_str(" | ");
            }
            Err(_) => {
                out.push_str("closed");
                return out;
            }
        }
    }
}

#[tokio::test]
async fn verify_and_map_names_the_user_from_the_client_certificate() {
    // §4.6 `verify_and_map`: the certificate, not the CONNECT, says who the client is
    // (nats-server's checkClientTLSCertSubject: SAN e-mail first, then the subject DN), and
    // that user's permissions apply. Also run with NATS_SERVER_IS_GO=1.
    let pki = Pki::new();
    let conf = format!(
        "{}authorization {{\n  users = [\n    {{ user: \"alice@example.com\", permissions: {{ publish: \"alice.>\" }} }}\n    {{ user: \"CN=carol\" }}\n  ]\n}}\n",
        pki.tls_block(&format!(
            "  ca_file: \"{}\"\n  verify_and_map: true",
            pki.ca.display()
        ))
    );
    let server = Server::start_with_config(&conf, &["-m", "-1"]);
    let line = server.wait_for_log("Starting http monitor on 127.0.0.1:", WAIT);
    let mport: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let port = server.port();

    // Alice's e-mail SAN names a user: no credentials needed, her permissions hold.
    assert_eq!(
        tls_transcript(
            port,
            &pki,
            &pki.alice,
            "CONNECT {\"verbose\":false}\r\nPUB alice.x 1\r\na\r\nPUB other 1\r\nb\r\nPING\r\n"
        ),
        "-ERR 'Permissions Violation for Publish to \"other\"' | PONG"
    );
    // A user named in CONNECT does not override the certificate (nats-server warns).
    assert_eq!(
        tls_transcript(
            port,
            &pki,
            &pki.alice,
            "CONNECT {\"verbose\":false,\"user\":\"CN=carol\"}\r\nPUB other 1\r\nb\r\nPING\r\n"
        ),
        "-ERR 'Permissions Violation for Publish to \"other\"' | PONG"
    );
    server.wait_for_log(
        "User \"CN=carol\" found in connect proto, but user required from cert",
        WAIT,
    );
    // The mapped user has no password: a CONNECT password does not match it.
    assert_eq!(
        tls_transcript(
            port,
            &pki,
            &pki.alice,
            "CONNECT {\"verbose\":false,\"pass\":\"x\"}\r\nPING\r\n"
        ),
        "-ERR 'Authorization Violation' | closed"
    );
    // Bob's certificate (CN=bob, signed by the CA) names no configured user.
    assert_eq!(
        tls_transcript(
            port,
            &pki,
            &pki.bob,
            "CONNECT {\"verbose\":false,\"user\":\"CN=carol\"}\r\nPING\r\n"
        ),
        "-ERR 'Authorization Violation' | closed"
    );
    // async-nats with Alice's certificate, seen in /connz?auth=true as the mapped user.
    let alice = nats_connect(&server, &pki, Some(&pki.alice), false)
        .await
        .expect("alice connects");
    round_trip_on(&alice, "alice.in").await;
    let v = connz_auth(mport);
    let users: Vec<&Value> = v["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| &c["authorized_user"])
        .collect();
    assert_eq!(users, vec![&Value::from("alice@example.com")], "{v}");
}

fn run_fail(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(server_bin())
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run server");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_flag_errors_as_nats_server() {
    let (code, err) = run_fail(&["--tls"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("nats-server: TLS Server certificate must be present and valid"),
        "{err}"
    );
    let pki = Pki::new();
    let cert = pki.server.cert.display().to_string();
    let (code, err) = run_fail(&["--tlscert", &cert]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("TLS Server private key must be present and valid"),
        "{err}"
    );
    let (code, err) = run_fail(&["-ms", "-1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Can't start monitoring: TLS cert and key required for HTTPS"),
        "{err}"
    );
}

/// Spec §2.9 over TLS: under `write_timeout: retry` a TLS subscriber read slowly (about
/// 5 MiB/s, so flushes of megabytes outlive the 500ms deadline while bytes still move) keeps
/// its connection and gets every message. Progress is counted as rustls takes the bytes,
/// which it does only as fast as the socket drains its records.
///
/// Not run against nats-server: its TLS connections cannot retry. Go's crypto/tls leaves a
/// connection unusable after a write times out (every later write fails at once), so the
/// flush after the first deadline writes nothing and nats-server closes the client
/// (`Slow Consumer Detected`, then `State` 50 µs later with 0 bytes written). We keep the
/// policy's meaning over TLS too.
#[test]
fn write_timeout_retry_keeps_a_slowly_read_tls_client() {
    const MSGS: usize = 1024;
    if is_go() {
        eprintln!("skipping: nats-server's TLS connections cannot retry a timed-out write");
        return;
    }
    let pki = Pki::new();
    let conf = format!(
        "{}\nwrite_deadline: \"500ms\"\nwrite_timeout: retry\n",
        pki.tls_block("")
    );
    let server = Server::start_sharded_with_config(1, &conf, &[]);
    let cfg = pki.client_config(None, &[&TLS13, &TLS12]);
    let mut sub = TlsRaw::connect(server.port(), cfg.clone(), false).expect("handshake");
    common::small_receive_buffer(&sub.reader.get_ref().sock);
    sub.send(b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n")
        .unwrap();
    sub.expect("PONG\r\n").expect("PONG over TLS");
    let mut publisher = TlsRaw::connect(server.port(), cfg, false).expect("handshake");
    publisher
        .send(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    publisher.expect("PONG\r\n").unwrap();
    let frame = common::pub_frame("big", &vec![b'x'; 16 * 1024]);
    for _ in 0..MSGS / 64 {
        publisher.send(&frame.repeat(64)).unwrap();
    }
    publisher.send(b"PING\r\n").unwrap();
    publisher.expect("PONG\r\n").unwrap();

    let sock = &sub.reader.get_ref().sock;
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut msgs = common::PatternCount::new(b"MSG big 1 ");
    let mut buf = vec![0u8; 256 * 1024];
    let give_up = Instant::now() + Duration::from_secs(30);
    'reading: while msgs.count < MSGS && Instant::now() < give_up {
        // A read returns at most a TLS record: take about 256 KiB per turn.
        let mut turn = 0;
        while turn < buf.len() {
            match sub.reader.read(&mut buf[turn..]) {
                Ok(0) => break 'reading,
                Ok(n) => turn += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("subscriber: {e}; {:#?}", server.logs()),
            }
        }
        msgs.feed(&buf[..turn]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(msgs.count, MSGS, "{:#?}", server.logs());
    server.wait_for_log("Slow Consumer Detected", WAIT);
    server.wait_for_log("Slow Consumer Recovered", WAIT);
}
