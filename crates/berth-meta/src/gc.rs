//! Mark-and-sweep garbage collection of blobs, snapshots, layer rows and abandoned ingests.
//!
//! # Order, and why it is race-free
//!
//! Writers follow one rule: a resource is added to a lease (committed) *before* it is created
//! or reused, and the lease ends only after the image referencing it is stored. GC then runs:
//!
//! 1. **List** blobs and snapshots. Anything created later is not listed, so never deleted.
//! 2. **Mark** in one read transaction (one consistent snapshot): roots are image blob refs,
//!    snapshots of layers that images use, container snapshots and resources of live leases
//!    (stale leases are deleted first). A writer's resource is either still leased or already
//!    referenced by its image in that snapshot, because the lease ends after the image commits.
//!    Snapshots are marked with their whole parent chain.
//! 3. **Sweep** what is listed but unmarked. A resource can still be *reused* after step 2 (a
//!    writer leasing an existing layer), so each candidate is re-checked and *claimed* in a
//!    write transaction (`gc_doomed`) before it is deleted; a lease addition for a claimed
//!    resource waits until GC releases it, then the writer sees it gone and recreates it.
//!    Layer rows nothing refers to are deleted in the same transaction. Snapshots are removed
//!    children first; blobs after snapshots. Ingests not locked by a live writer are aborted.

use crate::db::Meta;
use crate::error::{MetaError, Result};
use crate::lease::{doomed_by, read_leases, ResourceKind};
use crate::process::Owner;
use crate::records::parse_digest;
use berth_content::{Content, ContentError};
use berth_oci::Digest;
use berth_snapshot::{SnapshotError, Snapshotter};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What [`collect`] should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Only report what would be removed. Ingests cannot be probed without taking their lock,
    /// so a dry run lists every ingest on disk, including ones a live writer holds.
    pub dry_run: bool,
    /// Abort ingests no live writer holds (default true).
    pub abort_ingests: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            abort_ingests: true,
        }
    }
}

/// What [`collect`] removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed, with their sizes.
    pub removed_blobs: Vec<(Digest, u64)>,
    /// Snapshot keys removed, children before parents.
    pub removed_snapshots: Vec<String>,
    /// Layer rows removed (chain IDs).
    pub removed_layers: Vec<Digest>,
    /// Ingest refs aborted.
    pub removed_ingests: Vec<String>,
    /// Stale leases deleted (row IDs).
    pub removed_leases: Vec<i64>,
    /// Bytes freed: removed blob sizes plus the unpacked sizes of removed layer snapshots.
    pub reclaimed_bytes: u64,
    /// Removals that failed without stopping the collection (each names the object).
    pub errors: Vec<String>,
}

/// Everything the mark phase found reachable.
#[derive(Debug, Default)]
struct Marks {
    blobs: BTreeSet<String>,
    snapshots: BTreeSet<String>,
    /// Layer rows to delete: chain ID -> (snapshot key, unpacked size).
    dead_layers: BTreeMap<String, (String, u64)>,
    /// Unpacked size of each layer snapshot, by key.
    layer_sizes: HashMap<String, u64>,
}

/// The snapshot key of a layer, by the naming rule of the image store.
fn layer_key(chain: &str) -> String {
    let hex = chain.split_once(':').map(|(_, h)| h).unwrap_or(chain);
    format!("layer-{hex}")
}

