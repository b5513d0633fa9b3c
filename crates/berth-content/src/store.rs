//! The local content store: `blobs/<alg>/<hex>` and `ingest/` under one root directory.

use crate::error::{ContentError, Result};
use crate::fsutil::{create_dir_durable, sync_dir};
use crate::ingest::{lock_ingest, read_expected, remove_ingest, IngestPaths, IngestStatus, Writer};
use crate::verify::VerifiedReader;
use berth_oci::Digest;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// What the store knows about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A content-addressed blob store rooted at a directory (OCI image-layout shape for `blobs/`).
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens the store at `root`, creating `blobs/sha256` and `ingest` if missing.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs");
        let ingest = root.join("ingest");
        for dir in [blobs.join("sha256"), ingest.clone()] {
            create_dir_durable(&dir).map_err(|source| ContentError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(ContentStore {
            root: root.into(),
            blobs,
            ingest,
        })
    }

    /// The root directory of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.algorithm()).join(digest.hex())
    }

    /// Size of the blob `digest`; `NotFound` if it is not stored.
    pub fn info(&self, digest: &Digest) -> Result<Info> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Info {
                digest: digest.clone(),
                size: m.len(),
            }),
            Ok(_) => Err(ContentError::NotFound {
                digest: digest.clone(),
                path,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound {
                digest: digest.clone(),
                path,
            }),
            Err(source) => Err(ContentError::Stat {
                digest: digest.clone(),
                path,
                source,
            }),
        }
    }

    /// Whether the blob `digest` is stored.
    pub fn exists(&self, digest: &Digest) -> Result<bool> {
        match self.info(digest) {
            Ok(_) => Ok(true),
            Err(ContentError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Opens the blob `digest` for reading and seeking, without verification.
    pub fn read(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                ContentError::NotFound {
                    digest: digest.clone(),
                    path,
                }
            } else {
                ContentError::Open {
                    digest: digest.clone(),
                    path,
                    source,
                }
            }
        })
    }

    /// Opens the blob `digest` for a sequential read that fails with `InvalidData` at end of file
    /// if the content does not hash to `digest`.
    pub fn read_verified(&self, digest: &Digest) -> Result<VerifiedReader<File>> {
        Ok(VerifiedReader::new(self.read(digest)?, digest.clone()))
    }

    /// Removes the blob `digest` durably; `NotFound` if it is not stored.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::NotFound {
                    digest: digest.clone(),
                    path,
                })
            }
            Err(source) => {
                return Err(ContentError::Delete {
                    digest: digest.clone(),
                    path,
                    source,
                })
            }
        }
        let dir = self.blobs.join(digest.algorithm());
        sync_dir(&dir).map_err(|source| ContentError::Delete {
            digest: digest.clone(),
            path: dir,
            source,
        })
    }

    /// Every stored blob, sorted by digest. Entries whose names are not digests are skipped.
    pub fn list(&self) -> Result<Vec<Info>> {
        let list_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ContentError::List { path, source }
        };
        let mut out = Vec::new();
        for alg in fs::read_dir(&self.blobs).map_err(list_err(&self.blobs))? {
            let alg = alg.map_err(list_err(&self.blobs))?;
            let alg_path = alg.path();
            if !alg_path.is_dir() {
                continue;
            }
            let alg_name = alg.file_name().to_string_lossy().into_owned();
            for entry in fs::read_dir(&alg_path).map_err(list_err(&alg_path))? {
                let entry = entry.map_err(list_err(&alg_path))?;
                let Ok(digest) =
                    format!("{alg_name}:{}", entry.file_name().to_string_lossy()).parse::<Digest>()
                else {
                    continue;
                };
                match entry.metadata() {
                    Ok(m) if m.is_file() => out.push(Info {
                        digest,
                        size: m.len(),
                    }),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(ContentError::List {
                            path: entry.path(),
                            source,
                        })
                    }
                }
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Opens a writer for the ingest `reference`, resuming from the bytes already written under
    /// that ref. `expected` (sha256 digest and size) is recorded with the ingest and checked at
    /// commit; a resumed ingest keeps its recorded expectation and refuses a different one.
    /// Only one writer per ref at a time: a second gets an `Unavailable` error.
    pub fn writer(&self, reference: &str, expected: Option<(Digest, u64)>) -> Result<Writer> {
        Writer::open(&self.ingest, &self.blobs, reference, expected)
    }

    /// Discards the ingest `reference`; fails with `Unavailable` while a writer holds it.
    pub fn abort(&self, reference: &str) -> Result<()> {
        let paths = IngestPaths::new(&self.ingest, reference)?;
        let Some(_lock) = lock_ingest(&paths, reference, false)? else {
            return Err(ContentError::IngestNotFound {
                reference: reference.into(),
            });
        };
        remove_ingest(&self.ingest, &paths, reference)
    }

    /// The ingests on disk (live or left by a crash), sorted by ref.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>> {
        let list_err = |source| ContentError::List {
            path: self.ingest.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.ingest).map_err(list_err)? {
            let dir = entry.map_err(list_err)?.path();
            let Ok(reference) = fs::read_to_string(dir.join("ref")) else {
                continue;
            };
            let Ok(paths) = IngestPaths::new(&self.ingest, &reference) else {
                continue;
            };
            if paths.dir != dir {
                continue;
            }
            let offset = fs::metadata(paths.data()).map(|m| m.len()).unwrap_or(0);
            let expected = read_expected(&paths, &reference)?;
            out.push(IngestStatus {
                reference,
                offset,
                expected,
            });
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn published_blobs_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut w = store.writer("ro", None).unwrap();
        w.write_all(b"ro").unwrap();
        let d = w.commit().unwrap();
        let mode = fs::metadata(store.blob_path(&d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
    }

    #[test]
    fn resumes_data_left_read_only_by_a_crash_in_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut w = store.writer("half", None).unwrap();
        w.write_all(b"ab").unwrap();
        drop(w);
        let paths = IngestPaths::new(&dir.path().join("ingest"), "half").unwrap();
        fs::set_permissions(paths.data(), fs::Permissions::from_mode(0o444)).unwrap();
        let mut w = store.writer("half", None).unwrap();
        assert_eq!(w.offset(), 2);
        w.write_all(b"cd").unwrap();
        assert_eq!(w.commit().unwrap(), Digest::sha256_of(b"abcd"));
    }

    #[test]
    fn list_skips_foreign_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"x").unwrap();
        fs::write(dir.path().join("blobs/stray-file"), b"x").unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn refs_with_any_characters() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let reference = "../../etc/passwd\n\u{0}x";
        let mut w = store.writer(reference, None).unwrap();
        w.write_all(b"z").unwrap();
        drop(w);
        assert_eq!(store.ingests().unwrap()[0].reference, reference);
        store.abort(reference).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "only blobs/ and ingest/"
        );
    }
}
