//! The errors of the metadata store: one variant per failing step, each naming the id, tag or
//! path involved.

use berth_oci::{Classify, ErrorClass};
use std::path::PathBuf;

/// Result alias for the metadata store.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The database file could not be opened or created.
    #[error("opening metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A connection setting (`PRAGMA`) could not be applied.
    #[error("metadata database {path}: setting {pragma}: {source}")]
    Pragma {
        path: PathBuf,
        pragma: &'static str,
        source: rusqlite::Error,
    },
    /// The journal mode could not be switched to WAL.
    #[error("metadata database {path}: journal mode is {mode:?}, WAL could not be enabled")]
    NotWal { path: PathBuf, mode: String },
    /// The database was written by a newer Berth.
    #[error(
        "metadata database {path} has schema version {found}, newer than the {known} this Berth \
         knows: use a newer berth or another --root"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    /// A schema migration step failed (it was rolled back).
    #[error("metadata database {path}: migrating to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: u32,
        source: rusqlite::Error,
    },
    /// A query or statement failed; `op` says what was being done and to which object.
    #[error("metadata: {op}: {source}")]
    Sql { op: String, source: rusqlite::Error },
    /// A stored value cannot be decoded (a digest, JSON text): the database was edited or damaged.
    #[error("metadata: {what} holds an invalid value {value:?}: {reason}")]
    Corrupt {
        what: String,
        value: String,
        reason: String,
    },
    /// A value could not be encoded as JSON for storage.
    #[error("metadata: encoding {what} as JSON: {source}")]
    Encode {
        what: String,
        source: serde_json::Error,
    },
    /// No image with this ID.
    #[error("image {id} not found")]
    ImageNotFound { id: String },
    /// No such tag.
    #[error("tag {name:?} not found")]
    TagNotFound { name: String },
    /// No layer with this chain ID.
    #[error("layer {chain_id} not found")]
    LayerNotFound { chain_id: String },
    /// No container reference with this ID.
    #[error("container {id:?} not found")]
    ContainerNotFound { id: String },
    /// Another container already has the name.
    #[error("container name {name:?} is already used by container {other:?}")]
    ContainerNameInUse { name: String, other: String },
    /// An ID prefix is not lowercase hex (optionally after `sha256:`).
    #[error("invalid image ID prefix {prefix:?}: expected hex digits")]
    InvalidPrefix { prefix: String },
    /// An ID prefix matches several images.
    #[error("image ID prefix {prefix:?} is ambiguous: it matches {count} images")]
    AmbiguousPrefix { prefix: String, count: usize },
    /// The identity of a process (start time in `/proc/<pid>/stat`) could not be read.
    #[error("reading the identity of process {pid} from {path}: {reason}")]
    ProcessIdentity {
        pid: i32,
        path: PathBuf,
        reason: String,
    },
    /// The lease row disappeared (it was judged stale and removed).
    #[error("lease {id} ({purpose}) no longer exists in the metadata database")]
    LeaseGone { id: i64, purpose: String },
    /// A resource stayed claimed by a running garbage collection for too long.
    #[error("{kind} {name} is being removed by garbage collection (pid {pid}); gave up waiting")]
    BeingCollected {
        kind: &'static str,
        name: String,
        pid: i32,
    },
    /// The content store failed during garbage collection.
    #[error("garbage collection: {op}: {source}")]
    Content {
        op: String,
        source: Box<berth_content::ContentError>,
    },
    /// The snapshotter failed during garbage collection.
    #[error("garbage collection: {op}: {source}")]
    Snapshot {
        op: String,
        source: Box<berth_snapshot::SnapshotError>,
    },
}

impl MetaError {
    /// A [`MetaError::Sql`] for `op`.
    pub(crate) fn sql(op: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> MetaError {
        let op = op.into();
        move |source| MetaError::Sql { op, source }
    }
}

/// The class of an SQLite failure: busy/locked is retryable, constraint violations conflict.
fn sqlite_class(e: &rusqlite::Error) -> ErrorClass {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ErrorClass::Unavailable,
        Some(ErrorCode::ConstraintViolation) => ErrorClass::Conflict,
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => ErrorClass::PermissionDenied,
        Some(ErrorCode::DiskFull | ErrorCode::OutOfMemory) => ErrorClass::Unavailable,
        Some(ErrorCode::CannotOpen) => ErrorClass::FailedPrecondition,
        _ => ErrorClass::Internal,
    }
}

impl Classify for MetaError {
    fn class(&self) -> ErrorClass {
        use MetaError::*;
        match self {
            ImageNotFound { .. }
            | TagNotFound { .. }
            | LayerNotFound { .. }
            | ContainerNotFound { .. } => ErrorClass::NotFound,
            ContainerNameInUse { .. } => ErrorClass::AlreadyExists,
            InvalidPrefix { .. } | AmbiguousPrefix { .. } => ErrorClass::InvalidArgument,
            NewerSchema { .. } | NotWal { .. } => ErrorClass::FailedPrecondition,
            LeaseGone { .. } => ErrorClass::Conflict,
            BeingCollected { .. } => ErrorClass::Unavailable,
            Corrupt { .. } | Encode { .. } | ProcessIdentity { .. } => ErrorClass::Internal,
            Open { source, .. }
            | Pragma { source, .. }
            | Migrate { source, .. }
            | Sql { source, .. } => sqlite_class(source),
            Content { source, .. } => source.class(),
            Snapshot { source, .. } => source.class(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_messages() {
        let e = MetaError::ImageNotFound {
            id: "sha256:abc".into(),
        };
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert!(e.to_string().contains("sha256:abc"));
        let e = MetaError::TagNotFound {
            name: "docker.io/library/busybox:latest".into(),
        };
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert!(e.to_string().contains("busybox:latest"));
        let e = MetaError::AmbiguousPrefix {
            prefix: "ab".into(),
            count: 2,
        };
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        let e = MetaError::NewerSchema {
            path: "/x/berth.db".into(),
            found: 9,
            known: 1,
        };
        assert_eq!(e.class(), ErrorClass::FailedPrecondition);
        assert!(e.to_string().contains("/x/berth.db"));
    }
}
