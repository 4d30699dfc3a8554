//! Process control (spec §3 and §9): `-t`, `-sl`, the pid file, the ports file, SIGUSR1 log
//! reopening, and the config file's process and logging keys with flags overriding them.
//! Every test passes against nats-server too (`NATS_SERVER_BIN`, `NATS_SERVER_IS_GO=1`).
//!
//! No test here signals a process it did not start: the `-sl` lookups by name use an unknown
//! command (`bogus`), which nats-server checks after the lookup and before any kill, so other
//! nats-server processes on the machine are listed but never touched.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{server_bin, Raw, Server, TempDir};

const WAIT: Duration = Duration::from_secs(10);

/// Runs the binary to completion: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(server_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run server binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a child this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0, "kill");
}

/// Polls until `f` returns Some, or panics with `what` after WAIT.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The port in a log line such as `Starting http monitor on 127.0.0.1:8222`.
fn port_after(line: &str, prefix: &str) -> u16 {
    line.split(prefix)
        .nth(1)
        .and_then(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no port after {prefix:?} in {line:?}"))
}

// ---- -t -------------------------------------------------------------------------------

#[test]
fn t_without_config_fails_with_nats_server_message() {
    let (code, out, err) = run(&["-t"]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(
        err,
        "nats-server: must specify [-c, --config] option to check configuration file syntax\n"
    );
}

#[test]
fn t_valid_config_prints_the_digest_and_exits_0() {
    let dir = TempDir::new("proc-t-valid");
    let conf = dir.write("a.conf", "port: 4333\ndebug: true\n");
    let (code, out, err) = run(&["-t", "-c", &conf]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "");
    // The digest nats-server v2.15.1 prints for this text.
    assert_eq!(
        err,
        format!(
            "nats-server: configuration file {conf} is valid \
             (sha256:ea5d7fd74f0e821b5a4810660010df9e75083164024c09e4bf517bee19e4c463)\n"
        )
    );
}

#[test]
fn t_digest_covers_includes_variables_and_go_json_escaping() {
    let dir = TempDir::new("proc-t-digest");
    dir.write("sub/i.conf", "port: 1\n");
    let conf = dir.write(
        "d.conf",
        "include \"sub/i.conf\"\nX=5\nmax_payload: $X\ndebug: true\n",
    );
    let (code, _, err) = run(&["-t", "--config", &conf]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.ends_with(
            "is valid (sha256:6c0decc323e597027720a530a31d2911ca1a0e6c821c0cf376cadb977b3ca545)\n"
        ),
        "{err}"
    );
    // Sizes become integers; <, > and & are escaped as Go's encoder does.
    let conf = dir.write("e.conf", "max_payload: 1MB\nserver_name: \"a<b>&c\"\n");
    let (code, _, err) = run(&["-t", "-c", &conf]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.ends_with(
            "is valid (sha256:634b235520e1715e450f0c5d6d01a95190f28d1b6ee7aee9d949f4d0b96b6f75)\n"
        ),
        "{err}"
    );
}

#[test]
fn t_fails_on_warnings() {
    let dir = TempDir::new("proc-t-warn");
    let conf = dir.write("w.conf", "port: 4333\nping_interval: 5\n");
    let (code, _, err) = run(&["-t", "-c", &conf]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "nats-server: {conf}:2:1: invalid use of field \"ping_interval\": \
             ping_interval should be converted to a duration\n\n"
        )
    );
}

#[test]
fn t_fails_on_errors() {
    let dir = TempDir::new("proc-t-err");
    let conf = dir.write("e.conf", "port: 4333\nfoo: 1\n");
    let (code, _, err) = run(&["-t", "-c", &conf]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("nats-server: {conf}:2:1: unknown field \"foo\"\n\n")
    );
    let missing = dir.path("missing.conf");
    let missing = missing.to_string_lossy();
    let (code, _, err) = run(&["-t", "-c", &missing]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("nats-server: open {missing}: no such file or directory\n")
    );
}

#[test]
fn using_configuration_file_line_carries_the_digest() {
    let server = Server::start_with_config("debug: false\n", &[]);
    server.wait_for_log(
        " (sha256:274b07929d8801b90319e371d4c9f4e00030dd257d6f7191419e95e7310898c5)",
        WAIT,
    );
}

// ---- pid file ---------------------------------------------------------------------------

#[test]
fn pid_file_is_written_at_start_and_kept_at_exit() {
    let dir = TempDir::new("proc-pid");
    let pid_file = dir.path("s.pid");
    let mut server = Server::start(&["-P", &pid_file.to_string_lossy()]);
    let text = eventually("the pid file", || {
        Some(read(&pid_file)).filter(|t| !t.is_empty())
    });
    // The pid and nothing else (no newline), mode 0600.
    assert_eq!(text, server.pid().to_string());
    let mode = std::fs::metadata(&pid_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    signal(server.pid(), libc::SIGTERM);
    server.wait_exit(WAIT).expect("exit");
    assert_eq!(read(&pid_file), server.pid().to_string(), "kept at exit");
}

#[test]
fn pid_file_that_cannot_be_written_is_fatal() {
    let dir = TempDir::new("proc-pid-bad");
    let bad = dir.path("no/such/dir/s.pid");
    let bad = bad.to_string_lossy();
    let (code, _, err) = run(&["-a", "127.0.0.1", "-p", "-1", "--pid", &bad]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "[FTL] Could not write pidfile: open {bad}: no such file or directory"
        )),
        "{err}"
    );
}

