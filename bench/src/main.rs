//! `nats-bench`: the command line of the benchmark harness. See bench/README.md.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

use nats_bench::cluster::Nodes;
use nats_bench::compare::{self, CompareOpts, ServerSpec};
use nats_bench::report::{self, Meta, Record};
use nats_bench::scenario::{self, Params, Scenario};
use nats_bench::{ceiling, sys};

#[derive(Parser)]
#[command(
    name = "nats-bench",
    version,
    about = "Measures NATS servers side by side"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
// Parsed once per process: the size of the enum does not matter.
#[allow(clippy::large_enum_variant)]
enum Cmd {
    /// Start two servers fresh per run, alternate them over rounds, report.
    Compare(CompareArgs),
    /// Run scenarios against a server that is already running.
    Run(RunArgs),
    /// Measure the generator alone against a null sink and a blast source.
    Ceiling(CeilingArgs),
    /// Re-render report.md and the charts from a results.jsonl.
    Report(ReportArgs),
}

#[derive(Args, Clone)]
struct Workload {
    /// Scenarios, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    scenarios: String,
    /// Payload sizes for the throughput scenarios (16,128,1k,16k).
    #[arg(long, default_value = "16,128,1k,16k")]
    sizes: String,
    /// Seconds of traffic per run (default 3; 0.3 with --quick).
    #[arg(long)]
    duration: Option<f64>,
    /// Most messages per publisher per run.
    #[arg(long)]
    max_msgs: Option<u64>,
    /// N for fan-out, fan-in and queue.
    #[arg(long)]
    fan: Option<usize>,
    /// Independent publisher/subscriber pairs.
    #[arg(long)]
    pairs: Option<usize>,
    /// Requests per second for req-rate.
    #[arg(long)]
    rate: Option<u64>,
    /// Subjects in the subjects scenario.
    #[arg(long)]
    subjects: Option<usize>,
    /// SUB+UNSUB per second in the churn scenario.
    #[arg(long)]
    churn_rate: Option<u64>,
    /// Connections in the idle scenario.
    #[arg(long)]
    idle_conns: Option<usize>,
    /// Flow-control window per publisher in MiB (0: publish blindly, as `nats bench` does).
    #[arg(long)]
    window_mib: Option<usize>,
    /// Short runs for CI smoke tests: a fraction of a second per scenario.
    #[arg(long)]
    quick: bool,
}

impl Workload {
    fn params(&self) -> Params {
        let mut p = if self.quick {
            Params::quick()
        } else {
            Params::standard()
        };
        if let Some(d) = self.duration {
            p.duration = Duration::from_secs_f64(d.max(0.01));
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { p.$f = v; } )* };
        }
        set!(max_msgs, fan, pairs, rate, subjects, churn_rate, idle_conns);
        if let Some(w) = self.window_mib {
            p.window_bytes = w << 20;
        }
        p
    }
}

#[derive(Args)]
struct CompareArgs {
    /// Server A: a shell command with `{port}` (and optionally `{shards}`).
    #[arg(long)]
    a: String,
    /// Server B, same form.
    #[arg(long)]
    b: String,
    /// Report name of A.
    #[arg(long, default_value = "A")]
    a_name: String,
    /// Report name of B.
    #[arg(long, default_value = "B")]
    b_name: String,
    /// Rounds: each case runs this many times on each server, alternating A B A B.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// CPUs for the servers (e.g. `0` or `0-1`); empty: unpinned.
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs for the generator; may be the same as the server's.
    #[arg(long, default_value = "1")]
    client_cpus: String,
    /// Value for `{shards}` in the main runs.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Shard-scaling sweep, e.g. `1,2,4` (runs the sweep scenario at each count).
    #[arg(long)]
    sweep: Option<String>,
    /// Scenario of the sweep.
    #[arg(long, default_value = "pairs")]
    sweep_scenario: String,
    /// Payload size of the sweep.
    #[arg(long, default_value_t = 128)]
    sweep_size: usize,
    /// Server CPUs for the sweep (default: --server-cpus).
    #[arg(long)]
    sweep_server_cpus: Option<String>,
    /// Generator CPUs for the sweep (default: --client-cpus).
    #[arg(long)]
    sweep_client_cpus: Option<String>,
    /// Where results.jsonl, report.md and the charts go.
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    /// Largest share of the measured CPUs others may use before a run is retried, in percent.
    #[arg(long, default_value_t = 10.0)]
    max_foreign_pct: f64,
    /// Retries of a run disturbed by other processes (then it is kept, flagged `noisy`).
    #[arg(long, default_value_t = 2)]
    retries: usize,
    /// Skip the generator ceiling check.
    #[arg(long)]
    no_ceiling: bool,
    /// Exit non-zero when any run failed or stayed noisy.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    work: Workload,
}

