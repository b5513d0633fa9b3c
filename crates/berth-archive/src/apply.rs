//! `apply_layer`: extracts a layer tar stream into a directory, safely and in one pass.

use crate::compression::Decoder;
use crate::entry_path::normalise;
use crate::error::ArchiveError;
use crate::fsops::{empty_dir, errno_of_rustix, is_dir_at, remove_at, Root};
use crate::hashio::HashingReader;
use crate::{BUF_SIZE, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use berth_oci::Digest;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, futimens, makedev, mknodat, utimensat, FchmodatFlags};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tar::EntryType;

/// What to do with OCI whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Whiteouts {
    /// Turn them into overlayfs whiteouts: `.wh.x` becomes a 0:0 character device `x`,
    /// `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory. For a layer unpacked into
    /// its own empty directory that serves as an overlay lower dir.
    #[default]
    Overlay,
    /// Apply them: `.wh.x` deletes `x`, `.wh..wh..opq` empties its directory of everything not
    /// unpacked from this layer. For a layer unpacked on top of a copy of its parent.
    Delete,
}

/// Options of [`apply_layer`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Whiteout handling.
    pub whiteouts: Whiteouts,
    /// Set owners from the tar (default: when running as root).
    pub chown: bool,
    /// Compute the diffID (default). A caller that already hashes the same uncompressed
    /// stream (an uncompressed blob being stored) turns it off and gets `diff_id: None`.
    pub diff_id: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: Whiteouts::Overlay,
            chown: nix::unistd::geteuid().is_root(),
            diff_id: true,
        }
    }
}

impl ApplyOptions {
    /// Default options with the given whiteout handling.
    pub fn with_whiteouts(whiteouts: Whiteouts) -> Self {
        ApplyOptions {
            whiteouts,
            ..Default::default()
        }
    }
}

/// What applying a layer measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar stream (the layer's diffID); `None` when
    /// [`ApplyOptions::diff_id`] is off.
    pub diff_id: Option<Digest>,
    /// Length of the uncompressed tar stream in bytes.
    pub size: u64,
}

/// Extracts the layer tar stream `reader` (plain, gzip or zstd, detected) into `target`, an
/// existing directory, and returns its diffID.
///
/// Entry paths lose a leading `/`; a `..` component is an error. Every lookup stays inside
/// `target`: parent directories are resolved with `openat2(RESOLVE_IN_ROOT)`, so a symlink in the
/// layer (even `x -> /etc`) resolves inside `target`, and the last component of an entry is never
/// followed. Missing parent directories are created (0755). An entry replaces what is at its
/// path, except a directory over a directory, which keeps the contents. `trusted.overlay.*`
/// xattrs in the tar are ignored (they would steer overlayfs).
pub fn apply_layer<R: Read>(
    reader: R,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<LayerStats, ArchiveError> {
    let decoder = Decoder::new(reader).map_err(ArchiveError::Read)?;
    let mut archive = tar::Archive::new(HashingReader::with_hashing(decoder, opts.diff_id));
    let root = berth_sys::mount::openat(
        None,
        target,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .map_err(|errno| ArchiveError::OpenTarget {
        path: target.to_path_buf(),
        errno,
    })?;
    let mut x = Extractor {
        root: Root::new(root),
        opts,
        buf: vec![0; BUF_SIZE],
        dir_times: Vec::new(),
        unpacked: HashSet::new(),
    };
    let mut last = PathBuf::new();
    let mut end_of_last = 0u64;
    let entries = archive.entries().map_err(ArchiveError::Read)?;
    for entry in entries {
        let mut entry = entry.map_err(|source| ArchiveError::Header {
            after: last.clone(),
            source,
        })?;
        let raw = entry
            .path()
            .map_err(|source| ArchiveError::Header {
                after: last.clone(),
                source,
            })?
            .into_owned();
        end_of_last = entry.raw_file_position() + entry.header().entry_size().unwrap_or(0);
        end_of_last = end_of_last.div_ceil(512) * 512;
        x.entry(&mut entry, &raw)?;
        last = raw;
    }
    x.set_dir_times()?;
    let mut hashing = archive.into_inner();
    io::copy(&mut hashing, &mut io::sink()).map_err(ArchiveError::Read)?;
    if hashing.count() < end_of_last + 512 {
        return Err(ArchiveError::MissingEnd { after: last });
    }
    let (diff_id, size) = hashing.finish();
    Ok(LayerStats { diff_id, size })
}

/// Owner, mode and time of an entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

struct Extractor<'o> {
    root: Root,
    opts: &'o ApplyOptions,
    buf: Vec<u8>,
    /// Directories whose mtime is set at the end, after their contents.
    dir_times: Vec<(PathBuf, i64)>,
    /// Paths unpacked from this layer (only in Delete mode, for opaque directories).
    unpacked: HashSet<PathBuf>,
}

fn bad_field<'a>(
    entry: &'a Path,
    field: &'static str,
) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::BadField {
        entry: entry.to_path_buf(),
        field,
        source,
    }
}

