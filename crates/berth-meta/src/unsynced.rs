//! Markers for data written without fsync.
//!
//! A writer that publishes files without fsync (a fast `load`) first records a marker with this
//! boot's ID. A later `syncfs` of the store's filesystem makes everything written before it
//! durable, after which the markers older than the sync are cleared. A marker from another boot
//! means the machine went down before such a sync: the store must be verified (its blobs and
//! layers may be torn) before it is trusted.

use crate::db::Meta;
use crate::error::{MetaError, Result};
use crate::process::boot_id;
use rusqlite::params;

/// A marker row: its ID and the boot it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsynced {
    /// Row ID; markers are cleared up to an ID.
    pub id: i64,
    /// `/proc/sys/kernel/random/boot_id` when the marker was made.
    pub boot_id: String,
}

impl Unsynced {
    /// Whether the marker was made before the current boot.
    pub fn from_earlier_boot(&self) -> bool {
        self.boot_id != boot_id()
    }
}

impl Meta {
    /// Records that unsynced writes are about to happen; returns the marker.
    pub fn begin_unsynced(&self) -> Result<Unsynced> {
        let boot = boot_id();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let id = self.write(
            || "recording unsynced writes".to_string(),
            |tx| {
                tx.execute(
                    "INSERT INTO unsynced (boot_id, created) VALUES (?1, ?2)",
                    params![boot, now],
                )
                .map_err(MetaError::sql("recording unsynced writes"))?;
                Ok(tx.last_insert_rowid())
            },
        )?;
        Ok(Unsynced { id, boot_id: boot })
    }

    /// Every marker, oldest first.
    pub fn unsynced(&self) -> Result<Vec<Unsynced>> {
        self.read(
            || "listing unsynced writes".to_string(),
            |tx| {
                let mut stmt = tx
                    .prepare_cached("SELECT id, boot_id FROM unsynced ORDER BY id")
                    .map_err(MetaError::sql("listing unsynced writes"))?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(Unsynced {
                            id: r.get(0)?,
                            boot_id: r.get(1)?,
                        })
                    })
                    .map_err(MetaError::sql("listing unsynced writes"))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(MetaError::sql("listing unsynced writes"))
            },
        )
    }

    /// Clears the markers up to and including `id` (after a sync or a verification that covered
    /// everything written under them).
    pub fn clear_unsynced(&self, up_to: i64) -> Result<()> {
        self.write(
            || "clearing unsynced writes".to_string(),
            |tx| {
                tx.execute("DELETE FROM unsynced WHERE id <= ?1", params![up_to])
                    .map_err(MetaError::sql("clearing unsynced writes"))?;
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_record_and_clear() {
        let t = tempfile::tempdir().unwrap();
        let m = Meta::open(&t.path().join("db")).unwrap();
        let a = m.begin_unsynced().unwrap();
        let b = m.begin_unsynced().unwrap();
        assert!(!a.from_earlier_boot());
        assert_eq!(m.unsynced().unwrap(), vec![a.clone(), b.clone()]);
        m.clear_unsynced(a.id).unwrap();
        assert_eq!(m.unsynced().unwrap(), vec![b.clone()]);
        let old = Unsynced {
            id: 0,
            boot_id: "another-boot".into(),
        };
        assert!(old.from_earlier_boot());
    }
}
