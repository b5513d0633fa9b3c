//! `berth load`: docker-archive (`manifest.json`) and OCI image layout (`index.json`) tar
//! streams, plain or compressed, from a file or a pipe.
//!
//! One pass over the input: every large file in the archive streams into the content store
//! (hashed as it goes) and, when it looks like a layer, into an unpack worker at the same time,
//! so layers unpack in parallel with the rest of the stream. Small files (manifests, configs)
//! stay in memory until the archive's manifest says what they are. Only then are diffIDs
//! checked, layers stacked and the images recorded; anything that fails leaves no record, and
//! the blobs and snapshots written so far are garbage for the collector (held by a lease until
//! the load ends).

use crate::error::{ImageError, Result};
use crate::manifest::{self, Descriptor, ManifestKind};
use crate::store::{ImageStore, NewImage, NewLayer};
use crate::unpack::{self, Unpacked, Worker};
use berth_archive::{Compression, Decoder};
use berth_meta::Lease;
use berth_oci::{media_types, Digest, Platform, Reference};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Files up to this size are kept in memory (manifests, configs, tiny layers).
const SMALL_FILE: u64 = 1 << 20;
/// Read size while streaming a large file.
const CHUNK: usize = 1 << 20;
/// Manifests and configs larger than this are refused (the distribution spec's limit is 4 MiB).
const MAX_JSON: usize = 4 << 20;

/// An image that `load` added.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The image ID.
    pub id: Digest,
    /// The tags it got (full references).
    pub tags: Vec<String>,
}

/// A file of the archive as the stream left it.
#[derive(Debug)]
enum Stored {
    /// Kept in memory.
    Small(Vec<u8>),
    /// Stored as a blob, maybe unpacked too.
    Blob {
        digest: Digest,
        size: u64,
        compression: Compression,
        unpacked: Option<Unpacked>,
    },
}

/// A large file still being committed (fsync) and maybe unpacked.
struct Pending {
    name: String,
    commit: std::thread::JoinHandle<Result<Digest>>,
    worker: Option<Worker>,
    /// The diffID when the worker does not hash (an uncompressed layer: its blob digest).
    known_diff_id: Option<Digest>,
}

/// The archive's files by path, plus symlink/hardlink aliases.
#[derive(Debug, Default)]
struct Files {
    files: HashMap<String, Stored>,
    aliases: HashMap<String, String>,
}

impl Files {
    fn resolve<'a>(&'a self, mut name: &'a str) -> &'a str {
        for _ in 0..16 {
            match self.aliases.get(name) {
                Some(t) => name = t,
                None => break,
            }
        }
        name
    }

    fn small(&self, name: &str) -> Option<&[u8]> {
        match self.files.get(self.resolve(name)) {
            Some(Stored::Small(b)) => Some(b),
            _ => None,
        }
    }
}

/// Normalises an archive path: no leading `./` or `/`.
fn clean(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.to_string()
}

/// The digest a file name claims: `blobs/sha256/<hex>` or `<hex>.tar` (podman's layer names).
fn claimed_digest(name: &str) -> Option<Digest> {
    let hex = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".tar"))?;
    format!("sha256:{hex}").parse().ok()
}

