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
