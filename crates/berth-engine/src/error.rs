//! The engine's errors: one variant per failing step, docker's text where docker has one, and a
//! class ([`berth_oci::ErrorClass`]) the CLI turns into an exit code and the API into a status.

use berth_oci::{Classify, ErrorClass};
use std::path::PathBuf;

/// Any engine failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No container has that ID, name or ID prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// An ID prefix matches several containers.
    #[error("multiple IDs found with provided prefix: {0}")]
    AmbiguousContainer(String),
    /// The image to create from does not exist.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// Another container has the name.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    /// A container name with characters docker does not allow.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// `rm` without `-f` of a running container.
    #[error(
        "You cannot remove a running container {0}. Stop the container before attempting \
         removal or force remove"
    )]
    RemoveRunning(String),
    /// `rm` without `-f` of a paused container.
    #[error(
        "You cannot remove a paused container {0}. Unpause and then stop the container before \
         attempting removal or force remove"
    )]
    RemovePaused(String),
    /// The operation needs a running container.
    #[error("Container {0} is not running")]
    NotRunning(String),
    /// `pause` of a paused container.
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    /// `unpause` of a container that is not paused.
    #[error("Container {0} is not paused")]
    NotPaused(String),
    /// `exec` or `kill` of a paused container.
    #[error("Container {0} is paused, unpause the container before exec")]
    Paused(String),
    /// `start` of a container being removed or dead.
    #[error("container {id} is marked for removal and cannot be started")]
    BeingRemoved { id: String },
    /// `rename` to the same name.
    #[error("Renaming a container with the same name as its current name")]
    SameName,
    /// A bad argument (signal name, option value...).
    #[error("{0}")]
    Invalid(String),
    /// Building the container's spec or mounts failed.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// A volume operation failed.
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// The metadata database failed.
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),
    /// The snapshotter failed on the container's writable layer.
    #[error("snapshot {key}: {source}")]
    Snapshot {
        key: String,
        source: berth_snapshot::SnapshotError,
    },
    /// The runtime failed.
    #[error("{op} {id}: {source}")]
    Runtime {
        op: &'static str,
        id: String,
        source: Box<berth_runtime::RuntimeError>,
    },
    /// Reading logs failed.
    #[error(transparent)]
    Log(#[from] crate::logfile::LogError),
    /// The container did not start; the text is the shim's ([`EngineError::exit_code`] gives
    /// docker's exit code for it: 127 command not found, 126 cannot be invoked, else 125).
    #[error("{0}")]
    Shim(String),
    /// Spawning or talking to the shim failed.
    #[error(transparent)]
    ShimProto(#[from] crate::shim_proto::ShimError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        op: String,
        source: nix::errno::Errno,
    },
    /// A stored record or state file does not parse.
    #[error("{what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
    /// Waiting for something took too long.
    #[error("timed out {0}")]
    Timeout(String),
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// An `Io` error maker for `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }

    /// A `Sys` error maker for `map_err`.
    pub(crate) fn sys(op: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> EngineError {
        let op = op.into();
        move |source| EngineError::Sys { op, source }
    }

    /// A `Runtime` error maker for `map_err`.
    #[allow(dead_code)] // used as the lifecycle lands
    pub(crate) fn runtime(
        op: &'static str,
        id: &str,
    ) -> impl FnOnce(berth_runtime::RuntimeError) -> EngineError {
        let id = id.to_string();
        move |source| EngineError::Runtime {
            op,
            id,
            source: Box::new(source),
        }
    }
}

impl EngineError {
    /// The exit status docker's CLI gives for this error in `run`/`start`: 126 or 127 when the
    /// container's command could not be run, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Shim(msg) => crate::shim_proto::start_error_code(msg),
            _ => 125,
        }
    }
}

impl Classify for EngineError {
    fn class(&self) -> ErrorClass {
        use EngineError::*;
        match self {
            NoSuchContainer(_) | NoSuchImage(_) => ErrorClass::NotFound,
            AmbiguousContainer(_) | InvalidName(_) | Invalid(_) | SameName => {
                ErrorClass::InvalidArgument
            }
            NameInUse { .. } => ErrorClass::Conflict,
            RemoveRunning(_)
            | RemovePaused(_)
            | NotRunning(_)
            | AlreadyPaused(_)
            | NotPaused(_)
            | Paused(_)
            | BeingRemoved { .. } => ErrorClass::Conflict,
            Spec(e) => e.class(),
            Volume(e) => e.class(),
            Image(e) => e.class(),
            Meta(e) => e.class(),
            Snapshot { source, .. } => source.class(),
            Runtime { source, .. } => source.class(),
            Log(
                crate::logfile::LogError::UnknownOpt(_) | crate::logfile::LogError::BadOpt { .. },
            ) => ErrorClass::InvalidArgument,
            Log(_) => ErrorClass::Internal,
            Shim(msg) => match crate::shim_proto::start_error_code(msg) {
                127 => ErrorClass::NotFound,
                126 => ErrorClass::PermissionDenied,
                _ => ErrorClass::FailedPrecondition,
            },
            ShimProto(e) => e.class(),
            Io { source, .. } => match source.raw_os_error() {
                Some(errno) => berth_oci::error::class_of_errno(errno),
                None => ErrorClass::Internal,
            },
            Sys { source, .. } => berth_oci::error::class_of_errno(*source as i32),
            Corrupt { .. } => ErrorClass::Internal,
            Timeout(_) => ErrorClass::Unavailable,
        }
    }
}
