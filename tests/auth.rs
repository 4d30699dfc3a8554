//! Authentication (spec §2.11 AU-01..03, AU-05, CL-04, §2.3 `auth_required`/`nonce`) over the
//! raw protocol: each mode accepts the right credentials and refuses wrong ones with
//! nats-server's exact `-ERR` and a close. Every test passes against nats-server too
//! (`NATS_SERVER_IS_GO=1`). Bcrypt hashes and nkeys are made here, per run.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{End, Frame, Raw, Server};

const VIOLATION: &str = "'Authorization Violation'";

/// A bcrypt hash at the lowest cost, so tests stay fast.
fn hash(secret: &str) -> String {
    bcrypt::hash(secret, 4).expect("bcrypt hash")
}

/// Sends `CONNECT <json>` and PING on a fresh connection: `Ok` at the PONG (the connection
/// stays open), or the `-ERR` text after which the server must close.
fn attempt(port: u16, json: &str) -> Result<Raw, String> {
    let mut raw = Raw::connect(port);
    finish(&mut raw, json)?;
    Ok(raw)
}

fn finish(raw: &mut Raw, json: &str) -> Result<(), String> {
    raw.send(format!("CONNECT {json}\r\nPING\r\n").as_bytes());
    loop {
        match raw.read_frame() {
            Frame::Ok => continue,
            Frame::Pong => return Ok(()),
            Frame::Err(e) => {
                raw.expect_closed();
                return Err(e);
            }
            other => panic!("expected PONG or -ERR, got {other:?}"),
        }
    }
}

#[track_caller]
fn accepted(port: u16, json: &str) -> Raw {
    attempt(port, json).unwrap_or_else(|e| panic!("CONNECT {json} refused: {e}"))
}

#[track_caller]
fn refused(port: u16, json: &str) {
    match attempt(port, json) {
        Ok(_) => panic!("CONNECT {json} was accepted"),
        Err(e) => assert_eq!(e, VIOLATION, "CONNECT {json}"),
    }
}

/// The CONNECT of an nkey user: its public key and its signature of this connection's nonce.
fn nkey_connect(raw: &Raw, kp: &nkeys::KeyPair) -> String {
    let nonce = raw.info["nonce"].as_str().expect("INFO has a nonce");
    let sig = kp.sign(nonce.as_bytes()).expect("sign");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    format!(
        r#"{{"verbose":false,"nkey":"{}","sig":"{sig}"}}"#,
        kp.public_key()
    )
}

