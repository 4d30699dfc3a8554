//! The client protocol parser: bytes in, operations out, no I/O.
//!
//! The parser works on the connection's read buffer: [`Parser::parse`] looks at the bytes
//! from the start of the buffer and returns one complete operation, borrowing its arguments
//! and payload from the buffer, or says how it stopped. "Incomplete" is a state, not an
//! error: the caller keeps the unconsumed bytes and calls again after the next read. Nothing
//! is copied unless a frame straddles two reads, and then only by the buffer's own compaction.
//!
//! Operation names are recognised byte by byte like nats-server's state machine, so a bad
//! byte is reported as soon as it arrives (spec CP-01, CP-02), not only at the end of a line.

use super::errors::ProtoError;

/// One client operation, borrowing from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// `CONNECT <json>`.
    Connect(&'a [u8]),
    /// `PUB <subject> [reply] <#bytes>` and its payload.
    Pub(PubArgs<'a>),
    /// `HPUB <subject> [reply] <#hdr> <#total>` and its header block plus payload.
    HPub(PubArgs<'a>),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`; `max` is `None` when absent and `Some(-1)` when not a number.
    Unsub { sid: &'a [u8], max: Option<i64> },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (ignored by the server).
    Ok,
    /// `-ERR ...` from a client, which closes it.
    Err(&'a [u8]),
    /// `INFO ...` from a client (ignored).
    Info(&'a [u8]),
    /// `HMSG ...` from a client: nats-server treats it as an empty message to no subject.
    ClientHmsg,
}

/// The arguments of a PUB or HPUB, with the size tokens as the client wrote them: MSG and
/// HMSG echo them verbatim (spec CP-07).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct PubArgs<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// The header size token of an HPUB (empty for PUB).
    pub hdr_token: &'a [u8],
    /// The (total) size token.
    pub size_token: &'a [u8],
    /// Header length (0 for PUB).
    pub hdr_len: usize,
    /// Header block plus payload, without the trailing CRLF.
    pub payload: &'a [u8],
}

/// Per-connection limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_control_line: usize,
    pub max_payload: usize,
    /// Whether the client negotiated headers (HPUB without it closes the connection).
    pub headers: bool,
}

/// What [`Parser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A complete operation that used `consumed` bytes of the buffer.
    Op { op: Op<'a>, consumed: usize },
    /// More bytes are needed. `consumed` bytes at the start are done with and can be dropped
    /// (the parser remembers where it is); `need` is a lower bound on the bytes still missing.
    Incomplete { consumed: usize, need: usize },
}

/// Where the parser is between calls. Only lines whose content is ignored are remembered:
/// for everything else the unconsumed bytes stay in the buffer and are re-examined.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Skip {
    #[default]
    None,
    /// Inside `PING...`, `PONG...` or `+OK...`, discarding bytes up to the `\n`.
    ToNewline(Ignored),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    Ping,
    Pong,
    Ok,
}

/// The protocol parser of one connection.
#[derive(Debug, Default)]
pub struct Parser {
    skip: Skip,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pub,
    HPub,
    HMsg,
    Sub,
    Unsub,
    Connect,
    Info,
    Err,
    Ping,
    Pong,
    Ok,
}

/// The operation names and whether each needs a space or tab right after the name.
fn keyword(first: u8) -> Option<&'static [(&'static [u8], Kind, bool)]> {
    const P: &[(&[u8], Kind, bool)] = &[
        (b"PUB", Kind::Pub, true),
        (b"PING", Kind::Ping, false),
        (b"PONG", Kind::Pong, false),
    ];
    const H: &[(&[u8], Kind, bool)] = &[(b"HPUB", Kind::HPub, true), (b"HMSG", Kind::HMsg, true)];
    const S: &[(&[u8], Kind, bool)] = &[(b"SUB", Kind::Sub, true)];
    const U: &[(&[u8], Kind, bool)] = &[(b"UNSUB", Kind::Unsub, true)];
    const C: &[(&[u8], Kind, bool)] = &[(b"CONNECT", Kind::Connect, false)];
    const I: &[(&[u8], Kind, bool)] = &[(b"INFO", Kind::Info, false)];
    const PLUS: &[(&[u8], Kind, bool)] = &[(b"+OK", Kind::Ok, false)];
    const MINUS: &[(&[u8], Kind, bool)] = &[(b"-ERR", Kind::Err, true)];
    Some(match first.to_ascii_uppercase() {
        b'P' => P,
        b'H' => H,
        b'S' => S,
        b'U' => U,
        b'C' => C,
        b'I' => I,
        b'+' => PLUS,
        b'-' => MINUS,
        _ => return None,
    })
}