/// Runs one garbage collection over `meta`, `content` and `snaps` (see the module docs).
pub fn collect(
    meta: &Meta,
    content: &dyn Content,
    snaps: &dyn Snapshotter,
    opts: &GcOptions,
) -> Result<GcReport> {
    let mut report = GcReport::default();
    // 1. List.
    let blobs = content.list().map_err(|source| MetaError::Content {
        op: "listing blobs".into(),
        source: Box::new(source),
    })?;
    let snapshots = snaps.list().map_err(|source| MetaError::Snapshot {
        op: "listing snapshots".into(),
        source: Box::new(source),
    })?;
    let parents: HashMap<String, Option<String>> = snapshots
        .iter()
        .map(|i| (i.key.clone(), i.parent.clone()))
        .collect();

    // 2. Mark.
    if !opts.dry_run {
        report.removed_leases = meta
            .remove_stale_leases()?
            .into_iter()
            .map(|l| l.id)
            .collect();
    }
    let marks = meta.read(|| "marking what is in use".into(), |tx| mark(tx, &parents))?;

    let dead_snapshots: Vec<String> = snapshots
        .iter()
        .filter(|s| !marks.snapshots.contains(&s.key))
        .map(|s| s.key.clone())
        .collect();
    let dead_blobs: Vec<(Digest, u64)> = blobs
        .iter()
        .filter(|b| !marks.blobs.contains(&b.digest.to_string()))
        .map(|b| (b.digest.clone(), b.size))
        .collect();

    if opts.dry_run {
        report.removed_snapshots = children_first(dead_snapshots, &parents);
        report.reclaimed_bytes = report
            .removed_snapshots
            .iter()
            .filter_map(|k| marks.layer_sizes.get(k))
            .sum::<u64>()
            + dead_blobs.iter().map(|(_, s)| s).sum::<u64>();
        report.removed_layers = marks
            .dead_layers
            .keys()
            .map(|c| parse_digest(|| "layers.chain_id".into(), c))
            .collect::<Result<_>>()?;
        report.removed_blobs = dead_blobs;
        if opts.abort_ingests {
            report.removed_ingests = list_ingests(content)?;
        }
        return Ok(report);
    }

    // 3. Sweep: snapshots and layer rows, then blobs, then ingests.
    let owner = Owner::current()?;
    let mut claims = Claims {
        meta,
        owner: &owner,
        held: Vec::new(),
    };
    let (claimed, removed_layers) = meta.write(
        || "claiming unused snapshots".into(),
        |tx| {
            let claimed = claim(tx, &owner, ResourceKind::Snapshot, &dead_snapshots)?;
            let removed = delete_dead_layers(tx, &marks.dead_layers)?;
            Ok((claimed, removed))
        },
    )?;
    claims
        .held
        .extend(claimed.iter().map(|k| (ResourceKind::Snapshot, k.clone())));
    report.removed_layers = removed_layers
        .iter()
        .map(|c| parse_digest(|| "layers.chain_id".into(), c))
        .collect::<Result<_>>()?;
    for key in children_first(claimed, &parents) {
        match snaps.remove(&key) {
            Ok(()) => {
                report.reclaimed_bytes += marks.layer_sizes.get(&key).copied().unwrap_or(0);
                report.removed_snapshots.push(key.clone());
            }
            // Gone already (another GC), or a child appeared that we did not list: keep it.
            Err(SnapshotError::NotFound { .. } | SnapshotError::HasChildren { .. }) => {}
            Err(e) => report.errors.push(format!("removing snapshot {key}: {e}")),
        }
        claims.release(&[(ResourceKind::Snapshot, key)])?;
    }

    let names: Vec<String> = dead_blobs.iter().map(|(d, _)| d.to_string()).collect();
    let claimed: BTreeSet<String> = meta
        .write(
            || "claiming unused blobs".into(),
            |tx| claim(tx, &owner, ResourceKind::Blob, &names),
        )?
        .into_iter()
        .collect();
    claims
        .held
        .extend(claimed.iter().map(|n| (ResourceKind::Blob, n.clone())));
    for (digest, size) in dead_blobs {
        if !claimed.contains(&digest.to_string()) {
            continue;
        }
        match content.delete(&digest) {
            Ok(()) => {
                report.reclaimed_bytes += size;
                report.removed_blobs.push((digest, size));
            }
            Err(ContentError::NotFound { .. }) => {}
            Err(e) => report.errors.push(format!("removing blob {digest}: {e}")),
        }
    }
    let held = std::mem::take(&mut claims.held);
    claims.release(&held)?;

    if opts.abort_ingests {
        for reference in list_ingests(content)? {
            match content.abort(&reference) {
                Ok(()) => report.removed_ingests.push(reference),
                // Held by a live writer, or committed/aborted meanwhile.
                Err(ContentError::Locked { .. } | ContentError::IngestNotFound { .. }) => {}
                Err(e) => report
                    .errors
                    .push(format!("aborting ingest {reference:?}: {e}")),
            }
        }
    }
    Ok(report)
}

