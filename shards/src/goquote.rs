//! Go's `%q` for byte strings (`strconv.Quote`), which nats-server uses in the lines it logs:
//! traced payloads (`MSG_PAYLOAD: ["..."]`), file names in rotation lines, config values.

/// Appends the escaped form of `b`, without the surrounding quotes, as `strconv.Quote`
/// writes it: bytes that are not UTF-8 as `\xNN`, each on its own, printable characters as
/// they are, the rest escaped.
pub fn push_quoted_inner(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_rune(out, c);
        }
        // Go decodes an invalid sequence one byte at a time, each to `\xNN`.
        for &byte in chunk.invalid() {
            push_hex(out, "\\x", byte as u32, 2);
        }
    }
}

/// `b` as Go's `%q` prints it, quotes included.
pub fn quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    push_quoted_inner(&mut out, b);
    out.push('"');
    out
}

fn push_rune(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_print(c) => out.push(c),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => push_hex(out, "\\x", c as u32, 2),
        c if (c as u32) < 0x10000 => push_hex(out, "\\u", c as u32, 4),
        c => push_hex(out, "\\U", c as u32, 8),
    }
}

fn push_hex(out: &mut String, prefix: &str, v: u32, width: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{prefix}{v:0width$x}");
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Rust has no category tables in std, so this rules out what it can name: control
/// and space characters, the format characters (Cf), private use and the non-characters.
/// Unassigned code points, which Go also escapes, pass as printable.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        c as u32,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xE000..=0xF8FF
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xFFFE..=0xFFFF
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            | 0xF0000..=0x10FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_like_go_strconv_quote() {
        // Expected values printed by Go's fmt.Sprintf("%q", []byte(...)).
        let cases: &[(&[u8], &str)] = &[
            (b"hello", r#""hello""#),
            (b"ab\x00\"d", r#""ab\x00\"d""#),
            (
                b"a\\b\n\r\t\x07\x08\x0c\x0b\x7f",
                r#""a\\b\n\r\t\a\b\f\v\x7f""#,
            ),
            ("é".as_bytes(), "\"é\""),
            (b"\xc3\xa9\xff\x01a", r#""é\xff\x01a""#),
            // A sequence cut short is escaped byte by byte.
            (b"\xe2\x82", r#""\xe2\x82""#),
            (
                "\u{a0}\u{200b}\u{feff}".as_bytes(),
                r#""\u00a0\u200b\ufeff""#,
            ),
            ("\u{85}".as_bytes(), r#""\u0085""#),
            ("\u{f0000}".as_bytes(), r#""\U000f0000""#),
            ("\u{fffd}日本".as_bytes(), "\"\u{fffd}日本\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), *want, "{input:?}");
        }
    }
}
