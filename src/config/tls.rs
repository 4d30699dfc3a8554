//! `tls {}` (spec §4.6; nats-server's `parseTLS` and the file checks of
//! `GenTLSConfig`). Certificates are only checked to exist and to hold PEM
//! data here; the TLS layer loads them.

use std::time::Duration;

use super::apply::Report;
use super::gofmt::{go_quote, parse_duration};
use super::parser::{go_io_error, Item, Value};

/// nats-server's DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY.
pub const DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY: Duration = Duration::from_millis(50);

/// A `tls {}` block (client, or cluster when `insecure` and
/// `verify_cert_and_check_known_urls` may appear).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsConfig {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub ca_file: Option<String>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// `verify_and_map`: also map the certificate subject to a user.
    pub map: bool,
    /// Skip verifying the server certificate (routes only).
    pub insecure: bool,
    pub check_known_urls: bool,
    /// Handshake timeout in seconds (`timeout`).
    pub timeout: Option<f64>,
    /// `handshake_first`: TLS before INFO.
    pub handshake_first: bool,
    /// With `handshake_first: auto` or a duration: how long to wait for the
    /// client's TLS hello before falling back to INFO first.
    pub handshake_first_fallback: Option<Duration>,
    /// Go cipher suite names, as written.
    pub cipher_suites: Option<Vec<String>>,
    pub allow_insecure_cipher_suites: bool,
    /// Go curve names, as written.
    pub curve_preferences: Option<Vec<String>>,
    /// `"1.2"` or `"1.3"`.
    pub min_version: Option<String>,
    /// Lowercase hex SHA-256 of the SubjectPublicKeyInfo of allowed peers.
    pub pinned_certs: Option<Vec<String>>,
    pub connection_rate_limit: Option<i64>,
}

/// Cipher suites Go's crypto/tls knows (tls.CipherSuites()).
pub(crate) const SECURE_CIPHERS: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// tls.InsecureCipherSuites(): allowed only with `allow_insecure_cipher_suites`.
pub(crate) const INSECURE_CIPHERS: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

pub(crate) const CURVES: &[&str] = &[
    "SecP384r1MLKEM1024",
    "SecP256r1MLKEM768",
    "X25519MLKEM768",
    "X25519",
    "CurveP256",
    "CurveP384",
    "CurveP521",
];

/// Parses a `tls` map; `client` is false for `cluster { tls {} }`. Like
/// nats-server, the first problem ends the block.
pub(crate) fn parse(it: &Item, r: &mut Report, client: bool) -> Option<TlsConfig> {
    let t = parse_fields(it, r, client)?;
    check_files(&t, it, r)?;
    Some(t)
}

fn fail<T>(r: &mut Report, it: &Item, msg: impl std::fmt::Display) -> Option<T> {
    r.err(&it.pos, msg);
    None
}

