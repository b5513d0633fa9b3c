//! berth-content: a content-addressed blob store.
//!
//! Blobs live at `blobs/sha256/<hex>` (the OCI image-layout shape). Writes go through an *ingest*
//! named by a caller-chosen ref under `ingest/`: the writer hashes while streaming, and
//! [`Writer::commit`] checks size and digest, fsyncs, renames the data into `blobs/` and fsyncs the
//! directory, so a crash never leaves a partial blob visible. An interrupted ingest resumes from
//! the bytes on disk when a writer is opened again with the same ref.
//!
//! [`Content`] is the object-safe interface; [`ContentStore`] its on-disk implementation;
//! [`conformance`] the test suite every implementation runs.
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod conformance;
pub mod error;
mod fsutil;
mod ingest;
mod store;
pub mod verify;

pub use error::{ContentError, Result};
pub use ingest::{IngestStatus, Writer};
pub use store::{ContentStore, Info};

use berth_oci::Digest;
use std::io::{Read, Seek, Write};

/// A readable, seekable blob.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A writer for one ingest (see [`ContentStore::writer`]).
pub trait IngestWriter: Write + Send {
    /// The ref this writer holds.
    fn reference(&self) -> &str;
    /// Bytes written so far, including those found when resuming.
    fn offset(&self) -> u64;
    /// The digest of the bytes written so far.
    fn digest(&self) -> Digest;
    /// Streams all of `src` into the ingest with one large buffer; returns the bytes copied.
    fn copy_from(&mut self, src: &mut dyn Read) -> std::io::Result<u64>;
    /// Verifies and publishes the blob; an existing identical blob is success.
    fn commit(self: Box<Self>) -> Result<Digest>;
    /// Like `commit`, with the digest and size learned only now.
    fn commit_expecting(self: Box<Self>, digest: Digest, size: u64) -> Result<Digest>;
}

impl IngestWriter for Writer {
    fn reference(&self) -> &str {
        Writer::reference(self)
    }
    fn offset(&self) -> u64 {
        Writer::offset(self)
    }
    fn digest(&self) -> Digest {
        Writer::digest(self)
    }
    fn copy_from(&mut self, src: &mut dyn Read) -> std::io::Result<u64> {
        Writer::copy_from(self, src)
    }
    fn commit(self: Box<Self>) -> Result<Digest> {
        Writer::commit(*self)
    }
    fn commit_expecting(self: Box<Self>, digest: Digest, size: u64) -> Result<Digest> {
        Writer::commit_expecting(*self, digest, size)
    }
}

/// A content store: blobs by digest plus resumable ingests.
pub trait Content: Send + Sync {
    /// Size of a stored blob; `NotFound` if absent.
    fn info(&self, digest: &Digest) -> Result<Info>;
    /// Whether a blob is stored.
    fn exists(&self, digest: &Digest) -> Result<bool>;
    /// Opens a blob for reading without verification.
    fn read(&self, digest: &Digest) -> Result<Box<dyn ReadSeek>>;
    /// Opens a blob for a sequential read that fails at end of file on a digest mismatch.
    fn read_verified(&self, digest: &Digest) -> Result<Box<dyn Read + Send>>;
    /// Removes a blob; `NotFound` if absent.
    fn delete(&self, digest: &Digest) -> Result<()>;
    /// Every stored blob, sorted by digest.
    fn list(&self) -> Result<Vec<Info>>;
    /// Opens or resumes the ingest `reference` (one writer per ref at a time).
    fn writer(
        &self,
        reference: &str,
        expected: Option<(Digest, u64)>,
    ) -> Result<Box<dyn IngestWriter>>;
    /// Discards an ingest.
    fn abort(&self, reference: &str) -> Result<()>;
    /// Ingests present on disk.
    fn ingests(&self) -> Result<Vec<IngestStatus>>;
}

impl Content for ContentStore {
    fn info(&self, digest: &Digest) -> Result<Info> {
        ContentStore::info(self, digest)
    }
    fn exists(&self, digest: &Digest) -> Result<bool> {
        ContentStore::exists(self, digest)
    }
    fn read(&self, digest: &Digest) -> Result<Box<dyn ReadSeek>> {
        Ok(Box::new(ContentStore::read(self, digest)?))
    }
    fn read_verified(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(ContentStore::read_verified(self, digest)?))
    }
    fn delete(&self, digest: &Digest) -> Result<()> {
        ContentStore::delete(self, digest)
    }
    fn list(&self) -> Result<Vec<Info>> {
        ContentStore::list(self)
    }
    fn writer(
        &self,
        reference: &str,
        expected: Option<(Digest, u64)>,
    ) -> Result<Box<dyn IngestWriter>> {
        Ok(Box::new(ContentStore::writer(self, reference, expected)?))
    }
    fn abort(&self, reference: &str) -> Result<()> {
        ContentStore::abort(self, reference)
    }
    fn ingests(&self) -> Result<Vec<IngestStatus>> {
        ContentStore::ingests(self)
    }
}
