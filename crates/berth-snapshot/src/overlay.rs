//! The overlayfs driver.
//!
//! An active snapshot on a parent chain mounts as
//! `overlay lowerdir=<parents, nearest first>,upperdir=<id>/fs,workdir=<id>/work`. A snapshot with
//! no parent is a bind mount of its empty `fs` dir; a read-only view of a single layer is a
//! read-only bind of that layer.
//!
//! Deep chains: the kernel copies mount options into one page ([`MOUNT_DATA_LIMIT`] bytes usable).
//! When absolute lowerdir paths do not fit, the lowerdirs are given relative to `<root>/snapshots`
//! (`<id>/fs`), and **the caller must chdir into [`OverlaySnapshotter::mount_dir`] before
//! mounting** (upperdir and workdir stay absolute). If even that does not fit, prepare/view fail
//! with [`SnapshotError::TooDeep`] naming the depth.

use crate::error::{Result, SnapshotError};
use crate::store::{bind, Store};
use crate::{Info, Kind, Mount, Snapshotter};
use std::path::{Path, PathBuf};

/// Bytes of mount data the kernel accepts: one 4096-byte page minus the terminating NUL.
pub const MOUNT_DATA_LIMIT: usize = 4095;

/// Overlayfs snapshotter rooted at a directory.
#[derive(Debug)]
pub struct OverlaySnapshotter {
    store: Store,
}

impl OverlaySnapshotter {
    /// Opens (creating if needed) the snapshotter at `root`.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(OverlaySnapshotter {
            store: Store::open(root)?,
        })
    }

    /// The directory relative lowerdir paths are resolved against: `<root>/snapshots`.
    pub fn mount_dir(&self) -> PathBuf {
        self.store.snapshots_dir()
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let mut meta = self.store.lock_keys([key].into_iter().chain(parent))?;
        // Compute the mounts before creating anything so a too-deep chain leaves no trace.
        let chain = Store::chain(&meta, parent)?;
        let id = self.store.new_id(&meta, kind);
        self.mounts_for(key, kind, id, &chain)?;
        self.store
            .create(&mut meta, key, parent, kind, id, |_, _| Ok(()))?;
        self.mounts_for(key, kind, id, &chain)
    }

    fn mounts_for(&self, key: &str, kind: Kind, id: u64, parents: &[u64]) -> Result<Vec<Mount>> {
        let m = match (kind, parents) {
            (Kind::Active, []) => bind(&self.store.fs_dir(id), false),
            (Kind::Active, _) => {
                let upper = (self.store.fs_dir(id), self.store.work_dir(id));
                overlay(key, &self.mount_dir(), parents, Some(upper))?
            }
            (Kind::View, []) => bind(&self.store.fs_dir(id), true),
            (Kind::View, [one]) => bind(&self.store.fs_dir(*one), true),
            (Kind::View, _) => overlay(key, &self.mount_dir(), parents, None)?,
            (Kind::Committed, []) => bind(&self.store.fs_dir(id), true),
            (Kind::Committed, _) => {
                let mut all = vec![id];
                all.extend_from_slice(parents);
                overlay(key, &self.mount_dir(), &all, None)?
            }
        };
        Ok(vec![m])
    }
}

fn overlay(
    key: &str,
    snapshots: &Path,
    lowers: &[u64],
    upper: Option<(PathBuf, PathBuf)>,
) -> Result<Mount> {
    let rest: Vec<String> = match upper {
        Some((u, w)) => vec![
            format!("upperdir={}", u.display()),
            format!("workdir={}", w.display()),
        ],
        None => Vec::new(),
    };
    Ok(Mount {
        typ: "overlay".into(),
        source: "overlay".into(),
        options: overlay_options(key, snapshots, lowers, rest)?,
    })
}

