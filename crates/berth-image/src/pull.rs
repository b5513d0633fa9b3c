//! The store side of a pull: an image's manifest and config (fetched and checked by the caller)
//! plus its layers, streamed from a [`LayerSource`] (a registry) in parallel, each in one pass
//! through the content store (digest checked at commit) and an unpack worker (decompression and
//! extraction) at the same time.
//!
//! Nothing is recorded until every blob matched its digest and every layer its diffID: then the
//! image and its tags are stored in one transaction (`add_image`). Everything written before that
//! is held by a lease, so a failure (or a kill -9) leaves only garbage for the collector.
//!
//! Resume across processes: a layer downloads into the content store's ingest named after its
//! digest ([`resume_ref`]), never visible as a blob before its digest is verified. A pull that
//! fails or is killed leaves that partial ingest behind (a failed pull's cleanup keeps ingests);
//! the next pull of a blob with the same digest asks the source for the rest only (a Range
//! request), and the digest is checked over the whole file at commit. The layer is then unpacked
//! from the committed blob instead of while it streams. Any image-store GC (`rmi`, `prune`,
//! `system check`) discards partial ingests no writer holds.

use crate::error::{ImageError, Result};
use crate::load::read_full;
use crate::manifest::{self, Descriptor, ManifestKind};
use crate::store::{ImageStore, NewImage, NewLayer};
use crate::unpack::{self, Unpacked, Worker};
use berth_archive::Compression;
use berth_meta::Lease;
use berth_oci::Digest;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Read size while streaming a layer.
const CHUNK: usize = 1 << 20;
/// Chunks kept for reuse while the unpack worker holds them (its queue plus the one it reads).
const LENT_MAX: usize = 8;

/// Where layer blobs come from. The source resumes a dropped transfer itself (the bytes it
/// returns are the blob from `offset`, in order); the store checks the digest at the end.
pub trait LayerSource: Sync {
    /// Opens a reader over blob `desc` starting at byte `offset` (0: the whole blob; more when
    /// an earlier pull left part of it in the content store's ingest area).
    fn open(&self, desc: &Descriptor, offset: u64) -> std::io::Result<Box<dyn Read + Send>>;
}

/// The content-store ingest a layer blob downloads into: named after the digest, so that a later
/// pull (in another process) of the same blob finds and resumes it.
pub(crate) fn resume_ref(digest: &Digest) -> String {
    format!("pull-{}-{}", digest.algorithm(), digest.hex())
}

/// What a pull tells its progress display, per layer (`index` in the manifest's order).
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// The layer is already in the store.
    Exists { index: usize, digest: Digest },
    /// The layer waits for a download slot.
    Waiting { index: usize, digest: Digest },
    /// Bytes of the layer received so far.
    Downloading {
        index: usize,
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// The blob is complete and verified; extraction is finishing.
    Verified { index: usize, digest: Digest },
    /// The layer is stored and unpacked.
    Complete { index: usize, digest: Digest },
}

/// An image to pull: the manifest as served (its bytes define its digest), its media type, the
/// config bytes, the tags to give it and the repo digests (`name@sha256:...`) to record.
#[derive(Debug, Clone)]
pub struct PullSpec {
    /// The manifest bytes exactly as the registry served them.
    pub manifest: Vec<u8>,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The config bytes.
    pub config: Vec<u8>,
    /// Full references to tag the image with.
    pub tags: Vec<String>,
    /// `name@digest` strings to record.
    pub repo_digests: Vec<String>,
    /// What is pulled, for messages.
    pub what: String,
}

/// A layer's fate in a pull.
enum Plan {
    /// Layer and blob already stored.
    Present,
    /// Blob stored, layer not unpacked yet (`add_image` unpacks it).
    BlobOnly,
    /// To download.
    Fetch,
}

impl ImageStore {
    /// Pulls the image `spec` describes, downloading missing layers from `source` with up to
    /// `threads` at once. Returns the image ID. On any failure nothing is recorded.
    pub fn pull(
        &self,
        spec: PullSpec,
        source: &dyn LayerSource,
        threads: usize,
        progress: &(dyn Fn(PullEvent) + Sync),
    ) -> Result<Digest> {
        self.meta.begin_unsynced()?;
        let lease = self.meta.begin_lease("pull")?;
        let result = self.pull_leased(spec, source, threads.max(1), progress, &lease);
        let ended = lease.end();
        if result.is_err() {
            self.clean_after_failed_pull();
            return result;
        }
        ended?;
        result
    }

    /// Like a failed load's cleanup (what the pull wrote is unreferenced now), except that the
    /// partial downloads stay in the ingest area for the next pull to resume.
    fn clean_after_failed_pull(&self) {
        let opts = berth_meta::gc::GcOptions {
            abort_ingests: false,
            ..Default::default()
        };
        for _ in 0..3 {
            match berth_meta::gc::collect(&self.meta, &self.content, self.snapshots.as_ref(), &opts)
            {
                Ok(report) if report.errors.is_empty() => break,
                _ => {}
            }
        }
        let _ = self.snapshots.cleanup();
    }

