//! The route wire protocol (spec §7.2): a parser from bytes to frames and the encoders for
//! what we send. No I/O: the route connection feeds it its read buffer.
//!
//! A frame is one control line, plus a payload for RMSG/HMSG/LMSG. Arguments are slices of
//! the buffer; the parser copies nothing.

use memchr::memchr;

/// The global account: the only one nats-tpc has, named on every interest and message line.
pub const GLOBAL_ACCOUNT: &[u8] = b"$G";

/// A message routed to us (RMSG, HMSG, LMSG).
#[derive(Debug, PartialEq, Eq)]
pub struct RoutedMsg<'a> {
    pub account: &'a [u8],
    pub subject: &'a [u8],
    pub reply: &'a [u8],
    /// Queue groups the sender picked us for.
    pub queues: Vec<&'a [u8]>,
    /// The header size token (HMSG/LMSG), as sent.
    pub hdr_tok: &'a [u8],
    /// The total size token, as sent.
    pub size_tok: &'a [u8],
    pub hdr_len: usize,
    /// Headers and payload.
    pub payload: &'a [u8],
    pub has_hdr: bool,
}

/// One frame from a route.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteOp<'a> {
    Connect(&'a [u8]),
    Info(&'a [u8]),
    Ping,
    Pong,
    Ok,
    /// `-ERR` with its text (quotes kept).
    Err(&'a [u8]),
    /// RS+ / LS+: interest, with the queue weight for a queue subscription.
    Sub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// RS- / LS-.
    Unsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    Msg(RoutedMsg<'a>),
}

/// Why a route's bytes could not be parsed. Every one closes the route.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteProtoError {
    #[error("unknown protocol operation")]
    UnknownOp,
    #[error("processRoutedMsgArgs Parse Error: '{0}'")]
    BadMsgArgs(String),
    #[error("processRemoteSub Parse Error: '{0}'")]
    BadSubArgs(String),
    #[error("maximum control line exceeded")]
    ControlLine,
    #[error("maximum payload exceeded")]
    Payload,
}

/// What one parse step found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    Op {
        op: RouteOp<'a>,
        consumed: usize,
    },
    /// Not a whole frame yet: at least `need` more bytes past the buffer's end.
    Incomplete {
        need: usize,
    },
}

fn args(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty())
        .collect()
}

fn num(t: &[u8]) -> Option<usize> {
    if t.is_empty() || t.len() > 10 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// Parses the first frame of `buf`. `max_line` bounds a control line, `max_payload` a
/// message.
pub fn parse(
    buf: &[u8],
    max_line: usize,
    max_payload: usize,
) -> Result<Parsed<'_>, RouteProtoError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > max_line {
            return Err(RouteProtoError::ControlLine);
        }
        return Ok(Parsed::Incomplete { need: 1 });
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let line = &buf[..line_end];
    let consumed = nl + 1;
    let (verb, rest) = match line.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&line[..i], trim(&line[i + 1..])),
        None => (line, &line[line.len()..]),
    };
    let upper: Vec<u8> = verb.iter().map(u8::to_ascii_uppercase).collect();
    let op = match upper.as_slice() {
        b"PING" => RouteOp::Ping,
        b"PONG" => RouteOp::Pong,
        b"+OK" => RouteOp::Ok,
        b"-ERR" => RouteOp::Err(rest),
        b"CONNECT" => RouteOp::Connect(rest),
        b"INFO" => RouteOp::Info(rest),
        b"RS+" | b"LS+" => sub_args(&upper, rest)?,
        b"RS-" | b"LS-" => unsub_args(&upper, rest)?,
        b"RMSG" | b"HMSG" | b"LMSG" => {
            return msg_frame(&upper, rest, &buf[consumed..], consumed, max_payload)
        }
        _ => return Err(RouteProtoError::UnknownOp),
    };
    Ok(Parsed::Op { op, consumed })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| *c != b' ' && *c != b'\t')
        .map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `RS+ <acc> <subj> [<queue> <weight>]`; LS+ has an origin first.
fn sub_args<'a>(verb: &[u8], rest: &'a [u8]) -> Result<RouteOp<'a>, RouteProtoError> {
    let mut a = args(rest);
    if verb[0] == b'L' && !a.is_empty() {
        a.remove(0);
    }
    let bad = || RouteProtoError::BadSubArgs(lossy(rest));
    match a.as_slice() {
        [acc, subj] => Ok(RouteOp::Sub {
            account: acc,
            subject: subj,
            queue: None,
        }),
        [acc, subj, q, w] => {
            let w = num(w).ok_or_else(bad)?;
            Ok(RouteOp::Sub {
                account: acc,
                subject: subj,
                queue: Some((q, u32::try_from(w).map_err(|_| bad())?)),
            })
        }
        _ => Err(bad()),
    }
}

