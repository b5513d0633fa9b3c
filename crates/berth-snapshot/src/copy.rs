//! The plain-copy driver, for filesystems without overlayfs: every new snapshot gets a full copy
//! of its parent's tree and is returned as a bind mount. Commit only changes the metadata.

use crate::error::{Result, SnapshotError};
use crate::store::{bind, Store};
use crate::{Info, Kind, Mount, Snapshotter};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::fs;
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Copying snapshotter rooted at a directory.
#[derive(Debug)]
pub struct CopySnapshotter {
    store: Store,
}

impl CopySnapshotter {
    /// Opens (creating if needed) the snapshotter at `root`.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(CopySnapshotter {
            store: Store::open(root)?,
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let mut meta = self.store.lock_keys([key].into_iter().chain(parent))?;
        let id = self.store.new_id(&meta, kind);
        self.store
            .create(&mut meta, key, parent, kind, id, |from, to| match from {
                Some(from) => copy_dir_contents(from, to),
                None => Ok(()),
            })?;
        Ok(vec![bind(&self.store.fs_dir(id), kind != Kind::Active)])
    }
}

impl Snapshotter for CopySnapshotter {
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
        let _ = (name, key, parent);
        Err(SnapshotError::Unsupported {
            driver: "copy",
            operation: "commit_with_parent",
        })
    }

    fn layer_dir(&self, key: &str) -> Result<std::path::PathBuf> {
        self.store.layer_dir(key)
    }

    fn independent_layers(&self) -> bool {
        false
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
        Ok(vec![bind(&self.store.fs_dir(e.id), e.kind != Kind::Active)])
    }
}

/// Copies the entries of `from` into the existing dir `to`, then gives `to` the mode and owner of
/// `from`. Symlinks are copied as links (never followed); hardlinks become separate copies.
fn copy_dir_contents(from: &Path, to: &Path) -> Result<()> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Copy { path, source }
    };
    for entry in fs::read_dir(from).map_err(err(from))? {
        let entry = entry.map_err(err(from))?;
        copy_entry(&entry.path(), &to.join(entry.file_name()))?;
    }
    let md = fs::symlink_metadata(from).map_err(err(from))?;
    lchown(to, Some(md.uid()), Some(md.gid())).map_err(err(to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).map_err(err(to))
}

fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Copy { path, source }
    };
    let md = fs::symlink_metadata(from).map_err(err(from))?;
    let ft = md.file_type();
    if ft.is_dir() {
        fs::create_dir(to).map_err(err(to))?;
        return copy_dir_contents(from, to);
    }
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(err(from))?;
        std::os::unix::fs::symlink(target, to).map_err(err(to))?;
        return lchown(to, Some(md.uid()), Some(md.gid())).map_err(err(to));
    }
    if ft.is_file() {
        fs::copy(from, to).map_err(err(to))?;
    } else {
        let kind = if ft.is_fifo() {
            SFlag::S_IFIFO
        } else if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFSOCK
        };
        let rdev = md.rdev();
        let dev = makedev(nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
        mknod(to, kind, Mode::from_bits_truncate(0o600), dev)
            .map_err(|e| err(to)(std::io::Error::from(e)))?;
    }
    // chown clears setuid/setgid bits, so the mode is set after it.
    lchown(to, Some(md.uid()), Some(md.gid())).map_err(err(to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).map_err(err(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        crate::conformance::run_all(|root| {
            Box::new(CopySnapshotter::new(root).unwrap()) as Box<dyn Snapshotter>
        });
    }

    #[test]
    fn copy_preserves_modes_owners_links() {
        let tmp = tempfile::tempdir().unwrap();
        let s = CopySnapshotter::new(tmp.path()).unwrap();
        let m = s.prepare("a", None).unwrap();
        let base = Path::new(&m[0].source);
        fs::create_dir(base.join("d")).unwrap();
        fs::write(base.join("d/f"), b"hi").unwrap();
        fs::set_permissions(base.join("d/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::set_permissions(base.join("d"), fs::Permissions::from_mode(0o710)).unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", base.join("l")).unwrap();
        fs::hard_link(base.join("d/f"), base.join("h")).unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            lchown(base.join("d/f"), Some(1234), Some(5678)).unwrap();
            fs::set_permissions(base.join("d/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        }
        s.commit("A", "a").unwrap();
        let m = s.prepare("b", Some("A")).unwrap();
        let b = Path::new(&m[0].source);
        let f = fs::symlink_metadata(b.join("d/f")).unwrap();
        assert_eq!(f.mode() & 0o7777, 0o4751);
        assert_eq!(fs::read(b.join("d/f")).unwrap(), b"hi");
        assert_eq!(
            fs::symlink_metadata(b.join("d")).unwrap().mode() & 0o7777,
            0o710
        );
        assert_eq!(
            fs::read_link(b.join("l")).unwrap(),
            Path::new("/nonexistent/target")
        );
        assert_eq!(fs::read(b.join("h")).unwrap(), b"hi");
        if root {
            assert_eq!((f.uid(), f.gid()), (1234, 5678));
        }
    }
}