    fn pull_leased(
        &self,
        spec: PullSpec,
        source: &dyn LayerSource,
        threads: usize,
        progress: &(dyn Fn(PullEvent) + Sync),
        lease: &Lease,
    ) -> Result<Digest> {
        let manifest =
            match manifest::parse_manifest(&spec.manifest, Some(&spec.manifest_media_type))
                .map_err(|source| ImageError::Manifest {
                    what: format!("manifest of {}", spec.what),
                    source,
                })? {
                ManifestKind::Manifest(m) => m,
                ManifestKind::Index(_) => {
                    return Err(ImageError::InvalidArgument(format!(
                        "{}: an index cannot be stored as an image: select a platform first",
                        spec.what
                    )))
                }
            };
        let actual = Digest::sha256_of(&spec.config);
        if actual != manifest.config.digest {
            return Err(ImageError::DigestMismatch {
                what: format!("config of {}", spec.what),
                expected: Box::new(manifest.config.digest.clone()),
                actual: Box::new(actual),
            });
        }
        let config =
            manifest::parse_config(&spec.config).map_err(|source| ImageError::Manifest {
                what: format!("config of {}", spec.what),
                source,
            })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::BadArchive(format!(
                "{}: the config lists {} layers (diff_ids) but the manifest has {}",
                spec.what,
                diff_ids.len(),
                manifest.layers.len()
            )));
        }
        let chains = manifest::chain_ids(diff_ids);
        let mut plans = Vec::new();
        for (desc, chain) in manifest.layers.iter().zip(&chains) {
            if !manifest::is_layer(&desc.media_type) {
                return Err(ImageError::InvalidArgument(format!(
                    "{}: layer {} has media type {:?}, which is not a layer",
                    spec.what, desc.digest, desc.media_type
                )));
            }
            // Lease first, then look (see berth_meta::gc).
            lease.add_blob(&desc.digest)?;
            lease.add_snapshot(&crate::store::layer_key(chain))?;
            let blob = self.content.exists(&desc.digest)?;
            let layer = self
                .meta
                .layer(chain)?
                .filter(|l| l.blob_digest == desc.digest)
                .is_some()
                && self.snapshots.stat(&crate::store::layer_key(chain)).is_ok();
            plans.push(match (blob, layer) {
                (true, true) => Plan::Present,
                (true, false) => Plan::BlobOnly,
                (false, _) => Plan::Fetch,
            });
        }
        let fetched =
            self.fetch_layers(&manifest.layers, &plans, source, threads, progress, lease)?;
        let layers = manifest
            .layers
            .iter()
            .zip(fetched)
            .enumerate()
            .map(|(i, (desc, unpacked))| NewLayer {
                source: format!("{} layer {i} ({})", spec.what, desc.digest),
                blob: desc.clone(),
                unpacked,
            })
            .collect();
        let id = self.add_image(
            NewImage {
                config: spec.config,
                layers,
                tags: spec.tags,
                manifest: Some((spec.manifest, spec.manifest_media_type)),
                parent: None,
                what: spec.what,
            },
            lease,
        )?;
        if !spec.repo_digests.is_empty() {
            self.meta.add_repo_digests(&id, &spec.repo_digests)?;
        }
        Ok(id)
    }

    /// Downloads the layers planned `Fetch`, `threads` at a time; returns per layer the copy
    /// unpacked while it streamed (if any).
    fn fetch_layers(
        &self,
        layers: &[Descriptor],
        plans: &[Plan],
        source: &dyn LayerSource,
        threads: usize,
        progress: &(dyn Fn(PullEvent) + Sync),
        lease: &Lease,
    ) -> Result<Vec<Option<Unpacked>>> {
        let mut queue = Vec::new();
        for (i, (desc, plan)) in layers.iter().zip(plans).enumerate() {
            match plan {
                Plan::Present => progress(PullEvent::Exists {
                    index: i,
                    digest: desc.digest.clone(),
                }),
                Plan::BlobOnly => {}
                Plan::Fetch => {
                    // The same blob twice in one manifest is fetched once.
                    if !layers[..i].iter().any(|d| d.digest == desc.digest) {
                        progress(PullEvent::Waiting {
                            index: i,
                            digest: desc.digest.clone(),
                        });
                        queue.push(i);
                    }
                }
            }
        }
        let results: Mutex<Vec<Option<Unpacked>>> =
            Mutex::new((0..layers.len()).map(|_| None).collect());
        let first_err: Mutex<Option<ImageError>> = Mutex::new(None);
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..threads.min(queue.len()) {
                s.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= queue.len() || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = queue[n];
                    match self.fetch_layer(i, &layers[i], source, progress, lease, &stop) {
                        Ok(u) => {
                            progress(PullEvent::Complete {
                                index: i,
                                digest: layers[i].digest.clone(),
                            });
                            results.lock().expect("not poisoned")[i] = u;
                        }
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            first_err.lock().expect("not poisoned").get_or_insert(e);
                            break;
                        }
                    }
                });
            }
        });
        let results = results.into_inner().expect("not poisoned");
        if let Some(e) = first_err.into_inner().expect("not poisoned") {
            for u in results.into_iter().flatten() {
                unpack::discard(self.snapshots.as_ref(), &u.key);
            }
            return Err(e);
        }
        Ok(results)
    }

    /// Streams one layer blob into the content store and an unpack worker.
    fn fetch_layer(
        &self,
        index: usize,
        desc: &Descriptor,
        source: &dyn LayerSource,
        progress: &(dyn Fn(PullEvent) + Sync),
        lease: &Lease,
        stop: &AtomicBool,
    ) -> Result<Option<Unpacked>> {
        let what = format!("layer {}", desc.digest);
        let read_err = |source| ImageError::ArchiveRead {
            context: format!("downloading {what}"),
            source,
        };
        let expected = Some((desc.digest.clone(), desc.size));
        // The digest-named ingest, resumed if an earlier pull left part of it; a private one
        // when another pull holds it right now (or it cannot be reopened).
        let (reference, mut writer) = match self
            .content
            .writer(&resume_ref(&desc.digest), expected.clone())
        {
            Ok(w) if w.offset() <= desc.size => (resume_ref(&desc.digest), w),
            Ok(w) => {
                drop(w);
                let _ = self.content.abort(&resume_ref(&desc.digest));
                let r = resume_ref(&desc.digest);
                let w = self.content.writer(&r, expected)?;
                (r, w)
            }
            Err(_) => {
                let r = unpack::unique_ref("pull");
                let w = self.content.writer(&r, expected)?;
                (r, w)
            }
        };
        writer.defer_sync();
        let mut done = writer.offset();
        let resumed = done > 0;
        // Keep the partial download for a resume unless its bytes are known bad.
        let keep_partial =
            |e: &ImageError| matches!(e, ImageError::ArchiveRead { .. } | ImageError::Internal(_));
        let compression =
            manifest::layer_compression(&desc.media_type).unwrap_or(Compression::Gzip);
        let plain = compression == Compression::None;
        let mut reader: Box<dyn Read + Send> = if done < desc.size {
            source.open(desc, done).map_err(read_err)?
        } else {
            Box::new(std::io::empty())
        };
        // A resumed layer is unpacked from the committed blob (by `add_image`): the unpacker
        // needs the stream from its first byte.
        let mut worker = if self.snapshots.independent_layers() && !resumed {
            Some(Worker::start(self, &what, !plain, lease)?)
        } else {
            None
        };
        let mut stream = || -> Result<()> {
            // Chunks the unpack worker may still hold, oldest first: reused once it let go, so
            // a layer streams through a handful of buffers instead of a fresh zeroed MiB each.
            let mut lent: VecDeque<Arc<Vec<u8>>> = VecDeque::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                if stop.load(Ordering::SeqCst) {
                    return Err(ImageError::Internal(format!(
                        "{what}: stopped because another layer failed"
                    )));
                }
                let n = read_full(&mut reader, &mut buf).map_err(read_err)?;
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                done += n as u64;
                if done > desc.size {
                    return Err(ImageError::BadArchive(format!(
                        "{what}: the registry sent more than the {} bytes the manifest gives",
                        desc.size
                    )));
                }
                writer.write_all(&buf).map_err(|source| ImageError::Io {
                    op: "writing blob for",
                    path: what.clone().into(),
                    source,
                })?;
                let shared = Arc::new(buf);
                if let Some(w) = &mut worker {
                    if !w.send(Arc::clone(&shared)) {
                        let w = worker.take().expect("present");
                        w.finish(None)?;
                        return Err(ImageError::Internal(format!(
                            "unpacking {what} stopped early"
                        )));
                    }
                }
                lent.push_back(shared);
                buf = match lent.front().map(Arc::strong_count) {
                    Some(1) => lent
                        .pop_front()
                        .and_then(|a| Arc::try_unwrap(a).ok())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                if lent.len() > LENT_MAX {
                    lent.pop_front();
                }
                buf.resize(CHUNK, 0);
                progress(PullEvent::Downloading {
                    index,
                    digest: desc.digest.clone(),
                    done,
                    total: desc.size,
                });
            }
        };
        if let Err(e) = stream() {
            drop(writer);
            if !keep_partial(&e) {
                let _ = self.content.abort(&reference);
            }
            return Err(e);
        }
        if done != desc.size {
            drop(writer);
            return Err(ImageError::BadArchive(format!(
                "{what}: the registry sent {done} of {} bytes",
                desc.size
            )));
        }
        // Commit checks the digest; a mismatch discards the ingest.
        if let Err(e) = writer.commit_unsynced() {
            let _ = self.content.abort(&reference);
            return Err(e.into());
        }
        progress(PullEvent::Verified {
            index,
            digest: desc.digest.clone(),
        });
        match worker {
            Some(w) => Ok(Some(w.finish(plain.then(|| desc.digest.clone()))?)),
            None => Ok(None),
        }
    }
}
