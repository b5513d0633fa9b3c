//! Paths inside the container's root, resolved fd-relative with `openat2(RESOLVE_IN_ROOT)`:
//! a symlink, absolute or relative, never leads out of the root. Missing directories (or a
//! missing final file) are created on the way, each relative to its resolved parent.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_sys::mount as sysm;
use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::sys::stat::Mode;

/// How many symlinks a creating walk follows before giving up (as the kernel's ELOOP limit).
const MAX_LINKS: usize = 40;

/// What to create when the final component of a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), for binds of files and device fallbacks.
    File,
}

/// Lexically cleans a path into an absolute one: `.` dropped, `..` pops (never above `/`),
/// repeated slashes collapsed. A relative path is taken relative to `/`.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The `/proc/self/fd/N` path naming an open descriptor; mounting on it mounts on what the
/// descriptor resolved to, with no second path walk.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// An open root directory and its canonical host path.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` as a root (`O_PATH|O_DIRECTORY`) and learns its canonical path from the kernel.
    pub fn open(path: &Path) -> Result<Root, Errno> {
        let fd = sysm::openat(
            None,
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )?;
        let path = match std::fs::read_link(fd_path(fd.as_fd())) {
            Ok(p) => p,
            // No /proc (a container without one, after the pivot): "/" is known without asking.
            Err(_) if path == Path::new("/") => path.to_owned(),
            Err(e) => return Err(io_errno(e)),
        };
        Ok(Root { fd, path })
    }

    /// Opens `path` (taken as inside the root) with `O_PATH`, following symlinks inside the root.
    pub fn open_path(&self, path: &Path) -> Result<OwnedFd, Errno> {
        self.open_with(path, OFlag::O_PATH, ResolveFlag::empty())
    }

    /// Opens `path` inside the root with extra open flags and resolve flags.
    pub fn open_with(
        &self,
        path: &Path,
        flags: OFlag,
        resolve: ResolveFlag,
    ) -> Result<OwnedFd, Errno> {
        sysm::openat2(
            self.fd.as_fd(),
            path,
            flags,
            Mode::empty(),
            resolve | ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        )
    }

    /// Opens `path` inside the root with `O_PATH`, creating what is missing: every missing parent
    /// as a directory, the last component as `create` says. A dangling symlink on the way is
    /// followed (inside the root) and its target created.
    pub fn ensure(&self, path: &Path, create: Create) -> Result<OwnedFd, Errno> {
        self.ensure_inner(&clean(path), create, 0).map(|(fd, _)| fd)
    }

    /// As [`Root::ensure`], also telling whether the final component was created.
    pub fn ensure_created(&self, path: &Path, create: Create) -> Result<(OwnedFd, bool), Errno> {
        self.ensure_inner(&clean(path), create, 0)
    }

    fn ensure_inner(
        &self,
        path: &Path,
        create: Create,
        depth: usize,
    ) -> Result<(OwnedFd, bool), Errno> {
        if depth > MAX_LINKS {
            return Err(Errno::ELOOP);
        }
        match self.open_path(path) {
            Err(Errno::ENOENT) => {}
            other => return other.map(|fd| (fd, false)),
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            // "/" itself cannot be missing.
            return Err(Errno::ENOENT);
        };
        let (pfd, _) = self.ensure_inner(parent, Create::Dir, depth + 1)?;
        match create_at(pfd.as_fd(), name, create) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        match self.open_path(path) {
            // The name exists but does not resolve: a dangling symlink. Create its target.
            Err(Errno::ENOENT) => {
                let target = nix::fcntl::readlinkat(Some(pfd.as_raw_fd()), name)?;
                let next = clean(&parent.join(target));
                self.ensure_inner(&next, create, depth + 1)
            }
            other => other.map(|fd| (fd, true)),
        }
    }

    /// The path, as seen from inside the root, of what `fd` refers to (asks the kernel, so
    /// symlinks followed on the way are accounted for).
    pub fn inner_path(&self, fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
        let host = std::fs::read_link(fd_path(fd)).map_err(io_errno)?;
        let rel = host.strip_prefix(&self.path).map_err(|_| Errno::EXDEV)?;
        Ok(Path::new("/").join(rel))
    }
}

fn create_at(dir: BorrowedFd<'_>, name: &OsStr, create: Create) -> Result<(), Errno> {
    match create {
        Create::Dir => {
            nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))
        }
        Create::File => sysm::openat(
            Some(dir),
            Path::new(name),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
    }
}

/// The errno inside an I/O error (EIO when there is none).
pub(crate) fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("/a/./b//c/")), Path::new("/a/b/c"));
        assert_eq!(clean(Path::new("../../etc")), Path::new("/etc"));
        assert_eq!(clean(Path::new("/a/../../b")), Path::new("/b"));
        assert_eq!(clean(Path::new("dev/shm")), Path::new("/dev/shm"));
        assert_eq!(clean(Path::new("/")), Path::new("/"));
    }

    #[test]
    fn ensure_never_leaves_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../../../etc", r.join("rel")).unwrap();
        symlink("/missing/deep", r.join("dangling")).unwrap();
        let root = Root::open(r).unwrap();

        let fd = root
            .ensure(Path::new("/abs/berth-test-sub"), Create::Dir)
            .unwrap();
        assert_eq!(
            root.inner_path(fd.as_fd()).unwrap(),
            Path::new("/etc/berth-test-sub")
        );
        assert!(r.join("etc/berth-test-sub").is_dir());
        assert!(!Path::new("/etc/berth-test-sub").exists());

        let fd = root.ensure(Path::new("rel/file"), Create::File).unwrap();
        assert_eq!(root.inner_path(fd.as_fd()).unwrap(), Path::new("/etc/file"));
        assert!(r.join("etc/file").is_file());

        let fd = root.ensure(Path::new("/dangling"), Create::Dir).unwrap();
        assert_eq!(
            root.inner_path(fd.as_fd()).unwrap(),
            Path::new("/missing/deep")
        );
        assert!(r.join("missing/deep").is_dir());
    }

    #[test]
    fn symlink_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/b", dir.path().join("a")).unwrap();
        symlink("/a", dir.path().join("b")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(
            root.ensure(Path::new("/a/x"), Create::Dir).unwrap_err(),
            Errno::ELOOP
        );
    }
}
