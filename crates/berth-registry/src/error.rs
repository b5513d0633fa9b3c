//! Errors: [`RegistryError`] for starting and running the server (and GC), [`ApiError`] for the
//! distribution spec's error codes returned to clients.

use berth_oci::{Classify, ErrorClass};
use std::path::PathBuf;

/// Why the server (or a GC run) could not start or went wrong outside a single request.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The listen address does not parse or cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The storage root cannot be created or opened.
    #[error("cannot open the registry root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The content store under the root cannot be opened.
    #[error("cannot open the content store under {path}: {source}")]
    Content {
        path: PathBuf,
        #[source]
        source: Box<berth_content::ContentError>,
    },
    /// The htpasswd file cannot be read.
    #[error("cannot read htpasswd file {path}: {source}")]
    HtpasswdRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the htpasswd file is not `user:$2y$...` (bcrypt).
    #[error("htpasswd file {path}, line {line}: {reason}")]
    HtpasswdLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// Only one of --tls-cert / --tls-key was given.
    #[error("TLS needs both a certificate and a key (got only {given})")]
    TlsHalf { given: &'static str },
    /// The TLS certificate or key file cannot be read or parsed.
    #[error("cannot load TLS {what} from {path}: {reason}")]
    TlsLoad {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The TLS configuration was refused by rustls.
    #[error("invalid TLS configuration ({cert} / {key}): {reason}")]
    TlsConfig {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    /// The GC lock file cannot be opened or locked.
    #[error("cannot take the GC lock {path}: {source}")]
    GcLock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// GC could not read the repository metadata or the content store.
    #[error("garbage collection: cannot read {path}: {source}")]
    GcScan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// GC could not list or delete a blob.
    #[error("garbage collection: {0}")]
    GcContent(#[source] Box<berth_content::ContentError>),
    /// The accept loop failed.
    #[error("accepting connections on {addr}: {source}")]
    Accept {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for RegistryError {
    fn class(&self) -> ErrorClass {
        use RegistryError::*;
        match self {
            Bind { .. } | Accept { .. } => ErrorClass::Unavailable,
            HtpasswdLine { .. } | TlsHalf { .. } | TlsConfig { .. } => ErrorClass::InvalidArgument,
            HtpasswdRead { .. } | TlsLoad { .. } => ErrorClass::InvalidArgument,
            Root { .. } | Runtime(_) | GcLock { .. } | GcScan { .. } => ErrorClass::Internal,
            Content { source, .. } => source.class(),
            GcContent(e) => e.class(),
        }
    }
}

/// The distribution spec's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TagInvalid,
    RangeInvalid,
    Internal,
}

impl Code {
    /// The code as the spec spells it.
    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            BlobUnknown => "BLOB_UNKNOWN",
            BlobUploadInvalid | RangeInvalid => "BLOB_UPLOAD_INVALID",
            BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            DigestInvalid => "DIGEST_INVALID",
            ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ManifestInvalid => "MANIFEST_INVALID",
            ManifestUnknown => "MANIFEST_UNKNOWN",
            NameInvalid => "NAME_INVALID",
            NameUnknown => "NAME_UNKNOWN",
            SizeInvalid => "SIZE_INVALID",
            Unauthorized => "UNAUTHORIZED",
            Denied => "DENIED",
            Unsupported => "UNSUPPORTED",
            TagInvalid => "TAG_INVALID",
            Internal => "UNKNOWN",
        }
    }

    /// The HTTP status the code is returned with.
    pub fn status(self) -> u16 {
        use Code::*;
        match self {
            BlobUnknown | BlobUploadUnknown | ManifestUnknown | NameUnknown => 404,
            BlobUploadInvalid | DigestInvalid | ManifestBlobUnknown | ManifestInvalid
            | NameInvalid | SizeInvalid | TagInvalid => 400,
            RangeInvalid => 416,
            Unauthorized => 401,
            Denied => 403,
            Unsupported => 405,
            Internal => 500,
        }
    }
}

/// One error returned to a client: a code, a message and an optional detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The spec's code (decides the status unless `status` overrides it).
    pub code: Code,
    /// Human-readable message naming the value involved.
    pub message: String,
    /// HTTP status override (e.g. 413 for an oversized manifest).
    pub status: Option<u16>,
}

impl ApiError {
    /// An error with the code's default status.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = Some(status);
        self
    }

    /// An internal error (500) with the cause's text.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::Internal, what.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// The spec's JSON body `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> String {
        serde_json::json!({
            "errors": [{
                "code": self.code.as_str(),
                "message": self.message,
                "detail": serde_json::Value::Null,
            }]
        })
        .to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_spec_shape() {
        let e = ApiError::new(Code::DigestInvalid, "digest sha256:abc does not match");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
        assert_eq!(e.status(), 400);
        assert_eq!(e.with_status(413).status(), 413);
    }
}
