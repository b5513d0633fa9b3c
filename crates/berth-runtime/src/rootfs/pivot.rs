//! Entering the rootfs: pivot_root with the old root detached, or the MS_MOVE + chroot fallback.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir};

use super::mountinfo;
use super::RootfsError;

fn set(path: &str, flags: MsFlags) -> Result<(), Errno> {
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
}

/// pivot_root into `rootfs` using the "pivot onto itself" trick: no put_old directory is needed,
/// the old root ends up stacked on the new one and is detached from there.
pub(crate) fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source: Errno| RootfsError::PivotRoot {
            rootfs: rootfs.to_owned(),
            step,
            source,
        }
    };
    let io = |step: &'static str| move |e: std::io::Error| err(step)(super::resolve::io_errno(e));
    let old = File::open("/").map_err(io("opening the old root"))?;
    let new = File::open(rootfs).map_err(io("opening the rootfs"))?;
    fchdir(new.as_raw_fd()).map_err(err("entering the rootfs"))?;
    match nix::unistd::pivot_root(".", ".") {
        // The kernel refuses when the old root or the new root is shared (rootfsPropagation
        // shared): make both private, just for the move; finalize_rootfs applies it again.
        Err(Errno::EINVAL) => {
            set("/", MsFlags::MS_PRIVATE).map_err(err("making the old root private"))?;
            set(".", MsFlags::MS_PRIVATE).map_err(err("making the rootfs private"))?;
            nix::unistd::pivot_root(".", ".").map_err(err("pivot_root"))?;
        }
        r => r.map_err(err("pivot_root"))?,
    }
    fchdir(old.as_raw_fd()).map_err(err("entering the old root"))?;
    // Unmounting below must not travel to the host.
    set(".", MsFlags::MS_SLAVE | MsFlags::MS_REC).map_err(err("making the old root rslave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(err("detaching the old root"))?;
    chdir("/").map_err(err("chdir to /"))
}

/// The no-pivot fallback: hide the host's proc and sysfs mounts (they would let the container
/// reach host state through the old root it still sits on), move the rootfs onto `/` and chroot.
pub(crate) fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        move |source: Errno| RootfsError::MoveRoot {
            rootfs: rootfs.to_owned(),
            step,
            source,
        }
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| err("reading /proc/self/mountinfo")(super::resolve::io_errno(e)))?;
    let hidden = mountinfo::parse(&info, &["proc", "sysfs"]);
    let real = std::fs::canonicalize(rootfs)
        .map_err(|e| err("resolving the rootfs path")(super::resolve::io_errno(e)))?;
    // Deepest first, so a parent's removal does not leave a child's path pointing elsewhere.
    for m in hidden.iter().rev() {
        if m.root != Path::new("/") || m.mountpoint.starts_with(&real) {
            continue;
        }
        let p = &m.mountpoint;
        match mount(
            None::<&str>,
            p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(Errno::ENOENT) | Err(Errno::EINVAL) => continue,
            Err(e) => return Err(err("making a host mount rslave")(e)),
        }
        match umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Not allowed to unmount (user namespace): cover it instead.
            Err(Errno::EINVAL) | Err(Errno::EPERM) => mount(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(err("covering a host proc/sysfs mount"))?,
            Err(e) => return Err(err("unmounting a host proc/sysfs mount")(e)),
        }
    }
    chdir(rootfs).map_err(err("entering the rootfs"))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(err("moving the rootfs onto /"))?;
    chroot(".").map_err(err("chroot"))?;
    chdir("/").map_err(err("chdir to /"))
}
