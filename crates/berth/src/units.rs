//! Human-readable sizes and durations, printed exactly like docker's CLI.
//!
//! Docker prints sizes and ages with the go-units library; scripts parse
//! those strings, so the rules are reproduced here, quirks included:
//! - [`human_size`] is `HumanSizeWithPrecision(size, 3)`: decimal units
//!   with Go's `%.3g` (`"5.84MB"`, `"302MB"`, `"0B"`, and `"1e+03MB"` for
//!   999.9 MB, as docker really prints).
//! - [`bytes_size`] is `BytesSize`: binary units with `%.4g` (`"5.5MiB"`).
//! - [`human_duration`] is `HumanDuration` (`"About a minute"`, `"3 weeks"`);
//!   [`created_since`] adds `" ago"` like docker's CREATED column.
//! - [`ram_in_bytes`] parses `--memory` style values (`"512m"`, `"1g"`).
//!
//! [`go_format_g`] is Go's `%g` / `%.Ng` float formatting, also used by the
//! template engine to print floating-point numbers the way Go does.

// Some helpers are not called by the commands yet (issue 3 is being wired
// in parallel); drop this once every public item has a caller.
#![allow(dead_code)]

use std::fmt;
use std::time::Duration;

use berth_oci::{Classify, ErrorClass};

/// Decimal unit names used by [`human_size`] (note the lowercase `kB`).
const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
/// Binary unit names used by [`bytes_size`].
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// A size string that [`ram_in_bytes`] cannot parse: `invalid size: '12x'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeError {
    /// The rejected input, verbatim.
    pub value: String,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid size: '{}'", self.value)
    }
}

impl std::error::Error for SizeError {}

impl Classify for SizeError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// Divides `size` by `base` until it is below `base` (or the units run out),
/// with the same float operations as go-units so results round identically.
fn scale(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Docker's SIZE column: go-units `HumanSizeWithPrecision(size, 3)`,
/// e.g. `0` -> `"0B"`, `5_840_000` -> `"5.84MB"`, `302_000_000` -> `"302MB"`.
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// go-units `HumanSizeWithPrecision`: decimal units, `precision` significant
/// digits with Go's `%.*g` (so 4 digits gives `"1.049MB"` for 1048576).
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (value, unit) = scale(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", go_format_g(value, Some(precision)))
}

/// go-units `BytesSize`: binary units with 4 significant digits,
/// e.g. `1024` -> `"1KiB"`, `5.5 * 1024 * 1024` -> `"5.5MiB"`.
pub fn bytes_size(size: f64) -> String {
    let (value, unit) = scale(size, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", go_format_g(value, Some(4)))
}

/// go-units `HumanDuration`: a rough, human approximation of `d`.
pub fn human_duration(d: Duration) -> String {
    let secs_f = d.as_secs_f64();
    let seconds = secs_f as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs_f / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours_f = secs_f / 3600.0;
    // Go's math.Round rounds half away from zero, as f64::round does.
    let hours = hours_f.round() as i64;
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (hours_f as i64) / 24 / 365)
    }
}

/// Docker's CREATED column: `HumanDuration(now - created) + " ago"`.
/// Times in the future count as "Less than a second ago", as in docker.
pub fn created_since(created_unix: i64, now_unix: i64) -> String {
    let secs = now_unix.saturating_sub(created_unix).max(0) as u64;
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

/// Go's `time.Time.String()` of a unix time in UTC, as docker prints the
/// `CreatedAt` template field: `"2023-05-19 20:19:01 +0000 UTC"`.
pub fn go_time_string_utc(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// Go's `time.RFC3339` layout of a unix time in UTC, as docker prints
/// `history` CREATED without `-H`: `"2023-05-19T20:19:01Z"`.
pub fn rfc3339_utc(unix: i64) -> String {
    berth_oci::time::rfc3339(unix)
}

pub use berth_oci::time::{civil_from_unix, days_from_civil};

/// Parses an RFC 3339 time such as an image's `created`
/// (`2023-05-19T20:19:01.123456789Z`, `...+02:00`) into (unix seconds,
/// nanoseconds). Also accepts the shorter forms `filters::parse_timestamp` accepts
/// (a missing zone means UTC).
pub fn parse_rfc3339(v: &str) -> Option<(i64, u32)> {
    let b = v.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = v.get(from..from + len)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)? as u32;
    let day = num(8, 2)? as u32;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut i = 10;
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0u32);
    if matches!(b.get(i), Some(b'T' | b't')) {
        h = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b':') {
            mi = num(i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                s = num(i + 1, 2)?;
                i += 3;
                if b.get(i) == Some(&b'.') {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                    if end == start {
                        return None;
                    }
                    let digits = &v[start..end.min(start + 9)];
                    nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
                    i = end;
                }
            }
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let secs = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset, nanos))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// go-units `RAMInBytes`: `"512m"` -> 536870912. Units k, m, g, t, p are
/// binary (1024-based), case-insensitive, optionally followed by `i` and/or
/// `b`, optionally after one space; a bare number is bytes; fractions are
/// allowed (`"0.5g"`) and truncated to whole bytes.
pub fn ram_in_bytes(value: &str) -> Result<i64, SizeError> {
    parse_size(value, 1024)
}

