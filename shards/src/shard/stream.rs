//! A connection's byte stream: plain TCP, or TLS over it (as the server side for clients and
//! accepted routes, as the client side for routes we dial). The reader and the writer task
//! share it; each borrows it only inside one `poll_*` call, never across an await.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future::{or, poll_fn};
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use glommio::timer::Timer;
use log::info;

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
pub async fn write_all(stream: &Shared, buf: &[u8]) -> io::Result<()> {
    write_counted(stream, buf, &Cell::new(0)).await
}

/// [`write_all`], adding to `sent` as bytes go out (TLS: as rustls takes them, which it does
/// only as fast as the socket drains its records).
async fn write_counted(stream: &Shared, mut buf: &[u8], sent: &Cell<usize>) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| stream.borrow_mut().poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        sent.set(sent.get() + n);
    }
    poll_fn(|cx| stream.borrow_mut().poll_flush(cx)).await
}

/// How a write bounded by `write_deadline` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    Done,
    /// A deadline passed and the write was given up: the connection is a slow consumer.
    Deadline,
    Failed,
}

/// Writes all of `buf` like [`write_all`], bounded by `deadline` as nats-server bounds a
/// flush (client.go `flushOutbound`, `handleWriteTimeout`). Each time the deadline passes
/// it logs nats-server's notice under the connection's `prefix` (`Slow Consumer
/// Detected`, then `State`) and tells `late(first, going_on)`; the write then goes on only
/// if `retry` (the `write_timeout: retry` policy) and some bytes went out since the last
/// deadline, and otherwise ends in [`Bounded::Deadline`] with the rest unwritten. A write
/// that passed a deadline and completes logs `Slow Consumer Recovered`. `written` is what
/// the caller already wrote of this flush: it counts as progress, as nats-server counts
/// every byte of the flush.
pub async fn write_bounded(
    stream: &Shared,
    buf: &[u8],
    written: usize,
    deadline: Duration,
    retry: bool,
    prefix: impl Fn() -> String,
    mut late: impl FnMut(bool, bool),
) -> Bounded {
    let start = Instant::now();
    let total = written + buf.len();
    let sent = Cell::new(written);
    // Kept across deadlines, so a write that goes on loses nothing in flight.
    let mut write = pin!(write_counted(stream, buf, &sent));
    let mut seen = 0;
    let mut passed = 0;
    loop {
        let done = or(async { Some(write.as_mut().await) }, async {
            Timer::new(deadline).await;
            None
        })
        .await;
        match done {
            Some(Ok(())) => {
                if passed > 0 {
                    info!(
                        "{} - Slow Consumer Recovered: Flush took {:.3}s with 1 chunks \
                         of {total} total bytes.",
                        prefix(),
                        start.elapsed().as_secs_f64()
                    );
                }
                return Bounded::Done;
            }
            Some(Err(_)) => return Bounded::Failed,
            None => {
                info!(
                    "{} - Slow Consumer {}: WriteDeadline of {} exceeded with 1 chunks \
                     of {total} total bytes.",
                    prefix(),
                    if passed == 0 { "Detected" } else { "State" },
                    crate::monitor::format::go_duration(deadline)
                );
                let going_on = retry && sent.get() > seen;
                late(passed == 0, going_on);
                if !going_on {
                    return Bounded::Deadline;
                }
                seen = sent.get();
                passed += 1;
            }
        }
    }
}