/// Recognises the operation name at the start of `buf`.
/// Returns `Ok(None)` when the buffer ends inside the name.
fn match_keyword(buf: &[u8]) -> Result<Option<(Kind, usize, bool)>, ProtoError> {
    // Fast path for the hot operations: compare the first four bytes lower-cased at once.
    if buf.len() >= 4 {
        let w = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) | 0x2020_2020;
        let k = match &w.to_le_bytes() {
            b"pub " | b"pub)" => Some((Kind::Pub, 3, true)),
            b"sub " | b"sub)" => Some((Kind::Sub, 3, true)),
            b"hpub" => Some((Kind::HPub, 4, true)),
            b"ping" => Some((Kind::Ping, 4, false)),
            b"pong" => Some((Kind::Pong, 4, false)),
            _ => None,
        };
        // `)` is what a tab (0x09) becomes; anything else that lower-cases to a space or
        // `)` (0x00, 0x20, 0x29) must still be told apart from a real separator.
        if let Some((kind, n, spc)) = k {
            if !spc || n == 4 || buf[3] == b' ' || buf[3] == b'\t' {
                return Ok(Some((kind, n, spc)));
            }
        }
    }
    let cands = keyword(buf[0]).ok_or(ProtoError::UnknownOp)?;
    // Walk byte by byte: a byte that fits no candidate is an error right away.
    let mut i = 1;
    loop {
        let mut alive = false;
        for (name, kind, spc) in cands {
            if name.len() < i || buf.len() < i || !name[..i].eq_ignore_ascii_case(&buf[..i]) {
                continue;
            }
            alive = true;
            if name.len() == i {
                return Ok(Some((*kind, i, *spc)));
            }
        }
        if !alive {
            return Err(ProtoError::UnknownOp);
        }
        if buf.len() == i {
            return Ok(None);
        }
        i += 1;
    }
}

