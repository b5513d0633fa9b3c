//! Mount-related system calls that nix does not wrap, or wraps without returning an owned fd:
//! `openat2` (resolution confined to a root), plain `openat` returning an [`OwnedFd`],
//! `mount_setattr` (recursive mount attributes) and `setdomainname`.
//!
//! Everything here is a thin wrapper: path resolution policy lives in berth-runtime's `rootfs`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// `MOUNT_ATTR_RDONLY`: the mount is read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID`: set-user-id bits are ignored.
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV`: device files are not usable.
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC`: programs cannot be executed.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME`: mask of the three atime modes below.
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` (value 0 inside the atime mask).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME`.
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME`.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME`.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_NOSYMFOLLOW`: symlinks are not followed on this mount.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// `struct mount_attr` of `<linux/mount.h>` (version 0, 32 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// `openat2(dir, path, {flags, mode, resolve})`, returning an owned descriptor.
/// `O_CLOEXEC` is always added.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    mode: Mode,
    resolve: ResolveFlag,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(resolve);
    loop {
        match nix::fcntl::openat2(dir.as_raw_fd(), path, how) {
            // SAFETY: openat2 just returned this descriptor to us; nothing else owns it.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            // The kernel asks for a retry when a rename raced with a RESOLVE_IN_ROOT walk.
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `openat(dir, path, flags, mode)`, returning an owned descriptor. `O_CLOEXEC` is always added.
/// `dir = None` means the current directory.
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: OFlag,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(
        dir.map(|d| d.as_raw_fd()),
        path,
        flags | OFlag::O_CLOEXEC,
        mode,
    )?;
    // SAFETY: openat just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mount_setattr(dir, path, flags, {attr_set, attr_clr, propagation})`: change the attributes of
/// a mount, recursively when `flags` holds `AT_RECURSIVE`. Pass an empty `path` together with
/// `AT_EMPTY_PATH` to act on the mount `dir` itself refers to.
pub fn mount_setattr(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_uint,
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
) -> Result<(), Errno> {
    let c = cpath(path)?;
    let mut attr = MountAttr {
        attr_set,
        attr_clr,
        propagation,
        userns_fd: 0,
    };
    // SAFETY: `c` is a valid NUL-terminated string and `attr` a valid, initialised mount_attr of
    // the size passed; the kernel only reads them during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir.as_raw_fd(),
            c.as_ptr(),
            flags,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// `setdomainname(2)`: set the NIS domain name of the current UTS namespace.
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call; the kernel
    // copies them and needs no NUL terminator.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn openat2_in_root_stays_inside() {
        let base = std::env::temp_dir().join(format!("berth-sys-openat2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("evil")).unwrap();
        let root = std::fs::File::open(&base).unwrap();
        let fd = openat2(
            root.as_fd(),
            Path::new("/evil"),
            OFlag::O_PATH,
            Mode::empty(),
            ResolveFlag::RESOLVE_IN_ROOT,
        )
        .unwrap();
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(target, base.canonicalize().unwrap().join("etc"));
        // A missing name is reported as such.
        let err = openat2(
            root.as_fd(),
            Path::new("/evil/nope"),
            OFlag::O_PATH,
            Mode::empty(),
            ResolveFlag::RESOLVE_IN_ROOT,
        )
        .unwrap_err();
        assert_eq!(err, Errno::ENOENT);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn openat_returns_owned_fd() {
        let fd = openat(None, Path::new("/"), OFlag::O_PATH, Mode::empty()).unwrap();
        assert!(fd.as_raw_fd() >= 0);
    }
}