#[test]
fn au01_token_right_and_wrong() {
    let s = Server::start_with_config("authorization { token: s3cr3t }\n", &[]);
    let raw = Raw::connect(s.port());
    assert_eq!(raw.info["auth_required"], true);
    assert!(raw.info.get("nonce").is_none(), "no nkeys, no nonce");
    accepted(s.port(), r#"{"auth_token":"s3cr3t"}"#);
    refused(s.port(), r#"{"auth_token":"s3cr3"}"#);
    refused(s.port(), r#"{"auth_token":"s3cr3tt"}"#);
    refused(s.port(), r#"{}"#);
    // A user and password are not a token.
    refused(s.port(), r#"{"user":"s3cr3t","pass":"s3cr3t"}"#);
}

#[test]
fn au01_single_user_and_password() {
    let s = Server::start_with_config("authorization { user: alice, password: wonder }\n", &[]);
    accepted(s.port(), r#"{"user":"alice","pass":"wonder"}"#);
    refused(s.port(), r#"{"user":"alice","pass":"wonde"}"#);
    refused(s.port(), r#"{"user":"bob","pass":"wonder"}"#);
    refused(s.port(), r#"{"user":"alice"}"#);
    refused(s.port(), r#"{"auth_token":"wonder"}"#);
}

#[test]
fn au02_bcrypt_password_and_token() {
    let conf = format!(
        "authorization {{ user: alice, password: \"{}\" }}\n",
        hash("wonder")
    );
    let s = Server::start_with_config(&conf, &[]);
    accepted(s.port(), r#"{"user":"alice","pass":"wonder"}"#);
    refused(s.port(), r#"{"user":"alice","pass":"wonde"}"#);
    let conf = format!("authorization {{ token: \"{}\" }}\n", hash("tok"));
    let s = Server::start_with_config(&conf, &[]);
    accepted(s.port(), r#"{"auth_token":"tok"}"#);
    refused(s.port(), r#"{"auth_token":"tok2"}"#);
}

#[test]
fn au01_users_list_plain_and_bcrypt() {
    let conf = format!(
        "authorization {{ users: [ {{user: a, password: pa}}, {{user: b, password: \"{}\"}} ] }}\n",
        hash("pb")
    );
    let s = Server::start_with_config(&conf, &[]);
    accepted(s.port(), r#"{"user":"a","pass":"pa"}"#);
    accepted(s.port(), r#"{"user":"b","pass":"pb"}"#);
    refused(s.port(), r#"{"user":"a","pass":"pb"}"#);
    refused(s.port(), r#"{"user":"b","pass":"pa"}"#);
    refused(s.port(), r#"{"user":"c","pass":"pa"}"#);
    refused(s.port(), r#"{}"#);
}

#[test]
fn au03_no_auth_user_stands_in_for_missing_credentials() {
    let conf =
        "authorization { users: [ {user: a, password: pa}, {user: guest, password: pg} ] }\n\
                no_auth_user: guest\n";
    let s = Server::start_with_config(conf, &[]);
    let raw = Raw::connect(s.port());
    assert!(
        raw.info.get("auth_required").is_none(),
        "no_auth_user: INFO says no auth is required: {}",
        raw.info
    );
    accepted(s.port(), r#"{}"#);
    accepted(s.port(), r#"{"user":"a","pass":"pa"}"#);
    refused(s.port(), r#"{"user":"a","pass":"bad"}"#);
    // Without CONNECT at all (telnet), the first operation authenticates as the user.
    let mut raw = Raw::connect(s.port());
    raw.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    raw.expect(b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n");
}

#[test]
fn nkey_user_signs_the_nonce() {
    let kp = nkeys::KeyPair::new_user();
    let other = nkeys::KeyPair::new_user();
    let conf = format!(
        "authorization {{ users: [ {{nkey: {}}} ] }}\n",
        kp.public_key()
    );
    let s = Server::start_with_config(&conf, &[]);
    let mut raw = Raw::connect(s.port());
    let nonce = raw.info["nonce"]
        .as_str()
        .expect("nonce in INFO")
        .to_string();
    assert_eq!(nonce.len(), 15, "11 bytes as unpadded base64url");
    assert_eq!(raw.info["auth_required"], true);
    let json = nkey_connect(&raw, &kp);
    finish(&mut raw, &json).expect("signed nonce accepted");

    // A nonce is per connection: a signature of another connection's nonce fails.
    let first = Raw::connect(s.port());
    let replay = nkey_connect(&first, &kp);
    let mut second = Raw::connect(s.port());
    assert_ne!(first.info["nonce"], second.info["nonce"]);
    assert_eq!(finish(&mut second, &replay), Err(VIOLATION.to_string()));

    // The right key's name with another key's signature, no signature, an unknown key.
    let mut raw = Raw::connect(s.port());
    let forged = nkey_connect(&raw, &other).replace(&other.public_key(), &kp.public_key());
    assert_eq!(finish(&mut raw, &forged), Err(VIOLATION.to_string()));
    refused(s.port(), &format!(r#"{{"nkey":"{}"}}"#, kp.public_key()));
    let mut raw = Raw::connect(s.port());
    let unknown = nkey_connect(&raw, &other);
    assert_eq!(finish(&mut raw, &unknown), Err(VIOLATION.to_string()));
}

#[test]
fn au05_cli_flags_user_pass_and_auth() {
    let s = Server::start(&["--user", "fl", "--pass", "ag"]);
    accepted(s.port(), r#"{"user":"fl","pass":"ag"}"#);
    refused(s.port(), r#"{"user":"fl","pass":"xx"}"#);
    let s = Server::start(&["--auth", "tok"]);
    accepted(s.port(), r#"{"auth_token":"tok"}"#);
    refused(s.port(), r#"{}"#);
    // Flags override the config's single user.
    let s = Server::start_with_config(
        "authorization { user: conf, password: file }\n",
        &["--user", "flag", "--pass", "line"],
    );
    accepted(s.port(), r#"{"user":"flag","pass":"line"}"#);
    refused(s.port(), r#"{"user":"conf","pass":"file"}"#);
}

#[test]
fn credentials_are_ignored_without_auth() {
    let s = Server::start(&[]);
    let raw = Raw::connect(s.port());
    assert!(raw.info.get("auth_required").is_none());
    accepted(s.port(), r#"{"user":"x","pass":"y","auth_token":"z"}"#);
}

#[test]
fn cl04_first_operation_must_be_connect() {
    let s = Server::start_with_config("authorization { token: t }\n", &[]);
    for first in [
        &b"PING\r\n"[..],
        b"SUB foo 1\r\n",
        b"PUB foo 0\r\n\r\n",
        b"\r\n",
    ] {
        let mut raw = Raw::connect(s.port());
        raw.send(first);
        raw.expect_then_closed(format!("-ERR {VIOLATION}\r\n").as_bytes());
    }
    // Lower case counts as CONNECT.
    let mut raw = Raw::connect(s.port());
    raw.send(b"connect {\"auth_token\":\"t\",\"verbose\":false}\r\nPING\r\n");
    raw.expect(b"PONG\r\n");
}

#[test]
fn connect_naming_an_account_is_a_violation_even_with_good_credentials() {
    let s = Server::start_with_config("authorization { token: t }\n", &[]);
    refused(s.port(), r#"{"auth_token":"t","account":"A"}"#);
}

#[test]
fn cl04_auth_timeout_closes_a_stalled_client_without_delaying_others() {
    // One shard, so the stalled client and the others share it.
    let s = Server::start_sharded_with_config(1, "authorization { token: t, timeout: 3 }\n", &[]);
    let mut stalled = Raw::connect(s.port());
    // A client with a partial CONNECT is still waiting too.
    let mut partial = Raw::connect(s.port());
    partial.send(b"CONNECT {\"auth_tok");
    // Meanwhile other clients on the shard authenticate and exchange messages.
    let mut sub = accepted(s.port(), r#"{"verbose":false,"auth_token":"t"}"#);
    sub.send(b"SUB foo 1\r\n");
    sub.ping_pong();
    let mut publ = accepted(s.port(), r#"{"verbose":false,"auth_token":"t"}"#);
    publ.send(b"PUB foo 2\r\nok\r\n");
    publ.ping_pong();
    assert_eq!(sub.next_msg().payload, b"ok");
    // The stalled ones are closed with nats-server's error, at the timeout.
    for raw in [&mut stalled, &mut partial] {
        let (bytes, end) = raw.read_until_closed_or_timeout(Duration::from_secs(20));
        assert_eq!(
            common::show(&bytes),
            "-ERR 'Authentication Timeout'\\r\\n",
            "stalled client"
        );
        assert_eq!(end, End::Closed);
    }
    // The authenticated clients are untouched by the timeout.
    publ.send(b"PUB foo 3\r\nok2\r\n");
    publ.ping_pong();
    assert_eq!(sub.next_msg().payload, b"ok2");
}

#[test]
fn second_connect_authenticates_again() {
    let s = Server::start_with_config(
        "authorization { users: [ {user: a, password: pa}, {user: b, password: pb} ] }\n",
        &[],
    );
    let mut raw = accepted(s.port(), r#"{"verbose":false,"user":"a","pass":"pa"}"#);
    assert_eq!(
        finish(&mut raw, r#"{"verbose":false,"user":"b","pass":"nope"}"#),
        Err(VIOLATION.to_string())
    );
}
