//! Client authentication (spec §2.11, CL-04): the configured users, tokens and nkeys, and the
//! check made at CONNECT, as nats-server's `processClientOrLeafAuthentication` makes it.
//!
//! [`AuthConfig`] is built once from the options and shared by every shard (`Options::auth`,
//! an `Arc` so a reload can swap it whole). What a connection is allowed to do once
//! authenticated lives in [`perms`], compiled per connection at CONNECT like nats-server's
//! `setPermissions`.
//!
//! A bcrypt comparison takes tens to hundreds of milliseconds: [`Verdict::Bcrypt`] hands it
//! back to the caller, which runs it off the shard's thread so the other clients of the shard
//! keep being served.

pub mod perms;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::protocol::info::ConnectOpts;

/// A configured password or token: plain text, or a bcrypt hash (`$2a$10$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_bcrypt() {
            "Secret(bcrypt)"
        } else {
            "Secret(plain)"
        })
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// nats-server's `isBcrypt`: `^\$2[abxy]\$\d{2}\$.*`.
    pub fn is_bcrypt(&self) -> bool {
        is_bcrypt(&self.0)
    }

    /// The configured text (a hash for bcrypt secrets).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// nats-server's `isBcrypt`.
pub fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// Compares a plain secret in constant time (nats-server's `subtle.ConstantTimeCompare`):
/// how long it takes says nothing about how much of the guess was right.
pub fn plain_equal(configured: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    configured.as_bytes().ct_eq(given.as_bytes()).into()
}

/// nats-server's `comparePasswords`; blocks for the bcrypt cost when the secret is a hash.
pub fn compare(configured: &str, given: &str) -> bool {
    if is_bcrypt(configured) {
        bcrypt::verify(given, configured).unwrap_or(false)
    } else {
        plain_equal(configured, given)
    }
}

/// What a user may publish and subscribe to (nats-server's `Permissions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    pub response: Option<ResponsePermission>,
}

/// Allow and deny lists. `allow: Some(vec![])` allows nothing; `None` allows everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`: replies to subjects received as reply subjects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per received request; 0 or less means unlimited.
    pub max_msgs: i64,
    /// How long after the request they are allowed; zero means forever.
    pub expires: Duration,
}

/// One entry of `users` (a user name with a password, or an nkey).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name, or the nkey's public key.
    pub name: String,
    pub password: Option<Secret>,
    pub permissions: Option<Arc<Permissions>>,
    /// Upper-case connection types (`STANDARD`, ...); `None` or empty allows all.
    pub allowed_connection_types: Option<Vec<String>>,
}

impl User {
    /// This user authenticated with `pass` (its configured password, none meaning empty)
    /// gets its permissions.
    fn verdict(&self, pass: &str) -> Verdict {
        let then = Authed {
            permissions: self.permissions.clone(),
        };
        let configured = self.password.as_ref().map(Secret::as_str).unwrap_or("");
        secret_verdict(configured, pass, then)
    }

    /// nats-server's `connectionTypeAllowed` for a plain client connection.
    fn allows_standard(&self) -> bool {
        match &self.allowed_connection_types {
            None => true,
            Some(t) => t.is_empty() || t.iter().any(|t| t == "STANDARD"),
        }
    }
}

/// Client authentication as configured: at most one of token, single user, users/nkeys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `authorization.token` / `--auth`.
    pub token: Option<Secret>,
    /// `authorization.user` / `--user`.
    pub username: Option<String>,
    /// `authorization.password` / `--pass`.
    pub password: Option<Secret>,
    /// `authorization.users` entries with a user name; `Some` (maybe empty) when the list is
    /// configured.
    pub users: Option<HashMap<String, Arc<User>>>,
    /// `authorization.users` entries with an nkey, by public key.
    pub nkeys: Option<HashMap<String, Arc<User>>>,
    /// `no_auth_user`.
    pub no_auth_user: Option<String>,
}

/// The identity and permissions a successful check gives a connection.
#[derive(Clone, Debug, Default)]
pub struct Authed {
    pub permissions: Option<Arc<Permissions>>,
}

