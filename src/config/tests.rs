//! Differential checks against nats-server, plus what the fixtures load to.
//!
//! Every `testdata/<name>.conf` was run through nats-server v2.15.1 from
//! inside `testdata/` (`nats-server -t -c <name>.conf`) and what it printed
//! was saved as `<name>.go.expected`: `VALID` when it passed, otherwise the
//! lines without the `nats-server: ` prefix on the first (a NUL byte that Go
//! prints for "end of input" is lost on the way and ignored here). To
//! regenerate after adding a fixture:
//!
//! ```sh
//! cd src/config/testdata
//! for f in [!t]*.conf tls_*.conf; do
//!   out=$(nats-server -t -c "$f" 2>&1) && out=VALID
//!   printf '%s\n' "$out" | sed '/^$/d' > "${f%.conf}.go.expected"
//! done
//! ```
//!
//! nats-server prints errors in map order, which is random; the lines are
//! compared as sets. Fixtures named `tpc_*` are where nats-tpc differs on
//! purpose; their `<name>.tpc.expected` holds our output and the test that
//! reads them records what nats-server printed.

use std::path::Path;

use super::apply::load;
use super::auth::ResponsePermission;
use super::ConfigOptions;
use shards::options::WritePolicy;
use std::time::Duration;

const DIR: &str = "src/config/testdata";

/// What `nats-server -t` would print for the fixture, by our loader.
fn ours(name: &str) -> Vec<String> {
    let path = Path::new(DIR).join(name);
    let lines = match load(&path) {
        Ok((_, w)) if w.is_empty() => vec!["VALID".to_string()],
        Ok((_, w)) => w,
        Err(e) => e,
    };
    lines
        .iter()
        .map(|l| l.replace(&format!("{DIR}/"), "").replace('\0', ""))
        .collect()
}

fn expected(file: &str) -> Vec<String> {
    let text = match std::fs::read_to_string(Path::new(DIR).join(file)) {
        Ok(t) => t,
        Err(e) => panic!("{file}: {e}"),
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("nats-server: ").unwrap_or(l).to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn fixtures(suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(DIR) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(suffix))
            .collect(),
        Err(e) => panic!("{DIR}: {e}"),
    };
    names.sort();
    names
}

