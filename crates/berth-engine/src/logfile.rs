//! Container logs in Docker's `json-file` format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-26T22:30:58.123456789Z"}`.
//!
//! - The writer ([`LogWriter`]) is used by the shim: each entry is one `write(2)`, the file rotates
//!   to `<path>.1`, `<path>.2`, ... when it would grow past `max-size`.
//!   **Berth turns rotation on by default** (docker's json-file does not): `max-size` 20m and
//!   `max-file` 5, unless `--log-opt max-size=...` / `max-file=...` say otherwise
//!   (`max-size=-1` turns it off).
//! - [`LineSplitter`] cuts a stream into entries as docker's copier does: at each newline, and at
//!   16 KiB without one (a "partial" entry whose `log` has no trailing newline).
//! - The reader ([`read`], [`follow`]) serves `logs`: `--tail N` (counted over all files, before
//!   `--since`/`--until` as docker does), follow that survives rotation, and [`copy_raw`] that writes
//!   the bytes of each entry to stdout/stderr writers.
//!
//! Times are written as Go's RFC3339Nano in UTC (trailing zeros of the fraction trimmed, as docker
//! writes them) and read in any RFC 3339 form.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest entry docker writes before cutting a line into partial entries.
pub const MAX_ENTRY: usize = 16 * 1024;
/// Berth's default `max-size` (20 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
/// Berth's default `max-file`.
pub const DEFAULT_MAX_FILE: u32 = 5;

/// Errors of the log file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A `--log-opt` that json-file does not know.
    #[error("unknown log opt '{0}' for json-file log driver")]
    UnknownOpt(String),
    /// A malformed option value.
    #[error("invalid value for log opt '{key}': {value:?}: {why}")]
    BadOpt {
        key: String,
        value: String,
        why: &'static str,
    },
    /// Opening the log file.
    #[error("opening log file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing an entry.
    #[error("writing log file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Renaming during rotation.
    #[error("rotating log file {}: {source}", path.display())]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading the log.
    #[error("reading log file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing to the caller's output.
    #[error("writing logs to the output: {0}")]
    Output(std::io::Error),
}

impl berth_oci::Classify for LogError {
    fn class(&self) -> berth_oci::ErrorClass {
        use berth_oci::ErrorClass;
        match self {
            LogError::UnknownOpt(_) | LogError::BadOpt { .. } => ErrorClass::InvalidArgument,
            LogError::Open { source, .. } | LogError::Read { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorClass::NotFound
            }
            _ => ErrorClass::Internal,
        }
    }
}

/// Which stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `"stdout"` / `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Rotation settings (`--log-opt max-size=10m --log-opt max-file=3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateOptions {
    /// Rotate before the file would pass this many bytes; `None` = never rotate.
    pub max_size: Option<u64>,
    /// How many files to keep in all (the live one included), at least 1.
    pub max_file: u32,
}

