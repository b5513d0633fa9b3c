//! The state both drivers share: the metadata file and the `snapshots/<id>` directories.
//!
//! Committed snapshots and views are recorded in `metadata.json` (saved durably). Active
//! snapshots — above all the writable layers of containers, one per container — are recorded
//! one per file in `active/<key>` instead, written without fsync (a container's layer is thrown
//! away with it): creating or removing a container's layer then costs the same with 1000
//! containers as with one, where rewriting one file that lists them all grew with their number.
//! An operation on one key reads only that key's file ([`Store::lock_key`]); listing, cleanup
//! and removing a committed snapshot (whose active children must be counted) read them all.

use crate::error::{Result, SnapshotError};
use crate::{Info, Kind};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const META_FILE: &str = "metadata.json";
const LOCK_FILE: &str = "lock";
const ACTIVE_DIR: &str = "active";
/// Ids of snapshots recorded in `active/` start here, clear of `next_id`'s sequence.
const ACTIVE_IDS: u64 = 1 << 40;
/// The longest file name under `active/` (NAME_MAX is 255; room for the temp file's affixes).
const MAX_KEY_FILE: usize = 240;

/// One snapshot's record in the metadata file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    /// Recorded in its own file under `active/`, not in `metadata.json`.
    #[serde(skip)]
    pub own_file: bool,
}

/// The whole metadata file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub next_id: u64,
    pub snapshots: BTreeMap<String, Entry>,
}

