//! Docker's `--filter key=value` arguments and the matching rules docker's
//! daemon applies to them.
//!
//! - [`Filters::parse`]: each argument is `key=value` (split at the first
//!   `=`, key lower-cased and trimmed, value trimmed); a key may repeat.
//!   `label!=k=v` is key `label!`, as in docker.
//! - [`Filters::validate`]: keys outside the command's list are rejected
//!   with docker's `invalid filter 'foo'`.
//! - helpers: booleans (`dangling=true|false|1|0`), labels (`label=k`,
//!   `label=k=v`, `label!=...`), `reference=` globs with Go's `path.Match`
//!   on familiar names (`busy*`, `*/app:*`), `before=`/`since=` values (the
//!   caller resolves the image), and `until=` durations or timestamps.
//!
//! Timestamps without a zone are read as UTC (docker reads them in the
//! client's local zone; Berth keeps the parsing free of the host's zone
//! database).

// Some helpers are not called by the commands yet (issue 3 is being wired
// in parallel); drop this once every public item has a caller.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;

use berth_oci::{Classify, ErrorClass};

use crate::units::parse_rfc3339;

/// A `--filter` that docker would reject (messages as docker words them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// The argument has no `=`.
    BadFormat {
        /// The argument as given.
        arg: String,
    },
    /// The key is not accepted by this command: `invalid filter 'foo'`.
    InvalidKey {
        /// The rejected key.
        key: String,
    },
    /// The values given for a key cannot be used: `invalid filter
    /// 'dangling=maybe'`.
    InvalidValue {
        /// The filter key.
        key: String,
        /// Its values, comma-joined.
        values: String,
    },
    /// A key that takes one value was given several.
    TooMany {
        /// The filter key.
        key: String,
    },
    /// A `reference=` glob is malformed.
    BadPattern {
        /// The pattern as given.
        pattern: String,
    },
    /// An `until=`-style value is neither a duration nor a timestamp.
    BadTime {
        /// The value as given.
        value: String,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::BadFormat { arg } => write!(
                f,
                "invalid argument \"{arg}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            ),
            FilterError::InvalidKey { key } => write!(f, "invalid filter '{key}'"),
            FilterError::InvalidValue { key, values } => write!(f, "invalid filter '{key}={values}'"),
            FilterError::TooMany { key } => write!(f, "more than one {key} filter specified"),
            FilterError::BadPattern { pattern } => write!(f, "syntax error in pattern '{pattern}'"),
            FilterError::BadTime { value } => {
                write!(f, "failed to parse value as time or duration: \"{value}\"")
            }
        }
    }
}

impl std::error::Error for FilterError {}

