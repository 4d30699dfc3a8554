//! The start of a connection on a TLS-configured port, in nats-server's order
//! (`createClientEx`): INFO in plaintext, then the client's TLS handshake; or, with
//! `handshake_first`, the handshake before INFO; with `allow_non_tls`, the first byte the
//! client sends (0x16, a TLS record) tells whether it wants TLS.
//!
//! Everything here is one task per connection awaiting its own socket, so a client that
//! stalls its handshake holds nothing but its own task; it is closed at `tls.timeout`.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use log::{debug, trace};
use rustls::pki_types::CertificateDer;

use super::conn::Conn;
use super::stream::Stream;
use crate::options::TlsOpts;
use crate::protocol::errors::TLS_REQUIRED;
use crate::protocol::CloseReason;
use crate::tls::{self, TlsConfigs};

/// What a TLS connection negotiated (for `/connz` and `verify_and_map`).
#[derive(Debug, Clone)]
pub struct TlsConnInfo {
    /// `1.2` or `1.3`.
    pub version: String,
    /// Go's name of the cipher suite.
    pub cipher: String,
    /// The handshake came before INFO (`handshake_first`).
    pub first: bool,
    /// The client's certificate chain, leaf first (empty without `verify`).
    pub peer_certs: Vec<CertificateDer<'static>>,
}

/// A connection ready for the protocol.
pub struct Established {
    pub stream: Stream,
    /// Present for TLS connections.
    pub tls: Option<TlsConnInfo>,
    /// The INFO still to send (over TLS, after a `handshake_first` handshake).
    pub info: Option<Vec<u8>>,
}

/// The INFO lines this connection may need.
pub struct InfoLines {
    /// INFO as configured (`tls_required`, or `tls_available` with `allow_non_tls`).
    pub normal: Vec<u8>,
    /// INFO after a `handshake_first` handshake: always `tls_required`.
    pub tls_first: Vec<u8>,
}

enum Peek {
    Byte(u8),
    Eof,
    Timeout,
}

/// Waits until the client has sent something, without consuming it.
async fn peek_first(tcp: &TcpStream, wait: Duration) -> Peek {
    or(
        async {
            let mut b = [0u8; 1];
            match tcp.peek(&mut b).await {
                Ok(1) => Peek::Byte(b[0]),
                _ => Peek::Eof,
            }
        },
        async {
            Timer::new(wait).await;
            Peek::Timeout
        },
    )
    .await
}

/// Writes plaintext before the handshake, bounded by `wait` (a fresh socket takes an INFO at
/// once; a peer that does not read must not hold the task).
async fn write_plain(tcp: &mut TcpStream, data: &[u8], wait: Duration) -> bool {
    or(async { tcp.write_all(data).await.is_ok() }, async {
        Timer::new(wait).await;
        false
    })
    .await
}

/// Reads and drops what the client already sent, so that closing the socket sends a FIN
/// rather than a reset that could discard our last bytes (Go has read it all by then too).
fn discard_pending(tcp: &TcpStream) {
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        // SAFETY: receives into a live local buffer from a socket we own; never blocks.
        let n = unsafe {
            libc::recv(
                tcp.as_raw_fd(),
                scratch.as_mut_ptr().cast(),
                scratch.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
    }
}

/// Runs the TLS part of a new connection. `Err` closes it with that reason.
pub async fn establish(
    conn: &Conn,
    mut tcp: TcpStream,
    cfg: &Arc<TlsConfigs>,
    o: &TlsOpts,
    allow_non_tls: bool,
    info: InfoLines,
) -> Result<Established, CloseReason> {
    let prefix = conn.prefix();
    let mut tls_first = o.handshake_first;
    if tls_first {
        if let Some(fallback) = o.handshake_first_fallback {
            // `handshake_first: auto`: a client that says nothing for a moment gets INFO.
            match peek_first(&tcp, fallback).await {
                Peek::Eof => return Err(CloseReason::ClientClosed),
                Peek::Timeout => tls_first = false,
                Peek::Byte(_) => {}
            }
        }
    }
    if !tls_first && !write_plain(&mut tcp, &info.normal, o.timeout).await {
        return Err(CloseReason::WriteError);
    }
    let deadline = Instant::now() + o.timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let plain = |tcp| {
        Ok(Established {
            stream: Stream::Plain(tcp),
            tls: None,
            info: None,
        })
    };
    match peek_first(&tcp, left()).await {
        Peek::Eof => return Err(CloseReason::ClientClosed),
        // allow_non_tls: no TLS record first (or nothing at all within the TLS timeout, as
        // nats-server decides) means a plaintext client.
        Peek::Byte(b) if allow_non_tls && !tls_first && b != 0x16 => return plain(tcp),
        Peek::Timeout if allow_non_tls && !tls_first => return plain(tcp),
        Peek::Timeout => {
            debug!("{prefix} - TLS handshake timeout");
            if !tls_first {
                // The client got INFO and never started TLS: tell it why it is closed.
                if conn.trace() {
                    trace!("{prefix} - \"->> [-ERR Secure Connection - TLS Required]\"");
                }
                write_plain(&mut tcp, TLS_REQUIRED, Duration::from_millis(500)).await;
            }
            return Err(CloseReason::TlsHandshakeError);
        }
        Peek::Byte(b) if b != 0x16 => {
            // Go's crypto/tls closes such a client without an alert; so do we.
            debug!("{prefix} - TLS handshake error: tls: first record does not look like a TLS handshake");
            discard_pending(&tcp);
            return Err(CloseReason::TlsHandshakeError);
        }
        Peek::Byte(_) => {}
    }
    debug!("{prefix} - Starting TLS client connection handshake");
    let acceptor = futures_rustls::TlsAcceptor::from(cfg.client.clone());
    let handshake = async { Some(acceptor.accept(tcp).await) };
    let timeout = async {
        Timer::new(left()).await;
        None
    };
    let stream = match or(handshake, timeout).await {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            debug!("{prefix} - TLS handshake error: {e}");
            return Err(CloseReason::TlsHandshakeError);
        }
        None => {
            debug!("{prefix} - TLS handshake timeout");
            return Err(CloseReason::TlsHandshakeError);
        }
    };
    let n = tls::Negotiated::of(stream.get_ref().1);
    if !n.pinned_ok(cfg.pinned.as_deref(), &prefix) {
        return Err(CloseReason::TlsHandshakeError);
    }
    debug!("{prefix} - TLS handshake complete");
    debug!(
        "{prefix} - TLS version {}, cipher suite {}",
        n.version, n.cipher
    );
    Ok(Established {
        stream: Stream::Tls(Box::new(stream)),
        tls: Some(TlsConnInfo {
            version: n.version,
            cipher: n.cipher,
            first: tls_first,
            peer_certs: n.peer_certs,
        }),
        info: tls_first.then_some(info.tls_first),
    })
}
