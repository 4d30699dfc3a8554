//! Go's formats for times and durations, as nats-server's JSON carries them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 with nanoseconds and trailing zeros trimmed, in UTC (Go's `time.RFC3339Nano`).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let nanos = d.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// nats-server's uptime/idle strings: `1y2d3h4m5s`, `3h4m5s`, `0s`.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hrs, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{}y{}d{}h{}m{}s",
            years,
            days % 365,
            hrs % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{}d{}h{}m{}s", days, hrs % 24, mins % 60, secs % 60)
    } else if hrs > 0 {
        format!("{}h{}m{}s", hrs, mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{}m{}s", mins, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String()`: `1m0s`, `2.5s`, `500ms`, `0s` (a Go duration is an
/// `i64` of nanoseconds: longer ones print as its largest).
pub fn go_duration(d: Duration) -> String {
    go_duration_ns(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// [`go_duration`] of a signed count of nanoseconds (`-2s`), as config values may be.
pub fn go_duration_ns(d: i64) -> String {
    let sign = if d < 0 { "-" } else { "" };
    let ns = u128::from(d.unsigned_abs());
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(ns, div));
    }
    let h = ns / 3_600_000_000_000;
    let m = ns / 60_000_000_000 % 60;
    let s = frac(ns % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// `n / div` with the fraction Go prints (trailing zeros dropped).
fn frac(n: u128, div: u128) -> String {
    let (int, rem) = (n / div, n % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rem:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_795_469_933, 220_123_591);
        assert_eq!(rfc3339_nano(t), "2026-11-23T21:38:53.220123591Z");
        let t = UNIX_EPOCH + Duration::new(0, 500_000_000);
        assert_eq!(rfc3339_nano(t), "1970-01-01T00:00:00.5Z");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(Duration::from_micros(647)), "647µs");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(uptime(Duration::from_secs(93_784)), "1d2h3m4s");
        assert_eq!(uptime(Duration::from_secs(0)), "0s");
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_nanos(7), "7ns"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
        assert_eq!(go_duration_ns(7_200_000_000_000), "2h0m0s");
        assert_eq!(go_duration_ns(1_500), "1.5µs");
        assert_eq!(go_duration_ns(-2_000_000_000), "-2s");
        assert_eq!(go_duration(Duration::MAX), "2562047h47m16.854775807s");
    }
}
