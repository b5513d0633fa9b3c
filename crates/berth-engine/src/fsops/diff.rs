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

fn walk(dir: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> Result<(), FsError> {
    let entries = std::fs::read_dir(dir).map_err(io_err("read", dir))?;
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
        out.push(Change {
            path: child.display().to_string(),
            kind: kind as u8,
        });
        if md.is_dir() {
            walk(&path, &child, lowers, out)?;
        }
    }
    Ok(())
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
        let got: Vec<String> = changes(upper.path(), &[lower.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|c| {
                let k =
                    [ChangeKind::Modified, ChangeKind::Added, ChangeKind::Deleted][c.kind as usize];
                format!("{} {}", k.letter(), c.path)
            })
            .collect();
        let mut want = vec!["C /etc", "A /etc/new", "C /etc/passwd"];
        if root {
            want.push("D /gone");
        }
        want.extend(["A /tmp", "A /tmp/d"]);
        assert_eq!(got, want);
    }
}
