//! `tmpcopyup`: copy a directory tree (the contents a new tmpfs now covers) into the tmpfs,
//! keeping types, modes and owners. Every step is fd-relative and never follows a symlink.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_sys::mount as sysm;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

use super::resolve::io_errno;

/// Copies the contents of directory `src` into directory `dst` (both may be O_PATH fds).
pub(crate) fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut dir = Dir::openat(
        Some(src.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<_> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.to_bytes() != b"." && n.to_bytes() != b"..")
        .collect();
    let (s, d) = (Some(src.as_raw_fd()), Some(dst.as_raw_fd()));
    for name in names {
        let name = name.as_c_str();
        let st = fstatat(s, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
        match kind {
            SFlag::S_IFDIR => {
                match mkdirat(d, name, mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
                let sub_src = sysm::openat(Some(src), path, flags, Mode::empty())?;
                let sub_dst = sysm::openat(Some(dst), path, flags, Mode::empty())?;
                copy_tree(sub_src.as_fd(), sub_dst.as_fd())?;
            }
            SFlag::S_IFREG => {
                let from = sysm::openat(
                    Some(src),
                    path,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )?;
                let to = sysm::openat(
                    Some(dst),
                    path,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                    mode,
                )?;
                std::io::copy(&mut File::from(from), &mut File::from(to)).map_err(io_errno)?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(s, name)?;
                nix::unistd::symlinkat(target.as_os_str(), d, name)?;
            }
            _ => mknodat(d, name, kind, mode, st.st_rdev)?,
        }
        let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
        fchownat(d, name, Some(uid), Some(gid), nofollow)?;
        if kind != SFlag::S_IFLNK {
            // The umask narrowed the creation mode; set the exact one (after chown, which may
            // clear set-id bits).
            fchmodat(d, name, mode, FchmodatFlags::NoFollowSymlink).or_else(|e| {
                // fchmodat with NOFOLLOW is unsupported on older kernels for non-links.
                if e == Errno::EOPNOTSUPP || e == Errno::ENOTSUP {
                    fchmodat(d, name, mode, FchmodatFlags::FollowSymlink)
                } else {
                    Err(e)
                }
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn copies_files_dirs_links_and_modes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("sub")).unwrap();
        std::fs::write(a.path().join("sub/f"), b"hello").unwrap();
        std::fs::set_permissions(
            a.path().join("sub/f"),
            std::fs::Permissions::from_mode(0o741),
        )
        .unwrap();
        symlink("/etc/passwd", a.path().join("link")).unwrap();
        let src = File::open(a.path()).unwrap();
        let dst = File::open(b.path()).unwrap();
        copy_tree(src.as_fd(), dst.as_fd()).unwrap();
        assert_eq!(std::fs::read(b.path().join("sub/f")).unwrap(), b"hello");
        let m = std::fs::metadata(b.path().join("sub/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o741);
        assert_eq!(
            std::fs::read_link(b.path().join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
