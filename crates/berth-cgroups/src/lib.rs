//! cgroups v1, hybrid and v2 behind one trait.
//!
//! [`open`] turns a container's `linux.cgroupsPath` into a [`Cgroup`]: the v1 driver (used for
//! the v1 and hybrid layouts; a hybrid host's unified mount is ignored, as runc does) or the v2
//! driver. Both work on an injectable cgroupfs root so they can be tested on a fake tree:
//! a root holding `cgroup.controllers` is a v2 hierarchy, otherwise each subdirectory is a v1
//! hierarchy named after its controllers (`cpu,cpuacct`, `memory`, `systemd`).
//!
//! Path rules are in [`path`](crate::path) (module docs): absolute paths start at each
//! hierarchy's root, relative ones at this process's own cgroup, and an empty path means
//! `/berth/<container id>` (`system.slice:berth:<id>` with `--systemd-cgroup`).
//!
//! The mount table and `/proc/self/cgroup` are read once per process and cached.
#![forbid(unsafe_code)]

mod devices;
mod error;
mod fsutil;
mod mounts;
mod path;
mod selfjoin;
mod stats;
mod v1;
mod v2;

use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::LinuxResources;

pub use error::CgroupError;
pub use path::systemd_path;
pub use selfjoin::SelfJoin;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, IntelRdt, Memory, MemoryEntry,
    MemoryEventCount, NetworkInterface, Pids, PsiData, PsiStats, Stats, Throttling,
};

/// How the host mounts its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Only v1 hierarchies.
    V1,
    /// v1 controller hierarchies plus a cgroup2 mount (systemd's "hybrid"); we use the v1 ones.
    Hybrid,
    /// One cgroup2 hierarchy (named v1 hierarchies like `name=systemd` may exist beside it).
    V2,
}

/// The layout of this host, from `/proc/self/mountinfo` (read once, cached).
pub fn detect_layout() -> Result<Layout, CgroupError> {
    mounts::system().map(|s| s.layout)
}

/// The layout described by a mountinfo text (proc(5) format).
pub fn detect_layout_from(mountinfo: &str) -> Result<Layout, CgroupError> {
    mounts::MountTable::parse(mountinfo).layout()
}

/// Where a container's cgroup goes.
#[derive(Debug, Clone, Copy)]
pub struct CgroupConfig<'a> {
    /// `linux.cgroupsPath`, possibly empty.
    pub path: &'a str,
    /// The container id (names the default cgroup).
    pub container_id: &'a str,
    /// `--systemd-cgroup`: `path` is `slice:prefix:name`, mapped to a plain path.
    pub systemd: bool,
    /// A cgroupfs root to use instead of the host's mounts (tests); relative paths are then
    /// taken from that root.
    pub root: Option<&'a Path>,
}

/// One container's cgroup, in every hierarchy it lives in.
pub trait Cgroup: Send + Sync {
    /// Creates the cgroup directories (mkdir -p in every hierarchy). v2 also enables the
    /// available controllers in the parents' `cgroup.subtree_control`; v1 gives a new cpuset
    /// cgroup its parent's cpus and mems.
    fn create(&self) -> Result<(), CgroupError>;
    /// Applies the OCI resource limits. A limit whose controller is missing is an error naming
    /// the controller; absent limits are skipped.
    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError>;
    /// Moves `pid` into the cgroup (every hierarchy).
    fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
    /// Files through which a single-threaded child can move itself into the cgroup far more
    /// cheaply than [`Cgroup::add_process`] (see [`SelfJoin`]); `None` where the driver has no
    /// such way (v2), and the caller uses `add_process`.
    fn self_join(&self) -> Result<Option<SelfJoin>, CgroupError> {
        Ok(None)
    }
    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<(), CgroupError>;
    /// Thaws the cgroup and waits until it is running again.
    fn thaw(&self) -> Result<(), CgroupError>;
    /// Whether the cgroup is frozen.
    fn is_frozen(&self) -> Result<bool, CgroupError>;
    /// Every process in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Resource usage, shaped like `runc events --stats`.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// How many processes the OOM killer killed in the cgroup (0 where the kernel does not say):
    /// one file read, for monitors that ask at every exit.
    fn oom_kills(&self) -> Result<u64, CgroupError> {
        Ok(self.stats()?.memory.event_count.oom_kill)
    }
    /// Sends `signal` to every process (frozen meanwhile so none can fork away); SIGKILL on v2
    /// uses `cgroup.kill` when the kernel has it.
    fn kill_all(&self, signal: i32) -> Result<(), CgroupError>;
    /// Removes the container's cgroup directories, their child cgroups, and the parents this
    /// object created; never a parent that existed before.
    fn destroy(&self) -> Result<(), CgroupError>;
    /// The cgroup's directories, one per hierarchy.
    fn paths(&self) -> Vec<PathBuf>;
}

/// Removes Berth's shared default parent (`/berth`) from every hierarchy where no cgroup is
/// left below it: it is otherwise kept between containers (see `fsutil::is_default_parent`).
/// For whoever ends a batch of containers (test fixtures); one still in use stays.
pub fn remove_unused_default_parent() -> Result<(), CgroupError> {
    let sys = mounts::system()?;
    let v1 = sys
        .mounts
        .v1
        .iter()
        .map(|m| (&m.mount_point, m.root.as_str()));
    let v2 = sys.mounts.v2.iter().map(|(p, root)| (p, root.as_str()));
    for (mount_point, root) in v1.chain(v2) {
        // Only where the hierarchy's root is mounted: `/berth` is then `<mount>/berth`.
        if root == "/" {
            fsutil::remove_parent(&mount_point.join("berth"))?;
        }
    }
    Ok(())
}

/// Reads the host's cgroup mounts and this process's cgroups now (once per process), so that a
/// later [`open`] need not: for a caller with idle time before it.
pub fn warm_up() {
    let _ = mounts::system();
}

/// Opens (without creating) the cgroup for `config`: the v1 driver for the V1 and Hybrid
/// layouts, the v2 driver for V2.
pub fn open(config: &CgroupConfig<'_>) -> Result<Box<dyn Cgroup>, CgroupError> {
    let target = path::target(config)?;
    if let Some(root) = config.root {
        if root.join("cgroup.controllers").exists() {
            let cgroup = target.in_hierarchy(None);
            return Ok(Box::new(v2::V2::new(root, "/", &cgroup)));
        }
        let table = mounts::MountTable::fake_v1(root)?;
        return Ok(Box::new(v1::V1::new(&table.v1, &target, None)));
    }
    let sys = mounts::system()?;
    match sys.layout {
        Layout::V1 | Layout::Hybrid => Ok(Box::new(v1::V1::new(
            &sys.mounts.v1,
            &target,
            Some(&sys.own),
        ))),
        Layout::V2 => {
            let (mount_point, mount_root) = sys
                .mounts
                .v2
                .as_ref()
                .ok_or_else(|| CgroupError::NoCgroupFs("no cgroup2 mount".into()))?;
            let cgroup = target.in_hierarchy(sys.own.unified.as_deref());
            Ok(Box::new(v2::V2::new(mount_point, mount_root, &cgroup)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_layout_is_detected() {
        // Any layout is fine; detection itself must work and be stable.
        let a = detect_layout().unwrap();
        assert_eq!(a, detect_layout().unwrap());
    }

    #[test]
    fn layout_from_text() {
        assert_eq!(
            detect_layout_from("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").unwrap(),
            Layout::V2
        );
    }
}