/// Resolves a link target relative to the directory of `name`.
fn link_target(name: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return clean(abs);
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl ImageStore {
    /// Loads every image of an archive read from `input`. `progress` receives one line per
    /// step worth telling ("Loading layer ...").
    ///
    /// Layer blobs are published without waiting for the disk: the load is first recorded as
    /// unsynced, `ImageStore::sync` (run in the background by the CLI) makes it durable, and a
    /// power cut before that is detected and the store verified when it is next opened.
    pub fn load(
        &self,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<LoadedImage>> {
        // Recorded before any unsynced write (see `ImageStore::sync`).
        self.meta.begin_unsynced()?;
        self.with_lease("load", |lease| self.load_leased(input, progress, lease))
    }

    fn load_leased(
        &self,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(&str),
        lease: &Lease,
    ) -> Result<Vec<LoadedImage>> {
        let mut files = self.stream_archive(input, progress, lease)?;
        let images = if files.small("manifest.json").is_some() {
            self.docker_images(&mut files, lease)?
        } else if files.small("index.json").is_some() {
            self.oci_images(&mut files, lease)?
        } else {
            return Err(ImageError::BadArchive(
                "neither manifest.json (docker-archive) nor index.json (OCI layout) found".into(),
            ));
        };
        let mut loaded = Vec::new();
        for img in images {
            let tags = img.tags.clone();
            let id = self.add_image(img, lease)?;
            loaded.push(LoadedImage { id, tags });
        }
        // Unpacked copies nothing used (duplicates) are dropped.
        for stored in files.files.into_values() {
            if let Stored::Blob {
                unpacked: Some(u), ..
            } = stored
            {
                unpack::discard(self.snapshots.as_ref(), &u.key);
            }
        }
        Ok(loaded)
    }

    /// Reads the outer tar: small files to memory, large ones to the content store and, if
    /// they are layers, to unpack workers.
    fn stream_archive(
        &self,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(&str),
        lease: &Lease,
    ) -> Result<Files> {
        let decoder = Decoder::new(input).map_err(|source| ImageError::ArchiveRead {
            context: "start of the input".into(),
            source,
        })?;
        let mut archive = tar::Archive::new(decoder);
        let mut files = Files::default();
        let mut workers: Vec<Pending> = Vec::new();
        let entries = archive
            .entries()
            .map_err(|source| ImageError::ArchiveRead {
                context: "start of the input".into(),
                source,
            })?;
        let mut last = String::from("(start)");
        let mut count = 0usize;
        for entry in entries {
            let mut entry = entry.map_err(|source| ImageError::ArchiveRead {
                context: format!("entry after {last}"),
                source,
            })?;
            count += 1;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = clean(&raw);
            last = name.clone();
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(t)) = entry.link_name() {
                        let t = t.to_string_lossy().into_owned();
                        let target = if entry.header().entry_type() == tar::EntryType::Link {
                            clean(&t)
                        } else {
                            link_target(&name, &t)
                        };
                        files.aliases.insert(name, target);
                    }
                    continue;
                }
                _ => continue,
            }
            let size = entry.header().size().unwrap_or(0);
            if size <= SMALL_FILE {
                let mut data = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut data)
                    .map_err(|source| ImageError::ArchiveRead {
                        context: format!("entry {name}"),
                        source,
                    })?;
                files.files.insert(name, Stored::Small(data));
                continue;
            }
            let stored =
                self.stream_blob(&mut entry, &name, size, progress, lease, &mut workers)?;
            files.files.insert(name, stored);
        }
        if count == 0 {
            return Err(ImageError::BadArchive("the archive is empty".into()));
        }
        // Wait for every commit (fsync) and unpack; the first failure wins, the rest clean up.
        let mut first_err = None;
        for p in workers {
            let committed = p
                .commit
                .join()
                .unwrap_or_else(|_| Err(ImageError::Internal("a commit thread panicked".into())));
            let unpacked = p.worker.map(|w| w.finish(p.known_diff_id.clone()));
            if let Err(e) = committed {
                first_err.get_or_insert(e);
            }
            match unpacked {
                Some(Ok(u)) => match files.files.get_mut(&p.name) {
                    Some(Stored::Blob { unpacked: slot, .. }) if first_err.is_none() => {
                        *slot = Some(u)
                    }
                    _ => unpack::discard(self.snapshots.as_ref(), &u.key),
                },
                Some(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                None => {}
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(files)
    }

    /// Streams one large archive entry into the content store, teeing it into a new unpack
    /// worker when it is a layer and the driver allows parallel unpacking.
    fn stream_blob(
        &self,
        entry: &mut dyn Read,
        name: &str,
        size: u64,
        progress: &mut dyn FnMut(&str),
        lease: &Lease,
        workers: &mut Vec<Pending>,
    ) -> Result<Stored> {
        let read_err = |source| ImageError::ArchiveRead {
            context: format!("entry {name}"),
            source,
        };
        let mut first = vec![0u8; CHUNK];
        let n = read_full(entry, &mut first).map_err(read_err)?;
        first.truncate(n);
        let compression = Compression::detect(&first);
        // A blob already stored under the digest its name claims needs neither writing nor
        // unpacking: drain it.
        if let Some(claimed) = claimed_digest(name) {
            // Lease first, then look (see berth_meta::gc).
            lease.add_blob(&claimed)?;
            if self.content.exists(&claimed)? {
                io::copy(entry, &mut io::sink()).map_err(read_err)?;
                return Ok(Stored::Blob {
                    digest: claimed,
                    size,
                    compression,
                    unpacked: None,
                });
            }
        }
        let is_layer = unpack::looks_like_layer(&first);
        if is_layer {
            progress(&format!("Loading layer {name} ({})", human(size)));
        }
        // An uncompressed layer's diffID is the blob digest hashed here: the worker skips it.
        let plain = compression == Compression::None;
        let mut worker = if is_layer && self.snapshots.independent_layers() {
            Some(Worker::start(self, name, !plain, lease)?)
        } else {
            None
        };
        let reference = unpack::unique_ref("load");
        let mut writer = self.content.writer(&reference, None)?;
        writer.defer_sync();
        let write_err = |source| ImageError::Io {
            op: "writing blob for",
            path: name.into(),
            source,
        };
        let stream = || -> Result<u64> {
            let mut chunk = first;
            let mut total = 0u64;
            while !chunk.is_empty() {
                writer.write_all(&chunk).map_err(write_err)?;
                total += chunk.len() as u64;
                let shared = Arc::new(chunk);
                if let Some(w) = &mut worker {
                    if !w.send(Arc::clone(&shared)) {
                        // The worker stopped: its error says why.
                        let w = worker.take().expect("present");
                        w.finish(None)?;
                        return Err(ImageError::Internal(format!(
                            "unpacking {name} stopped early"
                        )));
                    }
                }
                // Reuse the buffer when the worker is done with it, else allocate a new one.
                let mut next =
                    Arc::try_unwrap(shared).unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                next.resize(CHUNK, 0);
                let n = read_full(entry, &mut next).map_err(read_err)?;
                next.truncate(n);
                chunk = next;
            }
            Ok(total)
        };
        let total = match stream() {
            Ok(t) => t,
            Err(e) => {
                // Free the space now (a full disk is a likely cause): the partial ingest goes.
                drop(writer);
                let _ = self.content.abort(&reference);
                return Err(e);
            }
        };
        if total != size {
            drop(writer);
            let _ = self.content.abort(&reference);
            return Err(ImageError::BadArchive(format!(
                "entry {name} is truncated: {total} of {size} bytes"
            )));
        }
        let digest = writer.digest();
        if let Some(claimed) = claimed_digest(name) {
            if claimed != digest && name.starts_with("blobs/") {
                drop(writer);
                let _ = self.content.abort(&reference);
                return Err(ImageError::DigestMismatch {
                    what: format!("archive entry {name}"),
                    expected: Box::new(claimed),
                    actual: Box::new(digest),
                });
            }
        }
        lease.add_blob(&digest)?;
        // Publishing (rename) overlaps with streaming the next blob.
        let commit = std::thread::Builder::new()
            .name("berth-commit".into())
            .spawn(move || writer.commit_unsynced().map_err(ImageError::from))
            .map_err(|e| ImageError::Internal(format!("starting a commit thread: {e}")))?;
        workers.push(Pending {
            name: name.to_string(),
            commit,
            worker,
            known_diff_id: plain.then(|| digest.clone()),
        });
        Ok(Stored::Blob {
            digest,
            size,
            compression,
            unpacked: None,
        })
    }

    /// The images of a docker-archive's `manifest.json`.
    fn docker_images(&self, files: &mut Files, lease: &Lease) -> Result<Vec<NewImage>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let bytes = files.small("manifest.json").expect("checked");
        let entries: Vec<Entry> = serde_json::from_slice(bytes)
            .map_err(|e| ImageError::BadArchive(format!("manifest.json: {e}")))?;
        if entries.is_empty() {
            return Err(ImageError::BadArchive(
                "manifest.json lists no images".into(),
            ));
        }
        let mut images = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let what = format!("image {} of manifest.json", i + 1);
            let config_name = clean(&e.config);
            let config = files
                .small(&config_name)
                .ok_or_else(|| {
                    ImageError::BadArchive(format!(
                        "{what}: config {config_name} is not in the archive"
                    ))
                })?
                .to_vec();
            if let Some(claimed) = claimed_digest(&config_name) {
                let actual = Digest::sha256_of(&config);
                if actual != claimed {
                    return Err(ImageError::DigestMismatch {
                        what: format!("config {config_name}"),
                        expected: Box::new(claimed),
                        actual: Box::new(actual),
                    });
                }
            }
            let mut layers = Vec::new();
            for l in &e.layers {
                let name = clean(l);
                layers.push(self.layer_from(files, &name, None, &what, lease)?);
            }
            let mut tags = Vec::new();
            for t in e.repo_tags.unwrap_or_default() {
                tags.push(Reference::parse(&t)?.to_string());
            }
            images.push(NewImage {
                config,
                layers,
                tags,
                manifest: None,
                parent: None,
                what,
            });
        }
        Ok(images)
    }

    /// A layer named `name` in the archive as a [`NewLayer`]: its blob (storing it now if it was
    /// small) and the copy unpacked while streaming, taken so that it is used once.
    fn layer_from(
        &self,
        files: &mut Files,
        name: &str,
        declared: Option<&Descriptor>,
        what: &str,
        lease: &Lease,
    ) -> Result<NewLayer> {
        let real = files.resolve(name).to_string();
        let stored = files.files.get_mut(&real).ok_or_else(|| {
            ImageError::BadArchive(format!("{what}: layer {name} is not in the archive"))
        })?;
        let (digest, size, compression, unpacked) = match stored {
            Stored::Small(data) => {
                let compression = Compression::detect(data);
                let d = self.put_small_blob(data, None, lease)?;
                (d, data.len() as u64, compression, None)
            }
            Stored::Blob {
                digest,
                size,
                compression,
                unpacked,
            } => (digest.clone(), *size, *compression, unpacked.take()),
        };
        if let Some(want) = declared {
            if want.digest != digest {
                if let Some(u) = unpacked {
                    unpack::discard(self.snapshots.as_ref(), &u.key);
                }
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {name} of {what}"),
                    expected: Box::new(want.digest.clone()),
                    actual: Box::new(digest),
                });
            }
        }
        let media_type = match declared {
            Some(d) => d.media_type.clone(),
            None => match compression {
                Compression::None => media_types::OCI_LAYER,
                Compression::Gzip => media_types::OCI_LAYER_GZIP,
                Compression::Zstd => media_types::OCI_LAYER_ZSTD,
            }
            .to_string(),
        };
        Ok(NewLayer {
            source: name.to_string(),
            blob: Descriptor::new(media_type, digest, size),
            unpacked,
        })
    }

    /// The images of an OCI layout's `index.json` (nested indexes resolved for this host).
    fn oci_images(&self, files: &mut Files, lease: &Lease) -> Result<Vec<NewImage>> {
        let index_bytes = files.small("index.json").expect("checked").to_vec();
        let index = match manifest::parse_manifest(&index_bytes, Some(media_types::OCI_INDEX))
            .map_err(|source| ImageError::Manifest {
                what: "index.json".into(),
                source,
            })? {
            ManifestKind::Index(i) => i,
            ManifestKind::Manifest(_) => {
                return Err(ImageError::BadArchive(
                    "index.json is a manifest, not an index".into(),
                ))
            }
        };
        let host = Platform::host();
        let mut images = Vec::new();
        for (i, desc) in index.manifests.iter().enumerate() {
            let what = format!("manifest {} of index.json", i + 1);
            let tags = ref_name(desc);
            let mut desc = desc.clone();
            // Follow nested indexes down to the manifest for this host.
            for _ in 0..4 {
                let bytes = blob_bytes(files, &desc, &what)?;
                match manifest::parse_manifest(&bytes, Some(&desc.media_type)).map_err(
                    |source| ImageError::Manifest {
                        what: what.clone(),
                        source,
                    },
                )? {
                    ManifestKind::Index(nested) => {
                        desc = manifest::select_platform(&nested, &host)
                            .ok_or_else(|| {
                                ImageError::BadArchive(format!(
                                    "{what}: no manifest for platform {host}"
                                ))
                            })?
                            .clone();
                    }
                    ManifestKind::Manifest(m) => {
                        let config = blob_bytes(files, &m.config, &what)?;
                        let mut layers = Vec::new();
                        for l in &m.layers {
                            let name = format!("blobs/sha256/{}", l.digest.hex());
                            layers.push(self.layer_from(files, &name, Some(l), &what, lease)?);
                        }
                        images.push(NewImage {
                            config,
                            layers,
                            tags: tags.clone(),
                            manifest: Some((bytes, desc.media_type.clone())),
                            parent: None,
                            what: what.clone(),
                        });
                        break;
                    }
                }
            }
        }
        if images.is_empty() {
            return Err(ImageError::BadArchive(
                "index.json lists no manifests".into(),
            ));
        }
        Ok(images)
    }
}

