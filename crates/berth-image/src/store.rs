//! The image store: blobs (berth-content), unpacked layers (berth-snapshot) and records
//! (berth-meta) under one root, and the step every way of adding an image ends with.

use crate::error::{ImageError, Result};
use crate::manifest::{self, Descriptor, ImageConfig};
use crate::unpack::{self, Unpacked};
use berth_content::ContentStore;
use berth_meta::{ImageRecord, LayerRecord, Lease, Meta};
use berth_oci::{media_types, Digest, Reference};
use berth_snapshot::{CopySnapshotter, OverlaySnapshotter, SnapshotError, Snapshotter};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which snapshotter unpacks layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// overlayfs: layers unpacked once, stacked as lower dirs.
    Overlay,
    /// Full copies, for filesystems without overlayfs.
    Copy,
}

impl Driver {
    /// The driver's directory name under the root (and its name in `image inspect`).
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::Copy => "copy",
        }
    }

    /// Parses `overlay` or `copy`.
    pub fn parse(s: &str) -> Result<Driver> {
        match s {
            "overlay" | "overlay2" => Ok(Driver::Overlay),
            "copy" | "vfs" => Ok(Driver::Copy),
            other => Err(ImageError::InvalidArgument(format!(
                "unknown storage driver {other:?} (use overlay or copy)"
            ))),
        }
    }
}

/// Images on disk: `<root>/blobs`, `<root>/<driver>/snapshots`, `<root>/berth.db`.
pub struct ImageStore {
    root: PathBuf,
    pub(crate) content: ContentStore,
    pub(crate) snapshots: Arc<dyn Snapshotter>,
    pub(crate) meta: Meta,
    driver: Driver,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.root)
            .field("driver", &self.driver)
            .finish()
    }
}

/// A layer of an image being added: its stored blob, its diffID and, when already unpacked, the
/// snapshot holding it.
#[derive(Debug)]
pub(crate) struct NewLayer {
    /// Where the layer came from (an archive entry name), for error messages.
    pub source: String,
    /// The stored blob.
    pub blob: Descriptor,
    /// An unpacked copy made while the blob streamed in, if any.
    pub unpacked: Option<Unpacked>,
}

