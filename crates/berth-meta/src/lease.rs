//! Leases: protection from garbage collection for resources a process is writing.
//!
//! A writer begins a lease, adds each blob or snapshot to it *before* creating (or reusing) the
//! resource, and ends it after the image that references the resources is stored. Each addition
//! is committed at once, so a GC running in another process sees it. The lease row records its
//! owner process (boot ID, pid, start time): when that process is gone the lease is *stale* and
//! GC deletes it, so a crashed writer never pins garbage forever.

use crate::db::{Meta, Shared};
use crate::error::{MetaError, Result};
use crate::process::Owner;
use crate::records::now_unix;
use berth_oci::Digest;
use rusqlite::{params, OptionalExtension, Transaction};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long adding a resource waits for a garbage collection that is deleting it.
const COLLECTION_WAIT: Duration = Duration::from_secs(120);

/// What a lease protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    Blob,
    Snapshot,
}

impl ResourceKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Blob => "blob",
            ResourceKind::Snapshot => "snapshot",
        }
    }
}

/// A live lease. Dropping it ends it (best effort); [`Lease::end`] reports failures.
pub struct Lease {
    id: i64,
    purpose: String,
    shared: Arc<Shared>,
    ended: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// A lease as stored, for diagnostics (`system check`) and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Row ID.
    pub id: i64,
    /// What the lease is for (`load`, `import` ...).
    pub purpose: String,
    /// The owning process.
    pub owner: Owner,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Whether the owner still runs.
    pub alive: bool,
}

/// Reads every lease row.
pub(crate) fn read_leases(tx: &Transaction<'_>) -> Result<Vec<LeaseInfo>> {
    let op = "listing leases";
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, purpose, boot_id, pid, start_time, created FROM leases ORDER BY id",
        )
        .map_err(MetaError::sql(op))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LeaseInfo {
                id: r.get(0)?,
                purpose: r.get(1)?,
                owner: Owner {
                    boot_id: r.get(2)?,
                    pid: r.get(3)?,
                    start_time: r.get::<_, i64>(4)? as u64,
                },
                created: r.get(5)?,
                alive: false,
            })
        })
        .map_err(MetaError::sql(op))?;
    let mut out: Vec<LeaseInfo> = rows
        .collect::<rusqlite::Result<_>>()
        .map_err(MetaError::sql(op))?;
    for l in &mut out {
        l.alive = l.owner.is_alive();
    }
    Ok(out)
}

/// Reads the owner of the GC claim on a resource, if any.
pub(crate) fn doomed_by(
    tx: &Transaction<'_>,
    kind: ResourceKind,
    name: &str,
) -> Result<Option<Owner>> {
    tx.query_row(
        "SELECT boot_id, pid, start_time FROM gc_doomed WHERE kind = ?1 AND name = ?2",
        params![kind.as_str(), name],
        |r| {
            Ok(Owner {
                boot_id: r.get(0)?,
                pid: r.get(1)?,
                start_time: r.get::<_, i64>(2)? as u64,
            })
        },
    )
    .optional()
    .map_err(MetaError::sql(format!(
        "checking whether {} {name} is being collected",
        kind.as_str()
    )))
}

