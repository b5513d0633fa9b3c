//! Images, their blob references and tags.

use crate::db::Meta;
use crate::error::{MetaError, Result};
use crate::records::{
    parse_digest, parse_json, parse_opt_digest, to_i64, to_json, to_u64, ImageRecord,
};
use berth_oci::Digest;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};

/// The columns of `images` read by [`read_image`], in order.
const IMAGE_COLUMNS: &str = "id, manifest_digest, manifest_media_type, created, added, size, \
                             parent, repo_digests, labels";

/// An `images` row before its layers are attached.
type ImageRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    String,
    String,
);

fn image_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

/// Decodes a row and loads its layer chain.
fn read_image(tx: &Transaction<'_>, row: ImageRow) -> Result<ImageRecord> {
    let (id, manifest, media_type, created, added, size, parent, repo_digests, labels) = row;
    let col = |c: &str| {
        let id = id.clone();
        let c = c.to_string();
        move || format!("images.{c} of {id}")
    };
    let repo_digests: Vec<String> = parse_json(col("repo_digests"), &repo_digests)?;
    let labels: BTreeMap<String, String> = parse_json(col("labels"), &labels)?;
    let layers = image_layers(tx, &id)?;
    Ok(ImageRecord {
        id: parse_digest(col("id"), &id)?,
        manifest_digest: parse_digest(col("manifest_digest"), &manifest)?,
        manifest_media_type: media_type,
        created,
        added,
        size: to_u64(size),
        parent: parse_opt_digest(col("parent"), parent)?,
        layers,
        repo_digests,
        labels,
    })
}

fn image_layers(tx: &Transaction<'_>, id: &str) -> Result<Vec<Digest>> {
    let op = || format!("reading the layers of image {id}");
    let mut stmt = tx
        .prepare_cached("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position")
        .map_err(MetaError::sql(op()))?;
    let rows = stmt
        .query_map([id], |r| r.get::<_, String>(0))
        .map_err(MetaError::sql(op()))?;
    let mut out = Vec::new();
    for row in rows {
        let text = row.map_err(MetaError::sql(op()))?;
        out.push(parse_digest(
            || format!("image_layers.chain_id of {id}"),
            &text,
        )?);
    }
    Ok(out)
}

/// Collects a one-column query of digests.
fn digests(
    tx: &Transaction<'_>,
    op: &str,
    sql: &str,
    param: &str,
    column: &str,
) -> Result<Vec<Digest>> {
    let mut stmt = tx.prepare_cached(sql).map_err(MetaError::sql(op))?;
    let rows = stmt
        .query_map([param], |r| r.get::<_, String>(0))
        .map_err(MetaError::sql(op))?;
    let mut out = Vec::new();
    for row in rows {
        let text = row.map_err(MetaError::sql(op))?;
        out.push(parse_digest(|| column.to_string(), &text)?);
    }
    Ok(out)
}

fn image_exists(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    tx.query_row("SELECT 1 FROM images WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(MetaError::sql(format!("looking up image {id}")))
}

/// Points tag `name` at image `id` (the image must exist; the caller checked).
fn set_tag(tx: &Transaction<'_>, name: &str, id: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO tags (name, image_id) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
        params![name, id],
    )
    .map_err(MetaError::sql(format!("tagging image {id} as {name}")))?;
    Ok(())
}

/// Normalises an image ID prefix (`abc`, `sha256:abc`) to `sha256:abc`.
fn id_prefix(prefix: &str) -> Result<String> {
    let hex = prefix.strip_prefix("sha256:").unwrap_or(prefix);
    if hex.is_empty()
        || hex.len() > 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(MetaError::InvalidPrefix {
            prefix: prefix.into(),
        });
    }
    Ok(format!("sha256:{hex}"))
}

