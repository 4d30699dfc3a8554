//! The client side of the NATS wire protocol, without I/O: a parser for what a server sends
//! (`MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`, `INFO`) and encoders for what the generator
//! sends (`CONNECT`, `PUB`, `SUB`, `UNSUB`).
//!
//! Parsing is *check, then parse*: [`parse`] returns `Ok(None)` while a frame is incomplete, so
//! the caller keeps the tail of its read buffer and reads more. Payloads are slices of the read
//! buffer; nothing is copied.

use std::fmt;

/// Bytes at the start of every payload the generator sends: publisher id (u32 LE) then the
/// sequence number (u64 LE). 16-byte payloads leave 4 bytes spare.
pub const STAMP_LEN: usize = 12;

/// Longest control line accepted, as nats-server's `MAX_CONTROL_LINE_SIZE` (4 KiB).
pub const MAX_CONTROL_LINE: usize = 4096;

/// Largest payload accepted from a server (nats-server's hard `max_payload` limit is 64 MiB):
/// a corrupt size must not make the read buffer grow without bound.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// One frame received from the server. Slices borrow the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `MSG` or `HMSG`; for `HMSG` the payload includes the header block.
    Msg {
        subject: &'a [u8],
        sid: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    Info(&'a [u8]),
}

/// A server sent something the protocol does not allow.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The control line did not start with a known operation.
    UnknownOp(String),
    /// A `MSG`/`HMSG` line had the wrong number of fields or a bad size.
    BadMsgLine(String),
    /// The payload was not followed by `\r\n`.
    MissingPayloadTerminator,
    /// No `\r\n` within [`MAX_CONTROL_LINE`] bytes.
    ControlLineTooLong,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownOp(l) => write!(f, "unknown protocol operation: {l:?}"),
            ParseError::BadMsgLine(l) => write!(f, "malformed MSG line: {l:?}"),
            ParseError::MissingPayloadTerminator => write!(f, "payload not followed by CRLF"),
            ParseError::ControlLineTooLong => write!(f, "control line too long"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one frame from the start of `buf`. Returns the frame and the bytes it used, or
/// `Ok(None)` if `buf` holds only part of a frame.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ParseError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_CONTROL_LINE {
            return Err(ParseError::ControlLineTooLong);
        }
        return Ok(None);
    };
    // Servers always send CRLF; tolerate a bare LF the way nats-server's own parser does.
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let line = &buf[..line_end];
    let after = nl + 1;
    // The hot path: MSG. Checked first and by bytes, not by a general tokenizer.
    if line.len() > 4 && line[..4].eq_ignore_ascii_case(b"MSG ") {
        return parse_msg(line, &line[4..], after, buf, false);
    }
    if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"HMSG ") {
        return parse_msg(line, &line[5..], after, buf, true);
    }
    let frame = if line.eq_ignore_ascii_case(b"PING") {
        Frame::Ping
    } else if line.eq_ignore_ascii_case(b"PONG") {
        Frame::Pong
    } else if line.eq_ignore_ascii_case(b"+OK") {
        Frame::Ok
    } else if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"-ERR") {
        Frame::Err(trim(&line[4..]))
    } else if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"INFO") {
        Frame::Info(trim(&line[4..]))
    } else {
        return Err(ParseError::UnknownOp(lossy(line)));
    };
    Ok(Some((frame, after)))
}

fn parse_msg<'a>(
    line: &'a [u8],
    args: &'a [u8],
    after: usize,
    buf: &'a [u8],
    headers: bool,
) -> Result<Option<(Frame<'a>, usize)>, ParseError> {
    let bad = || ParseError::BadMsgLine(lossy(line));
    // Fast path for the common single-space layout: subject, then the size after the last
    // space, sid and optional fields between. Servers always send single spaces; anything
    // else (tabs, runs of spaces) takes the general path.
    let (subject, sid, reply, size) = match fast_fields(args, headers) {
        Some(f) => f,
        None => slow_fields(args, headers).ok_or_else(bad)?,
    };
    let size = parse_size(size)
        .filter(|&n| n <= MAX_PAYLOAD)
        .ok_or_else(bad)?;
    let end = after + size;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ParseError::MissingPayloadTerminator);
    }
    let payload = &buf[after..end];
    Ok(Some((
        Frame::Msg {
            subject,
            sid,
            reply,
            payload,
        },
        end + 2,
    )))
}

type MsgFields<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>, &'a [u8]);

