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

/// A container proper (schema v3): its reference columns plus what the engine stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    /// Container ID (64 hex digits).
    pub id: String,
    /// Container name, without docker's leading `/` (unique).
    pub name: String,
    /// The image it was created from.
    pub image_id: Digest,
    /// Its writable snapshot.
    pub snapshot_key: Option<String>,
    /// Creation time, unix nanoseconds.
    pub created: i64,
    /// The image name as the user gave it.
    pub image: String,
    /// The engine's container record (JSON).
    pub config: String,
}

/// What a container reference (ID, name or ID prefix) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerLookup {
    /// Exactly one container.
    Found(ContainerRow),
    /// Nothing matches.
    NotFound,
    /// The ID prefix matches this many containers.
    Ambiguous(usize),
}

const ROW_COLUMNS: &str = "id, name, image_id, snapshot_key, created, image, config";

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ContainerRowRaw, String)> {
    Ok((
        ContainerRowRaw {
            id: r.get(0)?,
            name: r.get(1)?,
            snapshot_key: r.get(3)?,
            created: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
            image: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            config: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
        },
        r.get(2)?,
    ))
}

struct ContainerRowRaw {
    id: String,
    name: String,
    snapshot_key: Option<String>,
    created: i64,
    image: String,
    config: String,
}

fn rows(
    tx: &Transaction<'_>,
    op: &str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ContainerRow>> {
    let mut stmt = tx.prepare_cached(sql).map_err(MetaError::sql(op))?;
    let raw: Vec<_> = stmt
        .query_map(params, row_of)
        .map_err(MetaError::sql(op))?
        .collect::<rusqlite::Result<_>>()
        .map_err(MetaError::sql(op))?;
    raw.into_iter()
        .map(|(r, image_id)| {
            Ok(ContainerRow {
                image_id: parse_digest(|| format!("containers.image_id of {}", r.id), &image_id)?,
                id: r.id,
                name: r.name,
                snapshot_key: r.snapshot_key,
                created: r.created,
                image: r.image,
                config: r.config,
            })
        })
        .collect()
}

fn name_holder(tx: &Transaction<'_>, op: &str, name: &str, id: &str) -> Result<Option<String>> {
    tx.query_row(
        "SELECT id FROM containers WHERE name = ?1 AND id <> ?2",
        params![name, id],
        |r| r.get(0),
    )
    .optional()
    .map_err(MetaError::sql(op))
}

impl Meta {
    /// Records a new container. `ContainerNameInUse` when another container (or reference) has
    /// the name; an existing row with the same ID is replaced.
    pub fn insert_container(&self, c: &ContainerRow) -> Result<()> {
        let op = || format!("recording container {}", c.id);
        self.write(op, |tx| {
            if let Some(other) = name_holder(tx, &op(), &c.name, &c.id)? {
                return Err(MetaError::ContainerNameInUse {
                    name: c.name.clone(),
                    other,
                });
            }
            tx.execute(
                "INSERT OR REPLACE INTO containers
                   (id, name, image_id, snapshot_key, created, image, config)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    c.id,
                    c.name,
                    c.image_id.to_string(),
                    c.snapshot_key,
                    c.created,
                    c.image,
                    c.config
                ],
            )
            .map_err(MetaError::sql(op()))?;
            Ok(())
        })
    }

    /// Renames container `id` and stores its updated record in one transaction.
    /// `ContainerNameInUse` when another container has `name`; `ContainerNotFound` when `id` is
    /// not recorded.
    pub fn rename_container(&self, id: &str, name: &str, config: &str) -> Result<()> {
        let op = || format!("renaming container {id} to {name}");
        self.write(op, |tx| {
            if let Some(other) = name_holder(tx, &op(), name, id)? {
                return Err(MetaError::ContainerNameInUse {
                    name: name.into(),
                    other,
                });
            }
            let n = tx
                .execute(
                    "UPDATE containers SET name = ?2, config = ?3 WHERE id = ?1",
                    params![id, name, config],
                )
                .map_err(MetaError::sql(op()))?;
            if n == 0 {
                return Err(MetaError::ContainerNotFound { id: id.into() });
            }
            Ok(())
        })
    }

    /// Replaces container `id`'s stored record.
    pub fn update_container_config(&self, id: &str, config: &str) -> Result<()> {
        let op = || format!("updating container {id}");
        self.write(op, |tx| {
            let n = tx
                .execute(
                    "UPDATE containers SET config = ?2 WHERE id = ?1",
                    params![id, config],
                )
                .map_err(MetaError::sql(op()))?;
            if n == 0 {
                return Err(MetaError::ContainerNotFound { id: id.into() });
            }
            Ok(())
        })
    }

    /// The container with ID `id` (containers proper only).
    pub fn container_row(&self, id: &str) -> Result<Option<ContainerRow>> {
        let op = format!("reading container {id}");
        self.read(
            || op.clone(),
            |tx| {
                Ok(rows(
                    tx,
                    &op,
                    &format!(
                        "SELECT {ROW_COLUMNS} FROM containers WHERE id = ?1 AND config IS NOT NULL"
                    ),
                    [id],
                )?
                .pop())
            },
        )
    }

    /// Every container proper (not `image mount` references), newest first.
    pub fn container_rows(&self) -> Result<Vec<ContainerRow>> {
        self.read(
            || "listing containers".into(),
            |tx| {
                rows(
                    tx,
                    "listing containers",
                    &format!(
                        "SELECT {ROW_COLUMNS} FROM containers WHERE config IS NOT NULL
                         ORDER BY created DESC, id"
                    ),
                    [],
                )
            },
        )
    }

    /// Finds a container by docker's rules, in one read transaction: the exact ID, then the
    /// exact name (a leading `/` is ignored), then a unique ID prefix.
    pub fn lookup_container(&self, reference: &str) -> Result<ContainerLookup> {
        let op = format!("looking up container {reference}");
        self.read(
            || op.clone(),
            |tx| {
                let by = |sql: &str, p: &str| -> Result<Vec<ContainerRow>> {
                    rows(
                        tx,
                        &op,
                        &format!(
                            "SELECT {ROW_COLUMNS} FROM containers WHERE {sql} AND config IS NOT NULL"
                        ),
                        [p],
                    )
                };
                if reference.is_empty() {
                    return Ok(ContainerLookup::NotFound);
                }
                if let Some(r) = by("id = ?1", reference)?.pop() {
                    return Ok(ContainerLookup::Found(r));
                }
                let name = reference.strip_prefix('/').unwrap_or(reference);
                if let Some(r) = by("name = ?1", name)?.pop() {
                    return Ok(ContainerLookup::Found(r));
                }
                let hex = reference.bytes().all(|b| b.is_ascii_hexdigit());
                if !hex {
                    return Ok(ContainerLookup::NotFound);
                }
                // A range on the primary key: `LIKE` would not use the index.
                let mut end = reference.to_ascii_lowercase();
                end.push('\u{7f}');
                let found = rows(
                    tx,
                    &op,
                    &format!(
                        "SELECT {ROW_COLUMNS} FROM containers
                         WHERE id >= ?1 AND id < ?2 AND config IS NOT NULL"
                    ),
                    params![reference.to_ascii_lowercase(), end],
                )?;
                Ok(match found.len() {
                    0 => ContainerLookup::NotFound,
                    1 => ContainerLookup::Found(found.into_iter().next().expect("one")),
                    n => ContainerLookup::Ambiguous(n),
                })
            },
        )
    }
}
