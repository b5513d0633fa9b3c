//! Where everything of a container lives (see the module map in `lib.rs`).
//!
//! Persistent files under `<root>/containers/<id>/`; run-time files (rootfs mountpoint, shim
//! socket and pid, locks, the runtime's state) under the runroot, gone after a reboot.

use std::path::{Path, PathBuf};

/// The engine's two roots and every per-container path derived from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Persistent root (`--root`, default /var/lib/berth).
    pub root: PathBuf,
    /// Run-time root (`--runroot`, default /run/berth).
    pub runroot: PathBuf,
}

impl Paths {
    /// Paths under `root` and `runroot`.
    pub fn new(root: impl Into<PathBuf>, runroot: impl Into<PathBuf>) -> Paths {
        Paths {
            root: root.into(),
            runroot: runroot.into(),
        }
    }

    /// The metadata database.
    pub fn db(&self) -> PathBuf {
        self.root.join("berth.db")
    }

    /// `<root>/containers`.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `<root>/containers/<id>`: the container's persistent directory and OCI bundle.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// `state.json`: the container's run state ([`crate::state::StateFile`]).
    pub fn state_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("state.json")
    }

    /// The json-file log, `<id>-json.log` (rotated copies get `.1`, `.2`...).
    pub fn log_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// The OCI runtime spec of the bundle. Like the /etc files below it is written again at
    /// every start, so it lives with the run state (`run_dir`, on tmpfs), as containerd keeps
    /// its bundles under /run.
    pub fn config_json(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("config.json")
    }

    /// The container's `/etc/hostname` (see [`Paths::config_json`] for where).
    pub fn hostname_file(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("hostname")
    }

    /// The container's `/etc/hosts`.
    pub fn hosts_file(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("hosts")
    }

    /// The container's `/etc/resolv.conf`.
    pub fn resolv_conf(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("resolv.conf")
    }

    /// `<runroot>/containers`.
    pub fn run_containers_dir(&self) -> PathBuf {
        self.runroot.join("containers")
    }

    /// `<runroot>/containers/<id>`: run-time files.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_containers_dir().join(id)
    }

    /// The overlay mountpoint of the container's root filesystem.
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("rootfs")
    }

    /// The shim's control/attach socket.
    pub fn shim_sock(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("shim.sock")
    }

    /// The shim's pid file.
    pub fn shim_pid(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("shim.pid")
    }

    /// `<runroot>/locks`.
    pub fn locks_dir(&self) -> PathBuf {
        self.runroot.join("locks")
    }

    /// The container's operation lock ([`crate::lock`]).
    pub fn lock_file(&self, id: &str) -> PathBuf {
        self.locks_dir().join(format!("{id}.lock"))
    }

    /// berth-runtime's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    /// `<root>/tmp`, for files written before their rename.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The snapshot directory of `driver` (`<root>/<driver>/snapshots`).
    pub fn snapshots_dir(&self, driver: &str) -> PathBuf {
        self.root.join(driver).join("snapshots")
    }

    /// Whether `path` is inside the container directory of `id` (for sanity checks).
    pub fn is_container_path(&self, id: &str, path: &Path) -> bool {
        path.starts_with(self.container_dir(id)) || path.starts_with(self.run_dir(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_contract() {
        let p = Paths::new("/var/lib/berth", "/run/berth");
        assert_eq!(
            p.state_file("abc"),
            Path::new("/var/lib/berth/containers/abc/state.json")
        );
        assert_eq!(
            p.log_file("abc"),
            Path::new("/var/lib/berth/containers/abc/abc-json.log")
        );
        assert_eq!(
            p.rootfs("abc"),
            Path::new("/run/berth/containers/abc/rootfs")
        );
        assert_eq!(p.lock_file("abc"), Path::new("/run/berth/locks/abc.lock"));
        assert_eq!(p.runtime_root(), Path::new("/run/berth/runtime"));
        assert!(p.is_container_path("abc", &p.shim_sock("abc")));
        assert!(!p.is_container_path("abd", &p.shim_sock("abc")));
    }
}
