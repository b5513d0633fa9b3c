//! Per-container operation locks: an exclusive `flock` on `<runroot>/locks/<id>.lock`.
//!
//! Every operation that changes a container (start, stop, kill, rm, rename, ...) holds its lock
//! for the whole operation, so two callers never interleave on one container, while operations
//! on other containers and readers (`ps`, `inspect`, which take no lock) go on. The lock is
//! released when the [`ContainerLock`] is dropped or its holder dies (flock semantics).
//!
//! The shim does not take this lock: it changes the state file only through
//! [`crate::state::update`], whose short lock is separate, so an operation holding this lock
//! can wait for the shim to record an exit. A start hands its lock on to the container's shim
//! instead (a copy of the descriptor, [`ContainerLock::as_fd`]: a `flock` belongs to the open
//! file, and lasts until its last descriptor is closed), which closes it once the start is
//! recorded; a start whose caller dies half-way thus still holds off other operations until the
//! container shows as running.

use crate::error::{EngineError, Result};
use crate::paths::Paths;
use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// A held container lock; dropping it releases the lock, unless a copy of its descriptor lives
/// on in another process (see [`ContainerLock::as_fd`]). (Closed, not explicitly unlocked, for
/// that reason: an unlock would end the lock for every copy.)
#[derive(Debug)]
pub struct ContainerLock {
    file: File,
}

impl ContainerLock {
    /// The locked descriptor, to hand on: the lock stays held while any copy of it is open.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

fn open(paths: &Paths, id: &str) -> Result<File> {
    let path = paths.lock_file(id);
    let open = || {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
    };
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = paths.locks_dir();
            std::fs::create_dir_all(&dir).map_err(EngineError::io("creating", &dir))?;
            open().map_err(EngineError::io("opening lock", &path))
        }
        Err(e) => Err(EngineError::io("opening lock", &path)(e)),
    }
}

/// Takes container `id`'s lock, waiting for its current holder.
pub fn lock(paths: &Paths, id: &str) -> Result<ContainerLock> {
    let file = open(paths, id)?;
    loop {
        match flock(&file, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(ContainerLock { file }),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(lock_error(id, e)),
        }
    }
}

fn lock_error(id: &str, e: rustix::io::Errno) -> EngineError {
    EngineError::sys(format!("locking container {id}"))(nix::errno::Errno::from_raw(
        e.raw_os_error(),
    ))
}

/// Takes container `id`'s lock if nobody holds it.
pub fn try_lock(paths: &Paths, id: &str) -> Result<Option<ContainerLock>> {
    let file = open(paths, id)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(ContainerLock { file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(lock_error(id, e)),
    }
}

/// Deletes container `id`'s lock file (at removal, while holding the lock).
pub fn remove_lock_file(paths: &Paths, id: &str) {
    let _ = std::fs::remove_file(paths.lock_file(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_excludes_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let held = lock(&paths, "c1").unwrap();
        assert!(try_lock(&paths, "c1").unwrap().is_none());
        assert!(try_lock(&paths, "c2").unwrap().is_some());
        drop(held);
        assert!(try_lock(&paths, "c1").unwrap().is_some());
    }

    /// A copy of the locked descriptor keeps the lock after the first holder lets go.
    #[test]
    fn a_handed_on_copy_keeps_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let held = lock(&paths, "c1").unwrap();
        let copy = held.as_fd().try_clone_to_owned().unwrap();
        drop(held);
        assert!(try_lock(&paths, "c1").unwrap().is_none());
        drop(copy);
        assert!(try_lock(&paths, "c1").unwrap().is_some());
    }
}