fn list_ingests(content: &dyn Content) -> Result<Vec<String>> {
    Ok(content
        .ingests()
        .map_err(|source| MetaError::Content {
            op: "listing ingests".into(),
            source: Box::new(source),
        })?
        .into_iter()
        .map(|i| i.reference)
        .collect())
}

/// Reads every root in one consistent snapshot and closes the snapshot set over parents.
fn mark(tx: &Transaction<'_>, parents: &HashMap<String, Option<String>>) -> Result<Marks> {
    let op = "marking what is in use";
    let strings = |sql: &str| -> Result<Vec<String>> {
        let mut stmt = tx.prepare(sql).map_err(MetaError::sql(op))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(MetaError::sql(op))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(MetaError::sql(op))
    };
    let mut m = Marks::default();
    m.blobs
        .extend(strings("SELECT DISTINCT digest FROM image_blobs")?);

    // Live leases only: a stale one (dry run keeps them) protects nothing.
    let live: BTreeSet<i64> = read_leases(tx)?
        .into_iter()
        .filter(|l| l.alive)
        .map(|l| l.id)
        .collect();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    {
        let mut stmt = tx
            .prepare("SELECT lease_id, kind, name FROM lease_resources")
            .map_err(MetaError::sql(op))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(MetaError::sql(op))?;
        for row in rows {
            let (lease, kind, name) = row.map_err(MetaError::sql(op))?;
            if !live.contains(&lease) {
                continue;
            }
            if kind == ResourceKind::Blob.as_str() {
                m.blobs.insert(name);
            } else {
                roots.insert(name);
            }
        }
    }
    roots.extend(strings(
        "SELECT snapshot_key FROM containers WHERE snapshot_key IS NOT NULL",
    )?);
    let used_chains: BTreeSet<String> = strings("SELECT DISTINCT chain_id FROM image_layers")?
        .into_iter()
        .collect();
    roots.extend(used_chains.iter().map(|c| layer_key(c)));

    // Layer rows: those images use root their snapshot; the others live on only while their
    // snapshot is otherwise in use.
    let mut layers: Vec<(String, String, String, u64)> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT chain_id, snapshot_key, blob_digest, unpacked_size FROM layers")
            .map_err(MetaError::sql(op))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?.max(0) as u64,
                ))
            })
            .map_err(MetaError::sql(op))?;
        for row in rows {
            layers.push(row.map_err(MetaError::sql(op))?);
        }
    }
    for (chain, key, _, size) in &layers {
        m.layer_sizes.insert(key.clone(), *size);
        if used_chains.contains(chain) {
            roots.insert(key.clone());
        }
    }
    // Close over parents: a kept snapshot needs its whole chain.
    for root in roots {
        let mut key = Some(root);
        while let Some(k) = key {
            if !m.snapshots.insert(k.clone()) {
                break;
            }
            key = parents.get(&k).cloned().flatten();
        }
    }
    for (chain, key, blob, size) in layers {
        if used_chains.contains(&chain) || m.snapshots.contains(&key) {
            m.blobs.insert(blob);
        } else {
            m.dead_layers.insert(chain, (key, size));
        }
    }
    Ok(m)
}

/// Orders snapshot keys so that every key comes before its parent (deepest first).
fn children_first(keys: Vec<String>, parents: &HashMap<String, Option<String>>) -> Vec<String> {
    let depth = |key: &str| {
        let mut d = 0usize;
        let mut cur = parents.get(key).cloned().flatten();
        while let Some(k) = cur {
            d += 1;
            if d > parents.len() {
                break; // a cycle cannot happen, but never loop forever
            }
            cur = parents.get(&k).cloned().flatten();
        }
        d
    };
    let mut keyed: Vec<(usize, String)> = keys.into_iter().map(|k| (depth(&k), k)).collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, k)| k).collect()
}