fn parse_fields(it: &Item, r: &mut Report, client: bool) -> Option<TlsConfig> {
    let m = r.map(it)?;
    let mut t = TlsConfig::default();
    let mut insecure_found: Vec<String> = Vec::new();
    for e in &m.entries {
        let v = &e.item;
        let want_file = |r: &mut Report, name: &str| -> Option<String> {
            match &v.value {
                Value::String(s) => Some(s.clone()),
                _ => fail(
                    r,
                    v,
                    format_args!("error parsing tls config, expected '{name}' to be filename"),
                ),
            }
        };
        let want_bool = |r: &mut Report, name: &str| -> Option<bool> {
            match v.value {
                Value::Bool(b) => Some(b),
                _ => fail(
                    r,
                    v,
                    format_args!("error parsing tls config, expected '{name}' to be a boolean"),
                ),
            }
        };
        match e.lower.as_str() {
            "cert_file" => t.cert_file = Some(want_file(r, "cert_file")?),
            "key_file" => t.key_file = Some(want_file(r, "key_file")?),
            "ca_file" => t.ca_file = Some(want_file(r, "ca_file")?),
            "insecure" => t.insecure = want_bool(r, "insecure")?,
            "verify" => t.verify = want_bool(r, "verify")?,
            "verify_and_map" => {
                let b = want_bool(r, "verify_and_map")?;
                if b {
                    t.verify = true;
                }
                t.map = b;
            }
            "verify_cert_and_check_known_urls" => {
                let b = want_bool(r, "verify_cert_and_check_known_urls")?;
                if b && client {
                    return fail(
                        r,
                        v,
                        "verify_cert_and_check_known_urls not supported in this context",
                    );
                }
                if b {
                    t.verify = true;
                }
                t.check_known_urls = b;
            }
            "allow_insecure_cipher_suites" => {
                t.allow_insecure_cipher_suites = want_bool(r, "allow_insecure_cipher_suites")?
            }
            "cipher_suites" => {
                let list = r.array(v)?;
                if list.is_empty() {
                    return fail(
                        r,
                        v,
                        "error parsing tls config, 'cipher_suites' cannot be empty",
                    );
                }
                let mut names = Vec::new();
                for el in list {
                    let name = r.str(el)?;
                    if INSECURE_CIPHERS.contains(&name) {
                        insecure_found.push(name.to_string());
                    } else if !SECURE_CIPHERS.contains(&name) {
                        return fail(r, el, format_args!("unrecognized cipher {name}"));
                    }
                    names.push(name.to_string());
                }
                t.cipher_suites = Some(names);
            }
            "curve_preferences" => {
                let list = r.array(v)?;
                if list.is_empty() {
                    return fail(
                        r,
                        v,
                        "error parsing tls config, 'curve_preferences' cannot be empty",
                    );
                }
                let mut names = Vec::new();
                for el in list {
                    let name = r.str(el)?;
                    if !CURVES.contains(&name) {
                        return fail(r, el, format_args!("unrecognized curve preference {name}"));
                    }
                    names.push(name.to_string());
                }
                t.curve_preferences = Some(names);
            }
            "timeout" => {
                t.timeout = Some(match &v.value {
                    Value::Int(n) => *n as f64,
                    Value::Float(f) => *f,
                    Value::String(s) => match parse_duration(s) {
                        Ok(n) => n as f64 / 1e9,
                        Err(err) => {
                            return fail(
                                r,
                                v,
                                format_args!("error parsing tls config, 'timeout' {err}"),
                            )
                        }
                    },
                    _ => return fail(r, v, "error parsing tls config, 'timeout' wrong type"),
                })
            }
            "connection_rate_limit" => match v.value {
                Value::Int(n) => t.connection_rate_limit = Some(n),
                _ => {
                    return fail(
                        r,
                        v,
                        "error parsing tls config, 'connection_rate_limit' wrong type",
                    )
                }
            },
            "pinned_certs" => {
                let Value::Array(list) = &v.value else {
                    return fail(
                        r,
                        v,
                        "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                    );
                };
                let mut pins = Vec::new();
                for el in list {
                    let entry = r.str(el)?.to_lowercase();
                    if entry.len() != 64 || !entry.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return fail(
                            r,
                            el,
                            format_args!(
                                "error parsing tls config, 'pinned_certs' key {entry} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
                            ),
                        );
                    }
                    pins.push(entry);
                }
                if !pins.is_empty() {
                    t.pinned_certs = Some(pins);
                }
            }
            "handshake_first" | "first" | "immediate" => match &v.value {
                Value::Bool(b) => t.handshake_first = *b,
                Value::String(s) => match s.to_lowercase().as_str() {
                    "true" | "on" => t.handshake_first = true,
                    "false" | "off" => t.handshake_first = false,
                    "auto" | "auto_fallback" => {
                        t.handshake_first = true;
                        t.handshake_first_fallback =
                            Some(DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY);
                    }
                    _ => match parse_duration(s) {
                        Ok(n) if n >= 0 => {
                            t.handshake_first = true;
                            t.handshake_first_fallback = Some(Duration::from_nanos(n as u64));
                        }
                        _ => {
                            return fail(
                                r,
                                v,
                                format_args!(
                                    "field {}'s value {} is invalid",
                                    go_quote(&e.key),
                                    go_quote(s)
                                ),
                            )
                        }
                    },
                },
                other => {
                    return fail(
                        r,
                        v,
                        format_args!(
                            "field {} should be a boolean or a string, got {}",
                            go_quote(&e.key),
                            other.go_type()
                        ),
                    )
                }
            },
            "min_version" => {
                let Value::String(s) = &v.value else {
                    let shown = match &v.value {
                        Value::Int(n) => n.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => String::new(),
                    };
                    return fail(
                        r,
                        v,
                        format_args!("error parsing tls config: 'min_version' wrong type: {shown}"),
                    );
                };
                let problem = match s.as_str() {
                    "1.2" | "1.3" => None,
                    "1.0" => Some("unsupported TLS version: TLS 1.0".to_string()),
                    "1.1" => Some("unsupported TLS version: TLS 1.1".to_string()),
                    other => Some(format!("unknown version: {other}")),
                };
                if let Some(p) = problem {
                    return fail(r, v, format_args!("error parsing tls config: {p}"));
                }
                t.min_version = Some(s.clone());
            }
            "cert_store"
            | "cert_match_by"
            | "cert_match"
            | "ca_certs_match"
            | "cert_match_skip_invalid"
            | "ocsp_peer"
            | "certs"
            | "certificates" => {
                r.unsupported(&format!("tls.{}", e.lower), v);
                return None;
            }
            _ => {
                return fail(
                    r,
                    v,
                    format_args!(
                        "error parsing tls config, unknown field {}",
                        go_quote(&e.key)
                    ),
                )
            }
        }
    }
    if !t.allow_insecure_cipher_suites && !insecure_found.is_empty() {
        return fail(
            r,
            it,
            format_args!(
                "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: {}",
                insecure_found.join(", ")
            ),
        );
    }
    Some(t)
}

