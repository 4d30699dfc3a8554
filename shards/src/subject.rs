//! Subject rules (spec SJ-01..SJ-05).

/// Whether `s` is a valid subscription subject: non-empty tokens separated by `.`, no
/// whitespace, `>` only as the last token (SJ-01, SJ-02).
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut tokens = s.split(|&b| b == b'.').peekable();
    while let Some(t) = tokens.next() {
        if t.is_empty()
            || t.iter()
                .any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c))
        {
            return false;
        }
        if t == b">" && tokens.peek().is_some() {
            return false;
        }
    }
    true
}

/// Whether `s` is a valid literal (publish) subject: valid, and no `*` or `>` token.
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    is_valid_subject(s) && s.split(|&b| b == b'.').all(|t| t != b"*" && t != b">")
}

/// Whether a subject has a `*` or `>` token.
pub fn has_wildcard(s: &[u8]) -> bool {
    s.split(|&b| b == b'.').any(|t| t == b"*" || t == b">")
}

/// Whether the literal subject `subj` is matched by the pattern `pat` (SJ-02).
pub fn matches(pat: &[u8], subj: &[u8]) -> bool {
    let mut p = pat.split(|&b| b == b'.');
    let mut s = subj.split(|&b| b == b'.');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(pt), Some(st)) if pt == st => {}
            _ => return false,
        }
    }
}

/// Subjects a client may not publish to (SJ-05): gateway-routed replies.
pub fn is_reserved_publish(subject: &[u8]) -> bool {
    subject.starts_with(b"_GR_.")
}

/// Publishing to `$NRG.` is denied to non-system accounts (SJ-05).
pub fn is_nrg(subject: &[u8]) -> bool {
    subject.starts_with(b"$NRG.")
}

/// Reply subjects a client may not use (SJ-05): service-import replies, JetStream acks and
/// gateway-routed replies.
pub fn is_reserved_reply(reply: &[u8]) -> bool {
    reply.starts_with(b"_R_.") || reply.starts_with(b"$JS.ACK.") || reply.starts_with(b"_GR_.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sj01_tokens_must_be_non_empty() {
        for bad in [&b"foo."[..], b".foo", b"foo..bar", b"", b"foo bar"] {
            assert!(!is_valid_subject(bad), "{}", String::from_utf8_lossy(bad));
        }
        assert!(is_valid_subject("föö.bar".as_bytes()));
    }

    #[test]
    fn sj02_wildcards() {
        assert!(!is_valid_subject(b"foo.>.bar"));
        assert!(is_valid_subject(b"foo*.f>o"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(matches(b"*.bar", b"foo.bar"));
        assert!(!matches(b"*", b"foo.bar"));
        assert!(is_valid_literal_subject(b"foo*.bar"));
        assert!(!is_valid_literal_subject(b"foo.*"));
    }
}
