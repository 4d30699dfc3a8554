//! From the value tree to [`ConfigOptions`]: the top-level keys of spec §4.2,
//! checked the way nats-server's `opts.go` (`processConfigFileLine`) checks
//! them, with its messages. Keys for features nats-tpc does not have yet are
//! refused with a message that names the feature, never ignored.

use std::path::Path;
use std::time::Duration;

use shards::monitor::format::go_duration_ns;
use shards::options::WritePolicy;

use super::auth::{self, AuthorizationConfig};
use super::cluster::{self, ClusterConfig};
use super::gofmt::{go_quote, parse_duration};
use super::parser::{self, Item, Map, Pos, Value};
use super::tls::{self, TlsConfig};

/// Every option a config file can set for a single nats-tpc server. `None`
/// means the file did not set it, so the caller applies its default (and
/// command-line flags still override what is set here).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigOptions {
    /// `host`, `net`, or the host part of `listen`.
    pub host: Option<String>,
    /// `port`, or the port part of `listen` (-1 = random).
    pub port: Option<i64>,
    pub client_advertise: Option<String>,
    pub server_name: Option<String>,
    /// Host of `http`/`https` when given as `host:port`; otherwise the
    /// monitor listens on `host`.
    pub http_host: Option<String>,
    /// `http_port`, `monitor_port`, or the port of `http`.
    pub http_port: Option<i64>,
    /// `https_port`, or the port of `https`.
    pub https_port: Option<i64>,
    pub http_base_path: Option<String>,
    pub max_payload: Option<i32>,
    pub max_control_line: Option<i32>,
    pub max_pending: Option<i64>,
    /// `max_connections`/`max_conn` as written; 0 means reject all clients.
    pub max_connections: Option<i64>,
    /// `max_subscriptions`/`max_subs`; 0 means unlimited.
    pub max_subscriptions: Option<i64>,
    /// `max_sub_tokens`/`max_subscription_tokens`, 1..=255.
    pub max_sub_tokens: Option<u8>,
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<i64>,
    pub write_deadline: Option<Duration>,
    pub write_timeout: Option<WritePolicy>,
    pub debug: Option<bool>,
    /// `trace`; `trace_verbose: true` and `trace_headers: true` set it too.
    pub trace: Option<bool>,
    pub trace_verbose: Option<bool>,
    pub trace_headers: Option<bool>,
    pub logtime: Option<bool>,
    pub logtime_utc: Option<bool>,
    pub syslog: Option<bool>,
    pub remote_syslog: Option<String>,
    /// `log_file`/`logfile`.
    pub log_file: Option<String>,
    /// `log_size_limit`/`logfile_size_limit`, bytes.
    pub log_size_limit: Option<i64>,
    /// `log_max_num`/`logfile_max_num`.
    pub log_max_num: Option<i64>,
    /// `pid_file`/`pidfile`.
    pub pid_file: Option<String>,
    pub ports_file_dir: Option<String>,
    pub no_header_support: Option<bool>,
    pub max_closed_clients: Option<i64>,
    /// At least 30 s.
    pub lame_duck_duration: Option<Duration>,
    pub lame_duck_grace_period: Option<Duration>,
    /// nats-tpc's own key: the number of shards (0 = one per usable CPU).
    pub shards: Option<usize>,
    /// The `authorization {}` block (§4.3).
    pub authorization: Option<AuthorizationConfig>,
    pub no_auth_user: Option<String>,
    /// The `cluster {}` block (§4.4).
    pub cluster: Option<ClusterConfig>,
    /// The client `tls {}` block (§4.6).
    pub tls: Option<TlsConfig>,
    pub allow_non_tls: Option<bool>,
    /// `system_account`/`system`.
    pub system_account: Option<String>,
    /// `no_system_account`/`no_system`/`no_sys_acc`.
    pub no_system_account: Option<bool>,
    /// Only ever `Some(false)`: an enabled JetStream is refused.
    pub jetstream: Option<bool>,
    /// `store_dir`/`storedir` (JetStream's directory; unused while disabled).
    pub store_dir: Option<String>,
    pub max_traced_msg_len: Option<i64>,
    pub prof_port: Option<i64>,
    pub prof_block_rate: Option<i64>,
    pub connect_error_reports: Option<i64>,
    pub reconnect_error_reports: Option<i64>,
    /// `disable_sublist_cache`/`no_sublist_cache`.
    pub no_sublist_cache: Option<bool>,
    pub no_fast_producer_stall: Option<bool>,
    pub server_tags: Option<Vec<String>>,
    pub server_metadata: Option<Vec<(String, String)>>,
    pub feature_flags: Option<Vec<(String, bool)>>,
}

