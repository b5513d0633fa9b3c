//! `berth save`: images as one tar archive, in Docker's combined layout or as a plain OCI image
//! layout.
//!
//! [`SaveFormat::DockerArchive`] is what Docker 25+ writes: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/<alg>/<hex>`) plus the legacy `manifest.json` and `repositories` that
//! older `docker load` and `podman load` read, both pointing at the same blobs, so one archive
//! serves every reader. [`SaveFormat::OciArchive`] is the OCI layout alone.
//!
//! `manifest.json` and `repositories` name images by their full reference (see
//! [`LegacyManifest`]); `repositories` maps each tag to the top layer's blob (its path in the
//! archive, as Docker 25 does).
//!
//! `index.json` always names OCI manifests: a stored OCI manifest is written as it is, a stored
//! Docker schema 2 manifest is rewritten with the OCI media types (same config and layer blobs,
//! so the image ID and diffIDs do not change). Tools that only know OCI layouts (umoci) need that.
//! Each tag gets its own index entry with containerd's `io.containerd.image.name` (the full
//! reference) and OCI's `org.opencontainers.image.ref.name` (the tag) annotations.
//!
//! The tar stream is written here, not by `tar::Builder`: ustar headers with mtime 0, owner 0:0,
//! mode 0644 (0755 for directories), entries sorted by path, so the same images always give the
//! same bytes. Blob bodies go from the store to the output with `std::io::copy`; when the
//! output is a `File` ([`save_to_file`]) the kernel moves the bytes (copy_file_range, sendfile
//! or splice). Each blob's size is checked before its header is written; its digest is checked
//! on a second thread while the main one copies, and a mismatch fails the save.

