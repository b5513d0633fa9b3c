//! Moving a process into its cgroup from inside: the cheap way on cgroup v1.
//!
//! Writing a pid to `cgroup.procs` (or `tasks`) makes the kernel take its global
//! threadgroup lock for writing, and entering that lock waits for an RCU grace period: several
//! milliseconds per container start, more on a busy host. A thread that moves *itself* through a
//! v1 `tasks` file by writing `0` needs no such lock (the kernel knows the thread cannot exit or
//! exec under it), so the same move costs microseconds. A process with a single thread (the
//! container's init, right after the clone) moves as a whole this way.
//!
//! The parent opens the files (so paths resolve on the host, and a child in a user namespace
//! needs no right to them) and hands them to the child — by inheritance, or over a socket with
//! [`SelfJoin::into_parts`] and [`SelfJoin::from_parts`] — which calls [`SelfJoin::join`].

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::CgroupError;

/// Open `tasks` files of a cgroup, one per v1 hierarchy (close-on-exec).
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<(PathBuf, File)>,
}

impl SelfJoin {
    /// Opens `<dir>/tasks` for writing in every directory.
    pub(crate) fn open<'a>(
        dirs: impl IntoIterator<Item = &'a std::path::Path>,
    ) -> Result<SelfJoin, CgroupError> {
        let files = dirs
            .into_iter()
            .map(|dir| {
                let path = dir.join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(|f| (path.clone(), f))
                    .map_err(|source| CgroupError::Write {
                        path,
                        value: "0".into(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(SelfJoin { files })
    }

    /// The paths and open files, to send to the child over a socket.
    pub fn into_parts(self) -> Vec<(PathBuf, File)> {
        self.files
    }

    /// Rebuilds what [`SelfJoin::into_parts`] gave, on the receiving side.
    pub fn from_parts(files: Vec<(PathBuf, File)>) -> SelfJoin {
        SelfJoin { files }
    }

    /// Moves the calling thread into every hierarchy's cgroup. Call it only from a
    /// single-threaded process: other threads would stay where they are.
    pub fn join(&self) -> Result<(), CgroupError> {
        for (path, file) in &self.files {
            (&*file)
                .write_all(b"0")
                .map_err(|source| CgroupError::Write {
                    path: path.clone(),
                    value: "0".into(),
                    source,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_zero_to_each_tasks_file() {
        let root = tempfile::tempdir().unwrap();
        let dirs: Vec<_> = ["a", "b"].iter().map(|d| root.path().join(d)).collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("tasks"), "").unwrap();
        }
        let j = SelfJoin::open(dirs.iter().map(|d| d.as_path())).unwrap();
        j.join().unwrap();
        for d in &dirs {
            assert_eq!(std::fs::read_to_string(d.join("tasks")).unwrap(), "0");
        }
        let missing = root.path().join("missing");
        let err = SelfJoin::open([missing.as_path()]).unwrap_err();
        assert!(err.to_string().contains("missing/tasks"), "{err}");
    }
}