/// An image being added: config bytes, layers bottom first, tags, and the manifest when the
/// source had one worth keeping.
#[derive(Debug)]
pub(crate) struct NewImage {
    pub config: Vec<u8>,
    pub layers: Vec<NewLayer>,
    pub tags: Vec<String>,
    pub manifest: Option<(Vec<u8>, String)>,
    pub parent: Option<Digest>,
    pub what: String,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root` with the overlay driver.
    pub fn open(root: &Path) -> Result<ImageStore> {
        ImageStore::open_with(root, Driver::Overlay)
    }

    /// Opens the store at `root` with `driver`.
    pub fn open_with(root: &Path, driver: Driver) -> Result<ImageStore> {
        std::fs::create_dir_all(root).map_err(ImageError::io("creating", root))?;
        let meta = Meta::open(&root.join("berth.db"))?;
        ImageStore::open_with_meta(root, driver, meta)
    }

    /// Opens the store at `root` on an open database connection (`<root>/berth.db`; the
    /// store's writes are made durable whatever `meta`'s handle said: see
    /// [`Meta::with_durability`]).
    pub fn open_with_meta(root: &Path, driver: Driver, meta: Meta) -> Result<ImageStore> {
        for dir in [root.to_path_buf(), root.join("tmp")] {
            std::fs::create_dir_all(&dir).map_err(ImageError::io("creating", &dir))?;
        }
        let meta = meta.with_durability(berth_meta::Durability::Full);
        let content = ContentStore::open(root)?;
        let snapshots = open_snapshotter(root, driver)?;
        let store = ImageStore {
            root: root.to_path_buf(),
            content,
            snapshots,
            meta,
            driver,
        };
        store.recover_unsynced()?;
        Ok(store)
    }

    /// Makes every unsynced write durable (`syncfs` of the store's filesystem) and clears the
    /// markers it covered. Returns whether there was anything to sync.
    pub fn sync(&self) -> Result<bool> {
        let markers: Vec<_> = self
            .meta
            .unsynced()?
            .into_iter()
            .filter(|m| !m.from_earlier_boot())
            .collect();
        let Some(last) = markers.last() else {
            return Ok(false);
        };
        let dir = std::fs::File::open(&self.root).map_err(ImageError::io("opening", &self.root))?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)).map_err(|e| ImageError::Io {
            op: "syncing the filesystem of",
            path: self.root.clone(),
            source: e.into(),
        })?;
        self.meta.clear_unsynced(last.id)?;
        Ok(true)
    }

    /// After a reboot that came before a [`ImageStore::sync`], unsynced blobs and layers may be
    /// torn: verify the store, mend what can be mended, drop what cannot, then clear the markers.
    fn recover_unsynced(&self) -> Result<()> {
        let markers = self.meta.unsynced()?;
        let Some(last) = markers.iter().rev().find(|m| m.from_earlier_boot()) else {
            return Ok(());
        };
        self.check(true)?;
        self.meta.clear_unsynced(last.id)?;
        Ok(())
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The snapshot driver in use.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshotter.
    pub fn snapshotter(&self) -> &Arc<dyn Snapshotter> {
        &self.snapshots
    }

    /// The metadata store.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Resolves a tag, a full or short image ID, or `name@digest` to an image ID, like docker:
    /// a name is tried as a tag first, then as an ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        if let Some(hex) = name.strip_prefix("sha256:") {
            return self.by_prefix(name, hex);
        }
        if let Ok(r) = Reference::parse(name) {
            if let Some(d) = r.digest() {
                let want = format!("{}@{d}", r.name());
                for img in self.meta.images()? {
                    if img.manifest_digest == *d || img.repo_digests.contains(&want) {
                        return Ok(img.id);
                    }
                }
            } else if let Some(id) = self.meta.resolve_tag(&r.to_string())? {
                return Ok(id);
            }
        }
        let is_hex = !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex && name.len() <= 64 {
            return self.by_prefix(name, &name.to_ascii_lowercase());
        }
        Err(ImageError::NotFound(name.to_string()))
    }

    fn by_prefix(&self, name: &str, hex: &str) -> Result<Digest> {
        let found = self.meta.images_by_prefix(hex)?;
        match found.len() {
            0 => Err(ImageError::NotFound(name.to_string())),
            1 => Ok(found.into_iter().next().expect("one")),
            count => Err(ImageError::Ambiguous {
                prefix: name.to_string(),
                count,
            }),
        }
    }

    /// The record of image `id`.
    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        self.meta
            .image(id)?
            .ok_or_else(|| ImageError::NotFound(id.to_string()))
    }

    /// Every image, in the store's order.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.meta.images()?)
    }

    /// Reads a small blob whole, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut r = self.content.read_verified(digest)?;
        std::io::Read::read_to_end(&mut r, &mut data).map_err(|source| ImageError::Io {
            op: "reading blob",
            path: self.content.blob_path(digest),
            source,
        })?;
        Ok(data)
    }

    /// The parsed config of image `id`.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.read_blob(id)?;
        manifest::parse_config(&bytes).map_err(|source| ImageError::Manifest {
            what: format!("config of image {id}"),
            source,
        })
    }

    /// Tags image `source` (a name or ID) as `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<Digest> {
        let id = self.resolve(source)?;
        let r = Reference::parse(target)?;
        if r.digest().is_some() {
            return Err(ImageError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        self.meta.tag(&r.to_string(), &id)?;
        Ok(id)
    }

    /// Stores a small blob from memory (verified against `digest` when given).
    pub(crate) fn put_small_blob(
        &self,
        data: &[u8],
        expect: Option<&Digest>,
        lease: &Lease,
    ) -> Result<Digest> {
        let digest = Digest::sha256_of(data);
        if let Some(want) = expect {
            if *want != digest {
                return Err(ImageError::DigestMismatch {
                    what: "blob".into(),
                    expected: Box::new(want.clone()),
                    actual: Box::new(digest),
                });
            }
        }
        lease.add_blob(&digest)?;
        if self.content.exists(&digest)? {
            return Ok(digest);
        }
        let reference = unpack::unique_ref("small");
        let mut w = self
            .content
            .writer(&reference, Some((digest.clone(), data.len() as u64)))?;
        std::io::Write::write_all(&mut w, data).map_err(|source| ImageError::Io {
            op: "writing blob",
            path: self.content.root().join("ingest").join(&reference),
            source,
        })?;
        Ok(w.commit()?)
    }

    /// Stacks the layers of `img` (unpacking those not yet unpacked), stores its config and
    /// manifest, and records it with its tags in one transaction. Returns the image ID.
    pub(crate) fn add_image(&self, img: NewImage, lease: &Lease) -> Result<Digest> {
        let config_digest = self.put_small_blob(&img.config, None, lease)?;
        let config =
            manifest::parse_config(&img.config).map_err(|source| ImageError::Manifest {
                what: format!("config of {}", img.what),
                source,
            })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != img.layers.len() {
            return Err(ImageError::BadArchive(format!(
                "{}: the config lists {} layers (diff_ids) but the manifest has {}",
                img.what,
                diff_ids.len(),
                img.layers.len()
            )));
        }
        let chains = manifest::chain_ids(diff_ids);
        let mut size = 0u64;
        let mut parent: Option<Digest> = None;
        let mut layer_descs = Vec::new();
        // The blobs the manifest names stay referenced even where an existing layer (maybe
        // from another blob, e.g. uncompressed) is reused for the snapshot.
        let mut extra_blobs: Vec<Digest> =
            img.layers.iter().map(|l| l.blob.digest.clone()).collect();
        for (index, (layer, chain)) in img.layers.into_iter().zip(&chains).enumerate() {
            layer_descs.push(layer.blob.clone());
            let record = self.stack_layer(
                layer,
                index,
                &diff_ids[index],
                chain,
                parent.as_ref(),
                lease,
            )?;
            size += record.unpacked_size;
            parent = Some(chain.clone());
        }
        let (manifest_bytes, manifest_media_type) = match img.manifest {
            Some(m) => m,
            None => {
                let m = manifest::Manifest::oci(
                    Descriptor::new(
                        media_types::OCI_CONFIG.to_string(),
                        config_digest.clone(),
                        img.config.len() as u64,
                    ),
                    layer_descs,
                );
                let bytes =
                    serde_json::to_vec(&m).map_err(|e| ImageError::Internal(e.to_string()))?;
                (bytes, media_types::OCI_MANIFEST.to_string())
            }
        };
        let manifest_digest = self.put_small_blob(&manifest_bytes, None, lease)?;
        let labels: BTreeMap<String, String> = config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let record = ImageRecord {
            id: config_digest.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest_media_type,
            created: config.created.clone(),
            added: now_unix(),
            size,
            parent: img.parent,
            layers: chains,
            repo_digests: Vec::new(),
            labels,
        };
        extra_blobs.push(manifest_digest);
        self.meta.put_image(&record, &extra_blobs, &img.tags)?;
        Ok(config_digest)
    }

    /// Makes layer `chain` exist as a committed snapshot on `parent`: reuses one already there,
    /// commits the copy unpacked while streaming (after checking its diffID), or unpacks the
    /// stored blob now.
    fn stack_layer(
        &self,
        layer: NewLayer,
        index: usize,
        diff_id: &Digest,
        chain: &Digest,
        parent: Option<&Digest>,
        lease: &Lease,
    ) -> Result<LayerRecord> {
        let key = layer_key(chain);
        let parent_key = parent.map(layer_key);
        // Lease first, then look: a GC between the two cannot take the layer away.
        lease.add_snapshot(&key)?;
        if let Some(existing) = self.meta.layer(chain)? {
            if self.snapshots.stat(&key).is_ok() {
                // The blob this source brought must itself hold the layer: verify it unless it
                // is the very blob the layer was unpacked from.
                let actual = match layer.unpacked {
                    Some(u) => {
                        unpack::discard(self.snapshots.as_ref(), &u.key);
                        Some(u.diff_id)
                    }
                    None if layer.blob.digest != existing.blob_digest => {
                        Some(self.diff_id_of_blob(&layer.blob.digest)?)
                    }
                    None => None,
                };
                if let Some(actual) = actual.filter(|a| a != diff_id) {
                    return Err(ImageError::DiffIdMismatch {
                        entry: layer.source,
                        index,
                        expected: Box::new(diff_id.clone()),
                        actual: Box::new(actual),
                    });
                }
                return Ok(existing);
            }
        }
        let unpacked = match layer.unpacked {
            Some(u) if self.snapshots.independent_layers() => u,
            other => {
                if let Some(u) = other {
                    unpack::discard(self.snapshots.as_ref(), &u.key);
                }
                unpack::unpack_blob(
                    self,
                    &layer.blob.digest,
                    &layer.source,
                    parent_key.as_deref(),
                    lease,
                )?
            }
        };
        if unpacked.diff_id != *diff_id {
            unpack::discard(self.snapshots.as_ref(), &unpacked.key);
            return Err(ImageError::DiffIdMismatch {
                entry: layer.source,
                index,
                expected: Box::new(diff_id.clone()),
                actual: Box::new(unpacked.diff_id),
            });
        }
        let committed = if unpacked.has_parent {
            self.snapshots.commit(&key, &unpacked.key)
        } else {
            self.snapshots
                .commit_with_parent(&key, &unpacked.key, parent_key.as_deref())
        };
        match committed {
            Ok(()) => {}
            // Another process committed the same layer meanwhile: use theirs.
            Err(SnapshotError::AlreadyExists { .. }) => {
                unpack::discard(self.snapshots.as_ref(), &unpacked.key)
            }
            Err(e) => {
                unpack::discard(self.snapshots.as_ref(), &unpacked.key);
                return Err(e.into());
            }
        }
        let record = LayerRecord {
            chain_id: chain.clone(),
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            blob_digest: layer.blob.digest.clone(),
            blob_size: layer.blob.size,
            blob_media_type: layer.blob.media_type.clone(),
            snapshot_key: key,
            unpacked_size: unpacked.usage.bytes,
            file_count: unpacked.usage.entries,
        };
        self.meta.put_layer(&record)?;
        Ok(record)
    }

    /// The diffID of a stored layer blob: the sha256 of its uncompressed stream.
    fn diff_id_of_blob(&self, blob: &Digest) -> Result<Digest> {
        let reader = self.content.read_verified(blob)?;
        let mut decoder = berth_archive::Decoder::new(reader).map_err(|source| ImageError::Io {
            op: "reading blob",
            path: self.content.blob_path(blob),
            source,
        })?;
        let mut hasher = berth_content::verify::Hasher::sha256();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n =
                std::io::Read::read(&mut decoder, &mut buf).map_err(|source| ImageError::Io {
                    op: "reading blob",
                    path: self.content.blob_path(blob),
                    source,
                })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.digest())
    }

    /// Runs `f` under a new lease; if it fails, removes what it wrote (now unreferenced), so the
    /// store is left as it was. The operation's error wins over a failure to end the lease.
    pub(crate) fn with_lease<T>(
        &self,
        purpose: &str,
        f: impl FnOnce(&Lease) -> Result<T>,
    ) -> Result<T> {
        let lease = self.meta.begin_lease(purpose)?;
        let result = f(&lease);
        let ended = lease.end();
        if result.is_err() {
            self.clean_after_failure();
            return result;
        }
        ended?;
        result
    }

    /// After a failed load or import, removes what it wrote (nothing references it now). A full
    /// disk can make the first pass fail part-way (the snapshot metadata cannot be rewritten
    /// until blobs are gone), so a second pass and the orphan-directory sweep follow. Best effort:
    /// whatever stays is garbage for the next collection.
    pub(crate) fn clean_after_failure(&self) {
        for _ in 0..3 {
            match self.collect_garbage() {
                Ok(report) if report.errors.is_empty() => break,
                _ => {}
            }
        }
        let _ = self.snapshots.cleanup();
    }

    /// Runs garbage collection: deletes blobs, snapshots and layer records no image, container
    /// or live lease refers to.
    pub fn collect_garbage(&self) -> Result<berth_meta::gc::GcReport> {
        Ok(berth_meta::gc::collect(
            &self.meta,
            &self.content,
            self.snapshots.as_ref(),
            &berth_meta::gc::GcOptions::default(),
        )?)
    }
}

/// The snapshot key of the layer with chain ID `chain`.
pub fn layer_key(chain: &Digest) -> String {
    format!("layer-{}", chain.hex())
}

/// Seconds since the epoch.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub use berth_oci::time::rfc3339;

/// The snapshotter of `driver` under `root` alone, without the rest of the store (no database
/// connection): for callers that only mount, unmount or remove containers' snapshots.
pub fn open_snapshotter(root: &Path, driver: Driver) -> Result<Arc<dyn Snapshotter>> {
    let snap_root = root.join(driver.name());
    Ok(match driver {
        Driver::Overlay => Arc::new(OverlaySnapshotter::new(&snap_root)?),
        Driver::Copy => Arc::new(CopySnapshotter::new(&snap_root)?),
    })
}
