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

/// A signal the server acts on.
pub enum Signal {
    Interrupt,
    Terminate,
    Quit,
    Hangup,
    User1,
    User2,
}

/// Waits for the next handled signal and logs it as nats-server does
/// (`Trapped "<name>" signal`).
pub fn next() -> Signal {
    let s = set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait writes only `sig`.
        if unsafe { libc::sigwait(&s, &mut sig) } != 0 {
            continue;
        }
        let (name, signal) = match sig {
            libc::SIGINT => ("interrupt", Signal::Interrupt),
            libc::SIGTERM => ("terminated", Signal::Terminate),
            libc::SIGQUIT => ("quit", Signal::Quit),
            libc::SIGHUP => ("hangup", Signal::Hangup),
            libc::SIGUSR1 => ("user defined signal 1", Signal::User1),
            libc::SIGUSR2 => ("user defined signal 2", Signal::User2),
            _ => continue,
        };
        info!("Trapped \"{name}\" signal");
        return signal;
    }
}
