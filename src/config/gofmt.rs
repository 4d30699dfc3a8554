//! Go's spellings, for messages that must read like nats-server's: durations
//! (`time.ParseDuration`, `Duration.String`) and quoted strings (`%q`).

/// Parses a Go duration (`"1h30m"`, `"100ms"`, `"-1.5s"`) into nanoseconds,
/// with Go's error messages (`time: invalid duration "x"`, ...).
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut whole: u128 = 0;
        for &c in &b[..int_len] {
            whole = whole * 10 + u128::from(c - b'0');
            if whole > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        // Fraction.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let fb = s.as_bytes();
            frac_len = fb.iter().take_while(|c| c.is_ascii_digit()).count();
            for &c in &fb[..frac_len] {
                // Digits past nanosecond precision cannot change the result.
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(c - b'0');
                    scale *= 10;
                }
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let mult: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(orig)
                ))
            }
        };
        let mut v = whole * mult;
        if v > LIMIT {
            return Err(invalid());
        }
        v += frac * mult / scale;
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if !neg && total > LIMIT - 1 {
        return Err(invalid());
    }
    let t = total as i128;
    Ok(if neg { -t } else { t } as i64)
}

/// Quotes like Go's `%q`/`strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    shards::goquote::quote(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf07_go_durations() {
        let ok = |s: &str| parse_duration(s).unwrap_or(i64::MIN);
        assert_eq!(ok("2m"), 120_000_000_000);
        assert_eq!(ok("1h30m"), 5_400_000_000_000);
        assert_eq!(ok("100ms"), 100_000_000);
        assert_eq!(ok("1.5s"), 1_500_000_000);
        assert_eq!(ok("-1.5h"), -5_400_000_000_000);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("1us"), 1_000);
        assert_eq!(ok("1µs"), 1_000);
        assert_eq!(ok(".5s"), 500_000_000);
        // Messages as Go's time.ParseDuration prints them.
        assert_eq!(
            parse_duration("2"),
            Err("time: missing unit in duration \"2\"".into())
        );
        assert_eq!(
            parse_duration("1d"),
            Err("time: unknown unit \"d\" in duration \"1d\"".into())
        );
        assert_eq!(
            parse_duration("abc"),
            Err("time: invalid duration \"abc\"".into())
        );
        assert_eq!(
            parse_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert_eq!(
            parse_duration("9999999999h"),
            Err("time: invalid duration \"9999999999h\"".into())
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
