//! Building a reproducible tree: entries created with exact modes (whatever the umask), then every
//! entry given to root and stamped with one fixed time, so that the same inputs give the same
//! layer bytes, hence the same diffID and image ID, on every machine.

use super::BootstrapError;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The modification time of every entry of a bootstrap rootfs: the Unix epoch.
pub const FIXED_MTIME: i64 = 0;

/// The `created` time of bootstrap image configs, matching [`FIXED_MTIME`].
pub const FIXED_CREATED: &str = "1970-01-01T00:00:00Z";

/// Creates `dir` when missing; fails unless it is an empty directory.
pub(crate) fn prepare_empty_dir(dir: &Path) -> Result<(), BootstrapError> {
    fs::create_dir_all(dir).map_err(|source| BootstrapError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries = fs::read_dir(dir).map_err(|source| BootstrapError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(BootstrapError::NotEmpty {
            path: dir.to_path_buf(),
        });
    }
    set_mode(dir, 0o755)
}

/// Sets the permission bits of `path` (follows symlinks; only used on what we created).
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), BootstrapError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
        BootstrapError::SetMode {
            path: path.to_path_buf(),
            mode,
            source,
        }
    })
}

/// Creates the directory `path` (its parent must exist) with exactly `mode`; an existing
/// directory just gets the mode.
pub(crate) fn make_dir(path: &Path, mode: u32) -> Result<(), BootstrapError> {
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(source) => {
            return Err(BootstrapError::CreateDir {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    set_mode(path, mode)
}

/// Creates `rel` (relative, `/`-separated) under `root` and its missing parents, all 0755.
pub(crate) fn make_dirs(root: &Path, rel: &Path) -> Result<(), BootstrapError> {
    let mut cur = root.to_path_buf();
    for part in rel.components() {
        cur.push(part);
        if !cur.is_dir() {
            make_dir(&cur, 0o755)?;
        }
    }
    Ok(())
}

/// Writes a new file `path` holding `data`, with exactly `mode`.
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), BootstrapError> {
    let err = |source| BootstrapError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    set_mode(path, mode)
}

/// Creates the symlink `path` -> `target`.
pub(crate) fn symlink(target: &Path, path: &Path) -> Result<(), BootstrapError> {
    std::os::unix::fs::symlink(target, path).map_err(|source| BootstrapError::Symlink {
        path: path.to_path_buf(),
        target: target.to_path_buf(),
        source,
    })
}

/// Gives every entry under `root` (and `root` itself) to 0:0 when we run as root (an unprivileged
/// build keeps its own IDs: it cannot do otherwise), and stamps all of them, symlinks included,
/// with [`FIXED_MTIME`]. Children come before their directory.
pub(crate) fn normalize(root: &Path) -> Result<(), BootstrapError> {
    let as_root = nix::unistd::geteuid().is_root();
    normalize_entry(root, as_root, true)
}

fn normalize_entry(path: &Path, as_root: bool, is_dir: bool) -> Result<(), BootstrapError> {
    if is_dir {
        let entries = fs::read_dir(path).map_err(|source| BootstrapError::ReadDir {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| BootstrapError::ReadDir {
                path: path.to_path_buf(),
                source,
            })?;
            let ft = entry
                .file_type()
                .map_err(|source| BootstrapError::ReadDir {
                    path: path.to_path_buf(),
                    source,
                })?;
            normalize_entry(&entry.path(), as_root, ft.is_dir())?;
        }
    }
    if as_root {
        std::os::unix::fs::lchown(path, Some(0), Some(0)).map_err(|source| {
            BootstrapError::SetOwner {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    let t = TimeSpec::new(FIXED_MTIME, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(|e| {
        BootstrapError::SetTime {
            path: path.to_path_buf(),
            source: std::io::Error::from(e),
        }
    })
}
