//! rm, rename, container prune.
//!
//! Removal order (each step idempotent, so a removal that failed half-way can be retried; the
//! container is `dead` in between): kill if forced -> `removing` -> unmount the rootfs and drop
//! the runtime's state -> remove the writable snapshot -> anonymous volumes (`-v`) -> database
//! row -> container directories -> lock file.
//!
//! An `--rm` container that has exited is removed by its shim in another order
//! ([`Engine::remove_exited`]): anonymous volumes -> database row -> (the waiting `run` is
//! released here) -> unmount, runtime state, snapshot, directories, lock file. What a crash
//! leaves after the row is gone, `system check` finds by its directories and finishes
//! ([`Engine::finish_orphans`]).

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::lifecycle::StopOptions;
use crate::lock;
use crate::mounting;
use crate::process;
use crate::record::{validate_name, ContainerRecord};
use crate::state::{self, Status};
use crate::types::PruneReport;
use berth_meta::MetaError;

/// How long a forced removal waits for the killed container's shim to finish.
const SHIM_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `rm` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too.
    pub volumes: bool,
}

impl Engine {
    /// Removes a container; returns its ID. A running one needs `force`.
    pub fn remove(&self, reference: &str, o: RemoveOptions) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        let _lock = lock::lock(&self.paths, &id)?;
        // Removed by someone else while we waited for the lock.
        let Some(row) = self.meta.container_row(&id)? else {
            return Err(EngineError::NoSuchContainer(reference.to_string()));
        };
        let rec = ContainerRecord::from_json(&row.id, &row.config)?;
        let st = match self.reconciled_state(&id) {
            Ok(s) => s,
            Err(EngineError::NoSuchContainer(_)) => state::StateFile::default(),
            Err(e) => return Err(e),
        };
        // Its shim, pinned now: after the container's exit it still unmounts, drops the run
        // state and writes the state file once more, in the directories removed below, so the
        // removal waits for it. (An `--rm` one instead waits for our lock to remove the
        // container itself.)
        let shim = (!rec.host_config.auto_remove)
            .then(|| process::open_shim(&st))
            .flatten();
        match st.status {
            Status::Running | Status::Restarting if !o.force => {
                return Err(EngineError::RemoveRunning(id))
            }
            Status::Paused if !o.force => return Err(EngineError::RemovePaused(id)),
            s if s.is_active() => {
                self.stop_locked(
                    &rec,
                    &StopOptions {
                        timeout: Some(0),
                        signal: Some("KILL".into()),
                    },
                )?;
            }
            _ => {}
        }
        if let Some(fd) = shim {
            process::wait_exit(&fd, Some(SHIM_EXIT_WAIT));
        }
        let _ = state::update(&self.paths, &id, |s| s.status = Status::Removing);
        match self.teardown(&rec, o.volumes) {
            Ok(()) => Ok(id),
            Err(e) => {
                let msg = e.to_string();
                let _ = state::update(&self.paths, &id, |s| {
                    s.status = Status::Dead;
                    s.error = format!("removal failed: {msg}");
                });
                Err(e)
            }
        }
    }

    fn teardown(&self, rec: &ContainerRecord, volumes: bool) -> Result<()> {
        let id = rec.id.as_str();
        self.release_run_state(id)?;
        self.remove_snapshot(&rec.snapshot_key)?;
        if volumes || rec.host_config.auto_remove {
            self.remove_anonymous_volumes(rec)?;
        }
        self.meta.delete_container_ref(id)?;
        self.remove_dirs(id)
    }

    /// Removes exited `--rm` container `id` for its shim: what names it first (anonymous
    /// volumes, then the database row, which frees the name), then calls `released` (the shim
    /// closes the channel a foreground `run` waits on), then the rest. A container already gone
    /// is fine.
    ///
    /// `read_before`: the container's record as [`Engine::record_for_removal`] read it earlier
    /// (what the removal uses of it, volumes and snapshot, never changes), so that the removal
    /// does not read and parse it again.
    pub fn remove_exited(
        &self,
        id: &str,
        read_before: Option<&ContainerRecord>,
        released: &mut dyn FnMut(),
    ) -> Result<()> {
        let _lock = lock::lock(&self.paths, id)?;
        let read_now = match read_before {
            Some(_) => None,
            None => self.record_for_removal(id)?,
        };
        let Some(rec) = read_before.or(read_now.as_ref()) else {
            released();
            return self.finish_removal(id, None);
        };
        self.remove_anonymous_volumes(rec)?;
        berth_sys::timing::mark("remove: record read");
        self.meta.delete_container_ref(id)?;
        berth_sys::timing::mark("remove: row deleted");
        released();
        self.finish_removal(id, Some(&rec.snapshot_key))
    }

    /// The record of container `id` for a later [`Engine::remove_exited`] (`None`: none).
    pub fn record_for_removal(&self, id: &str) -> Result<Option<ContainerRecord>> {
        match self.meta.container_row(id)? {
            Some(row) => ContainerRecord::from_json(&row.id, &row.config).map(Some),
            None => Ok(None),
        }
    }

    /// The part of a removal after the row: run state, snapshot (`key`, else the one
    /// container `id` was created with), directories, lock file.
    fn finish_removal(&self, id: &str, key: Option<&str>) -> Result<()> {
        self.release_run_state(id)?;
        let derived = crate::create::snapshot_key(id);
        self.remove_snapshot(key.unwrap_or(&derived))?;
        self.remove_dirs(id)
    }

    /// Containers whose directories outlived their row (a removal interrupted after the row
    /// went; nobody holds their lock): finishes their removal. Returns one line per container.
    pub fn finish_orphans(&self) -> Result<Vec<String>> {
        let mut done = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for dir in [self.paths.containers_dir(), self.paths.run_containers_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    ids.insert(name);
                }
            }
        }
        for id in ids {
            let Ok(Some(_lock)) = lock::try_lock(&self.paths, &id) else {
                continue;
            };
            if self.meta.container_row(&id)?.is_some() {
                continue;
            }
            self.finish_removal(&id, None)?;
            done.push(format!("container {id}: finished its interrupted removal"));
        }
        Ok(done)
    }

    /// Unmounts container `id`'s rootfs and drops the runtime's state (and cgroup) of its last
    /// run, if its shim did not.
    fn release_run_state(&self, id: &str) -> Result<()> {
        mounting::unmount_rootfs(&self.paths, id)?;
        if self.paths.runtime_root().join(id).exists() {
            let _ = self.runtime().delete(id, true);
        }
        Ok(())
    }

    fn remove_snapshot(&self, key: &str) -> Result<()> {
        let snaps = self.snapshotter()?;
        if snaps.stat(key).is_ok() {
            snaps.remove(key).map_err(|source| EngineError::Snapshot {
                key: key.to_string(),
                source,
            })?;
        }
        Ok(())
    }

    fn remove_dirs(&self, id: &str) -> Result<()> {
        for dir in [self.paths.run_dir(id), self.paths.container_dir(id)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io("removing", &dir)(e)),
            }
        }
        lock::remove_lock_file(&self.paths, id);
        Ok(())
    }

    /// Removes the anonymous volumes of `rec` that no other container uses.
    fn remove_anonymous_volumes(&self, rec: &ContainerRecord) -> Result<()> {
        let names: Vec<&str> = rec.volume_names().collect();
        if names.is_empty() {
            return Ok(());
        }
        let volumes = self.volumes()?;
        let users = self.volume_users()?;
        for name in names {
            let Ok(v) = volumes.get(name) else { continue };
            if !crate::create::is_anonymous(&v) {
                continue;
            }
            let others: Vec<String> = users
                .get(name)
                .into_iter()
                .flatten()
                .filter(|u| *u != &rec.id)
                .cloned()
                .collect();
            if others.is_empty() {
                volumes.remove(name, &[])?;
            }
        }
        Ok(())
    }

    /// Renames a container (docker's rules and name conflict text).
    pub fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let name = validate_name(new_name)?;
        let id = self.lookup_row(reference)?.id;
        let _lock = lock::lock(&self.paths, &id)?;
        let mut rec = self.record(&id)?;
        if rec.name == name {
            return Err(EngineError::SameName);
        }
        rec.name = name.clone();
        self.meta
            .rename_container(&id, &name, &rec.to_json()?)
            .map_err(|e| match e {
                MetaError::ContainerNameInUse { name, other } => {
                    EngineError::NameInUse { name, id: other }
                }
                e => e.into(),
            })
    }

    /// Removes every stopped container whose labels match `filters` (`label=k`, `label=k=v`,
    /// `label!=k[=v]`) and which was created before `until_ns` when given.
    pub fn prune(&self, labels: &[String], until_ns: Option<i64>) -> Result<PruneReport> {
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for l in self.list(crate::list::ListOptions {
            all: true,
            size: false,
        })? {
            if l.state.status.is_active() || l.state.status == Status::Removing {
                continue;
            }
            if until_ns.is_some_and(|u| l.record.created >= u) {
                continue;
            }
            let empty = Default::default();
            let have = l.record.config.labels.as_ref().unwrap_or(&empty);
            if !labels.iter().all(|f| label_matches(have, f)) {
                continue;
            }
            let size = self
                .images()
                .ok()
                .and_then(|i| i.snapshotter().layer_dir(&l.record.snapshot_key).ok())
                .map(|d| crate::volumes::du(&d))
                .unwrap_or(0);
            match self.remove(&l.record.id, RemoveOptions::default()) {
                Ok(id) => {
                    deleted.push(id);
                    reclaimed += size;
                }
                Err(EngineError::NoSuchContainer(_)) => {}
                Err(EngineError::RemoveRunning(_)) | Err(EngineError::RemovePaused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(PruneReport {
            containers_deleted: Some(deleted),
            volumes_deleted: None,
            space_reclaimed: reclaimed,
        })
    }
}

/// Docker's label filter: `k`, `k=v`, with `!` before `=` negating (`label!=k`).
fn label_matches(have: &crate::types::StringMap, filter: &str) -> bool {
    let (negate, f) = match filter.split_once("!=") {
        Some((k, v)) => (
            true,
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            },
        ),
        None => (false, filter.to_string()),
    };
    let hit = match f.split_once('=') {
        Some((k, v)) => have.get(k).is_some_and(|x| x == v),
        None => have.contains_key(&f),
    };
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters() {
        let mut have = crate::types::StringMap::new();
        have.insert("a".into(), "1".into());
        assert!(label_matches(&have, "a"));
        assert!(label_matches(&have, "a=1"));
        assert!(!label_matches(&have, "a=2"));
        assert!(!label_matches(&have, "b"));
        assert!(label_matches(&have, "b!="));
        assert!(!label_matches(&have, "a!=1"));
        assert!(label_matches(&have, "a!=2"));
    }
}
