//! Opt-in timing marks for the latency work on the `run` path: with `BERTH_TIMING=<file>` in the
//! environment, [`mark`] appends `<pid> <CLOCK_MONOTONIC µs> <label>` to that file (one write per
//! line, `O_APPEND`, to a descriptor opened at the first mark). The clock is shared by all
//! processes, so the marks of the CLI, the shim (whose stderr is gone) and the container's init
//! line up. Without the variable a mark costs one initialised `OnceLock` read.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Prints a timing mark named `label` when `BERTH_TIMING` is set.
pub fn mark(label: &str) {
    // Opened once (close-on-exec) and kept, so that a container's init still reaches it after
    // its pivot_root; a process that closed its descriptors may have reused the number for
    // something else, so the file's identity is checked before each write (and it is reopened).
    static PATH: OnceLock<Option<OsString>> = OnceLock::new();
    static FILE: Mutex<Option<(File, (u64, u64))>> = Mutex::new(None);
    let Some(path) = PATH.get_or_init(|| std::env::var_os("BERTH_TIMING")) else {
        return;
    };
    let mut cached = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if cached.as_ref().map(|(f, id)| identity(f) != Some(*id)) != Some(false) {
        // Forget the stale descriptor without closing a number that now belongs to another file.
        if let Some((stale, _)) = cached.take() {
            std::mem::forget(stale);
        }
        let Some(file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .ok()
        else {
            return;
        };
        let Some(id) = identity(&file) else { return };
        *cached = Some((file, id));
    }
    let Some((file, _)) = cached.as_ref() else {
        return;
    };
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0);
    let line = format!("{} {now} {label}\n", std::process::id());
    let _ = (&*file).write_all(line.as_bytes());
}

/// The device and inode behind an open file.
fn identity(file: &File) -> Option<(u64, u64)> {
    let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(file)).ok()?;
    Some((st.st_dev, st.st_ino))
}
