//! `nats-server`: the nats-tpc binary. Command line, logging, signals and wiring; the
//! engine is the `shards` crate.
//!
//! # Layout
//! - `cli.rs`: Go-style flags on top of clap; `help_tls.rs` the `--help_tls` text.
//! - `logging/`: nats-server's log line format, the log file and its rotation, syslog.
//! - `signals.rs`: SIGINT/SIGTERM/... on the main thread.
//! - `config/`: the config file grammar and keys.
//! - `wiring.rs`: config file + flags -> engine options.
//! - `process.rs`: `-t`, `-sl`, the pid file and the ports file.
//! - `digest.rs`: the config digest nats-server prints (`sha256:...`).
//! - `memory.rs`: malloc settings (keep freed buffers instead of re-faulting them).

mod cli;
mod config;
mod digest;
mod help_tls;
mod logging;
mod memory;
mod process;
mod reload;
mod signals;
mod wiring;

use std::process::exit;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::info;

fn host_port_str(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

fn main() {
    memory::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let m = match cli::parse(&args) {
        cli::Cli::Run(m) => m,
        cli::Cli::Print(s) => {
            print!("{s}");
            exit(0);
        }
        cli::Cli::Fail(s) => {
            eprintln!("{s}");
            exit(1);
        }
        cli::Cli::Usage(err) => {
            eprintln!("{err}");
            println!("{}", cli::USAGE);
            exit(0);
        }
    };
    if let Some(code) = process::run_and_exit(&m) {
        exit(code);
    }
    let resolved = match wiring::resolve(&m) {
        Ok(r) => r,
        Err(errors) => {
            // nats-server prefixes only the first line (warnings first, then errors).
            eprintln!("nats-server: {}", errors.join("\n"));
            exit(1);
        }
    };
    // nats-server prints config warnings raw to stderr, before its first log line.
    for w in &resolved.warnings {
        eprintln!("{w}");
    }
    if let Err(e) = logging::init(&resolved.log) {
        logging::exit_go_fatal(&e);
    }
    // A panicking shard would leave its connections dead while the process lives on: a
    // panic anywhere ends the server, loudly.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        logging::fatal(&format!("internal error: {info}"));
        default_hook(info);
        std::process::abort();
    }));
    // Before any thread exists, so all of them inherit the blocked mask.
    signals::block();

    info!("Starting nats-server");
    info!("  Version:  {}", shards::defaults::VERSION);
    info!("  Git:      [not set]");
    let host = resolved.opts.host.clone();
    let plain_passwords = resolved
        .opts
        .auth
        .as_ref()
        .is_some_and(|a| a.has_plain_passwords());
    let tls_mode = resolved.opts.tls.as_ref().map(|t| {
        // "TLS Handshake First" without a fallback delay overrides allow_non_tls.
        let first_only = t.handshake_first && t.handshake_first_fallback.is_none();
        (resolved.opts.allow_non_tls && !first_only, first_only)
    });
    let running = match shards::server::start(resolved.opts.clone()) {
        Ok(r) => r,
        Err(e) => {
            logging::fatal(&e.to_string());
            exit(1);
        }
    };
    if let Some((name, _)) = &running.cluster {
        info!("  Cluster:  {name}");
    }
    info!("  Name:     {}", running.server_name);
    info!("  ID:       {}", running.server_id);
    if let Some(f) = &resolved.config_file {
        info!(
            "Using configuration file: {f} {}",
            process::digest_suffix(f)
        );
    }
    if plain_passwords {
        log::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some(p) = resolved
        .process
        .pid_file
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if let Err(e) = process::write_pid_file(p) {
            logging::fatal(&format!("Could not write pidfile: {e}"));
            exit(1);
        }
    }
    if let Some(m) = running.monitor_addr {
        let scheme = if running.monitor_https {
            "https"
        } else {
            "http"
        };
        info!("Starting {scheme} monitor on {}", host_port_str(&m));
    }
    info!(
        "Listening for client connections on {}",
        if host.contains(':') {
            format!("[{}]:{}", host, running.client_addr.port())
        } else {
            format!("{}:{}", host, running.client_addr.port())
        }
    );
    if let Some((available, first_only)) = tls_mode {
        if available {
            info!("TLS available for client connections");
        } else {
            info!("TLS required for client connections");
        }
        if first_only {
            log::warn!(
                "Clients that are not using \"TLS Handshake First\" option will fail to connect"
            );
        }
    }
    info!("Server is ready");
    if let (Some((name, dynamic)), Some(addr)) = (&running.cluster, running.route_addr) {
        info!("Cluster name is {name}");
        if *dynamic {
            log::warn!("Cluster name was dynamically generated, consider setting one");
        }
        info!(
            "Listening for route connections on {}",
            host_port_str(&addr)
        );
        let insecure = resolved
            .opts
            .cluster
            .as_ref()
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| t.insecure);
        if insecure {
            log::warn!("TLS certificate chain and hostname of solicited routes will not be verified. DO NOT USE IN PRODUCTION!");
        }
    }
    let schemes = process::Schemes {
        tls: tls_mode.is_some_and(|(available, _)| !available),
        https: running.monitor_https,
    };
    let ports_file = process::PortsFile::write(
        &resolved.process,
        running.client_addr,
        running.monitor_addr,
        schemes,
        running.route_addr,
    );
    *PORTS_FILE.lock().unwrap_or_else(|e| e.into_inner()) = ports_file;
    let _ = SCHEMES.set(schemes);
    log::debug!("Running {} shards", running.shards);
    serve_signals(&m, resolved, Arc::new(running));
}

