//! Opt-in timing marks for the latency work on the `run` path: with `BERTH_TIMING=<file>` in the
//! environment, [`mark`] appends `<pid> <CLOCK_MONOTONIC µs> <label>` to that file (one write per
//! line, `O_APPEND`). The clock is shared by all processes, so the marks of the CLI, the shim
//! (whose stderr is gone) and the container's init line up. Without the variable a mark costs
//! one relaxed atomic load.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not looked up yet, 1: off, 2: on.
static ENABLED: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var_os("BERTH_TIMING").is_some();
            ENABLED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        v => v == 2,
    }
}

/// Prints a timing mark named `label` when `BERTH_TIMING` is set.
pub fn mark(label: &str) {
    if !enabled() {
        return;
    }
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0);
    let Some(path) = std::env::var_os("BERTH_TIMING") else {
        return;
    };
    let line = format!("{} {now} {label}\n", std::process::id());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