fn fast_fields(args: &[u8], headers: bool) -> Option<MsgFields<'_>> {
    let s1 = memchr::memchr(b' ', args)?;
    let last = memchr::memrchr(b' ', args)?;
    if s1 == 0 || last <= s1 + 1 || last + 1 == args.len() || memchr::memchr(b'\t', args).is_some()
    {
        return None;
    }
    let subject = &args[..s1];
    let size = &args[last + 1..];
    let mid = &args[s1 + 1..last];
    let spaces = memchr::memchr_iter(b' ', mid).count();
    let mut it = mid.split(|&b| b == b' ');
    let first = it.next()?;
    let second = it.next();
    if first.is_empty() || second.is_some_and(<[u8]>::is_empty) {
        return None;
    }
    match (headers, spaces) {
        (false, 0) => Some((subject, first, None, size)),
        (false, 1) => Some((subject, first, second, size)),
        // HMSG: the field before the total size is the header size, ignored here.
        (true, 1) => Some((subject, first, None, size)),
        (true, 2) => Some((subject, first, second, size)),
        _ => None,
    }
}

fn slow_fields(args: &[u8], headers: bool) -> Option<MsgFields<'_>> {
    let mut fields: [&[u8]; 5] = [&[]; 5];
    let mut n = 0;
    for f in args
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
    {
        if n == fields.len() {
            return None;
        }
        fields[n] = f;
        n += 1;
    }
    match (headers, n) {
        (false, 3) => Some((fields[0], fields[1], None, fields[2])),
        (false, 4) => Some((fields[0], fields[1], Some(fields[2]), fields[3])),
        (true, 4) => Some((fields[0], fields[1], None, fields[3])),
        (true, 5) => Some((fields[0], fields[1], Some(fields[2]), fields[4])),
        _ => None,
    }
}

/// Parses a decimal size; `None` if empty, not digits, or absurdly large.
pub fn parse_size(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 12 {
        return None;
    }
    let mut v = 0usize;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as usize;
    }
    Some(v)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(120)]).into_owned()
}

/// The `CONNECT` line the generator sends: no verbose `+OK` acks, no pedantic checks, no echo
/// (a publisher never subscribes to itself; echo off also spares the server the check).
pub const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"lang\":\"rust\",\"version\":\"nats-bench\",\"protocol\":1,\"headers\":true,\"no_responders\":false,\"name\":\"nats-bench\"}\r\n";

/// Appends `PUB subject [reply] len\r\n`; the caller appends the payload and [`CRLF`].
pub fn pub_header(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, len: usize) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    push_usize(out, len);
    out.extend_from_slice(CRLF);
}

/// Appends a whole `PUB` frame.
pub fn encode_pub(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    pub_header(out, subject, reply, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(CRLF);
}

/// Appends `SUB subject [queue] sid\r\n`.
pub fn encode_sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: u64) {
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(q) = queue {
        out.extend_from_slice(q);
        out.push(b' ');
    }
    push_usize(out, sid as usize);
    out.extend_from_slice(CRLF);
}

/// Appends `UNSUB sid\r\n`.
pub fn encode_unsub(out: &mut Vec<u8>, sid: u64) {
    out.extend_from_slice(b"UNSUB ");
    push_usize(out, sid as usize);
    out.extend_from_slice(CRLF);
}

/// The protocol's line terminator.
pub const CRLF: &[u8] = b"\r\n";

