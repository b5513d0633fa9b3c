//! Mount-related system calls that nix does not wrap, or wraps without returning an owned fd:
//! `openat2` (resolution confined to a root), plain `openat` returning an [`OwnedFd`],
//! `mount_setattr` (recursive mount attributes, idmapped mounts), `open_tree` and `move_mount`
//! (detached mount trees), a user-namespace holder process (for idmapped mounts) and
//! `setdomainname`.
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

/// `MOUNT_ATTR_IDMAP`: the mount is idmapped through the user namespace given as `userns_fd`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `OPEN_TREE_CLONE`: `open_tree` returns a detached copy of the mount (tree), not the original.
pub const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `OPEN_TREE_CLOEXEC`: the returned descriptor is close-on-exec.
pub const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
/// `MOVE_MOUNT_F_EMPTY_PATH`: the source of `move_mount` is the descriptor itself.
pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;
/// `MOVE_MOUNT_T_EMPTY_PATH`: the target of `move_mount` is the descriptor itself (an `O_PATH` fd
/// of the destination, with no second path walk).
pub const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x0000_0040;

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

/// `mount_setattr(dir, path, flags, {attr_set: MOUNT_ATTR_IDMAP, userns_fd})`: make the detached
/// mount `dir`/`path` idmapped through the user namespace `userns` (recursively with
/// `AT_RECURSIVE`). The kernel answers `EINVAL` when the filesystem cannot be idmapped.
pub fn mount_setattr_idmap(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_uint,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let c = cpath(path)?;
    let mut attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    // SAFETY: `c` is a valid NUL-terminated string and `attr` a valid, initialised mount_attr of
    // the size passed; the kernel only reads them during the call. `userns` is an open fd.
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

/// `open_tree(dir, path, flags)`: a descriptor for the mount at `path` (relative to `dir`, or to
/// the current directory when `None`); with [`OPEN_TREE_CLONE`] a detached copy of it (of the
/// whole tree below it with `AT_RECURSIVE`).
pub fn open_tree(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: libc::c_uint,
) -> Result<OwnedFd, Errno> {
    let c = cpath(path)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; the kernel returns a
    // new descriptor or -1 and keeps no pointer.
    let rc = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, c.as_ptr(), flags) };
    let fd = Errno::result(rc)?;
    // SAFETY: open_tree just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `move_mount(from_dir, from_path, to_dir, to_path, flags)`: attach (or move) the mount at
/// `from_*` onto `to_*`. With [`MOVE_MOUNT_F_EMPTY_PATH`] and an empty `from_path`, the mount is
/// the one `from_dir` refers to (a detached tree from [`open_tree`]); likewise
/// [`MOVE_MOUNT_T_EMPTY_PATH`] for the target. `to_dir = None` means the current directory.
/// The final component of `to_path` is not followed if it is a symlink.
pub fn move_mount(
    from_dir: BorrowedFd<'_>,
    from_path: &Path,
    to_dir: Option<BorrowedFd<'_>>,
    to_path: &Path,
    flags: libc::c_uint,
) -> Result<(), Errno> {
    let from = cpath(from_path)?;
    let to = cpath(to_path)?;
    let to_dirfd = to_dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call; the kernel only
    // reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dirfd,
            to.as_ptr(),
            flags,
        )
    };
    Errno::result(rc).map(drop)
}

/// A child process in a new user namespace, blocked until killed (or until the write end of its
/// pipe, [`UsernsChild::wake`], is closed). Its parent writes `/proc/<pid>/uid_map` and
/// `gid_map`, opens `/proc/<pid>/ns/user`, then kills and reaps it.
#[derive(Debug)]
pub struct UsernsChild {
    /// The child's pid.
    pub pid: nix::unistd::Pid,
    /// Closing this (the last write end of the child's pipe) lets the child exit.
    pub wake: OwnedFd,
}

/// Creates a [`UsernsChild`]: `clone(CLONE_NEWUSER)`. Safe in a multi-threaded process too, as the
/// child runs nothing but the raw `close`, `read` and `_exit` system calls.
pub fn spawn_userns_child() -> Result<UsernsChild, Errno> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a NULL stack makes clone fork-like: the child runs on a copy of this stack and of
    // the address space. No CLONE_*TID / CLONE_SETTLS flag is passed, so the other pointers are
    // unused. The child only makes async-signal-safe system calls (below) before _exit, so it
    // needs no lock another thread may have held.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match Errno::result(rc)? {
        0 => userns_child_body(read_end.as_raw_fd(), write_end.as_raw_fd()),
        pid => Ok(UsernsChild {
            pid: nix::unistd::Pid::from_raw(pid as i32),
            wake: write_end,
        }),
    }
}

/// The child of [`spawn_userns_child`]: drop its copy of the write end, wait, exit.
fn userns_child_body(read_end: i32, write_end: i32) -> ! {
    // SAFETY: closing our own copy of the pipe's write end; no Rust object uses it in this child.
    unsafe { libc::close(write_end) };
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`, which lives across the call.
    unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
    // SAFETY: _exit has no preconditions and never returns (no destructors run in this copy).
    unsafe { libc::_exit(0) }
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
    fn userns_child_has_its_own_user_namespace() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping userns_child_has_its_own_user_namespace: needs root");
            return;
        }
        let child = spawn_userns_child().unwrap();
        let mine = std::fs::read_link("/proc/self/ns/user").unwrap();
        let its = std::fs::read_link(format!("/proc/{}/ns/user", child.pid)).unwrap();
        assert_ne!(mine, its);
        drop(child.wake);
        let status = nix::sys::wait::waitpid(child.pid, None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child.pid, 0));
    }

    #[test]
    fn open_tree_clones_a_detached_mount() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping open_tree_clones_a_detached_mount: needs root");
            return;
        }
        let fd = open_tree(None, Path::new("/"), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC).unwrap();
        assert!(std::fs::metadata(format!("/proc/self/fd/{}/etc", fd.as_raw_fd())).is_ok());
        // A bad path is an error, not a descriptor.
        let err = open_tree(None, Path::new("/no/such/path"), OPEN_TREE_CLONE).unwrap_err();
        assert_eq!(err, Errno::ENOENT);
    }

    #[test]
    fn openat_returns_owned_fd() {
        let fd = openat(None, Path::new("/"), OFlag::O_PATH, Mode::empty()).unwrap();
        assert!(fd.as_raw_fd() >= 0);
    }
}
