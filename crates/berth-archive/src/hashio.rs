//! Readers and writers that hash (sha256) and count the bytes passing through.

use berth_oci::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

fn digest_of(hasher: Sha256) -> Digest {
    let hex = berth_oci::digest::hex_lower(&hasher.finalize());
    format!("sha256:{hex}")
        .parse()
        .expect("a sha256 hex string is a valid digest")
}

/// Hashes every byte read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    #[cfg(test)]
    pub(crate) fn new(inner: R) -> Self {
        HashingReader::with_hashing(inner, true)
    }

    /// A reader that hashes only when `hash` (it always counts).
    pub(crate) fn with_hashing(inner: R, hash: bool) -> Self {
        HashingReader {
            inner,
            hasher: hash.then(Sha256::new),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The digest (when hashing) and count of everything read.
    pub(crate) fn finish(self) -> (Option<Digest>, u64) {
        (self.hasher.map(digest_of), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes every byte written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the digest and the count of everything written.
    pub(crate) fn finish(self) -> (W, Digest, u64) {
        (self.inner, digest_of(self.hasher), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_both_ways() {
        let mut r = HashingReader::new(&b"hello"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(r.finish(), (Some(Digest::sha256_of(b"hello")), 5));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (v, d, n) = w.finish();
        assert_eq!(
            (v, d, n),
            (b"hello".to_vec(), Digest::sha256_of(b"hello"), 5)
        );
    }
}
