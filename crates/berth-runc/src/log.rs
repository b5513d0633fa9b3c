//! Error reporting like runc's: to stderr, and to `--log` as text or JSON lines
//! (`{"level":"error","msg":...,"time":...}`), which containerd's shim reads back.

use std::io::Write;
use std::path::Path;

/// Where errors go.
pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    /// Opens the log file (append) if one is given; a log file that cannot be opened is ignored
    /// after a warning on stderr, so that the command itself still runs.
    pub fn new(path: Option<&Path>, format: &str, _debug: bool) -> Logger {
        let file = path.and_then(|p| {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("berth-runc: cannot open log file {}: {e}", p.display());
                    None
                }
            }
        });
        Logger {
            file,
            json: format == "json",
        }
    }

    /// Reports an error.
    pub fn error(&self, msg: &str) {
        eprintln!("berth-runc: {msg}");
        if let Some(mut f) = self.file.as_ref() {
            let time = berth_runtime::state::now_rfc3339();
            let line = if self.json {
                serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
            } else {
                format!("time=\"{time}\" level=error msg={msg:?}")
            };
            let _ = writeln!(f, "{line}");
        }
    }
}
