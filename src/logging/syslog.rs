//! Syslog as nats-server writes it (logger/syslog.go on Go's log/syslog): `-s` to the local
//! daemon (`/dev/log`, facility daemon), `-r udp://host:port` (or `tcp://`, `unix://`) to
//! another one (facility kern, since nats-server dials with priority `LOG_DEBUG`).
//!
//! Each message is one write: `<PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG\n` over the network,
//! `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG\n` to a local socket.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};

use super::clock::Now;
use super::go_error_text;

/// Severities (RFC 5424), as Go's log/syslog names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Debug = 7,
}

/// `LOG_DAEMON`, the facility of `-s`.
const LOG_DAEMON: u8 = 3 << 3;

/// Where Go's log/syslog looks for the local daemon, in its order (each first as a
/// datagram socket, then all again as stream sockets).
const LOCAL_PATHS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

enum Target {
    /// The local daemon: retried over `LOCAL_PATHS` on every reconnect.
    Local(Vec<String>),
    Udp(String),
    Tcp(String),
    Unix(String),
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Stream(UnixStream),
    Dgram(UnixDatagram),
}

impl Conn {
    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(b).map(drop),
            Conn::Tcp(s) => s.write_all(b),
            Conn::Stream(s) => s.write_all(b),
            Conn::Dgram(s) => s.send(b).map(drop),
        }
    }
}

/// A connection to a syslog daemon.
pub struct SysLog {
    target: Target,
    conn: Option<Conn>,
    facility: u8,
    /// Local sockets get the short form, without the hostname.
    local: bool,
    tag: String,
    hostname: String,
    pid: u32,
}

