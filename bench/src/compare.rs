//! Side by side: each case (scenario, size) runs on a fresh server A, then a fresh server B,
//! round after round (A B A B ...), server and generator pinned to their CPUs. Around every
//! run the harness reads the server's CPU time, its own, and the measured CPUs' busy time,
//! so that time used by anyone else on those CPUs is seen and the run retried or flagged.

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::ceiling::{self, Ceiling};
use crate::cluster::{Cluster, Nodes};
use crate::report::{self, Meta, Record};
use crate::scenario::{Measurement, Params, Scenario};
use crate::server::Server;
use crate::sys;

/// A server under test: a name for the report and a command template with `{port}` (and
/// optionally `{shards}`).
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub command: String,
}

/// Everything a comparison needs.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    pub servers: Vec<ServerSpec>,
    pub rounds: usize,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    pub scenarios: Vec<Scenario>,
    pub sizes: Vec<usize>,
    pub params: Params,
    /// `{shards}` value for the main runs.
    pub shards: usize,
    /// Shard counts for the scaling sweep (empty: no sweep).
    pub sweep_shards: Vec<usize>,
    pub sweep_scenario: Scenario,
    pub sweep_size: usize,
    /// Server CPUs for the sweep (a sweep needs as many CPUs as shards to mean anything).
    pub sweep_server_cpus: Vec<usize>,
    /// Generator CPUs for the sweep.
    pub sweep_client_cpus: Vec<usize>,
    pub out_dir: PathBuf,
    /// Largest share of the measured CPUs' time others may use before a run is retried.
    pub max_foreign: f64,
    /// Extra attempts for a run that saw interference.
    pub retries: usize,
    /// Skip the generator ceiling check.
    pub skip_ceiling: bool,
    /// Stop with an error (exit non-zero) if any run failed or stayed noisy.
    pub strict: bool,
}

/// What a comparison produced.
pub struct Outcome {
    pub records: Vec<Record>,
    pub files: Vec<String>,
    pub markdown: String,
}

/// The CPUs this process could use before it pinned itself, for unpinned runs after pinned
/// ones.
fn initial_cpus() -> Vec<usize> {
    static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CPUS.get_or_init(sys::allowed_cpus).clone()
}

/// Longest wait for the measured CPUs to quieten down before a retry.
const QUIET_WAIT: Duration = Duration::from_secs(10);

/// Waits, at most `limit`, for a half second in which others keep `cpus` below `max_busy`
/// (nothing of ours runs now, so all busy time is theirs). Retrying straight into the same
/// compile job would only buy another noisy run.
fn wait_for_quiet(cpus: &[usize], max_busy: f64, limit: Duration) {
    let start = std::time::Instant::now();
    let window = Duration::from_millis(500);
    while start.elapsed() < limit {
        let Some(a) = sys::cpu_times(cpus) else {
            return;
        };
        std::thread::sleep(window);
        let Some(b) = sys::cpu_times(cpus) else {
            return;
        };
        let busy = ((b.task - a.task) + (b.steal - a.steal))
            / (window.as_secs_f64() * cpus.len().max(1) as f64);
        if busy <= max_busy {
            return;
        }
    }
}

/// What one run measures: a server, or a two-node cluster of it for the routed scenarios.
enum Target {
    One(Server),
    Two(Cluster),
}

impl Target {
    /// Starts `spec` fresh for `scenario`, pinned to `cpus`, its output in
    /// `server-<name>.log` (`server-<name>-a.log` and `-b.log` for a cluster).
    fn start(
        spec: &ServerSpec,
        scenario: Scenario,
        shards: usize,
        cpus: &[usize],
        dir: &std::path::Path,
    ) -> Result<Target, String> {
        if scenario.is_routed() {
            let a = dir.join(format!("server-{}-a.log", spec.name));
            let b = dir.join(format!("server-{}-b.log", spec.name));
            Cluster::start(&spec.command, shards, cpus, (&a, &b)).map(Target::Two)
        } else {
            let log = dir.join(format!("server-{}.log", spec.name));
            Server::start(&spec.command, shards, cpus, &log).map(Target::One)
        }
    }

