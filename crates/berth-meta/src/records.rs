//! The rows of the store as Rust values, and the helpers that decode stored text.

use crate::error::{MetaError, Result};
use berth_oci::Digest;
use std::collections::BTreeMap;

/// An image: its config digest (the image ID), manifest and layer chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image ID: digest of the config blob.
    pub id: Digest,
    /// Digest of the stored manifest.
    pub manifest_digest: Digest,
    /// Media type of that manifest.
    pub manifest_media_type: String,
    /// The config's `created` timestamp (RFC 3339), if any.
    pub created: Option<String>,
    /// When the image was first stored here, unix seconds (kept when the image is stored again).
    pub added: i64,
    /// Sum of the unpacked sizes of its layers, bytes.
    pub size: u64,
    /// The image this one was built from, if known.
    pub parent: Option<Digest>,
    /// Chain IDs of its layers, bottom first.
    pub layers: Vec<Digest>,
    /// `name@digest` references of the image's manifest in registries.
    pub repo_digests: Vec<String>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
}

/// One unpacked layer, named by its chain ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Chain ID (OCI image spec) of the layer stack up to and including this layer.
    pub chain_id: Digest,
    /// Digest of the uncompressed layer tar.
    pub diff_id: Digest,
    /// Chain ID of the layer below, if any.
    pub parent: Option<Digest>,
    /// Digest of the stored (possibly compressed) layer blob.
    pub blob_digest: Digest,
    /// Size of that blob, bytes.
    pub blob_size: u64,
    /// Media type of that blob.
    pub blob_media_type: String,
    /// The committed snapshot holding the unpacked layer (`layer-<chain hex>`).
    pub snapshot_key: String,
    /// Bytes used by the unpacked layer's own files.
    pub unpacked_size: u64,
    /// Number of entries in the unpacked layer.
    pub file_count: u64,
}

/// What the image store needs to know about a container: which image and snapshot it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// Container ID.
    pub id: String,
    /// Container name (unique).
    pub name: String,
    /// The image it was created from.
    pub image_id: Digest,
    /// Its writable snapshot, if it has one.
    pub snapshot_key: Option<String>,
}

/// Decodes a stored digest; `what` names the row and column for the error.
pub(crate) fn parse_digest(what: impl FnOnce() -> String, text: &str) -> Result<Digest> {
    text.parse()
        .map_err(|e: berth_oci::digest::DigestError| MetaError::Corrupt {
            what: what(),
            value: text.into(),
            reason: e.to_string(),
        })
}

/// Decodes an optional stored digest.
pub(crate) fn parse_opt_digest(
    what: impl FnOnce() -> String,
    text: Option<String>,
) -> Result<Option<Digest>> {
    text.map(|t| parse_digest(what, &t)).transpose()
}

/// Decodes stored JSON text.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: impl FnOnce() -> String,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| MetaError::Corrupt {
        what: what(),
        value: text.into(),
        reason: e.to_string(),
    })
}

/// Encodes a value as JSON text for storage.
pub(crate) fn to_json<T: serde::Serialize>(
    what: impl FnOnce() -> String,
    value: &T,
) -> Result<String> {
    serde_json::to_string(value).map_err(|source| MetaError::Encode {
        what: what(),
        source,
    })
}

/// A size stored as SQLite's signed 64-bit integer.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A size read back from SQLite (negative values cannot be written by this crate).
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