/// `verify_and_map` at CONNECT: off, or on with the identity of the client's certificate
/// (`None` when it sent none or it could not be read, which fails the mapping).
#[derive(Clone, Copy, Debug)]
pub enum CertMap<'a> {
    Off,
    On(Option<&'a crate::tls::identity::CertIdentity>),
}

/// The outcome of [`AuthConfig::check`].
#[derive(Debug)]
pub enum Verdict {
    Ok(Authed),
    Denied,
    /// Authenticated if `given` matches the bcrypt `hash`: the caller runs [`compare`] where
    /// blocking is harmless.
    Bcrypt {
        hash: String,
        given: String,
        then: Authed,
    },
}

/// Length of the random part of a nonce (nats-server's `nonceRawLen`).
const NONCE_RAW_LEN: usize = 11;

impl AuthConfig {
    /// Whether clients must authenticate (nats-server's `info.AuthRequired` before the
    /// `no_auth_user` adjustment).
    pub fn required(&self) -> bool {
        self.users.is_some()
            || self.nkeys.is_some()
            || self.username.as_deref().is_some_and(|u| !u.is_empty())
            || self.token.as_ref().is_some_and(|t| !t.0.is_empty())
    }

    /// `auth_required` as INFO shows it: false again when `no_auth_user` is set (AU-03).
    pub fn info_auth_required(&self) -> bool {
        self.required() && self.no_auth_user.as_deref().is_none_or(str::is_empty)
    }

    /// Whether INFO carries a nonce for nkey signatures.
    pub fn nonce_required(&self) -> bool {
        self.nkeys.as_ref().is_some_and(|m| !m.is_empty())
    }

    /// Whether any configured password is in plain text (nats-server warns at start-up).
    pub fn has_plain_passwords(&self) -> bool {
        self.password
            .as_ref()
            .is_some_and(|p| !p.0.is_empty() && !p.is_bcrypt())
            || self.users.as_ref().is_some_and(|m| {
                m.values()
                    .any(|u| !u.password.as_ref().is_some_and(Secret::is_bcrypt))
            })
    }

    /// Checks `no_auth_user` against the users, with nats-server's messages.
    pub fn validate(&self) -> Result<(), String> {
        let Some(na) = self.no_auth_user.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        if self.users.is_none() && self.nkeys.is_none() {
            return Err(format!(
                "no_auth_user: \"{na}\" present, but users/nkeys are not defined"
            ));
        }
        let known = self.users.as_ref().is_some_and(|m| m.contains_key(na))
            || self.nkeys.as_ref().is_some_and(|m| m.contains_key(na));
        if known {
            Ok(())
        } else {
            Err(format!(
                "no_auth_user: \"{na}\" not present as user or nkey in authorization block or account configuration"
            ))
        }
    }