#[test]
fn pid_file_from_config_and_flag_overrides_it() {
    let dir = TempDir::new("proc-pid-conf");
    let from_conf = dir.path("conf.pid");
    let conf = format!("pid_file: \"{}\"\n", from_conf.display());
    let server = Server::start_with_config(&conf, &[]);
    let text = eventually("config pid file", || {
        Some(read(&from_conf)).filter(|t| !t.is_empty())
    });
    assert_eq!(text, server.pid().to_string());
    drop(server);

    let _ = std::fs::remove_file(&from_conf);
    let from_flag = dir.path("flag.pid");
    let conf = format!("pidfile: \"{}\"\n", from_conf.display());
    let server = Server::start_with_config(&conf, &["-P", &from_flag.to_string_lossy()]);
    let text = eventually("flag pid file", || {
        Some(read(&from_flag)).filter(|t| !t.is_empty())
    });
    assert_eq!(text, server.pid().to_string());
    assert!(
        !from_conf.exists(),
        "the config's pid file must not be written"
    );
}

// ---- ports file -------------------------------------------------------------------------

/// `<dir>/<exe>_<pid>.ports`.
fn ports_file(dir: &Path, server: &Server) -> PathBuf {
    let exe = server_bin();
    let exe = exe.file_name().unwrap().to_string_lossy().into_owned();
    dir.join(format!("{exe}_{}.ports", server.pid()))
}

#[test]
fn ports_file_lists_client_url_and_is_removed_at_exit() {
    let dir = TempDir::new("proc-ports");
    let mut server = Server::start(&["--ports_file_dir", &dir.0.to_string_lossy()]);
    let path = ports_file(&dir.0, &server);
    let text = eventually("the ports file", || {
        Some(read(&path)).filter(|t| !t.is_empty())
    });
    // Exact JSON: only non-empty fields, no newline.
    assert_eq!(
        text,
        format!("{{\"nats\":[\"nats://127.0.0.1:{}\"]}}", server.port())
    );
    signal(server.pid(), libc::SIGTERM);
    let status = server.wait_exit(WAIT).expect("exit");
    assert_eq!(status.code(), Some(0));
    assert!(!path.exists(), "ports file removed at exit");
}

