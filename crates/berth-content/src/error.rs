//! The errors of the content store: one variant per failing step, each naming the digest, ref or path.

use berth_oci::error::class_of_errno;
use berth_oci::{Classify, Digest, ErrorClass};
use std::io;
use std::path::PathBuf;

/// Result alias for the content store.
pub type Result<T, E = ContentError> = std::result::Result<T, E>;

/// Why a content-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A directory of the store layout could not be created or synced.
    #[error("creating store directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    /// No blob with this digest is stored.
    #[error("blob {digest} not found (looked at {path})")]
    NotFound { digest: Digest, path: PathBuf },
    /// `stat` of a blob failed for another reason than absence.
    #[error("stat of blob {digest} at {path}: {source}")]
    Stat {
        digest: Digest,
        path: PathBuf,
        source: io::Error,
    },
    /// Opening a blob for reading failed.
    #[error("opening blob {digest} at {path}: {source}")]
    Open {
        digest: Digest,
        path: PathBuf,
        source: io::Error,
    },
    /// Removing a blob failed.
    #[error("deleting blob {digest} at {path}: {source}")]
    Delete {
        digest: Digest,
        path: PathBuf,
        source: io::Error,
    },
    /// Reading a directory of the store failed.
    #[error("listing {path}: {source}")]
    List { path: PathBuf, source: io::Error },
    /// The ref is not usable as an ingest name.
    #[error("invalid ingest ref {reference:?}: must be non-empty and at most 4096 bytes")]
    InvalidRef { reference: String },
    /// Only sha256 blobs can be written.
    #[error("ingest {reference:?}: expected digest {digest} uses an algorithm that cannot be written (only sha256)")]
    UnsupportedAlgorithm { reference: String, digest: Digest },
    /// Creating or opening a file of the ingest failed.
    #[error("ingest {reference:?}: opening {path}: {source}")]
    IngestOpen {
        reference: String,
        path: PathBuf,
        source: io::Error,
    },
    /// Another writer holds the ingest.
    #[error("ingest {reference:?} is being written by another writer (lock {path} is held)")]
    Locked { reference: String, path: PathBuf },
    /// `flock` failed for another reason than contention.
    #[error("ingest {reference:?}: locking {path}: {source}")]
    Lock {
        reference: String,
        path: PathBuf,
        source: nix::Error,
    },
    /// Re-hashing the partial data of a resumed ingest failed.
    #[error("ingest {reference:?}: re-hashing partial data {path}: {source}")]
    Rehash {
        reference: String,
        path: PathBuf,
        source: io::Error,
    },
    /// The sidecar with the expected digest and size could not be read or written.
    #[error("ingest {reference:?}: expected-digest file {path}: {source}")]
    Sidecar {
        reference: String,
        path: PathBuf,
        source: io::Error,
    },
    /// The sidecar holds something that is not `<digest> <size>`.
    #[error("ingest {reference:?}: expected-digest file {path} is malformed: {content:?}")]
    SidecarMalformed {
        reference: String,
        path: PathBuf,
        content: String,
    },
    /// A resumed ingest was started with other expectations than the ones given now.
    /// (`existing` and `requested` read `<digest> (<size> bytes)`.)
    #[error(
        "ingest {reference:?} was started expecting {existing}, not {requested}; abort it first"
    )]
    ExpectedConflict {
        reference: String,
        existing: String,
        requested: String,
    },
    /// The writer hit an I/O error earlier; its hash no longer matches the file.
    #[error("ingest {reference:?}: the writer failed earlier and cannot be committed; reopen it to resume")]
    Poisoned { reference: String },
    /// Flushing or syncing the ingest data failed.
    #[error("ingest {reference:?}: syncing {path}: {source}")]
    Sync {
        reference: String,
        path: PathBuf,
        source: io::Error,
    },
    /// Fewer or more bytes were written than expected.
    #[error("ingest {reference:?}: size mismatch for {expected_digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        reference: String,
        expected_digest: Digest,
        expected: u64,
        actual: u64,
    },
    /// The written bytes hash to another digest than expected.
    #[error("ingest {reference:?}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    /// Moving the verified data into `blobs/` failed.
    #[error("ingest {reference:?}: renaming {from} to {to}: {source}")]
    Rename {
        reference: String,
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    /// Removing the files of an ingest failed.
    #[error("ingest {reference:?}: removing {path}: {source}")]
    Cleanup {
        reference: String,
        path: PathBuf,
        source: io::Error,
    },
    /// `abort` of an ingest that does not exist.
    #[error("ingest {reference:?} not found")]
    IngestNotFound { reference: String },
}

fn io_class(e: &io::Error) -> ErrorClass {
    e.raw_os_error()
        .map_or(ErrorClass::Internal, class_of_errno)
}

impl Classify for ContentError {
    fn class(&self) -> ErrorClass {
        use ContentError::*;
        match self {
            NotFound { .. } | IngestNotFound { .. } => ErrorClass::NotFound,
            InvalidRef { .. } | UnsupportedAlgorithm { .. } => ErrorClass::InvalidArgument,
            Locked { .. } => ErrorClass::Unavailable,
            ExpectedConflict { .. } | Poisoned { .. } => ErrorClass::Conflict,
            SizeMismatch { .. } | DigestMismatch { .. } => ErrorClass::FailedPrecondition,
            SidecarMalformed { .. } => ErrorClass::Internal,
            Lock { source, .. } => class_of_errno(*source as i32),
            CreateDir { source, .. }
            | Stat { source, .. }
            | Open { source, .. }
            | Delete { source, .. }
            | List { source, .. }
            | IngestOpen { source, .. }
            | Rehash { source, .. }
            | Sidecar { source, .. }
            | Sync { source, .. }
            | Rename { source, .. }
            | Cleanup { source, .. } => io_class(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let d = Digest::sha256_of(b"x");
        let e = ContentError::NotFound {
            digest: d.clone(),
            path: "/x".into(),
        };
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert!(e.to_string().contains(&d.to_string()));
        let e = ContentError::Locked {
            reference: "r".into(),
            path: "/l".into(),
        };
        assert_eq!(e.class(), ErrorClass::Unavailable);
        let e = ContentError::Sync {
            reference: "r".into(),
            path: "/p".into(),
            source: io::Error::from_raw_os_error(28),
        };
        assert_eq!(e.class(), ErrorClass::Unavailable);
    }
}