    /// A fresh nonce for one connection's INFO: 11 random bytes, base64url without padding.
    pub fn new_nonce() -> String {
        let raw: [u8; NONCE_RAW_LEN] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// The `no_auth_user` for a client whose first operation is not CONNECT, if it can be
    /// authenticated that way (a user, not an nkey, allowed on a plain connection).
    pub fn no_auth_user_for_implicit_connect(&self) -> Option<&Arc<User>> {
        let na = self.no_auth_user.as_deref()?;
        self.users.as_ref()?.get(na).filter(|u| u.allows_standard())
    }

    /// [`AuthConfig::check_mapped`] without `verify_and_map`.
    pub fn check(&self, o: &mut ConnectOpts, nonce: &str) -> Verdict {
        self.check_mapped(o, nonce, CertMap::Off)
    }

    /// nats-server's `processClientOrLeafAuthentication` for a client: `o` is the CONNECT,
    /// updated as nats-server updates it (the `no_auth_user` fills in the user or nkey, a
    /// `verify_and_map` certificate the user name).
    pub fn check_mapped(&self, o: &mut ConnectOpts, nonce: &str, cert: CertMap<'_>) -> Verdict {
        let no_auth = self.no_auth_user.as_deref().filter(|s| !s.is_empty());
        // nkeys first.
        let mut nkey_user = None;
        if let Some(nkeys) = self.nkeys.as_ref().filter(|m| !m.is_empty()) {
            if let Some(na) = no_auth {
                if o.user.is_empty()
                    && o.pass.is_empty()
                    && o.auth_token.is_empty()
                    && o.nkey.is_empty()
                    && nkeys.contains_key(na)
                {
                    o.nkey = na.to_string();
                }
            }
            if !o.nkey.is_empty() {
                match nkeys.get(&o.nkey) {
                    Some(u) if u.allows_standard() => nkey_user = Some(u),
                    _ => return Verdict::Denied,
                }
            }
        }
        if let Some(u) = nkey_user {
            if Some(u.name.as_str()) != no_auth && !verify_nkey(&o.nkey, &o.sig, nonce) {
                return Verdict::Denied;
            }
            return Verdict::Ok(Authed {
                permissions: u.permissions.clone(),
            });
        }
        // Then the users list.
        if let Some(users) = self.users.as_ref().filter(|m| !m.is_empty()) {
            if let CertMap::On(id) = cert {
                // The certificate names the user; `no_auth_user` does not apply.
                let names: Vec<&str> = users
                    .values()
                    .filter(|u| u.allows_standard())
                    .map(|u| u.name.as_str())
                    .collect();
                let Some(u) = id
                    .and_then(|id| id.map_user(&names))
                    .and_then(|n| users.get(n))
                else {
                    return Verdict::Denied;
                };
                if !o.user.is_empty() {
                    log::warn!(
                        "User {} found in connect proto, but user required from cert",
                        crate::goquote::quote(o.user.as_bytes())
                    );
                }
                o.user = u.name.clone();
                // Like nats-server, the mapped user's password (usually none) must still
                // match the CONNECT's.
                return u.verdict(&o.pass);
            }
            if let Some(na) = no_auth {
                if o.user.is_empty() && o.pass.is_empty() && o.auth_token.is_empty() {
                    if let Some(u) = users.get(na) {
                        o.user = u.name.clone();
                        // nats-server copies the configured password (a hash stays a hash).
                        o.pass = u.password.as_ref().map(|p| p.0.clone()).unwrap_or_default();
                    }
                }
            }
            if !o.user.is_empty() {
                let Some(u) = users.get(&o.user).filter(|u| u.allows_standard()) else {
                    return Verdict::Denied;
                };
                return u.verdict(&o.pass);
            }
        }
        // Then the single token or user.
        if let Some(t) = self.token.as_ref().filter(|t| !t.0.is_empty()) {
            return secret_verdict(&t.0, &o.auth_token, Authed::default());
        }
        if let Some(u) = self.username.as_deref().filter(|u| !u.is_empty()) {
            if u != o.user {
                return Verdict::Denied;
            }
            let configured = self.password.as_ref().map(Secret::as_str).unwrap_or("");
            return secret_verdict(configured, &o.pass, Authed::default());
        }
        Verdict::Denied
    }
}

fn secret_verdict(configured: &str, given: &str, then: Authed) -> Verdict {
    if is_bcrypt(configured) {
        Verdict::Bcrypt {
            hash: configured.to_string(),
            given: given.to_string(),
            then,
        }
    } else if plain_equal(configured, given) {
        Verdict::Ok(then)
    } else {
        Verdict::Denied
    }
}

/// Verifies the CONNECT `sig` (base64url, or standard base64) of the nonce with `nkey`.
fn verify_nkey(nkey: &str, sig: &str, nonce: &str) -> bool {
    if sig.is_empty() {
        return false;
    }
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let Ok(sig) = URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| STANDARD.decode(sig))
    else {
        return false;
    };
    match nkeys::KeyPair::from_public_key(nkey) {
        Ok(kp) => kp.verify(nonce.as_bytes(), &sig).is_ok(),
        Err(_) => false,
    }
}

/// nats-server's `IsValidPublicUserKey`, for the config check of `users[].nkey`.
pub fn is_valid_public_user_key(k: &str) -> bool {
    k.starts_with('U') && nkeys::KeyPair::from_public_key(k).is_ok()
}