/// The tags an index entry names: containerd's full-name annotation, else a ref name that is a
/// whole reference (a bare tag names no repository and gives no tag).
fn ref_name(desc: &Descriptor) -> Vec<String> {
    let ann = desc.annotations.clone().unwrap_or_default();
    let candidate = ann
        .get("io.containerd.image.name")
        .or_else(|| ann.get("org.opencontainers.image.ref.name"));
    match candidate {
        Some(n) if n.contains(':') || n.contains('/') => Reference::parse(n)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| vec![r.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The bytes of a small blob `desc` names, checked against its digest and size.
fn blob_bytes(files: &Files, desc: &Descriptor, what: &str) -> Result<Vec<u8>> {
    let name = format!("blobs/sha256/{}", desc.digest.hex());
    let data = files.small(&name).ok_or_else(|| ImageError::MissingBlob {
        what: what.to_string(),
        digest: desc.digest.clone(),
    })?;
    if data.len() > MAX_JSON {
        return Err(ImageError::BadArchive(format!(
            "{name} is too large for a manifest or config"
        )));
    }
    let actual = Digest::sha256_of(data);
    if actual != desc.digest {
        return Err(ImageError::DigestMismatch {
            what: format!("archive entry {name}"),
            expected: Box::new(desc.digest.clone()),
            actual: Box::new(actual),
        });
    }
    if data.len() as u64 != desc.size {
        return Err(ImageError::BadArchive(format!(
            "{name}: {what} gives size {} but it has {} bytes",
            desc.size,
            data.len()
        )));
    }
    Ok(data.to_vec())
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Bytes as docker prints them in progress lines (decimal units).
fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.3}{}", units[u])
        .replace(".000", "")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links() {
        assert_eq!(clean("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(
            link_target("abc/layer.tar", "../def/layer.tar"),
            "def/layer.tar"
        );
        assert_eq!(link_target("a/b", "/c"), "c");
        let hex = "a".repeat(64);
        assert_eq!(
            claimed_digest(&format!("{hex}.tar")).unwrap().hex(),
            hex.as_str()
        );
        assert!(claimed_digest("manifest.json").is_none());
        assert!(claimed_digest("blobs/sha256/xyz").is_none());
    }
}
