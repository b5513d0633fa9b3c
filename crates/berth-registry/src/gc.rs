//! Garbage collection that is safe while the server pushes and pulls.
//!
//! Mark: every blob linked in a repository, every manifest linked in a repository and every blob
//! those manifests reference. Sweep: unmarked blobs whose mtime is older than the grace period.
//! Safety while serving:
//! - An upload in progress lives in `ingest/`, which the sweep of blobs never touches; idle upload
//!   sessions are removed only after `upload_max_age` and only if no writer holds their ingest.
//! - Every commit-then-link step of the server (blob upload, mount, manifest put) holds
//!   `gc.lock` shared; GC holds it exclusively from mark to sweep, so a blob is either linked
//!   before the mark (kept) or committed after the sweep (untouched). Linking sets the blob's mtime
//!   to now, so a re-pushed old blob also falls under the grace period.
//! - The grace period covers blobs committed by a client that has not linked them yet in any other
//!   way (e.g. a server killed between commit and link).

use crate::error::RegistryError;
use crate::storage::{gc_lock, Storage};
use berth_oci::Digest;
use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// GC settings.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs younger than this are kept.
    pub grace: Duration,
    /// Upload sessions untouched for this long are discarded.
    pub upload_max_age: Duration,
    /// Report what would be removed without removing anything.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(3600),
            upload_max_age: Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

/// What a GC run did (with `dry_run`: what it would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs still referenced (or within the grace period).
    pub blobs_kept: usize,
    /// Blobs deleted.
    pub blobs_deleted: usize,
    /// The digests of the blobs deleted.
    pub deleted: Vec<Digest>,
    /// Bytes freed by the deletions.
    pub bytes_freed: u64,
    /// Stale upload sessions removed.
    pub uploads_removed: usize,
}

/// Runs GC on the registry root with the default options (1 h grace, 24 h upload age).
pub fn gc(root: &Path) -> Result<GcReport, RegistryError> {
    gc_with(root, &GcOptions::default())
}

/// Runs GC with explicit options.
pub fn gc_with(root: &Path, opts: &GcOptions) -> Result<GcReport, RegistryError> {
    let storage = Storage::open(root)?;
    let mut report = GcReport::default();
    remove_stale_uploads(&storage, opts, &mut report);
    let _lock = gc_lock(root, true)?;
    let mut marked = HashSet::new();
    mark_dir(&storage, &root.join("repositories"), &mut marked)?;
    let now = SystemTime::now();
    for info in storage
        .content
        .list()
        .map_err(|e| RegistryError::GcContent(Box::new(e)))?
    {
        if marked.contains(&info.digest) {
            report.blobs_kept += 1;
            continue;
        }
        let age = fs::metadata(storage.content.blob_path(&info.digest))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < opts.grace {
            report.blobs_kept += 1;
            continue;
        }
        if opts.dry_run {
            report.blobs_deleted += 1;
            report.bytes_freed += info.size;
            report.deleted.push(info.digest);
            continue;
        }
        match storage.content.delete(&info.digest) {
            Ok(()) => {
                report.blobs_deleted += 1;
                report.bytes_freed += info.size;
                report.deleted.push(info.digest);
            }
            Err(e) if e.class() == berth_oci::ErrorClass::NotFound => {}
            Err(e) => return Err(RegistryError::GcContent(Box::new(e))),
        }
    }
    Ok(report)
}

use berth_oci::Classify as _;

fn scan_err(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::GcScan {
        path: path.into(),
        source,
    }
}

/// Walks `repositories/` marking linked blobs and manifests (and what manifests reference).
fn mark_dir(
    storage: &Storage,
    dir: &Path,
    marked: &mut HashSet<Digest>,
) -> Result<(), RegistryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(scan_err(dir)(e)),
    };
    for e in rd {
        let e = e.map_err(scan_err(dir))?;
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        match e.file_name().to_str() {
            Some("_blobs") => mark_links(storage, &p, marked, |_| {})?,
            Some("_manifests") => {
                let mut found = Vec::new();
                mark_links(storage, &p, marked, |d| found.push(d.clone()))?;
                for d in found {
                    mark_references(storage, &d, marked);
                }
            }
            Some(n) if n.starts_with('_') => {}
            _ => mark_dir(storage, &p, marked)?,
        }
    }
    Ok(())
}

/// Marks every `<alg>/<hex>` link under `dir`.
fn mark_links(
    storage: &Storage,
    dir: &Path,
    marked: &mut HashSet<Digest>,
    mut each: impl FnMut(&Digest),
) -> Result<(), RegistryError> {
    for alg in fs::read_dir(dir).map_err(scan_err(dir))?.flatten() {
        let alg_name = alg.file_name().to_string_lossy().into_owned();
        let Ok(rd) = fs::read_dir(alg.path()) else {
            continue;
        };
        for link in rd.flatten() {
            let s = format!("{alg_name}:{}", link.file_name().to_string_lossy());
            if let Ok(d) = s.parse::<Digest>() {
                each(&d);
                if let Some(stored) = storage.resolve(&d) {
                    marked.insert(stored);
                }
            }
        }
    }
    Ok(())
}

/// Marks the config, layers and child manifests a stored manifest names.
fn mark_references(storage: &Storage, d: &Digest, marked: &mut HashSet<Digest>) {
    let Some(Ok(mut f)) = storage.resolve(d).map(|s| storage.content.read(&s)) else {
        return;
    };
    let mut data = Vec::new();
    if f.read_to_end(&mut data).is_err() {
        return;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return;
    };
    let mut add = |desc: &serde_json::Value| {
        if let Some(d) = desc
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<Digest>().ok())
            .and_then(|d| storage.resolve(&d))
        {
            marked.insert(d);
        }
    };
    if let Some(c) = v.get("config") {
        add(c);
    }
    for key in ["layers", "manifests", "blobs"] {
        if let Some(a) = v.get(key).and_then(|a| a.as_array()) {
            a.iter().for_each(&mut add);
        }
    }
}

/// Discards upload sessions untouched for `upload_max_age` whose ingest no writer holds.
fn remove_stale_uploads(storage: &Storage, opts: &GcOptions, report: &mut GcReport) {
    let Ok(rd) = fs::read_dir(storage.root().join("uploads")) else {
        return;
    };
    let now = SystemTime::now();
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= opts.upload_max_age);
        if !old {
            continue;
        }
        if opts.dry_run {
            report.uploads_removed += 1;
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        match storage.content.abort(&format!("registry-upload-{id}")) {
            Ok(()) => {}
            Err(e) if e.class() == berth_oci::ErrorClass::NotFound => {}
            Err(_) => continue, // a writer holds it: the session is live after all
        }
        if fs::remove_file(e.path()).is_ok() {
            report.uploads_removed += 1;
        }
    }
}
