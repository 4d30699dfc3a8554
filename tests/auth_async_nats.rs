//! The `async-nats` client against an authenticating server (spec §2.11): each auth mode
//! connects with the right credentials and fails with the wrong ones; a permission violation
//! reaches the client as an error while the connection stays. Passes against nats-server too.

mod common;

use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions, Event, RequestErrorKind};
use common::Server;
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(10);

/// Connects without retries; `Err` is the kind of failure.
async fn attempt(
    server: &Server,
    opts: ConnectOptions,
) -> Result<async_nats::Client, ConnectErrorKind> {
    tokio::time::timeout(WAIT, opts.connect(server.url()))
        .await
        .expect("connect did not finish")
        .map_err(|e| e.kind())
}

/// A round trip: a request nobody serves comes back as no-responders.
async fn sync(c: &async_nats::Client) {
    match tokio::time::timeout(WAIT, c.request("_sync.nobody", "".into())).await {
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
        other => panic!("sync: {other:?}"),
    }
}

#[tokio::test]
async fn user_password_token_and_bcrypt() {
    let hash = bcrypt::hash("secret", 4).unwrap();
    let conf = format!(
        "authorization {{ users: [{{user: plain, password: pw}}, {{user: hashed, password: \"{hash}\"}}] }}\n"
    );
    let s = Server::start_with_config(&conf, &[]);
    let c = attempt(
        &s,
        ConnectOptions::with_user_and_password("plain".into(), "pw".into()),
    )
    .await
    .expect("plain user");
    sync(&c).await;
    let c = attempt(
        &s,
        ConnectOptions::with_user_and_password("hashed".into(), "secret".into()),
    )
    .await
    .expect("bcrypt user");
    sync(&c).await;
    let err = attempt(
        &s,
        ConnectOptions::with_user_and_password("plain".into(), "nope".into()),
    )
    .await
    .err();
    assert_eq!(err, Some(ConnectErrorKind::AuthorizationViolation));

    let s = Server::start_with_config("authorization { token: tok }\n", &[]);
    let c = attempt(&s, ConnectOptions::with_token("tok".into()))
        .await
        .expect("token");
    sync(&c).await;
    let err = attempt(&s, ConnectOptions::with_token("bad".into()))
        .await
        .err();
    assert_eq!(err, Some(ConnectErrorKind::AuthorizationViolation));
}

#[tokio::test]
async fn nkey_user_with_seed() {
    let kp = nkeys::KeyPair::new_user();
    let other = nkeys::KeyPair::new_user();
    let conf = format!(
        "authorization {{ users: [{{nkey: {}}}] }}\n",
        kp.public_key()
    );
    let s = Server::start_with_config(&conf, &[]);
    let c = attempt(&s, ConnectOptions::with_nkey(kp.seed().unwrap()))
        .await
        .expect("nkey user");
    sync(&c).await;
    let err = attempt(&s, ConnectOptions::with_nkey(other.seed().unwrap()))
        .await
        .err();
    assert_eq!(err, Some(ConnectErrorKind::AuthorizationViolation));
}

#[tokio::test]
async fn permission_violation_is_an_error_event_and_the_connection_stays() {
    let conf = "authorization { users: [{user: u, password: p, permissions: {publish: \"ok.>\", subscribe: \"ok.>\"}}] }\n";
    let s = Server::start_with_config(conf, &[]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts =
        ConnectOptions::with_user_and_password("u".into(), "p".into()).event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e);
            }
        });
    let c = attempt(&s, opts).await.expect("connect");
    let mut sub = c.subscribe("ok.x").await.unwrap();
    c.publish("denied", "x".into()).await.unwrap();
    let event = tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Some(Event::ServerError(e)) => return e.to_string(),
                Some(_) => continue,
                None => panic!("event channel closed"),
            }
        }
    })
    .await
    .expect("no server error event");
    assert!(
        event
            .to_lowercase()
            .contains("permissions violation for publish to \"denied\""),
        "{event}"
    );
    c.publish("ok.x", "y".into()).await.unwrap();
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"y");
}