use crate::manifest::{Descriptor, Index, Manifest};
use berth_content::verify::Hasher;
use berth_content::ContentStore;
use berth_oci::error::class_of_errno;
use berth_oci::media_types::{self, essence};
use berth_oci::{Classify, Digest, ErrorClass, Reference, ReferenceError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Size of the tar block.
const BLOCK: usize = 512;
/// Read size when bytes pass through user space (stream output, verification).
const CHUNK: usize = 1 << 20;

/// What [`save`] needs to know of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveImage {
    /// The image ID (the config digest).
    pub id: Digest,
    /// Its tags, fully normalised (`docker.io/library/busybox:latest`); may be empty.
    pub tags: Vec<String>,
    /// The stored manifest.
    pub manifest_digest: Digest,
    /// The stored manifest's media type (OCI or Docker schema 2).
    pub manifest_media_type: String,
    /// The config blob (normally equal to `id`).
    pub config_digest: Digest,
    /// The stored layer blobs, bottom first, with their media types.
    pub layers: Vec<Descriptor>,
    /// The layers' diffIDs from the config, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// The layout of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFormat {
    /// Docker 25+'s combined layout: OCI layout plus `manifest.json` and `repositories`.
    #[default]
    DockerArchive,
    /// An OCI image layout only.
    OciArchive,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveStats {
    /// Images written.
    pub images: usize,
    /// Distinct blobs written (shared ones once).
    pub blobs: usize,
    /// Bytes of blob bodies copied from the store.
    pub blob_bytes: u64,
    /// Total length of the archive.
    pub archive_bytes: u64,
}

/// Why a save failed. Messages name the image, blob, path or archive entry involved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// No image was given.
    #[error("nothing to save: no images given")]
    NoImages,
    /// A tag is not a reference.
    #[error("image {image}: tag {tag:?} is not a valid reference: {source}")]
    BadTag {
        image: Digest,
        tag: String,
        #[source]
        source: Box<ReferenceError>,
    },
    /// The manifest and the config disagree on the number of layers.
    #[error("image {image}: the manifest lists {layers} layers but the config {diff_ids} diffIDs")]
    LayerCount {
        image: Digest,
        layers: usize,
        diff_ids: usize,
    },
    /// A blob the image needs is not in the store.
    #[error("image {image}: {what} blob {digest} is missing from the store ({path})")]
    MissingBlob {
        /// The image ID (a string: keeps the error small).
        image: String,
        what: &'static str,
        digest: Digest,
        path: PathBuf,
    },
    /// A blob could not be examined.
    #[error("blob {digest}: cannot stat {path}: {source}")]
    Stat {
        digest: Digest,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A stored blob does not have the size its descriptor says.
    #[error("blob {digest} at {path} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        digest: Digest,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// A stored blob does not hash to its digest.
    #[error("blob {digest} at {path} is corrupt: its content hashes to {actual}")]
    DigestMismatch {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
    },
    /// Reading a stored blob failed.
    #[error("reading blob {digest} from {path}: {source}")]
    Read {
        digest: Digest,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing to the output failed.
    #[error("writing {entry} to the archive: {source}")]
    Write {
        entry: String,
        #[source]
        source: io::Error,
    },
    /// A JSON document of the archive could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The verifying thread died.
    #[error("internal error: the blob verification thread panicked")]
    VerifierPanicked,
}

impl Classify for SaveError {
    fn class(&self) -> ErrorClass {
        match self {
            SaveError::NoImages | SaveError::BadTag { .. } => ErrorClass::InvalidArgument,
            SaveError::MissingBlob { .. } => ErrorClass::NotFound,
            SaveError::LayerCount { .. }
            | SaveError::SizeMismatch { .. }
            | SaveError::DigestMismatch { .. } => ErrorClass::FailedPrecondition,
            SaveError::Stat { source, .. }
            | SaveError::Read { source, .. }
            | SaveError::Write { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno),
            SaveError::Encode { .. } | SaveError::VerifierPanicked => ErrorClass::Internal,
        }
    }
}

/// Writes `images` as an archive in `format` to `out` (a pipe, a socket, a buffer). Blob bytes
/// pass through user space; prefer [`save_to_file`] when the output is a file or can be made one.
pub fn save(
    images: &[SaveImage],
    content: &ContentStore,
    format: SaveFormat,
    out: &mut dyn Write,
) -> Result<SaveStats, SaveError> {
    let plan = plan(images, content, format)?;
    let mut sink = StreamSink {
        out: BufWriter::with_capacity(CHUNK, out),
        buf: vec![0; CHUNK],
    };
    run(&plan, &mut sink, true)
}

/// Like [`save`] for a `File` output (a regular file, or a pipe/socket wrapped in a `File`):
/// blob bodies are copied by the kernel. The file is written from its current position.
pub fn save_to_file(
    images: &[SaveImage],
    content: &ContentStore,
    format: SaveFormat,
    out: &mut File,
) -> Result<SaveStats, SaveError> {
    let plan = plan(images, content, format)?;
    run(&plan, &mut FileSink { out }, true)
}

/// One archive entry's content.
#[derive(Debug)]
enum Body {
    /// A directory.
    Dir,
    /// Bytes made here (JSON documents, converted manifests).
    Bytes(Vec<u8>),
    /// A stored blob, size already checked.
    Blob {
        digest: Digest,
        path: PathBuf,
        size: u64,
    },
}

/// Everything the archive will hold, by entry path (sorted: the order they are written in).
#[derive(Debug, Default)]
struct Plan {
    entries: BTreeMap<String, Body>,
    images: usize,
}

impl Plan {
    /// Adds the stored blob `digest` (once), checking that it exists and, when `expected` is
    /// given, its size. Returns its size.
    fn add_stored(
        &mut self,
        content: &ContentStore,
        image: &Digest,
        what: &'static str,
        digest: &Digest,
        expected: Option<u64>,
    ) -> Result<u64, SaveError> {
        let entry = blob_entry(digest);
        if let Some(Body::Blob { size, path, .. }) = self.entries.get(&entry) {
            return match expected {
                Some(e) if e != *size => Err(SaveError::SizeMismatch {
                    digest: digest.clone(),
                    path: path.clone(),
                    expected: e,
                    actual: *size,
                }),
                _ => Ok(*size),
            };
        }
        let path = content.blob_path(digest);
        let size = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => {
                return Err(SaveError::MissingBlob {
                    image: image.to_string(),
                    what,
                    digest: digest.clone(),
                    path,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SaveError::MissingBlob {
                    image: image.to_string(),
                    what,
                    digest: digest.clone(),
                    path,
                })
            }
            Err(source) => {
                return Err(SaveError::Stat {
                    digest: digest.clone(),
                    path,
                    source,
                })
            }
        };
        if let Some(e) = expected {
            if e != size {
                return Err(SaveError::SizeMismatch {
                    digest: digest.clone(),
                    path,
                    expected: e,
                    actual: size,
                });
            }
        }
        self.add_dirs(digest);
        self.entries.insert(
            entry,
            Body::Blob {
                digest: digest.clone(),
                path,
                size,
            },
        );
        Ok(size)
    }

    /// Adds `bytes` as the blob they hash to and returns its descriptor fields.
    fn add_bytes_blob(&mut self, bytes: Vec<u8>) -> (Digest, u64) {
        let digest = Digest::sha256_of(&bytes);
        let size = bytes.len() as u64;
        self.add_dirs(&digest);
        self.entries.insert(blob_entry(&digest), Body::Bytes(bytes));
        (digest, size)
    }

    fn add_dirs(&mut self, digest: &Digest) {
        self.entries.insert("blobs/".into(), Body::Dir);
        self.entries
            .insert(format!("blobs/{}/", digest.algorithm()), Body::Dir);
    }

    fn add_json<T: Serialize>(
        &mut self,
        name: &str,
        what: &'static str,
        value: &T,
    ) -> Result<(), SaveError> {
        let bytes =
            serde_json::to_vec(value).map_err(|source| SaveError::Encode { what, source })?;
        self.entries.insert(name.to_string(), Body::Bytes(bytes));
        Ok(())
    }

    /// Blob entries (stored or made here).
    fn blob_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|(name, body)| name.starts_with("blobs/") && !matches!(body, Body::Dir))
            .count()
    }

    /// The stored blobs to verify, in archive order.
    fn stored_blobs(&self) -> Vec<(&Digest, &PathBuf)> {
        self.entries
            .values()
            .filter_map(|b| match b {
                Body::Blob { digest, path, .. } => Some((digest, path)),
                _ => None,
            })
            .collect()
    }
}

