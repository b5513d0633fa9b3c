//! The errors of this crate: one variant per failing step, each naming the path or value involved.

use std::io;
use std::path::PathBuf;

use berth_oci::{error::class_of_errno, Classify, ErrorClass};

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `/proc/self/mountinfo` (or `/proc/self/cgroup`) could not be read.
    #[error("cannot read {path}: {source}")]
    ReadProc {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No cgroup filesystem is mounted (or the injected root holds none).
    #[error("no cgroup filesystem found ({0})")]
    NoCgroupFs(String),
    /// `linux.cgroupsPath` is malformed.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A cgroup directory could not be created.
    #[error("cannot create cgroup directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A cgroup control file could not be written.
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        /// The control file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The cause.
        source: io::Error,
    },
    /// A cgroup control file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The control file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A cgroup control file held something we could not parse.
    #[error("cannot parse {path}: unexpected {value:?}")]
    Parse {
        /// The control file.
        path: PathBuf,
        /// The offending text.
        value: String,
    },
    /// The spec asks for a limit whose controller is not available.
    #[error("the spec sets {what}, but the {controller} cgroup controller is not available")]
    ControllerMissing {
        /// The controller, e.g. `hugetlb`.
        controller: &'static str,
        /// The spec field that needs it.
        what: &'static str,
    },
    /// The spec asks for something this cgroup version cannot do.
    #[error("{what} is not supported on cgroup {version}")]
    Unsupported {
        /// The spec field.
        what: &'static str,
        /// "v1" or "v2".
        version: &'static str,
    },
    /// A resource value is out of range or inconsistent.
    #[error("invalid resource {what}: {reason}")]
    InvalidResource {
        /// The spec field.
        what: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Opening the cgroup directory for the BPF attach failed.
    #[error("cannot open cgroup directory {path}: {source}")]
    OpenDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Loading or attaching the v2 device program failed.
    #[error("device filter for {path}: {source}")]
    DeviceProgram {
        /// The cgroup directory.
        path: PathBuf,
        /// The cause.
        source: berth_sys::bpf::BpfError,
    },
    /// The freezer did not reach the wanted state in time.
    #[error("timed out waiting for {path} to become {state}")]
    FreezeTimeout {
        /// The freezer file watched.
        path: PathBuf,
        /// The state waited for.
        state: &'static str,
    },
    /// Signalling a process of the cgroup failed.
    #[error("cannot send signal {signal} to pid {pid}: {source}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The cause.
        source: nix::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("cannot remove cgroup directory {path}: {source}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl Classify for CgroupError {
    fn class(&self) -> ErrorClass {
        let io_class = |e: &io::Error| {
            e.raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno)
        };
        match self {
            CgroupError::ReadProc { source, .. } => io_class(source),
            CgroupError::NoCgroupFs(_) => ErrorClass::FailedPrecondition,
            CgroupError::InvalidPath { .. } => ErrorClass::InvalidArgument,
            CgroupError::Create { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::Remove { source, .. } => io_class(source),
            CgroupError::Parse { .. } => ErrorClass::Internal,
            CgroupError::ControllerMissing { .. } | CgroupError::Unsupported { .. } => {
                ErrorClass::FailedPrecondition
            }
            CgroupError::InvalidResource { .. } => ErrorClass::InvalidArgument,
            CgroupError::OpenDir { source, .. } => io_class(source),
            CgroupError::DeviceProgram { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno),
            CgroupError::FreezeTimeout { .. } => ErrorClass::Unavailable,
            CgroupError::Signal { source, .. } => class_of_errno(*source as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let e = CgroupError::ControllerMissing {
            controller: "hugetlb",
            what: "hugepageLimits",
        };
        assert_eq!(e.class(), ErrorClass::FailedPrecondition);
        assert!(e.to_string().contains("hugetlb"));
        let e = CgroupError::Write {
            path: "/x/memory.max".into(),
            value: "1".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
    }
}
