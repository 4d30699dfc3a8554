//! The wall clock in the layouts nats-server's logs use (Go `time` formats).

/// One reading of the wall clock, broken down in local time or UTC.
pub struct Now {
    tm: libc::tm,
    nsec: i64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Now {
    /// Now, in the local time zone (Go's `time.Now()`, which reads `TZ` as libc does).
    pub fn local() -> Now {
        Now::read(false)
    }

    /// Now, in UTC (`logtime_utc`).
    pub fn utc() -> Now {
        Now::read(true)
    }

    fn read(utc: bool) -> Now {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: all-zero is a valid `tm` (plain integers and a null zone pointer).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both calls only write the structs we pass.
        unsafe {
            libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
            if utc {
                libc::gmtime_r(&ts.tv_sec, &mut tm);
            } else {
                libc::localtime_r(&ts.tv_sec, &mut tm);
            }
        }
        Now {
            tm,
            nsec: ts.tv_nsec,
        }
    }

    /// `2006/01/02 15:04:05`: Go's standard logger (`log.Fatalf` before the server's
    /// logger exists).
    pub fn std_log(&self) -> String {
        let t = &self.tm;
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            t.tm_year + 1900,
            t.tm_mon + 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        )
    }

    /// `2006/01/02 15:04:05.000000 `: the server's log lines (`LstdFlags|Lmicroseconds`).
    pub fn log_prefix(&self) -> String {
        format!("{}.{:06} ", self.std_log(), self.nsec / 1000)
    }

    /// `2006.01.02.15.04.05.000000000`: the suffix of a rotated log file.
    pub fn backup_suffix(&self) -> String {
        let t = &self.tm;
        format!(
            "{:04}.{:02}.{:02}.{:02}.{:02}.{:02}.{:09}",
            t.tm_year + 1900,
            t.tm_mon + 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec,
            self.nsec
        )
    }

    /// Go's `time.RFC3339`, `2006-01-02T15:04:05Z07:00`: remote syslog lines.
    pub fn rfc3339(&self) -> String {
        let t = &self.tm;
        let off = t.tm_gmtoff;
        let zone = if off == 0 {
            "Z".to_string()
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let m = off.abs() / 60;
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
            t.tm_year + 1900,
            t.tm_mon + 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        )
    }

    /// Go's `time.Stamp`, `Jan _2 15:04:05`: local syslog lines.
    pub fn stamp(&self) -> String {
        let t = &self.tm;
        let month = MONTHS.get(t.tm_mon as usize).copied().unwrap_or("???");
        format!(
            "{month} {:>2} {:02}:{:02}:{:02}",
            t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec
        )
    }
}

/// Whether `stamp` (what follows `<log file>.` in a directory entry) is a rotation suffix,
/// by nats-server's test: Go's `time.Parse("2006:01:02:15:04:05.999999999", s)` after the
/// first five dots of `s` became colons.
pub fn is_backup_suffix(stamp: &str) -> bool {
    let s = stamp.replacen('.', ":", 5);
    parse_stamp(s.as_bytes()).is_some()
}

/// Go's `time.Parse` for that one layout: the year is any 4 characters `atoi` takes, the
/// hour one or two digits, the other fields exactly two, the fraction optional, and the
/// date must exist.
fn parse_stamp(s: &[u8]) -> Option<()> {
    let year = go_atoi(s.get(..4)?)?;
    let mut rest = s.get(4..)?;
    let mut field = |fixed: bool| -> Option<i64> {
        rest = rest.strip_prefix(b":")?;
        let (v, r) = getnum(rest, fixed)?;
        rest = r;
        Some(v)
    };
    let month = field(true)?;
    let day = field(true)?;
    let hour = field(false)?;
    let min = field(true)?;
    let sec = field(true)?;
    if !(1..=12).contains(&month) || hour >= 24 || min >= 60 || sec >= 60 {
        return None;
    }
    if day < 1 || day > days_in(month, year) {
        return None;
    }
    // `.999999999`: a fraction may follow (a period or comma, then digits); nothing else.
    if rest.len() >= 2 && matches!(rest[0], b'.' | b',') && rest[1].is_ascii_digit() {
        let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &rest[1 + digits..];
    }
    rest.is_empty().then_some(())
}

/// Go's `getnum`: one or two leading digits (exactly two when `fixed`).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let d0 = *s.first().filter(|b| b.is_ascii_digit())?;
    match s.get(1) {
        Some(d1) if d1.is_ascii_digit() => Some((((d0 - b'0') * 10 + (d1 - b'0')) as i64, &s[2..])),
        _ if fixed => None,
        _ => Some(((d0 - b'0') as i64, &s[1..])),
    }
}

/// Go's `time.atoi`: an optional sign, then digits only.
fn go_atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |v, d| v * 10 + (d - b'0') as i64);
    Some(if neg { -v } else { v })
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_suffixes_as_go_time_parse_reads_them() {
        for ok in [
            "2026.11.23.00.48.48.694092291",
            "2026.11.23.00.48.48",
            "2024.02.29.23.59.59.1",
            "2026.01.02.3.04.05.000000001",
            "2026.01.02.03.04.05,5",
        ] {
            assert!(is_backup_suffix(ok), "{ok}");
        }
        for bad in [
            "1",
            "gz",
            "2026.11.23.00.48.48.694092291.gz",
            "2025.02.29.00.00.00.0",
            "2026.13.01.00.00.00.0",
            "2026.1.01.00.00.00.0",
            "2026.01.01.24.00.00.0",
            "2026.01.01.00.60.00.0",
            "2026.01.01.00.00.00.",
            "20x6.01.01.00.00.00.0",
        ] {
            assert!(!is_backup_suffix(bad), "{bad}");
        }
    }

    #[test]
    fn layouts() {
        let n = Now {
            // SAFETY: all-zero is a valid `tm`.
            tm: libc::tm {
                tm_year: 126,
                tm_mon: 0,
                tm_mday: 2,
                tm_hour: 3,
                tm_min: 4,
                tm_sec: 5,
                tm_gmtoff: -(5 * 3600 + 30 * 60),
                ..unsafe { std::mem::zeroed() }
            },
            nsec: 6_007_008,
        };
        assert_eq!(n.std_log(), "2026/01/02 03:04:05");
        assert_eq!(n.log_prefix(), "2026/01/02 03:04:05.006007 ");
        assert_eq!(n.backup_suffix(), "2026.01.02.03.04.05.006007008");
        assert_eq!(n.rfc3339(), "2026-01-02T03:04:05-05:30");
        assert_eq!(n.stamp(), "Jan  2 03:04:05");
    }
}