#[derive(Args)]
struct RunArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4222")]
    url: String,
    /// A second server, clustered with the first: the routed scenarios publish to --url and
    /// subscribe here (without it they are left out).
    #[arg(long)]
    url_b: Option<String>,
    /// The server's pid, for its CPU time and RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Name in the records.
    #[arg(long, default_value = "server")]
    name: String,
    /// Write results.jsonl, report.md and charts here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Pin the generator to these CPUs.
    #[arg(long)]
    client_cpus: Option<String>,
    #[command(flatten)]
    work: Workload,
}

#[derive(Args)]
struct CeilingArgs {
    /// Payload sizes.
    #[arg(long, default_value = "16,128,1k,16k")]
    sizes: String,
    /// CPUs for the null sink / blast source (where a server would run).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs for the generator.
    #[arg(long, default_value = "1")]
    client_cpus: String,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
}

#[derive(Args)]
struct ReportArgs {
    /// A results.jsonl written by compare or run.
    input: PathBuf,
    /// Output folder (default: beside the input).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn cpus(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        Ok(Vec::new())
    } else {
        sys::parse_cpu_list(s)
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[FTL] {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Compare(a) => cmd_compare(a),
        Cmd::Run(a) => cmd_run(a),
        Cmd::Ceiling(a) => cmd_ceiling(a),
        Cmd::Report(a) => {
            let (meta, recs) = report::load(&a.input)?;
            let dir = a
                .out
                .or_else(|| a.input.parent().map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            for f in report::write_all(&dir, meta.as_ref(), &recs)? {
                eprintln!("[INF] wrote {f}");
            }
            print!("{}", report::markdown(meta.as_ref(), &recs));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn meta(
    servers: Vec<(String, String)>,
    server_cpus: &[usize],
    client_cpus: &[usize],
    rounds: usize,
    p: &Params,
) -> Meta {
    Meta {
        kind: "meta".into(),
        started: utc_now(),
        command: std::env::args()
            .map(|a| {
                if a.contains(' ') || a.contains('{') {
                    format!("'{a}'")
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        commit: commit(),
        machine: machine(),
        servers,
        server_cpus: server_cpus.to_vec(),
        client_cpus: client_cpus.to_vec(),
        rounds,
        params: serde_json::to_value(p).unwrap_or_default(),
        busy_before_pct: None,
    }
}

fn cmd_compare(a: CompareArgs) -> Result<ExitCode, String> {
    let params = a.work.params();
    let scenarios = scenario::parse_scenarios(&a.work.scenarios)?;
    let sizes = scenario::parse_sizes(&a.work.sizes)?;
    let sweep_shards = match &a.sweep {
        Some(s) => s
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad shard count {x:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    if a.a_name == a.b_name {
        return Err("--a-name and --b-name must differ".into());
    }
    let server_cpus = cpus(&a.server_cpus)?;
    let client_cpus = cpus(&a.client_cpus)?;
    let o = CompareOpts {
        servers: vec![
            ServerSpec {
                name: a.a_name.clone(),
                command: a.a.clone(),
            },
            ServerSpec {
                name: a.b_name.clone(),
                command: a.b.clone(),
            },
        ],
        rounds: a.rounds.max(1),
        sweep_server_cpus: match &a.sweep_server_cpus {
            Some(c) => cpus(c)?,
            None => server_cpus.clone(),
        },
        sweep_client_cpus: match &a.sweep_client_cpus {
            Some(c) => cpus(c)?,
            None => client_cpus.clone(),
        },
        server_cpus,
        client_cpus,
        scenarios,
        sizes,
        params: params.clone(),
        shards: a.shards,
        sweep_shards,
        sweep_scenario: a.sweep_scenario.parse::<Scenario>()?,
        sweep_size: a.sweep_size,
        out_dir: a.out.clone(),
        max_foreign: a.max_foreign_pct / 100.0,
        retries: a.retries,
        skip_ceiling: a.no_ceiling,
        strict: a.strict,
    };
    let m = meta(
        o.servers
            .iter()
            .map(|s| (s.name.clone(), s.command.clone()))
            .collect(),
        &o.server_cpus,
        &o.client_cpus,
        o.rounds,
        &params,
    );
    let out = compare::run(&o, m)?;
    print!("{}", out.markdown);
    for f in &out.files {
        eprintln!("[INF] wrote {f}");
    }
    let bad = out
        .records
        .iter()
        .filter(|r| r.kind != "ceiling" && (!r.ok || r.interference))
        .count();
    if o.strict && bad > 0 {
        eprintln!("[ERR] {bad} runs failed or were disturbed (--strict)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve(url: &str) -> Result<SocketAddr, String> {
    url.trim_start_matches("nats://")
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))
}

fn cmd_run(a: RunArgs) -> Result<ExitCode, String> {
    let params = a.work.params();
    let addr = resolve(&a.url)?;
    let addr_b = a.url_b.as_deref().map(resolve).transpose()?;
    let client_cpus = match &a.client_cpus {
        Some(c) => cpus(c)?,
        None => Vec::new(),
    };
    sys::pin_current_thread(&client_cpus).map_err(|e| e.to_string())?;
    let mut scenarios = scenario::parse_scenarios(&a.work.scenarios)?;
    if addr_b.is_none() {
        if a.work.scenarios != "all" && scenarios.iter().any(|s| s.is_routed()) {
            return Err("the routed scenarios need a second, clustered server: --url-b".into());
        }
        scenarios.retain(|s| !s.is_routed());
    }
    let nodes = Nodes {
        a: addr,
        b: addr_b.unwrap_or(addr),
    };
    let sizes = scenario::parse_sizes(&a.work.sizes)?;
    let mut recs = Vec::new();
    for (s, size) in nats_bench::cases(&scenarios, &sizes, &params) {
        let cpu0 = a.server_pid.and_then(|p| sys::process_cpu_seconds(Some(p)));
        let on = if s.is_routed() {
            nodes
        } else {
            Nodes::single(addr)
        };
        let m = nats_bench::run_case(on, s, size, &params, a.server_pid);
        let cpu1 = a.server_pid.and_then(|p| sys::process_cpu_seconds(Some(p)));
        let server_cpu_s = cpu0.zip(cpu1).map(|(x, y)| y - x);
        let msgs = if m.delivered > 0 {
            m.delivered
        } else {
            m.published
        };
        let r = Record {
            kind: "result".into(),
            server: a.name.clone(),
            shards: 1,
            ok: m.ok(),
            server_cpu_s,
            server_cpu_ns_per_msg: server_cpu_s
                .filter(|_| msgs > 0)
                .map(|c| c * 1e9 / msgs as f64),
            attempts: 1,
            m,
            ..Record::default()
        };
        eprintln!(
            "[INF] {:>9} {:>6}B {}/s{}",
            r.m.scenario,
            r.m.size,
            report::human(r.m.msgs_per_sec),
            if r.ok {
                String::new()
            } else {
                format!(" FAILED {:?} {:?}", r.m.verdict, r.m.errors)
            }
        );
        recs.push(r);
    }
    let m = meta(
        vec![(a.name.clone(), a.url.clone())],
        &[],
        &client_cpus,
        1,
        &params,
    );
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mut body = serde_json::to_string(&m).map_err(|e| e.to_string())? + "\n";
        for r in &recs {
            body += &(serde_json::to_string(r).map_err(|e| e.to_string())? + "\n");
        }
        std::fs::write(dir.join("results.jsonl"), body).map_err(|e| e.to_string())?;
        report::write_all(dir, Some(&m), &recs)?;
    }
    print!("{}", report::markdown(Some(&m), &recs));
    Ok(if recs.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cmd_ceiling(a: CeilingArgs) -> Result<ExitCode, String> {
    let server_cpus = cpus(&a.server_cpus)?;
    sys::pin_current_thread(&cpus(&a.client_cpus)?).map_err(|e| e.to_string())?;
    println!("| size | publish msgs/s | publish MB/s | receive msgs/s | receive MB/s |\n|---|---:|---:|---:|---:|");
    for size in scenario::parse_sizes(&a.sizes)? {
        let c = ceiling::measure(size, &server_cpus, Duration::from_secs_f64(a.duration))?;
        println!(
            "| {size} | {} | {:.0} | {} | {:.0} |",
            report::human(c.pub_rate),
            c.pub_rate * size as f64 / 1e6,
            report::human(c.sub_rate),
            c.sub_rate * size as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
            let kb: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        })
        .unwrap_or_default();
    format!("{model}, {n} CPUs, {mem} RAM, Linux {}", kernel.trim())
}

/// The current UTC time as RFC 3339, without a date library.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
