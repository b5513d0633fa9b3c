//! Opening the database: connection settings, migrations, and the transaction helpers every
//! other module uses.

use crate::error::{MetaError, Result};
use crate::schema::{latest_version, MIGRATIONS};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a statement waits for another connection's lock before failing with "busy".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How durable a connection's commits are (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsynced before it returns (`synchronous=FULL`): images, layers, leases.
    Full,
    /// Commits reach the disk at the next checkpoint (`synchronous=NORMAL`): container rows only.
    Normal,
}

/// The connection and the path it was opened from, shared by a [`Meta`] and its leases.
pub(crate) struct Shared {
    conn: Mutex<Connection>,
    pub(crate) path: PathBuf,
    /// The connection's `synchronous` setting now (changed only with `conn` locked).
    synchronous: std::sync::atomic::AtomicBool,
}

/// The metadata store: one SQLite connection to `<root>/berth.db`.
///
/// `Meta` is `Send + Sync`; threads of one process share its connection (calls are serialised),
/// and any number of processes may open the same file at once: SQLite's WAL mode lets readers
/// run beside the one writer, and every write transaction starts with `BEGIN IMMEDIATE` so two
/// writers queue on the write lock (for up to 30 s) instead of deadlocking on a lock upgrade.
/// Clones share one connection (cheap; an `Arc`).
///
/// Each handle writes with its own [`Durability`] ([`Meta::with_durability`]): one connection
/// serves the engine's container rows (`Normal`) and the image store (`Full`), the setting
/// switched between their transactions (a pragma, no I/O), instead of a second connection.
#[derive(Clone)]
pub struct Meta {
    pub(crate) shared: Arc<Shared>,
    durability: Durability,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl Meta {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// Fails with [`MetaError::NewerSchema`] when the file was written by a newer Berth.
    pub fn open(path: &Path) -> Result<Meta> {
        Meta::open_with(path, Durability::Full)
    }

    /// Opens the database like [`Meta::open`], with commits made durable as `durability` says.
    ///
    /// [`Durability::Normal`] is for container bookkeeping only (create/remove rows on the
    /// `run --rm` path): in WAL mode a power cut may lose the last such commits, never corrupt
    /// the file. Image data must go through a [`Durability::Full`] connection (see `configure`).
    pub fn open_with(path: &Path, durability: Durability) -> Result<Meta> {
        let open_err = |source| MetaError::Open {
            path: path.into(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(open_err)?;
        configure(&conn, path, durability)?;
        migrate(&mut conn, path)?;
        Ok(Meta {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                path: path.into(),
                synchronous: std::sync::atomic::AtomicBool::new(durability == Durability::Full),
            }),
            durability,
        })
    }

    /// A handle on the same connection whose writes are made durable as `durability` says.
    pub fn with_durability(&self, durability: Durability) -> Meta {
        Meta {
            shared: Arc::clone(&self.shared),
            durability,
        }
    }

    /// Checkpoints and restarts the WAL when it holds more than `limit` bytes (waiting briefly
    /// for readers; when they do not finish, nothing happens). For processes that nobody waits
    /// for: a checkpoint costs a few fsyncs.
    pub fn checkpoint_if_over(&self, limit: u64) {
        if self.shared.truncate_wal_over(limit) {
            self.shared.begin_wal();
        }
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The schema version of the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32> {
        let conn = self.shared.lock();
        user_version(&conn).map_err(MetaError::sql("reading the schema version"))
    }

    /// The newest schema version this build knows (what [`Meta::open`] migrates to).
    pub fn latest_schema_version() -> u32 {
        latest_version()
    }
}

impl Shared {
    /// The connection; a panic in another thread while holding it leaves no transaction open
    /// (rusqlite rolls back on drop), so a poisoned lock is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in a read transaction: one consistent snapshot of the database.
    pub(crate) fn read<T>(
        &self,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transaction(TransactionBehavior::Deferred, op, f)
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`) committed as durably as `durability`
    /// says when `f` succeeds, rolled back when it fails.
    pub(crate) fn write<T>(
        &self,
        durability: Durability,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let full = durability == Durability::Full;
        let out = self.transaction_with(
            TransactionBehavior::Immediate,
            |conn| {
                use std::sync::atomic::Ordering::Relaxed;
                if self.synchronous.load(Relaxed) != full {
                    let value = if full { "FULL" } else { "NORMAL" };
                    conn.pragma_update(None, "synchronous", value)
                        .map_err(MetaError::sql("setting synchronous"))?;
                    self.synchronous.store(full, Relaxed);
                }
                Ok(())
            },
            op,
            f,
        )?;
        self.keep_wal_short();
        Ok(out)
    }

    /// Restarts the WAL once it has grown past [`WAL_TRUNCATE_AT`]. Checkpoints alone do not:
    /// each short-lived process that opens the database alone rebuilds the WAL index and with
    /// it forgets what was checkpointed, so the log was never restarted and grew by every
    /// write (24 MB after 1000 `create`s), all of it read again at every open. A TRUNCATE
    /// checkpoint waits briefly for readers; when they do not finish, the next write retries.
    fn keep_wal_short(&self) {
        self.truncate_wal_over(WAL_TRUNCATE_AT);
    }

    /// Restarts the WAL with a TRUNCATE checkpoint when it is larger than `limit` bytes;
    /// returns whether it did.
    fn truncate_wal_over(&self, limit: u64) -> bool {
        if wal_size(&self.path) <= limit {
            return false;
        }
        let conn = self.lock();
        let _ = conn.busy_timeout(WAL_TRUNCATE_WAIT);
        // One row: (busy, frames in the log, frames checkpointed); busy 0 when it completed.
        let done = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok_and(|busy| busy == 0);
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        done
    }

    /// Writes the first frame of a restarted WAL, whose header SQLite then syncs (with the
    /// directory, the first time in a process): done here, not in the next command's commit.
    /// The frame is the database header, written back unchanged.
    fn begin_wal(&self) {
        let mut conn = self.lock();
        let Ok(tx) = conn.transaction_with_behavior(TransactionBehavior::Immediate) else {
            return;
        };
        if let Ok(v) = user_version(&tx) {
            if tx.pragma_update(None, "user_version", v).is_ok() {
                let _ = tx.commit();
            }
        }
    }

    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transaction_with(behavior, |_| Ok(()), op, f)
    }

    /// [`Shared::transaction`], with `before` run on the connection first (outside the
    /// transaction, with the connection locked).
    fn transaction_with<T>(
        &self,
        behavior: TransactionBehavior,
        before: impl FnOnce(&Connection) -> Result<()>,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        before(&conn)?;
        let tx = conn
            .transaction_with_behavior(behavior)
            .map_err(|source| MetaError::Sql { op: op(), source })?;
        let out = f(&tx)?;
        tx.commit()
            .map_err(|source| MetaError::Sql { op: op(), source })?;
        Ok(out)
    }
}

impl Meta {
    pub(crate) fn read<T>(
        &self,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.shared.read(op, f)
    }

    pub(crate) fn write<T>(
        &self,
        op: impl Fn() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.shared.write(self.durability, op, f)
    }
}

/// Per-connection settings.
///
/// `synchronous=FULL`: in WAL mode NORMAL keeps the database consistent but may lose the last
/// committed transactions on power loss. Here that is not acceptable: GC deletes blobs and
/// snapshot directories right after committing that nothing references them, and an image row
/// that "comes back" after a power cut would point at deleted files (the very "layer does not
/// exist" failure Berth must never have). FULL makes every commit durable (one fsync of the WAL
/// per commit, small next to the fsyncs of the blobs themselves).
fn configure(conn: &Connection, path: &Path, durability: Durability) -> Result<()> {
    let pragma_err = |pragma: &'static str| {
        move |source| MetaError::Pragma {
            path: path.into(),
            pragma,
            source,
        }
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(pragma_err("busy_timeout"))?;
    set_wal(conn, path)?;
    match durability {
        Durability::Full => conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(pragma_err("synchronous=FULL"))?,
        Durability::Normal => {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(pragma_err("synchronous=NORMAL"))?;
            // The last connection to close would checkpoint the WAL (several fsyncs): a cost
            // every short-lived `berth run` would pay. Writers' auto-checkpoints keep the WAL
            // small instead.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(pragma_err("no_ckpt_on_close"))?;
        }
    }
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(pragma_err("foreign_keys=ON"))?;
    // A process whose connection is the only one open rebuilds the WAL index by reading every
    // frame written since the last checkpoint: with SQLite's default (1000 pages, 4 MiB) that
    // was most of the cost of opening the database in each short-lived `berth` command.
    // Checkpointing every 64 pages (256 KiB) keeps that read short; the WAL file is cut back
    // when it restarts.
    // A checkpoint fsyncs the WAL, the database and (first in a process) their directory:
    // milliseconds that a short-lived command's commit should not wait for. Connections for
    // such commands (`Normal`) leave it to [`Meta::checkpoint_if_over`], which background
    // processes call (the container's shim, once nobody waits for it), and to the
    // truncation past [`WAL_TRUNCATE_AT`] after a write.
    let autocheckpoint = match durability {
        Durability::Full => WAL_AUTOCHECKPOINT_PAGES,
        Durability::Normal => 0,
    };
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
        .map_err(pragma_err("wal_autocheckpoint"))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .map_err(pragma_err("journal_size_limit"))?;
    // Pages read through a memory map instead of a pread each: a listing of 1000 containers
    // reads ~500 pages of their records. (Writes still go through the WAL.)
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)
        .map_err(pragma_err("mmap_size"))?;
    Ok(())
}

/// The size of the write-ahead log of the database at `path` (0 when there is none).
pub fn wal_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_os_string();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(0, |m| m.len())
}

/// How much of the database file is read through a memory map.
const MMAP_SIZE: i64 = 256 << 20;

/// WAL size past which a writer truncates it (see [`Shared::keep_wal_short`]).
const WAL_TRUNCATE_AT: u64 = 512 << 10;
/// How long that truncation waits for readers.
const WAL_TRUNCATE_WAIT: Duration = Duration::from_millis(200);
/// Pages written to the WAL before a writer checkpoints it (see [`configure`]).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 64;
/// Bytes the WAL file is truncated to when it restarts after a checkpoint.
const WAL_SIZE_LIMIT: i64 = 1 << 20;

/// Switches to WAL (persistent in the file, so usually a no-op). The switch needs an exclusive
/// lock and SQLite may report "busy" for it without calling the busy handler while another
/// process opens the same new file, so it is retried here.
fn set_wal(conn: &Connection, path: &Path) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(MetaError::NotWal {
                    path: path.into(),
                    mode,
                })
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(source) => {
                return Err(MetaError::Pragma {
                    path: path.into(),
                    pragma: "journal_mode=WAL",
                    source,
                })
            }
        }
    }
}

/// Whether an error is SQLite's "busy" or "locked".
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the missing migration steps, one `BEGIN IMMEDIATE` transaction each. Concurrent
/// openers serialise on the write lock and re-read the version inside it, so each step runs once.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = latest_version();
    let read_err = |source| MetaError::Pragma {
        path: path.into(),
        pragma: "user_version",
        source,
    };
    // Fast path without the write lock: the usual case is an up-to-date database.
    let found = user_version(conn).map_err(read_err)?;
    if found > known {
        return Err(MetaError::NewerSchema {
            path: path.into(),
            found,
            known,
        });
    }
    if found == known {
        return Ok(());
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(read_err)?;
        let version = user_version(&tx).map_err(read_err)?;
        if version > known {
            return Err(MetaError::NewerSchema {
                path: path.into(),
                found: version,
                known,
            });
        }
        if version == known {
            return Ok(());
        }
        let next = version + 1;
        let step_err = |source| MetaError::Migrate {
            path: path.into(),
            version: next,
            source,
        };
        tx.execute_batch(MIGRATIONS[version as usize])
            .map_err(step_err)?;
        tx.pragma_update(None, "user_version", next)
            .map_err(step_err)?;
        tx.commit().map_err(step_err)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let meta = Meta::open(&path).unwrap();
        assert_eq!(
            meta.schema_version().unwrap(),
            Meta::latest_schema_version()
        );
        assert!(Meta::latest_schema_version() >= 1);
        drop(meta);
        let meta = Meta::open(&path).unwrap();
        assert_eq!(
            meta.schema_version().unwrap(),
            Meta::latest_schema_version()
        );
        let conn = meta.shared.lock();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        drop(Meta::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 5)
            .unwrap();
        drop(conn);
        let err = Meta::open(&path).unwrap_err();
        match &err {
            MetaError::NewerSchema { found, known, .. } => {
                assert_eq!(*found, latest_version() + 5);
                assert_eq!(*known, latest_version());
            }
            other => panic!("expected NewerSchema, got {other}"),
        }
        assert!(err.to_string().contains("berth.db"));
    }

    #[test]
    fn migrates_an_old_version_forward() {
        // A database at version 0 with unrelated content is migrated in place.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER);")
            .unwrap();
        drop(conn);
        let meta = Meta::open(&path).unwrap();
        assert_eq!(meta.schema_version().unwrap(), latest_version());
    }

    #[test]
    fn failed_step_is_rolled_back() {
        // A database whose version-0 state already has a table the first step creates: the step
        // fails, nothing of it stays, and the version stays 0.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE tags (x INTEGER);")
            .unwrap();
        drop(conn);
        let err = Meta::open(&path).unwrap_err();
        assert!(
            matches!(err, MetaError::Migrate { version: 1, .. }),
            "{err}"
        );
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 0);
        let images: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'images'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(images, 0);
    }

    #[test]
    fn missing_directory_is_an_open_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("berth.db");
        let err = Meta::open(&path).unwrap_err();
        assert!(matches!(err, MetaError::Open { .. }), "{err}");
        assert!(err.to_string().contains("nope/berth.db"));
    }

    #[test]
    fn meta_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Meta>();
    }
}
