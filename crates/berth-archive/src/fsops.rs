//! Descriptor-relative file operations inside an extraction root: no path ever leaves the root,
//! and the last component of an entry is never followed.

use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Resolution used for every lookup below the root: symlinks resolve as if the root were `/`,
/// magic links (`/proc/self/...`) are refused.
const IN_ROOT: ResolveFlag = ResolveFlag::RESOLVE_IN_ROOT.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// The extraction root with a cache of the last parent directory opened (layers list entries of
/// one directory together, so most entries reuse it).
pub(crate) struct Root {
    fd: Rc<OwnedFd>,
    cached: Option<(PathBuf, Rc<OwnedFd>)>,
}

impl Root {
    pub(crate) fn new(fd: OwnedFd) -> Root {
        Root {
            fd: Rc::new(fd),
            cached: None,
        }
    }

    /// The root directory's descriptor.
    pub(crate) fn fd(&self) -> Rc<OwnedFd> {
        self.fd.clone()
    }

    /// Forgets the cached parent after something was removed (it may be gone).
    pub(crate) fn invalidate(&mut self) {
        self.cached = None;
    }

    /// Opens directory `rel` (relative, normalised) inside the root, creating missing components
    /// (mode 0755) when `create` is set. Symlinks met on the way resolve inside the root.
    pub(crate) fn dir(&mut self, rel: &Path, create: bool) -> Result<Rc<OwnedFd>, Errno> {
        if rel.as_os_str().is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some((p, fd)) = &self.cached {
            if p == rel {
                return Ok(fd.clone());
            }
        }
        let fd = Rc::new(match open_dir_in(self.fd.as_fd(), rel) {
            Err(Errno::ENOENT) if create => self.create_dirs(rel)?,
            other => other?,
        });
        self.cached = Some((rel.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    /// Opens an existing directory `rel` inside the root, uncached.
    pub(crate) fn open_existing(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        if rel.as_os_str().is_empty() {
            return self.fd.try_clone().map_err(|e| errno_of(&e));
        }
        open_dir_in(self.fd.as_fd(), rel)
    }

    fn create_dirs(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let mut cur = self.fd.try_clone().map_err(|e| errno_of(&e))?;
        let mut prefix = PathBuf::with_capacity(rel.as_os_str().len());
        for part in rel.iter() {
            prefix.push(part);
            cur = match open_dir_in(self.fd.as_fd(), &prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    match nix::sys::stat::mkdirat(
                        Some(cur.as_raw_fd()),
                        part,
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                    berth_sys::mount::openat(
                        Some(cur.as_fd()),
                        Path::new(part),
                        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                        Mode::empty(),
                    )?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }
}

fn open_dir_in(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    berth_sys::mount::openat2(
        root,
        rel,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Mode::empty(),
        IN_ROOT,
    )
}

/// The errno of an I/O error (EIO when it has none).
pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32))
}

/// Converts a rustix errno.
pub(crate) fn errno_of_rustix(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

/// Whether `name` in `dir` is a directory (not following a symlink); `None` if absent.
pub(crate) fn is_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<bool>, Errno> {
    match fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
        )),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `name` in `dir`, recursively if it is a directory. Absent is fine.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) | Err(Errno::EPERM) => {}
        Err(e) => return Err(e),
    }
    let sub = berth_sys::mount::openat(
        Some(dir),
        Path::new(name),
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    empty_dir(sub.as_fd(), |_| false)?;
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes every child of `dir` for which `keep` is false.
pub(crate) fn empty_dir(dir: BorrowedFd<'_>, keep: impl Fn(&OsStr) -> bool) -> Result<(), Errno> {
    let mut names: Vec<OsString> = Vec::new();
    {
        let mut d = nix::dir::Dir::openat(
            Some(dir.as_raw_fd()),
            ".",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        for ent in d.iter() {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name);
            if !keep(name) {
                names.push(name.to_owned());
            }
        }
    }
    for n in &names {
        remove_at(dir, n)?;
    }
    Ok(())
}