fn pax_num(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let int = s.split('.').next()?;
    int.parse().ok()
}

impl Extractor<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
    ) -> Result<(), ArchiveError> {
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            return Ok(());
        }
        let rel = normalise(raw).map_err(|why| ArchiveError::BadPath {
            entry: raw.to_path_buf(),
            path: raw.to_path_buf(),
            why,
        })?;
        let name = rel.file_name().unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new(""));

        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if matches!(hidden, b"" | b"." | b"..") {
                return Err(ArchiveError::BadPath {
                    entry: raw.to_path_buf(),
                    path: raw.to_path_buf(),
                    why: "is a whiteout of nothing, '.' or '..'",
                });
            }
            return self.whiteout(raw, parent, OsStr::from_bytes(hidden));
        }

        let h = entry.header();
        let mut meta = Meta {
            mode: h.mode().map_err(bad_field(raw, "mode"))? & 0o7777,
            uid: h.uid().map_err(bad_field(raw, "uid"))? as u32,
            gid: h.gid().map_err(bad_field(raw, "gid"))? as u32,
            mtime: h.mtime().map_err(bad_field(raw, "mtime"))? as i64,
        };
        if let Some(pax) = entry.pax_extensions().map_err(bad_field(raw, "pax"))? {
            for ext in pax.flatten() {
                match ext.key_bytes() {
                    b"uid" => {
                        meta.uid = pax_num(ext.value_bytes()).unwrap_or(meta.uid as i64) as u32
                    }
                    b"gid" => {
                        meta.gid = pax_num(ext.value_bytes()).unwrap_or(meta.gid as i64) as u32
                    }
                    b"mtime" => meta.mtime = pax_num(ext.value_bytes()).unwrap_or(meta.mtime),
                    _ => {}
                }
            }
        }

        if self.opts.whiteouts == Whiteouts::Delete {
            self.unpacked.insert(rel.clone());
        }

        if name.is_empty() {
            // The root itself ("./"): only a directory may be there.
            if kind != EntryType::Directory {
                return Err(ArchiveError::BadPath {
                    entry: raw.to_path_buf(),
                    path: raw.to_path_buf(),
                    why: "names the extraction root but is not a directory",
                });
            }
            let fd = self.root.fd();
            self.finish_fd(entry, raw, &fd, &meta)?;
            self.dir_times.push((rel, meta.mtime));
            return Ok(());
        }

        let pfd = self
            .root
            .dir(parent, true)
            .map_err(|errno| ArchiveError::Parent {
                entry: raw.to_path_buf(),
                errno,
            })?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, raw, &pfd, name, &meta)
            }
            EntryType::Directory => {
                self.directory(entry, raw, &pfd, name, &meta)?;
                self.dir_times.push((rel, meta.mtime));
                Ok(())
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad_field(raw, "linkname"))?
                    .unwrap_or_default();
                self.replacing(raw, &pfd, name, |p| {
                    symlinkat(target.as_ref(), Some(p.as_raw_fd()), name)
                })?;
                self.finish_at(entry, raw, &pfd, name, &meta, true)
            }
            EntryType::Link => self.hardlink(entry, raw, &pfd, name),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let h = entry.header();
                let dev = if kind == EntryType::Fifo {
                    0
                } else {
                    let major = h.device_major().map_err(bad_field(raw, "devmajor"))?;
                    let minor = h.device_minor().map_err(bad_field(raw, "devminor"))?;
                    makedev(major.unwrap_or(0) as u64, minor.unwrap_or(0) as u64)
                };
                self.replacing(raw, &pfd, name, |p| {
                    mknodat(
                        Some(p.as_raw_fd()),
                        name,
                        sflag,
                        Mode::from_bits_truncate(meta.mode),
                        dev,
                    )
                })?;
                self.finish_at(entry, raw, &pfd, name, &meta, false)
            }
            other => Err(ArchiveError::UnsupportedType {
                entry: raw.to_path_buf(),
                kind: other.as_byte(),
            }),
        }
    }

    /// Runs `create`; if something is in the way, removes it and runs `create` again.
    fn replacing<T>(
        &mut self,
        raw: &Path,
        pfd: &OwnedFd,
        name: &OsStr,
        mut create: impl FnMut(&OwnedFd) -> Result<T, Errno>,
    ) -> Result<T, ArchiveError> {
        match create(pfd) {
            Err(Errno::EEXIST) => {
                self.root.invalidate();
                remove_at(pfd.as_fd(), name).map_err(|errno| ArchiveError::Replace {
                    entry: raw.to_path_buf(),
                    errno,
                })?;
                create(pfd)
            }
            other => other,
        }
        .map_err(|errno| ArchiveError::Create {
            entry: raw.to_path_buf(),
            errno,
        })
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        pfd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        let fd = self.replacing(raw, pfd, name, |p| {
            berth_sys::mount::openat(
                Some(p.as_fd()),
                Path::new(name),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o600),
            )
        })?;
        let expected = entry.size();
        let mut file = File::from(fd);
        let mut got = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::ReadData {
                        entry: raw.to_path_buf(),
                        source,
                    })
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| ArchiveError::WriteData {
                    entry: raw.to_path_buf(),
                    source,
                })?;
            got += n as u64;
        }
        if got < expected && entry.header().entry_type() != EntryType::GNUSparse {
            return Err(ArchiveError::Truncated {
                entry: raw.to_path_buf(),
                expected,
                got,
            });
        }
        let fd = OwnedFd::from(file);
        self.finish_fd(entry, raw, &fd, meta)
    }

    fn directory<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        pfd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        let create = |p: &OwnedFd| {
            nix::sys::stat::mkdirat(Some(p.as_raw_fd()), name, Mode::from_bits_truncate(0o700))
        };
        match create(pfd) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let is_dir =
                    is_dir_at(pfd.as_fd(), name).map_err(|errno| ArchiveError::Create {
                        entry: raw.to_path_buf(),
                        errno,
                    })?;
                if is_dir != Some(true) {
                    self.replacing(raw, pfd, name, create)?;
                }
            }
            Err(errno) => {
                return Err(ArchiveError::Create {
                    entry: raw.to_path_buf(),
                    errno,
                })
            }
        }
        let fd = berth_sys::mount::openat(
            Some(pfd.as_fd()),
            Path::new(name),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|errno| ArchiveError::Create {
            entry: raw.to_path_buf(),
            errno,
        })?;
        self.finish_fd(entry, raw, &fd, meta)
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        pfd: &OwnedFd,
        name: &OsStr,
    ) -> Result<(), ArchiveError> {
        let target_raw = entry
            .link_name()
            .map_err(bad_field(raw, "linkname"))?
            .unwrap_or_default()
            .into_owned();
        let target = normalise(&target_raw).map_err(|why| ArchiveError::BadPath {
            entry: raw.to_path_buf(),
            path: target_raw.clone(),
            why,
        })?;
        let link_err = |errno| ArchiveError::Link {
            entry: raw.to_path_buf(),
            target: target_raw.clone(),
            errno,
        };
        let tname = target.file_name().ok_or_else(|| link_err(Errno::EISDIR))?;
        let tparent = self
            .root
            .open_existing(target.parent().unwrap_or(Path::new("")))
            .map_err(link_err)?;
        // The target must exist before anything at the link's path is removed.
        match is_dir_at(tparent.as_fd(), tname).map_err(link_err)? {
            None => return Err(link_err(Errno::ENOENT)),
            Some(true) => return Err(link_err(Errno::EISDIR)),
            Some(false) => {}
        }
        if normalise(raw).ok().as_deref() == Some(target.as_path()) {
            return Ok(());
        }
        match self.replacing(raw, pfd, name, |p| {
            linkat(
                Some(tparent.as_raw_fd()),
                tname,
                Some(p.as_raw_fd()),
                name,
                AtFlags::empty(),
            )
        }) {
            Err(ArchiveError::Create { errno, .. }) => Err(link_err(errno)),
            other => other,
        }
    }

    /// Owner, mode, xattrs and mtime of an entry opened as `fd` (file or directory).
    fn finish_fd<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        fd: &OwnedFd,
        meta: &Meta,
    ) -> Result<(), ArchiveError> {
        let md = |what| {
            move |errno| ArchiveError::Metadata {
                entry: raw.to_path_buf(),
                what,
                errno,
            }
        };
        if self.opts.chown {
            fchown(
                fd.as_raw_fd(),
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(md("owner"))?;
        }
        fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(meta.mode)).map_err(md("mode"))?;
        self.xattrs(entry, raw, |key, value| {
            rustix::fs::fsetxattr(fd, key, value, rustix::fs::XattrFlags::empty())
        })?;
        let t = TimeSpec::new(meta.mtime, 0);
        if entry.header().entry_type() != EntryType::Directory {
            futimens(fd.as_raw_fd(), &t, &t).map_err(md("mtime"))?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and mtime of `name` in `pfd`, never following it.
    fn finish_at<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        pfd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        symlink: bool,
    ) -> Result<(), ArchiveError> {
        let md = |what| {
            move |errno| ArchiveError::Metadata {
                entry: raw.to_path_buf(),
                what,
                errno,
            }
        };
        let p = Some(pfd.as_raw_fd());
        if self.opts.chown {
            fchownat(
                p,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(md("owner"))?;
        }
        if !symlink {
            // mknod applied the umask; a device or fifo cannot be a symlink, so following is moot.
            fchmodat(
                p,
                name,
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(md("mode"))?;
        }
        // lsetxattr through the parent's /proc entry: the last component is not followed.
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", pfd.as_raw_fd()));
        path.push(name);
        self.xattrs(entry, raw, |key, value| {
            match rustix::fs::lsetxattr(&path, key, value, rustix::fs::XattrFlags::empty()) {
                // The kernel allows user.* xattrs only on files and directories.
                Err(rustix::io::Errno::PERM) if key.starts_with("user.") => Ok(()),
                other => other,
            }
        })?;
        let t = TimeSpec::new(meta.mtime, 0);
        utimensat(p, name, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(md("mtime"))?;
        Ok(())
    }

    /// Sets the `SCHILY.xattr.*` PAX records of `entry` through `set`.
    fn xattrs<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        mut set: impl FnMut(&str, &[u8]) -> rustix::io::Result<()>,
    ) -> Result<(), ArchiveError> {
        let Some(pax) = entry.pax_extensions().map_err(bad_field(raw, "pax"))? else {
            return Ok(());
        };
        for ext in pax.flatten() {
            let Ok(key) = ext.key() else { continue };
            let Some(xname) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            if xname.starts_with("trusted.overlay.") {
                continue;
            }
            match set(xname, ext.value_bytes()) {
                Ok(()) | Err(rustix::io::Errno::NOTSUP) => {}
                Err(e) => {
                    return Err(ArchiveError::Xattr {
                        entry: raw.to_path_buf(),
                        name: xname.to_string(),
                        errno: errno_of_rustix(e),
                    })
                }
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, raw: &Path, parent: &Path, hidden: &OsStr) -> Result<(), ArchiveError> {
        let wh = |errno| ArchiveError::Whiteout {
            entry: raw.to_path_buf(),
            errno,
        };
        let pfd = self
            .root
            .dir(parent, true)
            .map_err(|errno| ArchiveError::Parent {
                entry: raw.to_path_buf(),
                errno,
            })?;
        let opaque = hidden.as_bytes() == &OPAQUE_MARKER.as_bytes()[WHITEOUT_PREFIX.len()..];
        match (self.opts.whiteouts, opaque) {
            (Whiteouts::Overlay, true) => rustix::fs::fsetxattr(
                &*pfd,
                OVERLAY_OPAQUE_XATTR,
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| wh(errno_of_rustix(e))),
            (Whiteouts::Overlay, false) => {
                self.replacing(raw, &pfd, hidden, |p| {
                    mknodat(
                        Some(p.as_raw_fd()),
                        hidden,
                        SFlag::S_IFCHR,
                        Mode::empty(),
                        makedev(0, 0),
                    )
                })?;
                Ok(())
            }
            (Whiteouts::Delete, true) => {
                self.root.invalidate();
                let unpacked = &self.unpacked;
                empty_dir(pfd.as_fd(), |child| unpacked.contains(&parent.join(child))).map_err(wh)
            }
            (Whiteouts::Delete, false) => {
                self.root.invalidate();
                remove_at(pfd.as_fd(), hidden).map_err(wh)
            }
        }
    }

    /// Sets directory mtimes, deepest last-listed first, once all entries are in place.
    fn set_dir_times(&mut self) -> Result<(), ArchiveError> {
        let root: Rc<OwnedFd> = self.root.fd();
        for (rel, mtime) in self.dir_times.iter().rev() {
            let fd = if rel.as_os_str().is_empty() {
                None
            } else {
                match berth_sys::mount::openat2(
                    root.as_fd(),
                    rel,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY,
                    Mode::empty(),
                    nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT
                        | nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS,
                ) {
                    Ok(fd) => Some(fd),
                    // Replaced or removed by a later entry: nothing to date.
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                    Err(errno) => {
                        return Err(ArchiveError::Metadata {
                            entry: rel.clone(),
                            what: "directory mtime",
                            errno,
                        })
                    }
                }
            };
            let raw_fd = fd.as_ref().map_or(root.as_raw_fd(), |f| f.as_raw_fd());
            let t = TimeSpec::new(*mtime, 0);
            futimens(raw_fd, &t, &t).map_err(|errno| ArchiveError::Metadata {
                entry: rel.clone(),
                what: "directory mtime",
                errno,
            })?;
        }
        Ok(())
    }
}
