//! Mounting and unmounting a container's root filesystem at `<runroot>/containers/<id>/rootfs`
//! from its snapshot's mounts.

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

/// Mounts snapshot `key` at container `id`'s rootfs. `snapshots_dir` is where relative overlay
/// lower dirs (very deep images) resolve from.
pub fn mount_rootfs(
    paths: &Paths,
    id: &str,
    snaps: &dyn Snapshotter,
    key: &str,
    snapshots_dir: &Path,
    already: bool,
) -> Result<()> {
    let target = paths.rootfs(id);
    if already && (is_mounted(&target) || bind_target_nonempty(&target)) {
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
    let data = m.options.join(",");
    let relative = m
        .options
        .iter()
        .any(|o| o.starts_with("lowerdir=") && !o["lowerdir=".len()..].starts_with('/'));
    if !relative {
        return mount(
            Some(m.source.as_str()),
            &target,
            Some(m.typ.as_str()),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(EngineError::sys(what));
    }
    // Lower dirs too long for one page are given relative to the snapshot directory; the
    // working directory is process-wide, which is fine in the single-threaded CLI.
    let here = std::env::current_dir().map_err(EngineError::io("reading the cwd", "."))?;
    std::env::set_current_dir(snapshots_dir).map_err(EngineError::io("entering", snapshots_dir))?;
    let r = mount(
        Some(m.source.as_str()),
        &target,
        Some(m.typ.as_str()),
        MsFlags::empty(),
        Some(data.as_str()),
    );
    let _ = std::env::set_current_dir(here);
    r.map_err(EngineError::sys(what))
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