/// `blobs/<alg>/<hex>`.
fn blob_entry(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// An image of `manifest.json`. `RepoTags` hold full references (`docker.io/library/busybox:latest`,
/// as podman writes them): `docker load` normalises either form, but podman turns a familiar
/// `busybox:latest` into `localhost/busybox:latest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyManifest {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Merges images named twice (same ID) into one with the union of their tags, keeping order.
fn merge(images: &[SaveImage]) -> Vec<SaveImage> {
    let mut out: Vec<SaveImage> = Vec::new();
    for img in images {
        match out.iter_mut().find(|o| o.id == img.id) {
            Some(o) => {
                for t in &img.tags {
                    if !o.tags.contains(t) {
                        o.tags.push(t.clone());
                    }
                }
            }
            None => out.push(img.clone()),
        }
    }
    out
}

/// Decides every entry of the archive and checks that every blob is there with its size.
fn plan(
    images: &[SaveImage],
    content: &ContentStore,
    format: SaveFormat,
) -> Result<Plan, SaveError> {
    if images.is_empty() {
        return Err(SaveError::NoImages);
    }
    let images = merge(images);
    let mut plan = Plan {
        images: images.len(),
        ..Plan::default()
    };
    let mut index_entries = Vec::new();
    let mut legacy = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in &images {
        if img.layers.len() != img.diff_ids.len() {
            return Err(SaveError::LayerCount {
                image: img.id.clone(),
                layers: img.layers.len(),
                diff_ids: img.diff_ids.len(),
            });
        }
        let config_size = plan.add_stored(content, &img.id, "config", &img.config_digest, None)?;
        for layer in &img.layers {
            plan.add_stored(content, &img.id, "layer", &layer.digest, Some(layer.size))?;
        }
        let (manifest_digest, manifest_size) = if essence(&img.manifest_media_type)
            == media_types::OCI_MANIFEST
        {
            let size = plan.add_stored(content, &img.id, "manifest", &img.manifest_digest, None)?;
            (img.manifest_digest.clone(), size)
        } else {
            let bytes = oci_manifest(img, config_size)?;
            plan.add_bytes_blob(bytes)
        };

        let mut refs = Vec::new();
        for tag in &img.tags {
            let r = Reference::parse(tag).map_err(|source| SaveError::BadTag {
                image: img.id.clone(),
                tag: tag.clone(),
                source: Box::new(source),
            })?;
            if r.tag().is_some() && !refs.contains(&r) {
                refs.push(r);
            }
        }
        refs.sort_by_key(|r| r.to_string());

        let desc = Descriptor::new(media_types::OCI_MANIFEST, manifest_digest, manifest_size);
        if refs.is_empty() {
            index_entries.push(desc.clone());
        }
        for r in &refs {
            let mut d = desc.clone();
            let tag = r.tag().unwrap_or(berth_oci::reference::DEFAULT_TAG);
            d.annotations = Some(BTreeMap::from([
                (
                    media_types::ANNOTATION_CONTAINERD_IMAGE_NAME.to_string(),
                    r.to_string(),
                ),
                (
                    media_types::ANNOTATION_REF_NAME.to_string(),
                    tag.to_string(),
                ),
            ]));
            index_entries.push(d);
            if let Some(top) = img.layers.last() {
                repositories
                    .entry(r.name())
                    .or_default()
                    .insert(tag.to_string(), top.digest.hex().to_string());
            }
        }
        legacy.push(LegacyManifest {
            config: blob_entry(&img.config_digest),
            repo_tags: (!refs.is_empty()).then(|| refs.iter().map(Reference::to_string).collect()),
            layers: img.layers.iter().map(|l| blob_entry(&l.digest)).collect(),
        });
    }
    plan.add_json(
        media_types::OCI_LAYOUT_FILE,
        "oci-layout",
        &serde_json::json!({ "imageLayoutVersion": media_types::OCI_LAYOUT_VERSION }),
    )?;
    plan.add_json(
        media_types::OCI_LAYOUT_INDEX_FILE,
        "index.json",
        &Index::oci(index_entries),
    )?;
    if format == SaveFormat::DockerArchive {
        plan.add_json("manifest.json", "manifest.json", &legacy)?;
        if !repositories.is_empty() {
            plan.add_json("repositories", "repositories", &repositories)?;
        }
    }
    Ok(plan)
}

/// The OCI form of a Docker schema 2 manifest: the same blobs with OCI media types.
fn oci_manifest(img: &SaveImage, config_size: u64) -> Result<Vec<u8>, SaveError> {
    let config = Descriptor::new(
        media_types::OCI_CONFIG,
        img.config_digest.clone(),
        config_size,
    );
    let layers = img
        .layers
        .iter()
        .map(|l| Descriptor {
            media_type: media_types::to_oci_media_type(&l.media_type).to_string(),
            platform: None,
            ..l.clone()
        })
        .collect();
    serde_json::to_vec(&Manifest::oci(config, layers)).map_err(|source| SaveError::Encode {
        what: "the OCI manifest",
        source,
    })
}

/// Where the archive goes.
trait Sink {
    /// Writes `data`.
    fn put(&mut self, data: &[u8]) -> io::Result<()>;
    /// Copies up to `len` bytes of `file`; returns how many were copied.
    fn copy_file(&mut self, file: &File, len: u64) -> io::Result<u64>;
    /// Flushes buffered bytes.
    fn finish(&mut self) -> io::Result<()>;
}

/// A `File` output: `io::copy` between two files is done by the kernel.
struct FileSink<'a> {
    out: &'a mut File,
}

