//! Starting and stopping the servers under test: each run gets a fresh process on a free
//! loopback port, pinned to the chosen CPUs before it executes its first instruction.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys;

/// How long a server may take to accept connections and send `INFO`.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running server under test.
pub struct Server {
    child: Child,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The command line it was started with, placeholders filled in.
    pub command: String,
}

/// A loopback port nobody listens on right now. The kernel picks it; the small window
/// between closing this listener and the server binding it is accepted.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `n` distinct loopback ports nobody listens on right now: every listener is held until
/// all are picked, so the kernel cannot hand out the same port twice.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let held = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// Fills `{port}` and `{shards}` into a command template.
pub fn fill_template(template: &str, port: u16, shards: usize) -> String {
    template
        .replace("{port}", &port.to_string())
        .replace("{shards}", &shards.to_string())
}

impl Server {
    /// Starts `template` (a shell command line with a `{port}` placeholder) through `sh -c
    /// exec`, so the pid is the server's own, pinned to `cpus`, with its output in `log`;
    /// returns once it sends `INFO`.
    pub fn start(
        template: &str,
        shards: usize,
        cpus: &[usize],
        log: &Path,
    ) -> Result<Server, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        Server::start_on(template, port, shards, cpus, log)
    }

    /// [`Server::start`] on a port the caller picked.
    pub fn start_on(
        template: &str,
        port: u16,
        shards: usize,
        cpus: &[usize],
        log: &Path,
    ) -> Result<Server, String> {
        if !template.contains("{port}") {
            return Err(format!(
                "server command has no {{port}} placeholder: {template}"
            ));
        }
        let command = fill_template(template, port, shards);
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let cpus = cpus.to_vec();
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // sched_setaffinity system call (async-signal-safe) on a set built before the fork.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in &cpus {
                libc::CPU_SET(c, &mut set);
            }
            let pin = !cpus.is_empty();
            cmd.pre_exec(move || {
                if pin
                    && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = Server {
            child,
            addr,
            command,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!(
                    "{:?} exited with {status} before accepting connections; log {}:\n{}",
                    s.command,
                    log.display(),
                    tail(log)
                ));
            }
            if sends_info(addr) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{:?} did not accept connections within {START_TIMEOUT:?}; log:\n{}",
                    s.command,
                    tail(log)
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the server has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        sys::process_cpu_seconds(Some(self.pid()))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if !self.alive() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn sends_info(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut b = [0u8; 4];
    s.read_exact(&mut b).is_ok() && &b == b"INFO"
}

/// The last lines of a server log, for error messages.
pub fn tail(log: &Path) -> String {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
