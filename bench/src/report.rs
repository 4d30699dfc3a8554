//! Records and reports: one JSON line per measured run (for machines), and a Markdown report
//! (for people) with medians, spreads and paired ratios, built from those lines alone so any
//! results file can be re-rendered with `nats-bench report`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ceiling::{Ceiling, MIN_HEADROOM};
use crate::scenario::{Latency, Measurement, Scenario};

/// Where and how a comparison ran: the first line of every results file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Always `"meta"`.
    pub kind: String,
    /// UTC time the run started, RFC 3339.
    pub started: String,
    /// The exact command line.
    pub command: String,
    /// `git describe`-style commit of the working tree, with `-dirty` when modified.
    pub commit: String,
    /// CPU model, CPU count, kernel.
    pub machine: String,
    /// Server names, in A, B order, and their command templates.
    pub servers: Vec<(String, String)>,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    pub rounds: usize,
    /// Scenario parameters, as given.
    pub params: serde_json::Value,
    /// Share of the measured CPUs busy with other work in the second before the first run.
    #[serde(default)]
    pub busy_before_pct: Option<f64>,
}

/// One measured run of one scenario at one size against one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// `"result"`, `"sweep"` (shard-scaling run) or `"ceiling"`.
    pub kind: String,
    /// Server name (`"generator"` for ceiling records).
    pub server: String,
    pub round: usize,
    /// Value given to the `{shards}` placeholder.
    pub shards: usize,
    #[serde(flatten)]
    pub m: Measurement,
    /// No loss, duplicate, reordering or error.
    pub ok: bool,
    /// Server CPU seconds (user+system) during the run.
    pub server_cpu_s: Option<f64>,
    /// Server CPU nanoseconds per message (per delivery when someone subscribes, per publish
    /// otherwise).
    pub server_cpu_ns_per_msg: Option<f64>,
    /// Generator CPU seconds during the run.
    pub gen_cpu_s: Option<f64>,
    /// CPU seconds others used on the measured CPUs during the run.
    pub foreign_cpu_s: Option<f64>,
    /// `foreign_cpu_s` over the CPU seconds the measured CPUs had.
    pub foreign_frac: Option<f64>,
    /// Share of the measured CPUs' time spent in interrupts and softirqs (loopback TCP work
    /// charged to no process).
    #[serde(default)]
    pub irq_frac: Option<f64>,
    /// Other processes used the measured CPUs beyond the allowed share.
    pub interference: bool,
    /// How many times faster the generator alone is (see `ceiling`).
    pub headroom: Option<f64>,
    /// Share of the generator's CPUs its connection threads kept busy during the run: well
    /// below 1 means the generator waited for the server.
    pub gen_busy: Option<f64>,
    /// Runs made for this record (more than 1 when interference forced a retry).
    pub attempts: usize,
    /// Ceiling records only.
    pub ceiling: Option<Ceiling>,
}

/// A run's generator headroom: the ceiling-based estimate, capped by what the generator's
/// measured CPU use allows (a generator busy 40% of the time can go at most 2.5× faster).
/// Taking the smaller keeps the check honest when the kernel charges the generator more per
/// message against a real server than against the null sink.
pub fn effective_headroom(r: &Record) -> Option<f64> {
    let busy = r.gen_busy.filter(|b| *b > 0.0).map(|b| 1.0 / b);
    match (r.headroom, busy) {
        (Some(h), Some(b)) => Some(h.min(b)),
        (Some(h), None) => Some(h),
        (None, _) => None,
    }
}

/// Reads a JSON lines results file: the meta line and every record.
pub fn load(path: &Path) -> Result<(Option<Meta>, Vec<Record>), String> {
    let f = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut meta = None;
    let mut recs = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        if v.get("kind").and_then(|k| k.as_str()) == Some("meta") {
            meta = Some(serde_json::from_value(v).map_err(|e| e.to_string())?);
        } else {
            recs.push(
                serde_json::from_value(v)
                    .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?,
            );
        }
    }
    Ok((meta, recs))
}

/// Median, minimum and maximum of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    /// `None` for no samples.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    /// Half the range relative to the median, in percent: `±x%`.
    pub fn spread_pct(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / 2.0 / self.median.abs() * 100.0
        }
    }
}

