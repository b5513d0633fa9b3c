//! `docker diff`: the changes in a container's overlay upper directory against the image's layers.

use super::{io_err, FsError};
use crate::types::Change;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's change kinds (`Kind` 0, 1, 2 in the API; `C`, `A`, `D` on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl ChangeKind {
    /// `C`, `A` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// The changes recorded in `upper` (overlay conventions: a 0:0 character device is a deletion),
/// compared with `lowers` (the image's layer directories, any order) to tell added from modified.
/// Sorted by path, as docker prints them.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, FsError> {
    let mut out = Vec::new();
    walk(upper, Path::new("/"), lowers, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

/// Paths the engine (or the runtime) creates in the container's layer as mountpoints. Docker
/// keeps these in a hidden "init" layer, so `docker diff` never lists them; neither do we,
/// when they are only mountpoints: an empty file, an empty directory, or a symlink (`/etc/mtab`).
const MOUNTPOINTS: &[&str] = &[
    "/.dockerenv",
    "/dev",
    "/dev/console",
    "/dev/mqueue",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// True when `md` at `rel` is one of the engine's bare mountpoints ([`MOUNTPOINTS`]);
/// `visible_children`: whether a directory has anything left to show inside.
fn is_mountpoint(rel: &Path, md: &std::fs::Metadata, visible_children: bool) -> bool {
    if !MOUNTPOINTS.iter().any(|m| Path::new(m) == rel) {
        return false;
    }
    let ft = md.file_type();
    (ft.is_file() && md.len() == 0) || (ft.is_dir() && !visible_children) || ft.is_symlink()
}

/// True when the image has a directory at `rel` with the same mode and owner as `md`: a copy
/// the overlay made only to hold something (a mountpoint) inside it.
fn same_dir_as_lower(lowers: &[PathBuf], rel: &Path, md: &std::fs::Metadata) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers.iter().any(|l| {
        std::fs::symlink_metadata(l.join(rel)).is_ok_and(|lm| {
            lm.is_dir() && lm.mode() == md.mode() && lm.uid() == md.uid() && lm.gid() == md.gid()
        })
    })
}

/// Records the changes under `dir` (at `rel` in the container); returns whether it left out
/// any of the engine's mountpoints.
fn walk(
    dir: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    out: &mut Vec<Change>,
) -> Result<bool, FsError> {
    let entries = std::fs::read_dir(dir).map_err(io_err("read", dir))?;
    let mut hid = false;
    for e in entries.flatten() {
        let path = e.path();
        let child = rel.join(e.file_name());
        let md = std::fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
        let kind = if md.file_type().is_char_device() && md.rdev() == 0 {
            ChangeKind::Deleted
        } else if in_lowers(lowers, &child) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        let mut inner = Vec::new();
        let mut hid_inside = false;
        if md.is_dir() {
            hid_inside = walk(&path, &child, lowers, &mut inner)?;
        }
        let visible = !inner.is_empty();
        // A directory the image has, copied up only because a mountpoint was made inside it
        // (`/etc` for `/etc/hosts`), is no change either.
        let only_holds_mountpoints = md.is_dir()
            && !visible
            && hid_inside
            && kind == ChangeKind::Modified
            && same_dir_as_lower(lowers, &child, &md);
        if kind != ChangeKind::Deleted
            && (is_mountpoint(&child, &md, visible) || only_holds_mountpoints)
        {
            hid = true;
            continue;
        }
        out.push(Change {
            path: child.display().to_string(),
            kind: kind as u8,
        });
        out.append(&mut inner);
    }
    Ok(hid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_modified_deleted() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("etc")).unwrap();
        std::fs::write(lower.path().join("etc/passwd"), "x").unwrap();
        std::fs::write(lower.path().join("gone"), "x").unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.path().join("etc/new"), "y").unwrap();
        std::fs::create_dir_all(upper.path().join("tmp/d")).unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            nix::sys::stat::mknod(
                &upper.path().join("gone"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
        }
        let got = listed(upper.path(), lower.path());
        let mut want = vec!["C /etc", "A /etc/new", "C /etc/passwd"];
        if root {
            want.push("D /gone");
        }
        want.extend(["A /tmp", "A /tmp/d"]);
        assert_eq!(got, want);
    }

    fn listed(upper: &Path, lower: &Path) -> Vec<String> {
        changes(upper, &[lower.to_path_buf()])
            .unwrap()
            .iter()
            .map(|c| {
                let k =
                    [ChangeKind::Modified, ChangeKind::Added, ChangeKind::Deleted][c.kind as usize];
                format!("{} {}", k.letter(), c.path)
            })
            .collect()
    }

    #[test]
    fn the_engines_mountpoints_are_no_change() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        let (l, u) = (lower.path(), upper.path());
        std::fs::create_dir_all(l.join("etc")).unwrap();
        std::fs::create_dir_all(u.join("etc")).unwrap();
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"] {
            std::fs::write(u.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink("/proc/mounts", u.join("etc/mtab")).unwrap();
        for d in ["proc", "sys", "dev/pts", "dev/shm"] {
            std::fs::create_dir_all(u.join(d)).unwrap();
        }
        assert_eq!(listed(u, l), Vec::<String>::new());

        // A real change next to them shows, with its directory.
        std::fs::write(u.join("etc/foo"), "").unwrap();
        // A mountpoint path holding data is a change too.
        std::fs::write(u.join("etc/hosts"), "127.0.0.1 x\n").unwrap();
        std::fs::write(u.join("dev/shm/data"), "").unwrap();
        assert_eq!(
            listed(u, l),
            [
                "A /dev",
                "A /dev/shm",
                "A /dev/shm/data",
                "C /etc",
                "A /etc/foo",
                "A /etc/hosts"
            ]
        );
    }

    #[test]
    fn a_directory_whose_mode_changed_still_shows() {
        use std::os::unix::fs::PermissionsExt;
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        let (l, u) = (lower.path(), upper.path());
        std::fs::create_dir_all(l.join("etc")).unwrap();
        std::fs::set_permissions(l.join("etc"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(u.join("etc")).unwrap();
        std::fs::set_permissions(u.join("etc"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(u.join("etc/hosts"), "").unwrap();
        assert_eq!(listed(u, l), ["C /etc"]);
    }
}
