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

/// Go's `time.Duration.String()`: `1.5s`, `647µs`, `2m0s`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    fn trim(v: f64, unit: &str) -> String {
        let s = format!("{v:.9}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{unit}")
    }
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        trim(ns as f64 / 1e3, "µs")
    } else if ns < 1_000_000_000 {
        trim(ns as f64 / 1e6, "ms")
    } else {
        let total = d.as_secs_f64();
        let h = (total / 3600.0).floor() as u64;
        let m = ((total - h as f64 * 3600.0) / 60.0).floor() as u64;
        let s = total - h as f64 * 3600.0 - m as f64 * 60.0;
        let secs = trim(s, "s");
        if h > 0 {
            format!("{h}h{m}m{secs}")
        } else if m > 0 {
            format!("{m}m{secs}")
        } else {
            secs
        }
    }
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
}
