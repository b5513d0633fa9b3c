//! Recording the container's state (`<root>/containers/<id>/state.json`) from the shim, through
//! the engine's `state::update` (its flock, atomic rename, its `StateFile` format). The shim sets
//! the run fields (status, pids and their start times, boot id, exit code, error, times,
//! OOM kill, restart count, health, rootfs_mounted) and reads `manually_stopped`.

use berth_engine::state::{self, StateFile};
use berth_engine::Paths;

/// The state file of one container.
#[derive(Debug, Clone)]
pub struct Store {
    paths: Paths,
    id: String,
}

impl Store {
    /// The store of container `id` under `root`/`runroot`.
    pub fn new(root: &std::path::Path, runroot: &std::path::Path, id: &str) -> Store {
        Store {
            paths: Paths::new(root, runroot),
            id: id.to_string(),
        }
    }

    /// Whether `stop`/`kill` marked the container as stopped by hand.
    pub fn manually_stopped(&self) -> bool {
        state::load(&self.paths, &self.id)
            .map(|s| s.manually_stopped)
            .unwrap_or(false)
    }

    /// Changes the state with `f` under the engine's state lock.
    pub fn update(&self, f: impl FnOnce(&mut StateFile)) -> Result<(), berth_engine::EngineError> {
        state::update(&self.paths, &self.id, f)
    }
}

/// The run fields of one start, kept until they are written (see `Monitor::record_start`).
#[derive(Debug, Clone)]
pub struct StartRecord {
    pub pid: i32,
    pub pid_start_time: u64,
    pub shim_pid: i32,
    pub shim_start_time: u64,
    pub started_at: String,
    pub restart_count: i64,
    pub health: Option<berth_engine::types::Health>,
}

impl StartRecord {
    /// Sets the state of a container running since this start.
    pub fn apply(&self, s: &mut StateFile) {
        s.status = state::Status::Running;
        s.pid = self.pid;
        s.pid_start_time = self.pid_start_time;
        s.shim_pid = self.shim_pid;
        s.shim_start_time = self.shim_start_time;
        s.boot_id = state::boot_id().to_string();
        s.exit_code = 0;
        s.error.clear();
        s.oom_killed = false;
        s.started_at.clone_from(&self.started_at);
        s.restart_count = self.restart_count;
        s.health.clone_from(&self.health);
    }
}

/// The start time of `pid` (/proc/<pid>/stat field 22), 0 when unknown.
pub fn start_time(pid: i32) -> u64 {
    state::start_time(pid).unwrap_or(0)
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
        let (root, run) = (dir.path().join("r"), dir.path().join("rr"));
        let paths = Paths::new(&root, &run);
        std::fs::create_dir_all(paths.container_dir("x")).unwrap();
        std::fs::write(
            paths.state_file("x"),
            r#"{"status":"created","manually_stopped":true,"boot_id":"b"}"#,
        )
        .unwrap();
        let s = Store::new(&root, &run, "x");
        assert!(s.manually_stopped());
        s.update(|m| {
            m.status = state::Status::Running;
            m.pid = 5;
        })
        .unwrap();
        let m = state::load(&paths, "x").unwrap();
        assert_eq!(m.status, state::Status::Running);
        assert_eq!(m.pid, 5);
        assert_eq!(m.boot_id, "b");
        assert!(m.manually_stopped);
    }
}