/// Reads, parses and checks the config file at `path`.
///
/// `Ok` carries the options and the warnings (each a full line such as
/// `a.conf:6:1: invalid use of field "ping_interval": ...`). nats-server
/// prints warnings to stderr and starts anyway, but with `-t` it prints them
/// after `nats-server: ` and exits 1. `Err` carries every line to print,
/// warnings first and then errors; nats-server writes `nats-server: ` once,
/// in front of the first line, and exits 1.
pub fn load(path: &Path) -> Result<(ConfigOptions, Vec<String>), Vec<String>> {
    let map = parser::parse_file(path).map_err(|e| vec![e])?;
    let (opts, report) = apply(&map, &path.to_string_lossy());
    if report.errors.is_empty() {
        Ok((opts, report.warnings))
    } else {
        let mut all = report.warnings;
        all.extend(report.errors);
        Err(all)
    }
}

/// Collected warnings and errors, each already formatted.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Report {
    /// `file:line:col: reason`.
    pub(crate) fn err(&mut self, pos: &Pos, reason: impl std::fmt::Display) {
        self.errors.push(format!("{pos}: {reason}"));
    }

    pub(crate) fn warn(&mut self, pos: &Pos, reason: impl std::fmt::Display) {
        self.warnings.push(format!("{pos}: {reason}"));
    }

    /// nats-server's `configWarningErr`.
    pub(crate) fn invalid_use(&mut self, it: &Item, field: &str, reason: &str) {
        self.warnings.push(format!(
            "{}: invalid use of field {}: {}",
            it.pos,
            go_quote(field),
            reason
        ));
    }

    /// `unknown field "x"`, unless a variable referred to the entry.
    pub(crate) fn unknown(&mut self, key: &str, it: &Item) {
        if !it.used_variable {
            self.errors
                .push(format!("{}: unknown field {}", it.pos, go_quote(key)));
        }
    }

    /// A key of a feature nats-tpc does not implement.
    pub(crate) fn unsupported(&mut self, key: &str, it: &Item) {
        self.errors.push(format!(
            "{}: {} is not supported by nats-tpc yet",
            it.pos,
            go_quote(key)
        ));
    }

    /// nats-server's message for a value of the wrong type (a Go type
    /// assertion that failed).
    pub(crate) fn wrong_type(&mut self, it: &Item, want: &str) {
        self.err(
            &it.pos,
            format_args!(
                "interface conversion: interface {{}} is {}, not {}",
                it.value.go_type(),
                want
            ),
        );
    }

    pub(crate) fn str<'a>(&mut self, it: &'a Item) -> Option<&'a str> {
        match &it.value {
            Value::String(s) => Some(s),
            _ => {
                self.wrong_type(it, "string");
                None
            }
        }
    }

    pub(crate) fn int(&mut self, it: &Item) -> Option<i64> {
        match it.value {
            Value::Int(n) => Some(n),
            _ => {
                self.wrong_type(it, "int64");
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, it: &Item) -> Option<bool> {
        match it.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(it, "bool");
                None
            }
        }
    }

    pub(crate) fn map<'a>(&mut self, it: &'a Item) -> Option<&'a Map> {
        match &it.value {
            Value::Map(m) => Some(m),
            _ => {
                self.wrong_type(it, "map[string]interface {}");
                None
            }
        }
    }

    pub(crate) fn array<'a>(&mut self, it: &'a Item) -> Option<&'a [Item]> {
        match &it.value {
            Value::Array(a) => Some(a),
            _ => {
                self.wrong_type(it, "[]interface {}");
                None
            }
        }
    }

    /// A Go-syntax duration string, or (with a warning, CF-07) an integer
    /// number of seconds.
    pub(crate) fn duration(&mut self, field: &str, it: &Item) -> Option<Duration> {
        let nanos = match &it.value {
            Value::String(s) => match parse_duration(s) {
                Ok(n) => n,
                Err(e) => {
                    self.err(&it.pos, format_args!("error parsing {field}: {e}"));
                    return None;
                }
            },
            Value::Int(secs) => {
                self.invalid_use(
                    it,
                    field,
                    &format!("{field} should be converted to a duration"),
                );
                secs.saturating_mul(1_000_000_000)
            }
            _ => {
                // nats-server warns first, then fails to read an integer.
                self.invalid_use(
                    it,
                    field,
                    &format!("{field} should be converted to a duration"),
                );
                self.wrong_type(it, "int64");
                return None;
            }
        };
        self.non_negative(field, it, nanos)
    }

    /// nats-tpc refuses negative durations, which nats-server takes as is.
    pub(crate) fn non_negative(&mut self, field: &str, it: &Item, nanos: i64) -> Option<Duration> {
        if nanos < 0 {
            self.err(
                &it.pos,
                format_args!(
                    "invalid {field} of {}, needs to be positive",
                    go_duration_ns(nanos)
                ),
            );
            return None;
        }
        Some(Duration::from_nanos(nanos as u64))
    }

    pub(crate) fn write_timeout(&mut self, it: &Item) -> Option<WritePolicy> {
        match self.str(it)? {
            "default" => Some(WritePolicy::Default),
            "close" => Some(WritePolicy::Close),
            "retry" => Some(WritePolicy::Retry),
            _ => {
                self.err(
                    &it.pos,
                    "write_timeout must be 'default', 'close' or 'retry'",
                );
                None
            }
        }
    }

    /// A string or an array of strings (nats-server's `parseStringArray`).
    pub(crate) fn string_list(&mut self, field: &str, it: &Item) -> Option<Vec<String>> {
        match &it.value {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for el in a {
                    match &el.value {
                        Value::String(s) => out.push(s.clone()),
                        v => self.err(
                            &el.pos,
                            format_args!(
                                "error parsing {field}: unsupported type in array {}",
                                v.go_type()
                            ),
                        ),
                    }
                }
                Some(out)
            }
            v => {
                self.err(
                    &it.pos,
                    format_args!("error parsing {field}: unsupported type {}", v.go_type()),
                );
                None
            }
        }
    }
}