impl Default for RotateOptions {
    /// Berth's default: rotation on, 20m x 5.
    fn default() -> Self {
        RotateOptions {
            max_size: Some(DEFAULT_MAX_SIZE),
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

impl RotateOptions {
    /// From `LogConfig.Config` (docker's json-file options). Unknown keys are refused as docker
    /// does; `labels`, `env`, `tag`... are accepted and ignored.
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<RotateOptions, LogError> {
        let mut o = RotateOptions::default();
        let mut size_given = false;
        for (k, v) in opts {
            match k.as_str() {
                "max-size" => {
                    size_given = true;
                    o.max_size = parse_size(v).map_err(|why| LogError::BadOpt {
                        key: k.clone(),
                        value: v.clone(),
                        why,
                    })?;
                }
                "max-file" => {
                    o.max_file = match v.parse::<i64>() {
                        Ok(n) if n >= 1 => n.min(u32::MAX as i64) as u32,
                        _ => {
                            return Err(LogError::BadOpt {
                                key: k.clone(),
                                value: v.clone(),
                                why: "maximum number of log files should be a positive integer",
                            })
                        }
                    };
                }
                "compress" | "labels" | "labels-regex" | "env" | "env-regex" | "tag" => {}
                _ => return Err(LogError::UnknownOpt(k.clone())),
            }
        }
        if size_given && o.max_size.is_none() && opts.contains_key("max-file") {
            return Err(LogError::BadOpt {
                key: "max-file".into(),
                value: opts["max-file"].clone(),
                why: "max-file can only be used with max-size",
            });
        }
        Ok(o)
    }
}

/// Docker's (go-units RAMInBytes) size: `10m`, `1g`, `512k`, `100` (bytes), binary multiples;
/// `-1` = unlimited.
pub fn parse_size(s: &str) -> Result<Option<u64>, &'static str> {
    let t = s.trim();
    if t == "-1" {
        return Ok(None);
    }
    let lower = t.to_ascii_lowercase();
    let unit_start = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(unit_start);
    let n: f64 = num.parse().map_err(|_| "not a size (e.g. 10m)")?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err("unknown unit (use k, m or g)"),
    };
    let bytes = (n * mult as f64) as u64;
    if bytes == 0 {
        return Err("must be positive");
    }
    Ok(Some(bytes))
}

/// Go's RFC3339Nano of a unix-ns time in UTC: fraction without trailing zeros, none when 0.
pub fn format_time(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let (y, mo, d, h, mi, s) = berth_oci::time::civil_from_unix(secs);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 time (`2024-01-02T03:04:05.5Z`, `...+02:00`) into unix ns.
pub fn parse_time(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut frac = digits.chars().take(9).collect::<String>();
        while frac.len() < 9 {
            frac.push('0');
        }
        nanos = frac.parse().ok()?;
    }
    let offset_secs: i64 = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let oh: i64 = tz.get(1..3)?.parse().ok()?;
            let om: i64 = tz.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = berth_oci::time::days_from_civil(i64::from(y), mo, d);
    let unix = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec);
    Some(i128::from(unix - offset_secs) * 1_000_000_000 + nanos)
}

/// The current time in unix ns.
pub fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Appends `s` as a JSON string body the way Go's encoder does (`<`, `>`, `&` as `\u003c`...,
/// invalid UTF-8 as U+FFFD), so Berth's files read like docker's.
fn push_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Formats one entry as its line (with the trailing newline) into `out` (cleared first).
pub fn encode_entry(out: &mut Vec<u8>, stream: Stream, log: &[u8], time_ns: i128) {
    out.clear();
    out.extend_from_slice(b"{\"log\":\"");
    push_json_str(out, log);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(format_time(time_ns).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// The path of rotated file `n` (`n` = 0 is the live file).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The json-file writer of one container (used by the shim). The live file is created at the
/// first entry: a container that prints nothing (`run --rm ... true`) costs no file (a missing
/// log reads as an empty one).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    opts: RotateOptions,
    line: Vec<u8>,
}

impl LogWriter {
    /// A writer appending to the live log file (created with mode 0640 when first written).
    pub fn open(path: &Path, opts: RotateOptions) -> Result<LogWriter, LogError> {
        let size = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(LogError::Open {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(LogWriter {
            path: path.to_path_buf(),
            file: None,
            size,
            opts,
            line: Vec::new(),
        })
    }

    /// The live file, opened (appending, created when missing) on first use.
    fn live(&mut self) -> Result<&mut File, LogError> {
        use std::os::unix::fs::OpenOptionsExt;
        if self.file.is_none() {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .custom_flags(libc::O_CLOEXEC)
                .open(&self.path)
                .map_err(|source| LogError::Open {
                    path: self.path.clone(),
                    source,
                })?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one entry (`log` as it came, with its newline if it has one) stamped `time_ns`.
    pub fn write(&mut self, stream: Stream, log: &[u8], time_ns: i128) -> Result<(), LogError> {
        let mut line = std::mem::take(&mut self.line);
        encode_entry(&mut line, stream, log, time_ns);
        let res = self.write_line(&line);
        // Keep a small buffer around, not the largest line ever seen.
        if line.capacity() > 4096 {
            line = Vec::new();
        }
        self.line = line;
        res
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), LogError> {
        if let Some(max) = self.opts.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        let path = self.path.clone();
        self.live()?
            .write_all(line)
            .map_err(|source| LogError::Write { path, source })?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Shifts `path.(n)` to `path.(n+1)` (dropping the oldest), the live file to `.1`, and starts
    /// a new live file; with `max-file` 1 the live file is truncated instead.
    pub fn rotate(&mut self) -> Result<(), LogError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LogError::Rotate { path, source }
        };
        if self.opts.max_file <= 1 {
            let path = self.path.clone();
            self.live()?.set_len(0).map_err(err(&path))?;
            self.size = 0;
            return Ok(());
        }
        let last = self.opts.max_file - 1;
        match std::fs::remove_file(rotated_path(&self.path, last)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(&self.path)(e)),
        }
        for n in (1..last).rev() {
            let from = rotated_path(&self.path, n);
            match std::fs::rename(&from, rotated_path(&self.path, n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(&from)(e)),
            }
        }
        std::fs::rename(&self.path, rotated_path(&self.path, 1)).map_err(err(&self.path))?;
        *self = LogWriter::open(&self.path, self.opts)?;
        Ok(())
    }
}

/// Cuts one stream into entries as docker's copier does: an entry per line, and a partial entry
/// (no trailing newline) each time [`MAX_ENTRY`] bytes pass without one, or at the end of the
/// stream. Holds at most `MAX_ENTRY` bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `data`; calls `emit` with each complete (or 16 KiB partial) entry.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            let room = MAX_ENTRY - self.pending.len();
            let window = &data[..data.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.pending.is_empty() {
                        emit(&window[..=i]);
                    } else {
                        self.pending.extend_from_slice(&window[..=i]);
                        emit(&self.pending);
                        self.pending.clear();
                    }
                    data = &data[i + 1..];
                }
                None if window.len() == room => {
                    if self.pending.is_empty() {
                        emit(window);
                    } else {
                        self.pending.extend_from_slice(window);
                        emit(&self.pending);
                        self.pending.clear();
                    }
                    data = &data[room..];
                }
                None => {
                    self.pending.extend_from_slice(window);
                    data = &[];
                }
            }
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = Vec::new();
        }
    }

    /// The end of the stream: emits what is left as a partial entry.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
        }
        self.pending = Vec::new();
    }
}