/// Metadata plus directory layout under one root. Every operation holds [`Store::lock`], so
/// several instances (threads or processes) may share a root.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    meta: Mutex<Meta>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(|source| SnapshotError::CreateDir {
            path: snaps.clone(),
            source,
        })?;
        Ok(Store {
            root: root.to_path_buf(),
            meta: Mutex::new(load(root)?),
        })
    }

    /// `<root>/snapshots`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// `<root>/snapshots/<id>`.
    pub fn dir(&self, id: u64) -> PathBuf {
        self.snapshots_dir().join(id.to_string())
    }

    /// `<root>/snapshots/<id>/fs`.
    pub fn fs_dir(&self, id: u64) -> PathBuf {
        self.dir(id).join("fs")
    }

    /// `<root>/snapshots/<id>/work`.
    pub fn work_dir(&self, id: u64) -> PathBuf {
        self.dir(id).join("work")
    }

    /// Serialises against other threads (mutex) and other processes (`flock` on `<root>/lock`),
    /// then reloads the metadata from disk so changes made by other instances are seen.
    pub fn lock(&self) -> Result<Locked<'_>> {
        let mut meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| SnapshotError::Lock {
                path: path.clone(),
                source,
            })?;
        let flock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            SnapshotError::Lock {
                path,
                source: errno.into(),
            }
        })?;
        *meta = load(&self.root)?;
        Ok(Locked {
            meta,
            _flock: flock,
        })
    }

    /// [`Store::lock`], with the record of `key` loaded when it is an active snapshot.
    pub fn lock_key(&self, key: &str) -> Result<Locked<'_>> {
        self.lock_keys([key])
    }

    /// [`Store::lock`], with the records of those of `keys` that are active snapshots loaded.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Result<Locked<'_>> {
        let mut meta = self.lock()?;
        for key in keys {
            if !meta.snapshots.contains_key(key) {
                if let Some(e) = self.read_active(&meta, key)? {
                    meta.snapshots.insert(key.to_string(), e);
                }
            }
        }
        Ok(meta)
    }

    /// [`Store::lock`], with every active snapshot's record loaded.
    pub fn lock_all(&self) -> Result<Locked<'_>> {
        let mut meta = self.lock()?;
        let dir = self.root.join(ACTIVE_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(meta),
            Err(source) => return Err(SnapshotError::ReadMeta { path: dir, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| SnapshotError::ReadMeta {
                path: dir.clone(),
                source,
            })?;
            let Some(key) = file_key(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            if meta.snapshots.contains_key(&key) {
                continue;
            }
            if let Some(e) = self.read_active(&meta, &key)? {
                meta.snapshots.insert(key, e);
            }
        }
        Ok(meta)
    }

    /// `active/<key>`.
    fn active_file(&self, key: &str) -> PathBuf {
        self.root.join(ACTIVE_DIR).join(key_file(key))
    }

    /// The record of active snapshot `key` from its own file, if it has one. A file whose id a
    /// snapshot of `metadata.json` owns is the leftover of a commit interrupted after its save:
    /// skipped.
    fn read_active(&self, meta: &Meta, key: &str) -> Result<Option<Entry>> {
        if check_key(key).is_err() || key_file(key).len() > MAX_KEY_FILE {
            return Ok(None);
        }
        let path = self.active_file(key);
        match fs::read(&path) {
            Ok(bytes) => {
                let mut e: Entry = serde_json::from_slice(&bytes)
                    .map_err(|source| SnapshotError::ParseMeta { path, source })?;
                if meta.snapshots.values().any(|m| m.id == e.id) {
                    return Ok(None);
                }
                e.own_file = true;
                Ok(Some(e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SnapshotError::ReadMeta { path, source }),
        }
    }

    /// Records active snapshot `key` in its own file (temp file, rename; no fsync).
    fn write_active(&self, key: &str, e: &Entry) -> Result<()> {
        let path = self.active_file(key);
        let err = |source| SnapshotError::WriteMeta {
            path: path.clone(),
            source,
        };
        let dir = self.root.join(ACTIVE_DIR);
        fs::create_dir_all(&dir).map_err(err)?;
        let tmp = dir.join(format!(".{}.tmp", key_file(key)));
        let bytes = serde_json::to_vec(e).map_err(|e| err(e.into()))?;
        fs::write(&tmp, bytes).map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)
    }

    /// Deletes the own file of active snapshot `key`.
    fn forget_active(&self, key: &str) -> Result<()> {
        let path = self.active_file(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SnapshotError::WriteMeta { path, source }),
        }
    }

    /// The id a new snapshot of `kind` gets: the next in `metadata.json`'s sequence, or for an
    /// active one (recorded in its own file) an id whose directory does not exist (the
    /// directories are what every recorded snapshot has, and we hold the lock).
    pub fn new_id(&self, meta: &Meta, kind: Kind) -> u64 {
        if kind != Kind::Active {
            return meta.next_id;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut id = ACTIVE_IDS + (nanos ^ (u64::from(std::process::id()) << 20)) % ACTIVE_IDS;
        while self.dir(id).exists() {
            id = ACTIVE_IDS + (id + 1) % ACTIVE_IDS;
        }
        id
    }

    /// Writes `meta` atomically: temp file, fsync, rename, fsync of the directory.
    pub fn save(&self, meta: &Meta) -> Result<()> {
        self.save_with(meta, true)
    }

    /// Writes `meta` atomically (temp file, rename); with `durable`, also fsyncs the file before
    /// the rename and the directory after. Changes that only concern containers' writable
    /// snapshots are saved without: they are thrown away with their container, the rename alone
    /// keeps the file whole, and after a power loss `cleanup` removes a directory whose entry
    /// was lost. Every durable save makes the earlier relaxed ones durable too.
    pub fn save_with(&self, meta: &Meta, durable: bool) -> Result<()> {
        let path = self.root.join(META_FILE);
        let tmp = self.root.join(format!("{META_FILE}.tmp"));
        let err = |source| SnapshotError::WriteMeta {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(&MetaFile::of(meta)).map_err(|e| err(e.into()))?;
        let mut f = fs::File::create(&tmp).map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        if durable {
            f.sync_all().map_err(err)?;
        }
        drop(f);
        fs::rename(&tmp, &path).map_err(err)?;
        if !durable {
            return Ok(());
        }
        fs::File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }

    /// The entry of `key` or NotFound.
    pub fn get<'m>(meta: &'m Meta, key: &str) -> Result<&'m Entry> {
        meta.snapshots
            .get(key)
            .ok_or_else(|| SnapshotError::NotFound {
                key: key.to_string(),
            })
    }

    /// Ids of `parent` and its ancestors, nearest first.
    pub fn chain(meta: &Meta, parent: Option<&str>) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let mut next = parent.map(str::to_string);
        while let Some(k) = next {
            let e = Self::get(meta, &k)?;
            ids.push(e.id);
            next = e.parent.clone();
        }
        Ok(ids)
    }

    /// Creates snapshot `key` of `kind` on `parent` with id `id` (from [`Store::new_id`]; `meta`
    /// from [`Store::lock_key`] of `key`): makes its directories, lets `populate` fill `fs`
    /// (given the parent's fs dir), then records it.
    pub fn create(
        &self,
        meta: &mut Meta,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        id: u64,
        populate: impl FnOnce(Option<&Path>, &Path) -> Result<()>,
    ) -> Result<()> {
        check_key(key)?;
        if meta.snapshots.contains_key(key) {
            return Err(SnapshotError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let parent_fs = match parent {
            Some(p) => {
                let e = meta
                    .snapshots
                    .get(p)
                    .ok_or_else(|| SnapshotError::NotFound { key: p.to_string() })?;
                if e.kind != Kind::Committed {
                    return Err(SnapshotError::ParentNotCommitted {
                        parent: p.to_string(),
                    });
                }
                Some(self.fs_dir(e.id))
            }
            None => None,
        };
        let dir = self.dir(id);
        // A leftover dir with this id (crash before the metadata was saved) is garbage.
        if dir.exists() {
            remove_tree(&dir)?;
        }
        let result = (|| {
            for d in [self.fs_dir(id), self.work_dir(id)] {
                fs::create_dir_all(&d)
                    .map_err(|source| SnapshotError::CreateDir { path: d, source })?;
            }
            populate(parent_fs.as_deref(), &self.fs_dir(id))?;
            let e = Entry {
                id,
                kind,
                parent: parent.map(str::to_string),
                // A key too long for a file name stays in metadata.json.
                own_file: kind == Kind::Active && key_file(key).len() <= MAX_KEY_FILE,
            };
            meta.snapshots.insert(key.to_string(), e.clone());
            if e.own_file {
                return self.write_active(key, &e);
            }
            meta.next_id = meta.next_id.max(id + 1);
            self.save(meta)
        })();
        if let Err(e) = result {
            meta.snapshots.remove(key);
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(())
    }

    /// Turns active `key` into committed `name`.
    pub fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.commit_inner(name, key, None)
    }

    /// Turns the parentless active `key` into committed `name` on the committed `parent`.
    pub fn commit_with_parent(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        self.commit_inner(name, key, Some(parent))
    }

    /// The `fs` dir of `key`.
    pub fn layer_dir(&self, key: &str) -> Result<PathBuf> {
        let meta = self.lock_key(key)?;
        Ok(self.fs_dir(Self::get(&meta, key)?.id))
    }

    fn commit_inner(&self, name: &str, key: &str, parent: Option<Option<&str>>) -> Result<()> {
        check_key(name)?;
        let mut meta = self.lock_keys([key, name].into_iter().chain(parent.flatten()))?;
        let e = Self::get(&meta, key)?;
        if e.kind != Kind::Active {
            return Err(SnapshotError::NotActive {
                key: key.to_string(),
                kind: e.kind.to_string(),
            });
        }
        if meta.snapshots.contains_key(name) {
            return Err(SnapshotError::AlreadyExists {
                key: name.to_string(),
            });
        }
        if let Some(parent) = parent {
            if let Some(existing) = &e.parent {
                return Err(SnapshotError::HasParent {
                    key: key.to_string(),
                    parent: existing.clone(),
                });
            }
            if let Some(p) = parent {
                let pe = Self::get(&meta, p)?;
                if pe.kind != Kind::Committed {
                    return Err(SnapshotError::ParentNotCommitted {
                        parent: p.to_string(),
                    });
                }
            }
        }
        let mut e = meta.snapshots.remove(key).expect("checked above");
        let old = e.clone();
        e.kind = Kind::Committed;
        e.own_file = false;
        if let Some(parent) = parent {
            e.parent = parent.map(str::to_string);
        }
        meta.snapshots.insert(name.to_string(), e);
        if let Err(err) = self.save(&meta) {
            meta.snapshots.remove(name);
            meta.snapshots.insert(key.to_string(), old);
            return Err(err);
        }
        // After the durable save: a crash in between leaves a stale file whose id a committed
        // snapshot owns, which loading skips.
        if old.own_file {
            self.forget_active(key)?;
        }
        Ok(())
    }

    /// Forgets `key` (metadata first, so a crash leaves only an orphan dir) and deletes its dir.
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut meta = self.lock_key(key)?;
        // Only a committed snapshot has children, and they may be active ones.
        if Self::get(&meta, key)?.kind == Kind::Committed {
            drop(meta);
            meta = self.lock_all()?;
        }
        let id = Self::get(&meta, key)?.id;
        let children = meta
            .snapshots
            .values()
            .filter(|e| e.parent.as_deref() == Some(key))
            .count();
        if children > 0 {
            return Err(SnapshotError::HasChildren {
                key: key.to_string(),
                children,
            });
        }
        let e = meta.snapshots.remove(key).expect("checked above");
        let saved = if e.own_file {
            self.forget_active(key)
        } else {
            self.save_with(&meta, e.kind != Kind::Active)
        };
        if let Err(err) = saved {
            meta.snapshots.insert(key.to_string(), e);
            return Err(err);
        }
        remove_tree(&self.dir(id))
    }

    /// Removes entries of `snapshots/` no snapshot refers to (left by a crash between creating
    /// a dir and saving the metadata, or between saving and deleting). Returns what it removed.
    pub fn cleanup(&self) -> Result<Vec<PathBuf>> {
        let meta = self.lock_all()?;
        let used: std::collections::HashSet<String> =
            meta.snapshots.values().map(|e| e.id.to_string()).collect();
        let dir = self.snapshots_dir();
        let err = |source| SnapshotError::RemoveDir {
            path: dir.clone(),
            source,
        };
        let mut removed = Vec::new();
        for entry in fs::read_dir(&dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            if used.contains(&*entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if entry.file_type().map_err(err)?.is_dir() {
                remove_tree(&path)?;
            } else {
                fs::remove_file(&path).map_err(|source| SnapshotError::RemoveDir {
                    path: path.clone(),
                    source,
                })?;
            }
            removed.push(path);
        }
        Ok(removed)
    }

    pub fn stat(&self, key: &str) -> Result<Info> {
        let meta = self.lock_key(key)?;
        let e = Self::get(&meta, key)?;
        Ok(info(key, e))
    }

    pub fn list(&self) -> Result<Vec<Info>> {
        let meta = self.lock_all()?;
        Ok(meta.snapshots.iter().map(|(k, e)| info(k, e)).collect())
    }
}

/// What `metadata.json` holds: the records without a file of their own.
#[derive(Serialize)]
struct MetaFile<'a> {
    next_id: u64,
    snapshots: BTreeMap<&'a str, &'a Entry>,
}

