//! What the harness asks of Linux: CPU pinning (`sched_setaffinity`), CPU time and RSS of a
//! process (`/proc/<pid>/stat`, `/proc/<pid>/status`), per-CPU busy time (`/proc/stat`) to
//! spot other processes on the measured CPUs, and the open-file limit.

use std::fs;

/// Parses a CPU list such as `0`, `0,2` or `0-3,6`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list {s:?}");
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) =
                (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            cpus.extend(a..=b);
        } else {
            cpus.push(part.parse().map_err(|_| bad())?);
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(format!("empty CPU list {s:?}"));
    }
    Ok(cpus)
}

/// Pins the calling thread (and the threads and children it creates later, which inherit
/// the mask) to `cpus`. An empty list leaves the mask alone.
pub fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it, and
    // sched_setaffinity(0, ..) reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in pin_current_thread; sched_getaffinity only writes into `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds used so far by process `pid` (all its threads), or by this process when `pid`
/// is `None`.
///
/// For another process this sums `/proc/<pid>/task/*/schedstat`, which counts nanoseconds;
/// `/proc/<pid>/stat` counts 10 ms ticks, too coarse for sub-second runs. A thread that exits
/// mid-run takes its time with it, which servers under test (fixed thread pools) rarely do;
/// `/proc/<pid>/stat` is the fallback where schedstat is missing.
pub fn process_cpu_seconds(pid: Option<u32>) -> Option<f64> {
    match pid {
        None => rusage_seconds(libc::RUSAGE_SELF),
        Some(p) => schedstat_seconds(p).or_else(|| stat_seconds(p)),
    }
}

/// CPU seconds used so far by the calling thread.
pub fn thread_cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_THREAD).unwrap_or(0.0)
}

fn rusage_seconds(who: libc::c_int) -> Option<f64> {
    // SAFETY: getrusage writes only into the struct passed.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut r) != 0 {
            return None;
        }
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        Some(t(r.ru_utime) + t(r.ru_stime))
    }
}

fn schedstat_seconds(pid: u32) -> Option<f64> {
    let mut ns: u64 = 0;
    let mut any = false;
    for t in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread may exit between listing and reading: skip it.
        let Ok(s) = fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        if let Some(v) = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            ns += v;
            any = true;
        }
    }
    any.then(|| ns as f64 / 1e9)
}

fn stat_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Resident set size of `pid` in bytes (`VmRSS`).
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Busy and stolen time of some CPUs, in seconds, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// user + nice + system: time a task ran, ours or anyone's.
    pub task: f64,
    /// irq + softirq: kernel work not charged to a task (loopback TCP lands here).
    pub irq: f64,
    /// Time the hypervisor gave to someone else.
    pub steal: f64,
}

/// Reads `/proc/stat` and sums the listed CPUs.
pub fn cpu_times(cpus: &[usize]) -> Option<CpuTimes> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    Some(parse_proc_stat(&stat, cpus, clock_ticks()))
}

/// Sums the per-CPU lines of a `/proc/stat` text for `cpus`.
pub fn parse_proc_stat(stat: &str, cpus: &[usize], ticks: f64) -> CpuTimes {
    let mut t = CpuTimes::default();
    for line in stat.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let Some(Ok(id)) = it.next().map(str::parse::<usize>) else {
            continue;
        };
        if !cpus.contains(&id) {
            continue;
        }
        let v: Vec<f64> = it.map(|x| x.parse().unwrap_or(0.0)).collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0) / ticks;
        t.task += at(0) + at(1) + at(2);
        t.irq += at(5) + at(6);
        t.steal += at(7);
    }
    t
}

/// Raises this process's soft open-file limit to the hard limit, for the idle-connections
/// scenario, and returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        r.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("3,0-1,1").unwrap(), vec![0, 1, 3]);
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn proc_stat_sums_only_chosen_cpus() {
        let stat = "cpu  9 9 9 9 9 9 9 9 0 0\n\
                    cpu0 100 0 50 1000 0 10 20 5 0 0\n\
                    cpu1 200 10 0 1000 0 0 0 0 0 0\n\
                    intr 1 2 3\n";
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let t = parse_proc_stat(stat, &[0], 100.0);
        assert!(
            close(t.task, 1.5) && close(t.irq, 0.3) && close(t.steal, 0.05),
            "{t:?}"
        );
        let t = parse_proc_stat(stat, &[0, 1], 100.0);
        assert!(close(t.task, 3.6), "{t:?}");
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(process_cpu_seconds(None).is_some());
        let me = std::process::id();
        assert!(schedstat_seconds(me).is_some() && stat_seconds(me).is_some());
        assert!(thread_cpu_seconds() >= 0.0);
        assert!(process_rss_bytes(std::process::id()).unwrap() > 0);
    }
}