/// One log entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    /// Unix ns.
    pub time_ns: i128,
    /// The bytes logged (with the newline when the line was complete).
    pub log: Vec<u8>,
    /// `attrs` (labels/env details), sorted by key.
    pub attrs: Vec<(String, String)>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    #[serde(default)]
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
}

/// Decodes one line of a json-file log; `None` for a torn or foreign line.
pub fn decode_entry(line: &[u8]) -> Option<LogEntry> {
    let raw: RawEntry = serde_json::from_slice(line).ok()?;
    Some(LogEntry {
        stream: if raw.stream == "stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        },
        time_ns: parse_time(&raw.time).unwrap_or(0),
        log: raw.log.into_bytes(),
        attrs: raw.attrs.into_iter().collect(),
    })
}

/// What `logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The last N entries only (counted before since/until, as docker does); `None` = all.
    pub tail: Option<usize>,
    /// Entries at or after this unix-ns time.
    pub since_ns: Option<i128>,
    /// Entries at or before this unix-ns time (docker's `--until` takes the entry at the instant
    /// itself, as `--since` does).
    pub until_ns: Option<i128>,
}

impl ReadOptions {
    fn in_window(&self, e: &LogEntry) -> bool {
        self.since_ns.is_none_or(|s| e.time_ns >= s) && self.until_ns.is_none_or(|u| e.time_ns <= u)
    }
}

/// The existing files of a log, oldest first (`.N` ... `.1`, then the live one).
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    let mut n = 1;
    loop {
        let p = rotated_path(path, n);
        if !p.exists() {
            break;
        }
        rotated.push(p);
        n += 1;
    }
    rotated.reverse();
    if path.exists() {
        rotated.push(path.to_path_buf());
    }
    rotated
}

/// Reads complete lines from `reader` (a torn last line stays unread: `pos` stops before it).
fn read_lines(
    reader: &mut BufReader<File>,
    path: &Path,
    pos: &mut u64,
    mut f: impl FnMut(&[u8]) -> bool,
) -> Result<bool, LogError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| LogError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(true);
        }
        if line.last() != Some(&b'\n') {
            // A line being written right now: read it again later.
            reader
                .seek(SeekFrom::Start(*pos))
                .map_err(|source| LogError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            return Ok(true);
        }
        *pos += n as u64;
        if !f(&line) {
            return Ok(false);
        }
    }
}