/// The figure a record is compared on: the rate, or bytes per connection for idle.
pub fn headline(r: &Record) -> Option<f64> {
    // A run that never got going (the server did not start) has no figure, not a zero.
    if !r.ok && r.m.published == 0 && r.m.delivered == 0 {
        return None;
    }
    if r.m.scenario == Scenario::Idle.name() {
        r.m.rss_per_conn
    } else {
        Some(r.m.msgs_per_sec)
    }
}

/// Formats a rate or size with a k/M/G suffix.
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// `16B`, `1KiB`, `16KiB`.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size & 1023 == 0 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// Records of one (scenario, size) for one server, by round.
type Cell<'a> = BTreeMap<usize, &'a Record>;

/// Groups records of `kind` by (scenario order, size) and server.
fn group<'a>(
    recs: &'a [Record],
    kind: &str,
) -> BTreeMap<(usize, String, usize), BTreeMap<String, Cell<'a>>> {
    let mut g: BTreeMap<_, BTreeMap<String, Cell>> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.kind == kind) {
        let order =
            r.m.scenario
                .parse::<Scenario>()
                .map(|s| s as usize)
                .unwrap_or(usize::MAX);
        g.entry((order, r.m.scenario.clone(), r.m.size))
            .or_default()
            .entry(r.server.clone())
            .or_default()
            .insert(r.round, r);
    }
    g
}

/// Server names in the order they first appear (A before B).
pub fn server_names(meta: Option<&Meta>, recs: &[Record]) -> Vec<String> {
    let mut names: Vec<String> = meta
        .map(|m| m.servers.iter().map(|s| s.0.clone()).collect())
        .unwrap_or_default();
    for r in recs {
        if r.kind != "ceiling" && !names.contains(&r.server) {
            names.push(r.server.clone());
        }
    }
    names
}

/// Paired ratios B/A of a headline figure, one per round both servers completed.
pub fn paired_ratios(a: &Cell<'_>, b: &Cell<'_>) -> Vec<f64> {
    a.iter()
        .filter_map(|(round, ra)| {
            let rb = b.get(round)?;
            let (x, y) = (headline(ra)?, headline(rb)?);
            (x != 0.0).then_some(y / x)
        })
        .collect()
}

fn status(cell: &Cell<'_>) -> String {
    let failed: Vec<&&Record> = cell.values().filter(|r| !r.ok).collect();
    let noisy = cell.values().filter(|r| r.interference).count();
    let low = cell
        .values()
        .filter(|r| effective_headroom(r).is_some_and(|h| h < MIN_HEADROOM))
        .count();
    let mut s = Vec::new();
    if let Some(f) = failed.first() {
        let v = &f.m.verdict;
        let mut what = format!(
            "FAILED {}/{}: lost {} dup {} reord {}",
            failed.len(),
            cell.len(),
            v.lost,
            v.duplicates,
            v.reordered
        );
        if v.foreign > 0 {
            let _ = write!(what, " foreign {}", v.foreign);
        }
        if let Some(e) = f.m.errors.first() {
            let e: String = e.chars().take(60).collect();
            let _ = write!(what, " ({})", e.replace('|', "/"));
        }
        s.push(what);
    }
    if noisy > 0 {
        s.push(format!("noisy {noisy}/{}", cell.len()));
    }
    if low > 0 {
        s.push(format!("low headroom {low}/{}", cell.len()));
    }
    if s.is_empty() {
        "ok".into()
    } else {
        s.join("; ")
    }
}

fn stat_of<'a>(cell: &Cell<'a>, f: impl Fn(&Record) -> Option<f64>) -> Option<Stats> {
    let v: Vec<f64> = cell.values().filter_map(|r| f(r)).collect();
    Stats::of(&v)
}

fn fmt_stat(s: Option<Stats>, unit: &str) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{}{unit} ±{:.1}%", human(s.median), s.spread_pct()),
        Some(s) => format!("{}{unit}", human(s.median)),
        None => "–".into(),
    }
}

