//! Errors of the registry client: one variant per failing step, naming the registry, repository,
//! reference or digest involved.

use berth_oci::{Classify, ErrorClass};

/// Result of registry client operations.
pub type Result<T, E = DistError> = std::result::Result<T, E>;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A name is not a valid reference.
    #[error(transparent)]
    Reference(#[from] berth_oci::ReferenceError),
    /// The connection failed (after retries).
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// The registry answered with an error status.
    #[error("{url}: {status} {code}: {message}")]
    Status {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Authentication failed.
    #[error("{registry}: unauthorized: {message}")]
    Unauthorized { registry: String, message: String },
    /// The manifest or tag does not exist.
    #[error("manifest for {reference} not found: manifest unknown: {message}")]
    ManifestUnknown { reference: String, message: String },
    /// The repository does not exist or access is denied.
    #[error("pull access denied for {repository}, repository does not exist or may require 'berth login': {message}")]
    Denied { repository: String, message: String },
    /// No manifest of an index matches the wanted platform.
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoPlatform { reference: String, platform: String },
    /// A document does not parse or has the wrong type.
    #[error("{what}: {message}")]
    BadDocument { what: String, message: String },
    /// Content does not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),
    /// The credentials file or a credential helper failed.
    #[error("credentials: {0}")]
    Credentials(String),
    /// A TLS or registry configuration file is invalid.
    #[error("configuration {path}: {message}")]
    Config { path: String, message: String },
    /// The registry does not offer an endpoint (search).
    #[error("{0}")]
    Unsupported(String),
    /// A user-supplied value is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// Reading a local file failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for DistError {
    fn class(&self) -> ErrorClass {
        match self {
            DistError::Reference(e) => e.class(),
            DistError::Transport { .. } => ErrorClass::Unavailable,
            DistError::Status { status, .. } => match status {
                401 | 403 => ErrorClass::PermissionDenied,
                404 => ErrorClass::NotFound,
                400..=499 => ErrorClass::InvalidArgument,
                _ => ErrorClass::Unavailable,
            },
            DistError::Unauthorized { .. } | DistError::Denied { .. } => {
                ErrorClass::PermissionDenied
            }
            DistError::ManifestUnknown { .. } | DistError::NoPlatform { .. } => {
                ErrorClass::NotFound
            }
            DistError::BadDocument { .. }
            | DistError::DigestMismatch { .. }
            | DistError::InvalidArgument(_)
            | DistError::Config { .. } => ErrorClass::InvalidArgument,
            DistError::Image(e) => e.class(),
            DistError::Meta(e) => e.class(),
            DistError::Credentials(_) => ErrorClass::FailedPrecondition,
            DistError::Unsupported(_) => ErrorClass::FailedPrecondition,
            DistError::Io { source, .. } => {
                berth_oci::error::class_of_errno(source.raw_os_error().unwrap_or(0))
            }
        }
    }
}