impl Meta {
    /// Stores an image in one transaction: upserts its row and layer chain, replaces its blob
    /// references with manifest, config, the blobs of its layers and `extra_blobs`, and points
    /// each of `tags` at it (moving tags away from other images, which may leave those dangling).
    ///
    /// Every layer of the chain must have been stored with [`Meta::put_layer`] first. The first
    /// `added` time and earlier repo digests of an image stored again are kept.
    pub fn put_image(
        &self,
        image: &ImageRecord,
        extra_blobs: &[Digest],
        tags: &[String],
    ) -> Result<()> {
        let id = image.id.to_string();
        self.write(
            || format!("storing image {id}"),
            |tx| {
                let op = || format!("storing image {id}");
                let old: Option<(i64, String)> = tx
                    .query_row(
                        "SELECT added, repo_digests FROM images WHERE id = ?1",
                        [&id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(MetaError::sql(op()))?;
                let mut added = image.added;
                let mut repo_digests: BTreeSet<String> =
                    image.repo_digests.iter().cloned().collect();
                if let Some((old_added, old_digests)) = old {
                    added = old_added;
                    let old: Vec<String> =
                        parse_json(|| format!("images.repo_digests of {id}"), &old_digests)?;
                    repo_digests.extend(old);
                }
                let repo_digests: Vec<String> = repo_digests.into_iter().collect();
                let repo_json = to_json(|| format!("repo digests of {id}"), &repo_digests)?;
                let labels_json = to_json(|| format!("labels of {id}"), &image.labels)?;
                tx.execute(
                    "INSERT INTO images (id, manifest_digest, manifest_media_type, created, added,
                                         size, parent, repo_digests, labels)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(id) DO UPDATE SET
                         manifest_digest = excluded.manifest_digest,
                         manifest_media_type = excluded.manifest_media_type,
                         created = excluded.created,
                         added = excluded.added,
                         size = excluded.size,
                         parent = excluded.parent,
                         repo_digests = excluded.repo_digests,
                         labels = excluded.labels",
                    params![
                        id,
                        image.manifest_digest.to_string(),
                        image.manifest_media_type,
                        image.created,
                        added,
                        to_i64(image.size),
                        image.parent.as_ref().map(|p| p.to_string()),
                        repo_json,
                        labels_json,
                    ],
                )
                .map_err(MetaError::sql(op()))?;
                tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [&id])
                    .map_err(MetaError::sql(op()))?;
                tx.execute("DELETE FROM image_blobs WHERE image_id = ?1", [&id])
                    .map_err(MetaError::sql(op()))?;
                let mut blobs: BTreeSet<String> = BTreeSet::new();
                blobs.insert(id.clone());
                blobs.insert(image.manifest_digest.to_string());
                blobs.extend(extra_blobs.iter().map(|d| d.to_string()));
                {
                    let mut insert_layer = tx
                        .prepare_cached(
                            "INSERT INTO image_layers (image_id, position, chain_id)
                             VALUES (?1, ?2, ?3)",
                        )
                        .map_err(MetaError::sql(op()))?;
                    let mut layer_blob = tx
                        .prepare_cached("SELECT blob_digest FROM layers WHERE chain_id = ?1")
                        .map_err(MetaError::sql(op()))?;
                    for (position, chain) in image.layers.iter().enumerate() {
                        let chain = chain.to_string();
                        insert_layer
                            .execute(params![id, position as i64, chain])
                            .map_err(MetaError::sql(op()))?;
                        let blob: Option<String> = layer_blob
                            .query_row([&chain], |r| r.get(0))
                            .optional()
                            .map_err(MetaError::sql(op()))?;
                        match blob {
                            Some(b) => {
                                blobs.insert(b);
                            }
                            None => return Err(MetaError::LayerNotFound { chain_id: chain }),
                        }
                    }
                }
                {
                    let mut insert_blob = tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)",
                        )
                        .map_err(MetaError::sql(op()))?;
                    for blob in &blobs {
                        insert_blob
                            .execute(params![id, blob])
                            .map_err(MetaError::sql(op()))?;
                    }
                }
                for tag in tags {
                    set_tag(tx, tag, &id)?;
                }
                Ok(())
            },
        )
    }

    /// The image `id`, if stored.
    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let key = id.to_string();
        self.read(
            || format!("reading image {key}"),
            |tx| {
                let sql = format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?1");
                let row = tx
                    .query_row(&sql, [&key], image_row)
                    .optional()
                    .map_err(MetaError::sql(format!("reading image {key}")))?;
                row.map(|r| read_image(tx, r)).transpose()
            },
        )
    }

    /// Every stored image, most recently added first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        self.read(
            || "listing images".into(),
            |tx| {
                let op = "listing images";
                let sql = format!("SELECT {IMAGE_COLUMNS} FROM images ORDER BY added DESC, id");
                let rows: Vec<ImageRow> = {
                    let mut stmt = tx.prepare(&sql).map_err(MetaError::sql(op))?;
                    let rows = stmt.query_map([], image_row).map_err(MetaError::sql(op))?;
                    rows.collect::<rusqlite::Result<_>>()
                        .map_err(MetaError::sql(op))?
                };
                rows.into_iter().map(|r| read_image(tx, r)).collect()
            },
        )
    }

    /// IDs of the images whose ID starts with `prefix` (hex, with or without `sha256:`), sorted.
    pub fn images_by_prefix(&self, prefix: &str) -> Result<Vec<Digest>> {
        let low = id_prefix(prefix)?;
        // IDs continue with hex digits only, all sorting before '~'.
        let high = format!("{low}~");
        self.read(
            || format!("looking up image ID prefix {prefix}"),
            |tx| {
                let op = format!("looking up image ID prefix {prefix}");
                let mut stmt = tx
                    .prepare_cached("SELECT id FROM images WHERE id >= ?1 AND id < ?2 ORDER BY id")
                    .map_err(MetaError::sql(op.clone()))?;
                let rows = stmt
                    .query_map([&low, &high], |r| r.get::<_, String>(0))
                    .map_err(MetaError::sql(op.clone()))?;
                let mut out = Vec::new();
                for row in rows {
                    let text = row.map_err(MetaError::sql(op.clone()))?;
                    out.push(parse_digest(|| "images.id".into(), &text)?);
                }
                Ok(out)
            },
        )
    }

    /// The one image whose ID starts with `prefix`: `ImageNotFound` when none does,
    /// `AmbiguousPrefix` when several do.
    pub fn image_by_prefix(&self, prefix: &str) -> Result<Digest> {
        let mut found = self.images_by_prefix(prefix)?;
        match found.len() {
            0 => Err(MetaError::ImageNotFound { id: prefix.into() }),
            1 => Ok(found.remove(0)),
            count => Err(MetaError::AmbiguousPrefix {
                prefix: prefix.into(),
                count,
            }),
        }
    }

    /// The blobs image `id` references (manifest, config, layer blobs, extras), sorted.
    pub fn image_blobs(&self, id: &Digest) -> Result<Vec<Digest>> {
        let key = id.to_string();
        self.read(
            || format!("reading the blobs of image {key}"),
            |tx| {
                digests(
                    tx,
                    &format!("reading the blobs of image {key}"),
                    "SELECT digest FROM image_blobs WHERE image_id = ?1 ORDER BY digest",
                    &key,
                    "image_blobs.digest",
                )
            },
        )
    }

    /// The images whose parent is `id`, sorted.
    pub fn children(&self, id: &Digest) -> Result<Vec<Digest>> {
        let key = id.to_string();
        self.read(
            || format!("reading the children of image {key}"),
            |tx| {
                digests(
                    tx,
                    &format!("reading the children of image {key}"),
                    "SELECT id FROM images WHERE parent = ?1 ORDER BY id",
                    &key,
                    "images.id",
                )
            },
        )
    }

    /// Deletes image `id` with its tags, layer chain and blob references. Layer rows, blobs and
    /// snapshots stay until garbage collection finds nothing else uses them.
    pub fn delete_image(&self, id: &Digest) -> Result<()> {
        let key = id.to_string();
        self.write(
            || format!("deleting image {key}"),
            |tx| {
                // Tags, layers and blob references go by ON DELETE CASCADE.
                let n = tx
                    .execute("DELETE FROM images WHERE id = ?1", [&key])
                    .map_err(MetaError::sql(format!("deleting image {key}")))?;
                if n == 0 {
                    return Err(MetaError::ImageNotFound { id: key.clone() });
                }
                Ok(())
            },
        )
    }

    /// Points tag `name` (a fully normalised reference) at image `id`, moving it from any other
    /// image. `ImageNotFound` when `id` is not stored.
    pub fn tag(&self, name: &str, id: &Digest) -> Result<()> {
        let key = id.to_string();
        self.write(
            || format!("tagging image {key} as {name}"),
            |tx| {
                if !image_exists(tx, &key)? {
                    return Err(MetaError::ImageNotFound { id: key.clone() });
                }
                set_tag(tx, name, &key)
            },
        )
    }

    /// Removes tag `name`; returns the image it pointed at, `None` when there was no such tag.
    pub fn untag(&self, name: &str) -> Result<Option<Digest>> {
        self.write(
            || format!("removing tag {name}"),
            |tx| {
                let id: Option<String> = tx
                    .query_row(
                        "DELETE FROM tags WHERE name = ?1 RETURNING image_id",
                        [name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(MetaError::sql(format!("removing tag {name}")))?;
                parse_opt_digest(|| format!("tags.image_id of {name}"), id)
            },
        )
    }

    /// The image tag `name` points at.
    pub fn resolve_tag(&self, name: &str) -> Result<Option<Digest>> {
        self.read(
            || format!("resolving tag {name}"),
            |tx| {
                let id: Option<String> = tx
                    .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(MetaError::sql(format!("resolving tag {name}")))?;
                parse_opt_digest(|| format!("tags.image_id of {name}"), id)
            },
        )
    }

    /// Every tag with its image, sorted by name.
    pub fn tags(&self) -> Result<Vec<(String, Digest)>> {
        self.read(
            || "listing tags".into(),
            |tx| {
                let op = "listing tags";
                let mut stmt = tx
                    .prepare_cached("SELECT name, image_id FROM tags ORDER BY name")
                    .map_err(MetaError::sql(op))?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(MetaError::sql(op))?;
                let mut out = Vec::new();
                for row in rows {
                    let (name, id) = row.map_err(MetaError::sql(op))?;
                    let id = parse_digest(|| format!("tags.image_id of {name}"), &id)?;
                    out.push((name, id));
                }
                Ok(out)
            },
        )
    }

    /// The tags pointing at image `id`, sorted.
    pub fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        let key = id.to_string();
        self.read(
            || format!("reading the tags of image {key}"),
            |tx| {
                let op = format!("reading the tags of image {key}");
                let mut stmt = tx
                    .prepare_cached("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")
                    .map_err(MetaError::sql(op.clone()))?;
                let rows = stmt
                    .query_map([&key], |r| r.get::<_, String>(0))
                    .map_err(MetaError::sql(op.clone()))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(MetaError::sql(op))
            },
        )
    }

    /// Adds `name@digest` references to image `id`'s repo digests (kept sorted, no duplicates).
    pub fn add_repo_digests(&self, id: &Digest, repo_digests: &[String]) -> Result<()> {
        let key = id.to_string();
        self.write(
            || format!("adding repo digests to image {key}"),
            |tx| {
                let op = || format!("adding repo digests to image {key}");
                let old: Option<String> = tx
                    .query_row(
                        "SELECT repo_digests FROM images WHERE id = ?1",
                        [&key],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(MetaError::sql(op()))?;
                let Some(old) = old else {
                    return Err(MetaError::ImageNotFound { id: key.clone() });
                };
                let mut set: BTreeSet<String> =
                    parse_json(|| format!("images.repo_digests of {key}"), &old)?;
                set.extend(repo_digests.iter().cloned());
                let json = to_json(|| format!("repo digests of {key}"), &set)?;
                tx.execute(
                    "UPDATE images SET repo_digests = ?2 WHERE id = ?1",
                    params![key, json],
                )
                .map_err(MetaError::sql(op()))?;
                Ok(())
            },
        )
    }
}
