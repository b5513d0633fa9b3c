//! What the runtime remembers about a container between commands: `<root>/<id>/state.json`,
//! written atomically (temp file, then rename), so a reader never sees a half-written file.
//!
//! Unlike the image store, run state is not fsynced: it describes processes, and every one of them
//! is gone after a crash of the machine, so durability buys nothing and costs milliseconds on
//! every container start when `--root` is not on tmpfs.

use crate::error::{Result, RuntimeError};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name of the state record inside a container's directory.
pub const STATE_FILE: &str = "state.json";
/// The fifo the init waits on until `start`; it exists exactly while the container is "created".
pub const START_FIFO: &str = "start.fifo";

/// The runtime-spec status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The init exists and waits for `start`.
    Created,
    /// The user's process runs.
    Running,
    /// The container's cgroup is frozen.
    Paused,
    /// The container's process has exited.
    Stopped,
}

impl Status {
    /// The spelling used by `state` and hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The persisted record of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredState {
    /// The container id.
    pub id: String,
    /// The init's pid in the runtime's pid namespace.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/<pid>/stat), to detect pid reuse.
    pub pid_start_time: u64,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Absolute path of the rootfs.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// The cgroup path as given (linux.cgroupsPath).
    pub cgroup_path: String,
    /// Whether `--systemd-cgroup` was in force at create.
    pub systemd_cgroup: bool,
    /// The container's config, as it was at create.
    pub spec: Spec,
}

impl StoredState {
    /// The annotations of the container's config.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.spec
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The OCI state document (what `state` prints and hooks read on stdin).
    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.spec.version().clone(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str().to_string(),
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.annotations(),
        }
    }
}

/// The OCI state of a container in runc's JSON shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// Checks a container id: runc's rule, which also keeps ids safe as directory names.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// Writes `data` to `path` atomically: a temp file in the same directory renamed over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(path, e)
    })
}

/// Saves `state` into `dir/state.json`.
pub fn save(dir: &Path, state: &StoredState) -> Result<()> {
    let json = serde_json::to_vec(state).map_err(|e| RuntimeError::CorruptState {
        path: dir.join(STATE_FILE),
        reason: e.to_string(),
    })?;
    write_atomic(&dir.join(STATE_FILE), &json)
}

/// Loads `dir/state.json`.
pub fn load(dir: &Path, id: &str) -> Result<StoredState> {
    let path = dir.join(STATE_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RuntimeError::NotFound(id.to_string()))
        }
        Err(e) => return Err(RuntimeError::io(path, e)),
    };
    serde_json::from_slice(&data).map_err(|e| RuntimeError::CorruptState {
        path,
        reason: e.to_string(),
    })
}

/// Facts about a live process read from /proc/<pid>/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The one-letter state (R, S, D, Z, T, ...).
    pub state: char,
    /// Start time in clock ticks after boot.
    pub start_time: u64,
    /// The CPU it last ran or is queued on.
    pub processor: Option<usize>,
}

/// Reads the state letter and start time of `pid`, or `None` if there is no such process.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let field = |n| berth_sys::process::stat_field(&stat, n);
    Some(ProcStat {
        state: field(3)?.chars().next()?,
        start_time: field(22)?.parse().ok()?,
        processor: berth_sys::sched::processor(&stat),
    })
}

/// Whether the init recorded in `state` still runs (not exited, not a zombie, same start time).
pub fn init_alive(state: &StoredState) -> bool {
    state.pid > 0
        && proc_stat(state.pid).is_some_and(|s| {
            s.start_time == state.pid_start_time && s.state != 'Z' && s.state != 'X'
        })
}

/// The current time as RFC 3339 with nanoseconds, in UTC.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (y, m, d, h, mi, s) = berth_oci::time::civil_from_unix(now.as_secs() as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
        now.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        validate_id("abc-1.2_x+y").unwrap();
        for bad in ["", ".hidden", "a/b", "..", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        let date = |days: i64| {
            let (y, m, d, ..) = berth_oci::time::civil_from_unix(days * 86_400);
            (y, m, d)
        };
        assert_eq!(date(0), (1970, 1, 1));
        assert_eq!(date(19_723), (2024, 1, 1));
        assert_eq!(date(11_016), (2000, 2, 29));
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn own_process_is_alive() {
        let me = proc_stat(std::process::id() as i32).unwrap();
        assert!(me.state != 'Z' && me.start_time > 0);
        assert!(proc_stat(i32::MAX).is_none());
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