/// `RS- <acc> <subj> [<queue>]`. We never advertise `lnocu`, so LS- comes without origin.
fn unsub_args<'a>(_verb: &[u8], rest: &'a [u8]) -> Result<RouteOp<'a>, RouteProtoError> {
    let a = args(rest);
    match a.as_slice() {
        [acc, subj] => Ok(RouteOp::Unsub {
            account: acc,
            subject: subj,
            queue: None,
        }),
        [acc, subj, q] => Ok(RouteOp::Unsub {
            account: acc,
            subject: subj,
            queue: Some(q),
        }),
        _ => Err(RouteProtoError::BadSubArgs(lossy(rest))),
    }
}

fn msg_frame<'a>(
    verb: &[u8],
    rest: &'a [u8],
    after: &'a [u8],
    line_len: usize,
    max_payload: usize,
) -> Result<Parsed<'a>, RouteProtoError> {
    let bad = || RouteProtoError::BadMsgArgs(lossy(rest));
    let mut a = args(rest);
    if verb[0] == b'L' {
        if a.is_empty() {
            return Err(bad());
        }
        a.remove(0);
    }
    let has_hdr = verb[0] != b'R';
    let sizes = if has_hdr { 2 } else { 1 };
    if a.len() < 2 + sizes {
        return Err(bad());
    }
    let (account, subject) = (a[0], a[1]);
    let mid = &a[2..a.len() - sizes];
    let (hdr_tok, size_tok): (&[u8], &[u8]) = if has_hdr {
        (a[a.len() - 2], a[a.len() - 1])
    } else {
        (&[], a[a.len() - 1])
    };
    let size = num(size_tok).ok_or_else(bad)?;
    let hdr_len = if has_hdr {
        num(hdr_tok).ok_or_else(bad)?
    } else {
        0
    };
    if hdr_len > size {
        return Err(bad());
    }
    let (reply, queues): (&[u8], Vec<&[u8]>) = match mid {
        [] => (&[], Vec::new()),
        [r] if *r != b"+" && *r != b"|" => (r, Vec::new()),
        [plus, r, qs @ ..] if *plus == b"+" && !qs.is_empty() => (r, qs.to_vec()),
        [bar, qs @ ..] if *bar == b"|" && !qs.is_empty() => (&[], qs.to_vec()),
        _ => return Err(bad()),
    };
    if size > max_payload {
        return Err(RouteProtoError::Payload);
    }
    if after.len() < size + 2 {
        return Ok(Parsed::Incomplete {
            need: size + 2 - after.len(),
        });
    }
    let payload = &after[..size];
    let m = RoutedMsg {
        account,
        subject,
        reply,
        queues,
        hdr_tok,
        size_tok,
        hdr_len,
        payload,
        has_hdr,
    };
    // Like nats-server, the payload's trailing CRLF is skipped, not checked.
    Ok(Parsed::Op {
        op: RouteOp::Msg(m),
        consumed: line_len + size + 2,
    })
}

/// Appends `RS+ $G <subject>[ <queue> <weight>]\r\n`.
pub fn rs_plus(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(b"RS+ $G ");
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format(w).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `RS- $G <subject>[ <queue>]\r\n`.
pub fn rs_minus(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"RS- $G ");
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// A message to route, as the control shard has it.
pub struct OutMsg<'a> {
    pub subject: &'a [u8],
    pub reply: &'a [u8],
    pub hdr_tok: &'a [u8],
    pub size_tok: &'a [u8],
    pub hdr_len: usize,
    pub has_hdr: bool,
    /// Headers and payload.
    pub payload: &'a [u8],
}

