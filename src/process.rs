//! Process control around the server (spec §3 and §9): `-t` (check the config and exit),
//! `-sl` (signal a running server and exit), the `-P` pid file and the `--ports_file_dir`
//! ports file. Messages, exit codes and file contents are nats-server's (opts.go
//! `processSignal`, signal.go `ProcessSignal`, server.go `logPid`/`logPorts`).

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::config::gofmt::go_quote;
use clap::ArgMatches;
use log::error;

/// The process name `-sl` looks for when no pid is given (nats-server runs `pgrep` on it).
const PROCESS_NAME: &str = "nats-server";

/// nats-server writes the pid file with `defaultFilePerms`.
const PID_FILE_MODE: u32 = 0o600;

/// nats-server writes the ports file with 0666 (before the umask).
const PORTS_FILE_MODE: u32 = 0o666;

/// Where to write the pid and ports files (config `pid_file`/`ports_file_dir`, flags `-P`
/// and `--ports_file_dir`). An empty string, as `-P ""` gives, means none.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    pub pid_file: Option<String>,
    pub ports_file_dir: Option<String>,
    /// `lame_duck_duration`: how long lame duck mode takes to close every client.
    pub lame_duck_duration: std::time::Duration,
    /// `lame_duck_grace_period`: the wait before lame duck mode closes the first client.
    pub lame_duck_grace_period: std::time::Duration,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            pid_file: None,
            ports_file_dir: None,
            lame_duck_duration: shards::defaults::DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: shards::defaults::DEFAULT_LAME_DUCK_GRACE_PERIOD,
        }
    }
}

/// Go's text for an OS error (`no such file or directory`): the C message with a lower-case
/// first letter, without Rust's ` (os error N)`.
fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            // SAFETY: strerror returns a pointer to a static (or thread-local) C string.
            let msg = unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) };
            let msg = msg.to_string_lossy();
            let mut chars = msg.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        None => e.to_string(),
    }
}

/// Handles the flags that do their work and exit instead of running the server: `-sl`
/// first, then `-t`, in nats-server's order. Returns the exit code when the process should
/// exit; everything to print has been printed.
pub fn run_and_exit(m: &ArgMatches) -> Option<i32> {
    if let Some(sig) = m.get_one::<String>("signal").filter(|s| !s.is_empty()) {
        return Some(match send_signal(sig) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("nats-server: {e}");
                1
            }
        });
    }
    if m.get_one::<bool>("test_config").copied().unwrap_or(false) {
        return Some(check_config(m));
    }
    None
}

/// `-t`: parse and check the config file, print nats-server's verdict, return the exit code.
fn check_config(m: &ArgMatches) -> i32 {
    let Some(path) = m.get_one::<String>("config").filter(|s| !s.is_empty()) else {
        eprintln!(
            "nats-server: must specify [-c, --config] option to check configuration file syntax"
        );
        return 1;
    };
    let map = match crate::config::parser::parse_file(Path::new(path)) {
        Ok(map) => map,
        Err(e) => {
            eprintln!("nats-server: {e}");
            return 1;
        }
    };
    // With -t nats-server fails on warnings too. Its error for the checked keys lists every
    // line with a newline after each, and PrintAndDie adds one more.
    match crate::config::load(Path::new(path)) {
        Ok((_, w)) if w.is_empty() => {}
        Ok((_, lines)) | Err(lines) => {
            eprintln!("nats-server: {}\n", lines.join("\n"));
            return 1;
        }
    }
    // What the file asks for must also be something nats-tpc can run: a config that passes
    // -t and then fails to start would make -t useless in a deploy pipeline.
    if let Err(lines) = crate::wiring::resolve(m) {
        eprintln!("nats-server: {}", lines.join("\n"));
        return 1;
    }
    eprintln!(
        "nats-server: configuration file {path} is valid ({})",
        crate::digest::config_digest(&map)
    );
    0
}

/// `(sha256:...)` for the start-up line `Using configuration file: <f> (<digest>)`; empty
/// when the file cannot be parsed (it was parsed moments ago, so only a race gets there).
pub fn digest_suffix(path: &str) -> String {
    match crate::config::parser::parse_file(Path::new(path)) {
        Ok(map) => format!("({})", crate::digest::config_digest(&map)),
        Err(_) => String::new(),
    }
}

/// The signal a `-sl` command sends (signal.go `CommandToSignal`).
fn command_signal(command: &str) -> Result<libc::c_int, String> {
    match command {
        "stop" => Ok(libc::SIGKILL),
        "quit" => Ok(libc::SIGINT),
        "reopen" => Ok(libc::SIGUSR1),
        "reload" => Ok(libc::SIGHUP),
        "ldm" => Ok(libc::SIGUSR2),
        "term" => Ok(libc::SIGTERM),
        _ => Err(format!("unknown signal {}", go_quote(command))),
    }
}

