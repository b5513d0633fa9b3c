//! The errors of the container lifecycle operations.

use berth_oci::{Classify, ErrorClass};
use std::path::PathBuf;

/// A failed lifecycle operation. Messages name the container id, path or value involved.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container id {0:?} is invalid: use letters, digits, '_', '+', '-' and '.', not starting with '.'")]
    InvalidId(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error("container {id:?} is {status}, but {op} needs it {needed}")]
    WrongState {
        id: String,
        status: &'static str,
        op: &'static str,
        needed: &'static str,
    },
    #[error("bundle {0}: no such directory")]
    BundleMissing(PathBuf),
    #[error("rootfs {0}: no such directory")]
    RootfsMissing(PathBuf),
    #[error(transparent)]
    Spec(#[from] berth_oci::spec::SpecError),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] berth_seccomp::SeccompError),
    #[error("{step}: {errno}")]
    Sys {
        step: String,
        errno: nix::errno::Errno,
    },
    #[error(transparent)]
    Process(#[from] berth_sys::process::ProcessError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error("container init failed: {0}")]
    Init(String),
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
}

impl RuntimeError {
    /// A system-call failure at the named step.
    pub fn sys(step: impl Into<String>, errno: nix::errno::Errno) -> Self {
        RuntimeError::Sys {
            step: step.into(),
            errno,
        }
    }

    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }
}

impl Classify for RuntimeError {
    fn class(&self) -> ErrorClass {
        match self {
            RuntimeError::InvalidId(_)
            | RuntimeError::InvalidArgument(_)
            | RuntimeError::UnknownSignal(_) => ErrorClass::InvalidArgument,
            RuntimeError::NotFound(_)
            | RuntimeError::BundleMissing(_)
            | RuntimeError::RootfsMissing(_) => ErrorClass::NotFound,
            RuntimeError::AlreadyExists(_) => ErrorClass::AlreadyExists,
            RuntimeError::WrongState { .. } => ErrorClass::Conflict,
            RuntimeError::Spec(e) => e.class(),
            RuntimeError::Cgroup(e) => e.class(),
            RuntimeError::Seccomp(e) => e.class(),
            RuntimeError::Sys { errno, .. } => berth_oci::error::class_of_errno(*errno as i32),
            RuntimeError::Io { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, berth_oci::error::class_of_errno),
            RuntimeError::Rootfs(e) => e.class(),
            RuntimeError::Security(e) => e.class(),
            RuntimeError::Hook(_) | RuntimeError::Init(_) | RuntimeError::Console(_) => {
                ErrorClass::FailedPrecondition
            }
            RuntimeError::CorruptState { .. } | RuntimeError::Process(_) => ErrorClass::Internal,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
