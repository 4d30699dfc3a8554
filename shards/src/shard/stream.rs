//! A connection's byte stream: plain TCP, or TLS over it (as the server side for clients and
//! accepted routes, as the client side for routes we dial). The reader and the writer task
//! share it; each borrows it only inside one `poll_*` call, never across an await.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// TLS over a glommio stream, server side.
pub type TlsStream = futures_rustls::server::TlsStream<TcpStream>;

/// TLS over a glommio stream, client side (routes we dial).
pub type TlsClientStream = futures_rustls::client::TlsStream<TcpStream>;

/// The connection's transport.
pub enum Stream {
    Plain(TcpStream),
    /// Boxed: rustls' connection state is large, and most connections are plain.
    Tls(Box<TlsStream>),
    TlsClient(Box<TlsClientStream>),
}

/// A stream both connection tasks use.
pub type Shared = Rc<RefCell<Stream>>;

impl Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Stream::TlsClient(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Stream::TlsClient(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    /// Pushes out TLS records rustls still holds; nothing to do for plain TCP.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(_) => Poll::Ready(Ok(())),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            Stream::TlsClient(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    /// Whether this is a TLS connection.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Queues a TLS close_notify alert (sent by the next flush).
    pub fn send_close_notify(&mut self) {
        match self {
            Stream::Plain(_) => {}
            Stream::Tls(s) => s.get_mut().1.send_close_notify(),
            Stream::TlsClient(s) => s.get_mut().1.send_close_notify(),
        }
    }
}

/// Reads what is there (at least one byte, or 0 at end of stream).
pub async fn read_some(stream: &Shared, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| stream.borrow_mut().poll_read(cx, buf)).await
}

/// Writes all of `buf`, and for TLS flushes the records it became.
pub async fn write_all(stream: &Shared, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| stream.borrow_mut().poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    poll_fn(|cx| stream.borrow_mut().poll_flush(cx)).await
}