impl Sink for FileSink<'_> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)
    }

    fn copy_file(&mut self, file: &File, len: u64) -> io::Result<u64> {
        io::copy(&mut file.take(len), self.out)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Any other output: bytes pass through a buffer.
struct StreamSink<'a> {
    out: BufWriter<&'a mut dyn Write>,
    buf: Vec<u8>,
}

impl Sink for StreamSink<'_> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)
    }

    fn copy_file(&mut self, mut file: &File, mut len: u64) -> io::Result<u64> {
        let mut copied = 0;
        while len > 0 {
            let want = self
                .buf
                .len()
                .min(usize::try_from(len).unwrap_or(usize::MAX));
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.out.write_all(&self.buf[..n])?;
            copied += n as u64;
            len -= n as u64;
        }
        Ok(copied)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes the plan while a second thread verifies the stored blobs' digests. Either side stops
/// early when the other failed.
fn run(plan: &Plan, sink: &mut dyn Sink, verify: bool) -> Result<SaveStats, SaveError> {
    let failed = AtomicBool::new(false);
    let blobs = if verify {
        plan.stored_blobs()
    } else {
        Vec::new()
    };
    let (written, verified) = std::thread::scope(|s| {
        let verifier = s.spawn(|| {
            let r = verify_blobs(&blobs, &failed);
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            r
        });
        let written = write_entries(plan, sink, &failed);
        if written.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        let verified = verifier.join().unwrap_or(Err(SaveError::VerifierPanicked));
        (written, verified)
    });
    // A corrupt blob is the root cause when both failed (the writer only stopped for it).
    verified?;
    let (blob_bytes, archive_bytes) = written?.expect("not stopped when verification passed");
    Ok(SaveStats {
        images: plan.images,
        blobs: plan.blob_count(),
        blob_bytes,
        archive_bytes,
    })
}

/// Hashes every stored blob; the first that does not match its digest is the error.
fn verify_blobs(blobs: &[(&Digest, &PathBuf)], stop: &AtomicBool) -> Result<(), SaveError> {
    let mut buf = vec![0u8; CHUNK];
    for (digest, path) in blobs {
        let read_err = |source| SaveError::Read {
            digest: (*digest).clone(),
            path: (*path).clone(),
            source,
        };
        let mut f = File::open(path).map_err(read_err)?;
        let mut h = Hasher::for_digest(digest);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            h.update(&buf[..n]);
        }
        let actual = h.digest();
        if &actual != *digest {
            return Err(SaveError::DigestMismatch {
                digest: (*digest).clone(),
                path: (*path).clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// Writes every entry and the end-of-archive marker. `Ok(None)` when stopped because the
/// verifier failed; otherwise (blob bytes, archive bytes).
fn write_entries(
    plan: &Plan,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
) -> Result<Option<(u64, u64)>, SaveError> {
    let mut blob_bytes = 0u64;
    let mut total = 0u64;
    let mut small = Vec::new();
    for (name, body) in &plan.entries {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let write_err = |source| SaveError::Write {
            entry: name.clone(),
            source,
        };
        match body {
            Body::Dir => {
                let h = header(name, 0, tar::EntryType::Directory, 0o755).map_err(write_err)?;
                sink.put(&h).map_err(write_err)?;
                total += BLOCK as u64;
            }
            Body::Bytes(bytes) => {
                small.clear();
                let h = header(name, bytes.len() as u64, tar::EntryType::Regular, 0o644)
                    .map_err(write_err)?;
                small.extend_from_slice(&h);
                small.extend_from_slice(bytes);
                small.resize(small.len() + padding(bytes.len() as u64), 0);
                sink.put(&small).map_err(write_err)?;
                total += small.len() as u64;
            }
            Body::Blob { digest, path, size } => {
                let read_err = |source| SaveError::Read {
                    digest: digest.clone(),
                    path: path.clone(),
                    source,
                };
                let file = File::open(path).map_err(read_err)?;
                let h = header(name, *size, tar::EntryType::Regular, 0o644).map_err(write_err)?;
                sink.put(&h).map_err(write_err)?;
                let copied = sink.copy_file(&file, *size).map_err(write_err)?;
                if copied != *size {
                    return Err(SaveError::SizeMismatch {
                        digest: digest.clone(),
                        path: path.clone(),
                        expected: *size,
                        actual: copied,
                    });
                }
                let pad = padding(*size);
                sink.put(&[0u8; BLOCK][..pad]).map_err(write_err)?;
                blob_bytes += size;
                total += BLOCK as u64 + size + pad as u64;
            }
        }
    }
    let end_err = |source| SaveError::Write {
        entry: "the end-of-archive marker".into(),
        source,
    };
    sink.put(&[0u8; 2 * BLOCK]).map_err(end_err)?;
    sink.finish().map_err(end_err)?;
    total += 2 * BLOCK as u64;
    Ok(Some((blob_bytes, total)))
}

/// Bytes of zeros after a body of `len` bytes to fill its last block.
fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// A deterministic ustar header: mtime 0, owner 0:0, no user or group names.
fn header(path: &str, size: u64, kind: tar::EntryType, mode: u32) -> io::Result<[u8; BLOCK]> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(kind);
    h.set_cksum();
    Ok(*h.as_bytes())
}

#[cfg(test)]
mod tests;