/// go-units `FromHumanSize`: like [`ram_in_bytes`] with decimal units.
pub fn from_human_size(value: &str) -> Result<i64, SizeError> {
    parse_size(value, 1000)
}

/// The grammar of go-units' size regex: `^(\d+(\.\d+)*) ?([kmgtp])?i?b?$`.
fn parse_size(value: &str, base: i64) -> Result<i64, SizeError> {
    let err = || SizeError {
        value: value.to_string(),
    };
    let bytes = value.as_bytes();
    let mut i = 0;
    // Number: digits, then any number of ".digits" groups.
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err(err());
    }
    while i < bytes.len() && bytes[i] == b'.' {
        let save = i;
        i += 1;
        if !digits(&mut i) {
            i = save;
            break;
        }
    }
    let number = &value[..i];
    if i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    let mut power = 0u32;
    if let Some(p) = bytes
        .get(i)
        .and_then(|c| b"kmgtp".iter().position(|u| *u == c.to_ascii_lowercase()))
    {
        power = p as u32 + 1;
        i += 1;
    }
    if bytes.get(i).is_some_and(|c| c.eq_ignore_ascii_case(&b'i')) {
        i += 1;
    }
    if bytes.get(i).is_some_and(|c| c.eq_ignore_ascii_case(&b'b')) {
        i += 1;
    }
    if i != bytes.len() {
        return Err(err());
    }
    // "1.2.3" matches the regex but is not a float: go-units errors too.
    let size: f64 = number.parse().map_err(|_| err())?;
    let size = size * (base as f64).powi(power as i32);
    if !size.is_finite() || size > i64::MAX as f64 {
        return Err(err());
    }
    Ok(size as i64)
}

/// Decimal digits of `|f|` (no leading/trailing zeros) and the decimal point
/// position: `|f| = 0.d1d2d3... * 10^dp`. `sig = None` gives the shortest
/// digits that round-trip, `Some(n)` rounds to `n` significant digits.
fn decimal_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let f = f.abs();
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{f:e}"),
        Some(n) => format!("{:.*e}", n.max(1) - 1, f),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// Go's `%g` (`precision = None`, as `%v` prints a float64) or `%.Ng`