impl Meta {
    /// Begins a lease owned by the calling process.
    pub fn begin_lease(&self, purpose: &str) -> Result<Lease> {
        let owner = Owner::current()?;
        let id = self.write(
            || format!("beginning a lease for {purpose}"),
            |tx| {
                tx.execute(
                    "INSERT INTO leases (purpose, boot_id, pid, start_time, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        purpose,
                        owner.boot_id,
                        owner.pid,
                        owner.start_time as i64,
                        now_unix()
                    ],
                )
                .map_err(MetaError::sql(format!("beginning a lease for {purpose}")))?;
                Ok(tx.last_insert_rowid())
            },
        )?;
        Ok(Lease {
            id,
            purpose: purpose.into(),
            shared: Arc::clone(&self.shared),
            ended: false,
        })
    }

    /// Every lease, with whether its owner still runs.
    pub fn leases(&self) -> Result<Vec<LeaseInfo>> {
        self.read(|| "listing leases".into(), read_leases)
    }

    /// Deletes the leases whose owner process is gone; returns them.
    pub fn remove_stale_leases(&self) -> Result<Vec<LeaseInfo>> {
        self.write(
            || "removing stale leases".into(),
            |tx| {
                let stale: Vec<LeaseInfo> =
                    read_leases(tx)?.into_iter().filter(|l| !l.alive).collect();
                for l in &stale {
                    tx.execute("DELETE FROM leases WHERE id = ?1", [l.id])
                        .map_err(MetaError::sql(format!("removing stale lease {}", l.id)))?;
                }
                Ok(stale)
            },
        )
    }

    /// The blobs and snapshots held by lease `id`, as `("blob" | "snapshot", name)`, sorted.
    pub fn lease_resources(&self, id: i64) -> Result<Vec<(String, String)>> {
        self.read(
            || format!("listing the resources of lease {id}"),
            |tx| {
                let op = format!("listing the resources of lease {id}");
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT kind, name FROM lease_resources WHERE lease_id = ?1
                         ORDER BY kind, name",
                    )
                    .map_err(MetaError::sql(op.clone()))?;
                let rows = stmt
                    .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(MetaError::sql(op.clone()))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(MetaError::sql(op))
            },
        )
    }
}

impl Lease {
    /// The lease's row ID.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// What the lease was begun for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// Protects blob `digest` (call before writing or reusing it). Committed on return.
    pub fn add_blob(&self, digest: &Digest) -> Result<()> {
        self.add(ResourceKind::Blob, &digest.to_string())
    }

    /// Protects snapshot `key` (call before preparing, committing or reusing it).
    pub fn add_snapshot(&self, key: &str) -> Result<()> {
        self.add(ResourceKind::Snapshot, key)
    }

    /// Records the resource. If a garbage collection is deleting it right now, waits until it is
    /// done (the caller then finds the resource absent and recreates it under this lease).
    fn add(&self, kind: ResourceKind, name: &str) -> Result<()> {
        let deadline = Instant::now() + COLLECTION_WAIT;
        let op = || format!("adding {} {name} to lease {}", kind.as_str(), self.id);
        loop {
            let busy = self.shared.write(crate::Durability::Full, op, |tx| {
                if let Some(owner) = doomed_by(tx, kind, name)? {
                    if owner.is_alive() {
                        return Ok(Some(owner.pid));
                    }
                    tx.execute(
                        "DELETE FROM gc_doomed WHERE kind = ?1 AND name = ?2",
                        params![kind.as_str(), name],
                    )
                    .map_err(MetaError::sql(op()))?;
                }
                let exists = tx
                    .query_row("SELECT 1 FROM leases WHERE id = ?1", [self.id], |_| Ok(()))
                    .optional()
                    .map_err(MetaError::sql(op()))?
                    .is_some();
                if !exists {
                    return Err(MetaError::LeaseGone {
                        id: self.id,
                        purpose: self.purpose.clone(),
                    });
                }
                tx.execute(
                    "INSERT OR IGNORE INTO lease_resources (lease_id, kind, name)
                     VALUES (?1, ?2, ?3)",
                    params![self.id, kind.as_str(), name],
                )
                .map_err(MetaError::sql(op()))?;
                Ok(None)
            })?;
            match busy {
                None => return Ok(()),
                Some(pid) if Instant::now() >= deadline => {
                    return Err(MetaError::BeingCollected {
                        kind: kind.as_str(),
                        name: name.into(),
                        pid,
                    })
                }
                Some(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Ends the lease: its resources are no longer protected (unless something else refers to
    /// them by now).
    pub fn end(mut self) -> Result<()> {
        self.ended = true;
        self.delete()
    }

    fn delete(&self) -> Result<()> {
        let id = self.id;
        self.shared.write(
            crate::Durability::Full,
            || format!("ending lease {id} ({})", self.purpose),
            |tx| {
                tx.execute("DELETE FROM leases WHERE id = ?1", [id])
                    .map_err(MetaError::sql(format!("ending lease {id}")))?;
                Ok(())
            },
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.delete();
        }
    }
}
