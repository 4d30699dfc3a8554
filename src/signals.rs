//! Signals, handled on the main thread with `sigwait` (spec §9, D-03).
//!
//! The signals are blocked before any executor thread starts, so every thread inherits the
//! mask and only the main thread's `sigwait` sees them. As PID 1 in a container a process
//! gets no default dispositions, so each signal we care about is handled explicitly.

use log::info;

const HANDLED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGQUIT,
];

fn set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write the set.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for &sig in HANDLED {
            libc::sigaddset(&mut s, sig);
        }
        s
    }
}

/// Blocks the handled signals for this thread and every thread it starts later.
pub fn block() {
    let s = set();
    // SAFETY: changes only this thread's signal mask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &s, std::ptr::null_mut());
    }
}

/// Waits for signals until one asks the process to exit; returns the exit code.
pub fn wait() -> i32 {
    let s = set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait writes only `sig`.
        if unsafe { libc::sigwait(&s, &mut sig) } != 0 {
            continue;
        }
        match sig {
            libc::SIGINT => {
                info!("Trapped \"interrupt\" signal");
                return 0;
            }
            libc::SIGTERM => {
                info!("Trapped \"terminated\" signal");
                return 0;
            }
            libc::SIGQUIT => {
                // Go's runtime dumps goroutines and exits 2 on SIGQUIT.
                info!("Trapped \"quit\" signal");
                return 2;
            }
            libc::SIGHUP => info!("Trapped \"hangup\" signal"),
            libc::SIGUSR1 => {
                info!("Trapped \"user defined signal 1\" signal");
                crate::logging::reopen();
            }
            libc::SIGUSR2 => info!("Trapped \"user defined signal 2\" signal"),
            _ => {}
        }
    }
}