impl Parser {
    /// Parses one operation from the start of `buf`.
    pub fn parse<'a>(&mut self, buf: &'a [u8], lim: &Limits) -> Result<Parsed<'a>, ProtoError> {
        if let Skip::ToNewline(what) = self.skip {
            return Ok(match memchr::memchr(b'\n', buf) {
                None => Parsed::Incomplete {
                    consumed: buf.len(),
                    need: 1,
                },
                Some(nl) => {
                    self.skip = Skip::None;
                    let op = match what {
                        Ignored::Ping => Op::Ping,
                        Ignored::Pong => Op::Pong,
                        Ignored::Ok => Op::Ok,
                    };
                    Parsed::Op {
                        op,
                        consumed: nl + 1,
                    }
                }
            });
        }
        if buf.is_empty() {
            return Ok(Parsed::Incomplete {
                consumed: 0,
                need: 1,
            });
        }
        let Some((kind, n, needs_space)) = match_keyword(buf)? else {
            return Ok(Parsed::Incomplete {
                consumed: 0,
                need: 1,
            });
        };
        match kind {
            Kind::Ping | Kind::Pong | Kind::Ok => {
                // Anything up to the newline is ignored (spec CP-05).
                self.skip = Skip::ToNewline(match kind {
                    Kind::Ping => Ignored::Ping,
                    Kind::Pong => Ignored::Pong,
                    _ => Ignored::Ok,
                });
                return match self.parse(&buf[n..], lim)? {
                    Parsed::Op { op, consumed } => Ok(Parsed::Op {
                        op,
                        consumed: n + consumed,
                    }),
                    Parsed::Incomplete { consumed, need } => Ok(Parsed::Incomplete {
                        consumed: n + consumed,
                        need,
                    }),
                };
            }
            _ => {}
        }
        // Whitespace after the name: required for most ops, optional for CONNECT and INFO.
        let mut i = n;
        if needs_space {
            match buf.get(i) {
                None => {
                    return Ok(Parsed::Incomplete {
                        consumed: 0,
                        need: 1,
                    })
                }
                Some(b' ' | b'\t') => i += 1,
                Some(_) => return Err(ProtoError::UnknownOp),
            }
        }
        while i < buf.len() && (buf[i] == b' ' || buf[i] == b'\t') {
            i += 1;
        }
        let arg_start = i;
        let Some(nl) = memchr::memchr(b'\n', &buf[arg_start..]) else {
            // Guard memory on partial lines too (spec CP-03).
            let partial = &buf[arg_start..];
            let partial = partial.strip_suffix(b"\r").unwrap_or(partial);
            if partial.len() > lim.max_control_line {
                return Err(ProtoError::MaxControlLine);
            }
            return Ok(Parsed::Incomplete {
                consumed: 0,
                need: 1,
            });
        };
        let line_end = arg_start + nl;
        let mut arg = &buf[arg_start..line_end];
        // nats-server drops the byte before `\n` when the line held a `\r` anywhere.
        if memchr::memchr(b'\r', arg).is_some() {
            arg = &arg[..arg.len() - 1];
        }
        if arg.len() > lim.max_control_line {
            return Err(ProtoError::MaxControlLine);
        }
        let after = line_end + 1;
        let op = match kind {
            Kind::Connect => Op::Connect(arg),
            Kind::Info => Op::Info(arg),
            Kind::Err => Op::Err(arg),
            Kind::Sub => parse_sub(arg)?,
            Kind::Unsub => parse_unsub(arg)?,
            Kind::Pub | Kind::HPub => {
                let mut pa = if kind == Kind::Pub {
                    parse_pub_args(arg)?
                } else {
                    if !lim.headers {
                        return Err(ProtoError::HeadersNotSupported);
                    }
                    parse_hpub_args(arg)?
                };
                let size = parse_size(pa.size_token).ok_or(ProtoError::BadArgs)?;
                if size > lim.max_payload {
                    return Err(ProtoError::MaxPayload { size });
                }
                let end = after + size;
                // Each terminator byte is checked as soon as it arrives, like nats-server's
                // MSG_END_R / MSG_END_N states (a bare LF fails at once).
                if buf.len() > end && buf[end] != b'\r'
                    || buf.len() > end + 1 && buf[end + 1] != b'\n'
                {
                    return Err(ProtoError::UnknownOp);
                }
                if buf.len() < end + 2 {
                    return Ok(Parsed::Incomplete {
                        consumed: 0,
                        need: end + 2 - buf.len(),
                    });
                }
                pa.payload = &buf[after..end];
                let op = if kind == Kind::Pub {
                    Op::Pub(pa)
                } else {
                    Op::HPub(pa)
                };
                return Ok(Parsed::Op {
                    op,
                    consumed: end + 2,
                });
            }
            Kind::HMsg => {
                // A client HMSG has no handler in nats-server: its size stays 0, so the
                // parser expects CRLF right after the line and then "delivers" nothing.
                if buf.len() < after + 2 {
                    return Ok(Parsed::Incomplete {
                        consumed: 0,
                        need: after + 2 - buf.len(),
                    });
                }
                if &buf[after..after + 2] != b"\r\n" {
                    return Err(ProtoError::UnknownOp);
                }
                return Ok(Parsed::Op {
                    op: Op::ClientHmsg,
                    consumed: after + 2,
                });
            }
            Kind::Ping | Kind::Pong | Kind::Ok => unreachable!("handled above"),
        };
        Ok(Parsed::Op {
            op,
            consumed: after,
        })
    }
}

