//! Storage: blobs in berth-content, per-repository metadata as small files.
//!
//! Layout under the registry root:
//! - `blobs/sha256/<hex>`, `ingest/`: the berth-content store (verified, fsynced, atomic commits).
//! - `repositories/<name>/_blobs/sha256/<hex>`: empty link files; a blob is visible in a
//!   repository only when linked there (pushed or mounted).
//! - `repositories/<name>/_manifests/sha256/<hex>`: the manifest's media type.
//! - `repositories/<name>/_tags/<tag>`: the digest the tag points at.
//! - `repositories/<name>/_referrers/<subject-hex>/<hex>`: the referrer's descriptor JSON.
//! - `uploads/<id>`: the repository an upload session belongs to (its bytes are the ingest
//!   `registry-upload-<id>` of the content store).
//! - `aliases/<alg>/<hex>`: for digests other than sha256 (sha512), the sha256 digest under which
//!   the content store keeps the same bytes (verified against both digests before it is written).
//! - `gc.lock`: flocked shared by every commit-then-link step, exclusively by GC.
//!
//! Why files and not SQLite: each metadata change is one file created, replaced (write to a
//! temporary name, then rename) or removed, so concurrent requests never contend for a database
//! write lock, readers never see a half-written value, and the state is readable with `ls`. The
//! spec's listings (tags, catalog) are sorted directory reads, which are fast enough at registry
//! scale. Links are not fsynced: a killed server keeps them (page cache); only a power cut can lose
//! a link made in the last seconds, never a committed blob (berth-content fsyncs those), and a
//! client then simply pushes again.
//! Repository names never have components starting with `_`, so `_blobs` etc. cannot collide.

use crate::error::RegistryError;
use berth_content::ContentStore;
use berth_oci::Digest;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The registry's on-disk state.
#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
    /// The content store (blobs + ingests).
    pub content: ContentStore,
    tmp_counter: AtomicU64,
}

impl Storage {
    /// Opens (creating if needed) the storage under `root`.
    pub fn open(root: &Path) -> Result<Storage, RegistryError> {
        for d in ["repositories", "uploads", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|source| RegistryError::Root { path: p, source })?;
        }
        let content = ContentStore::open(root).map_err(|source| RegistryError::Content {
            path: root.into(),
            source: Box::new(source),
        })?;
        Ok(Storage {
            root: root.into(),
            content,
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `repositories/<name>`.
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn blob_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_blobs")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn manifest_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo_dir(name).join("_tags").join(tag)
    }

    /// Whether the repository has any blob, manifest or tag.
    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_blobs").is_dir() || d.join("_manifests").is_dir()
    }

    /// Writes `data` to `path` atomically (temporary file in `tmp/`, then rename), no fsync.
    pub fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        drop(f);
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// The sha256 digest under which the content store keeps `d` (itself for sha256, the
    /// recorded alias for other algorithms).
    pub fn resolve(&self, d: &Digest) -> Option<Digest> {
        if d.algorithm() == "sha256" {
            return Some(d.clone());
        }
        let p = self.root.join("aliases").join(d.algorithm()).join(d.hex());
        fs::read_to_string(p).ok()?.trim().parse().ok()
    }

    /// Records that `d` (not sha256) names the same bytes as the stored blob `sha256`.
    pub fn set_alias(&self, d: &Digest, sha256: &Digest) -> io::Result<()> {
        let p = self.root.join("aliases").join(d.algorithm()).join(d.hex());
        self.write_file(&p, sha256.to_string().as_bytes())
    }

    /// Whether the content store holds the bytes of `d` (any algorithm).
    pub fn content_exists(&self, d: &Digest) -> bool {
        self.resolve(d)
            .is_some_and(|r| self.content.exists(&r).unwrap_or(false))
    }

    /// Whether the blob is linked in `name` and present in the content store.
    pub fn blob_linked(&self, name: &str, d: &Digest) -> bool {
        self.blob_link(name, d).exists() && self.content_exists(d)
    }

