//! Shared harness for the integration tests: start the real server binary, talk raw protocol.
//!
//! The binary is `NATS_SERVER_BIN` when set, otherwise the `nats-server` this package builds.
//! `NATS_SERVER_IS_GO=1` says the binary is the Go nats-server (the oracle): then `--shards` is
//! never passed and tests of our shard-only features print a line and return.

// Each test file compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod cluster;

/// How long a server gets to print `Server is ready`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits for bytes it expects; generous, never a timing assertion.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

const LISTEN_LINE: &str = "Listening for client connections on 127.0.0.1:";
const READY_LINE: &str = "Server is ready";

/// The server binary under test.
pub fn server_bin() -> PathBuf {
    match std::env::var_os("NATS_SERVER_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_nats-server")),
    }
}

/// True when the binary under test is the Go nats-server.
pub fn is_go() -> bool {
    std::env::var("NATS_SERVER_IS_GO").is_ok_and(|v| v == "1")
}

/// For tests of features only our server has: returns true (after saying so) when the binary
/// is the Go server, and the test should return at once.
pub fn skip_for_go(test: &str) -> bool {
    if is_go() {
        eprintln!("skipping {test}: needs nats-tpc shards, NATS_SERVER_IS_GO=1");
        true
    } else {
        false
    }
}

/// The Go nats-server on PATH, for differential runs.
pub fn go_server_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

/// A config file in the temp dir, removed on drop.
pub struct TempConfig {
    path: PathBuf,
}

