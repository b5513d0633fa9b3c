//! `write_layer`: a directory (or an overlay upper dir) to a deterministic layer tar stream.

use crate::compression::{Compression, Encoder};
use crate::error::ArchiveError;
use crate::hashio::HashingWriter;
use crate::{BUF_SIZE, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use berth_oci::Digest;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

/// What writing a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// sha256 of the uncompressed tar stream (the diffID).
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream.
    pub uncompressed_size: u64,
    /// sha256 of the bytes written to the writer (the blob digest).
    pub digest: Digest,
    /// Number of bytes written to the writer (the blob size).
    pub size: u64,
}

type Sink<W> = BufWriter<HashingWriter<Encoder<HashingWriter<W>>>>;

/// Writes `dir` as a layer tar to `writer`, compressed with `compression`.
///
/// The output is deterministic: entries in depth-first order with each directory's children
/// sorted by name, relative paths (directories end in `/`), GNU headers with mode, uid, gid and
/// mtime (whole seconds) kept, no atime/ctime and no user or group names; xattrs as sorted
/// `SCHILY.xattr.*` PAX records. Hardlinked files become one file and link entries. Overlay upper
/// dir conventions become OCI whiteouts: a 0:0 character device `x` becomes an empty file `.wh.x`,
/// a directory with `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry right after it
/// (other `trusted.overlay.*` xattrs are dropped). Sockets are skipped.
pub fn write_layer<W: Write>(
    dir: &Path,
    writer: W,
    compression: Compression,
) -> Result<WrittenLayer, ArchiveError> {
    let out_err = |source| ArchiveError::Output {
        path: dir.to_path_buf(),
        source,
    };
    let encoder = Encoder::new(HashingWriter::new(writer), compression).map_err(out_err)?;
    let sink: Sink<W> = BufWriter::with_capacity(BUF_SIZE, HashingWriter::new(encoder));
    let mut builder = tar::Builder::new(sink);
    let mut w = Walker {
        root: dir,
        links: HashMap::new(),
        xattr_names: vec![0; 4096],
        xattr_value: vec![0; 4096],
    };
    w.walk(&mut builder, dir, PathBuf::new())?;
    let sink = builder.into_inner().map_err(out_err)?;
    let hashing = sink.into_inner().map_err(|e| out_err(e.into_error()))?;
    let (encoder, diff_id, uncompressed_size) = hashing.finish();
    let (mut writer, digest, size) = encoder.finish().map_err(out_err)?.finish();
    writer.flush().map_err(out_err)?;
    Ok(WrittenLayer {
        diff_id,
        uncompressed_size,
        digest,
        size,
    })
}

struct Walker<'a> {
    root: &'a Path,
    /// (dev, ino) of files with several links -> the first path written.
    links: HashMap<(u64, u64), PathBuf>,
    xattr_names: Vec<u8>,
    xattr_value: Vec<u8>,
}

