//! Logging options (spec §3, §4.2): `log_size_limit` rotation with `log_max_num`, remote and
//! local syslog, `max_traced_msg_len` and the trace lines, `-VV`/`-DVV`, `--help_tls`.
//! Every test passes against nats-server too (`NATS_SERVER_BIN`, `NATS_SERVER_IS_GO=1`);
//! the expected texts are the ones nats-server 2.15.1 prints.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{go_server_on_path, is_go, pub_frame, server_bin, Raw, Server, TempDir};

const WAIT: Duration = Duration::from_secs(10);

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

/// The number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let rest = text.split(prefix).nth(1)?;
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

const LISTEN: &str = "Listening for client connections on 127.0.0.1:";

/// A server whose log does not go to stderr (a file, syslog): the harness cannot read it,
/// so tests start it here and find its port themselves.
struct Bare {
    child: Child,
}

impl Bare {
    fn start(args: &[&str]) -> Bare {
        let child = Command::new(server_bin())
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        Bare { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it (SIGTERM) and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on the child we started.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            use std::io::Read;
            let _ = s.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        err
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client that connects, round-trips a PING and leaves: a handful of `-DV` lines.
fn one_client(port: u16) {
    let mut c = Raw::connect(port);
    c.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n");
    c.ping_pong();
}

/// Every `<log>*` file in `dir`, concatenated (start-up lines may already be rotated out).
fn all_logs(dir: &TempDir, base: &str) -> String {
    dir.names()
        .iter()
        .filter(|n| n.starts_with(base))
        .map(|n| read(&dir.path(n)))
        .collect()
}

/// `<base>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn`.
fn is_backup_name(name: &str, base: &str) -> bool {
    let Some(stamp) = name.strip_prefix(&format!("{base}.")) else {
        return false;
    };
    let parts: Vec<&str> = stamp.split('.').collect();
    let widths = [4, 2, 2, 2, 2, 2, 9];
    parts.len() == widths.len()
        && parts
            .iter()
            .zip(widths)
            .all(|(p, w)| p.len() == w && p.bytes().all(|b| b.is_ascii_digit()))
}

// ---- log_size_limit and log_max_num ---------------------------------------------------------

fn rotation_case(dir: &TempDir, args: &[&str], limit: u64, max_num: usize) {
    let log = dir.path("s.log");
    let server = Bare::start(args);
    let port = eventually("the listen line in the log files", || {
        number_after(&all_logs(dir, "s.log"), LISTEN)
    }) as u16;
    eventually("Server is ready", || {
        all_logs(dir, "s.log")
            .contains("Server is ready")
            .then_some(())
    });
    // Clients until a purge happened: at least `max_num` rotations.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_logs(dir, "s.log").contains("[INF] Purged log file \"s.log.") {
        assert!(
            Instant::now() < deadline,
            "no purge; files {:?}",
            dir.names()
        );
        one_client(port);
    }
    let backups = || -> Vec<String> {
        dir.names()
            .into_iter()
            .filter(|n| is_backup_name(n, "s.log"))
            .collect()
    };
    // A rotation may still be under way for the last client's lines.
    eventually("log_max_num - 1 backups", || {
        (backups().len() == max_num - 1).then_some(())
    });
    for b in backups() {
        let size = std::fs::metadata(dir.path(&b))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > limit, "{b} rotated at {size} bytes, limit {limit}");
    }
    let live = read(&log);
    let first = live.split_inclusive('\n').next().unwrap_or("");
    let want = format!(
        "[INF] Rotated log, backup saved as \"{}.",
        log.to_string_lossy()
    );
    assert!(
        first.contains(&want) && first.ends_with("\"\r\n"),
        "first line of the live file: {first:?}"
    );
    let stamp = first.split(&want).nth(1).unwrap_or("");
    assert!(
        is_backup_name(
            &format!("s.log.{}", stamp.trim_end_matches("\"\r\n")),
            "s.log"
        ),
        "{first:?}"
    );
    let err = server.stop();
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn log_size_limit_rotates_and_log_max_num_purges_from_config() {
    let dir = TempDir::new("log-rot-conf");
    let conf = dir.path("r.conf");
    std::fs::write(
        &conf,
        format!(
            "log_file: \"{}\"\nlogfile_size_limit: 1500\nlog_max_num: 3\ndebug: true\ntrace: true\n",
            dir.path("s.log").display()
        ),
    )
    .unwrap();
    rotation_case(&dir, &["-c", &conf.to_string_lossy()], 1500, 3);
}

#[test]
fn log_size_limit_flag_rotates_and_log_max_num_purges() {
    let dir = TempDir::new("log-rot-flag");
    let conf = dir.path("r.conf");
    std::fs::write(&conf, "logfile_max_num: 2\n").unwrap();
    let log = dir.path("s.log").to_string_lossy().into_owned();
    let args = [
        "-c",
        &conf.to_string_lossy(),
        "-l",
        &log,
        "--log_size_limit",
        "2000",
        "-DV",
    ];
    rotation_case(&dir, &args, 2000, 2);
}

#[test]
fn a_log_file_already_past_the_limit_is_rotated_at_start() {
    let dir = TempDir::new("log-rot-start");
    let log = dir.path("s.log");
    let old = "x".repeat(3000) + "\n";
    std::fs::write(&log, &old).unwrap();
    let server = Bare::start(&["-l", &log.to_string_lossy(), "--log_size_limit", "2000"]);
    eventually("Server is ready", || {
        read(&log).contains("Server is ready").then_some(())
    });
    let backups: Vec<String> = dir
        .names()
        .into_iter()
        .filter(|n| is_backup_name(n, "s.log"))
        .collect();
    assert_eq!(backups.len(), 1, "{:?}", dir.names());
    let bak = read(&dir.path(&backups[0]));
    assert!(bak.starts_with(&old), "the old content moved to the backup");
    let after = &bak[old.len()..];
    assert!(
        after.ends_with("[INF] Rotating logfile...\n") && after.lines().count() == 1,
        "{after:?}"
    );
    assert!(read(&log)
        .lines()
        .next()
        .unwrap_or("")
        .contains("Rotated log, backup saved as"));
    server.stop();
}

// ---- syslog -----------------------------------------------------------------------------------

/// A syslog line as Go's log/syslog writes it over the network:
/// `<PRI>2006-01-02T15:04:05Z07:00 HOST TAG[PID]: MSG\n`. Returns (pri, pid, msg).
fn parse_network_syslog(line: &str) -> (u32, u32, String) {
    let rest = line.strip_prefix('<').unwrap_or_else(|| panic!("{line:?}"));
    let (pri, rest) = rest.split_once('>').unwrap_or_else(|| panic!("{line:?}"));
    let mut parts = rest.splitn(3, ' ');
    let ts = parts.next().unwrap_or("");
    let _host = parts.next().unwrap_or("");
    let tail = parts.next().unwrap_or("");
    assert!(
        ts.len() >= 20 && ts.as_bytes()[10] == b'T' && (ts.ends_with('Z') || ts.len() == 25),
        "RFC 3339 time in {line:?}"
    );
    let (tag_pid, msg) = tail.split_once(": ").unwrap_or_else(|| panic!("{line:?}"));
    let tag = tag_pid.split('[').next().unwrap_or("");
    assert_eq!(tag, "nats-server", "tag in {line:?}");
    let pid = number_after(tag_pid, "[").unwrap_or(0) as u32;
    assert!(msg.ends_with('\n'), "{line:?}");
    (
        pri.parse().unwrap_or(999),
        pid,
        msg.trim_end_matches('\n').to_string(),
    )
}

/// Reads datagrams until one carries `needle`; returns every (pri, msg) so far.
fn udp_until(sock: &UdpSocket, pid: u32, seen: &mut Vec<(u32, String)>, needle: &str) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 65536];
    while !seen.iter().any(|(_, m)| m.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} over syslog; got {seen:#?}"
        );
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let (pri, p, msg) = parse_network_syslog(&String::from_utf8_lossy(&buf[..n]));
        assert_eq!(p, pid, "pid of {msg:?}");
        seen.push((pri, msg));
    }
}

