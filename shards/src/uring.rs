//! Checks, before glommio starts, that this process may use io_uring. glommio panics
//! (blaming the kernel) when it cannot set up its rings; users deserve a reason and a fix.

use std::fmt;

/// Why io_uring cannot be used here.
#[derive(Debug)]
pub struct UringUnavailable {
    reason: String,
}

impl std::error::Error for UringUnavailable {}

impl fmt::Display for UringUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io_uring is not available: {}. nats-tpc runs on io_uring. In Docker, run with \
             --privileged, or with --security-opt seccomp=<profile that allows io_uring_setup, \
             io_uring_enter and io_uring_register> (see README.md), plus --ulimit memlock=-1; \
             on the host, check sysctl kernel.io_uring_disabled (must be 0) and the memlock \
             limit (ulimit -l)",
            self.reason
        )
    }
}

// The io_uring syscalls have the same numbers on x86_64 and aarch64.
const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_REGISTER: libc::c_long = 427;
const IORING_REGISTER_BUFFERS: libc::c_long = 0;

/// glommio refuses to start below this RLIMIT_MEMLOCK (its own check, whatever the kernel
/// would allow).
const GLOMMIO_MIN_MEMLOCK: u64 = 512 * 1024;

/// Tries to create (and closes) a small io_uring, and checks the memlock limit.
pub fn check() -> Result<(), UringUnavailable> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0
        && lim.rlim_cur != libc::RLIM_INFINITY
        && lim.rlim_cur < GLOMMIO_MIN_MEMLOCK
    {
        return Err(UringUnavailable {
            reason: format!(
                "the memlock limit is {} KiB and io_uring needs at least {} KiB (ulimit -l)",
                lim.rlim_cur / 1024,
                GLOMMIO_MIN_MEMLOCK / 1024
            ),
        });
    }
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if v.trim() == "2" {
            return Err(UringUnavailable {
                reason: "the kernel has io_uring disabled (kernel.io_uring_disabled = 2)".into(),
            });
        }
    }
    // struct io_uring_params is 120 bytes; zeroed means defaults.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup reads and writes only `params`; a returned fd is closed below.
    let fd = unsafe { libc::syscall(SYS_IO_URING_SETUP, 4 as libc::c_long, params.as_mut_ptr()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let reason = match err.raw_os_error() {
            Some(libc::EPERM) => format!(
                "io_uring_setup was refused ({err}): a seccomp profile (Docker's default blocks \
                 io_uring) or kernel.io_uring_disabled forbids it"
            ),
            Some(libc::ENOSYS) => format!(
                "io_uring_setup is not implemented ({err}): the kernel is older than 5.8 or a \
                 seccomp profile hides the call"
            ),
            Some(libc::ENOMEM) => {
                format!(
                    "io_uring_setup could not lock memory ({err}): the memlock limit is too low"
                )
            }
            _ => format!("io_uring_setup failed: {err}"),
        };
        return Err(UringUnavailable { reason });
    }
    // glommio registers its I/O memory with the ring, which counts against RLIMIT_MEMLOCK.
    let mut mem = vec![0u8; crate::defaults::GLOMMIO_IO_MEMORY];
    let iov = libc::iovec {
        iov_base: mem.as_mut_ptr().cast(),
        iov_len: mem.len(),
    };
    // SAFETY: registers one buffer we own for the ring's lifetime; the ring is closed below
    // before `mem` is dropped.
    let reg = unsafe {
        libc::syscall(
            SYS_IO_URING_REGISTER,
            fd,
            IORING_REGISTER_BUFFERS,
            &iov as *const libc::iovec,
            1 as libc::c_long,
        )
    };
    let reg_err = std::io::Error::last_os_error();
    // SAFETY: fd is a descriptor we own.
    unsafe { libc::close(fd as libc::c_int) };
    drop(mem);
    if reg < 0 {
        let reason = match reg_err.raw_os_error() {
            Some(libc::ENOMEM) | Some(libc::EPERM) => format!(
                "io_uring could not lock {} KiB of memory ({reg_err}): the memlock limit \
                 (ulimit -l) is too low",
                crate::defaults::GLOMMIO_IO_MEMORY / 1024
            ),
            _ => format!("io_uring_register failed: {reg_err}"),
        };
        return Err(UringUnavailable { reason });
    }
    Ok(())
}
