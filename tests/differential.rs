//! Differential protocol tests: every exchange in `tests/corpus/*.txt` is replayed against
//! the binary under test and against the Go `nats-server` on PATH, and the replies must match
//! byte for byte once INFO lines are normalised.
//!
//! # Corpus format
//!
//! One file per exchange, one directive per line:
//! - `# text`: a comment; empty lines are ignored.
//! - `@config TEXT`: a config file line (both servers start with `-c` on that file).
//! - `@delay MS`: the pause between the chunks that follow (default 20 ms).
//! - anything else: a chunk the client sends in one write, with escapes `\r`, `\n`, `\t`,
//!   `\s` (space), `\\` and `\xHH`. Consecutive chunks are separate writes with a pause
//!   between them, so the server most likely sees a frame split across reads.
//!
//! After the last chunk the reply is read until the server closes or stays quiet for
//! `IDLE`. Replies are split into frames; INFO JSON is reduced to its key set (less
//! `IGNORED_INFO_KEYS`) plus the values of the stable keys, and keepalive PINGs from the server are dropped (they depend on time).
//! `NATS_DIFF_SHOW=1` prints the Go server's frames for every exchange.

mod common;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{go_server_on_path, server_bin, show, Server, TempConfig};
use serde_json::Value;

/// Quiet time after which an open connection's reply is complete.
const IDLE: Duration = Duration::from_millis(500);
/// Upper bound for one exchange.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);
const DEFAULT_DELAY: Duration = Duration::from_millis(20);
/// Exchanges replayed at once, each against its own pair of servers.
const PARALLEL: usize = 8;
/// INFO keys whose values must be equal; all other keys must only be present in both.
const STABLE_INFO_KEYS: &[&str] = &[
    "proto",
    "headers",
    "max_payload",
    "auth_required",
    "tls_required",
    "tls_available",
    "jetstream",
    "connect_info",
    "remote_account",
    "acc_is_sys",
    "ldm",
];
/// INFO keys left out of the key-set comparison: `git_commit` is omitempty and depends on how
/// the binary was built; `xkey` serves auth callout only; `api_lvl` is the JetStream API level,
/// tied to the advertised version and JetStream support. Go 2.15.1 sends all three.
const IGNORED_INFO_KEYS: &[&str] = &["git_commit", "xkey", "api_lvl"];

enum Step {
    Send(Vec<u8>),
    Delay(Duration),
}

struct Exchange {
    name: String,
    config: String,
    steps: Vec<Step>,
}

fn unescape(line: &str, file: &Path) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let esc = bytes.get(i + 1).copied();
        match esc {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b's') => out.push(b' '),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = line.get(i + 2..i + 4).unwrap_or("");
                let b = u8::from_str_radix(hex, 16)
                    .unwrap_or_else(|_| panic!("{}: bad \\x escape in {line:?}", file.display()));
                out.push(b);
                i += 2;
            }
            _ => panic!("{}: bad escape in {line:?}", file.display()),
        }
        i += 2;
    }
    out
}

fn parse_exchange(path: &Path) -> Exchange {
    let text = std::fs::read_to_string(path).expect("read corpus file");
    let mut config = String::new();
    let mut steps = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("@config ") {
            config.push_str(&String::from_utf8_lossy(&unescape(rest, path)));
            config.push('\n');
        } else if let Some(ms) = line.strip_prefix("@delay ") {
            let ms: u64 = ms.trim().parse().expect("@delay takes milliseconds");
            steps.push(Step::Delay(Duration::from_millis(ms)));
        } else if line.starts_with('@') {
            panic!("{}: unknown directive {line:?}", path.display());
        } else {
            steps.push(Step::Send(unescape(line, path)));
        }
    }
    Exchange {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        config,
        steps,
    }
}

fn corpus() -> Vec<Exchange> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths.iter().map(|p| parse_exchange(p)).collect()
}

/// Runs one exchange on a fresh connection; returns all reply bytes and whether it closed.
fn replay(port: u16, ex: &Exchange) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).ok();
    let mut reply = Vec::new();
    let mut closed = false;
    let mut first = true;
    let mut delay = DEFAULT_DELAY;
    for step in &ex.steps {
        match step {
            Step::Delay(d) => delay = *d,
            Step::Send(bytes) => {
                if !first {
                    std::thread::sleep(delay);
                }
                first = false;
                // A write may fail once the server has closed on an earlier chunk; the reply
                // so far is what we compare.
                if stream.write_all(bytes).is_err() {
                    break;
                }
            }
        }
    }
    let deadline = Instant::now() + EXCHANGE_LIMIT;
    let mut chunk = [0u8; 65536];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        stream
            .set_read_timeout(Some(IDLE.min(deadline - now)))
            .expect("set_read_timeout");
        match stream.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    (reply, closed)
}

fn normalise_info(line: &[u8]) -> String {
    let json = &line[5..];
    let trailing_space = json.ends_with(b" \r\n");
    let v: Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(_) => return format!("INFO <bad json> {}", show(line)),
    };
    let Some(obj) = v.as_object() else {
        return format!("INFO <not an object> {}", show(line));
    };
    let keys: BTreeSet<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !IGNORED_INFO_KEYS.contains(k))
        .collect();
    let stable: Vec<String> = STABLE_INFO_KEYS
        .iter()
        .filter_map(|k| obj.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    format!(
        "INFO keys={keys:?} stable=[{}] trailing_space={trailing_space}",
        stable.join(",")
    )
}