/// The ports file, removed by whichever thread ends the process.
static PORTS_FILE: Mutex<Option<process::PortsFile>> = Mutex::new(None);

/// The URL schemes the ports file uses, for rewriting it after a reload.
static SCHEMES: std::sync::OnceLock<process::Schemes> = std::sync::OnceLock::new();

/// Ends the process as nats-server's `Shutdown` does, from any thread.
fn shutdown(code: i32) -> ! {
    info!("Initiating Shutdown...");
    if let Some(p) = PORTS_FILE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        p.remove();
    }
    info!("Server Exiting..");
    exit(code);
}

/// The main thread's life after start-up: signals (spec §9).
fn serve_signals(
    m: &clap::ArgMatches,
    mut current: wiring::Resolved,
    running: Arc<shards::server::Running>,
) -> ! {
    let mut lame_duck = false;
    loop {
        match signals::next() {
            signals::Signal::Interrupt => shutdown(0),
            // In lame duck mode the server ends by itself; SIGTERM must not cut it short.
            signals::Signal::Terminate if lame_duck => {}
            signals::Signal::Terminate => shutdown(0),
            // Go's runtime dumps goroutines and exits 2 on SIGQUIT.
            signals::Signal::Quit => shutdown(2),
            signals::Signal::User1 => logging::reopen(),
            signals::Signal::Hangup => {
                let Some(applied) = reload::reload(m, &mut current, &running) else {
                    continue;
                };
                if applied.pid_file_changed {
                    if let Some(p) = current
                        .process
                        .pid_file
                        .as_deref()
                        .filter(|p| !p.is_empty())
                    {
                        if let Err(e) = process::write_pid_file(p) {
                            log::error!("Failed to reload server configuration: {e}");
                        }
                    }
                }
                if applied.ports_file_dir_changed {
                    let mut pf = PORTS_FILE.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(old) = pf.take() {
                        old.remove();
                    }
                    *pf = process::PortsFile::write(
                        &current.process,
                        running.client_addr,
                        running.monitor_addr,
                        SCHEMES.get().copied().unwrap_or_default(),
                        running.route_addr,
                    );
                }
            }
            signals::Signal::User2 if lame_duck => {}
            signals::Signal::User2 => {
                lame_duck = true;
                let running = running.clone();
                let po = current.process.clone();
                std::thread::spawn(move || lame_duck_mode(&running, &po));
            }
        }
    }
}

/// Lame duck mode (spec AI-02, nats-server's `lameDuckMode`): stop accepting, tell the
/// clients, wait the grace period, close the clients spread over the rest of
/// `lame_duck_duration`, then exit 0.
fn lame_duck_mode(running: &shards::server::Running, po: &process::ProcessOptions) -> ! {
    info!("Entering lame duck mode, stop accepting new clients");
    running.enter_lame_duck(Duration::from_secs(5));
    if running.num_clients() == 0 {
        shutdown(0);
    }
    let grace = po.lame_duck_grace_period;
    let over = po
        .lame_duck_duration
        .checked_sub(grace)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(1));
    std::thread::sleep(grace);
    info!("Closing existing clients");
    running.close_clients_over(over);
    // Each shard closes its own clients; the last close ends lame duck mode.
    let until = Instant::now() + over + Duration::from_secs(5);
    while running.num_clients() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    shutdown(0);
}