/// Appends one RMSG (or HMSG when the message has headers and the peer takes them) with
/// the queue groups `queues` (spec RF-02, RF-04). Returns the payload bytes written.
pub fn rmsg(out: &mut Vec<u8>, m: &OutMsg, queues: &[&[u8]], peer_headers: bool) -> usize {
    let with_hdr = m.has_hdr && peer_headers;
    out.extend_from_slice(if with_hdr { b"HMSG $G " } else { b"RMSG $G " });
    out.extend_from_slice(m.subject);
    out.push(b' ');
    if !queues.is_empty() {
        if m.reply.is_empty() {
            out.extend_from_slice(b"| ");
        } else {
            out.extend_from_slice(b"+ ");
            out.extend_from_slice(m.reply);
            out.push(b' ');
        }
        for q in queues {
            out.extend_from_slice(q);
            out.push(b' ');
        }
    } else if !m.reply.is_empty() {
        out.extend_from_slice(m.reply);
        out.push(b' ');
    }
    let body = if with_hdr {
        out.extend_from_slice(m.hdr_tok);
        out.push(b' ');
        out.extend_from_slice(m.size_tok);
        m.payload
    } else if m.has_hdr {
        // Headers stripped for a peer without them: the size changes.
        let body = &m.payload[m.hdr_len..];
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        body
    } else {
        out.extend_from_slice(m.size_tok);
        m.payload
    };
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(buf: &[u8]) -> RouteOp<'_> {
        match parse(buf, 4096, 1 << 20).unwrap() {
            Parsed::Op { op, consumed } => {
                assert_eq!(consumed, buf.len(), "whole frame consumed");
                op
            }
            other => panic!("incomplete: {other:?}"),
        }
    }

    #[test]
    fn control_lines() {
        assert_eq!(op(b"PING\r\n"), RouteOp::Ping);
        assert_eq!(op(b"pong\r\n"), RouteOp::Pong);
        assert_eq!(op(b"CONNECT {\"a\":1}\r\n"), RouteOp::Connect(b"{\"a\":1}"));
        assert_eq!(op(b"INFO {} \r\n"), RouteOp::Info(b"{}"));
        assert_eq!(
            op(b"-ERR 'Authorization Violation'\r\n"),
            RouteOp::Err(b"'Authorization Violation'")
        );
        assert_eq!(parse(b"FOO\r\n", 4096, 10), Err(RouteProtoError::UnknownOp));
        assert_eq!(parse(b"PIN", 4096, 10), Ok(Parsed::Incomplete { need: 1 }));
        assert_eq!(
            parse(&[b'x'; 20], 10, 10),
            Err(RouteProtoError::ControlLine)
        );
    }

    #[test]
    fn interest_lines() {
        assert_eq!(
            op(b"RS+ $G foo.*\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo.*",
                queue: None
            }
        );
        assert_eq!(
            op(b"RS+ $G foo bar 3\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"bar", 3))
            }
        );
        assert_eq!(
            op(b"LS+ NORIGIN $G foo\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            op(b"RS- $G foo bar\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"foo",
                queue: Some(b"bar")
            }
        );
        assert!(parse(b"RS+ $G foo bar\r\n", 4096, 10).is_err());
        assert!(parse(b"RS+ $G foo bar x\r\n", 4096, 10).is_err());
        assert!(parse(b"RS-\r\n", 4096, 10).is_err());
    }

    #[test]
    fn message_forms() {
        let m = |b: &'static [u8]| match op(b) {
            RouteOp::Msg(m) => m,
            o => panic!("{o:?}"),
        };
        let x = m(b"RMSG $G foo 5\r\nhello\r\n");
        assert_eq!(
            (x.subject, x.reply, x.payload),
            (&b"foo"[..], &b""[..], &b"hello"[..])
        );
        assert!(x.queues.is_empty());
        let x = m(b"RMSG $G foo _INBOX.1 2\r\nhi\r\n");
        assert_eq!(x.reply, b"_INBOX.1");
        let x = m(b"RMSG $G foo + _INBOX.1 q1 q2 2\r\nhi\r\n");
        assert_eq!(x.reply, b"_INBOX.1");
        assert_eq!(x.queues, vec![&b"q1"[..], &b"q2"[..]]);
        let x = m(b"RMSG $G foo | q1 2\r\nhi\r\n");
        assert_eq!((x.reply, x.queues.len()), (&b""[..], 1));
        let x = m(b"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        assert!(x.has_hdr);
        assert_eq!(
            (x.hdr_len, x.hdr_tok, x.size_tok),
            (12, &b"12"[..], &b"14"[..])
        );
        let x = m(b"LMSG NORIGIN $G foo | q 0 2\r\nhi\r\n");
        assert_eq!((x.account, x.hdr_len, x.queues.len()), (&b"$G"[..], 0, 1));
        assert_eq!(
            parse(b"RMSG $G foo 5\r\nhel", 4096, 100),
            Ok(Parsed::Incomplete { need: 4 })
        );
        assert!(parse(b"RMSG $G foo x\r\n", 4096, 100).is_err());
        assert!(parse(b"RMSG $G foo + r 1\r\n", 4096, 100).is_err());
        assert!(parse(b"HMSG $G foo 5 2\r\n", 4096, 100).is_err());
        assert_eq!(
            parse(b"RMSG $G foo 500\r\n", 4096, 100),
            Err(RouteProtoError::Payload)
        );
    }

    #[test]
    fn encoders_round_trip() {
        let mut out = Vec::new();
        rs_plus(&mut out, b"foo", Some((b"q", 2)));
        rs_minus(&mut out, b"foo", None);
        assert_eq!(out, b"RS+ $G foo q 2\r\nRS- $G foo\r\n");
        let m = OutMsg {
            subject: b"foo",
            reply: b"r",
            hdr_tok: b"12",
            size_tok: b"14",
            hdr_len: 12,
            has_hdr: true,
            payload: b"NATS/1.0\r\n\r\nhi",
        };
        let mut out = Vec::new();
        rmsg(&mut out, &m, &[b"q1"], true);
        assert_eq!(out, b"HMSG $G foo + r q1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        let mut out = Vec::new();
        rmsg(&mut out, &m, &[], false);
        assert_eq!(out, b"RMSG $G foo r 2\r\nhi\r\n");
        match op(&out) {
            RouteOp::Msg(x) => assert_eq!(x.payload, b"hi"),
            o => panic!("{o:?}"),
        }
    }
}
