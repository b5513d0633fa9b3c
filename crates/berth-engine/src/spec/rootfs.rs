//! Paths inside a container's root filesystem, resolved as the container would see them: symlinks
//! (absolute or relative) are followed relative to the rootfs, `..` stops at its root, so a result
//! never lies outside it. Used on a rootfs no container process runs in yet.

use super::{io_err, SpecError};
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;

fn too_many(path: &str) -> SpecError {
    SpecError::Invalid(format!("{path}: too many levels of symbolic links"))
}

/// The host path of `path` inside `rootfs`, following symlinks inside the rootfs. `Ok(None)` when
/// some component does not exist.
pub fn resolve(rootfs: &Path, path: &str) -> Result<Option<PathBuf>, SpecError> {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = components(path);
    todo.reverse();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut host = rootfs.to_path_buf();
        host.extend(&done);
        host.push(&c);
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(too_many(path));
                }
                let target = std::fs::read_link(&host).map_err(io_err("readlink", &host))?;
                let t = target.to_string_lossy().to_string();
                if t.starts_with('/') {
                    done.clear();
                }
                let mut more = components(&t);
                more.reverse();
                todo.extend(more);
            }
            Ok(_) => done.push(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("stat", &host)(e)),
        }
    }
    let mut host = rootfs.to_path_buf();
    host.extend(&done);
    Ok(Some(host))
}

fn components(path: &str) -> Vec<std::ffi::OsString> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// `mkdir -p` of `path` inside `rootfs` (symlinks resolved inside it); new directories are 0755
/// and owned by `uid:gid`, as docker creates a missing WORKDIR.
pub fn mkdir_all(rootfs: &Path, path: &str, uid: u32, gid: u32) -> Result<PathBuf, SpecError> {
    mkdir_all_depth(rootfs, path, uid, gid, 0)
}

fn mkdir_all_depth(
    rootfs: &Path,
    path: &str,
    uid: u32,
    gid: u32,
    depth: usize,
) -> Result<PathBuf, SpecError> {
    if depth > MAX_LINKS {
        return Err(too_many(path));
    }
    let mut so_far = String::new();
    let mut last = rootfs.to_path_buf();
    for p in components(path) {
        let parent = so_far.clone();
        so_far.push('/');
        so_far.push_str(&p.to_string_lossy());
        match resolve(rootfs, &so_far)? {
            Some(h) if h.is_dir() => last = h,
            Some(h) => {
                return Err(SpecError::Invalid(format!(
                    "{so_far} in the container is not a directory ({})",
                    h.display()
                )))
            }
            None => {
                // The parent resolved inside the rootfs; the missing name is either absent or a
                // dangling symlink, whose target is created (inside the rootfs) instead.
                let h = last.join(&p);
                match std::fs::symlink_metadata(&h) {
                    Ok(md) if md.file_type().is_symlink() => {
                        let t = std::fs::read_link(&h).map_err(io_err("readlink", &h))?;
                        let t = t.to_string_lossy();
                        let target = if t.starts_with('/') {
                            t.to_string()
                        } else {
                            format!("{parent}/{t}")
                        };
                        last = mkdir_all_depth(rootfs, &target, uid, gid, depth + 1)?;
                    }
                    _ => {
                        std::fs::create_dir(&h).map_err(io_err("mkdir", &h))?;
                        let _ = chown(&h, Some(uid), Some(gid));
                        last = h;
                    }
                }
            }
        }
    }
    Ok(last)
}

/// Copies the tree `src` into the existing directory `dst` (files, dirs, symlinks; owners, modes),
/// without following symlinks.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), SpecError> {
    let md = std::fs::symlink_metadata(src).map_err(io_err("stat", src))?;
    let _ = chown(dst, Some(md.uid()), Some(md.gid()));
    let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777));
    for e in std::fs::read_dir(src)
        .map_err(io_err("read", src))?
        .flatten()
    {
        let from = e.path();
        let to = dst.join(e.file_name());
        let md = std::fs::symlink_metadata(&from).map_err(io_err("stat", &from))?;
        let ft = md.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(&from).map_err(io_err("readlink", &from))?;
            std::os::unix::fs::symlink(&t, &to).map_err(io_err("symlink", &to))?;
            let _ = std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid()));
        } else if ft.is_dir() {
            std::fs::create_dir(&to).map_err(io_err("mkdir", &to))?;
            copy_tree(&from, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(io_err("copy", &to))?;
            let _ = chown(&to, Some(md.uid()), Some(md.gid()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("real/up")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert_eq!(resolve(r, "/abs/dir").unwrap().unwrap(), r.join("real/dir"));
        // `../../..` stops at the rootfs: /etc of the rootfs, which does not exist.
        assert_eq!(resolve(r, "/real/up").unwrap(), None);
        std::fs::create_dir(r.join("etc")).unwrap();
        assert_eq!(resolve(r, "/real/up").unwrap().unwrap(), r.join("etc"));
        assert!(resolve(r, "/loop").is_err());
        let made = mkdir_all(r, "/abs/new/deeper", 0, 0).unwrap();
        assert_eq!(made, r.join("real/new/deeper"));
        assert!(made.is_dir());
        // An escaping link used as WORKDIR parent creates inside the rootfs, never outside.
        std::os::unix::fs::symlink("/../../tmp", r.join("esc")).unwrap();
        let made = mkdir_all(r, "/esc/x", 0, 0).unwrap();
        assert_eq!(made, r.join("tmp/x"));
    }
}
