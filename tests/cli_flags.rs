//! Command-line behaviour tools rely on (spec §3): `-v`, `-h`, Go flag syntax, the quirks of
//! unknown flags and positional arguments. Each runs against nats-server too (the oracle).

mod common;

use std::process::Command;

use common::{server_bin, Server};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(server_bin())
        .args(args)
        .output()
        .expect("run server binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_flag_prints_nats_server_v_and_exits_0() {
    for flag in ["-v", "--version", "version"] {
        let (code, out, _) = run(&[flag]);
        assert_eq!(code, Some(0), "{flag}");
        assert!(out.starts_with("nats-server: v2."), "{flag}: {out:?}");
    }
}

#[test]
fn help_flag_prints_usage_and_exits_0() {
    let (code, out, _) = run(&["-h"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Usage: nats-server [options]"), "{out}");
    assert!(out.contains("-p, --port <port>"), "{out}");
}

#[test]
fn unknown_flag_prints_the_error_and_usage_and_exits_0() {
    let (code, out, err) = run(&["-nosuchflag"]);
    assert_eq!(code, Some(0));
    let all = format!("{out}{err}");
    assert!(
        all.contains("flag provided but not defined: -nosuchflag"),
        "{all}"
    );
    assert!(all.contains("Usage: nats-server [options]"), "{all}");
}

#[test]
fn bad_flag_values_print_the_go_error_then_usage_and_exit_0() {
    // Go's flag package: the error on stderr, nats-server's usage on stdout, exit 0.
    let cases: &[(&[&str], &str)] = &[
        (
            &["-p", "abc"],
            "invalid value \"abc\" for flag -p: parse error",
        ),
        (
            &["--port=99999999999999999999"],
            "invalid value \"99999999999999999999\" for flag -port: value out of range",
        ),
        (&["-m", "x"], "invalid value \"x\" for flag -m: parse error"),
        (
            &["--connect_retries", "x"],
            "invalid value \"x\" for flag -connect_retries: parse error",
        ),
        (
            &["--log_size_limit", "1.5"],
            "invalid value \"1.5\" for flag -log_size_limit: parse error",
        ),
        (
            &["--max_traced_msg_len=ten"],
            "invalid value \"ten\" for flag -max_traced_msg_len: parse error",
        ),
        (&["-D=x"], "invalid boolean value \"x\" for -D: parse error"),
        (
            &["-nosuchflag"],
            "flag provided but not defined: -nosuchflag",
        ),
        (&["-p"], "flag needs an argument: -p"),
        (&["---x"], "bad flag syntax: ---x"),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert_eq!(err.trim_end(), *want, "{args:?}");
        assert!(
            out.contains("Usage: nats-server [options]"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn positional_argument_is_an_unrecognized_command() {
    let (code, _, err) = run(&["foo"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("unrecognized command: \"foo\""), "{err}");
}

#[test]
fn go_style_long_flags_with_single_dash_and_equals() {
    // `-addr=127.0.0.1 -port -1` is what Go's flag package accepts; clap alone would not.
    let server = Server::start_binary(&server_bin(), &["-addr=127.0.0.1", "-port", "-1"]);
    assert!(server.port() > 0);
}

#[test]
fn config_errors_are_printed_like_nats_server() {
    let dir = std::env::temp_dir().join(format!("nats-tpc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port: 4222\nfoo: 1\n").unwrap();
    let (code, out, err) = run(&["-c", conf.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "nats-server: {}:2:1: unknown field \"foo\"\n\n",
            conf.display()
        )
    );
}

#[test]
fn config_warnings_come_before_the_first_log_line() {
    let dir = std::env::temp_dir().join(format!("nats-tpc-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("warn.conf");
    std::fs::write(&conf, "ping_interval: 60\n").unwrap();
    let server = Server::start_binary(&server_bin(), &["-c", conf.to_str().unwrap()]);
    let logs = server.logs();
    assert_eq!(
        logs[0],
        format!(
            "{}:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
            conf.display()
        )
    );
    assert!(logs[1].contains("[INF] Starting nats-server"), "{logs:?}");
}
