//! berth-registry: an OCI distribution-spec 1.1 registry server over berth-content.
//!
//! [`serve`] runs `berth registry serve`; [`Server`] is the same server with the bound address
//! exposed (tests, port 0); [`gc`] collects unreferenced blobs, safely while a server runs.
#![forbid(unsafe_code)]

mod auth;
mod body;
pub mod error;
pub mod gc;
pub mod names;
mod server;
pub mod storage;
mod tls;

pub use error::{ApiError, Code, RegistryError};
pub use gc::{gc, gc_with, GcOptions, GcReport};
pub use server::{Server, MAX_MANIFEST};

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

/// Runs the registry until the process is killed (blocking; builds its own tokio runtime).
pub fn serve(opts: ServeOptions) -> Result<(), RegistryError> {
    Server::bind(opts)?.run()
}
