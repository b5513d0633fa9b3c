//! Mounting and unmounting a container's root filesystem at `<runroot>/containers/<id>/rootfs`
//! from its snapshot's mounts.
//!
//! A started container's rootfs is mounted in a mount namespace of its own, not the host's:
//! the starting process moves into a new namespace ([`enter_private_namespace`]) before it
//! launches the shim, which shares it, and mounts there. The host's mount table then stays the
//! same size however many containers run: every container's `clone(CLONE_NEWNS)` copies that
//! table, its init walks it (propagation, `pivot_root`, detaching the old root) and the
//! runtime reads `/proc/self/mountinfo`, so with the mounts of 1000 running containers on the
//! host each start took 70 ms instead of 25. The namespace, and with it the mount, goes away
//! with the shim: a killed shim or CLI leaves no mount behind. Other processes reach the
//! rootfs through the shim's `/proc/<pid>/root` ([`rootfs_view`]).

use crate::error::{EngineError, Result};
use crate::paths::Paths;
use berth_snapshot::Snapshotter;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether `target` is the root of a mount other than its parent's (a different device: true
/// for overlay; for a bind mount of the same filesystem callers also keep a flag).
pub fn is_mounted(target: &Path) -> bool {
    let (Ok(t), Some(Ok(p))) = (
        std::fs::metadata(target),
        target.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    t.dev() != p.dev()
}

/// Moves this process into a new mount namespace whose mounts receive the host's but send
/// nothing back (`MS_SLAVE`), when it is single-threaded; returns whether it did. (In a
/// threaded process `unshare` would move the calling thread only: the caller then mounts in
/// the host's namespace, as before.) An error means the new namespace could not be cut off
/// from the host: nothing may be mounted then.
///
/// Each call starts again from the namespace the process began in, so that the namespaces of
/// two containers started by one command (`berth start a b`) do not hold each other's mounts.
pub fn enter_private_namespace() -> Result<bool> {
    static ORIGINAL: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let single = std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.take(2).count() == 1);
    if !single {
        return Ok(false);
    }
    match ORIGINAL.get() {
        // Not the first time: back to the first namespace (setns moves the working directory
        // to its root: keep ours).
        Some(Some(original)) => {
            let cwd = std::env::current_dir().ok();
            nix::sched::setns(original, nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(EngineError::sys("returning to the first mount namespace"))?;
            if let Some(cwd) = cwd {
                let _ = std::env::set_current_dir(cwd);
            }
        }
        Some(None) => return Ok(false),
        None => {
            let first = std::fs::File::open("/proc/self/ns/mnt").ok();
            if ORIGINAL.set(first).is_err() || ORIGINAL.get().is_some_and(Option::is_none) {
                return Ok(false);
            }
        }
    }
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
        return Ok(false);
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(EngineError::sys(
        "making a new mount namespace's mounts slaves",
    ))?;
    Ok(true)
}

/// Where this process sees container `id`'s mounted rootfs: in our own mount namespace, else
/// through the namespace of its shim (`shim_pid`, checked alive by the caller); `None` when it
/// is mounted in neither.
pub fn rootfs_view(paths: &Paths, id: &str, shim_pid: i32) -> Option<std::path::PathBuf> {
    let here = paths.rootfs(id);
    if is_mounted(&here) {
        return Some(here);
    }
    if shim_pid <= 0 {
        return None;
    }
    let there = Path::new(&format!("/proc/{shim_pid}/root")).join(here.strip_prefix("/").ok()?);
    is_mounted(&there).then_some(there)
}

/// How [`mount_rootfs`] mounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct MountMode {
    /// The state says the rootfs is mounted already: keep that mount when it is still there.
    pub already: bool,
    /// Overlay's `volatile`: the kernel skips every sync of the writable layer (at unmount too).
    /// For layers thrown away with their container (`--rm`); ignored where unsupported.
    pub volatile: bool,
}