fn pri_of(seen: &[(u32, String)], needle: &str) -> u32 {
    seen.iter()
        .find(|(_, m)| m.contains(needle))
        .map(|(p, _)| *p)
        .unwrap_or_else(|| panic!("no {needle:?} in {seen:#?}"))
}

#[test]
fn remote_syslog_over_udp_carries_every_line_with_syslog_severities() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let server = Bare::start(&["-r", &url, "-DV"]);
    let mut seen = Vec::new();
    udp_until(&sock, server.pid(), &mut seen, "Server is ready");
    // Facility kern (nats-server dials with LOG_DEBUG): notices are 5, debug 7.
    assert_eq!(pri_of(&seen, "Starting nats-server"), 5);
    let port = seen
        .iter()
        .find_map(|(_, m)| number_after(m, LISTEN))
        .expect("listen line") as u16;
    let mut c = Raw::connect(port);
    c.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n");
    c.send(&pub_frame("foo", b"hi"));
    c.msgs_until_pong();
    udp_until(&sock, server.pid(), &mut seen, "->> [PONG]");
    assert_eq!(pri_of(&seen, "Client connection created"), 7, "debug");
    // Traces go out as notices, without labels, times or pid prefixes.
    assert_eq!(pri_of(&seen, "<<- MSG_PAYLOAD: [\"hi\"]"), 5);
    let sub = seen
        .iter()
        .find(|(_, m)| m.ends_with("<<- [SUB foo 1]"))
        .map(|(_, m)| m.clone())
        .expect("SUB trace");
    assert!(
        sub.starts_with("127.0.0.1:") && sub.contains(" - cid:"),
        "{sub}"
    );
    drop(c);
    let err = server.stop();
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn remote_syslog_from_config_over_a_unix_socket_uses_the_local_form() {
    let dir = TempDir::new("log-unix");
    let path = dir.path("syslog.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let conf = dir.path("s.conf");
    std::fs::write(
        &conf,
        format!("remote_syslog: \"unix://{}\"\n", path.display()),
    )
    .unwrap();
    let server = Bare::start(&["-c", &conf.to_string_lossy()]);
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut lines = BufReader::new(stream).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    // `<PRI>Jan _2 15:04:05 TAG[PID]: MSG`, no host name.
    let want_tail = format!(" nats-server[{}]: Starting nats-server", server.pid());
    assert!(
        first.starts_with("<5>") && first.ends_with(&want_tail),
        "{first:?}"
    );
    let stamp = &first[3..first.len() - want_tail.len()];
    assert_eq!(stamp.len(), 15, "time.Stamp in {first:?}");
    assert_eq!(&stamp[6..7], " ", "{first:?}");
    for line in lines.by_ref() {
        if line.unwrap_or_default().ends_with("Server is ready") {
            break;
        }
    }
    server.stop();
}

/// Runs the binary to its end: (exit code, stderr).
fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
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

/// `2006/01/02 15:04:05 <msg>`: Go's standard logger, before the server's own.
fn assert_go_fatal(args: &[&str], msg: &str) {
    let (code, err) = run_to_end(args);
    assert_eq!(code, Some(1), "{args:?}: {err}");
    let line = err.lines().next().unwrap_or("");
    assert_eq!(line.len(), 20 + msg.len(), "{args:?}: {line:?}");
    assert_eq!(&line[4..5], "/", "{line:?}");
    assert_eq!(&line[20..], msg, "{args:?}");
}

#[test]
fn unreachable_syslog_and_unopenable_log_file_are_fatal_before_start() {
    assert_go_fatal(&["-r", "foo://x:1"], "error invalid network type: \"foo\"");
    assert_go_fatal(&["-r", "localhost"], "error invalid network type: \"\"");
    assert_go_fatal(
        &["-r", "127.0.0.1:514"],
        "parse \"127.0.0.1:514\": first path segment in URL cannot contain colon",
    );
    assert_go_fatal(&["-r", ":::"], "parse \":::\": missing protocol scheme");
    let dir = TempDir::new("log-fatal");
    let sock = dir.path("none.sock");
    assert_go_fatal(
        &["-r", &format!("unix://{}", sock.display())],
        &format!(
            "error connecting to syslog: \"dial unix {}: connect: no such file or directory\"",
            sock.display()
        ),
    );
    let log = dir.path("no/such/dir/s.log");
    assert_go_fatal(
        &["-l", &log.to_string_lossy()],
        &format!(
            "error opening file: open {}: no such file or directory",
            log.display()
        ),
    );
    // A log file wins over syslog: the bad URL is never dialled.
    let ok = dir.path("ok.log");
    let s = Bare::start(&["-l", &ok.to_string_lossy(), "-r", "foo://x:1"]);
    eventually("Server is ready in the file", || {
        read(&ok).contains("Server is ready").then_some(())
    });
    s.stop();
}

#[test]
fn reload_to_remote_syslog_moves_the_log_after_the_reloaded_lines() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let server = Server::start_with_config("debug: false\n", &[]);
    std::fs::write(
        server.config_path(),
        format!("debug: false\nremote_syslog: \"{url}\"\n"),
    )
    .unwrap();
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGHUP) };
    server.wait_for_log(&format!("[INF] Reloaded: remote_syslog = {url}"), WAIT);
    let mut seen = Vec::new();
    udp_until(
        &sock,
        server.pid(),
        &mut seen,
        "Reloaded server configuration",
    );
    assert!(!server
        .logs()
        .iter()
        .any(|l| l.contains("Reloaded server configuration")));
}

