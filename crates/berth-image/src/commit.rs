//! `berth commit`: a new image from a container's changes (its overlay upper directory) on top of
//! the container's image.

use crate::error::{ImageError, Result};
use crate::manifest::{self, Descriptor, ManifestKind};
use crate::store::{now_unix, rfc3339, ImageStore, NewImage, NewLayer};
use crate::{apply_change, unpack};
use berth_archive::Compression;
use berth_oci::{media_types, Digest, Reference};
use serde_json::{json, Value};
use std::path::Path;

/// What `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container's config (Docker's `Config` as JSON): becomes the image's `config`, with
    /// only the fields an image config has.
    pub container_config: Value,
    /// Dockerfile instructions applied on top (`-c 'CMD ["sh"]'`).
    pub changes: Vec<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-m`.
    pub comment: Option<String>,
    /// The history's `created_by` (docker puts the container's command there).
    pub created_by: String,
    /// Tag for the new image.
    pub tag: Option<String>,
}

/// The fields of a container `Config` that an image config keeps.
const IMAGE_CONFIG_FIELDS: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
    "ArgsEscaped",
];

impl ImageStore {
    /// Records directory `upper` (an overlay upper dir: whiteouts become OCI whiteouts) as a new
    /// layer on top of image `parent`, with `opts`'s config and history. Returns the image ID.
    pub fn commit_layer(
        &self,
        parent: &Digest,
        upper: &Path,
        opts: &CommitOptions,
    ) -> Result<Digest> {
        let tags = opts
            .tag
            .iter()
            .map(|t| Reference::parse(t).map(|r| r.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let record = self.image(parent)?;
        let mut config: Value = serde_json::from_slice(&self.read_blob(parent)?)
            .map_err(|e| ImageError::Internal(format!("config of {parent}: {e}")))?;
        let manifest_bytes = self.read_blob(&record.manifest_digest)?;
        let parent_layers =
            match manifest::parse_manifest(&manifest_bytes, Some(&record.manifest_media_type))
                .map_err(|source| ImageError::Manifest {
                    what: format!("manifest of {parent}"),
                    source,
                })? {
                ManifestKind::Manifest(m) => m.layers,
                ManifestKind::Index(_) => {
                    return Err(ImageError::Internal(format!(
                        "image {parent} is recorded with an index, not a manifest"
                    )))
                }
            };
        let mut image_config = serde_json::Map::new();
        for f in IMAGE_CONFIG_FIELDS {
            if let Some(v) = opts.container_config.get(*f).filter(|v| !v.is_null()) {
                image_config.insert((*f).into(), v.clone());
            }
        }
        config["config"] = Value::Object(image_config);
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        let now = rfc3339(now_unix());
        config["created"] = json!(now);
        if let Some(a) = &opts.author {
            config["author"] = json!(a);
        }
        // Docker's image config carries the commit message at the top too (`Comment` in
        // inspect), besides the new history entry; a parent's message is not inherited.
        match &opts.comment {
            Some(c) => config["comment"] = json!(c),
            None => {
                if let Some(o) = config.as_object_mut() {
                    o.remove("comment");
                }
            }
        }
        self.with_lease("commit", |lease| {
            let reference = unpack::unique_ref("commit");
            let mut w = self.content.writer(&reference, None)?;
            let written =
                berth_archive::write_layer(upper, &mut w, Compression::None).map_err(|e| {
                    ImageError::Layer {
                        layer: upper.display().to_string(),
                        source: e,
                    }
                })?;
            lease.add_blob(&written.digest)?;
            let digest = w.commit()?;
            let diff_ids = config["rootfs"]["diff_ids"].as_array_mut().ok_or_else(|| {
                ImageError::Internal(format!("config of {parent} has no rootfs.diff_ids"))
            })?;
            diff_ids.push(json!(written.diff_id.to_string()));
            let mut entry = json!({"created": now, "created_by": opts.created_by});
            if let Some(a) = &opts.author {
                entry["author"] = json!(a);
            }
            if let Some(c) = &opts.comment {
                entry["comment"] = json!(c);
            }
            match config["history"].as_array_mut() {
                Some(h) => h.push(entry),
                None => config["history"] = json!([entry]),
            }
            let mut layers: Vec<NewLayer> = parent_layers
                .iter()
                .enumerate()
                .map(|(i, d)| NewLayer {
                    source: format!("layer {i} of {parent}"),
                    blob: d.clone(),
                    unpacked: None,
                })
                .collect();
            layers.push(NewLayer {
                source: upper.display().to_string(),
                blob: Descriptor::new(media_types::OCI_LAYER.to_string(), digest, written.size),
                unpacked: None,
            });
            let img = NewImage {
                config: serde_json::to_vec(&config)
                    .map_err(|e| ImageError::Internal(e.to_string()))?,
                layers,
                tags,
                manifest: None,
                parent: Some(parent.clone()),
                what: format!("commit of {}", upper.display()),
            };
            self.add_image(img, lease)
        })
    }
}