/// Whether a snapshot is in use right now (inside the claim transaction).
fn snapshot_in_use(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM lease_resources WHERE kind = 'snapshot' AND name = ?1)
             OR EXISTS (SELECT 1 FROM containers WHERE snapshot_key = ?1)
             OR EXISTS (SELECT 1 FROM layers l JOIN image_layers il ON il.chain_id = l.chain_id
                        WHERE l.snapshot_key = ?1)
             OR EXISTS (SELECT 1 FROM image_layers WHERE 'layer-' || substr(chain_id, 8) = ?1)",
        [key],
        |r| r.get(0),
    )
}

/// Whether a blob is in use right now (inside the claim transaction).
fn blob_in_use(tx: &Transaction<'_>, digest: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM lease_resources WHERE kind = 'blob' AND name = ?1)
             OR EXISTS (SELECT 1 FROM image_blobs WHERE digest = ?1)
             OR EXISTS (SELECT 1 FROM layers WHERE blob_digest = ?1)",
        [digest],
        |r| r.get(0),
    )
}

/// Re-checks each candidate and claims those still unused for deletion; returns the claimed.
fn claim(
    tx: &Transaction<'_>,
    owner: &Owner,
    kind: ResourceKind,
    candidates: &[String],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in candidates {
        let op = || format!("claiming {} {name} for deletion", kind.as_str());
        let in_use = match kind {
            ResourceKind::Blob => blob_in_use(tx, name),
            ResourceKind::Snapshot => snapshot_in_use(tx, name),
        }
        .map_err(MetaError::sql(op()))?;
        if in_use {
            continue;
        }
        if let Some(other) = doomed_by(tx, kind, name)? {
            if other.is_alive() {
                continue; // another collection is deleting it
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO gc_doomed (kind, name, boot_id, pid, start_time)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                kind.as_str(),
                name,
                owner.boot_id,
                owner.pid,
                owner.start_time as i64
            ],
        )
        .map_err(MetaError::sql(op()))?;
        out.push(name.clone());
    }
    Ok(out)
}

/// Deletes the layer rows found dead by the mark phase that are still unused; returns their
/// chain IDs.
fn delete_dead_layers(
    tx: &Transaction<'_>,
    dead: &BTreeMap<String, (String, u64)>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (chain, (key, _)) in dead {
        let op = || format!("deleting unused layer {chain}");
        let used: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?1)",
                [chain],
                |r| r.get(0),
            )
            .map_err(MetaError::sql(op()))?;
        let key_now: Option<String> = tx
            .query_row(
                "SELECT snapshot_key FROM layers WHERE chain_id = ?1",
                [chain],
                |r| r.get(0),
            )
            .optional()
            .map_err(MetaError::sql(op()))?;
        let Some(key_now) = key_now else { continue };
        if used || key_now != *key || snapshot_in_use(tx, key).map_err(MetaError::sql(op()))? {
            continue;
        }
        tx.execute("DELETE FROM layers WHERE chain_id = ?1", [chain])
            .map_err(MetaError::sql(op()))?;
        out.push(chain.clone());
    }
    Ok(out)
}

/// GC claims held by this collection; released explicitly, or on drop if an error cut it short.
struct Claims<'a> {
    meta: &'a Meta,
    owner: &'a Owner,
    held: Vec<(ResourceKind, String)>,
}

impl Claims<'_> {
    fn release(&mut self, items: &[(ResourceKind, String)]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let owner = self.owner;
        self.meta.write(
            || "releasing garbage collection claims".into(),
            |tx| {
                for (kind, name) in items {
                    tx.execute(
                        "DELETE FROM gc_doomed WHERE kind = ?1 AND name = ?2 AND pid = ?3
                         AND start_time = ?4",
                        params![kind.as_str(), name, owner.pid, owner.start_time as i64],
                    )
                    .map_err(MetaError::sql(format!(
                        "releasing the claim on {} {name}",
                        kind.as_str()
                    )))?;
                }
                Ok(())
            },
        )?;
        self.held.retain(|h| !items.contains(h));
        Ok(())
    }
}

impl Drop for Claims<'_> {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        let _ = self.release(&held);
    }
}

#[cfg(test)]
pub(crate) mod tests;