    fn nodes(&self) -> Nodes {
        match self {
            Target::One(s) => Nodes::single(s.addr),
            Target::Two(c) => c.nodes(),
        }
    }

    /// The pid for memory figures: the server's, or node A's.
    fn pid(&self) -> u32 {
        match self {
            Target::One(s) => s.pid(),
            Target::Two(c) => c.a.pid(),
        }
    }

    /// CPU seconds used so far, both nodes together for a cluster.
    fn cpu_seconds(&self) -> Option<f64> {
        match self {
            Target::One(s) => s.cpu_seconds(),
            Target::Two(c) => c.cpu_seconds(),
        }
    }

    fn alive(&mut self) -> bool {
        match self {
            Target::One(s) => s.alive(),
            Target::Two(c) => c.alive(),
        }
    }

    fn stop(self) {
        match self {
            Target::One(s) => s.stop(),
            Target::Two(c) => c.stop(),
        }
    }
}

/// CPU readings taken around one run.
struct Probe {
    server: Option<f64>,
    own: Option<f64>,
    cpus: Option<sys::CpuTimes>,
    wall: std::time::Instant,
}

impl Probe {
    fn take(server: &Target, cpus: &[usize]) -> Probe {
        Probe {
            server: server.cpu_seconds(),
            own: sys::process_cpu_seconds(None),
            cpus: sys::cpu_times(cpus),
            wall: std::time::Instant::now(),
        }
    }
}