fn push_usize(out: &mut Vec<u8>, mut v: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Writes the (publisher, sequence) stamp into the first [`STAMP_LEN`] bytes of `payload`.
/// Payloads shorter than the stamp carry none and are only counted.
#[inline]
pub fn stamp(payload: &mut [u8], publisher: u32, seq: u64) {
    if payload.len() >= STAMP_LEN {
        payload[..4].copy_from_slice(&publisher.to_le_bytes());
        payload[4..12].copy_from_slice(&seq.to_le_bytes());
    }
}

/// Reads the stamp written by [`stamp`].
#[inline]
pub fn read_stamp(payload: &[u8]) -> Option<(u32, u64)> {
    if payload.len() < STAMP_LEN {
        return None;
    }
    let p = u32::from_le_bytes(payload[..4].try_into().ok()?);
    let s = u64::from_le_bytes(payload[4..12].try_into().ok()?);
    Some((p, s))
}

/// The publisher id of probe messages, which check that a route carries a subscription's
/// interest before a routed run starts; no real publisher has it.
pub const PROBE_PUBLISHER: u32 = u32::MAX;

/// A probe payload: a stamp from [`PROBE_PUBLISHER`] and nothing else.
pub fn probe_payload() -> [u8; STAMP_LEN] {
    let mut p = [0u8; STAMP_LEN];
    stamp(&mut p, PROBE_PUBLISHER, 0);
    p
}

/// Whether `payload` is a probe: probes still in flight when a routed run starts are
/// skipped, not counted as foreign messages.
#[inline]
pub fn is_probe(payload: &[u8]) -> bool {
    payload.len() == STAMP_LEN && payload[..4] == PROBE_PUBLISHER.to_le_bytes()
}

/// A payload of `size` bytes: room for the stamp, then filler.
pub fn payload_template(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> (Frame<'_>, usize) {
        parse(buf).unwrap().unwrap()
    }

    #[test]
    fn msg_without_reply() {
        let (f, n) = one(b"MSG foo.bar 9 5\r\nhello\r\nPING\r\n");
        assert_eq!(
            f,
            Frame::Msg {
                subject: b"foo.bar",
                sid: b"9",
                reply: None,
                payload: b"hello"
            }
        );
        assert_eq!(n, 24);
    }

    #[test]
    fn msg_with_reply_and_binary_payload_containing_crlf() {
        let buf = b"MSG a 1 _INBOX.x 4\r\n\r\n\r\n\r\n";
        let (f, n) = one(buf);
        assert_eq!(
            f,
            Frame::Msg {
                subject: b"a",
                sid: b"1",
                reply: Some(b"_INBOX.x"),
                payload: b"\r\n\r\n"
            }
        );
        assert_eq!(n, buf.len());
    }

    #[test]
    fn hmsg_payload_includes_headers() {
        let buf = b"HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        let (f, _) = one(buf);
        match f {
            Frame::Msg { payload, .. } => assert_eq!(payload, b"NATS/1.0\r\n\r\nhi"),
            _ => panic!("not a msg"),
        }
        let buf = b"HMSG a 1 r 12 12\r\nNATS/1.0\r\n\r\n\r\n";
        assert!(matches!(
            one(buf).0,
            Frame::Msg {
                reply: Some(b"r"),
                ..
            }
        ));
    }

    #[test]
    fn every_split_point_is_incomplete_then_whole() {
        let buf = b"MSG subj 22 _R.1 10\r\n0123456789\r\n";
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(one(buf).1, buf.len());
    }

    #[test]
    fn control_frames() {
        assert_eq!(one(b"PING\r\n"), (Frame::Ping, 6));
        assert_eq!(one(b"pong\r\n"), (Frame::Pong, 6));
        assert_eq!(one(b"+OK\r\n"), (Frame::Ok, 5));
        assert_eq!(
            one(b"-ERR 'Slow Consumer'\r\n").0,
            Frame::Err(b"'Slow Consumer'")
        );
        assert_eq!(one(b"INFO {\"a\":1}\r\n").0, Frame::Info(b"{\"a\":1}"));
    }

    #[test]
    fn odd_whitespace_takes_the_general_path() {
        let (f, _) = one(b"MSG  a\t1   r  2\r\nab\r\n");
        assert_eq!(
            f,
            Frame::Msg {
                subject: b"a",
                sid: b"1",
                reply: Some(b"r"),
                payload: b"ab"
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(
            parse(b"MSG a\r\n"),
            Err(ParseError::BadMsgLine(_))
        ));
        assert!(matches!(
            parse(b"MSG a 1 x\r\n"),
            Err(ParseError::BadMsgLine(_))
        ));
        assert!(matches!(parse(b"BLAH\r\n"), Err(ParseError::UnknownOp(_))));
        assert!(matches!(
            parse(b"MSG a 1 999999999999\r\n"),
            Err(ParseError::BadMsgLine(_))
        ));
        assert_eq!(
            parse(b"MSG a 1 2\r\nabXY"),
            Err(ParseError::MissingPayloadTerminator)
        );
        assert_eq!(
            parse(&[b'x'; MAX_CONTROL_LINE + 1]),
            Err(ParseError::ControlLineTooLong)
        );
    }

    #[test]
    fn encoders_round_trip_through_the_parser_format() {
        let mut out = Vec::new();
        encode_pub(&mut out, b"s", Some(b"r"), b"xyz");
        encode_sub(&mut out, b"s.*", Some(b"q"), 17);
        encode_unsub(&mut out, 17);
        assert_eq!(out, b"PUB s r 3\r\nxyz\r\nSUB s.* q 17\r\nUNSUB 17\r\n");
    }

    #[test]
    fn stamp_round_trip() {
        let mut p = payload_template(16);
        stamp(&mut p, 7, u64::MAX - 3);
        assert_eq!(read_stamp(&p), Some((7, u64::MAX - 3)));
        assert_eq!(read_stamp(&p[..11]), None);
    }

    #[test]
    fn probes_are_told_apart_from_stamped_payloads() {
        assert!(is_probe(&probe_payload()));
        let mut p = payload_template(STAMP_LEN);
        stamp(&mut p, 0, 0);
        assert!(!is_probe(&p));
        // Only the exact probe length: a real payload never carries the probe's id anyway.
        let mut long = payload_template(16);
        stamp(&mut long, PROBE_PUBLISHER, 0);
        assert!(!is_probe(&long));
    }
}
