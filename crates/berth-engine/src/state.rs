//! The container's run state, `<root>/containers/<id>/state.json`.
//!
//! What changes while a container runs lives here, not in the database: status, pids, exit code,
//! times, restart count, health. Both the engine and the shim write it, always through
//! [`update`], which serialises writers with a short `flock` on the container directory (not the
//! operation lock of [`crate::lock`], so an operation holding that can wait for the shim to
//! record an exit). Every write swaps a complete file in by rename, so readers ([`load`]; `ps`,
//! `inspect`) take no lock and never see half a file.
//!
//! No fsync: run state is rebuilt by [`crate::check`] after a crash or reboot (a container whose
//! shim is gone is not running), so durability buys nothing here and costs milliseconds.

use crate::error::{EngineError, Result};
use crate::paths::Paths;
use crate::types::Health;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A container's lifecycle status (docker's `State.Status` values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or started and failed before running).
    #[default]
    Created,
    /// The process runs.
    Running,
    /// The process runs, frozen.
    Paused,
    /// Exited, the shim waits to restart it (restart policy).
    Restarting,
    /// Exited (or stopped).
    Exited,
    /// Unusable: a removal failed half-way or the state could not be recovered.
    Dead,
    /// Being removed.
    Removing,
}

impl Status {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        }
    }

    /// Whether a process may be alive (running, paused or between restarts with a shim).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The content of `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateFile {
    pub status: Status,
    /// The container's init process (host pid), 0 when none.
    pub pid: i32,
    /// Start time of `pid` (/proc/<pid>/stat field 22), to tell a reused pid apart.
    pub pid_start_time: u64,
    /// The shim's pid, 0 when none.
    pub shim_pid: i32,
    /// Start time of `shim_pid` (/proc/<pid>/stat field 22).
    pub shim_start_time: u64,
    /// The boot the pids belong to (/proc/sys/kernel/random/boot_id).
    pub boot_id: String,
    pub exit_code: i64,
    /// Why the last start failed (docker's `State.Error`).
    pub error: String,
    /// RFC 3339 with nanoseconds; empty when never.
    pub started_at: String,
    /// RFC 3339 with nanoseconds; empty when never.
    pub finished_at: String,
    pub oom_killed: bool,
    /// Restarts done by the restart policy since the last manual start.
    pub restart_count: i64,
    /// Set by `stop`/`kill`-by-user so the restart policy does not restart it
    /// (`unless-stopped` also stays down across a reboot).
    pub manually_stopped: bool,
    /// Whether the engine mounted the rootfs (cleared when unmounted).
    pub rootfs_mounted: bool,
    pub health: Option<Health>,
}

impl StateFile {
    /// A new container's state.
    pub fn created() -> StateFile {
        StateFile::default()
    }
}

/// Reads container `id`'s state file (no lock).
pub fn load(paths: &Paths, id: &str) -> Result<StateFile> {
    let path = paths.state_file(id);
    let data = std::fs::read(&path).map_err(EngineError::io("reading", &path))?;
    parse(id, &data)
}

/// Parses a state file's bytes.
pub fn parse(id: &str, data: &[u8]) -> Result<StateFile> {
    serde_json::from_slice(data).map_err(|e| EngineError::Corrupt {
        what: format!("state file of container {id}"),
        reason: e.to_string(),
    })
}

/// Writes container `id`'s state (under its state lock, as [`update`] does).
pub fn save(paths: &Paths, id: &str, state: &StateFile) -> Result<()> {
    let _guard = lock_state(paths, id)?;
    write_locked(paths, id, state)
}

/// Changes container `id`'s state: takes the state lock, reads the file, calls `f`, writes the
/// result back (only when `f` changed it) and returns what `f` returned.
pub fn update<T>(paths: &Paths, id: &str, f: impl FnOnce(&mut StateFile) -> T) -> Result<T> {
    let _guard = lock_state(paths, id)?;
    let mut state = load(paths, id)?;
    let before = state.clone();
    let out = f(&mut state);
    if state != before {
        write_locked(paths, id, &state)?;
    }
    Ok(out)
}

/// The state lock: a `flock` on the container's directory.
fn lock_state(paths: &Paths, id: &str) -> Result<Flock<File>> {
    let dir = paths.container_dir(id);
    let handle = File::open(&dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EngineError::NoSuchContainer(id.to_string())
        } else {
            EngineError::io("opening", &dir)(e)
        }
    })?;
    Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::sys(format!("locking the state of container {id}"))(e))
}

/// Name of the spare file beside `state.json`: the next state is written there, then the two
/// are swapped (`RENAME_EXCHANGE`), so the spare keeps the previous state. An update thus
/// creates and frees no inode (on a filesystem without a journal, ext4 scans past its recently
/// freed inodes on every allocation: ~0.1 ms each under a stream of containers); only the first
/// two writes create files.
const SPARE: &str = ".state.json.next";

