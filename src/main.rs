//! `nats-server`: the nats-tpc binary. Command line, logging, signals and wiring; the
//! engine is the `shards` crate.
//!
//! # Layout
//! - `cli.rs`: Go-style flags on top of clap.
//! - `logging.rs`: nats-server's log line format.
//! - `signals.rs`: SIGINT/SIGTERM/... on the main thread.

mod cli;
mod logging;
mod signals;

use std::process::exit;

use clap::ArgMatches;
use log::info;
use shards::options::Options;

fn flag_bool(m: &ArgMatches, id: &str) -> Option<bool> {
    m.get_one::<bool>(id).copied()
}

fn flag_str<'a>(m: &'a ArgMatches, id: &str) -> Option<&'a String> {
    m.get_one::<String>(id)
}

/// Builds the options from the flags (the config file comes first, then flags override).
fn options(m: &ArgMatches) -> Result<(Options, logging::LogOptions), String> {
    let mut o = Options::default();
    let mut lo = logging::LogOptions {
        debug: false,
        trace: false,
        logtime: true,
        utc: false,
        file: None,
    };
    if let Some(c) = flag_str(m, "config") {
        return Err(format!(
            "configuration file {c}: config files are not supported by this build yet"
        ));
    }
    if let Some(a) = flag_str(m, "addr") {
        o.host = a.clone();
    }
    if let Some(p) = flag_str(m, "port") {
        o.port = p
            .parse::<i32>()
            .map_err(|_| format!("invalid value \"{p}\" for flag -port: parse error"))?;
    }
    if let Some(n) = flag_str(m, "server_name") {
        o.server_name = Some(n.clone());
    }
    if let Some(s) = flag_str(m, "shards") {
        o.shards = s
            .parse::<usize>()
            .map_err(|_| format!("invalid value \"{s}\" for flag -shards: parse error"))?;
    }
    if let Some(b) = flag_bool(m, "debug") {
        lo.debug = b;
    }
    if let Some(b) = flag_bool(m, "trace") {
        lo.trace = b;
    }
    for id in ["dv", "dvv"] {
        if let Some(b) = flag_bool(m, id) {
            lo.debug = b;
            lo.trace = b;
        }
    }
    if let Some(b) = flag_bool(m, "vv") {
        lo.trace = b;
    }
    if let Some(b) = flag_bool(m, "logtime") {
        lo.logtime = b;
    }
    if let Some(b) = flag_bool(m, "logtime_utc") {
        lo.utc = b;
    }
    if let Some(f) = flag_str(m, "log") {
        lo.file = Some(f.clone());
    }
    o.debug = lo.debug;
    o.trace = lo.trace;
    Ok((o, lo))
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
    let (opts, log_opts) = match options(&m) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("nats-server: {e}");
            exit(1);
        }
    };
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
    info!("  Name:     {}", running.server_name);
    info!("  ID:       {}", running.server_id);
    info!(
        "Listening for client connections on {}",
        if host.contains(':') {
            format!("[{}]:{}", host, running.client_addr.port())
        } else {
            format!("{}:{}", host, running.client_addr.port())
        }
    );
    info!("Server is ready");
    log::debug!("Running {} shards", running.shards);
    let code = signals::wait();
    info!("Initiating Shutdown...");
    info!("Server Exiting..");
    exit(code);
}