#[test]
fn ports_file_lists_the_monitor_too() {
    let dir = TempDir::new("proc-ports-mon");
    let server = Server::start(&["-m", "-1", "--ports_file_dir", &dir.0.to_string_lossy()]);
    let line = server.wait_for_log("Starting http monitor on 127.0.0.1:", WAIT);
    let mport = port_after(&line, "127.0.0.1:");
    let path = ports_file(&dir.0, &server);
    let text = eventually("the ports file", || {
        Some(read(&path)).filter(|t| !t.is_empty())
    });
    assert_eq!(
        text,
        format!(
            "{{\"nats\":[\"nats://127.0.0.1:{}\"],\"monitoring\":[\"http://127.0.0.1:{mport}\"]}}",
            server.port()
        )
    );
}

#[test]
fn ports_file_dir_from_config() {
    let dir = TempDir::new("proc-ports-conf");
    let conf = format!("ports_file_dir: \"{}\"\n", dir.0.display());
    let server = Server::start_with_config(&conf, &[]);
    let path = ports_file(&dir.0, &server);
    let text = eventually("the ports file", || {
        Some(read(&path)).filter(|t| !t.is_empty())
    });
    assert!(text.starts_with("{\"nats\":[\"nats://127.0.0.1:"), "{text}");
}

#[test]
fn ports_file_write_failure_is_logged_and_the_server_runs_on() {
    let dir = TempDir::new("proc-ports-bad");
    let bad = dir.path("missing");
    let mut server = Server::start(&["--ports_file_dir", &bad.to_string_lossy()]);
    let file = ports_file(&bad, &server);
    let file = file.to_string_lossy().into_owned();
    server.wait_for_log(
        &format!("[ERR] Error writing ports file ({file}): open {file}: no such file or directory"),
        WAIT,
    );
    server.quiet().ping_pong();
    signal(server.pid(), libc::SIGTERM);
    server.wait_exit(WAIT).expect("exit");
    server.wait_for_log(
        &format!(
            "[ERR] Error cleaning up ports file {file}: remove {file}: no such file or directory"
        ),
        WAIT,
    );
}

// ---- -sl --------------------------------------------------------------------------------

