//! RFC 3339 timestamps in UTC (`2026-05-01T12:34:56.123456Z`), written and read by hand from
//! `SystemTime`: the log needs one format and a comparison, not a calendar library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (negative before it).
pub type Micros = i64;

/// `SystemTime` as microseconds since the epoch.
pub fn micros(t: SystemTime) -> Micros {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// The time as RFC 3339 in UTC with microseconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    let us = micros(t);
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Reads RFC 3339 (`2026-05-01T12:34:56Z`, with optional fraction and a `Z` or `+hh:mm`
/// offset; `t` and `z` in either case, a space for `T`) or a bare date (`2026-05-01`,
/// midnight UTC) into microseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Result<Micros, String> {
    let bad = || format!("`{s}` is not an RFC 3339 time (like 2026-05-01T12:00:00Z) or a date (2026-05-01)");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s.get(from..from + len).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(bad());
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(bad());
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return Ok(days * 86_400 * 1_000_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return Err(bad());
    }
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let digits = s.get(start..i).unwrap_or("");
        let six: String = digits.chars().chain(std::iter::repeat('0')).take(6).collect();
        frac_us = six.parse().map_err(|_| bad())?;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err(bad()),
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Ok(secs * 1_000_000 + frac_us)
}

/// The time `us` microseconds after the epoch.
pub fn from_micros(us: Micros) -> SystemTime {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_reads_back() {
        let t = from_micros(1_777_637_696_123_456);
        let s = format_rfc3339(t);
        assert_eq!(s, "2026-05-01T12:14:56.123456Z");
        assert_eq!(parse_rfc3339(&s), Ok(1_777_637_696_123_456));
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_rfc3339(from_micros(951_782_400_000_000)), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn reads_offsets_dates_and_rejects_nonsense() {
        assert_eq!(parse_rfc3339("2026-05-01"), parse_rfc3339("2026-05-01T00:00:00Z"));
        assert_eq!(parse_rfc3339("2026-05-01T02:00:00+02:00"), parse_rfc3339("2026-05-01T00:00:00Z"));
        assert_eq!(parse_rfc3339("2026-05-01t00:00:00.5z").map(|u| u % 1_000_000), Ok(500_000));
        for bad in ["2026-02-30", "2026-5-01", "2026-05-01T25:00:00Z", "2026-05-01T00:00:00", "yesterday", ""] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
