//! The one error type of this crate: every variant names the step that failed and the field, path
//! or value involved.

use std::path::PathBuf;

use berth_oci::{Classify, ErrorClass};
use berth_sys::seccomp::InstallError;

/// Why a seccomp profile could not be compiled, cached or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of the profile has a value that cannot be used. `field` is the JSON path, e.g.
    /// `linux.seccomp.syscalls[3].action`.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// libseccomp refused a step of building the filter.
    #[error("{field}: libseccomp could not {step}: {source}")]
    Libseccomp {
        /// JSON path of the field that the step came from.
        field: String,
        /// What was being done, e.g. `add a rule for "clone"`.
        step: String,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// The BPF program could not be exported from libseccomp.
    #[error("cannot export the BPF program: {reason}")]
    Export {
        /// What went wrong.
        reason: String,
    },
    /// Bytes handed to [`crate::CompiledFilter::from_bytes`] are not a filter written by
    /// [`crate::CompiledFilter::to_bytes`].
    #[error("corrupt compiled seccomp filter: {reason}")]
    Corrupt {
        /// What check failed.
        reason: &'static str,
    },
    /// The cache directory or a cache entry could not be read or written.
    #[error("seccomp cache {path}: cannot {step}: {source}")]
    Cache {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The filter holds `SCMP_ACT_NOTIFY` rules: it must be installed with
    /// [`crate::CompiledFilter::install_with_listener`], whose fd goes to the seccomp agent.
    #[error("the seccomp filter uses SCMP_ACT_NOTIFY: install it with install_with_listener and hand the fd to linux.seccomp.listenerPath")]
    ListenerRequired,
    /// The notification fd could not be handed to the seccomp agent.
    #[error("seccomp agent {path}: cannot {step}: {source}")]
    Agent {
        /// `linux.seccomp.listenerPath`.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The system error.
        source: nix::errno::Errno,
    },
    /// The kernel refused the filter.
    #[error("cannot install the seccomp filter: {0}")]
    Install(#[from] InstallError),
}

impl SeccompError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SeccompError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Classify for SeccompError {
    fn class(&self) -> ErrorClass {
        match self {
            SeccompError::Invalid { .. } | SeccompError::Libseccomp { .. } => {
                ErrorClass::InvalidArgument
            }
            SeccompError::ListenerRequired => ErrorClass::FailedPrecondition,
            SeccompError::Export { .. } | SeccompError::Corrupt { .. } => ErrorClass::Internal,
            SeccompError::Cache { source, .. } => match source.raw_os_error() {
                Some(errno) => berth_oci::error::class_of_errno(errno),
                None => ErrorClass::Internal,
            },
            SeccompError::Agent { source, .. } => berth_oci::error::class_of_errno(*source as i32),
            SeccompError::Install(InstallError::Kernel { errno, .. }) => {
                berth_oci::error::class_of_errno(*errno as i32)
            }
            SeccompError::Install(InstallError::Tsync { .. }) => ErrorClass::FailedPrecondition,
            SeccompError::Install(_) => ErrorClass::InvalidArgument,
        }
    }
}