/// Renders the whole Markdown report.
pub fn markdown(meta: Option<&Meta>, recs: &[Record]) -> String {
    let names = server_names(meta, recs);
    let mut o = String::new();
    let _ = writeln!(o, "# nats-bench results\n");
    if let Some(m) = meta {
        let _ = writeln!(o, "- Started: {}", m.started);
        let _ = writeln!(o, "- Machine: {}", m.machine);
        let _ = writeln!(o, "- Commit: {}", m.commit);
        let _ = writeln!(o, "- Command: `{}`", m.command);
        for (i, (n, c)) in m.servers.iter().enumerate() {
            let _ = writeln!(
                o,
                "- Server {} `{n}`: `{c}`",
                ["A", "B", "C", "D"].get(i).unwrap_or(&"?")
            );
        }
        let _ = writeln!(
            o,
            "- CPUs: server {:?}, generator {:?}; {} rounds, servers alternated A B A B, each run on a fresh server",
            m.server_cpus, m.client_cpus, m.rounds
        );
        if let Some(b) = m.busy_before_pct {
            let _ = writeln!(
                o,
                "- Measured CPUs busy with other work just before the runs: {b:.1}%"
            );
        }
    }
    let _ = writeln!(
        o,
        "\nFigures are medians over rounds, ± half the min–max range. Rates count deliveries \
         (a fan-out to 4 counts each message 4 times), or publishes when nobody subscribes. \
         Ratios are {} / {} per round, then the median [min–max]. CPU is the server's \
         user+system time per message.\n",
        names.get(1).map_or("B", String::as_str),
        names.first().map_or("A", String::as_str)
    );

    // Throughput table.
    let g = group(recs, "result");
    let mut header = "| scenario | size |".to_string();
    let mut rule = "|---|---|".to_string();
    for n in &names {
        let _ = write!(header, " {n} |");
        rule.push_str("---:|");
    }
    if names.len() >= 2 {
        let _ = write!(header, " {}/{} |", names[1], names[0]);
        rule.push_str("---:|");
    }
    for n in &names {
        let _ = write!(header, " {n} CPU ns/msg |");
        rule.push_str("---:|");
    }
    header.push_str(" status |");
    rule.push_str("---|");
    let _ = writeln!(o, "## Throughput\n\n{header}\n{rule}");
    let empty = Cell::new();
    for ((_, scenario, size), by_server) in &g {
        let idle = scenario == Scenario::Idle.name();
        let size_col = if idle {
            "–".to_string()
        } else {
            size_label(*size)
        };
        let _ = write!(o, "| {scenario} | {size_col} |");
        for n in &names {
            let cell = by_server.get(n).unwrap_or(&empty);
            let unit = if idle { "B/conn" } else { "/s" };
            let _ = write!(o, " {} |", fmt_stat(stat_of(cell, headline), unit));
        }
        if names.len() >= 2 {
            let a = by_server.get(&names[0]).unwrap_or(&empty);
            let b = by_server.get(&names[1]).unwrap_or(&empty);
            let r = Stats::of(&paired_ratios(a, b));
            let _ = match r {
                Some(r) => write!(o, " {:.2}× [{:.2}–{:.2}] |", r.median, r.min, r.max),
                None => write!(o, " – |"),
            };
        }
        for n in &names {
            let cell = by_server.get(n).unwrap_or(&empty);
            let s = stat_of(cell, |r| r.server_cpu_ns_per_msg);
            let _ = match s {
                Some(s) if !idle => write!(o, " {:.0} |", s.median),
                _ => write!(o, " – |"),
            };
        }
        let statuses: Vec<String> = names
            .iter()
            .filter_map(|n| by_server.get(n).map(|c| (n, status(c))))
            .map(|(n, s)| {
                if names.len() > 1 {
                    format!("{n}: {s}")
                } else {
                    s
                }
            })
            .collect();
        let _ = writeln!(o, " {} |", statuses.join("; "));
    }

    if g.keys()
        .any(|(_, s, _)| s.parse::<Scenario>().is_ok_and(Scenario::is_routed))
    {
        let _ = writeln!(
            o,
            "\n`routed` and `routed-req` run on a two-node cluster of each server over \
             loopback routes: the publisher (requester) on node A, the subscriber (responder) \
             on node B, both nodes pinned to the server CPUs; their CPU per message is both \
             nodes' together."
        );
    }

    // Latency table.
    let lat: Vec<_> = g
        .iter()
        .filter(|((_, s, _), _)| s.parse::<Scenario>().is_ok_and(Scenario::is_latency))
        .collect();
    if !lat.is_empty() {
        let _ = writeln!(
            o,
            "\n## Latency (µs, medians over rounds)\n\nreq-rate latencies are measured from each \
             request's intended send time (coordinated omission corrected); the uncorrected \
             p99 is shown beside them.\n\n\
             | scenario | server | req/s | p50 | p90 | p99 | p99.9 | max | p99 uncorrected |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for ((_, scenario, _), by_server) in lat {
            for n in &names {
                let Some(cell) = by_server.get(n) else {
                    continue;
                };
                let pick = |f: fn(&Latency) -> f64| {
                    stat_of(cell, |r| r.m.latency.as_ref().map(f))
                        .map_or("–".into(), |s| format!("{:.1}", s.median))
                };
                let unc = stat_of(cell, |r| r.m.latency_uncorrected.as_ref().map(|l| l.p99_us))
                    .map_or("–".into(), |s| format!("{:.1}", s.median));
                let _ = writeln!(
                    o,
                    "| {scenario} | {n} | {} | {} | {} | {} | {} | {} | {unc} |",
                    fmt_stat(stat_of(cell, |r| Some(r.m.msgs_per_sec)), ""),
                    pick(|l| l.p50_us),
                    pick(|l| l.p90_us),
                    pick(|l| l.p99_us),
                    pick(|l| l.p999_us),
                    pick(|l| l.max_us),
                );
            }
        }
    }

    // Churn.
    let churn: Vec<_> = recs
        .iter()
        .filter(|r| r.kind == "result" && r.m.churn_per_sec.is_some())
        .collect();
    if !churn.is_empty() {
        let _ = writeln!(o, "\n## Subscription churn\n\n| server | SUB+UNSUB/s | msgs/s meanwhile |\n|---|---:|---:|");
        for n in &names {
            let c: Vec<f64> = churn
                .iter()
                .filter(|r| &r.server == n)
                .filter_map(|r| r.m.churn_per_sec)
                .collect();
            let m: Vec<f64> = churn
                .iter()
                .filter(|r| &r.server == n)
                .map(|r| r.m.msgs_per_sec)
                .collect();
            if let (Some(c), Some(m)) = (Stats::of(&c), Stats::of(&m)) {
                let _ = writeln!(o, "| {n} | {} | {} |", human(c.median), human(m.median));
            }
        }
    }

    // Shard sweep.
    let sweep: Vec<&Record> = recs.iter().filter(|r| r.kind == "sweep").collect();
    if !sweep.is_empty() {
        let _ = writeln!(
            o,
            "\n## Shard scaling ({} at {}, msgs/s, medians)\n",
            sweep[0].m.scenario,
            size_label(sweep[0].m.size)
        );
        let mut shards: Vec<usize> = sweep.iter().map(|r| r.shards).collect();
        shards.sort_unstable();
        shards.dedup();
        let _ = write!(o, "| shards |");
        for n in &names {
            let _ = write!(o, " {n} |");
        }
        let _ = writeln!(o, "\n|---:|{}", "---:|".repeat(names.len()));
        for s in shards {
            let _ = write!(o, "| {s} |");
            for n in &names {
                let v: Vec<f64> = sweep
                    .iter()
                    .filter(|r| r.shards == s && &r.server == n)
                    .map(|r| r.m.msgs_per_sec)
                    .collect();
                let ok = sweep
                    .iter()
                    .filter(|r| r.shards == s && &r.server == n)
                    .all(|r| r.ok);
                let flag = if ok { "" } else { " (FAILED)" };
                let _ = write!(o, " {}{flag} |", fmt_stat(Stats::of(&v), "/s"));
            }
            let _ = writeln!(o);
        }
    }

    // Ceiling.
    let ceil: Vec<&Ceiling> = recs.iter().filter_map(|r| r.ceiling.as_ref()).collect();
    if !ceil.is_empty() {
        let _ = writeln!(
            o,
            "\n## Generator ceiling\n\nThe generator alone against a null sink (publish) and a \
             blast source (receive + check), the stand-ins pinned to the server CPUs. Rates are \
             per CPU-second of the generator thread, wall-clock rates in brackets. Each run's \
             headroom should be ≥ {MIN_HEADROOM}×: the smaller of how many times faster the \
             generator alone would do that run's work on its CPUs (from these ceilings) and the \
             inverse of the share of its CPUs the generator actually kept busy. Runs below are \
             flagged `low headroom`: the generator may have held them back, so their figure is \
             a lower bound for the server.\n\n\
             | size | publish msgs/s | receive msgs/s |\n|---|---:|---:|"
        );
        for c in ceil {
            let _ = writeln!(
                o,
                "| {} | {} ({}) | {} ({}) |",
                size_label(c.size),
                human(c.pub_rate),
                human(c.pub_wall_rate),
                human(c.sub_rate),
                human(c.sub_wall_rate)
            );
        }
        let results = || recs.iter().filter(|r| r.kind == "result");
        let h: Vec<f64> = results().filter_map(effective_headroom).collect();
        if let Some(s) = Stats::of(&h) {
            let _ = writeln!(
                o,
                "\nHeadroom over all runs: min {:.1}×, median {:.1}×.",
                s.min, s.median
            );
        }
        let busy: Vec<f64> = results().filter_map(|r| r.gen_busy).collect();
        if let Some(s) = Stats::of(&busy) {
            let _ = writeln!(
                o,
                "Generator CPUs kept busy by its connection threads during the runs: median \
                 {:.0}%, max {:.0}%.",
                s.median * 100.0,
                s.max * 100.0
            );
        }
    }

    // Interference.
    let runs: Vec<&Record> = recs.iter().filter(|r| r.kind != "ceiling").collect();
    let noisy = runs.iter().filter(|r| r.interference).count();
    let failed = runs.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        o,
        "\n## Run health\n\n- Runs: {}; failed (loss, duplicates, reordering or errors): {failed}; \
         flagged for other processes on the measured CPUs: {noisy}.",
        runs.len()
    );
    if let Some(s) = Stats::of(
        &runs
            .iter()
            .filter_map(|r| r.foreign_frac)
            .collect::<Vec<_>>(),
    ) {
        let _ = writeln!(
            o,
            "- Share of the measured CPUs used by other processes: median {:.1}%, max {:.1}%.",
            s.median * 100.0,
            s.max * 100.0
        );
    }
    if let Some(s) = Stats::of(&runs.iter().filter_map(|r| r.irq_frac).collect::<Vec<_>>()) {
        let _ = writeln!(
            o,
            "- Share spent in interrupts and softirqs (loopback TCP work charged to no process): \
             median {:.1}%, max {:.1}%.",
            s.median * 100.0,
            s.max * 100.0
        );
    }
    o
}

