//! `cp` out of and into a container's root filesystem, and `export`.

use super::{io_err, FsError};
use crate::spec::rootfs::resolve;
use berth_archive::{apply_layer, ApplyOptions, Compression};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What docker's archive API reports about a path (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits: permissions plus 1<<31 for a directory, 1<<27 for a symlink.
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    pub link_target: String,
}

/// Resolves `path` inside `rootfs` the way `docker cp` does: symlinks in the directories are
/// followed inside the rootfs; a final symlink is copied as a link unless the path ends in `/`
/// or `/.`. Returns the host path.
fn resolve_source(rootfs: &Path, path: &str) -> Result<PathBuf, FsError> {
    let follow_last = path.ends_with('/') || path.ends_with("/.");
    let trimmed = path.trim_end_matches("/.").trim_end_matches('/');
    let (dir, name) = match trimmed.rsplit_once('/') {
        Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
        None => ("/", trimmed),
    };
    if name.is_empty() || name == ".." {
        // The root itself, or a path ending in `..`: resolve it whole.
        return resolve(rootfs, trimmed)?.ok_or_else(|| FsError::NotFound(path.into()));
    }
    let parent = resolve(rootfs, dir)?.ok_or_else(|| FsError::NotFound(path.into()))?;
    let host = parent.join(name);
    let md = std::fs::symlink_metadata(&host).map_err(|_| FsError::NotFound(path.into()))?;
    if md.file_type().is_symlink() && follow_last {
        let full = format!("{dir}/{name}");
        return resolve(rootfs, &full)?.ok_or_else(|| FsError::NotFound(path.into()));
    }
    Ok(host)
}

/// Stat of `path` in the container (docker's HEAD /containers/{id}/archive).
pub fn stat(rootfs: &Path, path: &str) -> Result<PathStat, FsError> {
    let host = resolve_source(rootfs, path)?;
    let md = std::fs::symlink_metadata(&host).map_err(io_err("stat", &host))?;
    let mut mode = md.mode() & 0o777;
    if md.is_dir() {
        mode |= 1 << 31;
    }
    let mut link_target = String::new();
    if md.file_type().is_symlink() {
        mode |= 1 << 27;
        link_target = std::fs::read_link(&host)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
    }
    Ok(PathStat {
        name: host
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "/".into()),
        size: md.len() as i64,
        mode,
        mtime: berth_oci::time::rfc3339(md.mtime()),
        link_target,
    })
}

/// Writes `path` of the container as a tar stream to `out` (docker cp's format): a file or a
/// directory under its own name, or a directory's contents when `path` ends in `/.`.
pub fn copy_from_container(
    rootfs: &Path,
    path: &str,
    out: &mut dyn Write,
) -> Result<PathStat, FsError> {
    let st = stat(rootfs, path)?;
    let host = resolve_source(rootfs, path)?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let md = std::fs::symlink_metadata(&host).map_err(io_err("stat", &host))?;
    let err = |e| io_err("archive", &host)(e);
    if md.is_dir() {
        let name = if path.ends_with("/.") {
            ".".to_string()
        } else {
            st.name.clone()
        };
        b.append_dir_all(&name, &host).map_err(err)?;
    } else {
        b.append_path_with_name(&host, &st.name).map_err(err)?;
    }
    b.finish().map_err(|e| io_err("archive", &host)(e))?;
    Ok(st)
}

/// Extracts the tar stream `input` into directory `dir` of the container. Entries stay inside
/// that directory: symlinks in the archive or the container resolve inside the rootfs.
pub fn copy_into_container(rootfs: &Path, dir: &str, input: &mut dyn Read) -> Result<(), FsError> {
    let host = resolve(rootfs, dir)?.ok_or_else(|| FsError::NotFound(dir.into()))?;
    let md = std::fs::metadata(&host).map_err(io_err("stat", &host))?;
    if !md.is_dir() {
        return Err(FsError::Invalid(format!(
            "extraction point is not a directory: {dir}"
        )));
    }
    let opts = ApplyOptions {
        diff_id: false,
        ..ApplyOptions::with_whiteouts(berth_archive::Whiteouts::Delete)
    };
    apply_layer(input, &host, &opts)?;
    Ok(())
}

/// `docker export`: the container's whole filesystem as a tar stream.
pub fn export(rootfs: &Path, out: &mut dyn Write) -> Result<(), FsError> {
    berth_archive::write_layer(rootfs, out, Compression::None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc/conf.d")).unwrap();
        std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::write(r.join("etc/conf.d/a"), "a").unwrap();
        std::os::unix::fs::symlink("/etc", r.join("link")).unwrap();
        std::os::unix::fs::symlink("/../../../../../../etc/passwd", r.join("escape")).unwrap();
        t
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        let mut v: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path().unwrap().display().to_string();
                p.trim_end_matches('/').to_string()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn copy_out_shapes() {
        let r = rootfs();
        let mut buf = Vec::new();
        copy_from_container(r.path(), "/etc/hosts", &mut buf).unwrap();
        assert_eq!(names(&buf), ["hosts"]);
        let mut buf = Vec::new();
        copy_from_container(r.path(), "/etc", &mut buf).unwrap();
        assert_eq!(
            names(&buf),
            ["etc", "etc/conf.d", "etc/conf.d/a", "etc/hosts"]
        );
        let mut buf = Vec::new();
        copy_from_container(r.path(), "/link/conf.d/.", &mut buf).unwrap();
        assert_eq!(names(&buf), [".", "a"]);
        // A final symlink is copied as the link itself.
        let mut buf = Vec::new();
        let st = copy_from_container(r.path(), "/link", &mut buf).unwrap();
        assert_eq!(st.link_target, "/etc");
        // A symlink pointing out of the rootfs resolves inside it: no host /etc/passwd.
        let mut buf = Vec::new();
        let e = copy_from_container(r.path(), "/escape/", &mut buf).unwrap_err();
        assert!(matches!(e, FsError::NotFound(_)), "{e}");
        assert!(matches!(
            copy_from_container(r.path(), "/nope", &mut Vec::new()),
            Err(FsError::NotFound(_))
        ));
    }

    #[test]
    fn copy_in_stays_inside() {
        let r = rootfs();
        let outside = tempfile::tempdir().unwrap();
        // A tar with a plain file and an entry trying to climb out.
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, "new.txt", &b"hi"[..]).unwrap();
            b.finish().unwrap();
        }
        copy_into_container(r.path(), "/link/conf.d", &mut &tar_bytes[..]).unwrap();
        assert_eq!(
            std::fs::read_to_string(r.path().join("etc/conf.d/new.txt")).unwrap(),
            "hi"
        );
        // A destination through a symlink that points outside resolves inside the rootfs.
        std::os::unix::fs::symlink(outside.path(), r.path().join("out")).unwrap();
        let e = copy_into_container(r.path(), "/out", &mut &tar_bytes[..]);
        assert!(
            e.is_err(),
            "resolved inside the rootfs, where that dir does not exist"
        );
        assert!(!outside.path().join("new.txt").exists());
        assert!(copy_into_container(r.path(), "/etc/hosts", &mut &tar_bytes[..]).is_err());
    }

    #[test]
    fn export_has_everything() {
        let r = rootfs();
        let mut buf = Vec::new();
        export(r.path(), &mut buf).unwrap();
        let n = names(&buf);
        assert!(
            n.iter().any(|p| p.trim_end_matches('/') == "etc/hosts"),
            "{n:?}"
        );
        assert!(n.iter().any(|p| p == "link"), "{n:?}");
    }
}
