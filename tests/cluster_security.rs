//! Route security (spec §4.4 `tls`, `authorization`; RT-03, AU-02): clusters of real processes on
//! loopback whose routes run TLS with certificates made by the test (rcgen), ours alone and
//! mixed with the Go nats-server on the same certificates. With `NATS_SERVER_IS_GO=1` every
//! node is Go.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{
    assert_no_errors, check_plain_traffic, wait_full_mesh, Kind, Node, Spec, MESH_TIMEOUT,
};
use common::{TempConfig, READ_TIMEOUT};
use pki::{Pair, Pki};

const T: Kind = Kind::Tested;
const G: Kind = Kind::Go;

/// A node whose config file holds `cluster { tls {} }` with `pair`, the test CA and
/// `extra`; the config lives as long as the node.
fn tls_node(
    kind: Kind,
    name: &str,
    routes: &[u16],
    pki: &Pki,
    pair: &Pair,
    extra: &str,
) -> (Node, TempConfig) {
    let conf = TempConfig::new(&pki.route_tls_block(pair, extra));
    let mut spec = Spec::new(kind, name).routes(routes);
    spec.extra = vec!["-c".into(), conf.path().display().to_string()];
    (Node::start(spec), conf)
}

/// Seed `a`, then `b` and `c` each with one route to the seed (gossip meshes them), every
/// route over TLS.
fn three_tls(pki: &Pki, a: Kind, b: Kind, c: Kind) -> Vec<(Node, TempConfig)> {
    let n1 = tls_node(a, "n1", &[], pki, &pki.route, "");
    let p = n1.0.route_port;
    let n2 = tls_node(b, "n2", &[p], pki, &pki.route, "");
    let n3 = tls_node(c, "n3", &[p], pki, &pki.route, "");
    wait_full_mesh(&[&n1.0, &n2.0, &n3.0]);
    vec![n1, n2, n3]
}

/// Waits a little for a route that must not form, then checks it did not.
fn assert_stays_apart(a: &Node, b: &Node) {
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !a.peers().contains(&b.id),
        "{} routed to {}",
        a.spec.name,
        b.spec.name
    );
    assert!(
        !b.peers().contains(&a.id),
        "{} routed to {}",
        b.spec.name,
        a.spec.name
    );
}

#[test]
fn route_tls_mesh_passes_messages() {
    let pki = Pki::new();
    let nodes = three_tls(&pki, T, T, T);
    let refs: Vec<&Node> = nodes.iter().map(|n| &n.0).collect();
    check_plain_traffic(&refs, "tls");
    for n in &refs {
        let v = n.monitor("/varz");
        assert_eq!(v["cluster"]["tls_required"], true, "{}", v["cluster"]);
        assert_eq!(v["cluster"]["tls_verify"], true, "{}", v["cluster"]);
        assert_eq!(v["cluster"]["tls_timeout"], 2.0, "{}", v["cluster"]);
    }
    if refs[0].is_ours() {
        // Both ends of every route said what they negotiated.
        refs[0]
            .server
            .wait_for_log("TLS route server handshake", READ_TIMEOUT);
        refs[1]
            .server
            .wait_for_log("TLS route client handshake", READ_TIMEOUT);
    }
    assert_no_errors(&refs);
}

#[test]
fn route_tls_refuses_a_peer_without_tls() {
    let pki = Pki::new();
    let (a, _ca) = tls_node(T, "a", &[], &pki, &pki.route, "");
    let (b, _cb) = tls_node(T, "b", &[a.route_port], &pki, &pki.route, "");
    wait_full_mesh(&[&a, &b]);
    // A plaintext node dials the TLS seed: its CONNECT is no TLS record.
    let plain = Node::start(Spec::new(T, "plain").routes(&[a.route_port]));
    a.server
        .wait_for_log("TLS route handshake error", MESH_TIMEOUT);
    assert_stays_apart(&a, &plain);
    // A TLS node dials the plaintext one: its INFO is no TLS record either.
    let (c, _cc) = tls_node(T, "c", &[plain.route_port], &pki, &pki.route, "");
    c.server
        .wait_for_log("TLS route handshake error", MESH_TIMEOUT);
    assert_stays_apart(&c, &plain);
    assert_eq!(a.peers(), BTreeSet::from([b.id.clone()]));
}

#[test]
fn route_tls_refuses_a_certificate_from_another_ca() {
    let pki = Pki::new();
    let (a, _ca) = tls_node(T, "a", &[], &pki, &pki.route, "");
    // Trusts our CA, but its own certificate is signed by another one: the seed refuses
    // the client certificate of its route.
    let (rogue, _cr) = tls_node(T, "rogue", &[a.route_port], &pki, &pki.rogue_route, "");
    a.server
        .wait_for_log("TLS route handshake error", MESH_TIMEOUT);
    assert_stays_apart(&a, &rogue);
    // The other way round: the seed dials a node whose certificate it cannot verify.
    let (r2, _c2) = tls_node(T, "r2", &[], &pki, &pki.rogue_route, "");
    let (d, _cd) = tls_node(T, "d", &[r2.route_port], &pki, &pki.route, "");
    d.server
        .wait_for_log("TLS route handshake error", MESH_TIMEOUT);
    assert_stays_apart(&d, &r2);
}

