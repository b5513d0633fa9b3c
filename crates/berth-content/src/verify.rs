//! Hashing by algorithm name and a reader that checks a digest when it reaches the end.

use berth_oci::digest::hex_lower;
use berth_oci::Digest;
use sha2::{Digest as _, Sha256, Sha512};
use std::io::{self, Read};

/// A running hash for one of the algorithms a [`Digest`] can name.
#[derive(Clone)]
pub enum Hasher {
    /// sha256, the only algorithm the store writes.
    Sha256(Sha256),
    /// sha512, accepted for verifying reads.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh sha256 hasher.
    pub fn sha256() -> Hasher {
        Hasher::Sha256(Sha256::new())
    }

    /// A fresh hasher for the algorithm of `digest` (parsing already limits it to sha256/sha512).
    pub fn for_digest(digest: &Digest) -> Hasher {
        match digest.algorithm() {
            "sha512" => Hasher::Sha512(Sha512::new()),
            _ => Hasher::sha256(),
        }
    }

    /// Feeds `data` into the hash.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far (the hasher itself is left untouched).
    pub fn digest(&self) -> Digest {
        let (alg, hex) = match self {
            Hasher::Sha256(h) => ("sha256", hex_lower(&h.clone().finalize())),
            Hasher::Sha512(h) => ("sha512", hex_lower(&h.clone().finalize())),
        };
        format!("{alg}:{hex}")
            .parse()
            .expect("a freshly computed digest is well formed")
    }
}

/// Wraps a reader, hashes everything read, and at end of file fails with `InvalidData` if the
/// content does not hash to the expected digest. Callers must read to EOF to get the check.
pub struct VerifiedReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Digest,
    checked: bool,
}

impl<R: Read> VerifiedReader<R> {
    /// Verifies `inner` against `expected`.
    pub fn new(inner: R, expected: Digest) -> Self {
        VerifiedReader {
            inner,
            hasher: Hasher::for_digest(&expected),
            expected,
            checked: false,
        }
    }
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.checked {
            let actual = self.hasher.digest();
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob content does not match its digest: expected {}, got {actual}",
                        self.expected
                    ),
                ));
            }
            self.checked = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_mismatch_at_eof() {
        let good = Digest::sha256_of(b"hello");
        let mut out = Vec::new();
        VerifiedReader::new(&b"hello"[..], good.clone())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        let err = VerifiedReader::new(&b"hellp"[..], good.clone())
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains(&good.to_string()));
    }

    #[test]
    fn sha512() {
        let d: Digest = format!("sha512:{}", hex_lower(&Sha512::digest(b"abc")))
            .parse()
            .unwrap();
        let mut h = Hasher::for_digest(&d);
        h.update(b"abc");
        assert_eq!(h.digest(), d);
    }
}
