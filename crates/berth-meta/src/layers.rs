//! Layer rows: one per unpacked layer, named by chain ID.

use crate::db::Meta;
use crate::error::{MetaError, Result};
use crate::records::{parse_digest, parse_opt_digest, to_i64, to_u64, LayerRecord};
use berth_oci::Digest;
use rusqlite::{params, OptionalExtension};

pub(crate) const LAYER_COLUMNS: &str = "chain_id, diff_id, parent, blob_digest, blob_size, \
     blob_media_type, snapshot_key, unpacked_size, file_count";

/// Decodes a `layers` row selected with [`LAYER_COLUMNS`].
pub(crate) fn layer_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<LayerRecord>> {
    let chain: String = row.get(0)?;
    let diff: String = row.get(1)?;
    let parent: Option<String> = row.get(2)?;
    let blob: String = row.get(3)?;
    let blob_size: i64 = row.get(4)?;
    let blob_media_type: String = row.get(5)?;
    let snapshot_key: String = row.get(6)?;
    let unpacked_size: i64 = row.get(7)?;
    let file_count: i64 = row.get(8)?;
    let col = |c: &'static str| {
        let chain = chain.clone();
        move || format!("layers.{c} of {chain}")
    };
    Ok((|| {
        Ok(LayerRecord {
            chain_id: parse_digest(col("chain_id"), &chain)?,
            diff_id: parse_digest(col("diff_id"), &diff)?,
            parent: parse_opt_digest(col("parent"), parent)?,
            blob_digest: parse_digest(col("blob_digest"), &blob)?,
            blob_size: to_u64(blob_size),
            blob_media_type,
            snapshot_key,
            unpacked_size: to_u64(unpacked_size),
            file_count: to_u64(file_count),
        })
    })())
}

impl Meta {
    /// Stores a layer row, replacing one with the same chain ID.
    pub fn put_layer(&self, layer: &LayerRecord) -> Result<()> {
        let chain = layer.chain_id.to_string();
        self.write(
            || format!("storing layer {chain}"),
            |tx| {
                tx.execute(
                    "INSERT INTO layers (chain_id, diff_id, parent, blob_digest, blob_size,
                                         blob_media_type, snapshot_key, unpacked_size, file_count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(chain_id) DO UPDATE SET
                         diff_id = excluded.diff_id,
                         parent = excluded.parent,
                         blob_digest = excluded.blob_digest,
                         blob_size = excluded.blob_size,
                         blob_media_type = excluded.blob_media_type,
                         snapshot_key = excluded.snapshot_key,
                         unpacked_size = excluded.unpacked_size,
                         file_count = excluded.file_count",
                    params![
                        chain,
                        layer.diff_id.to_string(),
                        layer.parent.as_ref().map(|p| p.to_string()),
                        layer.blob_digest.to_string(),
                        to_i64(layer.blob_size),
                        layer.blob_media_type,
                        layer.snapshot_key,
                        to_i64(layer.unpacked_size),
                        to_i64(layer.file_count),
                    ],
                )
                .map_err(MetaError::sql(format!("storing layer {chain}")))?;
                Ok(())
            },
        )
    }

    /// The layer with chain ID `chain_id`, if stored.
    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>> {
        let key = chain_id.to_string();
        self.read(
            || format!("reading layer {key}"),
            |tx| {
                let sql = format!("SELECT {LAYER_COLUMNS} FROM layers WHERE chain_id = ?1");
                tx.query_row(&sql, [&key], layer_from_row)
                    .optional()
                    .map_err(MetaError::sql(format!("reading layer {key}")))?
                    .transpose()
            },
        )
    }

    /// Every layer row, sorted by chain ID.
    pub fn layers(&self) -> Result<Vec<LayerRecord>> {
        self.read(
            || "listing layers".into(),
            |tx| {
                let op = "listing layers";
                let sql = format!("SELECT {LAYER_COLUMNS} FROM layers ORDER BY chain_id");
                let mut stmt = tx.prepare(&sql).map_err(MetaError::sql(op))?;
                let rows = stmt
                    .query_map([], layer_from_row)
                    .map_err(MetaError::sql(op))?;
                let mut out = Vec::new();
                for row in rows {
                    out.push(row.map_err(MetaError::sql(op))??);
                }
                Ok(out)
            },
        )
    }

    /// Deletes the layer row `chain_id` (not its snapshot or blob); returns whether it existed.
    pub fn delete_layer(&self, chain_id: &Digest) -> Result<bool> {
        let key = chain_id.to_string();
        self.write(
            || format!("deleting layer {key}"),
            |tx| {
                let n = tx
                    .execute("DELETE FROM layers WHERE chain_id = ?1", [&key])
                    .map_err(MetaError::sql(format!("deleting layer {key}")))?;
                Ok(n > 0)
            },
        )
    }

    /// The images whose layer chain contains `chain_id`, sorted.
    pub fn images_using_layer(&self, chain_id: &Digest) -> Result<Vec<Digest>> {
        let key = chain_id.to_string();
        self.read(
            || format!("finding images using layer {key}"),
            |tx| {
                let op = format!("finding images using layer {key}");
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ?1
                         ORDER BY image_id",
                    )
                    .map_err(MetaError::sql(op.clone()))?;
                let rows = stmt
                    .query_map([&key], |r| r.get::<_, String>(0))
                    .map_err(MetaError::sql(op.clone()))?;
                let mut out = Vec::new();
                for row in rows {
                    let text = row.map_err(MetaError::sql(op.clone()))?;
                    out.push(parse_digest(|| "image_layers.image_id".into(), &text)?);
                }
                Ok(out)
            },
        )
    }
}
