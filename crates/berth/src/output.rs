//! What commands print: docker's tables and `--format` templates, sizes and times, prompts.

use crate::format::{ExecOptions, Formatter};
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, Write};

/// A table column: the row field it shows and its header.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Field name in the row object (`ID`).
    pub field: &'static str,
    /// Header text (`IMAGE ID`).
    pub header: &'static str,
}

impl Column {
    /// A column showing `field` under `header`.
    pub const fn new(field: &'static str, header: &'static str) -> Column {
        Column { field, header }
    }
}

/// Prints `rows` as the default table of `columns`, or with the user's `--format`.
pub fn print(rows: &[Value], format: Option<&str>, columns: &[Column]) -> Result<()> {
    let default = format!(
        "table {}",
        columns
            .iter()
            .map(|c| format!("{{{{.{}}}}}", c.field))
            .collect::<Vec<_>>()
            .join("\\t")
    );
    let formatter = Formatter::new(format.unwrap_or(""), &default)?;
    let headers: Vec<(&str, &str)> = columns.iter().map(|c| (c.field, c.header)).collect();
    let text = formatter.render(rows, &headers, &ExecOptions::default())?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}

/// Renders one value with a `--format` template (inspect's `-f`), without the final newline.
pub fn render(format: &str, value: &Value) -> Result<String> {
    Ok(crate::format::render_inspect(format, value)?)
}

/// Pretty JSON as docker prints `inspect`: four-space indent, `<>&` escaped.
pub fn inspect_json(values: Vec<Value>) -> String {
    crate::format::go_json(&Value::Array(values), Some("    "), true)
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    crate::units::parse_rfc3339(s).map(|(secs, _)| secs)
}

/// Go's time format as docker prints `CreatedAt`.
pub fn docker_time(unix: i64) -> String {
    crate::units::go_time_string_utc(unix)
}

/// `2 days ago`.
pub fn since(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::units::created_since(unix, now)
}

/// Decimal size with three significant digits (`4.26MB`).
pub fn human_size(bytes: u64) -> String {
    crate::units::human_size(bytes)
}

/// Cuts `s` to `width` columns with an ellipsis.
pub fn truncate(s: &str, width: usize) -> String {
    crate::table::ellipsis(&s.replace('\t', " "), width)
}

/// Asks `prompt [y/N]` on the terminal; false unless the answer is y or yes.
pub fn confirm(prompt: &str) -> Result<bool> {
    print!("{prompt} [y/N] ");
    std::io::stdout().flush().context("writing to stdout")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
