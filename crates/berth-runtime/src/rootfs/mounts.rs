//! One `spec.mounts` entry: resolve its destination inside the rootfs, check it, mount, then apply
//! what mount(2) cannot do in the same call (read-only binds, propagation, recursive attributes).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::Mount;
use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, SFlag};

use super::idmap::{self, IdMaps};
use super::options::{self, MountOptions};
use super::resolve::{clean, fd_path, Create, Root};
use super::{cgroup, RootfsError};

/// The few `/proc` entries that may be mounted over (files that lxcfs and similar emulate).
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// What every mount of one container shares.
pub(crate) struct Context<'a> {
    /// The rootfs (already bind-mounted onto itself).
    pub root: &'a Root,
    /// The bundle directory, base of relative bind sources.
    pub bundle: &'a Path,
    /// The container has a cgroup namespace: cgroup filesystems can be mounted directly.
    pub cgroup_ns: bool,
}

/// True when the spec mount is a bind mount (type `bind`, or a `bind`/`rbind` option).
pub(crate) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

/// Mounts one spec entry inside the rootfs.
pub(crate) fn mount_entry(ctx: &Context<'_>, m: &Mount) -> Result<(), RootfsError> {
    let dest = clean(m.destination());
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let maps = if idmap::wanted(m, &opts) {
        idmap::check_supported(&dest, is_bind(m))?;
        // The container's own mappings only matter inside its user namespace, which
        // check_supported refuses: a mount without mappings has none to take.
        Some(idmap::mount_maps(m, &dest, None)?)
    } else {
        None
    };
    let typ = m.typ().as_deref().unwrap_or("");
    if is_bind(m) {
        return bind_entry(ctx, m, &dest, opts, maps.as_ref());
    }
    match typ {
        "cgroup" => cgroup::mount_cgroup(ctx, &dest, &opts),
        "proc" | "sysfs" => special_entry(ctx, m, &dest, typ, &opts),
        _ => plain_entry(ctx, m, &dest, typ, opts),
    }
}

/// A destination error, named.
pub(crate) fn dest_err(dest: &Path) -> impl FnOnce(Errno) -> RootfsError + '_ {
    move |source| RootfsError::Destination {
        destination: dest.to_owned(),
        source,
    }
}

/// A mount(2) error, named.
pub(crate) fn mount_err<'a>(
    dest: &'a Path,
    fstype: &'a str,
) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError::Mount {
        destination: dest.to_owned(),
        fstype: fstype.to_owned(),
        source,
    }
}

/// Refuses mounts over `/proc` itself (unless procfs) or its entries (unless allowed).
/// `inner` is where the destination resolved to, as seen inside the rootfs.
fn check_proc(inner: &Path, dest: &Path, is_procfs: bool) -> Result<(), RootfsError> {
    if inner == Path::new("/proc") {
        if is_procfs {
            return Ok(());
        }
        return Err(RootfsError::ProcMount {
            destination: dest.to_owned(),
            reason: "only procfs may be mounted on /proc",
        });
    }
    if inner.starts_with("/proc") && !PROC_ALLOWED.iter().any(|a| inner == Path::new(a)) {
        return Err(RootfsError::ProcMount {
            destination: dest.to_owned(),
            reason: "it resolves inside /proc",
        });
    }
    Ok(())
}

/// Resolves (creating if missing) `dest`, checks it against /proc, returns the O_PATH fd and
/// whether it was created.
fn resolve_checked(
    ctx: &Context<'_>,
    dest: &Path,
    create: Create,
    is_procfs: impl FnOnce() -> bool,
) -> Result<(OwnedFd, bool), RootfsError> {
    let (fd, created) = ctx
        .root
        .ensure_created(dest, create)
        .map_err(dest_err(dest))?;
    let inner = ctx.root.inner_path(fd.as_fd()).map_err(dest_err(dest))?;
    if inner.starts_with("/proc") {
        check_proc(&inner, dest, is_procfs())?;
    }
    Ok((fd, created))
}

fn do_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    nix::mount::mount(source, target, fstype, flags, data)
}

/// Remounts a bind mount to apply per-mount flags. In a user namespace the kernel refuses to
/// drop flags the mount is locked with (nosuid, nodev, noexec, atime): on EPERM, keep them.
pub(crate) fn remount_bind(target: &Path, flags: MsFlags) -> Result<(), Errno> {
    let flags = flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    match do_mount(None, target, None, flags, None) {
        Err(Errno::EPERM) => {
            let locked = locked_flags(target)?;
            if flags.contains(locked) {
                return Err(Errno::EPERM);
            }
            do_mount(None, target, None, flags | locked, None)
        }
        other => other,
    }
}

