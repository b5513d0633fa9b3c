//! Process identity for lease owners: `(boot_id, pid, start_time)`.
//!
//! A pid alone is not an identity: after the owner dies the kernel may hand the same pid to an
//! unrelated process. The start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot)
//! tells the two apart, and the boot ID tells start times of different boots apart.

use crate::error::{MetaError, Result};
use std::fs;
use std::path::PathBuf;

/// Who owns a lease (or a GC claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `/proc/sys/kernel/random/boot_id`, or empty when unreadable.
    pub boot_id: String,
    /// Process ID.
    pub pid: i32,
    /// Start time of the process, clock ticks after boot.
    pub start_time: u64,
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// The one-letter state (`R`, `S`, `Z` ...).
    pub state: char,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
}

/// Parses the contents of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and
/// may itself contain spaces and parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // Fields after the name start at field 3 (state); start time is field 22.
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(Stat { state, start_time })
}

fn stat_path(pid: i32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/stat"))
}

/// Reads the stat of `pid`; `Ok(None)` when no such process exists.
pub(crate) fn read_stat(pid: i32) -> std::io::Result<Option<Stat>> {
    match fs::read_to_string(stat_path(pid)) {
        Ok(text) => Ok(parse_stat(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // ESRCH: the process exited between open and read.
        Err(e) if e.raw_os_error() == Some(libc_esrch()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn libc_esrch() -> i32 {
    nix::errno::Errno::ESRCH as i32
}

/// The boot ID of the running kernel (empty when unreadable, which disables the boot check).
pub(crate) fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Owner {
    /// The identity of the calling process.
    pub fn current() -> Result<Owner> {
        let pid = std::process::id() as i32;
        let path = stat_path(pid);
        let stat = read_stat(pid)
            .map_err(|e| MetaError::ProcessIdentity {
                pid,
                path: path.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| MetaError::ProcessIdentity {
                pid,
                path,
                reason: "unparsable or missing".into(),
            })?;
        Ok(Owner {
            boot_id: boot_id(),
            pid,
            start_time: stat.start_time,
        })
    }

    /// Whether the owner still runs: same boot, a process with that pid exists, is not a zombie,
    /// and started at the recorded time. When `/proc` cannot be read for another reason than
    /// absence the owner is assumed alive (keeping too much is safe, deleting too much is not).
    pub fn is_alive(&self) -> bool {
        let current_boot = boot_id();
        if !self.boot_id.is_empty() && !current_boot.is_empty() && self.boot_id != current_boot {
            return false;
        }
        match read_stat(self.pid) {
            Ok(Some(stat)) if stat.start_time != self.start_time => false,
            Ok(Some(stat)) if stat.state == 'Z' => leader_exited_but_threads_run(self.pid),
            Ok(Some(_)) => true,
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// A zombie thread-group leader whose other threads still run (the main thread called
/// `pthread_exit`) is a live process; a plain zombie has only itself in `task/`.
fn leader_exited_but_threads_run(pid: i32) -> bool {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count() > 1)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let rest = (4..=52)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let text = format!("1234 (a) b (c) S {rest}\n");
        // Field 4 holds "4" ... field 22 holds "22".
        let stat = parse_stat(&text).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start_time, 22);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R 2 3"), None);
    }

    #[test]
    fn current_process_is_alive() {
        let me = Owner::current().unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(me.is_alive());
        let other_start = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!other_start.is_alive());
        let other_boot = Owner {
            boot_id: "not-this-boot".into(),
            ..me.clone()
        };
        assert!(!other_boot.is_alive());
    }

    #[test]
    fn exited_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = read_stat(pid).ok().flatten().map(|s| s.start_time);
        child.wait().unwrap();
        let owner = Owner {
            boot_id: boot_id(),
            pid,
            start_time: start.unwrap_or(0),
        };
        assert!(!owner.is_alive());
    }
}