/// `-sl <cmd>[=<pid|pidfile|pid prefix*>]`: sends the signal; the error is what nats-server
/// prints after `nats-server: `.
pub fn send_signal(arg: &str) -> Result<(), String> {
    let parts: Vec<&str> = arg.split('=').collect();
    let pid_expr = match parts.len() {
        1 => String::new(),
        2 => match std::fs::read(parts[1]) {
            // A readable file is a pid file: its content, as is, is the pid.
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => parts[1].to_string(),
        },
        _ => {
            return Err(format!(
                "invalid signal parameters: [{}]",
                parts[2..].join(" ")
            ))
        }
    };
    let command = parts[0];
    let is_glob = pid_expr.ends_with('*');
    let pid_str = pid_expr.strip_suffix('*').unwrap_or(&pid_expr);
    let mut pids = Vec::new();
    if !pid_str.is_empty() {
        // Go's strconv.Atoi: optional sign, decimal digits, nothing else.
        let pid = pid_str
            .parse::<i64>()
            .map_err(|_| format!("invalid pid: {pid_str}"))?;
        pids.push(pid);
    }
    if pid_str.is_empty() || is_glob {
        pids = find_processes()?;
    }
    if pids.len() > 1 && !is_glob {
        let mut msg = format!("multiple {PROCESS_NAME} processes running:");
        for p in &pids {
            msg.push_str(&format!("\n{p}"));
        }
        return Err(msg);
    }
    if pids.is_empty() {
        return Err(format!("no {PROCESS_NAME} processes running"));
    }
    let sig = command_signal(command)?;
    let mut errors = String::new();
    for pid in pids {
        let this = pid.to_string();
        if !pid_str.is_empty() && this != pid_str && !(is_glob && this.starts_with(pid_str)) {
            continue;
        }
        // Go passes the int straight to kill(2), which takes a pid_t.
        // SAFETY: kill(2) has no memory effects.
        if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
            let e = std::io::Error::last_os_error();
            errors.push_str(&format!(
                "\nsignal {} {pid}: {}",
                go_quote(command),
                errno_text(&e)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The pids of the other processes named nats-server, as `pgrep nats-server` lists them
/// (its pattern against the kernel's process name, `/proc/<pid>/comm`), read from /proc so
/// no pgrep is needed (the scratch image has none).
fn find_processes() -> Result<Vec<i64>, String> {
    const CANNOT: &str = "unable to resolve pid, try providing one";
    let me = i64::from(std::process::id());
    let dir = std::fs::read_dir("/proc").map_err(|_| CANNOT.to_string())?;
    let mut pids = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        // A process may exit between readdir and read: then it is simply not listed.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if pid != me && comm.trim_end_matches('\n').contains(PROCESS_NAME) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

/// Writes this process's pid (no newline) to `path`, as nats-server does at start; the file
/// is left in place at exit. The error is Go's (`open <path>: <reason>`).
pub fn write_pid_file(path: &str) -> Result<(), String> {
    write_file(
        path,
        std::process::id().to_string().as_bytes(),
        PID_FILE_MODE,
    )
}

/// os.WriteFile: create or truncate with `mode`, write, close.
fn write_file(path: &str, data: &[u8], mode: u32) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("open {path}: {}", errno_text(&e)))?;
    f.write_all(data)
        .map_err(|e| format!("write {path}: {}", errno_text(&e)))
}

/// Go's `filepath.Join(dir, name)` for the paths nats-server prints: `.` parts and repeated
/// or trailing slashes go.
fn join_clean(dir: &str, name: &str) -> String {
    let joined = Path::new(dir).join(name);
    let clean: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    clean.to_string_lossy().into_owned()
}

/// `host:port` with brackets for IPv6, as Go's `net.JoinHostPort`.
fn join_host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // Go prints an IPv4-mapped address in dotted form.
            Some(v4) => format!("{v4}:{port}"),
            None => format!("[{v6}]:{port}"),
        },
    }
}

/// Every address of every interface, grouped by interface index, as Go's
/// `net.Interfaces()` then `Addrs()` give them.
fn interface_addrs() -> Vec<IpAddr> {
    let mut found: Vec<(u32, IpAddr)> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free once below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a valid C string for the list's lifetime; ifa_addr points
        // to a sockaddr of the family it names.
        let (index, ip) = unsafe {
            let index = libc::if_nametoindex(ifa.ifa_name);
            let ip = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::from(sa.sin6_addr.s6_addr)
                }
                _ => continue,
            };
            (index, ip)
        };
        found.push((index, ip));
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    // Stable: within an interface, the kernel's order (IPv4 before IPv6), as Go has it.
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, ip)| ip).collect()
}