/// The measured CPUs: the union of server and generator CPUs (all CPUs when either is
/// unpinned).
fn measured_cpus(server: &[usize], client: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = server.iter().chain(client).copied().collect();
    if server.is_empty() || client.is_empty() {
        v = initial_cpus();
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Fills the CPU accounting of a record from the probes around its run.
fn account(r: &mut Record, before: &Probe, after: &Probe, ncpus: usize, max_foreign: f64) {
    let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    r.server_cpu_s = d(before.server, after.server);
    r.gen_cpu_s = d(before.own, after.own);
    let msgs = if r.m.delivered > 0 {
        r.m.delivered
    } else {
        r.m.published
    };
    if let Some(s) = r.server_cpu_s {
        if msgs > 0 {
            r.server_cpu_ns_per_msg = Some(s * 1e9 / msgs as f64);
        }
    }
    if let (Some(a), Some(b), Some(s), Some(g)) =
        (before.cpus, after.cpus, r.server_cpu_s, r.gen_cpu_s)
    {
        let wall = after.wall.duration_since(before.wall).as_secs_f64();
        // Task time on these CPUs that neither the server nor the generator accounts for,
        // plus time the hypervisor stole. irq/softirq time is left out: loopback TCP work
        // lands there and belongs to this run. The server or generator may also run on
        // other CPUs if unpinned, which can only make `foreign` smaller (clamped at 0).
        let foreign = ((b.task - a.task) - s - g).max(0.0) + (b.steal - a.steal);
        r.foreign_cpu_s = Some(foreign);
        let avail = wall * ncpus as f64;
        if avail > 0.0 {
            let frac = foreign / avail;
            r.foreign_frac = Some(frac);
            r.irq_frac = Some((b.irq - a.irq) / avail);
            r.interference = frac > max_foreign;
        }
    }
}

/// Runs one case on one fresh server, retrying while others use the CPUs.
#[allow(clippy::too_many_arguments)]
fn measure_one(
    o: &CompareOpts,
    spec: &ServerSpec,
    kind: &str,
    round: usize,
    shards: usize,
    scenario: Scenario,
    size: usize,
    ceilings: &[Ceiling],
) -> Record {
    let (server_cpus, client_cpus) = if kind == "sweep" {
        (&o.sweep_server_cpus, &o.sweep_client_cpus)
    } else {
        (&o.server_cpus, &o.client_cpus)
    };
    let cpus = measured_cpus(server_cpus, client_cpus);
    let gen_mask = if client_cpus.is_empty() {
        initial_cpus()
    } else {
        client_cpus.clone()
    };
    if let Err(e) = sys::pin_current_thread(&gen_mask) {
        eprintln!("[WRN] pinning the generator to {client_cpus:?}: {e}");
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut r = Record {
            kind: kind.into(),
            server: spec.name.clone(),
            round,
            shards,
            attempts,
            ..Record::default()
        };
        let server = match Target::start(spec, scenario, shards, server_cpus, &o.out_dir) {
            Ok(s) => s,
            Err(e) => {
                r.m = Measurement {
                    scenario: scenario.name().into(),
                    size,
                    errors: vec![format!("server did not start: {e}")],
                    ..Measurement::default()
                };
                return r;
            }
        };
        let before = Probe::take(&server, &cpus);
        r.m = crate::run_case(
            server.nodes(),
            scenario,
            size,
            &o.params,
            Some(server.pid()),
        );
        let after = Probe::take(&server, &cpus);
        let mut server = server;
        if !server.alive() {
            r.m.errors.push("server exited during the run".into());
        }
        server.stop();
        account(&mut r, &before, &after, cpus.len(), o.max_foreign);
        r.ok = r.m.ok();
        let gen_cpus = if client_cpus.is_empty() {
            sys::allowed_cpus().len()
        } else {
            client_cpus.len()
        };
        if let Some(c) = ceilings.iter().find(|c| c.size == r.m.size) {
            r.headroom = c.headroom(&r.m, gen_cpus);
        }
        if r.m.generator_cpu_s > 0.0 && r.m.elapsed_s > 0.0 {
            r.gen_busy = Some(r.m.generator_cpu_s / (r.m.elapsed_s * gen_cpus as f64));
        }
        if !r.interference || attempts > o.retries {
            return r;
        }
        eprintln!(
            "[WRN] {} {} {}B round {}: others used {:.0}% of the measured CPUs, retrying",
            spec.name,
            scenario,
            size,
            round,
            r.foreign_frac.unwrap_or(0.0) * 100.0
        );
        wait_for_quiet(&cpus, o.max_foreign, QUIET_WAIT);
    }
}

fn progress(r: &Record) {
    let what = match (&r.m.latency, r.m.rss_per_conn) {
        (Some(l), _) => format!("p50 {:.1}µs p99 {:.1}µs", l.p50_us, l.p99_us),
        (None, Some(b)) => format!("{:.0} B/conn", b),
        _ => format!("{}/s", report::human(r.m.msgs_per_sec)),
    };
    let mut flags = String::new();
    if !r.ok {
        flags.push_str(&format!(
            " FAILED lost={} dup={} reord={} errors={:?}",
            r.m.verdict.lost, r.m.verdict.duplicates, r.m.verdict.reordered, r.m.errors
        ));
    }
    if r.interference {
        flags.push_str(" NOISY");
    }
    eprintln!(
        "[INF] round {} {:>8} {:>9} {:>6}B shards={} {}{}",
        r.round, r.server, r.m.scenario, r.m.size, r.shards, what, flags
    );
}

/// Runs the whole comparison and writes `results.jsonl`, `report.md` and the charts into
/// `out_dir`.
pub fn run(o: &CompareOpts, mut meta: Meta) -> Result<Outcome, String> {
    meta.kind = "meta".into();
    fs::create_dir_all(&o.out_dir).map_err(|e| format!("{}: {e}", o.out_dir.display()))?;
    // The generator's threads inherit this mask.
    initial_cpus();
    sys::pin_current_thread(&o.client_cpus).map_err(|e| format!("pinning the generator: {e}"))?;
    // How busy are the measured CPUs before we add anything? Said up front, since a busy
    // machine makes every figure after it suspect.
    let cpus = measured_cpus(&o.server_cpus, &o.client_cpus);
    if let Some(a) = sys::cpu_times(&cpus) {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(b) = sys::cpu_times(&cpus) {
            let pct = ((b.task - a.task) + (b.steal - a.steal)) / cpus.len() as f64 * 100.0;
            meta.busy_before_pct = Some(pct);
            if pct > o.max_foreign * 100.0 {
                eprintln!(
                    "[WRN] other processes keep the measured CPUs {cpus:?} {pct:.0}% busy: \
                     expect retries and noisy runs"
                );
            }
        }
    }
    let path = o.out_dir.join("results.jsonl");
    let mut out = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let emit = |out: &mut File, line: String| -> Result<(), String> {
        writeln!(out, "{line}").map_err(|e| e.to_string())
    };
    emit(
        &mut out,
        serde_json::to_string(&meta).map_err(|e| e.to_string())?,
    )?;
    let mut records = Vec::new();

    let cases = crate::cases(&o.scenarios, &o.sizes, &o.params);
    let mut ceilings = Vec::new();
    if !o.skip_ceiling {
        let mut sizes: Vec<usize> = cases.iter().map(|c| c.1).collect();
        if !o.sweep_shards.is_empty() {
            sizes.push(o.sweep_size);
        }
        sizes.sort_unstable();
        sizes.dedup();
        let d = o.params.duration.min(Duration::from_secs(2));
        for size in sizes.into_iter().filter(|&s| s > 0) {
            match ceiling::measure(size, &o.server_cpus, d) {
                Ok(c) => {
                    eprintln!(
                        "[INF] generator ceiling {size}B: publish {}/s, receive {}/s (per CPU-second)",
                        report::human(c.pub_rate),
                        report::human(c.sub_rate)
                    );
                    let r = Record {
                        kind: "ceiling".into(),
                        server: "generator".into(),
                        m: Measurement {
                            scenario: "ceiling".into(),
                            size,
                            ..Measurement::default()
                        },
                        ok: true,
                        attempts: 1,
                        ceiling: Some(c),
                        ..Record::default()
                    };
                    emit(
                        &mut out,
                        serde_json::to_string(&r).map_err(|e| e.to_string())?,
                    )?;
                    records.push(r);
                    ceilings.push(c);
                }
                Err(e) => eprintln!("[WRN] generator ceiling at {size}B: {e}"),
            }
        }
    }

    for round in 0..o.rounds {
        for &(scenario, size) in &cases {
            for spec in &o.servers {
                let r = measure_one(
                    o, spec, "result", round, o.shards, scenario, size, &ceilings,
                );
                progress(&r);
                emit(
                    &mut out,
                    serde_json::to_string(&r).map_err(|e| e.to_string())?,
                )?;
                records.push(r);
            }
        }
    }
    for &shards in &o.sweep_shards {
        for round in 0..o.rounds {
            for spec in &o.servers {
                let r = measure_one(
                    o,
                    spec,
                    "sweep",
                    round,
                    shards,
                    o.sweep_scenario,
                    o.sweep_size,
                    &ceilings,
                );
                progress(&r);
                emit(
                    &mut out,
                    serde_json::to_string(&r).map_err(|e| e.to_string())?,
                )?;
                records.push(r);
            }
        }
    }
    drop(out);
    let mut files = vec![path.display().to_string()];
    files.extend(report::write_all(&o.out_dir, Some(&meta), &records)?);
    let markdown = report::markdown(Some(&meta), &records);
    Ok(Outcome {
        records,
        files,
        markdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn probe(server: f64, own: f64, task: f64, steal: f64, wall: Instant) -> Probe {
        Probe {
            server: Some(server),
            own: Some(own),
            cpus: Some(sys::CpuTimes {
                task,
                irq: 0.0,
                steal,
            }),
            wall,
        }
    }

    #[test]
    fn others_on_the_measured_cpus_are_flagged() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut r = Record::default();
        r.m.delivered = 1_000_000;
        // 2 CPUs for 1 s; server 0.9 s, generator 0.5 s, all busy time 1.5 s: others 0.1 s.
        account(
            &mut r,
            &probe(10.0, 5.0, 100.0, 0.0, t0),
            &probe(10.9, 5.5, 101.5, 0.0, t1),
            2,
            0.10,
        );
        assert!((r.server_cpu_ns_per_msg.unwrap() - 900.0).abs() < 1e-6);
        assert!((r.foreign_frac.unwrap() - 0.05).abs() < 1e-9);
        assert!(!r.interference);
        // Same, but the hypervisor stole 0.3 s more: 0.4 s of 2 s is 20%.
        account(
            &mut r,
            &probe(10.0, 5.0, 100.0, 0.0, t0),
            &probe(10.9, 5.5, 101.5, 0.3, t1),
            2,
            0.10,
        );
        assert!(r.interference);
    }
}