#[test]
fn route_tls_pinned_certs_admit_only_the_listed_keys() {
    // `cluster { tls { pinned_certs } }`: the accepting side admits a route only when the
    // SHA-256 of its certificate's public key is listed.
    let pki = Pki::new();
    let pin = shards::tls::identity::hex(&shards::tls::sha256(&pki.route.spki));
    let (a, _ca) = tls_node(
        T,
        "a",
        &[],
        &pki,
        &pki.route,
        &format!("pinned_certs: [\"{pin}\"]"),
    );
    let (b, _cb) = tls_node(T, "b", &[a.route_port], &pki, &pki.route, "");
    wait_full_mesh(&[&a, &b]);
    check_plain_traffic(&[&a, &b], "pinned");
    let other = "0".repeat(64);
    let (c, _cc) = tls_node(
        T,
        "c",
        &[],
        &pki,
        &pki.route,
        &format!("pinned_certs: [\"{other}\"]"),
    );
    let (d, _cd) = tls_node(T, "d", &[c.route_port], &pki, &pki.route, "");
    assert_stays_apart(&c, &d);
}

#[test]
fn route_tls_insecure_skips_verifying_the_dialled_peer_only() {
    let pki = Pki::new();
    let (a, _ca) = tls_node(T, "a", &[], &pki, &pki.route, "");
    // `insecure` lets a node dial a peer its roots cannot verify (here: it trusts nothing
    // but another CA's certificate)...
    let other_ca =
        TempConfig::new(&std::fs::read_to_string(&pki.rogue_route.cert).expect("rogue cert"));
    let conf = format!(
        "cluster {{\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    insecure: true\n  }}\n}}\n",
        pki.route.cert.display(),
        pki.route.key.display(),
        other_ca.path().display()
    );
    let conf = TempConfig::new(&conf);
    let mut spec = Spec::new(T, "lax").routes(&[a.route_port]);
    spec.extra = vec!["-c".into(), conf.path().display().to_string()];
    let lax = Node::start(spec);
    wait_full_mesh(&[&a, &lax]);
    lax.server.wait_for_log(
        "TLS certificate chain and hostname of solicited routes will not be verified",
        READ_TIMEOUT,
    );
    // ...while a peer's client certificate is still checked: the seed (which trusts only
    // our CA) refuses a rogue certificate even from an insecure node.
    let (rogue, _cr) = tls_node(
        T,
        "rogue",
        &[a.route_port],
        &pki,
        &pki.rogue_route,
        "insecure: true",
    );
    a.server
        .wait_for_log("TLS route handshake error", MESH_TIMEOUT);
    assert_stays_apart(&a, &rogue);
}

#[test]
fn mixed_route_tls_with_go_seed() {
    let pki = Pki::new();
    let nodes = three_tls(&pki, G, T, T);
    let refs: Vec<&Node> = nodes.iter().map(|n| &n.0).collect();
    check_plain_traffic(&refs, "gotls");
    assert_no_errors(&refs);
}

#[test]
fn mixed_route_tls_with_our_seed() {
    let pki = Pki::new();
    let nodes = three_tls(&pki, T, G, T);
    let refs: Vec<&Node> = nodes.iter().map(|n| &n.0).collect();
    check_plain_traffic(&refs, "ourtls");
    assert_no_errors(&refs);
}

/// A seed whose `cluster { authorization }` password is a bcrypt hash (listening where its
/// config says: `--cluster` would drop the authorization); peers dial it with the plain
/// password in their route URL.
fn bcrypt_routes(seed: Kind, peer: Kind) {
    // Cost 10, as `nats server passwd` makes them: the comparison takes real time.
    let hash = bcrypt::hash("T0pS3cr3t", 10).expect("bcrypt hash");
    let conf = TempConfig::new(&format!(
        "cluster {{\n  listen: \"127.0.0.1:-1\"\n  authorization {{\n    user: ruser\n    password: \"{hash}\"\n  }}\n}}\n"
    ));
    let mut sa = Spec::new(seed, "a");
    sa.cluster_flag = false;
    sa.extra = vec!["-c".into(), conf.path().display().to_string()];
    let a = Node::start(sa);
    let mut good = Spec::new(peer, "b").routes(&[a.route_port]);
    good.route_auth = Some("ruser:T0pS3cr3t".into());
    let b = Node::start(good);
    // The hash itself is no password.
    let mut hashed = Spec::new(peer, "h").routes(&[a.route_port]);
    hashed.route_auth = Some(format!(
        "ruser:{}",
        hash.replace('$', "%24").replace('/', "%2F")
    ));
    let h = Node::start(hashed);
    let mut wrong = Spec::new(peer, "w").routes(&[a.route_port]);
    wrong.route_auth = Some("ruser:wrong".into());
    let w = Node::start(wrong);
    wait_full_mesh(&[&a, &b]);
    a.server
        .wait_for_log("Authentication Failure", MESH_TIMEOUT);
    w.server
        .wait_for_log("Authorization Violation", MESH_TIMEOUT);
    // Only the seed's side: a refused dialler registers the seed for a moment each time it
    // reads the seed's INFO (sent before CONNECT is checked, RT-02), as nats-server does.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.peers(), BTreeSet::from([b.id.clone()]));
    assert!(h
        .errors()
        .iter()
        .any(|l| l.contains("Authorization Violation")));
    check_plain_traffic(&[&a, &b], "bcrypt");
    assert_no_errors(&[&b]);
}

#[test]
fn rt03_bcrypt_route_password() {
    bcrypt_routes(T, T);
}

#[test]
fn mixed_bcrypt_route_password_our_seed_go_peer() {
    bcrypt_routes(T, G);
}

#[test]
fn mixed_bcrypt_route_password_go_seed_our_peer() {
    bcrypt_routes(G, T);
}
