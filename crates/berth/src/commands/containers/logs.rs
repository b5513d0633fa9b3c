//! `berth logs` options and line format, as docker prints them: `-t` puts an RFC 3339 time with
//! nine fraction digits before each line, `--details` the log attributes, `--since`/`--until`
//! take docker's timestamp forms, `--tail` a count or `all`.

use crate::cli_containers::LogsArgs;
use anyhow::{bail, Result};

/// Parsed `logs` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Only entries at or after this time (unix ns).
    pub since_ns: Option<i128>,
    /// Only entries before this time (unix ns).
    pub until_ns: Option<i128>,
    /// The last N lines only (`None` = all).
    pub tail: Option<usize>,
    /// Prefix timestamps.
    pub timestamps: bool,
    /// Prefix attributes.
    pub details: bool,
    /// Keep reading while the container runs.
    pub follow: bool,
}

impl LogOptions {
    /// From the command line; `now` unix seconds for relative times (`10m`).
    pub fn parse(a: &LogsArgs, now: i64) -> Result<LogOptions> {
        let time = |v: &Option<String>| -> Result<Option<i128>> {
            match v {
                None => Ok(None),
                Some(s) if s.is_empty() => Ok(None),
                Some(s) => {
                    let (secs, nanos) = crate::filters::parse_timestamp(s, now)?;
                    Ok(Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos)))
                }
            }
        };
        let tail = match a.tail.as_str() {
            "all" | "" => None,
            n => match n.parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(n) => Some(n as usize),
                Err(_) => bail!("invalid value for \"tail\": {n:?}"),
            },
        };
        Ok(LogOptions {
            since_ns: time(&a.since)?,
            until_ns: time(&a.until)?,
            tail,
            timestamps: a.timestamps,
            details: a.details,
            follow: a.follow,
        })
    }
}

/// Docker's `RFC3339NanoFixed` of a unix-ns time, in UTC: `2024-01-02T03:04:05.000000006Z`.
pub fn rfc3339_nano_fixed(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000);
    let (y, mo, d, h, mi, s) = crate::units::civil_from_unix(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z")
}

/// One output line: `[time ][attrs ]text` (text as logged, with its newline if any).
pub fn format_line(
    opts: &LogOptions,
    ns: i128,
    attrs: &[(String, String)],
    text: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 48);
    if opts.timestamps {
        out.extend_from_slice(rfc3339_nano_fixed(ns).as_bytes());
        out.push(b' ');
    }
    if opts.details {
        let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.extend_from_slice(a.join(",").as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(text);
    out
}

/// Prints the log at `path` to our stdout/stderr (each entry on the stream it came from); with
/// `--follow`, keeps printing until `running()` turns false.
pub fn print(
    path: &std::path::Path,
    o: &LogOptions,
    running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    use berth_engine::logfile::{self, ReadOptions, Stream};
    use std::io::Write;
    let ro = ReadOptions {
        tail: o.tail,
        since_ns: o.since_ns,
        until_ns: o.until_ns,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = stderr.lock();
    let mut failed: Option<std::io::Error> = None;
    let mut emit = |e: &logfile::LogEntry| -> bool {
        let line = format_line(o, e.time_ns, &e.attrs, &e.log);
        let r = match e.stream {
            Stream::Stdout => {
                out.write_all(&line)
                    .and_then(|_| if o.follow { out.flush() } else { Ok(()) })
            }
            Stream::Stderr => out.flush().and_then(|_| err.write_all(&line)),
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    };
    if o.follow {
        logfile::follow(
            path,
            &ro,
            std::time::Duration::from_millis(100),
            running,
            &mut emit,
        )?;
    } else {
        logfile::read(path, &ro, &mut emit)?;
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut LogsArgs)) -> LogsArgs {
        let mut a = LogsArgs {
            details: false,
            follow: false,
            since: None,
            tail: "all".into(),
            timestamps: false,
            until: None,
            container: "c".into(),
        };
        f(&mut a);
        a
    }

    #[test]
    fn options() {
        let o = LogOptions::parse(&args(|a| a.tail = "3".into()), 1000).unwrap();
        assert_eq!(o.tail, Some(3));
        let o = LogOptions::parse(&args(|a| a.tail = "-1".into()), 1000).unwrap();
        assert_eq!(o.tail, None);
        assert!(LogOptions::parse(&args(|a| a.tail = "x".into()), 1000).is_err());
        let o = LogOptions::parse(&args(|a| a.since = Some("10s".into())), 1000).unwrap();
        assert_eq!(o.since_ns, Some(990 * 1_000_000_000));
        let o =
            LogOptions::parse(&args(|a| a.until = Some("1970-01-01T00:16:40Z".into())), 0).unwrap();
        assert_eq!(o.until_ns, Some(1000 * 1_000_000_000));
        assert!(LogOptions::parse(&args(|a| a.since = Some("yesterday".into())), 0).is_err());
    }

    #[test]
    fn prints_a_json_file_log() {
        use berth_engine::logfile::{encode_entry, Stream};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut buf = Vec::new();
        encode_entry(&mut buf, Stream::Stdout, b"one\n", 1_000_000_000);
        encode_entry(&mut buf, Stream::Stdout, b"two\n", 2_000_000_000);
        std::fs::write(&p, &buf).unwrap();
        let o = LogOptions::parse(&args(|a| a.tail = "1".into()), 0).unwrap();
        print(&p, &o, &mut || false).unwrap();
    }

    #[test]
    fn lines() {
        let o = LogOptions::parse(
            &args(|a| {
                a.timestamps = true;
                a.details = true;
            }),
            0,
        )
        .unwrap();
        let line = format_line(
            &o,
            1_700_000_000_000_000_006,
            &[("a".into(), "b".into())],
            b"hi\n",
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2023-11-14T22:13:20.000000006Z a=b hi\n"
        );
    }
}