fn check_all(suffix: &str) {
    let names = fixtures(suffix);
    assert!(!names.is_empty(), "no {suffix} fixtures found in {DIR}");
    let mut failures = Vec::new();
    for exp in &names {
        let conf = format!("{}.conf", exp.trim_end_matches(suffix));
        let want = sorted(expected(exp));
        let got = sorted(ours(&conf));
        if want != got {
            failures.push(format!("{conf}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_match_nats_server_output() {
    check_all(".go.expected");
}

/// Where nats-tpc differs from nats-server on purpose. nats-server 2.15.1 said:
/// - tpc_unsupported.conf: `tpc_unsupported.conf:11:18: Expected callout user
///   to be a valid public account nkey, got "x"` (it accepts the rest).
/// - tpc_jetstream_map.conf: valid (JetStream enabled).
/// - tpc_shards.conf: `tpc_shards.conf:2:1: unknown field "shards"`.
/// - tpc_shards_negative.conf: `tpc_shards_negative.conf:1:0: unknown field "shards"`.
#[test]
fn tpc_fixtures_refuse_missing_features_by_name() {
    check_all(".tpc.expected");
}

fn load_ok(name: &str) -> ConfigOptions {
    match load(&Path::new(DIR).join(name)) {
        Ok((o, w)) if w.is_empty() => o,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn cf01_separators_load() {
    let o = load_ok("cf01_separators.conf");
    assert_eq!(o.port, Some(4222));
    assert_eq!(o.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(o.server_name.as_deref(), Some("srv1"));
    assert_eq!(o.max_payload, Some(65536));
    assert_eq!(o.max_pending, Some(1_000_000));
    assert_eq!((o.debug, o.trace), (Some(false), Some(false)));
}

#[test]
fn cf01_json_file_loads() {
    let o = load_ok("cf01_json.conf");
    assert_eq!(o.port, Some(4333));
    let a = o.authorization.unwrap_or_default();
    assert_eq!(
        (a.user.as_deref(), a.password.as_deref()),
        (Some("a"), Some("b"))
    );
    let c = o.cluster.unwrap_or_default();
    assert_eq!(c.name.as_deref(), Some("c1"));
    assert_eq!(c.routes.map(|r| r.len()), Some(2));
}

#[test]
fn cf02_nested_users_and_permissions() {
    let o = load_ok("cf02_nesting.conf");
    let users = o.authorization.and_then(|a| a.users).unwrap_or_default();
    assert_eq!(users.len(), 2);
    let alice = &users[0];
    assert_eq!(alice.user, "alice");
    let p = alice.permissions.clone().unwrap_or_default();
    let publish = p.publish.unwrap_or_default();
    assert_eq!(
        publish.allow,
        Some(vec!["foo.>".to_string(), "bar".to_string()])
    );
    let sub = p.subscribe.unwrap_or_default();
    assert_eq!(sub.allow, Some(vec!["_INBOX.>".to_string()]));
    assert_eq!(sub.deny, Some(vec!["secret.*".to_string()]));
    assert_eq!(users[1].permissions, None);
    let c = o.cluster.unwrap_or_default();
    assert_eq!((c.host.as_deref(), c.port), (Some("127.0.0.1"), Some(6222)));
    assert_eq!(
        c.routes,
        Some(vec![
            "nats-route://u:p@127.0.0.1:6223".to_string(),
            "nats-route://u:p@127.0.0.1:6224".to_string()
        ])
    );
}

#[test]
fn cf04_strings_load() {
    let o = load_ok("cf04_strings.conf");
    assert_eq!(o.server_name.as_deref(), Some("srvA\t"));
    assert_eq!(o.client_advertise.as_deref(), Some("raw\\tstring"));
    assert_eq!(o.pid_file.as_deref(), Some("\n/tmp/block.pid\n"));
    assert_eq!(o.log_file.as_deref(), Some("unquoted\\path"));
}

#[test]
fn cf05_booleans_load() {
    let o = load_ok("cf05_bools.conf");
    assert_eq!(o.debug, Some(true));
    assert_eq!(o.trace, Some(false));
    assert_eq!(o.logtime, Some(true));
    assert_eq!(o.logtime_utc, Some(false));
    assert_eq!(o.no_header_support, Some(true));
}

#[test]
fn cf06_sizes_load() {
    let o = load_ok("cf06_sizes.conf");
    assert_eq!(o.max_payload, Some(1 << 20));
    assert_eq!(o.max_pending, Some(64_000_000));
    assert_eq!(o.max_control_line, Some(4096));
    assert_eq!(o.log_size_limit, Some(1 << 30));
    assert_eq!(o.max_connections, Some(1000));
    assert_eq!(o.max_subscriptions, Some(0));
}

#[test]
fn cf07_integer_duration_is_seconds_with_a_warning() {
    let (o, w) = match load(&Path::new(DIR).join("cf07_durations.conf")) {
        Ok(x) => x,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(w.len(), 1);
    // Unquoted 2m is the integer 2,000,000, read as seconds.
    assert_eq!(o.ping_interval, Some(Duration::from_secs(2_000_000)));
    assert_eq!(o.write_deadline, Some(Duration::from_secs(10)));
}

#[test]
fn cf08_variables_load() {
    let o = load_ok("cf08_variables.conf");
    assert_eq!(o.port, Some(4555));
    let a = o.authorization.unwrap_or_default();
    assert_eq!(a.password.as_deref(), Some("s3cr3t"));
    let p = a.default_permissions.unwrap_or_default();
    assert_eq!(
        p.publish.and_then(|p| p.allow),
        Some(vec!["a.>".to_string()])
    );
    let o = load_ok("cf08_bcrypt.conf");
    let pw = o.authorization.and_then(|a| a.password).unwrap_or_default();
    assert!(pw.starts_with("$2a$11$"));
}

#[test]
fn cf08_environment_variables_in_files() {
    std::env::set_var("NTPC_FIXTURE_PORT", "4888");
    std::env::set_var("NTPC_FIXTURE_PAYLOAD", "2MB");
    let dir = std::env::temp_dir().join(format!("ntpc-cf08-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let f = dir.join("env.conf");
    let written = std::fs::write(
        &f,
        "port: $NTPC_FIXTURE_PORT\nmax_payload: $NTPC_FIXTURE_PAYLOAD\n",
    );
    assert!(written.is_ok());
    let got = load(&f);
    let _ = std::fs::remove_dir_all(&dir);
    let (o, _) = match got {
        Ok(x) => x,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(o.port, Some(4888));
    assert_eq!(o.max_payload, Some(2 << 20));
}

#[test]
fn cf09_includes_are_relative_to_the_including_file() {
    // sub/inc2.conf holds an unknown key, reported with its own file name.
    assert_eq!(
        ours("cf09_include.conf"),
        ["sub/inc2.conf:2:1: unknown field \"bogus_in_include\""]
    );
    let dir = std::env::temp_dir().join(format!("ntpc-cf09-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("sub"));
    let ok = std::fs::write(dir.join("main.conf"), "port: 4666\ninclude sub/a.conf\n").is_ok()
        && std::fs::write(dir.join("sub/a.conf"), "include 'b.conf'\n").is_ok()
        && std::fs::write(dir.join("sub/b.conf"), "cluster { name: x }\n").is_ok();
    assert!(ok);
    let got = load(&dir.join("main.conf"));
    let _ = std::fs::remove_dir_all(&dir);
    let (o, _) = match got {
        Ok(x) => x,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(o.port, Some(4666));
    assert_eq!(o.cluster.and_then(|c| c.name).as_deref(), Some("x"));
}

#[test]
fn cf10_keys_are_case_insensitive() {
    let o = load_ok("cf10_case.conf");
    assert_eq!(o.port, Some(4777));
    assert_eq!(o.debug, Some(true));
    let c = o.cluster.unwrap_or_default();
    assert_eq!((c.name.as_deref(), c.port), (Some("cc"), Some(6777)));
}

#[test]
fn cf10_empty_config_only_warns() {
    match load(&Path::new(DIR).join("cf10_empty.conf")) {
        Ok((o, w)) => {
            assert_eq!(o, ConfigOptions::default());
            assert_eq!(
                w,
                [format!(
                    "{DIR}/cf10_empty.conf: config has no values or is empty"
                )]
            );
        }
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn missing_file_reads_like_go() {
    assert_eq!(
        load(Path::new("/nonexistent/x.conf")).err(),
        Some(vec![
            "open /nonexistent/x.conf: no such file or directory".to_string()
        ])
    );
}

#[test]
fn misc_options_load() {
    let o = load_ok("misc_ok.conf");
    assert_eq!((o.host.as_deref(), o.port), (Some("127.0.0.1"), Some(4999)));
    assert_eq!((o.http_host.as_deref(), o.http_port), (None, Some(8222)));
    assert_eq!(o.write_timeout, Some(WritePolicy::Retry));
    assert_eq!(o.lame_duck_duration, Some(Duration::from_secs(120)));
    assert_eq!(o.lame_duck_grace_period, Some(Duration::from_secs(10)));
    assert_eq!((o.trace_verbose, o.trace), (Some(true), Some(true)));
    assert_eq!(o.jetstream, Some(false));
    assert_eq!(o.system_account.as_deref(), Some("$SYS"));
    assert_eq!(
        o.server_tags,
        Some(vec!["a:1".to_string(), "b".to_string()])
    );
    assert_eq!(
        o.server_metadata,
        Some(vec![("region".to_string(), "eu".to_string())])
    );
    assert_eq!(load_ok("js_disabled_map.conf").jetstream, Some(false));
    assert_eq!(load_ok("tpc_shards.conf").shards, Some(4));
}

#[test]
fn cluster_block_loads() {
    let c = load_ok("cluster_ok.conf").cluster.unwrap_or_default();
    assert_eq!(c.name.as_deref(), Some("ok"));
    assert_eq!(c.advertise.as_deref(), Some("10.0.0.1:6222"));
    assert_eq!(c.no_advertise, Some(true));
    assert_eq!(c.connect_retries, Some(5));
    assert_eq!(c.pool_size, Some(-1));
    assert_eq!(c.accounts, Some(vec!["A".to_string(), "B".to_string()]));
    assert_eq!(c.compression.map(|c| c.mode).as_deref(), Some("s2_auto"));
    let a = c.authorization.unwrap_or_default();
    assert_eq!((a.user.as_deref(), a.timeout), (Some("r"), Some(2.0)));
    let p = c.permissions.unwrap_or_default();
    assert_eq!(
        p.import.and_then(|i| i.allow),
        Some(vec!["a.>".to_string()])
    );
    let export = p.export.unwrap_or_default();
    assert_eq!(export.deny, Some(vec!["b.secret".to_string()]));
    assert_eq!(c.ping_interval, Some(Duration::from_secs(20)));
    assert_eq!(c.write_timeout, Some(WritePolicy::Close));
}

#[test]
fn allow_responses_and_default_permissions() {
    let o = load_ok("auth_allow_responses.conf");
    assert_eq!(o.no_auth_user.as_deref(), Some("e"));
    let a = o.authorization.unwrap_or_default();
    assert_eq!(a.timeout, Some(2.0));
    let users = a.users.unwrap_or_default();
    let p0 = users[0].permissions.clone().unwrap_or_default();
    assert_eq!(p0.allow_responses, Some(ResponsePermission::default()));
    // Allowing responses turns off the blanket publish permission.
    assert_eq!(p0.publish.and_then(|p| p.allow), Some(vec![]));
    let p1 = users[1].permissions.clone().unwrap_or_default();
    assert_eq!(
        p1.allow_responses,
        Some(ResponsePermission {
            max_msgs: 5,
            expires: Duration::from_secs(60)
        })
    );
    // A user without permissions gets the default ones.
    let p2 = users[2].permissions.clone().unwrap_or_default();
    assert_eq!(
        p2.subscribe.and_then(|s| s.allow),
        Some(vec!["_INBOX.>".to_string()])
    );
    assert_eq!(
        users[2].allowed_connection_types,
        Some(vec!["STANDARD".to_string(), "WEBSOCKET".to_string()])
    );
}