/// Writes the state into the spare and swaps it in. The caller holds the state lock.
fn write_locked(paths: &Paths, id: &str, state: &StateFile) -> Result<()> {
    let path = paths.state_file(id);
    let spare = paths.container_dir(id).join(SPARE);
    let data = serde_json::to_vec(state).map_err(|e| EngineError::Corrupt {
        what: format!("state of container {id}"),
        reason: e.to_string(),
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&spare)
        .map_err(EngineError::io("creating", &spare))?;
    f.write_all(&data)
        .map_err(EngineError::io("writing", &spare))?;
    drop(f);
    let swapped = nix::fcntl::renameat2(
        None,
        &spare,
        None,
        &path,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    );
    match swapped {
        Ok(()) => Ok(()),
        // No state yet (the first write), or a filesystem that cannot swap: a plain rename.
        Err(_) => std::fs::rename(&spare, &path).map_err(|e| {
            let _ = std::fs::remove_file(&spare);
            EngineError::io("renaming", &path)(e)
        }),
    }
}

/// This boot's id (/proc/sys/kernel/random/boot_id), read once per process.
pub fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// The start time of `pid` (/proc/<pid>/stat field 22, clock ticks since boot), `None` when the
/// process does not exist.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22: starttime.
    berth_sys::process::stat_field(&stat, 22)?.parse().ok()
}

/// Opens `relative` from directory `dir` for reading when given, else `path`.
pub(crate) fn open_in(dir: Option<&File>, path: &Path, relative: &str) -> std::io::Result<File> {
    use std::os::fd::AsRawFd;
    match dir {
        Some(d) => nix::fcntl::openat(
            Some(d.as_raw_fd()),
            relative,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(|fd| File::from(berth_sys::fd::owned(fd)))
        .map_err(std::io::Error::from),
        None => File::open(path),
    }
}

/// Whether the shim that `st` names is alive: its pid file is locked (the shim holds the lock
/// for its life: one open and one `flock`, where reading `/proc/<pid>/stat` costs the kernel a
/// whole task report), else by its pid and start time ([`process_alive`]).
pub fn shim_alive(paths: &Paths, id: &str, st: &StateFile) -> bool {
    shim_alive_in(None, paths, id, st)
}

/// [`shim_alive`], the pid file opened from `run_dir` (`<runroot>/containers`) when given.
pub fn shim_alive_in(run_dir: Option<&File>, paths: &Paths, id: &str, st: &StateFile) -> bool {
    if st.shim_pid <= 0 || st.boot_id != boot_id() {
        return false;
    }
    if let Ok(f) = open_in(run_dir, &paths.shim_pid(id), &format!("{id}/shim.pid")) {
        if let Err((_, nix::errno::Errno::EWOULDBLOCK)) =
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockSharedNonblock)
        {
            return true;
        }
    }
    process_alive(st.shim_pid, st.shim_start_time, &st.boot_id)
}

/// Whether the process recorded as (`pid`, `start`, `boot`) still lives (and is not a zombie).
pub fn process_alive(pid: i32, start: u64, boot: &str) -> bool {
    if pid <= 0 || boot != boot_id() {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    if fields.next() == Some("Z") {
        return false;
    }
    let st: Option<u64> = fields.nth(18).and_then(|s| s.parse().ok());
    st == Some(start) || start == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let p = Paths::new(dir.path().join("root"), dir.path().join("run"));
        std::fs::create_dir_all(p.container_dir("c")).unwrap();
        (dir, p)
    }

    #[test]
    fn update_round_trips() {
        let (_d, p) = paths();
        save(&p, "c", &StateFile::created()).unwrap();
        let n = update(&p, "c", |s| {
            s.status = Status::Running;
            s.pid = 42;
            7
        })
        .unwrap();
        assert_eq!(n, 7);
        let s = load(&p, "c").unwrap();
        assert_eq!(s.status, Status::Running);
        assert_eq!(s.pid, 42);
        let text = std::fs::read_to_string(p.state_file("c")).unwrap();
        assert!(text.contains("\"status\":\"running\""), "{text}");
        // Only the state and its spare; further updates swap the same two inodes.
        let inodes = || {
            use std::os::unix::fs::MetadataExt;
            let mut v: Vec<_> = std::fs::read_dir(p.container_dir("c"))
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name(), e.metadata().unwrap().ino())
                })
                .collect();
            v.sort();
            v
        };
        let before = inodes();
        let names: Vec<_> = before.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            names,
            vec![SPARE.into(), std::ffi::OsString::from("state.json")]
        );
        update(&p, "c", |s| s.pid = 43).unwrap();
        update(&p, "c", |s| s.pid = 44).unwrap();
        let mut after = inodes().into_iter().map(|(_, i)| i).collect::<Vec<_>>();
        let mut was = before.into_iter().map(|(_, i)| i).collect::<Vec<_>>();
        after.sort();
        was.sort();
        assert_eq!(after, was, "no inode created or freed by updates");
        assert_eq!(load(&p, "c").unwrap().pid, 44);
    }

    #[test]
    fn missing_container_is_not_found() {
        let (_d, p) = paths();
        let e = update(&p, "nope", |_| ()).unwrap_err();
        assert!(matches!(e, EngineError::NoSuchContainer(_)));
    }

    #[test]
    fn concurrent_updates_do_not_lose_increments() {
        let (_d, p) = paths();
        save(&p, "c", &StateFile::created()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        update(&p, "c", |s| s.restart_count += 1).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(load(&p, "c").unwrap().restart_count, 200);
    }

    #[test]
    fn liveness_uses_start_time_and_boot() {
        let me = std::process::id() as i32;
        let st = start_time(me).unwrap();
        assert!(process_alive(me, st, boot_id()));
        assert!(!process_alive(me, st + 1, boot_id()));
        assert!(!process_alive(me, st, "another-boot"));
        assert!(!process_alive(0, 0, boot_id()));
    }
}
