//! The state both drivers share: the metadata file and the `snapshots/<id>` directories.

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

/// One snapshot's record in the metadata file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
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
        let bytes = serde_json::to_vec(meta).map_err(|e| err(e.into()))?;
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

    /// Creates snapshot `key` of `kind` on `parent`: makes its directories, lets `populate` fill
    /// `fs` (given the parent's fs dir), then records it. Returns its id.
    pub fn create(
        &self,
        meta: &mut Meta,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        populate: impl FnOnce(Option<&Path>, &Path) -> Result<()>,
    ) -> Result<u64> {
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
        let id = meta.next_id;
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
            meta.next_id = id + 1;
            meta.snapshots.insert(
                key.to_string(),
                Entry {
                    id,
                    kind,
                    parent: parent.map(str::to_string),
                },
            );
            self.save_with(meta, kind != Kind::Active)
        })();
        if let Err(e) = result {
            meta.snapshots.remove(key);
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(id)
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
        let meta = self.lock()?;
        Ok(self.fs_dir(Self::get(&meta, key)?.id))
    }

    fn commit_inner(&self, name: &str, key: &str, parent: Option<Option<&str>>) -> Result<()> {
        check_key(name)?;
        let mut meta = self.lock()?;
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
        let old_parent = e.parent.clone();
        e.kind = Kind::Committed;
        if let Some(parent) = parent {
            e.parent = parent.map(str::to_string);
        }
        meta.snapshots.insert(name.to_string(), e.clone());
        if let Err(err) = self.save(&meta) {
            meta.snapshots.remove(name);
            e.parent = old_parent;
            e.kind = Kind::Active;
            meta.snapshots.insert(key.to_string(), e);
            return Err(err);
        }
        Ok(())
    }

    /// Forgets `key` (metadata first, so a crash leaves only an orphan dir) and deletes its dir.
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut meta = self.lock()?;
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
        if let Err(err) = self.save_with(&meta, e.kind != Kind::Active) {
            meta.snapshots.insert(key.to_string(), e);
            return Err(err);
        }
        remove_tree(&self.dir(id))
    }

    /// Removes entries of `snapshots/` no snapshot refers to (left by a crash between creating
    /// a dir and saving the metadata, or between saving and deleting). Returns what it removed.
    pub fn cleanup(&self) -> Result<Vec<PathBuf>> {
        let meta = self.lock()?;
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
        let meta = self.lock()?;
        let e = Self::get(&meta, key)?;
        Ok(info(key, e))
    }

    pub fn list(&self) -> Result<Vec<Info>> {
        let meta = self.lock()?;
        Ok(meta.snapshots.iter().map(|(k, e)| info(k, e)).collect())
    }
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
            s.create(&mut m, "a", None, Kind::Active, |_, _| Ok(()))
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
        let r = s.create(&mut m, "a", None, Kind::Active, |_, p| {
            Err(SnapshotError::Copy {
                path: p.to_path_buf(),
                source: std::io::Error::from_raw_os_error(28),
            })
        });
        assert!(r.is_err());
        assert!(m.snapshots.is_empty());
        assert!(!s.dir(0).exists());
    }
}
