//! Test certificates made on the fly with rcgen (no committed secrets): a CA, a server
//! certificate for 127.0.0.1/localhost, client certificates signed by the CA, and a client
//! signed by another CA. Plus a blocking rustls client for raw-protocol TLS tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::READ_TIMEOUT;

/// A certificate and its key, written as PEM files.
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate's DER.
    pub der: Vec<u8>,
    /// The SubjectPublicKeyInfo DER as rcgen wrote it.
    pub spki: Vec<u8>,
}

/// The files of one test's PKI, in a temp dir removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server: Pair,
    /// CN=alice, O=Acme, OU=Eng, e-mail SAN alice@example.com: signed by the CA.
    pub alice: Pair,
    /// CN=bob: signed by the CA.
    pub bob: Pair,
    /// CN=mallory: signed by another CA.
    pub rogue: Pair,
    /// A route certificate (CN=route, SANs localhost and 127.0.0.1, server and client
    /// authentication): routes present one certificate both ways.
    pub route: Pair,
    /// The same as `route`, signed by another CA.
    pub rogue_route: Pair,
}

fn ca(name: &str) -> (Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("ca key");
    (p.self_signed(&key).expect("ca cert"), key)
}

fn write_pair(dir: &Path, name: &str, cert: &Certificate, key: &KeyPair) -> Pair {
    let c = dir.join(format!("{name}-cert.pem"));
    let k = dir.join(format!("{name}-key.pem"));
    std::fs::write(&c, cert.pem()).expect("write cert");
    std::fs::write(&k, key.serialize_pem()).expect("write key");
    Pair {
        cert: c,
        key: k,
        der: cert.der().to_vec(),
        spki: key.public_key_der(),
    }
}

fn client(
    dir: &Path,
    name: &str,
    dn: &[(DnType, &str)],
    email: Option<&str>,
    issuer: &(Certificate, KeyPair),
) -> Pair {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
    for (t, v) in dn {
        p.distinguished_name.push(t.clone(), *v);
    }
    if let Some(e) = email {
        p.subject_alt_names
            .push(SanType::Rfc822Name(e.to_string().try_into().expect("ia5")));
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("client key");
    let cert = p
        .signed_by(&key, &issuer.0, &issuer.1)
        .expect("sign client cert");
    write_pair(dir, name, &cert, &key)
}

/// A certificate for both ends of a route: the dialler checks its SANs, the acceptor its
/// client-authentication usage.
fn route_pair(dir: &Path, name: &str, issuer: &(Certificate, KeyPair)) -> Pair {
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("route params");
    p.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    p.distinguished_name.push(DnType::CommonName, "route");
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().expect("route key");
    let cert = p
        .signed_by(&key, &issuer.0, &issuer.1)
        .expect("sign route cert");
    write_pair(dir, name, &cert, &key)
}

impl Pki {
    pub fn new() -> Pki {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nats-tpc-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("pki dir");
        let authority = ca("Test CA");
        let other = ca("Other CA");
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, authority.0.pem()).expect("write ca");

        let mut sp = CertificateParams::new(vec!["localhost".to_string()]).expect("server");
        sp.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        sp.distinguished_name.push(DnType::CommonName, "localhost");
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let skey = KeyPair::generate().expect("server key");
        let scert = sp
            .signed_by(&skey, &authority.0, &authority.1)
            .expect("sign server");
        let server = write_pair(&dir, "server", &scert, &skey);

        let alice = client(
            &dir,
            "alice",
            &[
                (DnType::CommonName, "alice"),
                (DnType::OrganizationName, "Acme"),
                (DnType::OrganizationalUnitName, "Eng"),
            ],
            Some("alice@example.com"),
            &authority,
        );
        let bob = client(
            &dir,
            "bob",
            &[(DnType::CommonName, "bob")],
            None,
            &authority,
        );
        let rogue = client(
            &dir,
            "rogue",
            &[(DnType::CommonName, "mallory")],
            None,
            &other,
        );
        let route = route_pair(&dir, "route", &authority);
        let rogue_route = route_pair(&dir, "rogue-route", &other);
        Pki {
            dir,
            ca: ca_path,
            server,
            alice,
            bob,
            rogue,
            route,
            rogue_route,
        }
    }

    /// A `tls {}` block with the server certificate plus `extra` lines.
    pub fn tls_block(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n{extra}\n}}\n",
            self.server.cert.display(),
            self.server.key.display()
        )
    }

    /// A `cluster { tls {} }` block with route certificate `pair`, the test CA, and
    /// `extra` lines inside `tls {}`.
    pub fn route_tls_block(&self, pair: &Pair, extra: &str) -> String {
        format!(
            "cluster {{\n  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    {extra}\n  }}\n}}\n",
            pair.cert.display(),
            pair.key.display(),
            self.ca.display()
        )
    }

    /// `--tls --tlscert .. --tlskey ..` as owned strings.
    pub fn tls_flags(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--tlscert".into(),
            self.server.cert.display().to_string(),
            "--tlskey".into(),
            self.server.key.display().to_string(),
        ]
    }

    /// A rustls client config trusting the test CA, with an optional client certificate and
    /// a choice of protocol versions.
    pub fn client_config(
        &self,
        identity: Option<&Pair>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).expect("read ca") {
            roots.add(c.expect("ca pem")).expect("add ca");
        }
        let b =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .expect("versions")
                .with_root_certificates(roots);
        let cfg = match identity {
            Some(p) => {
                let certs = CertificateDer::pem_file_iter(&p.cert)
                    .expect("cert")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert pem");
                let key = PrivateKeyDer::from_pem_file(&p.key).expect("key");
                b.with_client_auth_cert(certs, key).expect("client auth")
            }
            None => b.with_no_client_auth(),
        };
        Arc::new(cfg)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads one `\n`-terminated line byte by byte (nothing read past it).
pub fn read_plain_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// A client speaking the protocol over TLS, line by line.
pub struct TlsRaw {
    pub reader: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    /// The INFO sent in plaintext before the handshake (None with TLS first).
    pub plain_info: Option<String>,
}

impl TlsRaw {
    /// Connects; unless `tls_first`, reads the plaintext INFO first. Then runs the handshake
    /// (an error here is the handshake failing).
    pub fn connect(port: u16, cfg: Arc<ClientConfig>, tls_first: bool) -> std::io::Result<TlsRaw> {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(READ_TIMEOUT))?;
        let plain_info = if tls_first {
            None
        } else {
            Some(read_plain_line(&mut tcp)?)
        };
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let conn = ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsRaw {
            reader: BufReader::new(stream),
            plain_info,
        })
    }

    pub fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        let s = self.reader.get_mut();
        s.write_all(data)?;
        s.flush()
    }

    pub fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        if self.reader.read_line(&mut l)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(l)
    }

    /// Reads lines until `want` (server PINGs answered), failing on EOF or timeout.
    pub fn expect(&mut self, want: &str) -> std::io::Result<()> {
        loop {
            let l = self.line()?;
            if l == want {
                return Ok(());
            }
            if l == "PING\r\n" {
                self.send(b"PONG\r\n")?;
                continue;
            }
            if l.starts_with("INFO ") || l == "+OK\r\n" {
                continue;
            }
            return Err(std::io::Error::other(format!(
                "expected {want:?}, got {l:?}"
            )));
        }
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.reader.get_ref().conn.protocol_version()
    }
}
