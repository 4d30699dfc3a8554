//! Start-up failures a user can hit, and what they see: io_uring refused (as Docker's
//! default seccomp profile does), a memlock limit too low, a busy port. Each must exit 1 with
//! a message that says why, never panic and never start silently.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

fn bin() -> String {
    std::env::var("NATS_TPC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nats-server").to_string())
}

fn run_with(
    pre: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    // SAFETY: the closure only makes async-signal-safe syscalls (prctl, setrlimit).
    unsafe { cmd.pre_exec(pre) };
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start server");
    // The server must exit by itself; a hang shows up as the test timing out.
    child.wait_with_output().expect("wait")
}

#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Installs a seccomp filter that fails io_uring_setup with EPERM, as Docker's default
/// profile does.
fn deny_io_uring() -> std::io::Result<()> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    let filter = [
        SockFilter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 4,
        }, // arch
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 3,
            k: AUDIT_ARCH,
        },
        SockFilter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        }, // syscall nr
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: 425,
        }, // io_uring_setup
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: ERRNO | libc::EPERM as u32,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: ALLOW,
        },
    ];
    let prog = SockFprog {
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    };
    // SAFETY: plain prctl calls on this (child) process with a valid filter program.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const SockFprog) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn io_uring_blocked_by_seccomp_exits_1_with_a_fix() {
    let out = run_with(deny_io_uring, &["-a", "127.0.0.1", "-p", "-1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("[FTL] io_uring is not available"),
        "stderr: {err}"
    );
    assert!(err.contains("seccomp"), "stderr: {err}");
    assert!(err.contains("--privileged"), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

#[test]
fn memlock_too_low_exits_1_with_a_fix() {
    let out = run_with(
        || {
            let lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit on this (child) process.
            if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        },
        &["-a", "127.0.0.1", "-p", "-1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("memlock"), "stderr: {err}");
    assert!(err.contains("--ulimit memlock=-1"), "stderr: {err}");
}

#[test]
fn busy_port_fails_like_nats_server() {
    // A plain listener holds the port, as another server would.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = run_with(|| Ok(()), &["-a", "127.0.0.1", "-p", &port]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let want = format!(
        "[FTL] Error listening on port: 127.0.0.1:{port}, \"listen tcp 127.0.0.1:{port}: bind: address already in use\""
    );
    assert!(err.contains(&want), "stderr: {err}");
}

#[test]
fn second_server_on_our_port_fails_despite_so_reuseport() {
    use std::io::{BufRead, BufReader};
    let mut first = Command::new(bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "--shards", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start first server");
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("server output").expect("read line");
        if let Some(rest) = line
            .split("Listening for client connections on 127.0.0.1:")
            .nth(1)
        {
            break rest.trim().to_string();
        }
    };
    let out = run_with(|| Ok(()), &["-a", "127.0.0.1", "-p", &port]);
    let _ = first.kill();
    let _ = first.wait();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("bind: address already in use"),
        "stderr: {err}"
    );
}
