//! The mount-point layer: a small read-only overlay layer put on top of a container's image
//! layers, holding the files the runtime mounts the container's own copies over
//! (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`). It is Docker's "init layer", shared by
//! all containers instead of made for each.
//!
//! Without it most images lack at least one of those files, so every start copied `/etc` up into
//! the container's writable layer and created the missing files there: on ext4 about a
//! millisecond of the init's critical path, and four more inodes to free at removal.
//!
//! Overlay shows a merged directory with the owner and mode of its topmost layer, so the layer's
//! `/etc` takes those of the image's: one layer is kept per owner and mode, named
//! `<uid>-<gid>-<mode>` (nearly every image: `0-0-755`). An image whose `/etc` is not a plain
//! directory (a symlink, a file, one with extended attributes, which the layer would hide) gets
//! none: its container makes its mount points itself, as before.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The files of the layer's `/etc`.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Where the layers live, beside the driver's `snapshots` directory.
const DIR: &str = "mountpoints";

/// The owner and mode of the layer's `/etc` when the image has none.
const NO_ETC: Attrs = Attrs {
    uid: 0,
    gid: 0,
    mode: 0o755,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attrs {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Attrs {
    fn name(self) -> String {
        format!("{}-{}-{:o}", self.uid, self.gid, self.mode)
    }
}

/// The `lowerdir=` value of an overlay mount with the mount-point layer put on top of
/// `lowerdir` (whose relative entries resolve from `snapshots_dir`), making the layer when it
/// does not exist yet; `None` when this image gets no layer or it cannot be made (the caller
/// mounts without it).
pub fn with_layer(snapshots_dir: &Path, lowerdir: &str) -> Option<String> {
    let relative = !lowerdir.starts_with('/');
    let lowers: Vec<PathBuf> = lowerdir.split(':').map(|l| snapshots_dir.join(l)).collect();
    let attrs = etc_attrs(&lowers)?;
    let base = snapshots_dir.parent()?.join(DIR);
    let layer = ensure(&base, attrs).ok()?;
    let top = if relative {
        Path::new("..").join(DIR).join(attrs.name())
    } else {
        layer
    };
    Some(format!("{}:{lowerdir}", top.display()))
}

/// The owner and mode the image's `/etc` shows, the first layer (from the top) that has an
/// entry `etc` deciding; `None` when that is not a plain directory.
fn etc_attrs(lowers: &[PathBuf]) -> Option<Attrs> {
    for lower in lowers {
        let etc = lower.join("etc");
        let st = match std::fs::symlink_metadata(&etc) {
            Ok(st) => st,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        let kind = st.file_type();
        // A whiteout (character device 0/0): deleted in this layer, absent below it.
        if kind.is_char_device() && st.rdev() == 0 {
            return Some(NO_ETC);
        }
        if !kind.is_dir() || has_xattrs(&etc) {
            return None;
        }
        return Some(Attrs {
            uid: st.uid(),
            gid: st.gid(),
            mode: st.mode() & 0o7777,
        });
    }
    Some(NO_ETC)
}

/// Whether `path` (not followed) has extended attributes; unreadable counts as having some.
fn has_xattrs(path: &Path) -> bool {
    !matches!(rustix::fs::llistxattr_query(path), Ok(0))
}

/// The layer for `attrs` under `base`, made first when missing: built under a temporary name
/// and renamed into place, so a layer that exists is complete.
fn ensure(base: &Path, attrs: Attrs) -> std::io::Result<PathBuf> {
    let layer = base.join(attrs.name());
    // The last file made: there when the layer was renamed into place complete.
    let complete = || layer.join("etc").join(FILES[FILES.len() - 1]).exists();
    if complete() {
        return Ok(layer);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(base)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}-", attrs.name()))
        .tempdir_in(base)?;
    let root = tmp.path();
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let etc = root.join("etc");
    std::fs::DirBuilder::new().mode(0o700).create(&etc)?;
    for name in FILES {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(etc.join(name))?;
    }
    std::os::unix::fs::chown(&etc, Some(attrs.uid), Some(attrs.gid))?;
    // After the chown, which clears set-id bits.
    std::fs::set_permissions(
        &etc,
        std::os::unix::fs::PermissionsExt::from_mode(attrs.mode),
    )?;
    match std::fs::rename(tmp.path(), &layer) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = tmp.keep();
            Ok(layer)
        }
        // Another start made it meanwhile: use that one (ours goes with the guard).
        Err(_) if complete() => Ok(layer),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let snaps = d.path().join("overlay/snapshots");
        for l in ["1/fs", "2/fs"] {
            std::fs::create_dir_all(snaps.join(l)).unwrap();
        }
        (d, snaps)
    }

    #[test]
    fn puts_a_complete_layer_on_top() {
        let (_d, snaps) = setup();
        let lower = format!("{0}/2/fs:{0}/1/fs", snaps.display());
        let got = with_layer(&snaps, &lower).unwrap();
        let layer = snaps.parent().unwrap().join("mountpoints/0-0-755");
        assert_eq!(got, format!("{}:{lower}", layer.display()));
        for f in FILES {
            let st = std::fs::metadata(layer.join("etc").join(f)).unwrap();
            assert!(st.is_file() && st.len() == 0, "{f}");
        }
        let etc = std::fs::metadata(layer.join("etc")).unwrap();
        assert_eq!(etc.permissions().mode() & 0o7777, 0o755);
        // Made once; no temporary left beside it.
        assert_eq!(with_layer(&snaps, &lower).unwrap(), got);
        let names: Vec<_> = std::fs::read_dir(layer.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("0-0-755")]);
    }

    #[test]
    fn relative_lowers_get_a_relative_layer() {
        let (_d, snaps) = setup();
        let got = with_layer(&snaps, "2/fs:1/fs").unwrap();
        assert_eq!(got, "../mountpoints/0-0-755:2/fs:1/fs");
        assert!(snaps.join("../mountpoints/0-0-755/etc/hosts").is_file());
    }

    #[test]
    fn the_topmost_etc_decides_owner_and_mode() {
        let (_d, snaps) = setup();
        let etc = snaps.join("1/fs/etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::chown(&etc, Some(1000), Some(1001)).unwrap();
        let got = with_layer(&snaps, "2/fs:1/fs").unwrap();
        assert_eq!(got, "../mountpoints/1000-1001-750:2/fs:1/fs");
        let st = std::fs::metadata(snaps.join("../mountpoints/1000-1001-750/etc")).unwrap();
        assert_eq!(
            (st.uid(), st.gid(), st.mode() & 0o7777),
            (1000, 1001, 0o750)
        );
        // A whiteout above hides it: the layer's /etc is a new root-owned one.
        nix::sys::stat::mknod(
            &snaps.join("2/fs/etc"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        assert_eq!(
            with_layer(&snaps, "2/fs:1/fs").unwrap(),
            "../mountpoints/0-0-755:2/fs:1/fs"
        );
    }

    #[test]
    fn no_layer_over_an_etc_that_is_not_a_plain_directory() {
        let (_d, snaps) = setup();
        std::os::unix::fs::symlink("private/etc", snaps.join("2/fs/etc")).unwrap();
        assert_eq!(with_layer(&snaps, "2/fs:1/fs"), None);
        std::fs::remove_file(snaps.join("2/fs/etc")).unwrap();
        std::fs::create_dir(snaps.join("2/fs/etc")).unwrap();
        rustix::fs::setxattr(
            snaps.join("2/fs/etc"),
            "user.note",
            b"x",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        assert_eq!(with_layer(&snaps, "2/fs:1/fs"), None);
    }
}