/// Mounts snapshot `key` at container `id`'s rootfs. `snapshots_dir` is where relative overlay
/// lower dirs (very deep images) resolve from.
pub fn mount_rootfs(
    paths: &Paths,
    id: &str,
    snaps: &dyn Snapshotter,
    key: &str,
    snapshots_dir: &Path,
    mode: MountMode,
) -> Result<()> {
    let target = paths.rootfs(id);
    if mode.already && (is_mounted(&target) || bind_target_nonempty(&target)) {
        return Ok(());
    }
    std::fs::create_dir_all(&target).map_err(EngineError::io("creating", &target))?;
    let mounts = snaps.mounts(key).map_err(|source| EngineError::Snapshot {
        key: key.to_string(),
        source,
    })?;
    let Some(m) = mounts.first() else {
        return Err(EngineError::Corrupt {
            what: format!("snapshot {key}"),
            reason: "it has no mounts".into(),
        });
    };
    let what = format!(
        "mounting the rootfs of container {id} at {}",
        target.display()
    );
    if m.typ == "bind" {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(
            Some(m.source.as_str()),
            &target,
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(EngineError::sys(what))?;
        return Ok(());
    }
    // The shared mount-point layer on top (see `mountpoints`); a mount that fails with it (a
    // kernel's limit on layers, say) is tried again without.
    let with_layer = (m.typ == "overlay")
        .then(|| with_mountpoint_layer(&m.options, snapshots_dir))
        .flatten();
    berth_sys::timing::mark("mount-point layer");
    let volatile = mode.volatile && m.typ == "overlay" && prepare_volatile(&m.options);
    let mut result = Err(nix::errno::Errno::EINVAL);
    for options in with_layer.iter().chain(std::iter::once(&m.options)) {
        result = mount_with(&m.source, &target, &m.typ, options, volatile, snapshots_dir);
        if result.is_ok() {
            break;
        }
    }
    result.map_err(EngineError::sys(what))
}

/// `options` with the mount-point layer put on top of the overlay's lower dirs; `None` when
/// the image gets none or the options would no longer fit in a page.
fn with_mountpoint_layer(options: &[String], snapshots_dir: &Path) -> Option<Vec<String>> {
    let mut out = options.to_vec();
    let lower = out.iter_mut().find(|o| o.starts_with("lowerdir="))?;
    let layered = crate::mountpoints::with_layer(snapshots_dir, &lower["lowerdir=".len()..])?;
    *lower = format!("lowerdir={layered}");
    (out.join(",").len() <= berth_snapshot::MOUNT_DATA_LIMIT).then_some(out)
}

/// Mounts `typ` from `source` at `target` with `options` (plus overlay's `volatile` when asked
/// and known to the kernel); relative overlay lower dirs resolve from `snapshots_dir`.
fn mount_with(
    source: &str,
    target: &Path,
    typ: &str,
    options: &[String],
    volatile: bool,
    snapshots_dir: &Path,
) -> nix::Result<()> {
    let mut data = options.join(",");
    if volatile {
        data.push_str(",volatile");
    }
    let relative = options
        .iter()
        .any(|o| o.starts_with("lowerdir=") && !o["lowerdir=".len()..].starts_with('/'));
    let attempt = |data: &str| {
        mount(
            Some(source),
            target,
            Some(typ),
            MsFlags::empty(),
            Some(data),
        )
    };
    let overlay = |data: &str| match attempt(data) {
        // A kernel before 5.10 does not know `volatile`: mount without it.
        Err(nix::errno::Errno::EINVAL) if data.ends_with(",volatile") => {
            attempt(data.trim_end_matches(",volatile"))
        }
        r => r,
    };
    if !relative {
        return overlay(&data);
    }
    // Lower dirs too long for one page are given relative to the snapshot directory; the
    // working directory is process-wide, which is fine in the single-threaded CLI.
    let here = std::env::current_dir().map_err(|e| io_errno(&e))?;
    std::env::set_current_dir(snapshots_dir).map_err(|e| io_errno(&e))?;
    let r = overlay(&data);
    let _ = std::env::set_current_dir(here);
    r
}

fn io_errno(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Overlay refuses to mount a layer again after a `volatile` mount until the marker it leaves
/// (`<workdir>/work/incompat/volatile`) is removed: a thrown-away layer is never mounted twice
/// in normal use, but a temporary mount (`cp` into a created `--rm` container) comes first.
/// Returns whether the marker is out of the way.
fn prepare_volatile(options: &[String]) -> bool {
    let Some(work) = options.iter().find_map(|o| o.strip_prefix("workdir=")) else {
        return false;
    };
    let marker = Path::new(work).join("work").join("incompat");
    match std::fs::remove_dir_all(&marker) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// A bind-mounted rootfs (copy driver) is on the same device as its parent: recognise it by
/// content (an unmounted mountpoint directory is empty).
fn bind_target_nonempty(target: &Path) -> bool {
    std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_some())
}

/// Unmounts container `id`'s rootfs (lazily) and removes the mountpoint; nothing mounted is
/// fine.
pub fn unmount_rootfs(paths: &Paths, id: &str) -> Result<()> {
    let target = paths.rootfs(id);
    loop {
        match umount2(&target, MntFlags::MNT_DETACH) {
            Ok(()) => continue, // stacked mounts: until nothing is left
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => {
                return Err(EngineError::sys(format!(
                    "unmounting the rootfs of container {id} at {}",
                    target.display()
                ))(e))
            }
        }
    }
    match std::fs::remove_dir(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::io("removing", &target)(e)),
    }
}
