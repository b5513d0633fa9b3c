//! Opt-in timing marks for the latency work on the `run` path: with `BERTH_TIMING=<file>` in the
//! environment, [`mark`] appends `<pid> <CLOCK_MONOTONIC µs> <label>` to that file (one write per
//! line, `O_APPEND`). The clock is shared by all processes, so the marks of the CLI, the shim
//! (whose stderr is gone) and the container's init line up. Without the variable a mark costs
//! one initialised `OnceLock` read.

use std::ffi::OsString;
use std::io::Write;
use std::sync::OnceLock;

/// Prints a timing mark named `label` when `BERTH_TIMING` is set.
pub fn mark(label: &str) {
    static FILE: OnceLock<Option<OsString>> = OnceLock::new();
    let Some(path) = FILE.get_or_init(|| std::env::var_os("BERTH_TIMING")) else {
        return;
    };
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0);
    let line = format!("{} {now} {label}\n", std::process::id());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