    /// Links a committed blob into `name` (the caller holds the GC lock shared).
    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        if let Some(r) = self.resolve(d) {
            touch(&self.content.blob_path(&r));
        }
        let link = self.blob_link(name, d);
        if link.exists() {
            return Ok(());
        }
        self.write_file(&link, b"")
    }

    /// Removes the blob link; `false` if it was not linked.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        remove_if_exists(&self.blob_link(name, d))
    }

    /// The media type of a manifest stored in `name`, or `None` if not there.
    pub fn manifest_media_type(&self, name: &str, d: &Digest) -> Option<String> {
        let mt = fs::read_to_string(self.manifest_link(name, d)).ok()?;
        if self.content_exists(d) {
            Some(mt)
        } else {
            None
        }
    }

    /// Links a committed manifest into `name` with its media type.
    pub fn link_manifest(&self, name: &str, d: &Digest, media_type: &str) -> io::Result<()> {
        if let Some(r) = self.resolve(d) {
            touch(&self.content.blob_path(&r));
        }
        self.write_file(&self.manifest_link(name, d), media_type.as_bytes())
    }

    /// Removes a manifest link; `false` if it was not there.
    pub fn unlink_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        remove_if_exists(&self.manifest_link(name, d))
    }

    /// The digest a tag points at.
    pub fn tag(&self, name: &str, tag: &str) -> Option<Digest> {
        fs::read_to_string(self.tag_path(name, tag))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Points `tag` at `d`.
    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> io::Result<()> {
        self.write_file(&self.tag_path(name, tag), d.to_string().as_bytes())
    }

    /// Removes a tag; `false` if it did not exist.
    pub fn remove_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_exists(&self.tag_path(name, tag))
    }

    /// Every tag of `name`, sorted; `None` if the repository does not exist.
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        if !self.repo_exists(name) {
            return None;
        }
        let mut tags: Vec<String> = match fs::read_dir(self.repo_dir(name).join("_tags")) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        tags.sort();
        Some(tags)
    }

    /// Records `referrer` (descriptor JSON) as referring to `subject` in `name`.
    pub fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &[u8],
    ) -> io::Result<()> {
        let p = self
            .repo_dir(name)
            .join("_referrers")
            .join(subject.hex())
            .join(referrer.hex());
        self.write_file(&p, descriptor)
    }

    /// Forgets `referrer` as a referrer of `subject`.
    pub fn remove_referrer(&self, name: &str, subject: &Digest, referrer: &Digest) {
        let p = self
            .repo_dir(name)
            .join("_referrers")
            .join(subject.hex())
            .join(referrer.hex());
        let _ = fs::remove_file(p);
    }

    /// The descriptors (JSON) of every manifest in `name` whose subject is `subject`.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<serde_json::Value> {
        let dir = self.repo_dir(name).join("_referrers").join(subject.hex());
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(dir) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(data) = fs::read(&p) {
                if let Ok(v) = serde_json::from_slice(&data) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Every repository name (sorted).
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out);
        out.sort();
        out
    }

    /// Path of an upload session's record.
    pub fn session_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Takes the GC lock shared (commit-then-link) or exclusive (GC).
    pub fn gc_lock(&self, exclusive: bool) -> Result<Flock<File>, RegistryError> {
        gc_lock(&self.root, exclusive)
    }
}

/// Takes `<root>/gc.lock` (blocking).
pub fn gc_lock(root: &Path, exclusive: bool) -> Result<Flock<File>, RegistryError> {
    let path = root.join("gc.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| RegistryError::GcLock {
            path: path.clone(),
            source,
        })?;
    let arg = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    Flock::lock(f, arg).map_err(|(_, e)| RegistryError::GcLock {
        path,
        source: io::Error::from(e),
    })
}

/// Sets a blob's mtime to now, so a GC grace period counts from its last push.
fn touch(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

fn remove_if_exists(p: &Path) -> io::Result<bool> {
    match fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(n) = e.file_name().into_string() else {
            continue;
        };
        if n.starts_with('_') || !e.path().is_dir() {
            continue;
        }
        let name = if prefix.is_empty() {
            n.clone()
        } else {
            format!("{prefix}/{n}")
        };
        let p = e.path();
        if p.join("_blobs").is_dir() || p.join("_manifests").is_dir() {
            out.push(name.clone());
        }
        walk_repos(&p, &name, out);
    }
}

/// A fresh random id (32 hex digits) for upload sessions.
pub fn random_id() -> String {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    berth_oci::digest::hex_lower(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"x");
        assert!(s.tags("a/b").is_none());
        s.link_manifest("a/b", &d, "application/json").unwrap();
        s.set_tag("a/b", "v2", &d).unwrap();
        s.set_tag("a/b", "v1", &d).unwrap();
        assert_eq!(s.tags("a/b").unwrap(), vec!["v1", "v2"]);
        assert_eq!(s.tag("a/b", "v1"), Some(d.clone()));
        s.link_blob("a", &d).unwrap();
        assert_eq!(s.catalog(), vec!["a", "a/b"]);
        assert!(s.remove_tag("a/b", "v1").unwrap());
        assert!(!s.remove_tag("a/b", "v1").unwrap());
    }

    #[test]
    fn ids_are_random() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
