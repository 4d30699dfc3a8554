//! Route TLS (`cluster { tls {} }`), as nats-server's `createRoute` does it: the handshake
//! is the first thing on a new route connection, before CONNECT and INFO, both ways. The
//! side that dialled is the TLS client and verifies the peer's certificate (unless
//! `insecure`); the side that accepted requires and verifies a certificate from the peer.
//! A peer without TLS, or with a certificate the roots do not verify, never gets as far as
//! the route protocol.

use std::net::IpAddr;
use std::time::Duration;

use futures_lite::future::or;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use log::{debug, error};
use rustls::pki_types::ServerName;

use super::Router;
use crate::shard::stream::Stream;
use crate::tls::{self, RouteTlsConfigs};

/// Why a route's TLS handshake failed (logged as nats-server logs it).
#[derive(Debug, thiserror::Error)]
pub enum RouteTlsError {
    #[error("{0}")]
    Handshake(std::io::Error),
    #[error("tls: handshake timed out")]
    Timeout,
    #[error("certificate not pinned")]
    NotPinned,
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// The name we check a dialled route's certificate against: the URL's host name, or for
/// an IP address the first host name among the configured routes (nats-server's
/// `routeTLSName`), else the IP itself.
fn server_name(router: &Router, host: &str) -> String {
    if host.parse::<IpAddr>().is_ok() {
        if let Some(n) = router.tls_name.borrow().as_ref() {
            return n.clone();
        }
    }
    host.to_string()
}

/// The first configured route host that is a name, not an IP address.
pub fn first_route_name(router_routes: &[crate::options::RouteUrl]) -> Option<String> {
    router_routes
        .iter()
        .map(|u| u.host.as_str())
        .find(|h| h.parse::<IpAddr>().is_err())
        .map(str::to_string)
}

/// Runs the TLS handshake on a new route connection: as the client when we dialled it
/// (`dial_host` is the host we dialled), as the server otherwise.
pub async fn handshake(
    router: &Router,
    cfg: &RouteTlsConfigs,
    tcp: TcpStream,
    dial_host: Option<&str>,
    prefix: &str,
) -> Result<Stream, RouteTlsError> {
    let deadline = cfg.timeout.max(Duration::from_millis(1));
    let (stream, n) = match dial_host {
        Some(host) => {
            debug!("{prefix} - Starting TLS route client handshake");
            let name = server_name(router, host);
            let sn = ServerName::try_from(name.clone())
                .map_err(|_| RouteTlsError::ServerName(name.clone()))?;
            let connector = futures_rustls::TlsConnector::from(cfg.dial.clone());
            let res = or(
                async {
                    connector
                        .connect(sn, tcp)
                        .await
                        .map_err(RouteTlsError::Handshake)
                },
                timeout(deadline),
            )
            .await;
            let s = match res {
                Ok(s) => s,
                Err(e) => {
                    // nats-server forgets a route TLS name the peer's certificate does not
                    // carry (its issue 1256), so the next dial checks the IP instead.
                    if name != host && is_name_error(&e) {
                        router.tls_name.borrow_mut().take();
                    }
                    return Err(e);
                }
            };
            let n = tls::Negotiated::of(s.get_ref().1);
            (Stream::TlsClient(Box::new(s)), n)
        }
        None => {
            debug!("{prefix} - Starting TLS route server handshake");
            let acceptor = futures_rustls::TlsAcceptor::from(cfg.accept.clone());
            let s = or(
                async { acceptor.accept(tcp).await.map_err(RouteTlsError::Handshake) },
                timeout(deadline),
            )
            .await?;
            let n = tls::Negotiated::of(s.get_ref().1);
            (Stream::Tls(Box::new(s)), n)
        }
    };
    if !n.pinned_ok(cfg.pinned.as_deref(), prefix) {
        return Err(RouteTlsError::NotPinned);
    }
    debug!("{prefix} - TLS handshake complete");
    debug!(
        "{prefix} - TLS version {}, cipher suite {}",
        n.version, n.cipher
    );
    Ok(stream)
}

async fn timeout<T>(d: Duration) -> Result<T, RouteTlsError> {
    Timer::new(d).await;
    Err(RouteTlsError::Timeout)
}

/// Logs a failed route handshake: always an error for routes (nats-server: these ports are
/// not probed by load balancers).
pub fn log_failure(prefix: &str, e: &RouteTlsError) {
    error!("{prefix} - TLS route handshake error: {e}");
}

/// Whether a failed handshake failed because the certificate does not carry the name.
fn is_name_error(e: &RouteTlsError) -> bool {
    let RouteTlsError::Handshake(io) = e else {
        return false;
    };
    matches!(
        io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. }
        ))
    )
}
