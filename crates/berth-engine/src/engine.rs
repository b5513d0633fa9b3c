//! [`Engine`]: the handle every container operation goes through, and container lookup.
//!
//! Opening is cheap (one SQLite connection for container rows); the image store and the volume
//! store are opened on first use, so `ps` and `inspect` never pay for them.

use crate::error::{EngineError, Result};
use crate::paths::Paths;
use crate::record::ContainerRecord;
use crate::shim_proto::ShimParent;
use crate::state::{self, StateFile};
use crate::volumes::Volumes;
use berth_image::{Driver, ImageStore};
use berth_meta::{ContainerLookup, ContainerRow, Durability, Meta};
use berth_snapshot::Snapshotter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Persistent root (`--root`, default /var/lib/berth).
    pub root: PathBuf,
    /// Run-time root (`--runroot`, default /run/berth).
    pub runroot: PathBuf,
    /// The snapshot driver of the image store.
    pub driver: Driver,
}

/// The container engine. `Send + Sync`; cheap to open.
pub struct Engine {
    pub(crate) paths: Paths,
    pub(crate) driver: Driver,
    /// The image store, on `meta`'s connection (its writes made durable: see
    /// [`Meta::with_durability`]); that connection never checkpoints the WAL on close
    /// ([`Durability::Normal`]).
    images: OnceLock<ImageStore>,
    /// The snapshotter alone, for start and removal when the image store is not open.
    snapshots: OnceLock<Arc<dyn Snapshotter>>,
    volumes: OnceLock<Volumes>,
    /// Container rows (synchronous=NORMAL: see [`Durability::Normal`]).
    pub(crate) meta: Meta,
    /// The berth binary the shim runs from (`None`: `$BERTH_BIN` or the current executable).
    pub(crate) berth_bin: Option<PathBuf>,
    /// Whose child a started shim is (see [`Engine::shims_stay_children`]).
    pub(crate) shim_parent: ShimParent,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("paths", &self.paths)
            .field("driver", &self.driver)
            .finish()
    }
}

/// WAL size past which [`Engine::tidy_database`] checkpoints: 64 pages, SQLite's own default
/// divided by 16. Every process that opens the database first reads the whole log.
pub const TIDY_WAL_AT: u64 = 64 * 4096;

/// [`Engine::tidy_database`] for a process without an engine: opens the database only when its
/// log has grown past [`TIDY_WAL_AT`].
pub fn tidy_database_at(root: &Path, runroot: &Path) {
    let db = Paths::new(root.to_path_buf(), runroot.to_path_buf()).db();
    if berth_meta::wal_size(&db) > TIDY_WAL_AT {
        if let Ok(meta) = Meta::open_with(&db, Durability::Normal) {
            meta.checkpoint_if_over(TIDY_WAL_AT);
        }
    }
}

impl Engine {
    /// Opens the engine over `root` and `runroot` (created when missing).
    pub fn open(o: EngineOptions) -> Result<Engine> {
        let paths = Paths::new(o.root, o.runroot);
        let containers = paths.containers_dir();
        if let Err(e) = std::fs::create_dir_all(&containers) {
            return Err(EngineError::io("creating", containers)(e));
        }
        let meta = Meta::open_with(&paths.db(), Durability::Normal)?;
        Ok(Engine {
            paths,
            driver: o.driver,
            meta,
            images: OnceLock::new(),
            snapshots: OnceLock::new(),
            volumes: OnceLock::new(),
            berth_bin: None,
            shim_parent: ShimParent::Detached,
        })
    }

    /// For a short-lived caller (the CLI): the shims this engine starts stay the caller's
    /// children instead of detaching with a fork of their own (a millisecond less per start);
    /// the system's reaper adopts them when the caller exits. A long-lived caller would
    /// collect their zombies: it keeps the default.
    pub fn shims_stay_children(mut self) -> Engine {
        self.shim_parent = ShimParent::Caller;
        self
    }

    /// Runs shims from `exe` instead of `$BERTH_BIN` or the current executable (tests).
    pub fn with_berth_bin(mut self, exe: impl Into<PathBuf>) -> Engine {
        self.berth_bin = Some(exe.into());
        self
    }

    /// The engine's paths.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Checkpoints the database's write-ahead log when it has grown past [`TIDY_WAL_AT`]: for
    /// a process that nobody waits for any more (a shim once its clients are let go), since
    /// the commands' own commits leave that to such processes (it costs a few fsyncs).
    pub fn tidy_database(&self) {
        self.meta.checkpoint_if_over(TIDY_WAL_AT);
    }

    /// The container rows' database connection.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The image store (opened on first use).
    pub fn images(&self) -> Result<&ImageStore> {
        if let Some(s) = self.images.get() {
            return Ok(s);
        }
        // On the engine's connection: one database open per process, not two.
        let store = ImageStore::open_with_meta(&self.paths.root, self.driver, self.meta.clone())?;
        Ok(self.images.get_or_init(|| store))
    }

    /// The snapshotter: the image store's when it is open, else opened alone (no second
    /// database connection: starting and removing containers need nothing else of the store).
    pub fn snapshotter(&self) -> Result<&Arc<dyn Snapshotter>> {
        if let Some(s) = self.images.get() {
            return Ok(s.snapshotter());
        }
        if let Some(s) = self.snapshots.get() {
            return Ok(s);
        }
        let s = berth_image::open_snapshotter(&self.paths.root, self.driver)?;
        Ok(self.snapshots.get_or_init(|| s))
    }

    /// The volume store (opened on first use).
    pub fn volumes(&self) -> Result<&Volumes> {
        if let Some(v) = self.volumes.get() {
            return Ok(v);
        }
        let v = Volumes::open(&self.paths.root)?;
        Ok(self.volumes.get_or_init(|| v))
    }

    /// Finds a container by docker's rules: exact ID, then exact name, then unique ID prefix.
    pub fn lookup(&self, reference: &str) -> Result<ContainerRecord> {
        let row = self.lookup_row(reference)?;
        ContainerRecord::from_json(&row.id, &row.config)
    }

    pub(crate) fn lookup_row(&self, reference: &str) -> Result<ContainerRow> {
        match self.meta.lookup_container(reference)? {
            ContainerLookup::Found(row) => Ok(row),
            ContainerLookup::NotFound => Err(EngineError::NoSuchContainer(reference.to_string())),
            ContainerLookup::Ambiguous(_) => {
                Err(EngineError::AmbiguousContainer(reference.to_string()))
            }
        }
    }

    /// Container `id`'s record (exact ID).
    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        let row = self
            .meta
            .container_row(id)?
            .ok_or_else(|| EngineError::NoSuchContainer(id.to_string()))?;
        ContainerRecord::from_json(&row.id, &row.config)
    }

    /// Container `id`'s run state (no lock; see [`state`]).
    pub fn state(&self, id: &str) -> Result<StateFile> {
        state::load(&self.paths, id)
    }

    /// Which containers use each named volume (for `volume rm`/`prune`).
    pub fn volume_users(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for row in self.meta.container_rows()? {
            let rec = ContainerRecord::from_json(&row.id, &row.config)?;
            for v in rec.volume_names() {
                users.entry(v.to_string()).or_default().push(rec.id.clone());
            }
        }
        Ok(users)
    }
}
