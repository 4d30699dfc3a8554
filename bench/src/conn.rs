//! One blocking client connection: handshake, batched writes, and a read loop that parses
//! every complete frame in one large read before reading again.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::proto::{self, Frame};

/// Read buffer size: large enough that one `read` brings thousands of small messages.
pub const READ_BUF: usize = 256 * 1024;

/// How much a publisher batches before one `write`.
pub const WRITE_BATCH: usize = 64 * 1024;

/// How long the handshake and `PING`/`PONG` flushes may take before the server is declared
/// unresponsive.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write may block without progress before the run is failed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected, handshaken client.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `-ERR` lines the server sent, kept for the report.
    pub errors: Vec<String>,
}

/// What one [`Conn::read_some`] call saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadOutcome {
    /// Bytes read from the socket (0 when the read timed out).
    pub bytes: usize,
    /// `PONG` frames seen.
    pub pongs: usize,
}

impl Conn {
    /// Connects, reads `INFO`, sends `CONNECT` and waits for the `PONG` that answers the first
    /// `PING` (the server has then processed `CONNECT`).
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT)?;
        // Writes are already batched; Nagle would only delay the last partial batch.
        stream.set_nodelay(true)?;
        // A server that stops reading must not hang a run forever: a write that makes no
        // progress for this long fails the run instead.
        stream.set_write_timeout(Some(WRITE_STALL_TIMEOUT))?;
        let mut c = Conn {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            errors: Vec::new(),
        };
        c.stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let mut info = false;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        while !info {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no INFO from server",
                ));
            }
            c.read_some(|f| {
                if matches!(f, Frame::Info(_)) {
                    info = true;
                }
            })?;
        }
        let mut hello = proto::CONNECT.to_vec();
        hello.extend_from_slice(b"PING\r\n");
        c.stream.write_all(&hello)?;
        c.wait_pong(|_| {})?;
        Ok(c)
    }

    /// Writes all of `data` (one `write` syscall when the socket buffer has room).
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }

    /// Sends `PING` and reads until the `PONG`: afterwards the server has processed everything
    /// this connection sent before. Frames read meanwhile go to `on_frame`.
    pub fn flush(&mut self, on_frame: impl FnMut(&Frame<'_>)) -> io::Result<()> {
        self.stream.write_all(b"PING\r\n")?;
        self.wait_pong(on_frame)
    }

    fn wait_pong(&mut self, mut on_frame: impl FnMut(&Frame<'_>)) -> io::Result<()> {
        let old = self.stream.read_timeout()?;
        self.stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            let r = self.read_some(&mut on_frame)?;
            if r.pongs > 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no PONG from server",
                ));
            }
        }
        self.stream.set_read_timeout(old)?;
        Ok(())
    }

    /// Sets how long [`Conn::read_some`] blocks; `None` blocks forever.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// A second handle on the socket, for a thread that only writes.
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Does one `read`, hands every complete frame to `on_frame`, answers server `PING`s and
    /// keeps any partial frame for the next call. A read timeout returns zero bytes; end of
    /// stream or a protocol error is an error.
    pub fn read_some(&mut self, mut on_frame: impl FnMut(&Frame<'_>)) -> io::Result<ReadOutcome> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // One frame larger than the buffer (a big payload): grow to hold it.
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ))
            }
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return Ok(ReadOutcome::default())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(ReadOutcome::default()),
            Err(e) => return Err(e),
        };
        self.end += n;
        let mut out = ReadOutcome { bytes: n, pongs: 0 };
        let mut pings = 0;
        loop {
            let parsed = proto::parse(&self.buf[self.start..self.end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let Some((frame, used)) = parsed else { break };
            match &frame {
                Frame::Ping => pings += 1,
                Frame::Pong => out.pongs += 1,
                Frame::Err(e) => self.errors.push(String::from_utf8_lossy(e).into_owned()),
                _ => {}
            }
            on_frame(&frame);
            self.start += used;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        for _ in 0..pings {
            self.stream.write_all(b"PONG\r\n")?;
        }
        Ok(out)
    }
}
