//! `berth system check [--repair]` and `berth system df`.
//!
//! Blobs are the source of truth (fsynced before anything refers to them); unpacked layers are a
//! cache of them. So check verifies every blob an image refers to, and compares every layer
//! directory with the fingerprint (names, bytes) recorded when it was unpacked. Repair
//! re-unpacks a damaged layer from its blob, restores a missing layer blob from an intact
//! layer when that reproduces its digest, removes images whose content is gone for good, and
//! collects garbage (unreferenced blobs, snapshots, rows, abandoned ingests).

use crate::error::{ImageError, Result};
use crate::store::{layer_key, ImageStore};
use crate::unpack::{dir_usage, DirUsage};
use berth_archive::{apply_layer, ApplyOptions, Compression, Whiteouts};
use berth_meta::LayerRecord;
use berth_oci::Digest;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;

/// One inconsistency found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, naming the image, layer, blob or path.
    pub what: String,
    /// What repair did about it (`None` when not repairing or not repairable).
    pub repaired: Option<String>,
}

/// The outcome of a check.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Images checked.
    pub images: usize,
    /// Layers checked.
    pub layers: usize,
    /// Blobs verified.
    pub blobs: usize,
    /// Inconsistencies.
    pub problems: Vec<Problem>,
    /// Unreferenced items (not errors): what garbage collection would remove, or removed.
    pub garbage: Vec<String>,
}

impl CheckReport {
    /// Whether the store is consistent (after repair, when repairing).
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.repaired.is_some())
    }
}

/// Disk usage by kind, as `system df` shows it.
#[derive(Debug, Default, Clone)]
pub struct DiskUsage {
    /// Number of images.
    pub images: usize,
    /// Images used by containers.
    pub active_images: usize,
    /// Bytes of unpacked layers (each layer once).
    pub images_size: u64,
    /// Bytes only unused images hold.
    pub reclaimable: u64,
    /// Bytes of blobs in the content store.
    pub blobs_size: u64,
}

/// One image's share of the disk, as `system df -v` lists it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    /// The image.
    pub id: Digest,
    /// Its tags (full references).
    pub tags: Vec<String>,
    /// The config's creation time.
    pub created: Option<String>,
    /// Bytes of all its layers.
    pub size: u64,
    /// Bytes of its layers other images use too.
    pub shared: u64,
    /// Containers using it.
    pub containers: usize,
}

