//! `nats-server`: the nats-tpc binary. Command line, logging, signals and wiring; the
//! engine is the `shards` crate.
//!
//! # Layout
//! - `cli.rs`: Go-style flags on top of clap.
//! - `logging.rs`: nats-server's log line format.
//! - `signals.rs`: SIGINT/SIGTERM/... on the main thread.
//! - `config/`: the config file grammar and keys.
//! - `wiring.rs`: config file + flags -> engine options.
//! - `process.rs`: `-t`, `-sl`, the pid file and the ports file.
//! - `digest.rs`: the config digest nats-server prints (`sha256:...`).

mod cli;
mod config;
mod digest;
mod logging;
mod process;
mod signals;
mod wiring;

use std::process::exit;

use log::info;

fn host_port_str(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

fn main() {
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
    };
    if let Some(code) = process::run_and_exit(&m) {
        exit(code);
    }
    let wiring::Resolved {
        opts,
        log: log_opts,
        warnings,
        config_file,
        process: proc_opts,
    } = match wiring::resolve(&m) {
        Ok(r) => r,
        Err(errors) => {
            // nats-server prefixes only the first line (warnings first, then errors).
            eprintln!("nats-server: {}", errors.join("\n"));
            exit(1);
        }
    };
    // nats-server prints config warnings raw to stderr, before its first log line.
    for w in &warnings {
        eprintln!("{w}");
    }
    if let Err(e) = logging::init(&log_opts) {
        eprintln!("nats-server: unable to open log file: {e}");
        exit(1);
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
    let host = opts.host.clone();
    let running = match shards::server::start(opts) {
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
    if let Some(f) = &config_file {
        info!(
            "Using configuration file: {f} {}",
            process::digest_suffix(f)
        );
    }
    if let Some(p) = proc_opts.pid_file.as_deref().filter(|p| !p.is_empty()) {
        if let Err(e) = process::write_pid_file(p) {
            logging::fatal(&format!("Could not write pidfile: {e}"));
            exit(1);
        }
    }
    if let Some(m) = running.monitor_addr {
        info!("Starting http monitor on {}", host_port_str(&m));
    }
    info!(
        "Listening for client connections on {}",
        if host.contains(':') {
            format!("[{}]:{}", host, running.client_addr.port())
        } else {
            format!("{}:{}", host, running.client_addr.port())
        }
    );
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
    }
    let ports_file = process::PortsFile::write(
        &proc_opts,
        running.client_addr,
        running.monitor_addr,
        running.route_addr,
    );
    log::debug!("Running {} shards", running.shards);
    let code = signals::wait();
    info!("Initiating Shutdown...");
    if let Some(p) = ports_file {
        p.remove();
    }
    info!("Server Exiting..");
    exit(code);
}
