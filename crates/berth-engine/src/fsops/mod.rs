//! File operations on a container's filesystem: `diff` (what changed against the image), `export`
//! (the whole filesystem as a tar), `cp` in both directions. Paths inside the container are
//! resolved inside its rootfs ([`crate::spec::rootfs::resolve`]) and extraction goes through
//! berth-archive's `openat2(RESOLVE_IN_ROOT)` walk, so no path ever leaves the rootfs.
//! Volumes mounted into a running container are not visible here (docker copies through them).

pub mod copy;
pub mod diff;
mod engine_ops;

pub use copy::{copy_from_container, copy_into_container, export, PathStat};
pub use diff::{changes, ChangeKind};

use berth_oci::{Classify, ErrorClass};
use std::path::PathBuf;

/// Failures of the file operations.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("Could not find the file {0} in container: No such file or directory")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Archive(#[from] berth_archive::ArchiveError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Engine(#[from] crate::error::EngineError),
}

impl Classify for FsError {
    fn class(&self) -> ErrorClass {
        match self {
            FsError::NotFound(_) => ErrorClass::NotFound,
            FsError::Invalid(_) => ErrorClass::InvalidArgument,
            FsError::Archive(_) => ErrorClass::InvalidArgument,
            FsError::Spec(e) => e.class(),
            FsError::Engine(e) => e.class(),
            FsError::Io { .. } => ErrorClass::Internal,
        }
    }
}

pub(crate) fn io_err(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_path_buf();
    move |source| FsError::Io { op, path, source }
}