impl ImageStore {
    /// Per-image disk usage: size, the part shared with other images, containers.
    pub fn disk_usage_by_image(&self) -> Result<Vec<ImageUsage>> {
        let images = self.meta.images()?;
        let mut users: HashMap<Digest, usize> = HashMap::new();
        for img in &images {
            for l in &img.layers {
                *users.entry(l.clone()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for img in images {
            let mut shared = 0;
            for l in &img.layers {
                if users.get(l).copied().unwrap_or(0) > 1 {
                    shared += self.meta.layer(l)?.map(|r| r.unpacked_size).unwrap_or(0);
                }
            }
            out.push(ImageUsage {
                tags: self.meta.tags_of(&img.id)?,
                containers: self.meta.containers_using(&img.id)?.len(),
                created: img.created.clone(),
                size: img.size,
                shared,
                id: img.id,
            });
        }
        Ok(out)
    }

    /// Checks the store; with `repair`, mends what it can.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let images = self.meta.images()?;
        report.images = images.len();
        let mut verified: HashMap<Digest, Option<String>> = HashMap::new();
        let mut broken_images: BTreeSet<Digest> = BTreeSet::new();
        let mut checked_layers: HashMap<Digest, bool> = HashMap::new();
        for img in &images {
            let mut bad = |report: &mut CheckReport, what: String| {
                report.problems.push(Problem {
                    what,
                    repaired: None,
                });
                broken_images.insert(img.id.clone());
            };
            for blob in self.meta.image_blobs(&img.id)? {
                let result = verified
                    .entry(blob.clone())
                    .or_insert_with(|| self.verify_blob(&blob).err())
                    .clone();
                if let Some(why) = result {
                    let is_layer_blob = img
                        .layers
                        .iter()
                        .filter_map(|c| self.meta.layer(c).ok().flatten())
                        .any(|l| l.blob_digest == blob);
                    if is_layer_blob {
                        // Handled below with the layer (it may be restorable).
                        continue;
                    }
                    bad(
                        &mut report,
                        format!("image {}: blob {blob}: {why}", short(&img.id)),
                    );
                }
            }
            let mut parent: Option<Digest> = None;
            for chain in &img.layers {
                let ok = match checked_layers.get(chain) {
                    Some(ok) => *ok,
                    None => {
                        let ok = self.check_layer(
                            chain,
                            parent.as_ref(),
                            repair,
                            &mut report,
                            &mut verified,
                        )?;
                        report.layers += 1;
                        checked_layers.insert(chain.clone(), ok);
                        ok
                    }
                };
                if !ok {
                    broken_images.insert(img.id.clone());
                }
                parent = Some(chain.clone());
            }
        }
        report.blobs = verified.len();
        if repair {
            for id in &broken_images {
                let tags = self.meta.tags_of(id)?;
                self.meta.delete_image(id)?;
                report.problems.push(Problem {
                    what: format!("image {} ({}) cannot be mended", short(id), tags.join(", ")),
                    repaired: Some(format!(
                        "removed the image record; load or pull {} again",
                        if tags.is_empty() {
                            "it".to_string()
                        } else {
                            tags.join(", ")
                        }
                    )),
                });
            }
            // Problems that made an image unrepairable are settled by removing it.
            for p in report.problems.iter_mut() {
                if p.repaired.is_none() {
                    p.repaired = Some("its image was removed".into());
                }
            }
            let gc = self.collect_garbage()?;
            report.garbage.extend(
                gc.removed_blobs
                    .iter()
                    .map(|(d, _)| format!("removed blob {d}")),
            );
            report.garbage.extend(
                gc.removed_snapshots
                    .iter()
                    .map(|k| format!("removed snapshot {k}")),
            );
            report.garbage.extend(
                gc.removed_layers
                    .iter()
                    .map(|d| format!("removed layer record {d}")),
            );
            report.garbage.extend(
                gc.removed_ingests
                    .iter()
                    .map(|r| format!("removed abandoned ingest {r}")),
            );
            for p in self.snapshots.cleanup()? {
                report
                    .garbage
                    .push(format!("removed orphan directory {}", p.display()));
            }
        } else {
            report.garbage.extend(self.garbage_preview()?);
        }
        Ok(report)
    }

    /// Reads a blob through its digest check.
    fn verify_blob(&self, digest: &Digest) -> std::result::Result<(), String> {
        let mut r = self
            .content
            .read_verified(digest)
            .map_err(|e| e.to_string())?;
        std::io::copy(&mut r, &mut std::io::sink())
            .map(|_| ())
            .map_err(|e| format!("content does not verify: {e}"))
    }

    /// Checks (and with `repair` mends) one layer; `false` when the layer stays broken.
    fn check_layer(
        &self,
        chain: &Digest,
        parent: Option<&Digest>,
        repair: bool,
        report: &mut CheckReport,
        verified: &mut HashMap<Digest, Option<String>>,
    ) -> Result<bool> {
        let Some(layer) = self.meta.layer(chain)? else {
            report.problems.push(Problem {
                what: format!("layer {chain}: no layer record"),
                repaired: None,
            });
            return Ok(false);
        };
        let blob_problem = verified
            .entry(layer.blob_digest.clone())
            .or_insert_with(|| self.verify_blob(&layer.blob_digest).err())
            .clone();
        let snap = self.snapshots.stat(&layer.snapshot_key);
        let parent_ok = match &snap {
            Ok(info) => info.parent == parent.map(layer_key),
            Err(_) => false,
        };
        let dir_state = match (&snap, parent_ok) {
            (Ok(_), true) => {
                let dir = self.snapshots.layer_dir(&layer.snapshot_key)?;
                match dir_usage(&dir) {
                    Ok(u) if u.entries == layer.file_count && u.bytes == layer.unpacked_size => {
                        None
                    }
                    Ok(u) => Some(format!(
                        "layer directory {} holds {} entries and {} bytes, {} and {} were unpacked",
                        dir.display(),
                        u.entries,
                        u.bytes,
                        layer.file_count,
                        layer.unpacked_size
                    )),
                    Err(e) => Some(e.to_string()),
                }
            }
            (Ok(_), false) => Some(format!(
                "snapshot {} has the wrong parent",
                layer.snapshot_key
            )),
            (Err(e), _) => Some(format!("snapshot {}: {e}", layer.snapshot_key)),
        };
        let mut ok = true;
        if let Some(why) = &blob_problem {
            let mut problem = Problem {
                what: format!("layer {} blob {}: {why}", short(chain), layer.blob_digest),
                repaired: None,
            };
            if repair && dir_state.is_none() {
                if let Some(how) = self.restore_blob(&layer)? {
                    problem.repaired = Some(how);
                    verified.insert(layer.blob_digest.clone(), None);
                }
            }
            ok &= problem.repaired.is_some();
            report.problems.push(problem);
        }
        if let Some(why) = dir_state {
            let mut problem = Problem {
                what: format!("layer {}: {why}", short(chain)),
                repaired: None,
            };
            if repair && ok && snap.is_ok() && parent_ok {
                self.reunpack(&layer)?;
                problem.repaired = Some(format!("unpacked again from blob {}", layer.blob_digest));
            }
            ok &= problem.repaired.is_some();
            report.problems.push(problem);
        }
        Ok(ok)
    }

    /// Rebuilds a missing layer blob from its intact directory; `Some` when the result has the
    /// recorded digest (layers Berth wrote itself are deterministic).
    fn restore_blob(&self, layer: &LayerRecord) -> Result<Option<String>> {
        if !self.snapshots.independent_layers()
            || layer.blob_media_type.contains("gzip")
            || layer.blob_media_type.contains("zstd")
        {
            return Ok(None);
        }
        let dir = self.snapshots.layer_dir(&layer.snapshot_key)?;
        let _ = self.content.delete(&layer.blob_digest);
        let reference = crate::unpack::unique_ref("restore");
        let mut w = self.content.writer(
            &reference,
            Some((layer.blob_digest.clone(), layer.blob_size)),
        )?;
        let written = berth_archive::write_layer(&dir, &mut w, Compression::None);
        match written {
            Ok(wl) if wl.digest == layer.blob_digest => {
                w.commit()?;
                Ok(Some(format!("rebuilt the blob from {}", dir.display())))
            }
            _ => {
                drop(w);
                let _ = self.content.abort(&reference);
                Ok(None)
            }
        }
    }

    /// Empties a layer directory and unpacks its blob into it again.
    fn reunpack(&self, layer: &LayerRecord) -> Result<()> {
        let dir = self.snapshots.layer_dir(&layer.snapshot_key)?;
        std::fs::create_dir_all(&dir).map_err(ImageError::io("creating", &dir))?;
        for entry in std::fs::read_dir(&dir).map_err(ImageError::io("reading", &dir))? {
            let p = entry.map_err(ImageError::io("reading", &dir))?.path();
            let md = std::fs::symlink_metadata(&p).map_err(ImageError::io("stat", &p))?;
            if md.is_dir() {
                std::fs::remove_dir_all(&p).map_err(ImageError::io("removing", &p))?;
            } else {
                std::fs::remove_file(&p).map_err(ImageError::io("removing", &p))?;
            }
        }
        if !self.snapshots.independent_layers() {
            return Err(ImageError::InvalidArgument(format!(
                "re-unpacking layer {} needs the overlay driver",
                layer.chain_id
            )));
        }
        let reader = self.content.read_verified(&layer.blob_digest)?;
        let stats = apply_layer(
            reader.take(u64::MAX),
            &dir,
            &ApplyOptions::with_whiteouts(Whiteouts::Overlay),
        )
        .map_err(|e| ImageError::Layer {
            layer: layer.chain_id.to_string(),
            source: e,
        })?;
        let usage: DirUsage = dir_usage(&dir)?;
        let actual = stats.diff_id.expect("hashing is on by default");
        if actual != layer.diff_id {
            return Err(ImageError::DiffIdMismatch {
                entry: layer.blob_digest.to_string(),
                index: 0,
                expected: Box::new(layer.diff_id.clone()),
                actual: Box::new(actual),
            });
        }
        let mut fixed = layer.clone();
        fixed.file_count = usage.entries;
        fixed.unpacked_size = usage.bytes;
        self.meta.put_layer(&fixed)?;
        Ok(())
    }

    /// What garbage collection would remove, without removing it.
    fn garbage_preview(&self) -> Result<Vec<String>> {
        let gc = berth_meta::gc::collect(
            &self.meta,
            &self.content,
            self.snapshots.as_ref(),
            &berth_meta::gc::GcOptions {
                dry_run: true,
                ..Default::default()
            },
        )?;
        let mut out: Vec<String> = gc
            .removed_blobs
            .iter()
            .map(|(d, _)| format!("unreferenced blob {d}"))
            .collect();
        out.extend(
            gc.removed_snapshots
                .iter()
                .map(|k| format!("unreferenced snapshot {k}")),
        );
        out.extend(
            gc.removed_layers
                .iter()
                .map(|d| format!("unreferenced layer record {d}")),
        );
        out.extend(
            gc.removed_ingests
                .iter()
                .map(|r| format!("abandoned ingest {r}")),
        );
        Ok(out)
    }

    /// Disk usage of images and blobs.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.meta.images()?;
        let mut du = DiskUsage {
            images: images.len(),
            ..Default::default()
        };
        let mut users: HashMap<Digest, usize> = HashMap::new();
        let mut active_layers = BTreeSet::new();
        for img in &images {
            let used = !self.meta.containers_using(&img.id)?.is_empty();
            if used {
                du.active_images += 1;
                active_layers.extend(img.layers.iter().cloned());
            }
            for l in &img.layers {
                *users.entry(l.clone()).or_default() += 1;
            }
        }
        for (chain, _) in users {
            if let Some(l) = self.meta.layer(&chain)? {
                du.images_size += l.unpacked_size;
                if !active_layers.contains(&chain) {
                    du.reclaimable += l.unpacked_size;
                }
            }
        }
        du.blobs_size = self.content.list()?.iter().map(|i| i.size).sum();
        Ok(du)
    }
}

fn short(d: &Digest) -> String {
    crate::remove::short_id(d)
}
