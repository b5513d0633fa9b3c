//! Ingests: partial writes under `ingest/<key>/`, one writer per ref (flock), resumable, committed by
//! verify -> fsync -> rename into `blobs/sha256/<hex>` -> fsync(dir).
//!
//! An ingest directory holds `ref` (the caller's name), `expected` (`<digest> <size>`, optional),
//! `data` (the bytes so far) and `lock` (flocked by the live writer). Its name is the sha256 of the
//! ref, so refs may contain any character.

use crate::error::{ContentError, Result};
use crate::fsutil::{create_dir_durable, sync_dir, write_atomic};
use crate::verify::Hasher;
use berth_oci::digest::hex_lower;
use berth_oci::Digest;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Buffer size for streaming writes and for re-hashing partial data.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Where an ingest lives, derived from its ref.
pub(crate) struct IngestPaths {
    pub dir: PathBuf,
}

impl IngestPaths {
    pub fn new(ingest_root: &Path, reference: &str) -> Result<Self> {
        if reference.is_empty() || reference.len() > 4096 {
            return Err(ContentError::InvalidRef {
                reference: reference.into(),
            });
        }
        let key = hex_lower(&Sha256::digest(reference.as_bytes()));
        Ok(IngestPaths {
            dir: ingest_root.join(key),
        })
    }
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn expected(&self) -> PathBuf {
        self.dir.join("expected")
    }
    pub fn reference(&self) -> PathBuf {
        self.dir.join("ref")
    }
}

/// The state of an ingest on disk, as listed by [`crate::ContentStore::ingests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    /// The caller's name for the ingest.
    pub reference: String,
    /// Bytes written so far (a resumed writer continues from here).
    pub offset: u64,
    /// The digest and size the ingest was started with, if any.
    pub expected: Option<(Digest, u64)>,
}

/// Reads the `expected` sidecar: `None` when absent.
pub(crate) fn read_expected(paths: &IngestPaths, reference: &str) -> Result<Option<(Digest, u64)>> {
    let path = paths.expected();
    let content = match fs::read_to_string(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ContentError::Sidecar {
                reference: reference.into(),
                path,
                source,
            })
        }
    };
    let malformed = || ContentError::SidecarMalformed {
        reference: reference.into(),
        path: paths.expected(),
        content: content.clone(),
    };
    let (d, s) = content.trim().split_once(' ').ok_or_else(malformed)?;
    let digest = d.parse().map_err(|_| malformed())?;
    let size = s.parse().map_err(|_| malformed())?;
    Ok(Some((digest, size)))
}

/// Takes the ingest's lock without blocking, creating the directory if `create`.
/// Returns `Ok(None)` when the directory does not exist and `create` is false.
pub(crate) fn lock_ingest(
    paths: &IngestPaths,
    reference: &str,
    create: bool,
) -> Result<Option<Flock<File>>> {
    let lock_path = paths.lock();
    loop {
        if create {
            create_dir_durable(&paths.dir).map_err(|source| ContentError::IngestOpen {
                reference: reference.into(),
                path: paths.dir.clone(),
                source,
            })?;
        } else if !paths.dir.is_dir() {
            return Ok(None);
        }
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
        {
            Ok(f) => f,
            // The directory vanished under us (a concurrent abort or commit): start over.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ContentError::IngestOpen {
                    reference: reference.into(),
                    path: lock_path,
                    source,
                })
            }
        };
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(ContentError::Locked {
                    reference: reference.into(),
                    path: lock_path,
                })
            }
            Err((_, source)) => {
                return Err(ContentError::Lock {
                    reference: reference.into(),
                    path: lock_path,
                    source,
                })
            }
        };
        // The lock is only ours if the file we locked is still the one at the path: a writer that
        // committed or an abort may have removed the directory between our open and our flock.
        let ours = lock.metadata().map(|m| (m.dev(), m.ino()));
        let current = fs::metadata(&lock_path).map(|m| (m.dev(), m.ino()));
        match (ours, current) {
            (Ok(a), Ok(b)) if a == b => return Ok(Some(lock)),
            _ => continue,
        }
    }
}

/// Removes an ingest directory (the caller holds its lock) and syncs the ingest root.
pub(crate) fn remove_ingest(
    ingest_root: &Path,
    paths: &IngestPaths,
    reference: &str,
) -> Result<()> {
    let cleanup = |source| ContentError::Cleanup {
        reference: reference.into(),
        path: paths.dir.clone(),
        source,
    };
    match fs::remove_dir_all(&paths.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(cleanup(e)),
    }
    sync_dir(ingest_root).map_err(cleanup)
}