/// A `listen`-style value: a port, or `host:port`.
pub(crate) fn parse_listen(v: &Value) -> Result<(Option<String>, i64), String> {
    match v {
        Value::Int(p) => Ok((None, *p)),
        Value::String(s) => {
            let Some((host, port)) = split_host_port(s) else {
                return Err(format!("could not parse address string {}", go_quote(s)));
            };
            // Like Go's strconv.Atoi, which takes a leading sign.
            let port: i64 = match port.parse::<i64>() {
                Ok(p) => p,
                Err(_) => return Err(format!("could not parse port {}", go_quote(port))),
            };
            Ok((Some(host.to_string()), port))
        }
        other => Err(format!(
            "expected port or host:port, got {}",
            other.go_type()
        )),
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, port) = (&s[..i], &s[i + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        if inner.contains('[') || inner.contains(']') {
            return None;
        }
        return Some((inner, port));
    }
    if host.contains(':') || host.contains('[') || host.contains(']') || port.contains(']') {
        return None;
    }
    Some((host, port))
}

/// Keys for features nats-tpc does not have; each is refused by name.
const UNSUPPORTED: &[&str] = &[
    "accounts",
    "mappings",
    "maps",
    "gateway",
    "leaf",
    "leafnodes",
    "websocket",
    "ws",
    "mqtt",
    "operator",
    "operators",
    "roots",
    "root",
    "root_operators",
    "root_operator",
    "resolver",
    "account_resolver",
    "accounts_resolver",
    "resolver_tls",
    "resolver_preload",
    "resolver_pinned_accounts",
    "trusted",
    "trusted_keys",
    "default_sentinel",
    "default_js_domain",
    "ocsp",
    "ocsp_cache",
    "proxies",
];

/// Checks every top-level key of `map` (the parsed file `file`).
pub(crate) fn apply(map: &Map, file: &str) -> (ConfigOptions, Report) {
    let mut o = ConfigOptions::default();
    let mut r = Report::default();
    if map.is_empty() {
        r.warnings
            .push(format!("{file}: config has no values or is empty"));
    }
    for e in &map.entries {
        top_level(&mut o, &mut r, &e.key, &e.lower, &e.item);
    }
    (o, r)
}

fn set<T>(slot: &mut Option<T>, v: Option<T>) {
    if v.is_some() {
        *slot = v;
    }
}

fn top_level(o: &mut ConfigOptions, r: &mut Report, key: &str, lower: &str, it: &Item) {
    if UNSUPPORTED.contains(&lower) {
        r.unsupported(key, it);
        return;
    }
    match lower {
        "listen" => match parse_listen(&it.value) {
            Ok((host, port)) => {
                // A bare port leaves the host as it is.
                set(&mut o.host, host);
                o.port = Some(port);
            }
            Err(e) => r.err(&it.pos, e),
        },
        "client_advertise" => set(&mut o.client_advertise, r.str(it).map(String::from)),
        "port" => set(&mut o.port, r.int(it)),
        "server_name" => {
            if let Some(s) = r.str(it) {
                if s.contains(' ') {
                    r.err(&it.pos, "server name cannot contain spaces");
                } else {
                    o.server_name = Some(s.to_string());
                }
            }
        }
        "host" | "net" => set(&mut o.host, r.str(it).map(String::from)),
        "debug" => set(&mut o.debug, r.bool(it)),
        "trace" => set(&mut o.trace, r.bool(it)),
        "trace_verbose" => {
            if let Some(b) = r.bool(it) {
                o.trace_verbose = Some(b);
                o.trace = Some(b);
            }
        }
        "trace_headers" => {
            if let Some(b) = r.bool(it) {
                o.trace_headers = Some(b);
                o.trace = Some(b);
            }
        }
        "logtime" => set(&mut o.logtime, r.bool(it)),
        "logtime_utc" => set(&mut o.logtime_utc, r.bool(it)),
        "disable_sublist_cache" | "no_sublist_cache" => set(&mut o.no_sublist_cache, r.bool(it)),
        "authorization" => {
            if let Some(a) = auth::parse_top_level(it, r) {
                o.authorization = Some(a);
            }
        }
        "http" | "https" => match parse_listen(&it.value) {
            Ok((host, port)) => {
                set(&mut o.http_host, host);
                if lower == "http" {
                    o.http_port = Some(port);
                } else {
                    o.https_port = Some(port);
                }
            }
            Err(e) => r.err(&it.pos, e),
        },
        "http_port" | "monitor_port" => set(&mut o.http_port, r.int(it)),
        "https_port" => set(&mut o.https_port, r.int(it)),
        "http_base_path" => set(&mut o.http_base_path, r.str(it).map(String::from)),
        "cluster" => {
            if let Some(c) = cluster::parse(it, r) {
                o.cluster = Some(c);
            }
        }
        "store_dir" | "storedir" => {
            if o.store_dir.is_some() {
                r.err(&it.pos, "Duplicate 'store_dir' configuration");
            } else {
                set(&mut o.store_dir, r.str(it).map(String::from));
            }
        }
        "jetstream" => jetstream(o, r, key, it),
        "logfile" | "log_file" => set(&mut o.log_file, r.str(it).map(String::from)),
        "logfile_size_limit" | "log_size_limit" => set(&mut o.log_size_limit, r.int(it)),
        "logfile_max_num" | "log_max_num" => set(&mut o.log_max_num, r.int(it)),
        "syslog" => set(&mut o.syslog, r.bool(it)),
        "remote_syslog" => set(&mut o.remote_syslog, r.str(it).map(String::from)),
        "pidfile" | "pid_file" => set(&mut o.pid_file, r.str(it).map(String::from)),
        "ports_file_dir" => set(&mut o.ports_file_dir, r.str(it).map(String::from)),
        "prof_port" => set(&mut o.prof_port, r.int(it)),
        "prof_block_rate" => set(&mut o.prof_block_rate, r.int(it)),
        "max_control_line" | "max_payload" => {
            if let Some(n) = r.int(it) {
                if n > i64::from(i32::MAX) {
                    r.err(&it.pos, format_args!("{key} value is too big"));
                } else if lower == "max_payload" {
                    // nats-server truncates to int32 the same way.
                    o.max_payload = Some(n as i32);
                } else {
                    o.max_control_line = Some(n as i32);
                }
            }
        }
        "max_pending" => set(&mut o.max_pending, r.int(it)),
        "proxy_protocol" => {
            if let Some(b) = r.bool(it) {
                if b {
                    r.unsupported(key, it);
                }
            }
        }
        "max_connections" | "max_conn" => set(&mut o.max_connections, r.int(it)),
        "max_traced_msg_len" => set(&mut o.max_traced_msg_len, r.int(it)),
        "max_subscriptions" | "max_subs" => set(&mut o.max_subscriptions, r.int(it)),
        "max_sub_tokens" | "max_subscription_tokens" => {
            if let Some(n) = r.int(it) {
                if n > i64::from(u8::MAX) {
                    r.err(&it.pos, format_args!("{key} value is too big"));
                } else if n <= 0 {
                    r.err(&it.pos, format_args!("{key} value can not be negative"));
                } else {
                    o.max_sub_tokens = Some(n as u8);
                }
            }
        }
        "ping_interval" => set(&mut o.ping_interval, r.duration("ping_interval", it)),
        "ping_max" => set(&mut o.ping_max, r.int(it)),
        "tls" => {
            if let Some(t) = tls::parse(it, r, true) {
                o.tls = Some(t);
            }
        }
        "allow_non_tls" => set(&mut o.allow_non_tls, r.bool(it)),
        "write_deadline" => set(&mut o.write_deadline, r.duration("write_deadline", it)),
        "write_timeout" => set(&mut o.write_timeout, r.write_timeout(it)),
        "lame_duck_duration" => {
            let Some(s) = r.str(it) else { return };
            match parse_duration(s) {
                Err(e) => r.err(
                    &it.pos,
                    format_args!("error parsing lame_duck_duration: {e}"),
                ),
                Ok(n) if n < 30_000_000_000 => r.err(
                    &it.pos,
                    format_args!(
                        "invalid lame_duck_duration of {}, minimum is 30 seconds",
                        go_duration_ns(n)
                    ),
                ),
                Ok(n) => o.lame_duck_duration = Some(Duration::from_nanos(n as u64)),
            }
        }
        "lame_duck_grace_period" => {
            let Some(s) = r.str(it) else { return };
            match parse_duration(s) {
                Err(e) => r.err(
                    &it.pos,
                    format_args!("error parsing lame_duck_grace_period: {e}"),
                ),
                Ok(n) if n < 0 => r.err(
                    &it.pos,
                    "invalid lame_duck_grace_period, needs to be positive",
                ),
                Ok(n) => o.lame_duck_grace_period = Some(Duration::from_nanos(n as u64)),
            }
        }
        "no_auth_user" => set(&mut o.no_auth_user, r.str(it).map(String::from)),
        "system_account" | "system" => match &it.value {
            Value::String(s) => o.system_account = Some(s.clone()),
            _ => r.err(&it.pos, "system account name must be a string"),
        },
        "no_system_account" | "no_system" | "no_sys_acc" => {
            set(&mut o.no_system_account, r.bool(it))
        }
        "no_header_support" => set(&mut o.no_header_support, r.bool(it)),
        "connect_error_reports" => set(&mut o.connect_error_reports, r.int(it)),
        "reconnect_error_reports" => set(&mut o.reconnect_error_reports, r.int(it)),
        "server_tags" => {
            if let Some(tags) = server_tags(r, it) {
                o.server_tags.get_or_insert_with(Vec::new).extend(tags);
            }
        }
        "server_metadata" => match &it.value {
            Value::Map(m) => {
                let mut md = Vec::new();
                for e in &m.entries {
                    if let Some(s) = r.str(&e.item) {
                        md.push((e.key.clone(), s.to_string()));
                    }
                }
                o.server_metadata = Some(md);
            }
            v => r.err(
                &it.pos,
                format_args!("error parsing metadata: unsupported type {}", v.go_type()),
            ),
        },
        "feature_flags" => match &it.value {
            Value::Map(m) => {
                let mut flags = Vec::new();
                for e in &m.entries {
                    match e.item.value {
                        Value::Bool(b) => flags.push((e.key.clone(), b)),
                        ref v => r.err(
                            &e.item.pos,
                            format_args!(
                                "error parsing feature flag {}: expected bool, got {}",
                                go_quote(&e.key),
                                v.go_type()
                            ),
                        ),
                    }
                }
                o.feature_flags = Some(flags);
            }
            v => r.err(
                &it.pos,
                format_args!(
                    "error parsing feature flags: unsupported type {}",
                    v.go_type()
                ),
            ),
        },
        "no_fast_producer_stall" => set(&mut o.no_fast_producer_stall, r.bool(it)),
        "max_closed_clients" => set(&mut o.max_closed_clients, r.int(it)),
        "shards" => {
            if let Some(n) = r.int(it) {
                match usize::try_from(n) {
                    Ok(n) => o.shards = Some(n),
                    Err(_) => r.err(&it.pos, format_args!("{key} value can not be negative")),
                }
            }
        }
        _ => r.unknown(key, it),
    }
}

fn server_tags(r: &mut Report, it: &Item) -> Option<Vec<String>> {
    match &it.value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => {
            let mut out = Vec::new();
            for el in a {
                match &el.value {
                    Value::String(s) => out.push(s.clone()),
                    _ => {
                        r.err(
                            &it.pos,
                            "error parsing tags: unsupported type *conf.token where string is expected",
                        );
                        return None;
                    }
                }
            }
            Some(out)
        }
        v => {
            r.err(
                &it.pos,
                format_args!("error parsing tags: unsupported type {}", v.go_type()),
            );
            None
        }
    }
}

