//! Container references: which image and snapshot each container uses (GC roots, `rmi` checks).

use crate::db::Meta;
use crate::error::{MetaError, Result};
use crate::records::{parse_digest, ContainerRef};
use berth_oci::Digest;
use rusqlite::{params, OptionalExtension, Transaction};

fn refs(
    tx: &Transaction<'_>,
    op: &str,
    sql: &str,
    param: Option<&str>,
) -> Result<Vec<ContainerRef>> {
    let mut stmt = tx.prepare_cached(sql).map_err(MetaError::sql(op))?;
    let map = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    };
    let rows: Vec<_> = match param {
        Some(p) => stmt.query_map([p], map),
        None => stmt.query_map([], map),
    }
    .map_err(MetaError::sql(op))?
    .collect::<rusqlite::Result<_>>()
    .map_err(MetaError::sql(op))?;
    rows.into_iter()
        .map(|(id, name, image, snapshot_key)| {
            Ok(ContainerRef {
                image_id: parse_digest(|| format!("containers.image_id of {id}"), &image)?,
                id,
                name,
                snapshot_key,
            })
        })
        .collect()
}

impl Meta {
    /// Records (or updates) a container's use of an image and snapshot.
    /// `ContainerNameInUse` when another container has the name.
    pub fn put_container_ref(&self, c: &ContainerRef) -> Result<()> {
        self.write(
            || format!("recording container {}", c.id),
            |tx| {
                let other: Option<String> = tx
                    .query_row(
                        "SELECT id FROM containers WHERE name = ?1 AND id <> ?2",
                        params![c.name, c.id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(MetaError::sql(format!("recording container {}", c.id)))?;
                if let Some(other) = other {
                    return Err(MetaError::ContainerNameInUse {
                        name: c.name.clone(),
                        other,
                    });
                }
                tx.execute(
                    "INSERT INTO containers (id, name, image_id, snapshot_key) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name,
                         image_id = excluded.image_id, snapshot_key = excluded.snapshot_key",
                    params![c.id, c.name, c.image_id.to_string(), c.snapshot_key],
                )
                .map_err(MetaError::sql(format!("recording container {}", c.id)))?;
                Ok(())
            },
        )
    }

    /// Forgets container `id`; returns whether it was recorded.
    pub fn delete_container_ref(&self, id: &str) -> Result<bool> {
        self.write(
            || format!("forgetting container {id}"),
            |tx| {
                let n = tx
                    .execute("DELETE FROM containers WHERE id = ?1", [id])
                    .map_err(MetaError::sql(format!("forgetting container {id}")))?;
                Ok(n > 0)
            },
        )
    }

    /// The container `id`, if recorded.
    pub fn container_ref(&self, id: &str) -> Result<Option<ContainerRef>> {
        self.read(
            || format!("reading container {id}"),
            |tx| {
                Ok(refs(
                    tx,
                    &format!("reading container {id}"),
                    "SELECT id, name, image_id, snapshot_key FROM containers WHERE id = ?1",
                    Some(id),
                )?
                .pop())
            },
        )
    }

    /// Every recorded container, sorted by ID.
    pub fn container_refs(&self) -> Result<Vec<ContainerRef>> {
        self.read(
            || "listing containers".into(),
            |tx| {
                refs(
                    tx,
                    "listing containers",
                    "SELECT id, name, image_id, snapshot_key FROM containers ORDER BY id",
                    None,
                )
            },
        )
    }

    /// The containers created from image `image`, sorted by ID.
    pub fn containers_using(&self, image: &Digest) -> Result<Vec<ContainerRef>> {
        let key = image.to_string();
        self.read(
            || format!("finding containers using image {key}"),
            |tx| {
                refs(
                    tx,
                    &format!("finding containers using image {key}"),
                    "SELECT id, name, image_id, snapshot_key FROM containers WHERE image_id = ?1
                     ORDER BY id",
                    Some(&key),
                )
            },
        )
    }
}