/// A reader that fails unless it yields exactly `left` bytes (a file changing under us would
/// otherwise corrupt the tar).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being written to the layer",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl Walker<'_> {
    fn src_err(&self, rel: &Path) -> impl FnOnce(io::Error) -> ArchiveError {
        let path = self.root.join(rel);
        move |source| ArchiveError::Source { path, source }
    }

    fn walk<W: Write>(
        &mut self,
        b: &mut tar::Builder<Sink<W>>,
        abs: &Path,
        rel: PathBuf,
    ) -> Result<(), ArchiveError> {
        let mut names: Vec<OsString> = fs::read_dir(abs)
            .map_err(self.src_err(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(self.src_err(&rel))?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let child_abs = abs.join(&name);
            let child_rel = rel.join(&name);
            let md = fs::symlink_metadata(&child_abs).map_err(self.src_err(&child_rel))?;
            let ft = md.file_type();
            if ft.is_dir() {
                let xattrs = self.xattrs(&child_abs, &child_rel)?;
                let opaque = xattrs
                    .iter()
                    .any(|(k, v)| k == OVERLAY_OPAQUE_XATTR && v.as_slice() == b"y");
                let mut name_slash = child_rel.clone().into_os_string().into_vec();
                name_slash.push(b'/');
                let path = PathBuf::from(OsString::from_vec(name_slash));
                self.append(b, &path, &md, EntryType::Directory, &xattrs, None)?;
                if opaque {
                    let marker = child_rel.join(OPAQUE_MARKER);
                    self.append_whiteout(b, &marker)?;
                }
                self.walk(b, &child_abs, child_rel)?;
            } else if ft.is_char_device() && md.rdev() == 0 {
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(&name);
                self.append_whiteout(b, &rel.join(wh))?;
            } else if ft.is_socket() {
                continue;
            } else {
                let xattrs = self.xattrs(&child_abs, &child_rel)?;
                let kind = if ft.is_file() {
                    EntryType::Regular
                } else if ft.is_symlink() {
                    EntryType::Symlink
                } else if ft.is_char_device() {
                    EntryType::Char
                } else if ft.is_block_device() {
                    EntryType::Block
                } else if ft.is_fifo() {
                    EntryType::Fifo
                } else {
                    return Err(ArchiveError::SourceType { path: child_abs });
                };
                if kind == EntryType::Regular && md.nlink() > 1 {
                    let key = (md.dev(), md.ino());
                    if let Some(first) = self.links.get(&key).cloned() {
                        self.append(b, &child_rel, &md, EntryType::Link, &xattrs, Some(&first))?;
                        continue;
                    }
                    self.links.insert(key, child_rel.clone());
                }
                let target = if kind == EntryType::Symlink {
                    Some(fs::read_link(&child_abs).map_err(self.src_err(&child_rel))?)
                } else {
                    None
                };
                self.append(b, &child_rel, &md, kind, &xattrs, target.as_deref())?;
            }
        }
        Ok(())
    }

    /// Sorted xattrs of `abs` (not followed), without overlayfs' private ones except `opaque`.
    fn xattrs(&mut self, abs: &Path, rel: &Path) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
        let err = |e: rustix::io::Errno| ArchiveError::Source {
            path: self.root.join(rel),
            source: io::Error::from_raw_os_error(e.raw_os_error()),
        };
        let n = loop {
            match rustix::fs::llistxattr(abs, &mut self.xattr_names[..]) {
                Ok(n) => break n,
                Err(rustix::io::Errno::RANGE) => {
                    let need: usize =
                        rustix::fs::llistxattr(abs, &mut [0u8; 0][..]).map_err(err)?;
                    self.xattr_names
                        .resize(need.max(self.xattr_names.len() * 2), 0);
                }
                Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
                Err(e) => return Err(err(e)),
            }
        };
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for raw in self.xattr_names[..n].split(|&c| c == 0) {
            let Ok(key) = std::str::from_utf8(raw) else {
                continue;
            };
            if key.is_empty()
                || (key.starts_with("trusted.overlay.") && key != OVERLAY_OPAQUE_XATTR)
            {
                continue;
            }
            let len = loop {
                match rustix::fs::lgetxattr(abs, key, &mut self.xattr_value[..]) {
                    Ok(len) => break len,
                    Err(rustix::io::Errno::RANGE) => {
                        let need: usize =
                            rustix::fs::lgetxattr(abs, key, &mut [0u8; 0][..]).map_err(err)?;
                        self.xattr_value
                            .resize(need.max(self.xattr_value.len() * 2), 0);
                    }
                    Err(rustix::io::Errno::NODATA) => break usize::MAX,
                    Err(e) => return Err(err(e)),
                }
            };
            if len != usize::MAX {
                out.push((key.to_string(), self.xattr_value[..len].to_vec()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn append_whiteout<W: Write>(
        &mut self,
        b: &mut tar::Builder<Sink<W>>,
        path: &Path,
    ) -> Result<(), ArchiveError> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, io::empty())
            .map_err(|source| ArchiveError::Output {
                path: path.to_path_buf(),
                source,
            })
    }

    fn append<W: Write>(
        &mut self,
        b: &mut tar::Builder<Sink<W>>,
        rel: &Path,
        md: &Metadata,
        kind: EntryType,
        xattrs: &[(String, Vec<u8>)],
        link: Option<&Path>,
    ) -> Result<(), ArchiveError> {
        let out = |source| ArchiveError::Output {
            path: rel.to_path_buf(),
            source,
        };
        let xattrs: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter(|(k, _)| k != OVERLAY_OPAQUE_XATTR)
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        if !xattrs.is_empty() {
            b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(out)?;
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        if matches!(kind, EntryType::Char | EntryType::Block | EntryType::Fifo) {
            let dev = md.rdev();
            h.set_device_major(nix::sys::stat::major(dev) as u32)
                .map_err(out)?;
            h.set_device_minor(nix::sys::stat::minor(dev) as u32)
                .map_err(out)?;
        }
        match (kind, link) {
            (EntryType::Regular, _) => {
                h.set_size(md.len());
                let abs = self.root.join(rel);
                let file = File::options()
                    .read(true)
                    .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                    .open(&abs)
                    .map_err(self.src_err(rel))?;
                let data = Exact {
                    inner: file,
                    left: md.len(),
                };
                b.append_data(&mut h, rel, data).map_err(out)
            }
            (_, Some(target)) => b.append_link(&mut h, rel, target).map_err(out),
            _ => b.append_data(&mut h, rel, io::empty()).map_err(out),
        }
    }
}