/// `scheme://host:port` for a listener; an unspecified address (0.0.0.0, ::) becomes one URL
/// per interface address (server.go `formatURL`/`resolveHostPorts`).
fn listener_urls(scheme: &str, addr: SocketAddr) -> Vec<String> {
    let ips = if addr.ip().is_unspecified() {
        interface_addrs()
    } else {
        vec![addr.ip()]
    };
    ips.into_iter()
        .map(|ip| format!("{scheme}://{}", join_host_port(ip, addr.port())))
        .collect()
}

/// The ports file's JSON (server.go `Ports`: fields in this order, empty ones left out).
fn ports_json(fields: &[(&str, Vec<String>)]) -> String {
    let mut out = String::from("{");
    for (name, urls) in fields.iter().filter(|(_, u)| !u.is_empty()) {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&format!("\"{name}\":["));
        let quoted: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
        out.push_str(&quoted.join(","));
        out.push(']');
    }
    out.push('}');
    out
}

/// The `<exe>_<pid>.ports` file: written once the listeners are up, removed at shutdown.
pub struct PortsFile {
    path: String,
}

/// The URL schemes the ports file uses: `tls` for clients when TLS is required, `https`
/// for an HTTPS monitor (nats-server's `PortsInfo`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Schemes {
    pub tls: bool,
    pub https: bool,
}

impl PortsFile {
    /// Writes the ports file when a directory is configured. Failures are logged as
    /// nats-server logs them, and the server runs on; the file is still removed (or the
    /// removal failure logged) at exit, as nats-server does.
    pub fn write(
        po: &ProcessOptions,
        client: SocketAddr,
        monitor: Option<SocketAddr>,
        schemes: Schemes,
        cluster: Option<SocketAddr>,
    ) -> Option<PortsFile> {
        let dir = po.ports_file_dir.as_deref().filter(|d| !d.is_empty())?;
        let exe = std::env::args_os()
            .next()
            .map(PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| PROCESS_NAME.to_string());
        let path = join_clean(dir, &format!("{exe}_{}.ports", std::process::id()));
        let json = ports_json(&[
            (
                "nats",
                listener_urls(if schemes.tls { "tls" } else { "nats" }, client),
            ),
            (
                "monitoring",
                monitor
                    .map(|m| listener_urls(if schemes.https { "https" } else { "http" }, m))
                    .unwrap_or_default(),
            ),
            (
                "cluster",
                cluster
                    .map(|c| listener_urls("nats", c))
                    .unwrap_or_default(),
            ),
        ]);
        if let Err(e) = write_file(&path, json.as_bytes(), PORTS_FILE_MODE) {
            error!("Error writing ports file ({path}): {e}");
        }
        Some(PortsFile { path })
    }

    /// Removes the file at shutdown.
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            error!(
                "Error cleaning up ports file {}: remove {}: {}",
                self.path,
                self.path,
                errno_text(&e)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_json_leaves_out_empty_fields() {
        let j = ports_json(&[
            ("nats", vec!["nats://127.0.0.1:4222".into()]),
            ("monitoring", vec![]),
        ]);
        assert_eq!(j, r#"{"nats":["nats://127.0.0.1:4222"]}"#);
    }

    #[test]
    fn urls_for_a_specific_address() {
        let a: SocketAddr = "127.0.0.1:4222".parse().unwrap();
        assert_eq!(listener_urls("nats", a), vec!["nats://127.0.0.1:4222"]);
        let a: SocketAddr = "[::1]:4222".parse().unwrap();
        assert_eq!(listener_urls("nats", a), vec!["nats://[::1]:4222"]);
        let any: SocketAddr = "0.0.0.0:4222".parse().unwrap();
        assert!(listener_urls("nats", any).contains(&"nats://127.0.0.1:4222".to_string()));
    }

    #[test]
    fn go_messages() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(
            command_signal("x").unwrap_err(),
            "unknown signal \"x\"".to_string()
        );
        assert_eq!(join_clean("./d/", "f"), "d/f");
        assert_eq!(join_clean("/tmp//x/", "f"), "/tmp/x/f");
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errno_text(&e), "no such file or directory");
    }

    #[test]
    fn signal_argument_errors() {
        assert_eq!(
            send_signal("quit=1=2=3").unwrap_err(),
            "invalid signal parameters: [2 3]"
        );
        assert_eq!(
            send_signal("quit=/nonexistent/abc").unwrap_err(),
            "invalid pid: /nonexistent/abc"
        );
    }
}