/// `%q` of Go's fmt for the subjects in permission errors: quotes, with `"` and `\` escaped
/// and control or invalid bytes written as escapes.
pub fn go_quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\x07' => s.push_str("\\a"),
                '\x08' => s.push_str("\\b"),
                '\x0c' => s.push_str("\\f"),
                '\x0b' => s.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    s.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => s.push(c),
            }
        }
        for &x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(list: &[(&str, &str)]) -> HashMap<String, Arc<User>> {
        list.iter()
            .map(|(n, p)| {
                (
                    n.to_string(),
                    Arc::new(User {
                        name: n.to_string(),
                        password: Some(Secret::new(*p)),
                        permissions: None,
                        allowed_connection_types: None,
                    }),
                )
            })
            .collect()
    }

    fn connect(json: &str) -> ConnectOpts {
        let mut o = ConnectOpts::default();
        o.apply(json.as_bytes()).unwrap();
        o
    }

    fn ok(v: Verdict) -> bool {
        match v {
            Verdict::Ok(_) => true,
            Verdict::Denied => false,
            Verdict::Bcrypt { hash, given, .. } => compare(&hash, &given),
        }
    }

    #[test]
    fn au02_bcrypt_prefixes() {
        assert!(is_bcrypt("$2a$10$abc"));
        assert!(is_bcrypt("$2b$04$"));
        assert!(!is_bcrypt("$2c$10$abc"));
        assert!(!is_bcrypt("$2a$1$abc"));
        assert!(!is_bcrypt("plain"));
    }

    #[test]
    fn au01_token_and_single_user() {
        let a = AuthConfig {
            token: Some(Secret::new("s3cr3t")),
            ..Default::default()
        };
        assert!(a.required() && a.info_auth_required());
        assert!(ok(a.check(&mut connect(r#"{"auth_token":"s3cr3t"}"#), "")));
        assert!(!ok(a.check(&mut connect(r#"{"auth_token":"s3cr3"}"#), "")));
        let a = AuthConfig {
            username: Some("u".into()),
            password: Some(Secret::new("p")),
            ..Default::default()
        };
        assert!(ok(a.check(&mut connect(r#"{"user":"u","pass":"p"}"#), "")));
        assert!(!ok(a.check(&mut connect(r#"{"user":"v","pass":"p"}"#), "")));
        assert!(!ok(a.check(&mut connect(r#"{}"#), "")));
    }

    #[test]
    fn au03_no_auth_user_fills_in_the_user() {
        let a = AuthConfig {
            users: Some(users(&[("a", "pa"), ("b", "pb")])),
            no_auth_user: Some("b".into()),
            ..Default::default()
        };
        assert!(a.required() && !a.info_auth_required());
        let mut o = connect("{}");
        assert!(ok(a.check(&mut o, "")));
        assert_eq!(o.user, "b");
        assert!(!ok(a.check(&mut connect(r#"{"user":"a"}"#), "")));
        assert!(a.validate().is_ok());
        let bad = AuthConfig {
            no_auth_user: Some("zz".into()),
            ..a
        };
        assert!(bad.validate().unwrap_err().contains("not present as user"));
    }

    #[test]
    fn nkey_signature_of_the_nonce() {
        let kp = nkeys::KeyPair::new_user();
        let pk = kp.public_key();
        assert!(is_valid_public_user_key(&pk));
        let mut m = HashMap::new();
        m.insert(
            pk.clone(),
            Arc::new(User {
                name: pk.clone(),
                password: None,
                permissions: None,
                allowed_connection_types: None,
            }),
        );
        let a = AuthConfig {
            nkeys: Some(m),
            ..Default::default()
        };
        let nonce = AuthConfig::new_nonce();
        assert_eq!(nonce.len(), 15);
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(kp.sign(nonce.as_bytes()).unwrap());
        let good = format!(r#"{{"nkey":"{pk}","sig":"{sig}"}}"#);
        assert!(ok(a.check(&mut connect(&good), &nonce)));
        assert!(!ok(a.check(&mut connect(&good), "another-nonce00")));
        let nosig = format!(r#"{{"nkey":"{pk}"}}"#);
        assert!(!ok(a.check(&mut connect(&nosig), &nonce)));
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote(b"foo"), "\"foo\"");
        assert_eq!(go_quote(b"a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(go_quote(b"\x01\xff"), "\"\\x01\\xff\"");
    }
}
