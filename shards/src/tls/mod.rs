//! TLS for client connections, routes and the HTTPS monitor: the rustls configurations
//! built from [`TlsOpts`], and what nats-server reads from a client certificate.
//!
//! Built once at start-up and kept in a [`TlsSwap`] that every accept reads, so a reload can
//! replace the certificates without touching connections already established.
//!
//! # Layout
//! - `der.rs`: the few certificate fields we read (subject, SPKI, SANs).
//! - `identity.rs`: `verify_and_map`, the certificate-to-user mapping.

pub mod der;
pub mod identity;

use std::sync::{Arc, RwLock};

use log::warn;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, ClientConfig, NamedGroup, ProtocolVersion, RootCertStore, ServerConfig};

use crate::options::TlsOpts;

/// Why the TLS configuration could not be built; the text is nats-server's where it has one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The rustls configurations one TLS setting yields.
#[derive(Debug)]
pub struct TlsConfigs {
    /// Client connections (client certificates required when `verify`).
    pub client: Arc<ServerConfig>,
    /// The HTTPS monitor: the same certificate, never a client certificate (as nats-server).
    pub monitor: Arc<ServerConfig>,
    /// SHA-256 of the SubjectPublicKeyInfo of every certificate allowed (`pinned_certs`).
    pub pinned: Option<Vec<[u8; 32]>>,
}

/// The current configurations, replaced whole on reload.
#[derive(Debug, Default)]
pub struct TlsSwap(RwLock<Option<Arc<TlsConfigs>>>);

impl TlsSwap {
    /// A swap holding `c`.
    pub fn new(c: Option<TlsConfigs>) -> TlsSwap {
        TlsSwap(RwLock::new(c.map(Arc::new)))
    }

    /// The configurations in force (read once per accepted connection).
    pub fn get(&self) -> Option<Arc<TlsConfigs>> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the configurations: new connections use `c`, established ones keep theirs.
    pub fn set(&self, c: Option<TlsConfigs>) {
        let c = c.map(Arc::new);
        match self.0.write() {
            Ok(mut g) => *g = c,
            Err(p) => *p.into_inner() = c,
        }
    }
}

/// Go's `os.Open` error wording.
fn open_error(path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {why}")
}

fn pair_error(msg: impl std::fmt::Display) -> TlsError {
    TlsError(format!("error parsing X509 certificate/key pair: {msg}"))
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| pair_error(open_error(path, &e)))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pair_error(format!("tls: {e}")))?;
    if certs.is_empty() {
        return Err(pair_error(
            "tls: failed to find any PEM data in certificate input",
        ));
    }
    Ok(certs)
}

fn load_key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| pair_error(open_error(path, &e)))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| pair_error("tls: failed to find any PEM data in key input"))
}

fn load_roots(o: &TlsOpts) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match &o.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| TlsError(open_error(path, &e)))?;
            let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError("failed to parse root ca certificate".into()));
            }
        }
        None => {
            // nats-server verifies client certificates against the system pool then.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    Ok(roots)
}

/// The nats-server (Go) name of a cipher suite: `TLS_AES_128_GCM_SHA256` for TLS 1.3 ones.
pub fn go_cipher_name(s: CipherSuite) -> String {
    match s.as_str() {
        Some(n) => match n.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => n.to_string(),
        },
        None => format!("0x{:04x}", u16::from(s)),
    }
}

/// nats-server's `tlsVersion` text.
pub fn go_version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_2 => "1.2".to_string(),
        ProtocolVersion::TLSv1_3 => "1.3".to_string(),
        other => format!("Unknown [0x{:x}]", u16::from(other)),
    }
}

/// Go's curve names for the key-exchange groups rustls with ring has.
fn go_curve(g: NamedGroup) -> &'static str {
    match g {
        NamedGroup::X25519 => "X25519",
        NamedGroup::secp256r1 => "CurveP256",
        NamedGroup::secp384r1 => "CurveP384",
        _ => "",
    }
}