// ---- traces -----------------------------------------------------------------------------------

/// The trace and debug lines of one client, without the pid, time and address.
fn client_lines(server: &Server, cid: u64) -> Vec<String> {
    let tag = format!(" - cid:{cid} - ");
    server
        .logs()
        .iter()
        .filter_map(|l| {
            let (head, msg) = l.split_once(&tag)?;
            let label = if head.contains("[TRC]") { "TRC" } else { "DBG" };
            Some(format!("{label} {msg}"))
        })
        .filter(|l| !l.starts_with("DBG Client connection created"))
        .collect()
}

/// Waits until client `cid`'s lines, from the first `want[0]` on, are `want`.
fn expect_client_lines(server: &Server, cid: u64, want: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = client_lines(server, cid);
        let tail: Vec<&str> = match got.iter().position(|l| l == want[0]) {
            Some(i) => got[i..].iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        if tail == want {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(tail, want, "all lines: {got:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_traced_msg_len_cuts_payload_traces_as_nats_server() {
    let server = Server::start(&["-V", "--max_traced_msg_len", "5"]);
    let mut c = server.client(r#"{"verbose":false,"headers":true}"#);
    let cid = c.cid();
    c.send(b"SUB foo 1\r\n");
    c.send(&pub_frame("foo", b"hello worl"));
    c.send(&pub_frame("foo", b"abc"));
    c.send(&pub_frame("foo", b""));
    c.send(&pub_frame("foo", b"\xc3\xa9\xff\x01abc"));
    c.send(b"HPUB foo 12 20\r\nNATS/1.0\r\n\r\nhellowor\r\n");
    c.msgs_until_pong();
    let want = [
        "TRC <<- [SUB foo 1]",
        "TRC <<- [PUB foo 10]",
        "TRC <<- MSG_PAYLOAD: [\"hello...\"]",
        "TRC ->> [MSG foo 1 10]",
        "TRC ->> MSG_PAYLOAD: [\"hello...\"]",
        "TRC <<- [PUB foo 3]",
        "TRC <<- MSG_PAYLOAD: [\"abc\"]",
        "TRC ->> [MSG foo 1 3]",
        "TRC ->> MSG_PAYLOAD: [\"abc\"]",
        "TRC <<- [PUB foo 0]",
        "TRC ->> [MSG foo 1 0]",
        "TRC <<- [PUB foo 7]",
        "TRC <<- MSG_PAYLOAD: [\"é\\xff\\x01a...\"]",
        "TRC ->> [MSG foo 1 7]",
        "TRC ->> MSG_PAYLOAD: [\"é\\xff\\x01a...\"]",
        "TRC <<- [HPUB foo 12 20]",
        "TRC <<- MSG_PAYLOAD: [\"NATS/...\"]",
        "TRC ->> [HMSG foo 1 12 20]",
        "TRC ->> MSG_PAYLOAD: [\"NATS/...\"]",
        "TRC <<- [PING]",
        "TRC ->> [PONG]",
    ];
    expect_client_lines(&server, cid, &want);
}

#[test]
fn max_traced_msg_len_from_config_and_go_quoting_of_whole_payloads() {
    let server = Server::start_with_config("max_traced_msg_len: 100\n", &["-V"]);
    let mut c = server.client(r#"{"verbose":false}"#);
    let cid = c.cid();
    c.send(&pub_frame("foo", b"ab\x00\"d\r\n\t\\"));
    c.send(&pub_frame("foo", &[b'z'; 101]));
    c.ping_pong();
    server.wait_for_log(
        &format!("cid:{cid} - <<- MSG_PAYLOAD: [\"ab\\x00\\\"d\\r\\n\\t\\\\\"]"),
        WAIT,
    );
    server.wait_for_log(
        &format!("cid:{cid} - <<- MSG_PAYLOAD: [\"{}...\"]", "z".repeat(100)),
        WAIT,
    );
}

#[test]
fn unsubscribes_trace_delsub_and_debug_the_auto_unsubscribe() {
    let server = Server::start(&["-DV"]);
    let mut c = server.client(r#"{"verbose":false}"#);
    let cid = c.cid();
    c.send(b"SUB foo 1\r\nSUB bar 2\r\nSUB baz 3\r\nUNSUB 1\r\nUNSUB 2 1\r\n");
    c.send(&pub_frame("bar", b"hi"));
    c.send(b"UNSUB 3 5\r\n");
    c.msgs_until_pong();
    drop(c);
    let want = [
        "TRC <<- [SUB foo 1]",
        "TRC <<- [SUB bar 2]",
        "TRC <<- [SUB baz 3]",
        "TRC <<- [UNSUB 1]",
        "TRC <-> [DELSUB 1]",
        "TRC <<- [UNSUB 2 1]",
        "TRC <<- [PUB bar 2]",
        "TRC <<- MSG_PAYLOAD: [\"hi\"]",
        "DBG Auto-unsubscribe limit of 1 reached for sid '2'",
        "TRC ->> [MSG bar 2 2]",
        "TRC ->> MSG_PAYLOAD: [\"hi\"]",
        "TRC <-> [DELSUB 2]",
        "TRC <<- [UNSUB 3 5]",
        "TRC <<- [PING]",
        "TRC ->> [PONG]",
        "DBG Client connection closed: Client Closed",
        "TRC <-> [DELSUB 3]",
    ];
    expect_client_lines(&server, cid, &want);
}

#[test]
fn vv_and_dvv_trace_like_v_and_dv() {
    for (flag, debug) in [("-VV", false), ("-DVV", true)] {
        let server = Server::start(&[flag]);
        let mut c = server.client(r#"{"verbose":false}"#);
        let cid = c.cid();
        c.ping_pong();
        server.wait_for_log(&format!("cid:{cid} - <<- [PING]"), WAIT);
        let has_debug = server
            .logs()
            .iter()
            .any(|l| l.contains(&format!("cid:{cid} - Client connection created")));
        assert_eq!(has_debug, debug, "{flag}");
    }
}

// ---- --help_tls -------------------------------------------------------------------------------

/// The lines of the two lists, sorted (nats-server prints them in Go map order, which
/// changes from run to run), and the text around them.
fn split_tls_help(text: &str) -> (String, Vec<String>, Vec<String>) {
    let mut frame = String::new();
    let (mut ciphers, mut curves) = (Vec::new(), Vec::new());
    let mut list = 0;
    for line in text.split_inclusive('\n') {
        match line {
            "Available cipher suites include:\n" => list = 1,
            "Available curve preferences include:\n" => list = 2,
            l if list > 0 && l.starts_with("    ") => {
                let name = l.trim().to_string();
                if list == 1 {
                    ciphers.push(name);
                } else {
                    curves.push(name);
                }
                continue;
            }
            _ => list = 0,
        }
        frame.push_str(line);
    }
    ciphers.sort();
    curves.sort();
    (frame, ciphers, curves)
}

#[test]
fn help_tls_prints_the_tls_help_and_exits_0() {
    let out = Command::new(server_bin())
        .arg("--help_tls")
        .output()
        .expect("run server");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (frame, ciphers, curves) = split_tls_help(&text);
    assert!(
        frame.starts_with(
            "\nTLS configuration is specified in the tls section of a configuration file:\n"
        ),
        "{frame}"
    );
    assert!(frame.ends_with(
        "Note: Cache of server's own OCSP response (staple) is enabled using the 'ocsp' configuration option.\n"
    ));
    assert_eq!(ciphers.len(), 25, "{ciphers:?}");
    assert!(ciphers.contains(&"TLS_AES_128_GCM_SHA256".to_string()));
    assert!(curves.contains(&"X25519".to_string()), "{curves:?}");
    // The same text as the Go server's, list order aside.
    if let (false, Some(go)) = (is_go(), go_server_on_path()) {
        let go_out = Command::new(go).arg("--help_tls").output().expect("run go");
        let go_text = String::from_utf8_lossy(&go_out.stdout).into_owned();
        assert_eq!(split_tls_help(&go_text), (frame, ciphers, curves));
    }
    // -v wins over --help_tls, as in nats-server.
    let out = Command::new(server_bin())
        .args(["--help_tls", "-v"])
        .output()
        .expect("run server");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("nats-server: v"));
}
