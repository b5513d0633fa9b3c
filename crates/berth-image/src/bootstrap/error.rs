//! The errors of building a bootstrap rootfs: one variant per failing step, each naming the path.

use berth_oci::error::class_of_errno;
use berth_oci::{Classify, ErrorClass};
use std::io;
use std::path::PathBuf;

/// Why a bootstrap rootfs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The target directory has entries already (the image must hold only what we put there).
    #[error("bootstrap target {path} is not an empty directory")]
    NotEmpty { path: PathBuf },
    /// Listing a directory failed.
    #[error("reading directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Creating a directory failed.
    #[error("creating directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Setting the permission bits of a file or directory failed.
    #[error("setting the mode of {path} to {mode:o}: {source}")]
    SetMode {
        path: PathBuf,
        mode: u32,
        #[source]
        source: io::Error,
    },
    /// Creating a symlink failed.
    #[error("creating symlink {path} -> {target}: {source}")]
    Symlink {
        path: PathBuf,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Giving an entry to root (0:0) failed.
    #[error("setting the owner of {path} to 0:0: {source}")]
    SetOwner {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Setting the fixed modification time failed.
    #[error("setting the modification time of {path}: {source}")]
    SetTime {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Berth has no built-in hello-world program for this architecture.
    #[error("no built-in hello-world program for architecture {arch:?} (supported: amd64/x86_64, arm64/aarch64)")]
    UnsupportedArch { arch: String },
    /// The busybox binary could not be read.
    #[error("reading the busybox binary {path}: {source} (install it with `apt install busybox-static`, or give its path)")]
    ReadBusybox {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The busybox path is not an ELF executable.
    #[error("{path} is not an ELF executable: give the path of a static busybox binary (`apt install busybox-static` installs /bin/busybox)")]
    NotElf { path: PathBuf },
    /// The busybox binary is dynamically linked: it would not run in an image without its libraries.
    #[error("{path} is dynamically linked (ELF interpreter {interp}), so it cannot run alone in an image: install a static busybox (`apt install busybox-static`) and give its path")]
    NotStatic { path: PathBuf, interp: String },
    /// The busybox binary is for a CPU Berth cannot name.
    #[error("{path}: unknown ELF machine type {machine}, cannot name the image's architecture")]
    UnknownMachine { path: PathBuf, machine: u16 },
    /// Running busybox (to list its applets) failed to start.
    #[error("running {path} {arg}: {source}")]
    RunBusybox {
        path: PathBuf,
        arg: &'static str,
        #[source]
        source: io::Error,
    },
    /// busybox ran but did not list its applets.
    #[error("{path} {arg} failed ({status}): {stderr}")]
    BusyboxFailed {
        path: PathBuf,
        arg: &'static str,
        status: String,
        stderr: String,
    },
    /// busybox listed an applet path that would land outside the rootfs or is malformed.
    #[error("{path} lists an unsafe applet path {applet:?}")]
    BadApplet { path: PathBuf, applet: String },
}

fn io_class(e: &io::Error) -> ErrorClass {
    e.raw_os_error()
        .map_or(ErrorClass::Internal, class_of_errno)
}

impl Classify for BootstrapError {
    fn class(&self) -> ErrorClass {
        use BootstrapError::*;
        match self {
            NotEmpty { .. } => ErrorClass::Conflict,
            UnsupportedArch { .. }
            | NotElf { .. }
            | NotStatic { .. }
            | UnknownMachine { .. }
            | BadApplet { .. } => ErrorClass::InvalidArgument,
            BusyboxFailed { .. } => ErrorClass::FailedPrecondition,
            RunBusybox { source, .. } => match io_class(source) {
                ErrorClass::Internal => ErrorClass::FailedPrecondition,
                c => c,
            },
            ReadDir { source, .. }
            | CreateDir { source, .. }
            | WriteFile { source, .. }
            | SetMode { source, .. }
            | Symlink { source, .. }
            | SetOwner { source, .. }
            | SetTime { source, .. }
            | ReadBusybox { source, .. } => io_class(source),
        }
    }
}