#[test]
fn sl_quit_with_pid_sends_sigint() {
    let mut server = Server::start(&[]);
    let (code, out, err) = run(&["-sl", &format!("quit={}", server.pid())]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    let status = server.wait_exit(WAIT).expect("server exits");
    assert_eq!(status.code(), Some(0));
    server.wait_for_log("Trapped \"interrupt\" signal", WAIT);
}

#[test]
fn sl_term_with_pid_file_sends_sigterm() {
    let dir = TempDir::new("proc-sl-term");
    let pid_file = dir.path("s.pid");
    let mut server = Server::start(&["-P", &pid_file.to_string_lossy()]);
    eventually("the pid file", || {
        Some(read(&pid_file)).filter(|t| !t.is_empty())
    });
    let (code, _, err) = run(&["--signal", &format!("term={}", pid_file.display())]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(server.wait_exit(WAIT).expect("exit").code(), Some(0));
    server.wait_for_log("Trapped \"terminated\" signal", WAIT);
}

#[test]
fn sl_stop_sends_sigkill() {
    let mut server = Server::start(&[]);
    let (code, _, err) = run(&["-sl", &format!("stop={}", server.pid())]);
    assert_eq!(code, Some(0), "{err}");
    let status = server.wait_exit(WAIT).expect("exit");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn sl_reopen_reload_and_ldm_send_usr1_hup_usr2() {
    let server = Server::start(&[]);
    let pid = server.pid().to_string();
    assert_eq!(run(&["-sl", &format!("reopen={pid}")]).0, Some(0));
    server.wait_for_log("Trapped \"user defined signal 1\" signal", WAIT);
    server.wait_for_log("File log re-open ignored, not a file logger", WAIT);
    assert_eq!(run(&["-sl", &format!("reload={pid}")]).0, Some(0));
    server.wait_for_log("Trapped \"hangup\" signal", WAIT);
    assert_eq!(run(&["-sl", &format!("ldm={pid}")]).0, Some(0));
    server.wait_for_log("Trapped \"user defined signal 2\" signal", WAIT);
}

#[test]
fn sl_errors_print_nats_server_messages_and_exit_1() {
    let me = std::process::id();
    let cases: Vec<(String, String)> = vec![
        (
            format!("bogus={me}"),
            "nats-server: unknown signal \"bogus\"\n".into(),
        ),
        ("quit=abc".into(), "nats-server: invalid pid: abc\n".into()),
        (
            "quit=1=2=3".into(),
            "nats-server: invalid signal parameters: [2 3]\n".into(),
        ),
    ];
    for (arg, want) in cases {
        let (code, out, err) = run(&["-sl", &arg]);
        assert_eq!(code, Some(1), "{arg}");
        assert_eq!(out, "", "{arg}");
        assert_eq!(err, want, "{arg}");
    }
}

#[test]
fn sl_pid_file_content_is_used_as_is() {
    let dir = TempDir::new("proc-sl-pidfile");
    // nats-server writes no newline; a file with one is not a pid.
    let f = dir.write("nl.pid", "123\n");
    let (code, _, err) = run(&["-sl", &format!("quit={f}")]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "nats-server: invalid pid: 123\n\n");
}

#[test]
fn sl_to_a_process_that_is_gone() {
    // A pid that was just in use and is now free.
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    let (code, _, err) = run(&["-sl", &format!("quit={pid}")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("nats-server: \nsignal \"quit\" {pid}: no such process\n")
    );
}

/// What `-sl bogus` (no pid) printed, checked against nats-server's three outcomes; returns
/// the listed pids (empty for none, None for exactly one).
fn sl_lookup() -> Option<Vec<u32>> {
    let (code, out, err) = run(&["-sl", "bogus"]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    if err == "nats-server: no nats-server processes running\n" {
        return Some(Vec::new());
    }
    if err == "nats-server: unknown signal \"bogus\"\n" {
        return None;
    }
    let rest = err
        .strip_prefix("nats-server: multiple nats-server processes running:\n")
        .unwrap_or_else(|| panic!("unexpected -sl output {err:?}"));
    let pids: Vec<u32> = rest
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("bad pid line {l:?}")))
        .collect();
    assert!(pids.len() > 1, "{err:?}");
    Some(pids)
}

#[test]
fn sl_without_pid_finds_processes_named_nats_server() {
    // Whatever else runs on the machine, the output is one of nats-server's three forms.
    sl_lookup();
    let server = Server::start(&[]);
    let exe = server_bin();
    if exe.file_name().and_then(|n| n.to_str()) != Some("nats-server") {
        eprintln!("binary is not named nats-server; the lookup by name cannot find it");
        return;
    }
    match sl_lookup() {
        // Exactly one: the lookup found ours and stopped at the unknown command.
        None => {}
        Some(pids) => assert!(
            pids.contains(&server.pid()),
            "{} not listed in {pids:?}",
            server.pid()
        ),
    }
}

#[test]
fn sl_glob_that_matches_nothing_sends_nothing() {
    let server = Server::start(&[]);
    // No pid starts with 0: nothing is signalled, and that is not an error.
    let (code, out, err) = run(&["-sl", "quit=0*"]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    server.quiet().ping_pong();
}

// ---- SIGUSR1 and the log file -------------------------------------------------------------

/// A server logging to a file (the harness reads stderr, so these start it themselves).
struct FileLogged {
    child: std::process::Child,
}

impl FileLogged {
    fn start(args: &[&str], log: &Path) -> FileLogged {
        let child = Command::new(server_bin())
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server");
        let s = FileLogged { child };
        eventually("Server is ready in the log file", || {
            read(log).contains("Server is ready").then_some(())
        });
        s
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> std::process::ExitStatus {
        signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FileLogged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigusr1_reopens_the_log_file_after_rotation() {
    let dir = TempDir::new("proc-reopen");
    let log = dir.path("s.log");
    let rotated = dir.path("s.log.1");
    let server = FileLogged::start(&["-l", &log.to_string_lossy()], &log);
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "log file mode");
    std::fs::rename(&log, &rotated).expect("rotate");
    signal(server.pid(), libc::SIGUSR1);
    eventually("File log re-opened in the new file", || {
        read(&log)
            .contains("[INF] File log re-opened")
            .then_some(())
    });
    let old = read(&rotated);
    assert!(old.contains("[INF] Server is ready"), "{old}");
    assert!(
        old.trim_end()
            .ends_with("[INF] Trapped \"user defined signal 1\" signal"),
        "the rotated file ends with the trapped line: {old}"
    );
    assert!(server.stop().success());
    let new = read(&log);
    assert!(new.contains("[INF] Server Exiting.."), "{new}");
    assert!(!read(&rotated).contains("Server Exiting"));
}

// ---- config logging keys, flags override ---------------------------------------------------

#[test]
fn config_log_file_and_log_flag_overrides_it() {
    let dir = TempDir::new("proc-logfile");
    let from_conf = dir.path("conf.log");
    let conf = dir.write(
        "l.conf",
        &format!("log_file: \"{}\"\n", from_conf.display()),
    );
    let server = FileLogged::start(&["-c", &conf], &from_conf);
    assert!(server.stop().success());

    let from_flag = dir.path("flag.log");
    let _ = std::fs::remove_file(&from_conf);
    let server = FileLogged::start(
        &["-c", &conf, "-l", &from_flag.to_string_lossy()],
        &from_flag,
    );
    assert!(server.stop().success());
    assert!(!from_conf.exists(), "config log file must not be used");
}

/// `[pid] [INF] Starting nats-server` (no timestamp) vs `[pid] 2006/01/02 ... [INF] ...`.
fn has_timestamp(line: &str) -> bool {
    let after_pid = line.split_once("] ").map(|(_, r)| r).unwrap_or("");
    !after_pid.starts_with('[')
}

#[test]
fn config_logtime_and_t_flag_overrides_it() {
    let server = Server::start_with_config("logtime: false\n", &[]);
    let line = server.wait_for_log("[INF] Starting nats-server", WAIT);
    assert!(!has_timestamp(&line), "{line}");
    let server = Server::start_with_config("logtime: false\n", &["-T"]);
    let line = server.wait_for_log("[INF] Starting nats-server", WAIT);
    assert!(has_timestamp(&line), "{line}");
}

/// Connects, sends CONNECT and PING, then waits a moment for the server's log lines.
fn one_client(server: &Server) {
    let mut c = Raw::connect(server.port());
    c.send(b"CONNECT {\"verbose\":false}\r\n");
    c.ping_pong();
}

#[test]
fn config_debug_and_d_flag_overrides_it() {
    let server = Server::start_with_config("debug: true\n", &[]);
    one_client(&server);
    server.wait_for_log("[DBG] 127.0.0.1:", WAIT);

    let server = Server::start_with_config("debug: true\n", &["-D=false"]);
    one_client(&server);
    std::thread::sleep(Duration::from_millis(300));
    let logs = server.logs();
    assert!(
        !logs.iter().any(|l| l.contains("[DBG]")),
        "{}",
        logs.join("\n")
    );
}

#[test]
fn config_trace_and_v_flag_overrides_it() {
    let server = Server::start_with_config("trace: true\n", &[]);
    one_client(&server);
    server.wait_for_log("<<- [PING]", WAIT);

    let server = Server::start_with_config("trace: true\n", &["-V=false"]);
    one_client(&server);
    std::thread::sleep(Duration::from_millis(300));
    let logs = server.logs();
    assert!(
        !logs.iter().any(|l| l.contains("[TRC]")),
        "{}",
        logs.join("\n")
    );
}
