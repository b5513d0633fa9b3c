//! Recording the container's state (`<root>/containers/<id>/state.json`) from the shim.
//!
//! The file belongs to the engine's `state` module (`StateFile`); the shim changes only its own
//! fields (status, pid, pid_start_time, shim_pid, shim_start_time, boot_id, exit_code, error,
//! started_at, finished_at, oom_killed, restart_count, rootfs_mounted, health) and reads
//! `manually_stopped`, keeping every other field as it is. Writes are atomic (temp file, rename)
//! under the same lock as the engine's `state::update`: a flock on the container directory.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for the state lock before writing without it: a stuck writer elsewhere must
/// not keep the shim from recording an exit.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The state file of one container.
#[derive(Debug, Clone)]
pub struct Store {
    state: PathBuf,
    dir: PathBuf,
}

/// A failed state write.
#[derive(Debug, thiserror::Error)]
#[error("recording the state in {}: {source}", path.display())]
pub struct StoreError {
    path: PathBuf,
    source: std::io::Error,
}

impl Store {
    /// The store of `state.json` in `container_dir`.
    pub fn new(container_dir: &Path) -> Store {
        Store {
            state: container_dir.join("state.json"),
            dir: container_dir.to_path_buf(),
        }
    }

    /// The current content (empty when missing or unreadable).
    pub fn read(&self) -> Map<String, Value> {
        std::fs::read(&self.state)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether `stop`/`kill` marked the container as stopped by hand.
    pub fn manually_stopped(&self) -> bool {
        self.read()
            .get("manually_stopped")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Changes the state with `f` under the lock, atomically.
    pub fn update(&self, f: impl FnOnce(&mut Map<String, Value>)) -> Result<(), StoreError> {
        let _lock = self.lock();
        let mut m = self.read();
        f(&mut m);
        let err = |source| StoreError {
            path: self.state.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&Value::Object(m)).map_err(|e| err(e.into()))?;
        let dir = self.state.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".state.json.{}", std::process::id()));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(&bytes).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &self.state).map_err(err)?;
        Ok(())
    }

    fn lock(&self) -> Option<nix::fcntl::Flock<std::fs::File>> {
        use nix::fcntl::{Flock, FlockArg};
        let mut file = std::fs::File::open(&self.dir).ok()?;
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => return Some(l),
                Err((f, _)) => {
                    if start.elapsed() > LOCK_WAIT {
                        return None;
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

/// The start time of `pid` (/proc/<pid>/stat field 22), 0 when unknown.
pub fn start_time(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(19)?.parse().ok())
        .unwrap_or(0)
}

/// This boot's id.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Docker's time format for StartedAt/FinishedAt (RFC 3339, ns, UTC).
pub fn now_text() -> String {
    berth_engine::logfile::format_time(berth_engine::logfile::now_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_keep_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("state.json"),
            r#"{"status":"created","manually_stopped":true,"boot_id":"b"}"#,
        )
        .unwrap();
        let s = Store::new(dir.path());
        assert!(s.manually_stopped());
        s.update(|m| {
            m.insert("status".into(), "running".into());
            m.insert("pid".into(), 5.into());
        })
        .unwrap();
        let m = s.read();
        assert_eq!(m["status"], "running");
        assert_eq!(m["pid"], 5);
        assert_eq!(m["boot_id"], "b");
    }
}