impl TempConfig {
    pub fn new(text: &str) -> TempConfig {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "nats-tpc-test-{}-{}-{}.conf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        std::fs::write(&path, text).expect("write temp config");
        TempConfig { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A directory under the temp dir, removed with its files on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "nats-tpc-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` (creating parent folders) and returns the path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, text).expect("write file");
        p.to_string_lossy().into_owned()
    }

    /// The names of the files in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process, killed on drop.
pub struct Server {
    child: Child,
    port: u16,
    logs: Arc<Mutex<Vec<String>>>,
    _config: Option<TempConfig>,
}

impl Server {
    /// Starts the binary under test with `-a 127.0.0.1 -p -1` plus `args`.
    pub fn start(args: &[&str]) -> Server {
        Server::spawn(&server_bin(), args, None, None)
    }

    /// Starts the binary under test with `n` shards (ours; the flag is left out for Go).
    pub fn start_sharded(n: usize, args: &[&str]) -> Server {
        let shards = if is_go() { None } else { Some(n) };
        Server::spawn(&server_bin(), args, shards, None)
    }

    /// Starts the binary under test with a config file holding `conf` (`-c file`) plus `args`.
    pub fn start_with_config(conf: &str, args: &[&str]) -> Server {
        Server::spawn(&server_bin(), args, None, Some(TempConfig::new(conf)))
    }

    /// Like `start_with_config`, with `n` shards (left out for Go).
    pub fn start_sharded_with_config(n: usize, conf: &str, args: &[&str]) -> Server {
        let shards = if is_go() { None } else { Some(n) };
        Server::spawn(&server_bin(), args, shards, Some(TempConfig::new(conf)))
    }

    /// Starts a given binary with a config file holding `conf` (`-c file`) plus `args`.
    pub fn start_binary_with_config(bin: &Path, conf: &str, args: &[&str]) -> Server {
        Server::spawn(bin, args, None, Some(TempConfig::new(conf)))
    }

    /// Starts a given binary (used by the differential tests for the Go server).
    pub fn start_binary(bin: &Path, args: &[&str]) -> Server {
        Server::spawn(bin, args, None, None)
    }

    fn spawn(
        bin: &Path,
        args: &[&str],
        shards: Option<usize>,
        config: Option<TempConfig>,
    ) -> Server {
        let mut cmd = Command::new(bin);
        cmd.args(["-a", "127.0.0.1", "-p", "-1"]);
        if let Some(cfg) = &config {
            cmd.arg("-c").arg(cfg.path());
        }
        if let Some(n) = shards {
            cmd.arg("--shards").arg(n.to_string());
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let echo = std::env::var_os("NATS_TEST_ECHO_LOGS").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if echo {
                    eprintln!("server: {line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            child,
            port: 0,
            logs,
            _config: config,
        };
        let listen = server.wait_for_log_or_exit(LISTEN_LINE, START_TIMEOUT);
        let port = listen
            .split(LISTEN_LINE)
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| panic!("no port in log line {listen:?}"));
        server.port = port;
        server.wait_for_log_or_exit(READY_LINE, START_TIMEOUT);
        server
    }

    fn wait_for_log_or_exit(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.find_log(needle) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the reader thread a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "server exited ({status}) before logging {needle:?}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "server did not log {needle:?} within {timeout:?}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn find_log(&self, needle: &str) -> Option<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// The client port the server reported.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (to send it signals).
    /// The `-c` file this server was started with (tests rewrite it before a reload).
    pub fn config_path(&self) -> &Path {
        self._config.as_ref().expect("started with a config").path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process a signal.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the child we started.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Rewrites the config file, sends SIGHUP and returns the first later log line that
    /// contains `outcome` (panics after a few seconds without one).
    #[track_caller]
    pub fn reload(&self, conf: &str, outcome: &str) -> String {
        let before = self.logs().len();
        std::fs::write(self.config_path(), conf).expect("rewrite config");
        self.signal(libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = self.logs();
            if let Some(l) = logs[before..].iter().find(|l| l.contains(outcome)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {outcome:?} after SIGHUP; logs:\n{}",
                logs.join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for the server to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `nats://127.0.0.1:PORT`, for client libraries.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a stderr line containing `needle` and returns it; panics after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.find_log(needle) {
                return line;
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line containing {needle:?} within {timeout:?}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The 0-based shard that accepted connection `cid`, from our `-D` accept line
    /// `[DBG] 127.0.0.1:PORT - cid:N - Client connection created on shard S`.
    pub fn shard_of(&self, cid: u64) -> usize {
        let needle = format!(" - cid:{cid} - Client connection created on shard ");
        let line = self.wait_for_log(&needle, READ_TIMEOUT);
        let rest = line.split(&needle).nth(1).unwrap_or("");
        rest.trim()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("no shard number in {line:?}"))
    }

    /// Raw connection to this server (reads INFO).
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Raw connection that has sent `CONNECT {"verbose":false}` and seen PONG.
    pub fn quiet(&self) -> Raw {
        Raw::handshake(self.port, r#"{"verbose":false}"#)
    }

    /// Raw connection that has sent `CONNECT <json>` plus PING and read the PONG.
    pub fn client(&self, connect_json: &str) -> Raw {
        Raw::handshake(self.port, connect_json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renders bytes the way a protocol reader wants to see them: printable ASCII, `\r\n` escaped.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// One MSG or HMSG as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    /// The header block of an HMSG, `NATS/1.0...\r\n\r\n`.
    pub headers: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// One server-to-client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    /// The `-ERR` text, quotes included: `'Invalid Subject'`.
    Err(String),
    Info(Value),
}

/// What a read of the socket ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The peer closed (EOF) or reset the connection.
    Closed,
    /// Nothing more arrived before the timeout.
    Timeout,
}

/// A blocking raw-protocol connection with its own read buffer.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The INFO the server sent on accept.
    pub info: Value,
    /// The INFO line exactly as received.
    pub info_line: Vec<u8>,
}

impl Raw {
    /// Connects and reads the INFO line (CL-01: the server speaks first).
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to server");
        stream.set_nodelay(true).ok();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            info: Value::Null,
            info_line: Vec::new(),
        };
        let line = raw.read_line();
        raw.info = parse_info(&line);
        raw.info_line = line;
        raw
    }

    /// Connects, sends `CONNECT <json>\r\nPING\r\n` and reads up to the PONG (and the INFO a
    /// `protocol:1` client gets after its first PONG).
    pub fn handshake(port: u16, connect_json: &str) -> Raw {
        let mut raw = Raw::connect(port);
        raw.send(format!("CONNECT {connect_json}\r\nPING\r\n").as_bytes());
        let json: Value = serde_json::from_str(connect_json).expect("test CONNECT json");
        if json.get("verbose") != Some(&Value::Bool(false)) {
            raw.expect(b"+OK\r\n");
        }
        raw.expect(b"PONG\r\n");
        if json.get("protocol").and_then(Value::as_i64).unwrap_or(0) >= 1 {
            raw.expect_line_prefix("INFO ");
        }
        raw
    }

    /// The `client_id` from the INFO.
    pub fn cid(&self) -> u64 {
        self.info["client_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no client_id in INFO {}", self.info))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// PING, then expect `PONG\r\n` as the next frame. A server PING in between (the first
    /// one comes ~2 s after connect) is answered; anything else fails the test.
    #[track_caller]
    pub fn ping_pong(&mut self) {
        self.send(b"PING\r\n");
        loop {
            match self.read_frame() {
                Frame::Pong => return,
                Frame::Ping => self.send(b"PONG\r\n"),
                other => panic!("expected PONG, got {other:?}"),
            }
        }
    }

    /// Reads into the buffer once; says how the read ended if nothing arrived.
    fn fill(&mut self, deadline: Instant) -> Result<(), End> {
        let now = Instant::now();
        if now >= deadline {
            return Err(End::Timeout);
        }
        self.stream
            .set_read_timeout(Some(deadline - now))
            .expect("set_read_timeout");
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(End::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(End::Timeout)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(_) => Err(End::Closed),
        }
    }

    /// Reads exactly `n` bytes (or panics with what did arrive).
    pub fn read_exact_n(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + READ_TIMEOUT;
        while self.buf.len() < n {
            if let Err(end) = self.fill(deadline) {
                panic!(
                    "wanted {n} bytes, connection ended ({end:?}) after {} bytes: \"{}\"",
                    self.buf.len(),
                    show(&self.buf)
                );
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Reads the next exactly `want.len()` bytes and compares them with `want`.
    #[track_caller]
    pub fn expect(&mut self, want: &[u8]) {
        let deadline = Instant::now() + READ_TIMEOUT;
        while self.buf.len() < want.len() {
            if let Err(end) = self.fill(deadline) {
                panic!(
                    "expected \"{}\"\n but the connection ended ({end:?}) after: \"{}\"",
                    show(want),
                    show(&self.buf)
                );
            }
        }
        let got: Vec<u8> = self.buf.drain(..want.len()).collect();
        if got != want {
            let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
            panic!(
                "protocol mismatch at byte {at}\n  expected: \"{}\"\n       got: \"{}\"",
                show(want),
                show(&got)
            );
        }
    }

    /// Reads one line up to and including `\n`.
    pub fn read_line(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            if let Err(end) = self.fill(deadline) {
                panic!(
                    "expected a line, connection ended ({end:?}) with: \"{}\"",
                    show(&self.buf)
                );
            }
        }
    }

    /// Reads one line and checks that it starts with `prefix`; returns it as text.
    #[track_caller]
    pub fn expect_line_prefix(&mut self, prefix: &str) -> String {
        let line = self.read_line();
        assert!(
            line.starts_with(prefix.as_bytes()),
            "expected a line starting with \"{}\", got \"{}\"",
            show(prefix.as_bytes()),
            show(&line)
        );
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Reads one MSG or HMSG (control line plus payload).
    #[track_caller]
    pub fn read_msg(&mut self) -> Msg {
        let line = self.read_line();
        let text = String::from_utf8_lossy(&line).into_owned();
        let args: Vec<&str> = text.trim_end().split(' ').collect();
        let (headers, total, reply) = match args.as_slice() {
            ["MSG", _, _, n] => (None, n.parse::<usize>().ok(), None),
            ["MSG", _, _, r, n] => (None, n.parse().ok(), Some(r.to_string())),
            ["HMSG", _, _, h, n] => (h.parse::<usize>().ok(), n.parse().ok(), None),
            ["HMSG", _, _, r, h, n] => (h.parse().ok(), n.parse().ok(), Some(r.to_string())),
            _ => panic!("expected MSG or HMSG, got \"{}\"", show(&line)),
        };
        let total = total.unwrap_or_else(|| panic!("bad size in \"{}\"", show(&line)));
        let mut body = self.read_exact_n(total + 2);
        assert_eq!(
            &body[total..],
            b"\r\n",
            "payload not followed by CRLF: \"{}\"",
            show(&body)
        );
        body.truncate(total);
        let headers = headers.map(|h| body.drain(..h).collect());
        Msg {
            subject: args[1].to_string(),
            sid: args[2].to_string(),
            reply,
            headers,
            payload: body,
        }
    }

    /// Reads the next frame: a message, PING, PONG, +OK, -ERR or INFO.
    #[track_caller]
    pub fn read_frame(&mut self) -> Frame {
        let deadline = Instant::now() + READ_TIMEOUT;
        while !self.buf.contains(&b'\n') {
            if let Err(end) = self.fill(deadline) {
                panic!(
                    "expected a frame, connection ended ({end:?}) with: \"{}\"",
                    show(&self.buf)
                );
            }
        }
        if self.buf.starts_with(b"MSG ") || self.buf.starts_with(b"HMSG ") {
            return Frame::Msg(self.read_msg());
        }
        let line = self.read_line();
        match line.as_slice() {
            b"PING\r\n" => Frame::Ping,
            b"PONG\r\n" => Frame::Pong,
            b"+OK\r\n" => Frame::Ok,
            l if l.starts_with(b"-ERR ") => {
                Frame::Err(String::from_utf8_lossy(&l[5..]).trim_end().to_string())
            }
            l if l.starts_with(b"INFO ") => Frame::Info(parse_info(l)),
            _ => panic!("unexpected line \"{}\"", show(&line)),
        }
    }

    /// Sends PING and collects every message that arrives before the PONG; server PINGs are
    /// answered, any other frame fails the test.
    #[track_caller]
    pub fn msgs_until_pong(&mut self) -> Vec<Msg> {
        self.send(b"PING\r\n");
        let mut msgs = Vec::new();
        loop {
            match self.read_frame() {
                Frame::Msg(m) => msgs.push(m),
                Frame::Pong => return msgs,
                Frame::Ping => self.send(b"PONG\r\n"),
                other => panic!("expected MSG or PONG, got {other:?}"),
            }
        }
    }

    /// Reads exactly `n` messages; server PINGs are answered, any other frame fails the test.
    #[track_caller]
    pub fn read_msgs(&mut self, n: usize) -> Vec<Msg> {
        let mut msgs = Vec::with_capacity(n);
        while msgs.len() < n {
            match self.read_frame() {
                Frame::Msg(m) => msgs.push(m),
                Frame::Ping => self.send(b"PONG\r\n"),
                other => panic!("expected message {} of {n}, got {other:?}", msgs.len() + 1),
            }
        }
        msgs
    }

    /// The next message if one arrives within `timeout` (server PINGs answered, async INFO
    /// skipped); `None` otherwise.
    #[track_caller]
    pub fn try_next_msg(&mut self, timeout: Duration) -> Option<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            while !self.buf.contains(&b'\n') {
                self.fill(deadline).ok()?;
            }
            if self.buf.starts_with(b"MSG ") || self.buf.starts_with(b"HMSG ") {
                // A whole message follows its control line; wait for it with the usual timeout.
                return Some(self.read_msg());
            }
            match self.read_frame() {
                Frame::Ping => self.send(b"PONG\r\n"),
                Frame::Info(_) | Frame::Pong | Frame::Ok => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Reads the next message; server PINGs are answered, any other frame fails the test.
    #[track_caller]
    pub fn next_msg(&mut self) -> Msg {
        self.read_msgs(1).remove(0)
    }

    /// Reads whatever arrives until the peer closes or nothing comes for `timeout`.
    pub fn read_until_closed_or_timeout(&mut self, timeout: Duration) -> (Vec<u8>, End) {
        loop {
            if let Err(end) = self.fill(Instant::now() + timeout) {
                return (std::mem::take(&mut self.buf), end);
            }
        }
    }

    /// Expects the server to close (EOF or reset) with no further bytes.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let (rest, end) = self.read_until_closed_or_timeout(READ_TIMEOUT);
        assert_eq!(
            end,
            End::Closed,
            "expected the server to close the connection; it stayed open"
        );
        assert!(
            rest.is_empty(),
            "expected a silent close, got \"{}\"",
            show(&rest)
        );
    }

    /// Expects `want` and then a close.
    #[track_caller]
    pub fn expect_then_closed(&mut self, want: &[u8]) {
        self.expect(want);
        self.expect_closed();
    }

    /// Expects no bytes for `ms` milliseconds (and no close).
    #[track_caller]
    pub fn expect_nothing(&mut self, ms: u64) {
        if !self.buf.is_empty() {
            panic!("expected nothing, had buffered \"{}\"", show(&self.buf));
        }
        match self.fill(Instant::now() + Duration::from_millis(ms)) {
            Err(End::Timeout) => {}
            Err(End::Closed) => panic!("expected nothing, but the server closed"),
            Ok(()) => panic!("expected nothing, got \"{}\"", show(&self.buf)),
        }
    }

    /// Half-closes the write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// The underlying stream, for socket options.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// Counts occurrences of a pattern in a byte stream fed in pieces (matches that straddle two
/// pieces included), without keeping the stream.
pub struct PatternCount {
    pattern: &'static [u8],
    tail: Vec<u8>,
    pub count: usize,
}

impl PatternCount {
    pub fn new(pattern: &'static [u8]) -> PatternCount {
        PatternCount {
            pattern,
            tail: Vec::new(),
            count: 0,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        let keep = self.pattern.len() - 1;
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(bytes);
        self.count += joined
            .windows(self.pattern.len())
            .filter(|w| *w == self.pattern)
            .count();
        self.tail = joined[joined.len().saturating_sub(keep)..].to_vec();
    }
}

/// Shrinks a socket's receive buffer to 64 KiB, so that bytes a test reads slowly wait in
/// the sender rather than in this side's kernel buffer.
pub fn small_receive_buffer(stream: &TcpStream) {
    let size: libc::c_int = 64 * 1024;
    // SAFETY: a plain setsockopt on a socket the test owns.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt SO_RCVBUF");
}

/// Parses `INFO {json} \r\n` (or without the space) into JSON.
#[track_caller]
pub fn parse_info(line: &[u8]) -> Value {
    let text = std::str::from_utf8(line).expect("INFO is UTF-8");
    let json = text
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("expected INFO, got \"{}\"", show(line)));
    serde_json::from_str(json.trim_end()).unwrap_or_else(|e| panic!("bad INFO json {e}: {json}"))
}

/// `PUB subject n\r\npayload\r\n`.
pub fn pub_frame(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!("PUB {subject} {}\r\n", payload.len()).into_bytes();
    v.extend_from_slice(payload);
    v.extend_from_slice(b"\r\n");
    v
}

/// `MSG subject sid n\r\npayload\r\n`.
pub fn msg_frame(subject: &str, sid: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!("MSG {subject} {sid} {}\r\n", payload.len()).into_bytes();
    v.extend_from_slice(payload);
    v.extend_from_slice(b"\r\n");
    v
}

/// `<head> h t\r\nheaders payload\r\n`, the framing HPUB and HMSG share.
fn header_frame(head: String, headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "{head} {} {}\r\n",
        headers.len(),
        headers.len() + payload.len()
    )
    .into_bytes();
    v.extend_from_slice(headers);
    v.extend_from_slice(payload);
    v.extend_from_slice(b"\r\n");
    v
}

/// `HPUB subject [reply] h t\r\nheaders payload\r\n` with the sizes computed.
pub fn hpub_frame(subject: &str, reply: Option<&str>, headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
    header_frame(format!("HPUB {subject}{reply}"), headers, payload)
}

/// `HMSG subject sid [reply] h t\r\nheaders payload\r\n` with the sizes computed.
pub fn hmsg_frame(
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    headers: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
    header_frame(format!("HMSG {subject} {sid}{reply}"), headers, payload)
}

/// How many connections we try before giving up on covering every shard.
const MAX_PLACEMENT_ATTEMPTS: usize = 400;

/// Opens connections (with `connect_json`) until there is one on each shard; returns them
/// indexed by shard. Extra connections are closed.
pub fn one_per_shard(server: &Server, shards: usize, connect_json: &str) -> Vec<Raw> {
    let mut placed: std::collections::BTreeMap<usize, Raw> = Default::default();
    for _ in 0..MAX_PLACEMENT_ATTEMPTS {
        let raw = server.client(connect_json);
        let shard = server.shard_of(raw.cid());
        assert!(
            shard < shards,
            "shard {shard} out of range for {shards} shards"
        );
        placed.entry(shard).or_insert(raw);
        if placed.len() == shards {
            return placed.into_values().collect();
        }
    }
    panic!(
        "after {MAX_PLACEMENT_ATTEMPTS} connections only shards {:?} of {shards} got one",
        placed.keys().collect::<Vec<_>>()
    );
}

pub fn quiet_per_shard(server: &Server, shards: usize) -> Vec<Raw> {
    one_per_shard(server, shards, r#"{"verbose":false}"#)
}