/// Writes `report.md` and the charts beside a results file.
pub fn write_all(dir: &Path, meta: Option<&Meta>, recs: &[Record]) -> Result<Vec<String>, String> {
    let names = server_names(meta, recs);
    let mut written = Vec::new();
    let mut put = |name: &str, body: String| -> Result<(), String> {
        let p = dir.join(name);
        fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(p.display().to_string());
        Ok(())
    };
    put("report.md", markdown(meta, recs))?;
    put("throughput.svg", crate::svg::throughput_chart(&names, recs))?;
    if recs.iter().any(|r| r.m.latency.is_some()) {
        put("latency.svg", crate::svg::latency_chart(&names, recs))?;
    }
    if recs.iter().any(|r| r.kind == "sweep") {
        put("scaling.svg", crate::svg::scaling_chart(&names, recs))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec(
        server: &str,
        round: usize,
        scenario: &str,
        size: usize,
        rate: f64,
    ) -> Record {
        Record {
            kind: "result".into(),
            server: server.into(),
            round,
            shards: 1,
            m: Measurement {
                scenario: scenario.into(),
                size,
                msgs_per_sec: rate,
                ..Measurement::default()
            },
            ok: true,
            attempts: 1,
            server_cpu_ns_per_msg: Some(100.0),
            ..Record::default()
        }
    }

    #[test]
    fn stats_median_and_spread() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.spread_pct(), 50.0);
        assert_eq!(Stats::of(&[1.0, 2.0, 3.0, 4.0]).unwrap().median, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn markdown_has_medians_ratios_and_failures() {
        let mut recs = vec![
            rec("go", 0, "pub-sub", 16, 1e6),
            rec("tpc", 0, "pub-sub", 16, 2e6),
            rec("go", 1, "pub-sub", 16, 1.2e6),
            rec("tpc", 1, "pub-sub", 16, 3e6),
        ];
        let mut bad = rec("tpc", 0, "fan-out", 128, 5e5);
        bad.ok = false;
        bad.m.verdict.lost = 7;
        recs.push(bad);
        recs.push(rec("go", 0, "fan-out", 128, 4e5));
        let md = markdown(None, &recs);
        assert!(
            md.contains("| pub-sub | 16B | 1.10M/s ±9.1% | 2.50M/s ±20.0% | 2.25× [2.00–2.50] |"),
            "{md}"
        );
        assert!(md.contains("FAILED 1/1: lost 7"), "{md}");
        assert!(md.contains("| fan-out | 128B |"));
    }

    #[test]
    fn routed_rows_have_ratios_and_a_note_on_the_cluster() {
        let mut recs = Vec::new();
        for (round, go, tpc) in [(0, 4e5, 8e5), (1, 5e5, 1.5e6)] {
            recs.push(rec("go", round, "routed", 1024, go));
            recs.push(rec("tpc", round, "routed", 1024, tpc));
        }
        let mut lat = rec("go", 0, "routed-req", 128, 9e3);
        lat.m.latency = Some(Latency {
            p50_us: 110.0,
            ..Latency::default()
        });
        recs.push(lat);
        recs.push(rec("go", 0, "pub-sub", 16, 1e6));
        let md = markdown(None, &recs);
        assert!(
            md.contains("| routed | 1KiB | 450.0k/s ±11.1% | 1.15M/s ±30.4% | 2.50× [2.00–3.00] |"),
            "{md}"
        );
        assert!(md.contains("two-node cluster"), "{md}");
        assert!(md.contains("| routed-req | go | 9.0k | 110.0 |"), "{md}");
        // Report order: routed after the single-server throughput scenarios.
        assert!(md.find("| pub-sub |").unwrap() < md.find("| routed |").unwrap());
        assert!(!markdown(None, &recs[5..]).contains("two-node cluster"));
    }

    #[test]
    fn headroom_is_capped_by_measured_generator_cpu() {
        let mut r = rec("go", 0, "pub", 16, 1e6);
        r.headroom = Some(12.0);
        assert_eq!(effective_headroom(&r), Some(12.0));
        r.gen_busy = Some(0.5);
        assert_eq!(effective_headroom(&r), Some(2.0));
        let md = markdown(None, &[r]);
        assert!(md.contains("low headroom 1/1"), "{md}");
    }

    #[test]
    fn records_round_trip_through_json_lines() {
        let dir = std::env::temp_dir().join(format!("nats-bench-report-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.jsonl");
        let meta = Meta {
            kind: "meta".into(),
            servers: vec![("go".into(), "nats-server -p {port}".into())],
            ..Meta::default()
        };
        let r = rec("go", 0, "pub", 1024, 123.0);
        let body = format!(
            "{}\n{}\n",
            serde_json::to_string(&meta).unwrap(),
            serde_json::to_string(&r).unwrap()
        );
        fs::write(&path, body).unwrap();
        let (m, recs) = load(&path).unwrap();
        assert_eq!(m.unwrap().servers[0].0, "go");
        assert_eq!(recs[0].m.size, 1024);
        let written = write_all(&dir, None, &recs).unwrap();
        assert!(written.iter().any(|p| p.ends_with("throughput.svg")));
        fs::remove_dir_all(&dir).unwrap();
    }
}