/// `jetstream`: disabled forms are accepted, enabled ones refused.
fn jetstream(o: &mut ConfigOptions, r: &mut Report, key: &str, it: &Item) {
    let enabled = match &it.value {
        Value::Bool(b) => *b,
        Value::String(s) => match s.to_lowercase().as_str() {
            "enabled" | "enable" => true,
            "disabled" | "disable" => false,
            _ => {
                r.err(
                    &it.pos,
                    format_args!("Expected 'enabled' or 'disabled' for string value, got '{s}'"),
                );
                return;
            }
        },
        Value::Map(m) => {
            let mut enabled = true;
            for e in &m.entries {
                if e.lower == "enabled" || e.lower == "enable" {
                    match e.item.value {
                        Value::Bool(b) => enabled = b,
                        ref v => {
                            // nats-server reports this one at the `jetstream` key.
                            r.err(
                                &it.pos,
                                format_args!(
                                    "interface conversion: interface {{}} is {}, not bool",
                                    v.go_type()
                                ),
                            );
                            return;
                        }
                    }
                }
            }
            enabled
        }
        _ => {
            r.err(
                &it.pos,
                format_args!(
                    "Expected map, bool or string to define JetStream, got {}",
                    it.value.go_type()
                ),
            );
            return;
        }
    };
    if enabled {
        r.unsupported(key, it);
    } else {
        o.jetstream = Some(false);
    }
}
