//! berth-registry: an OCI distribution-spec 1.1 registry server over berth-content.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// How `berth registry serve` runs the server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Address to listen on, e.g. `127.0.0.1:5000` or `0.0.0.0:5000`.
    pub addr: String,
    /// Storage root (content store + per-repository metadata).
    pub root: PathBuf,
    /// htpasswd file with bcrypt entries; `None` = anonymous access.
    pub htpasswd: Option<PathBuf>,
    /// PEM certificate chain; TLS is on when both `tls_cert` and `tls_key` are given.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Run garbage collection every this many seconds inside the server (`None` = never).
    pub gc_interval: Option<std::time::Duration>,
}

/// Errors of the registry server.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Not implemented yet.
    #[error("registry server not implemented yet")]
    Unimplemented,
}

/// Runs the registry until the process is killed (blocking; builds its own tokio runtime).
pub fn serve(opts: ServeOptions) -> Result<(), RegistryError> {
    let _ = opts;
    Err(RegistryError::Unimplemented)
}