/// A writer for one ingest: hashes while streaming, and commits into the blob store.
/// Dropping it without [`Writer::commit`] keeps the partial data for a later resume.
pub struct Writer {
    reference: String,
    paths: IngestPaths,
    ingest_root: PathBuf,
    blobs_root: PathBuf,
    file: BufWriter<File>,
    hasher: Hasher,
    offset: u64,
    expected: Option<(Digest, u64)>,
    poisoned: bool,
    /// Bytes already handed to writeback (see [`WRITEBACK_STEP`]).
    writeback_from: u64,
    /// Whether to start writeback as the ingest grows (off for unsynced commits).
    early_writeback: bool,
    _lock: Flock<File>,
}

/// Writeback of a growing ingest starts every this many bytes, so the fsync at commit waits for
/// the tail only instead of the whole blob.
const WRITEBACK_STEP: u64 = 8 << 20;

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("reference", &self.reference)
            .field("offset", &self.offset)
            .field("expected", &self.expected)
            .finish()
    }
}

impl Writer {
    /// Opens (or resumes) the ingest `reference`. See [`crate::ContentStore::writer`].
    pub(crate) fn open(
        ingest_root: &Path,
        blobs_root: &Path,
        reference: &str,
        expected: Option<(Digest, u64)>,
    ) -> Result<Writer> {
        let paths = IngestPaths::new(ingest_root, reference)?;
        if let Some((d, _)) = &expected {
            if d.algorithm() != "sha256" {
                return Err(ContentError::UnsupportedAlgorithm {
                    reference: reference.into(),
                    digest: d.clone(),
                });
            }
        }
        let lock = lock_ingest(&paths, reference, true)?.expect("created");
        let sidecar_err = |path: PathBuf| {
            let reference = reference.to_string();
            move |source| ContentError::Sidecar {
                reference,
                path,
                source,
            }
        };
        if !paths.reference().exists() {
            write_atomic(&paths.reference(), reference.as_bytes())
                .map_err(sidecar_err(paths.reference()))?;
        }
        let expected = match (read_expected(&paths, reference)?, expected) {
            (Some((ed, es)), Some((rd, rs))) if ed != rd || es != rs => {
                return Err(ContentError::ExpectedConflict {
                    reference: reference.into(),
                    existing: format!("{ed} ({es} bytes)"),
                    requested: format!("{rd} ({rs} bytes)"),
                })
            }
            (Some(e), _) => Some(e),
            (None, Some((d, s))) => {
                write_atomic(&paths.expected(), format!("{d} {s}\n").as_bytes())
                    .map_err(sidecar_err(paths.expected()))?;
                Some((d, s))
            }
            (None, None) => None,
        };
        let data_path = paths.data();
        // A crash inside `commit` can leave the data already made read-only (0444) for
        // publishing; make it writable again so that an unprivileged writer can resume.
        if let Ok(m) = fs::metadata(&data_path) {
            if m.permissions().mode() & 0o200 == 0 {
                fs::set_permissions(&data_path, fs::Permissions::from_mode(0o644)).map_err(
                    |source| ContentError::IngestOpen {
                        reference: reference.into(),
                        path: data_path.clone(),
                        source,
                    },
                )?;
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(|source| ContentError::IngestOpen {
                reference: reference.into(),
                path: data_path.clone(),
                source,
            })?;
        // Restore the hash state from the bytes already on disk; the read leaves the file
        // position at the end, where writing continues.
        let mut hasher = Hasher::sha256();
        let mut offset = 0u64;
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ContentError::Rehash {
                        reference: reference.into(),
                        path: data_path,
                        source,
                    })
                }
            };
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        Ok(Writer {
            reference: reference.into(),
            paths,
            ingest_root: ingest_root.into(),
            blobs_root: blobs_root.into(),
            file: BufWriter::with_capacity(BUF_SIZE, file),
            hasher,
            offset,
            expected,
            poisoned: false,
            writeback_from: offset,
            early_writeback: true,
            _lock: lock,
        })
    }

    /// The ref this writer holds.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Bytes accepted so far, including those found on disk when resuming.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Flushes the buffer and lets the kernel start writing the bytes since the last call
    /// (best effort: a failure here resurfaces at the fsync of commit).
    fn start_writeback(&mut self) {
        if self.file.flush().is_err() {
            return;
        }
        let fd = self.file.get_ref().as_fd();
        let len = self.offset - self.writeback_from;
        let _ = berth_sys::fd::start_writeback(fd, self.writeback_from, len);
        self.writeback_from = self.offset;
    }

    /// The digest of the bytes accepted so far (of the whole blob once everything is written),
    /// known before [`Writer::commit`] publishes it.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// The digest and size this ingest must match at commit, if known.
    pub fn expected(&self) -> Option<&(Digest, u64)> {
        self.expected.as_ref()
    }

    /// Streams all of `src` into the ingest through one reusable 1 MiB buffer; returns the bytes copied.
    pub fn copy_from(&mut self, src: &mut dyn Read) -> io::Result<u64> {
        let mut buf = vec![0u8; BUF_SIZE];
        let mut total = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Commits against a digest and size learned only at the end of the upload (e.g. a registry
    /// `PUT ...?digest=`). Fails with `ExpectedConflict` if the ingest was started expecting other
    /// values, otherwise behaves like [`Writer::commit`] with these expectations.
    pub fn commit_expecting(mut self, digest: Digest, size: u64) -> Result<Digest> {
        if digest.algorithm() != "sha256" {
            return Err(ContentError::UnsupportedAlgorithm {
                reference: self.reference.clone(),
                digest,
            });
        }
        if let Some((ed, es)) = &self.expected {
            if *ed != digest || *es != size {
                return Err(ContentError::ExpectedConflict {
                    reference: self.reference.clone(),
                    existing: format!("{ed} ({es} bytes)"),
                    requested: format!("{digest} ({size} bytes)"),
                });
            }
        }
        self.expected = Some((digest, size));
        self.commit()
    }

    /// Verifies size and digest, makes the data durable and moves it to `blobs/sha256/<hex>`.
    ///
    /// A blob that already exists is not an error: the ingest is discarded and its digest returned.
    /// Too few bytes keep the ingest for a resume; too many bytes or a wrong digest discard it.
    pub fn commit(self) -> Result<Digest> {
        self.commit_inner(true)
    }

    /// Announces that this ingest will end with [`Writer::commit_unsynced`]: no writeback is
    /// started while it grows. (Started writeback gives the data blocks to the filesystem's
    /// journal, and on ext4 every later fsync of anything, however small, then waits for them.)
    pub fn defer_sync(&mut self) {
        self.early_writeback = false;
    }

    /// Like [`Writer::commit`] without the fsyncs: the blob is published atomically (never
    /// partial while the machine stays up) but may be lost or torn by a power cut. For callers
    /// that record the write as unsynced and either `syncfs` later or verify after a reboot
    /// (berth-image's load does).
    pub fn commit_unsynced(self) -> Result<Digest> {
        self.commit_inner(false)
    }

    fn commit_inner(mut self, durable: bool) -> Result<Digest> {
        let reference = self.reference.clone();
        if self.poisoned {
            return Err(ContentError::Poisoned { reference });
        }
        let data_path = self.paths.data();
        let sync_err = |path: &Path| {
            let reference = reference.clone();
            let path = path.to_path_buf();
            move |source| ContentError::Sync {
                reference,
                path,
                source,
            }
        };
        self.file.flush().map_err(sync_err(&data_path))?;
        let actual = self.hasher.digest();
        if let Some((want, size)) = &self.expected {
            if self.offset != *size {
                if self.offset > *size {
                    remove_ingest(&self.ingest_root, &self.paths, &reference)?;
                }
                return Err(ContentError::SizeMismatch {
                    reference,
                    expected_digest: want.clone(),
                    expected: *size,
                    actual: self.offset,
                });
            }
            if *want != actual {
                remove_ingest(&self.ingest_root, &self.paths, &reference)?;
                return Err(ContentError::DigestMismatch {
                    reference,
                    expected: want.clone(),
                    actual,
                });
            }
        }
        let dir = self.blobs_root.join(actual.algorithm());
        let target = dir.join(actual.hex());
        if target.symlink_metadata().is_ok() {
            remove_ingest(&self.ingest_root, &self.paths, &reference)?;
            return Ok(actual);
        }
        let file = self.file.get_ref();
        if durable {
            file.sync_all().map_err(sync_err(&data_path))?;
        }
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(sync_err(&data_path))?;
        create_dir_durable(&dir).map_err(sync_err(&dir))?;
        fs::rename(&data_path, &target).map_err(|source| ContentError::Rename {
            reference: reference.clone(),
            from: data_path.clone(),
            to: target.clone(),
            source,
        })?;
        if durable {
            sync_dir(&dir).map_err(sync_err(&dir))?;
        }
        // The blob is published (and durable when asked); a leftover ingest directory is harmless (a later writer with
        // the same ref starts empty, and `abort` or a store check removes it), so the commit
        // succeeds even if this cleanup fails.
        let _ = remove_ingest(&self.ingest_root, &self.paths, &reference);
        Ok(actual)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other(format!(
                "ingest {:?}: writer failed earlier",
                self.reference
            )));
        }
        match self.file.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.offset += n as u64;
                if self.early_writeback && self.offset - self.writeback_from >= WRITEBACK_STEP {
                    self.start_writeback();
                }
                Ok(n)
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().inspect_err(|_| self.poisoned = true)
    }
}
