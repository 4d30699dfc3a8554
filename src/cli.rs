//! The command line, with Go `flag` semantics on top of clap.
//!
//! nats-server's flags follow Go's `flag` package: `-x` and `--x` are the same flag, values
//! come as `-x v` or `-x=v`, booleans only as `-D` or `-D=false`, and multi-letter short
//! flags (`-DV`, `-ms`, `-sl`) are single flags, not bundles. clap alone would read
//! `-port 4222` as `-p ort`, so [`normalize`] first rewrites every Go-style flag to clap's
//! `--canonical=value` form using the table below, and clap then validates and stores.

use clap::{Arg, ArgAction, ArgMatches, Command};

/// How a flag takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
    /// A Go `IntVar`/`Int64Var`: checked here with Go's parser and error text.
    Int,
}

/// Whether nats-tpc implements a flag yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Support {
    Yes,
    /// Known nats-server flag of a feature nats-tpc does not have yet: refused with a clear
    /// message rather than silently accepted.
    NotYet,
}

struct Flag {
    names: &'static [&'static str],
    id: &'static str,
    kind: Kind,
    support: Support,
}

const fn f(names: &'static [&'static str], id: &'static str, kind: Kind, support: Support) -> Flag {
    Flag {
        names,
        id,
        kind,
        support,
    }
}

use Kind::{Bool, Int, Value};
use Support::{NotYet, Yes};

/// Every nats-server flag, by all its names (spec §3), plus our `--shards`.
const FLAGS: &[Flag] = &[
    f(&["a", "addr", "net"], "addr", Value, Yes),
    f(&["p", "port"], "port", Int, Yes),
    f(&["n", "name", "server_name"], "server_name", Value, Yes),
    f(&["c", "config"], "config", Value, Yes),
    f(&["shards"], "shards", Int, Yes),
    f(&["D", "debug"], "debug", Bool, Yes),
    f(&["V", "trace"], "trace", Bool, Yes),
    f(&["VV"], "vv", Bool, Yes),
    f(&["DV"], "dv", Bool, Yes),
    f(&["DVV"], "dvv", Bool, Yes),
    f(&["T", "logtime"], "logtime", Bool, Yes),
    f(&["logtime_utc"], "logtime_utc", Bool, Yes),
    f(&["l", "log"], "log", Value, Yes),
    f(&["h", "help"], "help", Bool, Yes),
    f(&["v", "version"], "version", Bool, Yes),
    f(&["P", "pid"], "pid", Value, Yes),
    f(&["m", "http_port"], "http_port", Int, Yes),
    f(&["ms", "https_port"], "https_port", Int, Yes),
    f(&["t"], "test_config", Bool, Yes),
    f(&["sl", "signal"], "signal", Value, Yes),
    f(&["client_advertise"], "client_advertise", Value, Yes),
    f(&["ports_file_dir"], "ports_file_dir", Value, Yes),
    f(&["s", "syslog"], "syslog", Bool, Yes),
    f(&["r", "remote_syslog"], "remote_syslog", Value, Yes),
    f(&["log_size_limit"], "log_size_limit", Int, Yes),
    f(&["max_traced_msg_len"], "max_traced_msg_len", Int, Yes),
    f(&["js", "jetstream"], "jetstream", Bool, NotYet),
    f(&["sd", "store_dir"], "store_dir", Value, NotYet),
    f(&["user"], "user", Value, Yes),
    f(&["pass"], "pass", Value, Yes),
    f(&["auth"], "auth", Value, Yes),
    f(&["tls"], "tls", Bool, Yes),
    f(&["tlscert"], "tlscert", Value, Yes),
    f(&["tlskey"], "tlskey", Value, Yes),
    f(&["tlsverify"], "tlsverify", Bool, Yes),
    f(&["tlscacert"], "tlscacert", Value, Yes),
    f(&["routes"], "routes", Value, Yes),
    f(&["cluster", "cluster_listen"], "cluster", Value, Yes),
    f(&["cluster_name"], "cluster_name", Value, Yes),
    f(&["no_advertise"], "no_advertise", Bool, Yes),
    f(&["cluster_advertise"], "cluster_advertise", Value, Yes),
    f(&["connect_retries"], "connect_retries", Int, Yes),
    f(&["profile"], "profile", Int, NotYet),
    f(&["help_tls"], "help_tls", Bool, Yes),
];

