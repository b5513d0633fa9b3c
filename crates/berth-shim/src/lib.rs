//! `berth shim <id>`: the per-container monitor.
#![forbid(unsafe_code)]

/// Runs the shim with the process's arguments (`berth shim ...`); returns the exit status.
pub fn main_from_args(_args: &[String]) -> i32 {
    eprintln!("berth shim: not built yet");
    1
}
