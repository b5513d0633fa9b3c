//! Errors of the image store: one variant per failing step, each naming the image, entry or
//! digest involved.

use berth_oci::{Classify, Digest, ErrorClass};
use std::path::PathBuf;

/// Result of image store operations.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// What went wrong in an image operation.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the name or ID.
    #[error("No such image: {0}")]
    NotFound(String),
    /// A short ID matches several images.
    #[error("image ID prefix {prefix:?} is ambiguous: it matches {count} images")]
    Ambiguous { prefix: String, count: usize },
    /// A name is not a valid image reference.
    #[error(transparent)]
    Reference(#[from] berth_oci::ReferenceError),
    /// A removal or tag conflicts with the store's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A user-supplied value is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] berth_content::ContentError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),
    /// Unpacking or writing a layer failed.
    #[error("layer {layer}: {source}")]
    Layer {
        layer: String,
        #[source]
        source: berth_archive::ArchiveError,
    },
    /// Reading the input archive failed (truncated, corrupt, not a tar).
    #[error("reading the archive: {context}: {source}")]
    ArchiveRead {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The archive is well-formed tar but not a valid image archive.
    #[error("invalid image archive: {0}")]
    BadArchive(String),
    /// A manifest, index or config does not parse.
    #[error("{what}: {source}")]
    Manifest {
        what: String,
        #[source]
        source: crate::manifest::ManifestError,
    },
    /// Content does not have the digest it is named or referenced by.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Box<Digest>,
        actual: Box<Digest>,
    },
    /// A layer's diffID differs from the one its image config lists.
    #[error("layer {entry} (layer {index} of the image): its uncompressed digest is {actual} but the image config lists diffID {expected}")]
    DiffIdMismatch {
        entry: String,
        index: usize,
        expected: Box<Digest>,
        actual: Box<Digest>,
    },
    /// A manifest names a blob that is neither in the archive nor in the store.
    #[error("{what} names blob {digest}, which is not in the archive")]
    MissingBlob { what: String, digest: Digest },
    /// A filesystem operation on the store failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
    /// Writing an archive failed.
    #[error(transparent)]
    Save(Box<crate::save::SaveError>),
    /// Creating a built-in image failed.
    #[error(transparent)]
    Bootstrap(Box<crate::bootstrap::BootstrapError>),
}

impl ImageError {
    /// An `Io` error for `op` on `path`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io { op, path, source }
    }
}

impl From<crate::save::SaveError> for ImageError {
    fn from(e: crate::save::SaveError) -> Self {
        ImageError::Save(Box::new(e))
    }
}

impl From<crate::bootstrap::BootstrapError> for ImageError {
    fn from(e: crate::bootstrap::BootstrapError) -> Self {
        ImageError::Bootstrap(Box::new(e))
    }
}

impl Classify for ImageError {
    fn class(&self) -> ErrorClass {
        match self {
            ImageError::NotFound(_) => ErrorClass::NotFound,
            ImageError::Ambiguous { .. }
            | ImageError::Reference(_)
            | ImageError::InvalidArgument(_)
            | ImageError::ArchiveRead { .. }
            | ImageError::BadArchive(_)
            | ImageError::Manifest { .. }
            | ImageError::DigestMismatch { .. }
            | ImageError::DiffIdMismatch { .. }
            | ImageError::MissingBlob { .. } => ErrorClass::InvalidArgument,
            ImageError::Layer { source, .. } => source.class(),
            ImageError::Conflict(_) => ErrorClass::Conflict,
            ImageError::Content(e) => e.class(),
            ImageError::Snapshot(e) => e.class(),
            ImageError::Meta(e) => e.class(),
            ImageError::Io { source, .. } => {
                berth_oci::error::class_of_errno(source.raw_os_error().unwrap_or(0))
            }
            ImageError::Internal(_) => ErrorClass::Internal,
            ImageError::Save(e) => e.class(),
            ImageError::Bootstrap(e) => e.class(),
        }
    }
}