/// The file checks nats-server makes while building its TLS config.
fn check_files(t: &TlsConfig, it: &Item, r: &mut Report) -> Option<()> {
    match (&t.cert_file, &t.key_file) {
        (Some(_), None) => return fail(r, it, "missing 'key_file' in TLS configuration"),
        (None, Some(_)) => return fail(r, it, "missing 'cert_file' in TLS configuration"),
        (Some(cert), Some(key)) => {
            let pair = |e: String| format!("error parsing X509 certificate/key pair: {e}");
            let c = std::fs::read(cert).map_err(|e| pair(go_io_error(cert, &e)));
            let c = match c {
                Ok(c) => c,
                Err(e) => return fail(r, it, e),
            };
            let k = match std::fs::read(key) {
                Ok(k) => k,
                Err(e) => return fail(r, it, pair(go_io_error(key, &e))),
            };
            if !has_pem(&c, "CERTIFICATE") {
                return fail(
                    r,
                    it,
                    pair("tls: failed to find any PEM data in certificate input".into()),
                );
            }
            if !has_pem(&k, "PRIVATE KEY") {
                return fail(
                    r,
                    it,
                    pair("tls: failed to find any PEM data in key input".into()),
                );
            }
        }
        (None, None) => {}
    }
    if let Some(ca) = &t.ca_file {
        match std::fs::read(ca) {
            Err(e) => return fail(r, it, go_io_error(ca, &e)),
            Ok(pem) if !has_pem(&pem, "CERTIFICATE") => {
                return fail(r, it, "failed to parse root ca certificate")
            }
            Ok(_) => {}
        }
    }
    Some(())
}

/// Whether `data` holds a PEM block whose label ends with `label`.
fn has_pem(data: &[u8], label: &str) -> bool {
    let text = String::from_utf8_lossy(data);
    text.lines().any(|l| {
        l.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|lab| lab.ends_with(label))
    })
}