impl Classify for FilterError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// Parsed `--filter` arguments: key -> values (duplicates dropped, in the
/// order given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// No filters.
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Parses `key=value` arguments like docker's `filters.ParseFlag` and
    /// rejects keys outside `accepted` (`invalid filter 'foo'`) and
    /// malformed `reference=` globs. Blank arguments are ignored.
    pub fn parse<I, S>(args: I, accepted: &[&str]) -> Result<Filters, FilterError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let f = Filters::parse_any(args)?;
        f.validate(accepted)?;
        Ok(f)
    }

    /// [`Filters::parse`] without the key check.
    pub fn parse_any<I, S>(args: I) -> Result<Filters, FilterError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut f = Filters::new();
        for arg in args {
            let raw = arg.as_ref();
            let arg = raw.trim();
            if arg.is_empty() {
                continue;
            }
            let (key, value) = arg.split_once('=').ok_or_else(|| FilterError::BadFormat {
                arg: raw.to_string(),
            })?;
            f.add(&key.trim().to_lowercase(), value.trim());
        }
        for pattern in f.values("reference") {
            path_match(pattern, "")?;
        }
        Ok(f)
    }

    /// Adds one value for `key`.
    pub fn add(&mut self, key: &str, value: &str) {
        let values = self.fields.entry(key.to_string()).or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
        }
    }

    /// Rejects any key not in `accepted` (`invalid filter 'foo'`).
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(key) => Err(FilterError::InvalidKey { key: key.clone() }),
            None => Ok(()),
        }
    }

    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// True when `key` was given.
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// The values given for `key` (empty when absent).
    pub fn values(&self, key: &str) -> &[String] {
        self.fields.get(key).map_or(&[], Vec::as_slice)
    }

    /// The last value given for `key`: docker resolves every `before=` /
    /// `since=` value and keeps the last.
    pub fn last(&self, key: &str) -> Option<&str> {
        self.values(key).last().map(String::as_str)
    }

    /// The only value of `key`; several values are an error
    /// (`more than one until filter specified`).
    pub fn single(&self, key: &str) -> Result<Option<&str>, FilterError> {
        match self.values(key) {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(FilterError::TooMany {
                key: key.to_string(),
            }),
        }
    }

    /// A boolean filter (`dangling=true`): `None` when absent, `true` / `1`
    /// or `false` / `0` (case-insensitive), error when the values are
    /// something else or contradict each other.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let values = self.values(key);
        if !self.contains(key) {
            return Ok(None);
        }
        let has = |words: &[&str]| {
            values
                .iter()
                .any(|v| words.iter().any(|w| v.eq_ignore_ascii_case(w)))
        };
        let (is_true, is_false) = (has(&["true", "1"]), has(&["false", "0"]));
        let known = values.iter().all(|v| {
            ["true", "1", "false", "0"]
                .iter()
                .any(|w| v.eq_ignore_ascii_case(w))
        });
        if is_true == is_false || !known {
            return Err(FilterError::InvalidValue {
                key: key.to_string(),
                values: values.join(","),
            });
        }
        Ok(Some(is_true))
    }

    /// Docker's `MatchKVList`: every value of `key` (`k` or `k=v`) must be
    /// satisfied by `labels` (key present, and equal value when given). True
    /// when `key` has no values.
    pub fn match_kv_list(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        let wanted = self.values(key);
        if wanted.is_empty() {
            return true;
        }
        wanted.iter().all(|w| match w.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(w.as_str()),
        })
    }

    /// The `label` / `label!` filters together, as docker's daemon applies
    /// them: all `label=` values match, and not all `label!=` values match.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        if !self.match_kv_list("label", labels) {
            return false;
        }
        !(self.contains("label!") && self.match_kv_list("label!", labels))
    }

    /// The `reference` filter for one image: true when no `reference=` was
    /// given, or when one of the patterns matches one of the image's
    /// familiar references (`busybox:latest`, `localhost:5000/app:v1`,
    /// `name@sha256:...`) or its familiar name (`busybox`), with `path.Match`
    /// rules. An image without references never matches a `reference=`.
    pub fn match_reference<S: AsRef<str>>(&self, familiar_refs: &[S]) -> Result<bool, FilterError> {
        let patterns = self.values("reference");
        if patterns.is_empty() {
            return Ok(true);
        }
        for pattern in patterns {
            for r in familiar_refs {
                let r = r.as_ref();
                if path_match(pattern, r)? || path_match(pattern, familiar_name_of(r))? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The `until` filter as a unix time (seconds, nanoseconds), relative
    /// durations counted back from `now_unix`; `None` when absent.
    pub fn until(&self, now_unix: i64) -> Result<Option<(i64, u32)>, FilterError> {
        self.single("until")?
            .map(|v| parse_timestamp(v, now_unix))
            .transpose()
    }
}

/// One `reference=` pattern against one tagged image name, as docker's
/// `FamiliarMatch`: true when `pattern` matches `familiar_name:tag` or
/// `familiar_name` (`busy*` matches `busybox`; `*/app:v*` matches
/// `localhost:5000/app:v1`). A malformed pattern matches nothing
/// ([`Filters::parse`] already rejected it).
pub fn reference_matches(pattern: &str, familiar_name: &str, tag: &str) -> bool {
    let full = format!("{familiar_name}:{tag}");
    path_match(pattern, &full).unwrap_or(false)
        || path_match(pattern, familiar_name).unwrap_or(false)
}

/// The name part of a familiar reference: `busybox:latest` -> `busybox`,
/// `localhost:5000/a/b:v1` -> `localhost:5000/a/b`, `x@sha256:...` -> `x`.
pub fn familiar_name_of(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].find(':') {
        Some(colon) => &no_digest[..last_slash + colon],
        None => no_digest,
    }
}

/// Go's `path.Match`: `*` matches any run of non-`/` characters, `?` one
/// non-`/` character, `[a-z]` / `[^a-z]` a class, `\` escapes. Malformed
/// patterns are an error even when the match already failed.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, FilterError> {
    let bad = || FilterError::BadPattern {
        pattern: pattern.to_string(),
    };
    let pat: Vec<char> = pattern.chars().collect();
    let mut name: Vec<char> = name.chars().collect();
    let mut p: &[char] = &pat;
    'pattern: while !p.is_empty() {
        let (star, chunk, rest) = scan_chunk(p);
        p = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let (t, ok) = match_chunk(chunk, &name).ok_or_else(bad)?;
        if ok && (t.is_empty() || !p.is_empty()) {
            name = t;
            continue;
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..]).ok_or_else(bad)?;
                if ok {
                    if p.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Fail, but only after checking the rest of the pattern is valid.
        while !p.is_empty() {
            let (_, chunk, rest) = scan_chunk(p);
            p = rest;
            match_chunk(chunk, &[]).ok_or_else(bad)?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the following chunk up to the next star
/// outside a class.
fn scan_chunk(p: &[char]) -> (bool, &[char], &[char]) {
    let mut star = false;
    let mut p = p;
    while p.first() == Some(&'*') {
        p = &p[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &p[..i], &p[i..])
}

/// Matches `chunk` at the start of `s`: `Some((rest, matched))`, or `None`
/// for a malformed chunk.
fn match_chunk(chunk: &[char], s: &[char]) -> Option<(Vec<char>, bool)> {
    let mut failed = false;
    let mut c = chunk;
    let mut s = s;
    while !c.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c[0] {
            '[' => {
                let r = if failed {
                    None
                } else {
                    let r = s[0];
                    s = &s[1..];
                    Some(r)
                };
                c = &c[1..];
                let negated = c.first() == Some(&'^');
                if negated {
                    c = &c[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if c.first() == Some(&']') && nrange > 0 {
                        c = &c[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(c)?;
                    c = rest;
                    let mut hi = lo;
                    if c.first() == Some(&'-') {
                        let (h, rest) = get_esc(&c[1..])?;
                        hi = h;
                        c = rest;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                c = &c[1..];
            }
            ch => {
                let lit = if ch == '\\' {
                    c = &c[1..];
                    *c.first()?
                } else {
                    ch
                };
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                c = &c[1..];
            }
        }
    }
    if failed {
        Some((Vec::new(), false))
    } else {
        Some((s.to_vec(), true))
    }
}

/// One (possibly escaped) character of a class; `None` when malformed.
fn get_esc(c: &[char]) -> Option<(char, &[char])> {
    let first = *c.first()?;
    if first == '-' || first == ']' {
        return None;
    }
    let c = if first == '\\' { &c[1..] } else { c };
    let r = *c.first()?;
    let rest = &c[1..];
    if rest.is_empty() {
        return None;
    }
    Some((r, rest))
}

/// Go's `time.ParseDuration` in nanoseconds (`"1h30m"`, `"-1.5h"`,
/// `"300ms"`, `"0"`); `None` when malformed.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * scale;
    }
    let nanos = total.round() as i128;
    Some(if neg { -nanos } else { nanos })
}

/// Docker's `GetTimestamp` + `ParseTimestamps` for `until=` / `since=`:
/// a Go duration (`"24h"`, counted back from `now_unix`), an RFC 3339 time
/// or shorter form (`2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`,
/// `2006-01-02T15:04:05[.nnn]`, optional `Z` / `±hh:mm`), or a unix time
/// `seconds[.fraction]`. Returns (unix seconds, nanoseconds).
pub fn parse_timestamp(value: &str, now_unix: i64) -> Result<(i64, u32), FilterError> {
    let bad = || FilterError::BadTime {
        value: value.to_string(),
    };
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            // Go: reference.Add(-d).Unix(), i.e. floored to whole seconds.
            let nanos = i128::from(now_unix) * 1_000_000_000 - d;
            return Ok((nanos.div_euclid(1_000_000_000) as i64, 0));
        }
    }
    if let Some(t) = parse_rfc3339(value) {
        return Ok(t);
    }
    if value.contains('-') {
        return Err(bad());
    }
    // Unix timestamp "seconds[.nanoseconds]".
    let (s, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = s.parse().map_err(|_| bad())?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = f.parse().map_err(|_| bad())?;
            n * 10u32.pow(9 - f.len() as u32)
        }
        Some(_) => return Err(bad()),
    };
    Ok((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_and_validate() {
        let f = Filters::parse_any([
            "dangling=true",
            " Label = a=b ",
            "label=c",
            "label=c",
            "",
            "label!=x",
        ])
        .unwrap();
        assert_eq!(f.values("dangling"), ["true"]);
        assert_eq!(f.values("label"), ["a=b", "c"]);
        assert_eq!(f.values("label!"), ["x"]);
        assert!(f.values("nope").is_empty());
        let images = [
            "dangling",
            "label",
            "label!",
            "before",
            "since",
            "reference",
            "until",
        ];
        assert!(f.validate(&images).is_ok());
        let err = Filters::parse(["foo=bar"], &images).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'foo'");
        let err = Filters::parse_any(["dangling"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument \"dangling\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
        );
        assert!(Filters::parse(Vec::<String>::new(), &images)
            .unwrap()
            .is_empty());
        let err = Filters::parse(["reference=[x"], &images).unwrap_err();
        assert_eq!(err.to_string(), "syntax error in pattern '[x'");
    }

    /// Filter arguments and the expected `bool_value` (or error text).
    type BoolCase<'a> = (&'a [&'a str], Result<Option<bool>, &'a str>);

    #[test]
    fn booleans() {
        let cases: &[BoolCase<'_>] = &[
            (&[], Ok(None)),
            (&["dangling=true"], Ok(Some(true))),
            (&["dangling=1"], Ok(Some(true))),
            (&["dangling=FALSE"], Ok(Some(false))),
            (&["dangling=0"], Ok(Some(false))),
            (&["dangling=true", "dangling=1"], Ok(Some(true))),
            (&["dangling=maybe"], Err("invalid filter 'dangling=maybe'")),
            (
                &["dangling=true", "dangling=false"],
                Err("invalid filter 'dangling=true,false'"),
            ),
        ];
        for (args, want) in cases {
            let got = Filters::parse_any(args.iter())
                .unwrap()
                .bool_value("dangling");
            match want {
                Ok(v) => assert_eq!(got, Ok(*v), "{args:?}"),
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), *msg, "{args:?}"),
            }
        }
    }

    #[test]
    fn labels_match_like_docker() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["label=a"], true),
            (&["label=a=1"], true),
            (&["label=a=2"], false),
            (&["label=a", "label=b=2"], true),
            (&["label=a", "label=c"], false),
            (&["label!=a"], false),
            (&["label!=c"], true),
            (&["label!=a=2"], true),
            // label! excludes only when all of its values match.
            (&["label!=a", "label!=c"], true),
            (&["label=b", "label!=a=1"], false),
        ];
        for (args, want) in cases {
            let f = Filters::parse_any(args.iter()).unwrap();
            assert_eq!(f.labels_match(&l), *want, "{args:?}");
        }
        assert!(!Filters::parse_any(["label=a"])
            .unwrap()
            .labels_match(&BTreeMap::new()));
    }

    #[test]
    fn path_match_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a?b", "a/b", false),
            ("busy*", "busybox", true),
            ("busy*", "busybox:latest", true),
            ("*/app:*", "localhost:5000/app:v1", true),
            ("*/app:*", "app:v1", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(path_match(p, n), Ok(*want), "{p} {n}");
        }
        for bad in ["[", "[^", "[-]", "a[", "ab[^e-g", "[a-", "\\"] {
            assert!(path_match(bad, "x").is_err(), "{bad}");
        }
        assert_eq!(
            path_match("[", "x").unwrap_err().to_string(),
            "syntax error in pattern '['"
        );
    }

    #[test]
    fn references() {
        let refs = ["busybox:latest", "localhost:5000/team/app:v1"];
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["reference=busybox"], true),
            (&["reference=busy*"], true),
            (&["reference=busybox:1*"], false),
            (&["reference=*/*/app"], true),
            (&["reference=localhost:5000/*/app:v*"], true),
            (&["reference=nginx", "reference=busybox:latest"], true),
            (&["reference=nginx"], false),
        ];
        for (args, want) in cases {
            let f = Filters::parse_any(args.iter()).unwrap();
            assert_eq!(f.match_reference(&refs), Ok(*want), "{args:?}");
        }
        let none: [&str; 0] = [];
        assert_eq!(
            Filters::parse_any(["reference=*"])
                .unwrap()
                .match_reference(&none),
            Ok(false)
        );
        assert!(reference_matches("busy*", "busybox", "latest"));
        assert!(reference_matches("busybox:lat*", "busybox", "latest"));
        assert!(reference_matches("*/app:v*", "localhost:5000/app", "v1"));
        assert!(!reference_matches("busybox:1*", "busybox", "latest"));
        assert!(!reference_matches("[", "busybox", "latest"));
        assert_eq!(
            familiar_name_of("localhost:5000/a/b:v1"),
            "localhost:5000/a/b"
        );
        assert_eq!(familiar_name_of("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(familiar_name_of("x@sha256:abc"), "x");
    }

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("h"), None);
        let now = 1_700_000_000;
        let cases: &[(&str, (i64, u32))] = &[
            ("24h", (now - 86_400, 0)),
            ("10m", (now - 600, 0)),
            ("1.5s", (now - 2, 0)),
            ("0", (0, 0)),
            ("1600000000", (1_600_000_000, 0)),
            ("1600000000.5", (1_600_000_000, 500_000_000)),
            ("2017-01-04", (1_483_488_000, 0)),
            ("2017-01-04T00:00:00", (1_483_488_000, 0)),
            ("2017-01-04T10", (1_483_524_000, 0)),
            ("2017-01-04T10:30", (1_483_525_800, 0)),
            ("2017-01-04T10:30:00Z", (1_483_525_800, 0)),
            ("2017-01-04T10:30:00+01:00", (1_483_522_200, 0)),
            ("2017-01-04T10:30:00.25-01:00", (1_483_529_400, 250_000_000)),
            ("2017-01-04+01:00", (1_483_484_400, 0)),
        ];
        for (v, want) in cases {
            assert_eq!(parse_timestamp(v, now), Ok(*want), "{v}");
        }
        for bad in ["yesterday", "2017-13-01", "2017-02-30", "12x", "1.2.3"] {
            assert_eq!(
                parse_timestamp(bad, now).unwrap_err().to_string(),
                format!("failed to parse value as time or duration: \"{bad}\"")
            );
        }
        let f = Filters::parse_any(["until=1h"]).unwrap();
        assert_eq!(f.until(now), Ok(Some((now - 3600, 0))));
        let two = Filters::parse_any(["until=1h", "until=2h"]).unwrap();
        assert_eq!(
            two.until(now).unwrap_err().to_string(),
            "more than one until filter specified"
        );
    }
}