/// The usage text printed by `-h` (nats-server's layout; flags nats-tpc implements).
pub const USAGE: &str = "
Usage: nats-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/nats-server.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).
        --shards <n>                 Number of shards, one pinned core each (default: one per usable CPU)

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog or windows event log
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
";

/// What the command line asks for.
pub enum Cli {
    /// Run the server with these flags.
    Run(ArgMatches),
    /// Print this to stdout and exit 0 (`-h`, `-v`, Go's usage-on-error).
    Print(String),
    /// Print this to stderr and exit 1.
    Fail(String),
    /// A flag error as Go's `flag` package reports it: this line to stderr, then the usage
    /// text to stdout, and exit 0 (nats-server's usage function exits 0).
    Usage(String),
}

fn command() -> Command {
    let mut cmd = Command::new("nats-server")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        // Go's flag package lets a later flag override an earlier one.
        .args_override_self(true);
    for fl in FLAGS {
        let arg = Arg::new(fl.id).long(fl.id).require_equals(true);
        let arg = match fl.kind {
            Bool => arg
                .action(ArgAction::Set)
                .num_args(0..=1)
                .default_missing_value("true")
                .value_parser(clap::value_parser!(bool)),
            Value | Int => arg
                .action(ArgAction::Set)
                .num_args(1)
                .allow_hyphen_values(true),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|fl| fl.names.contains(&name))
}

/// Rewrites Go-style arguments into clap's `--id=value` form.
fn normalize(args: &[String]) -> Result<Vec<String>, Cli> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            // Go stops at the first non-flag argument.
            return match a.as_str() {
                "version" => Err(Cli::Print(version_line())),
                "help" => Err(Cli::Print(format!("{USAGE}\n"))),
                _ => Err(Cli::Fail(format!(
                    "nats-server: unrecognized command: \"{a}\""
                ))),
            };
        };
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(Cli::Usage(format!("bad flag syntax: {a}")));
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(fl) = lookup(name) else {
            return Err(Cli::Usage(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        if fl.support == NotYet {
            return Err(Cli::Fail(format!(
                "nats-server: flag -{name} is not supported by nats-tpc yet"
            )));
        }
        let value = match (fl.kind, value) {
            (Bool, Some(v)) => match go_parse_bool(&v) {
                Some(b) => b.to_string(),
                None => {
                    return Err(Cli::Usage(format!(
                        "invalid boolean value \"{v}\" for -{name}: parse error"
                    )))
                }
            },
            (_, Some(v)) => v,
            (Bool, None) => "true".to_string(),
            (Value | Int, None) => {
                if i >= args.len() {
                    return Err(Cli::Usage(format!("flag needs an argument: -{name}")));
                }
                i += 1;
                args[i - 1].clone()
            }
        };
        if fl.kind == Int {
            if let Err(why) = go_parse_int(&value) {
                return Err(Cli::Usage(format!(
                    "invalid value \"{value}\" for flag -{name}: {why}"
                )));
            }
        }
        out.push(format!("--{}={}", fl.id, value));
    }
    if i < args.len() {
        let rest = &args[i];
        return Err(Cli::Fail(format!(
            "nats-server: unrecognized command: \"{rest}\""
        )));
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x`, `0o`, `0b` or
/// leading-`0` octal digits, with `_` allowed between digits. The error is Go's wording.
pub fn go_parse_int(v: &str) -> Result<i64, &'static str> {
    const SYNTAX: &str = "parse error";
    let (neg, body) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if body.contains('_') && !underscore_ok(body) {
        return Err(SYNTAX);
    }
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(SYNTAX);
    }
    let mag = u128::from_str_radix(digits, radix).map_err(|_| "value out of range")?;
    let mag = i128::try_from(mag).map_err(|_| "value out of range")?;
    i64::try_from(if neg { -mag } else { mag }).map_err(|_| "value out of range")
}

/// Go's `underscoreOK`: each `_` follows a digit (or the base prefix) and precedes one.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `nats-server: v<version>`.
pub fn version_line() -> String {
    format!("nats-server: v{}\n", shards::defaults::VERSION)
}

/// Parses the command line (without the program name).
pub fn parse(args: &[String]) -> Cli {
    let norm = match normalize(args) {
        Ok(n) => n,
        Err(c) => return c,
    };
    match command().try_get_matches_from(norm) {
        Ok(m) => {
            // nats-server's order: -v wins over -h, which wins over --help_tls.
            if m.get_one::<bool>("version").copied().unwrap_or(false) {
                Cli::Print(version_line())
            } else if m.get_one::<bool>("help").copied().unwrap_or(false) {
                Cli::Print(format!("{USAGE}\n"))
            } else if m.get_one::<bool>("help_tls").copied().unwrap_or(false) {
                Cli::Print(crate::help_tls::text())
            } else {
                Cli::Run(m)
            }
        }
        Err(e) => {
            // clap's own wording for a bad value, in Go's shape.
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            Cli::Usage(format!("invalid value: {first}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_ints_parse_as_go_strconv() {
        let ok = [
            ("0", 0),
            ("42", 42),
            ("-7", -7),
            ("+7", 7),
            ("0x1F", 31),
            ("0o17", 15),
            ("017", 15),
            ("0b101", 5),
            ("1_000", 1000),
            ("0x_ff", 255),
        ];
        for (s, want) in ok {
            assert_eq!(go_parse_int(s), Ok(want), "{s}");
        }
        for s in ["", "-", "abc", "1.5", "08", "1__0", "_1", "1_", "0x", "1e3"] {
            assert_eq!(go_parse_int(s), Err("parse error"), "{s}");
        }
        assert_eq!(
            go_parse_int("9223372036854775808"),
            Err("value out of range")
        );
        assert_eq!(go_parse_int("-9223372036854775808"), Ok(i64::MIN));
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn run(s: &str) -> ArgMatches {
        match parse(&args(s)) {
            Cli::Run(m) => m,
            _ => panic!("expected run for {s}"),
        }
    }

    #[test]
    fn go_flag_forms() {
        let m = run("-port 4333 -DV --addr=127.0.0.1");
        assert_eq!(m.get_one::<String>("port").unwrap(), "4333");
        assert_eq!(m.get_one::<bool>("dv"), Some(&true));
        assert_eq!(m.get_one::<String>("addr").unwrap(), "127.0.0.1");
        let m = run("-p=-1 -D=false");
        assert_eq!(m.get_one::<String>("port").unwrap(), "-1");
        assert_eq!(m.get_one::<bool>("debug"), Some(&false));
    }

    #[test]
    fn unknown_flag_prints_usage_and_positional_fails() {
        assert!(
            matches!(parse(&args("-x")), Cli::Usage(s) if s == "flag provided but not defined: -x")
        );
        assert!(
            matches!(parse(&args("foo")), Cli::Fail(s) if s.contains("unrecognized command: \"foo\""))
        );
        assert!(matches!(parse(&args("-v")), Cli::Print(s) if s.starts_with("nats-server: v2.")));
        assert!(matches!(parse(&args("version")), Cli::Print(_)));
    }

    #[test]
    fn bad_int_and_bool_values_are_go_flag_errors() {
        let usage = |a: &str| match parse(&args(a)) {
            Cli::Usage(s) => s,
            _ => panic!("{a}: not a usage error"),
        };
        assert_eq!(
            usage("-p abc"),
            "invalid value \"abc\" for flag -p: parse error"
        );
        assert_eq!(
            usage("--shards=1e3"),
            "invalid value \"1e3\" for flag -shards: parse error"
        );
        assert_eq!(
            usage("-D=yes"),
            "invalid boolean value \"yes\" for -D: parse error"
        );
        let m = run("-D=F -p 0x10 -V=1");
        assert_eq!(m.get_one::<bool>("debug"), Some(&false));
        assert_eq!(m.get_one::<bool>("trace"), Some(&true));
        assert_eq!(m.get_one::<String>("port").unwrap(), "0x10");
    }
}