/// Splits a reply into readable frames with INFO normalised and server PINGs dropped.
fn frames(reply: &[u8], closed: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = reply;
    while !rest.is_empty() {
        let Some(eol) = rest.iter().position(|&b| b == b'\n') else {
            out.push(format!("<partial> {}", show(rest)));
            break;
        };
        let line = &rest[..=eol];
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            let text = String::from_utf8_lossy(line);
            let size = text
                .trim_end()
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse::<usize>().ok());
            match size {
                Some(n) if rest.len() >= eol + 1 + n + 2 => {
                    let end = eol + 1 + n + 2;
                    out.push(show(&rest[..end]));
                    rest = &rest[end..];
                }
                _ => {
                    out.push(format!("<partial> {}", show(rest)));
                    break;
                }
            }
            continue;
        }
        if line.starts_with(b"INFO ") {
            out.push(normalise_info(line));
        } else if line != b"PING\r\n" {
            out.push(show(line));
        }
        rest = &rest[eol + 1..];
    }
    if closed {
        out.push("<closed>".to_string());
    }
    out
}

struct Pair {
    ours: Server,
    go: Server,
}

fn start_pair(go_bin: &Path, config: &str) -> Pair {
    if config.is_empty() {
        Pair {
            ours: Server::start(&[]),
            go: Server::start_binary(go_bin, &[]),
        }
    } else {
        // Two files so each server owns (and removes) its own.
        let ours = Server::start_with_config(config, &[]);
        let go_conf = TempConfig::new(config);
        let go_path = go_conf.path().to_string_lossy().into_owned();
        let go = Server::start_binary(go_bin, &["-c", &go_path]);
        // The Go server has read its config at startup; the file can go.
        drop(go_conf);
        Pair { ours, go }
    }
}

#[test]
fn corpus_replies_match_go_nats_server() {
    let Some(go_bin) = go_server_on_path() else {
        eprintln!("skipping differential tests: no `nats-server` (Go) on PATH");
        return;
    };
    eprintln!(
        "differential: {} vs {}",
        server_bin().display(),
        go_bin.display()
    );
    let exchanges = corpus();
    assert!(
        exchanges.len() >= 30,
        "the corpus should hold 30+ exchanges"
    );

    // Each exchange gets its own pair of servers (subjects and cids must not mix), a few at
    // a time.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(ex) = exchanges.get(i) else { break };
                // A server that fails to start (or any other panic) fails this exchange
                // only, so the report still covers the whole corpus.
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let pair = start_pair(&go_bin, &ex.config);
                    let (ours, go) = std::thread::scope(|s| {
                        let a = s.spawn(|| replay(pair.ours.port(), ex));
                        let b = s.spawn(|| replay(pair.go.port(), ex));
                        (a.join().unwrap(), b.join().unwrap())
                    });
                    let ours = frames(&ours.0, ours.1);
                    let go = frames(&go.0, go.1);
                    if std::env::var_os("NATS_DIFF_SHOW").is_some() {
                        eprintln!("{}:\n    {}", ex.name, go.join("\n    "));
                    }
                    (ours != go).then(|| {
                        format!(
                            "  go:\n    {}\n  ours:\n    {}",
                            go.join("\n    "),
                            ours.join("\n    ")
                        )
                    })
                }));
                let diff = outcome.unwrap_or_else(|e| {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Some(format!("  panicked: {msg}"))
                });
                results.lock().unwrap().push((ex.name.clone(), diff));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();

    let failures: Vec<String> = results
        .iter()
        .filter_map(|(name, diff)| diff.as_ref().map(|d| format!("{name}:\n{d}")))
        .collect();
    eprintln!(
        "differential: {} of {} exchanges match",
        results.len() - failures.len(),
        results.len()
    );
    assert!(
        failures.is_empty(),
        "{} exchange(s) differ from Go:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_files_parse() {
    // Keeps the corpus well-formed even where no Go server is installed.
    for ex in corpus() {
        assert!(
            ex.steps.iter().any(|s| matches!(s, Step::Send(_))),
            "{} sends nothing",
            ex.name
        );
    }
}

#[test]
fn frames_normalise_info_and_drop_pings() {
    let a = frames(
        b"INFO {\"server_id\":\"A\",\"proto\":1,\"port\":1} \r\nPING\r\nMSG a 1 2\r\nhi\r\n",
        true,
    );
    let b = frames(
        b"INFO {\"port\":2,\"proto\":1,\"server_id\":\"B\"} \r\nMSG a 1 2\r\nhi\r\n",
        true,
    );
    assert_eq!(a, b);
    assert_eq!(a.last().map(String::as_str), Some("<closed>"));
    assert_ne!(
        frames(b"INFO {\"proto\":1} \r\n", false),
        frames(b"INFO {\"proto\":1}\r\n", false),
        "the trailing space before CRLF is part of the comparison"
    );
}
