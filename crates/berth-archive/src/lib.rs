//! Layer tar streams: safe extraction of OCI/Docker layers into a directory (with whiteouts turned
//! into overlay whiteouts or deletions), and the reverse, a directory or overlay upper dir to a
//! deterministic layer tar. Both compute the diffID (and, when writing, the compressed digest) in
//! the same pass over the data.
#![forbid(unsafe_code)]

mod apply;
mod compression;
mod entry_path;
mod error;
mod fsops;
mod hashio;
mod write;

pub use apply::{apply_layer, ApplyOptions, LayerStats, Whiteouts};
pub use compression::{Compression, Decoder};
pub use error::ArchiveError;
pub use write::{write_layer, WrittenLayer};

/// Size of the I/O buffers used for layer data (large: layers are big and sequential).
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Prefix of an OCI whiteout file name.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The overlayfs xattr that marks a directory opaque.
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[cfg(test)]
mod tests;