/// The ring provider narrowed to the configured cipher suites and curves. Like Go, the
/// cipher list only picks TLS 1.2 suites: TLS 1.3 suites are always on.
fn crypto_provider(o: &TlsOpts) -> Result<CryptoProvider, TlsError> {
    let mut p = provider::default_provider();
    if let Some(names) = &o.cipher_suites {
        let mut unsupported = Vec::new();
        for n in names {
            let known = p
                .cipher_suites
                .iter()
                .any(|s| go_cipher_name(s.suite()) == *n);
            if !known {
                unsupported.push(n.as_str());
            }
        }
        if !unsupported.is_empty() {
            warn!(
                "TLS cipher suites not supported by nats-tpc (rustls) are ignored: {}",
                unsupported.join(", ")
            );
        }
        p.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13 || names.contains(&go_cipher_name(s.suite()))
        });
    }
    if let Some(names) = &o.curve_preferences {
        let mut groups = Vec::new();
        for n in names {
            match p.kx_groups.iter().find(|g| go_curve(g.name()) == n) {
                Some(g) => groups.push(*g),
                None => {
                    warn!("TLS curve preference {n} is not supported by nats-tpc (rustls), ignored")
                }
            }
        }
        if groups.is_empty() {
            return Err(TlsError(
                "none of the TLS curve_preferences is supported by nats-tpc".into(),
            ));
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

/// Lower-case hex SHA-256 as 32 bytes; `None` if `s` is not 64 hex digits.
fn parse_pin(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo (what `pinned_certs` lists).
pub fn spki_sha256(cert: &[u8]) -> Option<[u8; 32]> {
    let f = der::cert_fields(cert).ok()?;
    Some(sha256(f.spki))
}

/// What a finished handshake negotiated: the peer's certificate chain (leaf first), and
/// the TLS version and cipher suite by Go's names. For client and route connections alike.
pub struct Negotiated {
    pub peer_certs: Vec<CertificateDer<'static>>,
    pub version: String,
    pub cipher: String,
}

impl Negotiated {
    pub fn of(session: &rustls::CommonState) -> Negotiated {
        Negotiated {
            peer_certs: session
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            version: session
                .protocol_version()
                .map(go_version_name)
                .unwrap_or_default(),
            cipher: session
                .negotiated_cipher_suite()
                .map(|s| go_cipher_name(s.suite()))
                .unwrap_or_default(),
        }
    }

    /// nats-server's pinned certificate test: with `pinned_certs`, the peer's leaf
    /// certificate key must be listed. Logs why it fails (for connection `prefix`).
    pub fn pinned_ok(&self, pins: Option<&[[u8; 32]]>, prefix: &str) -> bool {
        let Some(pins) = pins else {
            return true;
        };
        match self.peer_certs.first().and_then(|c| spki_sha256(c)) {
            None => {
                log::debug!(
                    "{prefix} - Failed pinned cert test as client did not provide a certificate"
                );
                false
            }
            Some(k) if !pins.contains(&k) => {
                log::debug!(
                    "{prefix} - Failed pinned cert test for key id: {}",
                    identity::hex(&k)
                );
                false
            }
            Some(_) => true,
        }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
static TLS13_AND_12: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];

fn protocol_versions(o: &TlsOpts) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if o.min_tls13 {
        &TLS13_ONLY
    } else {
        &TLS13_AND_12
    }
}

fn key_error(e: rustls::Error) -> TlsError {
    match e {
        rustls::Error::InconsistentKeys(_) => {
            pair_error("tls: private key does not match public key")
        }
        other => pair_error(format!("tls: {other}")),
    }
}

fn parse_pins(o: &TlsOpts) -> Result<Option<Vec<[u8; 32]>>, TlsError> {
    let Some(list) = &o.pinned_certs else {
        return Ok(None);
    };
    list.iter()
        .map(|s| {
            parse_pin(&s.to_ascii_lowercase()).ok_or_else(|| {
                TlsError(format!(
                    "error parsing tls config, 'pinned_certs' key {s} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Builds the rustls configurations from the options, loading the files.
pub fn build(o: &TlsOpts) -> Result<TlsConfigs, TlsError> {
    let certs = load_certs(&o.cert_file)?;
    let key = load_key(&o.key_file)?;
    let provider = Arc::new(crypto_provider(o)?);
    let versions = protocol_versions(o);
    let builder = || {
        ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError(format!("TLS configuration: {e}")))
    };
    let client_builder = if o.verify {
        let roots = Arc::new(load_roots(o)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError(format!("TLS client verification: {e}")))?;
        builder()?.with_client_cert_verifier(verifier)
    } else {
        builder()?.with_no_client_auth()
    };
    let client = client_builder
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(key_error)?;
    let mut monitor = builder()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(key_error)?;
    monitor.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConfigs {
        client: Arc::new(client),
        monitor: Arc::new(monitor),
        pinned: parse_pins(o)?,
    })
}

/// The rustls configurations of route TLS (`cluster { tls {} }`), both ends of a route.
#[derive(Debug)]
pub struct RouteTlsConfigs {
    /// Routes we accept: the peer must present a certificate that `ca_file` (else the
    /// system roots) verifies, whatever `verify` says.
    pub accept: Arc<ServerConfig>,
    /// Routes we dial: we present our certificate and verify the peer's against the same
    /// roots, unless `insecure`.
    pub dial: Arc<ClientConfig>,
    /// SHA-256 of the SubjectPublicKeyInfo of every peer allowed (`pinned_certs`).
    pub pinned: Option<Vec<[u8; 32]>>,
    /// The handshake timeout (`timeout`).
    pub timeout: std::time::Duration,
}

/// Builds route TLS as nats-server's `getTLSConfig` does for clusters: one certificate
/// for both directions, client certificates always required and verified, and the CA pool
/// used for both the peers we accept and the peers we dial.
pub fn build_route(o: &TlsOpts) -> Result<RouteTlsConfigs, TlsError> {
    let certs = load_certs(&o.cert_file)?;
    let key = load_key(&o.key_file)?;
    let provider = Arc::new(crypto_provider(o)?);
    let versions = protocol_versions(o);
    let roots = Arc::new(load_roots(o)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| TlsError(format!("TLS route verification: {e}")))?;
    let accept = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError(format!("TLS configuration: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(key_error)?;
    let dial_builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError(format!("TLS configuration: {e}")))?;
    let dial_builder = if o.insecure {
        dial_builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AnyServerCert(provider)))
    } else {
        dial_builder.with_root_certificates(roots)
    };
    let dial = dial_builder
        .with_client_auth_cert(certs, key)
        .map_err(key_error)?;
    Ok(RouteTlsConfigs {
        accept: Arc::new(accept),
        dial: Arc::new(dial),
        pinned: parse_pins(o)?,
        timeout: o.timeout,
    })
}

/// `insecure`: Go's `InsecureSkipVerify` for routes we dial.
mod insecure {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};
    use std::sync::Arc;

    /// Accepts any certificate chain and name; the handshake signatures are still checked
    /// (the peer must hold the key of the certificate it sent).
    #[derive(Debug)]
    pub struct AnyServerCert(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyServerCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names() {
        assert_eq!(
            go_cipher_name(CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            go_cipher_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
        assert_eq!(go_version_name(ProtocolVersion::TLSv1_3), "1.3");
    }

    #[test]
    fn cipher_list_narrows_tls12_only() {
        let o = TlsOpts {
            cipher_suites: Some(vec![
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
            ]),
            curve_preferences: Some(vec!["CurveP256".into(), "CurveP521".into()]),
            ..TlsOpts::default()
        };
        let p = crypto_provider(&o).unwrap();
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| go_cipher_name(s.suite()))
            .collect();
        assert!(names.contains(&"TLS_AES_128_GCM_SHA256".to_string()));
        assert!(names.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_string()));
        assert!(!names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()));
        assert_eq!(p.kx_groups.len(), 1);
        assert_eq!(p.kx_groups[0].name(), NamedGroup::secp256r1);
    }

    #[test]
    fn pins_parse() {
        let s = "ab".repeat(32);
        assert_eq!(parse_pin(&s), Some([0xab; 32]));
        assert_eq!(parse_pin("abc"), None);
        assert_eq!(parse_pin(&"zz".repeat(32)), None);
    }

    #[test]
    fn missing_files_read_like_go() {
        let o = TlsOpts {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            ..TlsOpts::default()
        };
        let e = build(&o).unwrap_err().to_string();
        assert_eq!(
            e,
            "error parsing X509 certificate/key pair: open /nonexistent/cert.pem: no such file or directory"
        );
    }
}
