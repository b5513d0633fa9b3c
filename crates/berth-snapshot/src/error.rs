//! Errors of the snapshotters: one variant per failing step, each naming the key or path.

use berth_oci::error::class_of_errno;
use berth_oci::{Classify, ErrorClass};
use std::io;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SnapshotError>;

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot has this key.
    #[error("snapshot {key:?} not found")]
    NotFound { key: String },
    /// A snapshot with this key exists already.
    #[error("snapshot {key:?} already exists")]
    AlreadyExists { key: String },
    /// The key is empty or contains characters the store refuses.
    #[error("invalid snapshot key {key:?}")]
    InvalidKey { key: String },
    /// The parent given to prepare/view is not a committed snapshot.
    #[error("parent {parent:?} is not a committed snapshot")]
    ParentNotCommitted { parent: String },
    /// `commit_with_parent` was asked of a snapshot prepared on a parent.
    #[error("snapshot {key:?} already has parent {parent:?}")]
    HasParent { key: String, parent: String },
    /// The driver cannot do what was asked.
    #[error("the {driver} snapshotter does not support {operation}")]
    Unsupported {
        driver: &'static str,
        operation: &'static str,
    },
    /// Commit was asked of a snapshot that is not active.
    #[error("snapshot {key:?} is not active (it is {kind})")]
    NotActive { key: String, kind: String },
    /// Remove was asked of a snapshot others stack on.
    #[error("snapshot {key:?} has {children} child snapshot(s)")]
    HasChildren { key: String, children: usize },
    /// The parent chain is too deep for one overlay mount, even with short relative paths.
    #[error("snapshot {key:?}: {depth} layers need {len} bytes of mount options (limit {limit})")]
    TooDeep {
        key: String,
        depth: usize,
        len: usize,
        limit: usize,
    },
    /// Creating a snapshot directory failed.
    #[error("create {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    /// Copying the parent's tree into a new snapshot failed.
    #[error("copy {path}: {source}")]
    Copy { path: PathBuf, source: io::Error },
    /// Removing a snapshot directory failed.
    #[error("remove {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },
    /// Opening or locking the store's lock file failed.
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    /// Reading the metadata file failed.
    #[error("read metadata {path}: {source}")]
    ReadMeta { path: PathBuf, source: io::Error },
    /// The metadata file is not valid JSON of the expected shape.
    #[error("parse metadata {path}: {source}")]
    ParseMeta {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Writing (temp, fsync, rename, fsync dir) the metadata file failed.
    #[error("write metadata {path}: {source}")]
    WriteMeta { path: PathBuf, source: io::Error },
}

fn io_class(e: &io::Error) -> ErrorClass {
    e.raw_os_error()
        .map(class_of_errno)
        .unwrap_or(ErrorClass::Internal)
}

impl Classify for SnapshotError {
    fn class(&self) -> ErrorClass {
        match self {
            SnapshotError::NotFound { .. } => ErrorClass::NotFound,
            SnapshotError::AlreadyExists { .. } => ErrorClass::AlreadyExists,
            SnapshotError::InvalidKey { .. } => ErrorClass::InvalidArgument,
            SnapshotError::ParentNotCommitted { .. }
            | SnapshotError::NotActive { .. }
            | SnapshotError::HasChildren { .. }
            | SnapshotError::HasParent { .. } => ErrorClass::Conflict,
            SnapshotError::Unsupported { .. } => ErrorClass::FailedPrecondition,
            SnapshotError::TooDeep { .. } => ErrorClass::FailedPrecondition,
            SnapshotError::ParseMeta { .. } => ErrorClass::Internal,
            SnapshotError::CreateDir { source, .. }
            | SnapshotError::Copy { source, .. }
            | SnapshotError::RemoveDir { source, .. }
            | SnapshotError::Lock { source, .. }
            | SnapshotError::ReadMeta { source, .. }
            | SnapshotError::WriteMeta { source, .. } => io_class(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let e = SnapshotError::NotFound { key: "k".into() };
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert!(e.to_string().contains("\"k\""));
        let e = SnapshotError::HasChildren {
            key: "k".into(),
            children: 2,
        };
        assert_eq!(e.class(), ErrorClass::Conflict);
        let e = SnapshotError::CreateDir {
            path: "/x".into(),
            source: io::Error::from_raw_os_error(28),
        };
        assert_eq!(e.class(), ErrorClass::Unavailable);
    }
}