/// The tag: the executable's name as invoked (the last part of `argv[0]`), as nats-server's
/// `GetSysLoggerTag`.
pub fn tag() -> String {
    let arg0 = std::env::args().next().unwrap_or_default();
    arg0.split('/')
        .rfind(|p| !p.is_empty())
        .unwrap_or(&arg0)
        .to_string()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl SysLog {
    /// `-s`: the local daemon. The error is nats-server's fatal text.
    pub fn local(tag: &str) -> Result<SysLog, String> {
        let paths = LOCAL_PATHS.iter().map(|p| p.to_string()).collect();
        SysLog::connect_new(Target::Local(paths), LOG_DAEMON, tag)
    }

    /// `-r <url>`. The error is nats-server's fatal text.
    pub fn remote(url: &str, tag: &str) -> Result<SysLog, String> {
        let target = parse_target(url)?;
        // Priority LOG_DEBUG: the facility bits are 0, kern.
        SysLog::connect_new(target, 0, tag)
    }

    fn connect_new(target: Target, facility: u8, tag: &str) -> Result<SysLog, String> {
        let local = matches!(target, Target::Local(_) | Target::Unix(_));
        let mut s = SysLog {
            target,
            conn: None,
            facility,
            local,
            tag: tag.to_string(),
            hostname: hostname(),
            pid: std::process::id(),
        };
        s.connect()
            .map_err(|e| format!("error connecting to syslog: {}", go_quote_str(&e)))?;
        Ok(s)
    }

    fn connect(&mut self) -> Result<(), String> {
        self.conn = None;
        let conn = match &self.target {
            Target::Local(paths) => connect_local(paths)?,
            Target::Udp(addr) => {
                let a = resolve("udp", addr)?;
                let bind = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = UdpSocket::bind(bind)
                    .and_then(|s| s.connect(a).map(|_| s))
                    .map_err(|e| format!("dial udp {addr}: {}", go_error_text(&e)))?;
                if self.hostname.is_empty() {
                    self.hostname = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                }
                Conn::Udp(s)
            }
            Target::Tcp(addr) => {
                let a = resolve("tcp", addr)?;
                let s = TcpStream::connect(a)
                    .map_err(|e| format!("dial tcp {addr}: connect: {}", go_error_text(&e)))?;
                if self.hostname.is_empty() {
                    self.hostname = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                }
                Conn::Tcp(s)
            }
            Target::Unix(path) => Conn::Stream(
                UnixStream::connect(path)
                    .map_err(|e| format!("dial unix {path}: connect: {}", go_error_text(&e)))?,
            ),
        };
        self.conn = Some(conn);
        Ok(())
    }

    /// One message, formatted as Go's `syslog.Writer` does. A failed write reconnects and
    /// tries once more (Go's `writeAndRetry`); a second failure loses the message.
    pub fn write(&mut self, sev: Severity, msg: &str) {
        let line = self.format(sev, msg, &Now::local());
        if let Some(c) = self.conn.as_mut() {
            if c.send(line.as_bytes()).is_ok() {
                return;
            }
        }
        if self.connect().is_ok() {
            if let Some(c) = self.conn.as_mut() {
                let _ = c.send(line.as_bytes());
            }
        }
    }

    fn format(&self, sev: Severity, msg: &str, now: &Now) -> String {
        let pri = self.facility as u32 | sev as u32;
        let nl = if msg.ends_with('\n') { "" } else { "\n" };
        if self.local {
            format!(
                "<{pri}>{} {}[{}]: {msg}{nl}",
                now.stamp(),
                self.tag,
                self.pid
            )
        } else {
            format!(
                "<{pri}>{} {} {}[{}]: {msg}{nl}",
                now.rfc3339(),
                self.hostname,
                self.tag,
                self.pid
            )
        }
    }
}

/// Go's `unixSyslog`: every path as a datagram socket, then every path as a stream socket.
fn connect_local(paths: &[String]) -> Result<Conn, String> {
    for p in paths {
        if let Ok(s) = UnixDatagram::unbound().and_then(|s| s.connect(p).map(|_| s)) {
            return Ok(Conn::Dgram(s));
        }
    }
    for p in paths {
        if let Ok(s) = UnixStream::connect(p) {
            return Ok(Conn::Stream(s));
        }
    }
    Err("Unix syslog delivery error".into())
}

fn resolve(net: &str, addr: &str) -> Result<std::net::SocketAddr, String> {
    if addr.is_empty() {
        return Err(format!("dial {net}: missing address"));
    }
    if !addr.contains(':') {
        return Err(format!(
            "dial {net}: address {addr}: missing port in address"
        ));
    }
    // Go names its resolver in this error; getaddrinfo's own text means nothing to a
    // reader of nats-server's, so the common case is worded as Go does.
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let no_host = || format!("dial {net}: lookup {host}: no such host");
    addr.to_socket_addrs()
        .map_err(|_| no_host())?
        .next()
        .ok_or_else(no_host)
}

/// nats-server's `getNetworkAndAddr` on Go's `url.Parse`: `udp://host:port` and
/// `tcp://host:port` use the host, `unix:///path` the path. The error is the fatal text.
fn parse_target(url: &str) -> Result<Target, String> {
    let parse_err = |why: &str| format!("parse {}: {why}", go_quote_str(url));
    // Go drops the fragment first, and the query after the scheme.
    let raw = url.split('#').next().unwrap_or("");
    let (scheme, rest) = split_scheme(raw).map_err(parse_err)?;
    let rest = rest.split('?').next().unwrap_or("");
    let (host, path) = if scheme.is_empty() {
        let first = rest.split('/').next().unwrap_or("");
        if first.contains(':') {
            return Err(parse_err("first path segment in URL cannot contain colon"));
        }
        (String::new(), rest.to_string())
    } else if let Some(auth_path) = rest.strip_prefix("//") {
        let (auth, path) = match auth_path.find('/') {
            Some(i) => (&auth_path[..i], &auth_path[i..]),
            None => (auth_path, ""),
        };
        let host = auth.rsplit('@').next().unwrap_or("");
        validate_port(host).map_err(|why| parse_err(&why))?;
        (host.to_string(), path.to_string())
    } else if rest.starts_with('/') {
        (String::new(), rest.to_string())
    } else {
        // `udp:host:514`: Go's opaque form, no host and no path.
        (String::new(), String::new())
    };
    match scheme.as_str() {
        "udp" => Ok(Target::Udp(host)),
        "tcp" => Ok(Target::Tcp(host)),
        "unix" => Ok(Target::Unix(path)),
        other => Err(format!(
            "error invalid network type: {}",
            go_quote_str(other)
        )),
    }
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-`, `.` up to a `:`.
fn split_scheme(raw: &str) -> Result<(String, &str), &'static str> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme"),
            b':' => return Ok((raw[..i].to_ascii_lowercase(), &raw[i + 1..])),
            _ => return Ok((String::new(), raw)),
        }
    }
    Ok((String::new(), raw))
}

/// Go's `url` check of the port after the host: digits only.
fn validate_port(host: &str) -> Result<(), String> {
    let after_bracket = host.rfind(']').map(|i| &host[i + 1..]).unwrap_or(host);
    if let Some(i) = after_bracket.rfind(':') {
        let port = &after_bracket[i..];
        if !port[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid port {} after host", go_quote_str(port)));
        }
    }
    Ok(())
}

fn go_quote_str(s: &str) -> String {
    shards::goquote::quote(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_nats_server_reads_them() {
        assert!(
            matches!(parse_target("udp://127.0.0.1:514"), Ok(Target::Udp(h)) if h == "127.0.0.1:514")
        );
        assert!(matches!(parse_target("TCP://h:1"), Ok(Target::Tcp(h)) if h == "h:1"));
        assert!(matches!(parse_target("unix:///dev/log"), Ok(Target::Unix(p)) if p == "/dev/log"));
        assert!(matches!(parse_target("udp:h:514"), Ok(Target::Udp(h)) if h.is_empty()));
        // The texts nats-server 2.15.1 prints for these.
        let err = |u: &str| parse_target(u).err().unwrap_or_default();
        assert_eq!(err("foo://x:1"), "error invalid network type: \"foo\"");
        assert_eq!(err("localhost"), "error invalid network type: \"\"");
        assert_eq!(
            err("127.0.0.1:514"),
            "parse \"127.0.0.1:514\": first path segment in URL cannot contain colon"
        );
        assert_eq!(err(":::"), "parse \":::\": missing protocol scheme");
        assert_eq!(
            err("udp://h:x1"),
            "parse \"udp://h:x1\": invalid port \":x1\" after host"
        );
    }

    #[test]
    fn remote_errors_name_the_dial() {
        let e = SysLog::remote("udp://127.0.0.1", "t")
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "error connecting to syslog: \"dial udp: address 127.0.0.1: missing port in address\""
        );
        let e = SysLog::remote("unix:///nonexistent/s.sock", "t")
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "error connecting to syslog: \"dial unix /nonexistent/s.sock: connect: no such file or directory\""
        );
    }

    #[test]
    fn formats_like_go_log_syslog() {
        let s = SysLog {
            target: Target::Udp(String::new()),
            conn: None,
            facility: 0,
            local: false,
            tag: "nats-server".into(),
            hostname: "vm".into(),
            pid: 42,
        };
        let now = Now::utc();
        let line = s.format(Severity::Notice, "Server is ready", &now);
        assert_eq!(
            line,
            format!("<5>{} vm nats-server[42]: Server is ready\n", now.rfc3339())
        );
        let local = SysLog {
            facility: LOG_DAEMON,
            local: true,
            ..s
        };
        let line = local.format(Severity::Err, "boom\n", &now);
        assert_eq!(line, format!("<27>{} nats-server[42]: boom\n", now.stamp()));
    }

    #[test]
    fn local_syslog_tries_datagram_sockets_in_order() {
        let dir = std::env::temp_dir().join(format!("nats-tpc-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("log");
        let daemon = UnixDatagram::bind(&sock).unwrap();
        let paths = vec![
            dir.join("missing").to_string_lossy().into_owned(),
            sock.to_string_lossy().into_owned(),
        ];
        let mut s = SysLog {
            target: Target::Local(paths),
            conn: None,
            facility: LOG_DAEMON,
            local: true,
            tag: "nats-server".into(),
            hostname: String::new(),
            pid: 42,
        };
        s.connect().unwrap();
        s.write(Severity::Notice, "Server is ready");
        s.write(Severity::Debug, "dbg");
        let mut buf = [0u8; 512];
        let n = daemon.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(got.starts_with("<29>"), "{got}");
        assert!(
            got.ends_with(" nats-server[42]: Server is ready\n"),
            "{got}"
        );
        let n = daemon.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<31>"));
        let mut none = SysLog {
            target: Target::Local(vec![dir.join("missing").to_string_lossy().into_owned()]),
            ..s
        };
        assert_eq!(
            none.connect().err().unwrap_or_default(),
            "Unix syslog delivery error"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
