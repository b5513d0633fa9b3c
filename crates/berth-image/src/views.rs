//! Read-side operations that combine store records with the archive writer and the JSON shapes:
//! save, inspect, history, and the built-in images.

use crate::error::{ImageError, Result};
use crate::history::HistoryRow;
use crate::manifest::{self, ManifestKind};
use crate::save::{SaveFormat, SaveImage};
use crate::store::ImageStore;
use berth_oci::{Digest, Reference};
use std::io::Write;
use std::path::Path;

impl ImageStore {
    /// What `save` needs of each named image (duplicates named twice are saved once, with the
    /// union of their tags).
    fn save_list(&self, names: &[String]) -> Result<Vec<SaveImage>> {
        let mut out: Vec<SaveImage> = Vec::new();
        for name in names {
            let id = self.resolve(name)?;
            // A name that is a tag saves that tag; an ID saves all of the image's tags.
            let tags = match Reference::parse(name) {
                Ok(r) if self.meta.resolve_tag(&r.to_string())?.as_ref() == Some(&id) => {
                    vec![r.to_string()]
                }
                _ => self.meta.tags_of(&id)?,
            };
            if let Some(existing) = out.iter_mut().find(|s| s.id == id) {
                for t in tags {
                    if !existing.tags.contains(&t) {
                        existing.tags.push(t);
                    }
                }
                continue;
            }
            let rec = self.image(&id)?;
            let manifest_bytes = self.read_blob(&rec.manifest_digest)?;
            let m = match manifest::parse_manifest(&manifest_bytes, Some(&rec.manifest_media_type))
                .map_err(|source| ImageError::Manifest {
                    what: format!("manifest of image {id}"),
                    source,
                })? {
                ManifestKind::Manifest(m) => m,
                ManifestKind::Index(_) => {
                    return Err(ImageError::Internal(format!(
                        "image {id} records an index as its manifest"
                    )))
                }
            };
            let config = self.config(&id)?;
            out.push(SaveImage {
                id: id.clone(),
                tags,
                manifest_digest: rec.manifest_digest.clone(),
                manifest_media_type: rec.manifest_media_type.clone(),
                config_digest: id,
                layers: m.layers,
                diff_ids: config.rootfs.diff_ids,
            });
        }
        Ok(out)
    }

    /// Writes the images `names` as an archive to `out`.
    pub fn save(&self, names: &[String], format: SaveFormat, out: &mut dyn Write) -> Result<()> {
        let images = self.save_list(names)?;
        crate::save::save(&images, &self.content, format, out)?;
        Ok(())
    }

    /// Writes the images `names` as an archive to the file `out` (blob bodies are copied by the
    /// kernel).
    pub fn save_to_file(
        &self,
        names: &[String],
        format: SaveFormat,
        out: &mut std::fs::File,
    ) -> Result<()> {
        let images = self.save_list(names)?;
        crate::save::save_to_file(&images, &self.content, format, out)?;
        Ok(())
    }

    /// Docker's `image inspect` JSON of image `id`.
    pub fn inspect(&self, id: &Digest) -> Result<serde_json::Value> {
        let rec = self.image(id)?;
        let config = self.config(id)?;
        let tags = self.meta.tags_of(id)?;
        let mut dirs = Vec::new();
        for chain in rec.layers.iter().rev() {
            if let Some(l) = self.meta.layer(chain)? {
                dirs.push(self.snapshots.layer_dir(&l.snapshot_key)?);
            }
        }
        Ok(crate::inspect::docker_inspect(
            &rec,
            &config,
            &tags,
            self.driver().name(),
            &dirs,
        ))
    }

    /// `docker history` rows of image `id`, newest first.
    pub fn history(&self, id: &Digest) -> Result<Vec<HistoryRow>> {
        let rec = self.image(id)?;
        let config = self.config(id)?;
        let mut sizes = Vec::new();
        for chain in &rec.layers {
            sizes.push(
                self.meta
                    .layer(chain)?
                    .map(|l| l.unpacked_size)
                    .unwrap_or(0),
            );
        }
        Ok(crate::history::history_rows(&config, id, &sizes))
    }

    /// Creates `busybox:latest` from a static busybox binary, offline.
    pub fn bootstrap_busybox(&self, busybox: &Path) -> Result<Digest> {
        self.bootstrap_image("busybox:latest", |dir| {
            crate::bootstrap::busybox_rootfs(dir, busybox)
        })
    }

    /// Creates `hello-world:latest`, whose program Berth generates itself.
    pub fn bootstrap_hello(&self) -> Result<Digest> {
        self.bootstrap_image("hello-world:latest", crate::bootstrap::hello_world_rootfs)
    }

    fn bootstrap_image<C: serde::Serialize>(
        &self,
        tag: &str,
        fill: impl FnOnce(&Path) -> std::result::Result<C, crate::bootstrap::BootstrapError>,
    ) -> Result<Digest> {
        let tmp = tempfile::Builder::new()
            .prefix("bootstrap-")
            .tempdir_in(self.root().join("tmp"))
            .map_err(ImageError::io(
                "creating a directory in",
                self.root().join("tmp"),
            ))?;
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir(&rootfs).map_err(ImageError::io("creating", &rootfs))?;
        let config = fill(&rootfs)?;
        let config =
            serde_json::to_value(config).map_err(|e| ImageError::Internal(e.to_string()))?;
        self.import_dir(&rootfs, config, &[tag.to_string()])
    }
}