/// Splits protocol arguments on spaces and tabs into `out`, returning how many there were
/// (more than `out.len()` means too many).
fn split_args<'a>(arg: &'a [u8], extra_ws: bool, out: &mut [&'a [u8]]) -> usize {
    let mut n = 0;
    let mut start = None;
    let is_ws = |b: u8| b == b' ' || b == b'\t' || (extra_ws && (b == b'\r' || b == b'\n'));
    for (i, &b) in arg.iter().enumerate() {
        if is_ws(b) {
            if let Some(s) = start.take() {
                if n < out.len() {
                    out[n] = &arg[s..i];
                }
                n += 1;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        if n < out.len() {
            out[n] = &arg[s..];
        }
        n += 1;
    }
    n
}

/// Parses a decimal size the way nats-server does: digits only, no sign, no overflow.
pub fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
        if n > i64::MAX as u64 {
            return None;
        }
    }
    usize::try_from(n).ok()
}

fn parse_pub_args(arg: &[u8]) -> Result<PubArgs<'_>, ProtoError> {
    let mut a: [&[u8]; 3] = [&[]; 3];
    let (subject, reply, size_token) = match split_args(arg, false, &mut a) {
        2 => (a[0], None, a[1]),
        3 => (a[0], Some(a[1]), a[2]),
        _ => return Err(ProtoError::BadArgs),
    };
    Ok(PubArgs {
        subject,
        reply,
        hdr_token: &[],
        size_token,
        hdr_len: 0,
        payload: &[],
    })
}

fn parse_hpub_args(arg: &[u8]) -> Result<PubArgs<'_>, ProtoError> {
    let mut a: [&[u8]; 4] = [&[]; 4];
    let (subject, reply, hdr_token, size_token) = match split_args(arg, false, &mut a) {
        3 => (a[0], None, a[1], a[2]),
        4 => (a[0], Some(a[1]), a[2], a[3]),
        _ => return Err(ProtoError::BadArgs),
    };
    let hdr_len = parse_size(hdr_token).ok_or(ProtoError::BadArgs)?;
    let total = parse_size(size_token).ok_or(ProtoError::BadArgs)?;
    if hdr_len > total {
        return Err(ProtoError::BadArgs);
    }
    Ok(PubArgs {
        subject,
        reply,
        hdr_token,
        size_token,
        hdr_len,
        payload: &[],
    })
}

fn parse_sub(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let mut a: [&[u8]; 3] = [&[]; 3];
    match split_args(arg, true, &mut a) {
        2 => Ok(Op::Sub {
            subject: a[0],
            queue: None,
            sid: a[1],
        }),
        3 => Ok(Op::Sub {
            subject: a[0],
            queue: Some(a[1]),
            sid: a[2],
        }),
        _ => Err(ProtoError::BadArgs),
    }
}

