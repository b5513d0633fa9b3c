//! berth-snapshot: copy-on-write filesystem snapshots for container root filesystems.
//!
//! A snapshot is named by a caller-chosen *key*. It is one of three [`Kind`]s: *committed*
//! (immutable, a layer others stack on), *active* (writable, made by [`Snapshotter::prepare`]) or
//! *view* (read-only, made by [`Snapshotter::view`]). [`Snapshotter::commit`] turns an active
//! snapshot into a committed one under a new name.
//!
//! A snapshotter never mounts anything: it returns [`Mount`]s that the caller performs.
//!
//! On disk both drivers use `<root>/snapshots/<id>/{fs,work}` and `<root>/metadata.json`, which maps
//! keys to ids, parents and kinds and is replaced atomically (temp, fsync, rename, fsync dir);
//! active snapshots are recorded one per file in `<root>/active/<key>` (see `store`).
//! Every operation holds an exclusive `flock` on `<root>/lock` and rereads the metadata, so several
//! processes may share a root.
//!
//! Drivers: [`OverlaySnapshotter`] (overlayfs, handles deep parent chains) and
//! [`CopySnapshotter`] (full copies, for filesystems without overlay). Both pass [`conformance`].
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod conformance;
mod copy;
pub mod error;
mod overlay;
mod store;

pub use copy::CopySnapshotter;
pub use error::{Result, SnapshotError};
pub use overlay::{overlay_options, OverlaySnapshotter, MOUNT_DATA_LIMIT};

use serde::{Deserialize, Serialize};

/// The kind of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Immutable; may be the parent of other snapshots.
    Committed,
    /// Writable; may be committed.
    Active,
    /// Read-only view of a committed parent; cannot be committed.
    View,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Committed => "committed",
            Kind::Active => "active",
            Kind::View => "view",
        })
    }
}

/// What [`Snapshotter::stat`] and [`Snapshotter::list`] report about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The snapshot's key (for committed snapshots, the name given to commit).
    pub key: String,
    /// The key of the parent, if any.
    pub parent: Option<String>,
    /// Its kind.
    pub kind: Kind,
    /// The id naming its directory `<root>/snapshots/<id>`.
    pub id: u64,
}

/// A mount for the caller to perform: `mount -t <typ> -o <options joined by ','> <source> <target>`.
///
/// `typ` is `"overlay"` or `"bind"`; a bind carries `"bind"` and `"ro"` or `"rw"` in its options.
/// An overlay whose `lowerdir` paths are relative (do not start with `/`) must be mounted with the
/// working directory set to `<root>/snapshots` (see [`OverlaySnapshotter`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type.
    pub typ: String,
    /// Mount source: a directory for binds, `"overlay"` for overlays.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

impl Mount {
    /// The value of option `name=` if present.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether this is a read-only mount.
    pub fn is_read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
            || (self.typ == "overlay" && self.option("upperdir").is_none())
    }
}

/// Creates, commits and removes snapshots and tells how to mount them.
pub trait Snapshotter: Send + Sync {
    /// Creates an active (writable) snapshot `key` on top of the committed `parent` chain.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// Creates a read-only view `key` of the committed `parent`.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// Turns the active snapshot `key` into the committed snapshot `name`; `key` disappears.
    fn commit(&self, name: &str, key: &str) -> Result<()>;
    /// Removes `key` and its directories; refuses while other snapshots have it as parent.
    fn remove(&self, key: &str) -> Result<()>;
    /// Describes `key`.
    fn stat(&self, key: &str) -> Result<Info>;
    /// Describes every snapshot, sorted by key.
    fn list(&self) -> Result<Vec<Info>>;
    /// The mounts of an existing snapshot (committed ones are returned read-only).
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// The directory holding the snapshot's own files: for an overlay layer its diff, for a copy
    /// its whole tree. For unpacking a layer into, and for `system check` to inspect.
    fn layer_dir(&self, key: &str) -> Result<std::path::PathBuf>;
    /// Whether a layer can be unpacked without its parent's files (overlay: each layer directory
    /// holds only its own changes). Then layers may be unpacked in parallel into parentless active
    /// snapshots and stacked afterwards with [`Snapshotter::commit_with_parent`].
    fn independent_layers(&self) -> bool;
    /// Like [`Snapshotter::commit`] for an active snapshot prepared without a parent, recording
    /// the committed `parent` under it. Fails with `Unsupported` unless
    /// [`Snapshotter::independent_layers`].
    fn commit_with_parent(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()>;
    /// Deletes directories under `<root>/snapshots` that no snapshot refers to (crash
    /// leftovers); returns the removed paths.
    fn cleanup(&self) -> Result<Vec<std::path::PathBuf>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_option_lookup() {
        let m = Mount {
            typ: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=/a:/b".into()],
        };
        assert_eq!(m.option("lowerdir"), Some("/a:/b"));
        assert_eq!(m.option("lower"), None);
        assert!(m.is_read_only());
    }
}