impl<'a> MetaFile<'a> {
    fn of(meta: &'a Meta) -> MetaFile<'a> {
        MetaFile {
            next_id: meta.next_id,
            snapshots: meta
                .snapshots
                .iter()
                .filter(|(_, e)| !e.own_file)
                .map(|(k, e)| (k.as_str(), e))
                .collect(),
        }
    }
}

/// The file name of active snapshot `key` under `active/`: the key itself when it is made of
/// letters, digits, `-`, `_` and `.` (container layers: `container-<id>`), else `%`-escaped.
fn key_file(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The key of `active/<name>`; `None` for names [`key_file`] does not make (temp files).
fn file_key(name: &str) -> Option<String> {
    if name.starts_with('.') {
        return None;
    }
    let mut bytes = Vec::with_capacity(name.len());
    let mut it = name.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// Reads `<root>/metadata.json` (absent: empty).
fn load(root: &Path) -> Result<Meta> {
    let path = root.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|source| SnapshotError::ParseMeta { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Meta::default()),
        Err(source) => Err(SnapshotError::ReadMeta { path, source }),
    }
}

/// The metadata, held under both the in-process mutex and the cross-process file lock.
pub(crate) struct Locked<'a> {
    meta: MutexGuard<'a, Meta>,
    _flock: Flock<fs::File>,
}

impl Deref for Locked<'_> {
    type Target = Meta;
    fn deref(&self) -> &Meta {
        &self.meta
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

fn info(key: &str, e: &Entry) -> Info {
    Info {
        key: key.to_string(),
        parent: e.parent.clone(),
        kind: e.kind,
        id: e.id,
    }
}

fn remove_tree(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).map_err(|source| SnapshotError::RemoveDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Keys are free-form but must be non-empty and free of NUL.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.contains('\0') {
        return Err(SnapshotError::InvalidKey {
            key: key.to_string(),
        });
    }
    Ok(())
}

/// A bind mount of `dir`.
pub(crate) fn bind(dir: &Path, read_only: bool) -> crate::Mount {
    crate::Mount {
        typ: "bind".into(),
        source: dir.to_string_lossy().into_owned(),
        options: vec!["bind".into(), if read_only { "ro" } else { "rw" }.into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        {
            let mut m = s.lock().unwrap();
            let id = s.new_id(&m, Kind::Active);
            s.create(&mut m, "a", None, Kind::Active, id, |_, _| Ok(()))
                .unwrap();
        }
        s.commit("A", "a").unwrap();
        let s2 = Store::open(tmp.path()).unwrap();
        let i = s2.stat("A").unwrap();
        assert_eq!(i.kind, Kind::Committed);
        assert!(s2.stat("a").is_err());
        assert!(!tmp.path().join("metadata.json.tmp").exists());
    }

    #[test]
    fn failed_populate_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let mut m = s.lock().unwrap();
        let id = s.new_id(&m, Kind::Active);
        let r = s.create(&mut m, "a", None, Kind::Active, id, |_, p| {
            Err(SnapshotError::Copy {
                path: p.to_path_buf(),
                source: std::io::Error::from_raw_os_error(28),
            })
        });
        assert!(r.is_err());
        assert!(m.snapshots.is_empty());
        assert!(!s.dir(id).exists());
        assert!(!s.active_file("a").exists());
    }

    #[test]
    fn key_file_names_round_trip() {
        for k in ["container-abc", "a/b:c", ".x", "x.y", "é%"] {
            assert_eq!(file_key(&key_file(k)).as_deref(), Some(k), "{k}");
        }
        assert_eq!(key_file("container-1"), "container-1");
        assert_eq!(file_key(".container-1.tmp"), None);
    }

    fn prepare(s: &Store, key: &str) -> u64 {
        let mut m = s.lock_key(key).unwrap();
        let id = s.new_id(&m, Kind::Active);
        s.create(&mut m, key, None, Kind::Active, id, |_, _| Ok(()))
            .unwrap();
        id
    }

    #[test]
    fn active_snapshots_live_in_their_own_files() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        for k in ["container-1", "container-2", "a/b"] {
            prepare(&s, k);
        }
        let main = std::fs::read_to_string(tmp.path().join(META_FILE)).unwrap_or_default();
        assert!(!main.contains("container-1"), "{main}");
        let s2 = Store::open(tmp.path()).unwrap();
        assert_eq!(s2.list().unwrap().len(), 3);
        assert_eq!(s2.stat("a/b").unwrap().kind, Kind::Active);
        s2.remove("container-1").unwrap();
        assert!(!s2.active_file("container-1").exists());
        assert!(s.stat("container-1").is_err());
        assert_eq!(s.list().unwrap().len(), 2);
    }

    #[test]
    fn stale_file_of_an_interrupted_commit_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        prepare(&s, "a");
        let file = std::fs::read(s.active_file("a")).unwrap();
        s.commit("A", "a").unwrap();
        // The crash: the committed record saved, the active file not yet deleted.
        std::fs::write(s.active_file("a"), file).unwrap();
        let s2 = Store::open(tmp.path()).unwrap();
        assert!(s2.stat("a").is_err());
        let keys: Vec<String> = s2.list().unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["A"]);
        assert!(s2.cleanup().unwrap().is_empty(), "A's directory is kept");
    }
}