/// (`Some(N)`): shortest/rounded digits, exponent form when the exponent is
/// below -4 or at least the precision (6 for `%v`), trailing zeros removed.
pub fn go_format_g(f: f64, precision: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = f.is_sign_negative() && f != 0.0;
    let (digits, dp) = decimal_digits(f, precision.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let shortest = precision.is_none();
    let mut prec = match precision {
        None => nd,
        Some(p) => p.max(1) as i32,
    };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        // %e with prec-1 digits after the point.
        out.push(digits.first().map_or('0', |d| *d as char));
        let decimals = (prec - 1).max(0);
        if decimals > 0 {
            out.push('.');
            for i in 1..=decimals {
                out.push(digits.get(i as usize).map_or('0', |d| *d as char));
            }
        }
        let e = if nd == 0 { 0 } else { dp - 1 };
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
        return out;
    }
    if prec > dp {
        prec = nd;
    }
    let decimals = (prec - dp).max(0);
    // %f: integer part then `decimals` digits.
    if dp > 0 {
        for i in 0..dp {
            out.push(digits.get(i as usize).map_or('0', |d| *d as char));
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals {
            let j = dp + i - 1;
            let c = if j >= 0 {
                digits.get(j as usize).map_or('0', |d| *d as char)
            } else {
                '0'
            };
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_go_units() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 3, "0B"),
            (1.0, 3, "1B"),
            (999.0, 3, "999B"),
            (1000.0, 3, "1kB"),
            (1_000_000.0, 3, "1MB"),
            (5_840_000.0, 3, "5.84MB"),
            (4_261_000.0, 3, "4.26MB"),
            (302_000_000.0, 3, "302MB"),
            (1_230_000_000.0, 3, "1.23GB"),
            (10_500.0, 3, "10.5kB"),
            (12_000.0, 3, "12kB"),
            (999_900_000.0, 3, "1e+03MB"),
            // go-units' own HumanSize (precision 4) test table.
            (1000.0, 4, "1kB"),
            (1024.0, 4, "1.024kB"),
            (1_048_576.0, 4, "1.049MB"),
            (2_000_000.0, 4, "2MB"),
            (3.42e9, 4, "3.42GB"),
            (5.372e12, 4, "5.372TB"),
            (2.22e15, 4, "2.22PB"),
            (1e28, 4, "1e+04YB"),
        ];
        for (size, prec, want) in cases {
            assert_eq!(human_size_with_precision(*size, *prec), *want, "{size}");
        }
        assert_eq!(human_size(5_840_000), "5.84MB");
    }

    #[test]
    fn bytes_size_matches_go_units() {
        let kib = 1024.0_f64;
        let cases: &[(f64, &str)] = &[
            (kib, "1KiB"),
            (kib * kib, "1MiB"),
            (2.0 * kib * kib, "2MiB"),
            (5.5 * kib * kib, "5.5MiB"),
            (3.42 * kib.powi(3), "3.42GiB"),
            (5.372 * kib.powi(4), "5.372TiB"),
            (2.22 * kib.powi(5), "2.22PiB"),
            (kib.powi(10), "1.049e+06YiB"),
            (0.0, "0B"),
        ];
        for (size, want) in cases {
            assert_eq!(bytes_size(*size), *want);
        }
    }

    #[test]
    fn human_duration_matches_go_units() {
        let s = Duration::from_secs;
        let m = |n: u64| s(n * 60);
        let h = |n: u64| s(n * 3600);
        let day = |n: u64| h(n * 24);
        let cases: Vec<(Duration, &str)> = vec![
            (Duration::from_millis(450), "Less than a second"),
            (s(1), "1 second"),
            (s(47), "47 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(90), "About a minute"),
            (m(3), "3 minutes"),
            (m(35) + s(40), "35 minutes"),
            (m(59), "59 minutes"),
            (h(1), "About an hour"),
            (h(1) + m(29), "About an hour"),
            (h(1) + m(31), "2 hours"),
            (h(3) + m(29), "3 hours"),
            (h(3) + m(31), "4 hours"),
            (h(24), "24 hours"),
            (h(36), "36 hours"),
            (day(2), "2 days"),
            (day(13) + h(5), "13 days"),
            (day(14), "2 weeks"),
            (day(18), "2 weeks"),
            (day(21), "3 weeks"),
            (day(30), "4 weeks"),
            (day(44), "6 weeks"),
            (day(60), "2 months"),
            (day(97), "3 months"),
            (day(164), "5 months"),
            (day(720), "24 months"),
            (day(734), "2 years"),
            (day(3 * 365 + 60), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
        assert_eq!(created_since(1000, 1090), "About a minute ago");
        assert_eq!(created_since(2000, 1000), "Less than a second ago");
    }

    #[test]
    fn ram_in_bytes_matches_go_units() {
        let kib = 1024_i64;
        let ok: &[(&str, i64)] = &[
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * kib),
            ("32K", 32 * kib),
            ("32kb", 32 * kib),
            ("32Kib", 32 * kib),
            ("32KIB", 32 * kib),
            ("512m", 512 * kib * kib),
            ("1g", kib * kib * kib),
            ("32Tb", 32 * kib.pow(4)),
            ("32P", 32 * kib.pow(5)),
            ("32.3", 32),
            ("32.3 mb", (32.3 * (kib * kib) as f64) as i64),
            ("0.3MB", (0.3 * (kib * kib) as f64) as i64),
        ];
        for (s, want) in ok {
            assert_eq!(ram_in_bytes(s), Ok(*want), "{s}");
        }
        for bad in [
            "", "hello", "-32", " 32 ", "32m b", "32bm", ".3kB", "12x", "1.2.3",
        ] {
            let err = ram_in_bytes(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid size: '{bad}'"));
        }
        assert_eq!(from_human_size("32.5 kB"), Ok(32_500));
    }

    #[test]
    fn go_g_formatting() {
        let cases: &[(f64, Option<usize>, &str)] = &[
            (1.0, None, "1"),
            (0.5, None, "0.5"),
            (100000.0, None, "100000"),
            (1e6, None, "1e+06"),
            (1234567.0, None, "1.234567e+06"),
            (0.0001, None, "0.0001"),
            (0.00001, None, "1e-05"),
            (-2.5, None, "-2.5"),
            (0.0, None, "0"),
            (1.125, Some(3), "1.12"),
            (1.5, Some(3), "1.5"),
            (123.456, Some(2), "1.2e+02"),
        ];
        for (f, p, want) in cases {
            assert_eq!(go_format_g(*f, *p), *want, "{f} {p:?}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(go_time_string_utc(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339_utc(1_684_527_541), "2023-05-19T20:19:01Z");
        assert_eq!(
            parse_rfc3339("2023-05-19T20:19:01.123456789Z"),
            Some((1_684_527_541, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339("2023-05-19T22:19:01+02:00"),
            Some((1_684_527_541, 0))
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(
            go_time_string_utc(1_684_527_541),
            "2023-05-19 20:19:01 +0000 UTC"
        );
        for days in [-800_000_i64, -1, 0, 59, 60, 11_016, 19_500, 2_000_000] {
            let (y, m, d, ..) = civil_from_unix(days * 86_400);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