fn parse_unsub(arg: &[u8]) -> Result<Op<'_>, ProtoError> {
    let mut a: [&[u8]; 2] = [&[]; 2];
    match split_args(arg, true, &mut a) {
        1 => Ok(Op::Unsub {
            sid: a[0],
            max: None,
        }),
        2 => Ok(Op::Unsub {
            sid: a[0],
            max: Some(parse_size(a[1]).map(|n| n as i64).unwrap_or(-1)),
        }),
        _ => Err(ProtoError::BadArgs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
        headers: true,
    };

    fn one(buf: &[u8]) -> Result<Parsed<'_>, ProtoError> {
        Parser::default().parse(buf, &LIM)
    }

    #[test]
    fn cp01_ops_are_case_insensitive_and_bare_lf_is_accepted() {
        assert_eq!(
            one(b"pInG\n").unwrap(),
            Parsed::Op {
                op: Op::Ping,
                consumed: 5
            }
        );
        match one(b"sub\tfoo  \t 1\n").unwrap() {
            Parsed::Op {
                op: Op::Sub { subject, sid, .. },
                ..
            } => {
                assert_eq!(subject, b"foo");
                assert_eq!(sid, b"1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cp02_payload_terminator_must_be_crlf() {
        assert_eq!(one(b"PUB foo 2\r\nhiXX"), Err(ProtoError::UnknownOp));
        // A bare LF fails as soon as it is seen, without waiting for a second byte.
        assert_eq!(one(b"PUB foo 2\r\nhi\n"), Err(ProtoError::UnknownOp));
        assert!(matches!(
            one(b"PUB foo 2\r\nhi\r").unwrap(),
            Parsed::Incomplete { .. }
        ));
    }

    #[test]
    fn cp02_split_frames_are_incomplete_until_whole() {
        let full = b"PUB foo.bar reply 05\r\nhello\r\n";
        for cut in 0..full.len() {
            let r = one(&full[..cut]).unwrap();
            assert!(matches!(r, Parsed::Incomplete { consumed: 0, .. }), "{cut}");
        }
        match one(full).unwrap() {
            Parsed::Op {
                op: Op::Pub(pa),
                consumed,
            } => {
                assert_eq!(consumed, full.len());
                assert_eq!(pa.subject, b"foo.bar");
                assert_eq!(pa.reply, Some(&b"reply"[..]));
                assert_eq!(pa.size_token, b"05");
                assert_eq!(pa.payload, b"hello");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cp03_control_line_limit_applies_to_partial_lines() {
        let lim = Limits {
            max_control_line: 8,
            ..LIM
        };
        let mut p = Parser::default();
        assert_eq!(
            p.parse(b"SUB foo.bar.baz 1", &lim),
            Err(ProtoError::MaxControlLine)
        );
        assert_eq!(
            p.parse(b"SUB foo.bar.baz 1\r\n", &lim),
            Err(ProtoError::MaxControlLine)
        );
        assert!(matches!(
            p.parse(b"SUB foo 1\r\n", &lim),
            Ok(Parsed::Op { .. })
        ));
    }

    #[test]
    fn cp04_bad_sizes_are_silent_closes() {
        assert_eq!(one(b"PUB foo -1\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"PUB foo 1x\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(
            one(b"PUB foo 99999999999999999999\r\n"),
            Err(ProtoError::BadArgs)
        );
        assert_eq!(one(b"PUB foo\r\n"), Err(ProtoError::BadArgs));
        assert_eq!(one(b"PUB a b c d\r\n"), Err(ProtoError::BadArgs));
    }

    #[test]
    fn cp05_ping_ignores_bytes_to_newline_even_across_reads() {
        let mut p = Parser::default();
        assert_eq!(
            p.parse(b"PINGxyz", &LIM).unwrap(),
            Parsed::Incomplete {
                consumed: 7,
                need: 1
            }
        );
        assert_eq!(
            p.parse(b"more\r\nPONG\r\n", &LIM).unwrap(),
            Parsed::Op {
                op: Op::Ping,
                consumed: 6
            }
        );
    }

    #[test]
    fn cp05_route_ops_from_a_client_are_unknown() {
        for op in [
            &b"RS+ foo\r\n"[..],
            b"A+ foo\r\n",
            b"LS+ foo\r\n",
            b"MSG foo 1 0\r\n",
        ] {
            assert_eq!(one(op), Err(ProtoError::UnknownOp));
        }
        assert_eq!(one(b"PUX"), Err(ProtoError::UnknownOp));
        assert_eq!(one(b"SUBfoo 1\r\n"), Err(ProtoError::UnknownOp));
    }

    #[test]
    fn max_payload_is_checked_on_the_control_line() {
        assert_eq!(
            one(b"PUB foo 2000000\r\n"),
            Err(ProtoError::MaxPayload { size: 2_000_000 })
        );
    }

    #[test]
    fn hpub_needs_headers_and_valid_sizes() {
        let lim = Limits {
            headers: false,
            ..LIM
        };
        assert_eq!(
            Parser::default().parse(b"HPUB foo 1 2\r\n", &lim),
            Err(ProtoError::HeadersNotSupported)
        );
        assert_eq!(one(b"HPUB foo 3 2\r\n"), Err(ProtoError::BadArgs));
        let m = b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        match one(m).unwrap() {
            Parsed::Op {
                op: Op::HPub(pa), ..
            } => {
                assert_eq!(pa.hdr_len, 12);
                assert_eq!(pa.payload, b"NATS/1.0\r\n\r\nhi");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsub_max_forms() {
        assert!(matches!(
            one(b"UNSUB 1 5\r\n").unwrap(),
            Parsed::Op {
                op: Op::Unsub { max: Some(5), .. },
                ..
            }
        ));
        assert!(matches!(
            one(b"UNSUB 1 x\r\n").unwrap(),
            Parsed::Op {
                op: Op::Unsub { max: Some(-1), .. },
                ..
            }
        ));
    }
}