/// Builds overlay options: `lowerdir=` (absolute, or relative to `snapshots` when the absolute
/// form exceeds [`MOUNT_DATA_LIMIT`]) followed by `rest`. Fails with TooDeep when neither fits.
pub fn overlay_options(
    key: &str,
    snapshots: &Path,
    lowers: &[u64],
    rest: Vec<String>,
) -> Result<Vec<String>> {
    let join = |abs: bool| -> Vec<String> {
        let dirs: Vec<String> = lowers
            .iter()
            .map(|id| {
                if abs {
                    format!("{}/{id}/fs", snapshots.display())
                } else {
                    format!("{id}/fs")
                }
            })
            .collect();
        let mut opts = vec![format!("lowerdir={}", dirs.join(":"))];
        opts.extend(rest.iter().cloned());
        opts
    };
    let mut len = 0;
    for abs in [true, false] {
        let opts = join(abs);
        len = opts.join(",").len();
        if len <= MOUNT_DATA_LIMIT {
            return Ok(opts);
        }
    }
    Err(SnapshotError::TooDeep {
        key: key.to_string(),
        depth: lowers.len(),
        len,
        limit: MOUNT_DATA_LIMIT,
    })
}

impl Snapshotter for OverlaySnapshotter {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::View)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.store.commit(name, key)
    }

    fn commit_with_parent(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        self.store.commit_with_parent(name, key, parent)
    }

    fn layer_dir(&self, key: &str) -> Result<std::path::PathBuf> {
        self.store.layer_dir(key)
    }

    fn independent_layers(&self) -> bool {
        true
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.store.remove(key)
    }

    fn stat(&self, key: &str) -> Result<Info> {
        self.store.stat(key)
    }

    fn list(&self) -> Result<Vec<Info>> {
        self.store.list()
    }

    fn cleanup(&self) -> Result<Vec<std::path::PathBuf>> {
        self.store.cleanup()
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let meta = self.store.lock_key(key)?;
        let e = Store::get(&meta, key)?;
        let chain = Store::chain(&meta, e.parent.as_deref())?;
        self.mounts_for(key, e.kind, e.id, &chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        crate::conformance::run_all(|root| {
            Box::new(OverlaySnapshotter::new(root).unwrap()) as Box<dyn Snapshotter>
        });
    }

    #[test]
    fn short_form_when_absolute_is_too_long() {
        let long = PathBuf::from(format!("/{}", "x".repeat(200)));
        let lowers: Vec<u64> = (0..200).rev().collect();
        let opts = overlay_options("k", &long, &lowers, vec!["upperdir=/u".into()]).unwrap();
        assert!(opts[0].starts_with("lowerdir=199/fs:198/fs"), "{}", opts[0]);
        assert!(opts.join(",").len() <= MOUNT_DATA_LIMIT);
        let few = overlay_options("k", &long, &lowers[..3], vec![]).unwrap();
        assert!(few[0].starts_with(&format!("lowerdir={}/199/fs", long.display())));
    }

    #[test]
    fn too_deep_names_depth() {
        let lowers: Vec<u64> = (100_000..101_000).collect();
        let e = overlay_options("deep", Path::new("/r"), &lowers, vec![]).unwrap_err();
        assert!(
            matches!(e, SnapshotError::TooDeep { depth: 1000, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("1000 layers"));
    }

    /// A real chain of 200 committed layers under a long root path.
    #[test]
    fn chain_of_200_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("r".repeat(100));
        let s = OverlaySnapshotter::new(&root).unwrap();
        let mut parent: Option<String> = None;
        for i in 0..200 {
            let m = s.prepare(&format!("a{i}"), parent.as_deref()).unwrap();
            if i == 0 || i == 199 {
                let dir = crate::conformance::writable_dir(&m);
                std::fs::write(dir.join(format!("f{i}")), b"x").unwrap();
            }
            s.commit(&format!("l{i}"), &format!("a{i}")).unwrap();
            parent = Some(format!("l{i}"));
        }
        let m = s.prepare("top", parent.as_deref()).unwrap();
        let lower = m[0].option("lowerdir").unwrap();
        assert_eq!(lower.split(':').count(), 200);
        assert!(!lower.starts_with('/'), "expected relative lowerdirs");
        assert!(lower.starts_with(&format!("{}/fs", s.stat("l199").unwrap().id)));
        assert!(m[0].options.join(",").len() <= MOUNT_DATA_LIMIT);
        assert!(m[0].option("upperdir").unwrap().starts_with('/'));
        // Mount it for real (root only): relative lowerdirs resolve from mount_dir().
        let upper = crate::conformance::writable_dir(&m);
        let ran = crate::conformance::with_mounted(&m, &s.mount_dir(), |d| {
            assert!(d.join("f0").exists() && d.join("f199").exists());
            std::fs::write(d.join("new"), b"n").unwrap();
        });
        if ran {
            assert!(upper.join("new").exists());
        }
    }
}