fn open_reader(path: &Path) -> Result<Option<BufReader<File>>, LogError> {
    match File::open(path) {
        Ok(f) => Ok(Some(BufReader::with_capacity(64 * 1024, f))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LogError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Calls `f` with every entry of the log (all its files) that `opts` selects, oldest first.
/// `f` returns false to stop. A missing log is an empty one.
pub fn read(
    path: &Path,
    opts: &ReadOptions,
    mut f: impl FnMut(&LogEntry) -> bool,
) -> Result<(), LogError> {
    read_positioned(path, opts, &mut f).map(|_| ())
}

/// Where a reader stopped in the live file: (inode, offset).
type Position = Option<(u64, u64)>;

fn read_positioned(
    path: &Path,
    opts: &ReadOptions,
    f: &mut dyn FnMut(&LogEntry) -> bool,
) -> Result<(Position, bool), LogError> {
    let mut tail: VecDeque<LogEntry> = VecDeque::new();
    let mut end: Position = None;
    let mut go_on = true;
    for file in log_files(path) {
        let Some(mut reader) = open_reader(&file)? else {
            continue;
        };
        let ino = reader.get_ref().metadata().map(|m| m.ino()).unwrap_or(0);
        let mut pos = 0u64;
        read_lines(&mut reader, &file, &mut pos, |line| {
            let Some(e) = decode_entry(line) else {
                return true;
            };
            match opts.tail {
                Some(0) => true,
                Some(n) => {
                    if tail.len() == n {
                        tail.pop_front();
                    }
                    tail.push_back(e);
                    true
                }
                None => {
                    if opts.in_window(&e) {
                        go_on = f(&e);
                    }
                    go_on
                }
            }
        })?;
        if file == path {
            end = Some((ino, pos));
        }
        if !go_on {
            return Ok((end, false));
        }
    }
    for e in tail {
        if opts.in_window(&e) && !f(&e) {
            return Ok((end, false));
        }
    }
    Ok((end, true))
}

/// `logs -f`: [`read`], then keeps reading new entries as they are written (polling every
/// `interval`), across rotations, until `running()` says the writer is gone (then drains what is
/// left) or `f` returns false.
pub fn follow(
    path: &Path,
    opts: &ReadOptions,
    interval: Duration,
    running: &mut dyn FnMut() -> bool,
    f: &mut dyn FnMut(&LogEntry) -> bool,
) -> Result<(), LogError> {
    let (pos, go_on) = read_positioned(path, opts, f)?;
    if !go_on {
        return Ok(());
    }
    let until = ReadOptions {
        tail: None,
        ..opts.clone()
    };
    let mut emit = |line: &[u8]| match decode_entry(line) {
        Some(e) if until.in_window(&e) => f(&e),
        Some(e) => until.until_ns.is_none_or(|u| e.time_ns <= u),
        None => true,
    };
    let (mut ino, mut offset) = pos.unwrap_or((0, 0));
    let mut reader: Option<BufReader<File>> = None;
    loop {
        if reader.is_none() {
            if let Some(mut r) = open_reader(path)? {
                let this = r.get_ref().metadata().map(|m| m.ino()).unwrap_or(0);
                if this != ino {
                    offset = 0;
                    ino = this;
                }
                r.seek(SeekFrom::Start(offset))
                    .map_err(|source| LogError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                reader = Some(r);
            }
        }
        let alive = running();
        if let Some(r) = reader.as_mut() {
            if !read_lines(r, path, &mut offset, &mut emit)? {
                return Ok(());
            }
            // Rotated away: finish the old file (done above), then go to the new one.
            let now = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
            if now != ino {
                if !read_lines(r, path, &mut offset, &mut emit)? {
                    return Ok(());
                }
                reader = None;
                ino = now;
                offset = 0;
                continue;
            }
        }
        if !alive {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// Writes the bytes of each entry to `stdout` or `stderr` as it came from the container, with
/// `prefix(entry)` (e.g. a timestamp) in front.
pub fn write_entry(
    e: &LogEntry,
    prefix: &dyn Fn(&LogEntry) -> Vec<u8>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), LogError> {
    let out: &mut dyn Write = match e.stream {
        Stream::Stdout => stdout,
        Stream::Stderr => stderr,
    };
    let p = prefix(e);
    if !p.is_empty() {
        out.write_all(&p).map_err(LogError::Output)?;
    }
    out.write_all(&e.log).map_err(LogError::Output)
}

/// [`read`] + [`write_entry`]: the whole selected log, raw, to the writers.
pub fn copy_raw(
    path: &Path,
    opts: &ReadOptions,
    timestamps: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), LogError> {
    let prefix = |e: &LogEntry| -> Vec<u8> {
        if timestamps {
            let secs = e.time_ns.div_euclid(1_000_000_000) as i64;
            let nanos = e.time_ns.rem_euclid(1_000_000_000);
            let (y, mo, d, h, mi, s) = berth_oci::time::civil_from_unix(secs);
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z ").into_bytes()
        } else {
            Vec::new()
        }
    };
    let mut err = None;
    read(path, opts, |e| {
        match write_entry(e, &prefix, stdout, stderr) {
            Ok(()) => true,
            Err(e) => {
                err = Some(e);
                false
            }
        }
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path, opts: &ReadOptions) -> Vec<LogEntry> {
        let mut v = Vec::new();
        read(path, opts, |e| {
            v.push(e.clone());
            true
        })
        .unwrap();
        v
    }

    #[test]
    fn time_format_and_parse() {
        let t = 1_700_000_000_123_456_789i128;
        assert_eq!(format_time(t), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(
            format_time(1_700_000_000_100_000_000),
            "2023-11-14T22:13:20.1Z"
        );
        assert_eq!(
            format_time(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(parse_time("2023-11-14T22:13:20.123456789Z"), Some(t));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.1+01:00"),
            Some(1_700_000_000_100_000_000)
        );
        assert_eq!(parse_time("2023-11-14"), None);
        assert_eq!(parse_time("2023-11-14T22:13:20.Z"), None);
    }

    #[test]
    fn encodes_like_docker() {
        let mut out = Vec::new();
        encode_entry(&mut out, Stream::Stderr, b"a<b>&\"\\\t\x01\xff\n", 0);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"log\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\t\\u0001\u{fffd}\\n\",\"stream\":\"stderr\",\"time\":\"1970-01-01T00:00:00Z\"}\n"
        );
        let e = decode_entry(&out).unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.log, "a<b>&\"\\\t\x01\u{fffd}\n".as_bytes());
    }

    #[test]
    fn options() {
        let m = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            RotateOptions::from_opts(&m(&[])).unwrap(),
            RotateOptions {
                max_size: Some(20 << 20),
                max_file: 5
            }
        );
        assert_eq!(
            RotateOptions::from_opts(&m(&[("max-size", "10m"), ("max-file", "3")])).unwrap(),
            RotateOptions {
                max_size: Some(10 << 20),
                max_file: 3
            }
        );
        assert_eq!(
            RotateOptions::from_opts(&m(&[("max-size", "-1")]))
                .unwrap()
                .max_size,
            None
        );
        assert_eq!(parse_size("1.5k"), Ok(Some(1536)));
        assert_eq!(parse_size("100"), Ok(Some(100)));
        assert_eq!(parse_size("2GB"), Ok(Some(2 << 30)));
        assert!(parse_size("12x").is_err());
        assert!(RotateOptions::from_opts(&m(&[("max-file", "0")])).is_err());
        assert!(RotateOptions::from_opts(&m(&[("nope", "1")]))
            .unwrap_err()
            .to_string()
            .contains("unknown log opt 'nope'"));
    }

    #[test]
    fn splitter_cuts_lines_and_partials() {
        let mut s = LineSplitter::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        s.push(b"ab", |e| got.push(e.to_vec()));
        s.push(b"c\nd\ne", |e| got.push(e.to_vec()));
        assert_eq!(got, vec![b"abc\n".to_vec(), b"d\n".to_vec()]);
        let big = vec![b'x'; MAX_ENTRY + 10];
        got.clear();
        s.push(&big, |e| got.push(e.to_vec()));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), MAX_ENTRY);
        assert_eq!(got[0][0], b'e');
        got.clear();
        s.finish(|e| got.push(e.to_vec()));
        assert_eq!(got, vec![vec![b'x'; 11]]);
    }

    #[test]
    fn round_trip_rotation_tail_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let opts = RotateOptions {
            max_size: Some(300),
            max_file: 3,
        };
        let mut w = LogWriter::open(&path, opts).unwrap();
        for i in 0..40i128 {
            let stream = if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            w.write(stream, format!("line {i}\n").as_bytes(), i * 1_000_000_000)
                .unwrap();
        }
        // Only three files, none over the limit.
        assert!(rotated_path(&path, 2).exists());
        assert!(!rotated_path(&path, 3).exists());
        for f in log_files(&path) {
            assert!(std::fs::metadata(&f).unwrap().len() <= 300);
        }
        let all = entries(&path, &ReadOptions::default());
        let last = all.last().unwrap();
        assert_eq!(last.log, b"line 39\n");
        assert_eq!(last.stream, Stream::Stderr);
        // Consecutive, ending at 39.
        let first: i128 = all[0].time_ns / 1_000_000_000;
        assert_eq!(all.len() as i128, 40 - first);
        let tail = entries(
            &path,
            &ReadOptions {
                tail: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(
            tail.iter().map(|e| e.log.clone()).collect::<Vec<_>>(),
            vec![b"line 38\n".to_vec(), b"line 39\n".to_vec()]
        );
        let since = entries(
            &path,
            &ReadOptions {
                since_ns: Some(37_000_000_000),
                until_ns: Some(39_000_000_000),
                ..Default::default()
            },
        );
        assert_eq!(since.len(), 3, "both bounds inclusive");
        assert_eq!(since[0].log, b"line 37\n");
        assert_eq!(since[2].log, b"line 39\n");
        let mut out = Vec::new();
        let mut err = Vec::new();
        copy_raw(
            &path,
            &ReadOptions {
                tail: Some(3),
                ..Default::default()
            },
            false,
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(out, b"line 38\n");
        assert_eq!(err, b"line 37\nline 39\n");
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut w = LogWriter::open(
            &path,
            RotateOptions {
                max_size: Some(100),
                max_file: 1,
            },
        )
        .unwrap();
        for i in 0..10 {
            w.write(Stream::Stdout, format!("{i}\n").as_bytes(), 0)
                .unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(!rotated_path(&path, 1).exists());
    }

    #[test]
    fn follow_survives_rotation_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut w = LogWriter::open(
            &path,
            RotateOptions {
                max_size: Some(200),
                max_file: 2,
            },
        )
        .unwrap();
        w.write(Stream::Stdout, b"first\n", 1).unwrap();
        // A torn line (being written) is not read until complete.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"log\":\"x")
            .unwrap();
        let mut got = Vec::new();
        let mut rounds = 0;
        let mut running = || {
            rounds += 1;
            if rounds == 2 {
                // Overwrite the torn tail with whole entries, then rotate a few times.
                let len = std::fs::metadata(&path).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(len - 9).unwrap();
                for i in 0..8 {
                    w.write(Stream::Stdout, format!("n{i}\n").as_bytes(), 2)
                        .unwrap();
                }
            }
            rounds < 4
        };
        follow(
            &path,
            &ReadOptions::default(),
            Duration::from_millis(1),
            &mut running,
            &mut |e| {
                got.push(String::from_utf8(e.log.clone()).unwrap());
                true
            },
        )
        .unwrap();
        let want: Vec<String> = std::iter::once("first\n".to_string())
            .chain((0..8).map(|i| format!("n{i}\n")))
            .collect();
        // Entries rotated out of both files before being read may be lost; none is duplicated
        // and the order holds.
        assert_eq!(got[0], "first\n");
        let mut last = 0;
        for g in &got[1..] {
            let idx = want.iter().position(|w| w == g).unwrap();
            assert!(idx > last, "{got:?}");
            last = idx;
        }
        assert_eq!(got.last().unwrap(), "n7\n");
    }
    #[test]
    fn the_live_file_comes_with_the_first_entry() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path, RotateOptions::default()).unwrap();
        drop(w);
        assert!(
            !path.exists(),
            "a container that printed nothing has no file"
        );
        assert!(entries(&path, &ReadOptions::default()).is_empty());
        w = LogWriter::open(&path, RotateOptions::default()).unwrap();
        w.write(Stream::Stdout, b"hi\n", 1).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A later writer (a restart) appends, counting what is there.
        drop(w);
        let mut w = LogWriter::open(&path, RotateOptions::default()).unwrap();
        assert_eq!(w.size, std::fs::metadata(&path).unwrap().len());
        w.write(Stream::Stderr, b"again\n", 2).unwrap();
        let all = entries(&path, &ReadOptions::default());
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].log, b"again\n");
    }
}
