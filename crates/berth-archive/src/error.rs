//! The errors of layer extraction and creation; each names the entry or path involved.

use berth_oci::error::class_of_errno;
use berth_oci::{Classify, ErrorClass};
use nix::errno::Errno;
use std::io;
use std::path::PathBuf;

/// Why applying or writing a layer failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The (possibly compressed) stream could not be read or decompressed.
    #[error("reading the layer stream: {0}")]
    Read(#[source] io::Error),
    /// A tar header is malformed or the stream ended inside one.
    #[error("reading the tar header after entry {after:?}: {source}")]
    Header {
        /// The last entry read successfully ("" at the start).
        after: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The stream failed (corrupt or truncated compression, I/O error) inside an entry's data.
    #[error("reading the data of tar entry {entry:?}: {source}")]
    ReadData {
        entry: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The stream ended inside an entry's data.
    #[error("tar entry {entry:?} is truncated: {got} of {expected} bytes")]
    Truncated {
        entry: PathBuf,
        expected: u64,
        got: u64,
    },
    /// The stream ended without the end-of-archive zero block.
    #[error("tar stream ends after entry {after:?} without an end-of-archive marker (truncated)")]
    MissingEnd { after: PathBuf },
    /// An entry path (or hardlink target) has a `..` component or is otherwise unusable.
    #[error("tar entry {entry:?}: unsafe path {path:?} ({why})")]
    BadPath {
        entry: PathBuf,
        path: PathBuf,
        why: &'static str,
    },
    /// An entry's header field could not be decoded.
    #[error("tar entry {entry:?}: bad header field {field}: {source}")]
    BadField {
        entry: PathBuf,
        field: &'static str,
        #[source]
        source: io::Error,
    },
    /// An entry type Berth does not extract.
    #[error("tar entry {entry:?} has unsupported type {kind:?}")]
    UnsupportedType { entry: PathBuf, kind: u8 },
    /// The target directory could not be opened.
    #[error("opening the target directory {path:?}: {errno}")]
    OpenTarget { path: PathBuf, errno: Errno },
    /// The parent directory of an entry could not be opened or created inside the target.
    #[error("tar entry {entry:?}: opening its parent directory inside the target: {errno}")]
    Parent { entry: PathBuf, errno: Errno },
    /// The entry could not be created.
    #[error("tar entry {entry:?}: creating it: {errno}")]
    Create { entry: PathBuf, errno: Errno },
    /// An existing file in the way of the entry could not be removed.
    #[error("tar entry {entry:?}: removing what was at its path: {errno}")]
    Replace { entry: PathBuf, errno: Errno },
    /// The entry's data could not be written.
    #[error("tar entry {entry:?}: writing its data: {source}")]
    WriteData {
        entry: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Owner, mode or times could not be set.
    #[error("tar entry {entry:?}: setting {what}: {errno}")]
    Metadata {
        entry: PathBuf,
        what: &'static str,
        errno: Errno,
    },
    /// An extended attribute could not be set (ENOTSUP is ignored, not reported).
    #[error("tar entry {entry:?}: setting xattr {name}: {errno}")]
    Xattr {
        entry: PathBuf,
        name: String,
        errno: Errno,
    },
    /// A hardlink's target is missing or could not be linked.
    #[error("tar entry {entry:?}: hardlink to {target:?}: {errno}")]
    Link {
        entry: PathBuf,
        target: PathBuf,
        errno: Errno,
    },
    /// A whiteout could not be applied.
    #[error("tar entry {entry:?}: applying whiteout: {errno}")]
    Whiteout { entry: PathBuf, errno: Errno },
    /// A file of the source directory could not be read while writing a layer.
    #[error("reading {path:?} for the layer: {source}")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A source file has a type that cannot go into a tar (a socket).
    #[error("{path:?} is a socket or unknown file type; not written to the layer")]
    SourceType { path: PathBuf },
    /// The tar stream could not be written.
    #[error("writing the layer stream (at {path:?}): {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn class_of_io(e: &io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => {
            ErrorClass::InvalidArgument
        }
        _ => e
            .raw_os_error()
            .map(class_of_errno)
            .unwrap_or(ErrorClass::Internal),
    }
}

impl Classify for ArchiveError {
    fn class(&self) -> ErrorClass {
        use ArchiveError::*;
        match self {
            Read(e) => class_of_io(e),
            Header { .. }
            | Truncated { .. }
            | MissingEnd { .. }
            | BadPath { .. }
            | BadField { .. }
            | UnsupportedType { .. } => ErrorClass::InvalidArgument,
            // A hardlink to nothing, or a path whose parent is a file: malformed layer.
            Link {
                errno: Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::EXDEV,
                ..
            }
            | Parent {
                errno: Errno::ENOTDIR | Errno::ELOOP,
                ..
            } => ErrorClass::InvalidArgument,
            OpenTarget { errno, .. }
            | Parent { errno, .. }
            | Create { errno, .. }
            | Replace { errno, .. }
            | Metadata { errno, .. }
            | Xattr { errno, .. }
            | Link { errno, .. }
            | Whiteout { errno, .. } => class_of_errno(*errno as i32),
            ReadData { source, .. }
            | WriteData { source, .. }
            | Source { source, .. }
            | Output { source, .. } => class_of_io(source),
            SourceType { .. } => ErrorClass::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let e = ArchiveError::BadPath {
            entry: "a/../b".into(),
            path: "a/../b".into(),
            why: "..",
        };
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert!(e.to_string().contains("a/../b"));
        let e = ArchiveError::Create {
            entry: "x".into(),
            errno: Errno::ENOSPC,
        };
        assert_eq!(e.class(), ErrorClass::Unavailable);
    }
}
