//! Per-container operation locks: an exclusive `flock` on `<runroot>/locks/<id>.lock`.
//!
//! Every operation that changes a container (start, stop, kill, rm, rename, ...) holds its lock
//! for the whole operation, so two callers never interleave on one container, while operations
//! on other containers and readers (`ps`, `inspect`, which take no lock) go on. The lock is
//! released when the [`ContainerLock`] is dropped or its holder dies (flock semantics).
//!
//! The shim does not take this lock: it changes the state file only through
//! [`crate::state::update`], whose short lock is separate, so an operation holding this lock
//! can wait for the shim to record an exit.

use crate::error::{EngineError, Result};
use crate::paths::Paths;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

/// A held container lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ContainerLock {
    _lock: Flock<File>,
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
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::sys(format!("locking container {id}"))(e))?;
    Ok(ContainerLock { _lock: lock })
}

/// Takes container `id`'s lock if nobody holds it.
pub fn try_lock(paths: &Paths, id: &str) -> Result<Option<ContainerLock>> {
    let file = open(paths, id)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(ContainerLock { _lock: lock })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(EngineError::sys(format!("locking container {id}"))(e)),
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
}