/// The flags a mount currently has that a user namespace's remount must keep.
fn locked_flags(target: &Path) -> Result<MsFlags, Errno> {
    use nix::sys::statvfs::FsFlags;
    let st = nix::sys::statvfs::statvfs(target)?;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (sf, mf) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(sf) {
            out |= mf;
        }
    }
    Ok(out)
}

/// After the mount itself: remount flags for binds, propagation, recursive attributes. The
/// destination is opened again so that these act on the new mount, not on what it covers.
fn after_mount(
    ctx: &Context<'_>,
    dest: &Path,
    opts: &MountOptions,
    remount: Option<MsFlags>,
) -> Result<(), RootfsError> {
    let attrs = opts.rec_attr_set != 0 || opts.rec_attr_clr != 0;
    if remount.is_none() && opts.propagation.is_empty() && !attrs {
        return Ok(());
    }
    let fd = ctx.root.open_path(dest).map_err(dest_err(dest))?;
    let target = fd_path(fd.as_fd());
    if let Some(flags) = remount {
        remount_bind(&target, flags).map_err(|source| RootfsError::Remount {
            destination: dest.to_owned(),
            flags,
            source,
        })?;
    }
    for &flags in &opts.propagation {
        do_mount(None, &target, None, flags, None).map_err(|source| RootfsError::Propagation {
            destination: dest.to_owned(),
            flags,
            source,
        })?;
    }
    if attrs {
        berth_sys::mount::mount_setattr(
            fd.as_fd(),
            Path::new(""),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            opts.rec_attr_set,
            opts.rec_attr_clr,
            0,
        )
        .map_err(|source| RootfsError::MountAttr {
            destination: dest.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// The host path of a bind source: relative sources are relative to the bundle.
fn bind_source(ctx: &Context<'_>, m: &Mount, dest: &Path) -> Result<PathBuf, RootfsError> {
    let Some(src) = m.source().as_deref() else {
        return Err(RootfsError::BindSource {
            destination: dest.to_owned(),
            source_path: PathBuf::new(),
            source: Errno::EINVAL,
        });
    };
    Ok(if src.is_absolute() {
        src.to_owned()
    } else {
        ctx.bundle.join(src)
    })
}

/// A bind mount (idmapped when `maps` is given), then its per-mount flags.
fn bind_entry(
    ctx: &Context<'_>,
    m: &Mount,
    dest: &Path,
    mut opts: MountOptions,
    maps: Option<&IdMaps>,
) -> Result<(), RootfsError> {
    let src = bind_source(ctx, m, dest)?;
    let src_err = |source| RootfsError::BindSource {
        destination: dest.to_owned(),
        source_path: src.clone(),
        source,
    };
    let st = nix::sys::stat::stat(&src).map_err(src_err)?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let create = if is_dir { Create::Dir } else { Create::File };
    let (fd, _) = resolve_checked(ctx, dest, create, || is_procfs(&src))?;
    opts.flags |= MsFlags::MS_BIND;
    if let Some(maps) = maps {
        let userns = idmap::userns_fd(maps, dest)?;
        idmap::bind_idmapped(&src, fd.as_fd(), dest, &opts, userns.as_fd())?;
    } else {
        let bind_flags = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        do_mount(Some(&src), &fd_path(fd.as_fd()), None, bind_flags, None)
            .map_err(mount_err(dest, "bind"))?;
    }
    drop(fd);
    after_mount(ctx, dest, &opts, opts.bind_remount_flags())
}

fn is_procfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// proc and sysfs: only on a real directory, reached without any symlink.
fn special_entry(
    ctx: &Context<'_>,
    m: &Mount,
    dest: &Path,
    typ: &str,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let open = || {
        ctx.root
            .open_with(dest, OFlag::O_PATH, ResolveFlag::RESOLVE_NO_SYMLINKS)
    };
    let fd = match open() {
        Err(Errno::ENOENT) => {
            // Missing: create it through its parent, then look again without following symlinks.
            let parent = dest.parent().unwrap_or(Path::new("/"));
            let pfd = ctx
                .root
                .ensure(parent, Create::Dir)
                .map_err(dest_err(dest))?;
            if let Some(name) = dest.file_name() {
                match nix::sys::stat::mkdirat(
                    Some(std::os::fd::AsRawFd::as_raw_fd(&pfd)),
                    name,
                    nix::sys::stat::Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(dest_err(dest)(e)),
                }
            }
            open()
        }
        other => other,
    };
    let fd = match fd {
        Ok(fd) => fd,
        Err(Errno::ELOOP) | Err(Errno::EXDEV) => {
            return Err(RootfsError::DestinationSymlink {
                destination: dest.to_owned(),
                fstype: typ.to_owned(),
            })
        }
        Err(e) => return Err(dest_err(dest)(e)),
    };
    let st = fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(dest_err(dest))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Err(RootfsError::NotADirectory {
            destination: dest.to_owned(),
            fstype: typ.to_owned(),
        });
    }
    let inner = ctx.root.inner_path(fd.as_fd()).map_err(dest_err(dest))?;
    check_proc(&inner, dest, typ == "proc")?;
    let source = m.source().as_deref().unwrap_or(Path::new(typ));
    let target = fd_path(fd.as_fd());
    match do_mount(Some(source), &target, Some(typ), opts.flags, opts.data()) {
        // A user namespace without its own network namespace may not mount sysfs: bind the
        // host's instead (as runc does for rootless containers).
        Err(Errno::EPERM) if typ == "sysfs" => {
            let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
            do_mount(Some(Path::new("/sys")), &target, None, rec, None)
                .map_err(mount_err(dest, typ))?;
            drop(fd);
            let flags = opts.flags - MsFlags::MS_REMOUNT;
            return after_mount(ctx, dest, opts, (!flags.is_empty()).then_some(flags));
        }
        r => r.map_err(mount_err(dest, typ))?,
    }
    drop(fd);
    after_mount(ctx, dest, opts, None)
}

/// tmpfs, devpts, mqueue, overlay, ...: a directory, created if missing, then mount(2).
fn plain_entry(
    ctx: &Context<'_>,
    m: &Mount,
    dest: &Path,
    typ: &str,
    mut opts: MountOptions,
) -> Result<(), RootfsError> {
    let (fd, created) = resolve_checked(ctx, dest, Create::Dir, || typ == "proc")?;
    let target = fd_path(fd.as_fd());
    let tmpfs = typ == "tmpfs";
    let mut flags = opts.flags;
    let mut ro_later = false;
    if tmpfs {
        // Keep an existing directory's mode unless the options set one (as runc does).
        if !created && !opts.has_mode() {
            let st = fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(dest_err(dest))?;
            let mode = format!("mode={:o}", st.st_mode & 0o7777);
            opts.data = if opts.data.is_empty() {
                mode
            } else {
                format!("{},{mode}", opts.data)
            };
        }
        // Files must still be written into a read-only tmpfs (copy-up, /dev nodes): ro later.
        if flags.contains(MsFlags::MS_RDONLY) && (opts.tmpcopyup || dest == Path::new("/dev")) {
            flags -= MsFlags::MS_RDONLY;
            ro_later = dest != Path::new("/dev"); // /dev is made read-only by finalize_rootfs
        }
    }
    let source = m
        .source()
        .as_deref()
        .unwrap_or(Path::new(if typ.is_empty() { "none" } else { typ }));
    let fstype = (!typ.is_empty()).then_some(typ);
    do_mount(Some(source), &target, fstype, flags, opts.data()).map_err(mount_err(dest, typ))?;
    if tmpfs && opts.tmpcopyup {
        let new = ctx.root.open_path(dest).map_err(dest_err(dest))?;
        super::copyup::copy_tree(fd.as_fd(), new.as_fd()).map_err(|source| {
            RootfsError::TmpCopyUp {
                destination: dest.to_owned(),
                source,
            }
        })?;
    }
    drop(fd);
    let remount = ro_later.then_some(flags | MsFlags::MS_RDONLY);
    after_mount(ctx, dest, &opts, remount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_rules() {
        let d = Path::new("/x");
        assert!(check_proc(Path::new("/proc"), d, true).is_ok());
        assert!(check_proc(Path::new("/proc"), d, false).is_err());
        assert!(check_proc(Path::new("/proc/cpuinfo"), d, false).is_ok());
        assert!(check_proc(Path::new("/proc/sys/kernel/ns_last_pid"), d, false).is_ok());
        let e = check_proc(Path::new("/proc/sys"), d, false).unwrap_err();
        assert!(e.to_string().contains("/x"), "{e}");
        assert!(check_proc(Path::new("/proc/self/attr"), d, false).is_err());
        assert!(check_proc(Path::new("/procfoo"), d, false).is_ok());
        assert!(check_proc(Path::new("/tmp"), d, false).is_ok());
    }
}
