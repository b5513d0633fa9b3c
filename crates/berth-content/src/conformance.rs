//! The conformance suite every [`Content`] implementation runs:
//! `berth_content::conformance::run_all(&|| my_fixture())` from a `#[test]`.
//!
//! Each check gets a fresh, empty store from the factory. Failures panic with the check's name.

use crate::{Content, ContentError, ContentStore};
use berth_oci::{Classify, Digest, ErrorClass};
use std::any::Any;
use std::io::{Read, Seek, SeekFrom, Write};

/// A fresh store plus what the suite needs to reach behind the interface.
pub struct Fixture {
    /// The store under test, empty.
    pub store: Box<dyn Content>,
    /// Flips one byte of the stored blob `digest` in place (keeping its size).
    pub corrupt: Box<dyn Fn(&Digest)>,
    /// Kept alive for the fixture's lifetime (e.g. a temp dir).
    pub guard: Box<dyn Any>,
}

/// The fixture for [`ContentStore`] in a fresh temp dir.
pub fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ContentStore::open(dir.path()).expect("open store");
    let root = store.clone();
    Fixture {
        store: Box::new(store),
        corrupt: Box::new(move |d: &Digest| {
            let path = root.blob_path(d);
            let mut data = std::fs::read(&path).expect("read blob to corrupt");
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
            let mut perm = std::fs::metadata(&path).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&path, perm).unwrap();
            std::fs::write(&path, data).expect("write corrupted blob");
        }),
        guard: Box::new(dir),
    }
}

/// One check of the suite.
pub type Check = fn(&Fixture);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("round_trip", round_trip),
    ("empty_blob", empty_blob),
    ("wrong_digest_rejected", wrong_digest_rejected),
    ("wrong_size_rejected", wrong_size_rejected),
    ("resume_after_partial_write", resume_after_partial_write),
    ("concurrent_writer_refused", concurrent_writer_refused),
    (
        "commit_existing_is_idempotent",
        commit_existing_is_idempotent,
    ),
    ("delete", delete),
    ("list", list),
    ("abort", abort),
    (
        "read_verified_detects_corruption",
        read_verified_detects_corruption,
    ),
    (
        "unsupported_algorithm_refused",
        unsupported_algorithm_refused,
    ),
];

/// Runs every check, each on a fresh fixture from `make`.
pub fn run_all(make: &dyn Fn() -> Fixture) {
    for (name, check) in CHECKS {
        eprintln!("content conformance: {name}");
        check(&make());
    }
}

/// Deterministic test data of `len` bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + seed as u64 * 7 + (i as u64 >> 10)) as u8)
        .collect()
}

fn put(store: &dyn Content, reference: &str, data: &[u8], expected: bool) -> Digest {
    let exp = expected.then(|| (Digest::sha256_of(data), data.len() as u64));
    let mut w = store.writer(reference, exp).expect("open writer");
    w.write_all(data).expect("write");
    w.commit().expect("commit")
}

fn read_all(store: &dyn Content, d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .read(d)
        .expect("read")
        .read_to_end(&mut out)
        .expect("read data");
    out
}

fn class<T>(r: Result<T, ContentError>) -> ErrorClass {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.class(),
    }
}

/// Write, commit, read back (plain, seeking and verified), info and exists.
pub fn round_trip(f: &Fixture) {
    let s = &*f.store;
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    let d = put(s, "rt", &data, true);
    assert_eq!(d, Digest::sha256_of(&data));
    assert!(s.exists(&d).unwrap());
    assert_eq!(s.info(&d).unwrap().size, data.len() as u64);
    assert_eq!(read_all(s, &d), data);
    let mut r = s.read(&d).unwrap();
    r.seek(SeekFrom::Start(1000)).unwrap();
    let mut buf = [0u8; 10];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, &data[1000..1010]);
    let mut v = Vec::new();
    s.read_verified(&d).unwrap().read_to_end(&mut v).unwrap();
    assert_eq!(v, data);
    // Without an expected digest the commit computes it.
    let d2 = put(s, "rt2", b"no expectations", false);
    assert_eq!(d2, Digest::sha256_of(b"no expectations"));
    assert!(
        s.ingests().unwrap().is_empty(),
        "committed ingests are gone"
    );
}

/// The empty blob is a valid blob.
pub fn empty_blob(f: &Fixture) {
    let s = &*f.store;
    let d = put(s, "empty", b"", true);
    assert_eq!(s.info(&d).unwrap().size, 0);
    assert!(read_all(s, &d).is_empty());
}

/// A wrong digest fails the commit, names both digests, and publishes nothing.
pub fn wrong_digest_rejected(f: &Fixture) {
    let s = &*f.store;
    let claimed = Digest::sha256_of(b"something else");
    let mut w = s.writer("bad-digest", Some((claimed.clone(), 5))).unwrap();
    w.write_all(b"hello").unwrap();
    let err = w.commit().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ContentError::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&claimed.to_string())
            && msg.contains(&Digest::sha256_of(b"hello").to_string()),
        "{msg}"
    );
    assert!(s.list().unwrap().is_empty());
    assert!(!s.exists(&claimed).unwrap());
    assert!(!s.exists(&Digest::sha256_of(b"hello")).unwrap());
    assert!(
        s.ingests().unwrap().is_empty(),
        "a corrupt ingest is discarded"
    );
}

/// Too few bytes keep the ingest for a resume; too many discard it. Nothing is published.
pub fn wrong_size_rejected(f: &Fixture) {
    let s = &*f.store;
    let data = b"0123456789";
    let d = Digest::sha256_of(data);
    let mut w = s.writer("short", Some((d.clone(), 10))).unwrap();
    w.write_all(&data[..4]).unwrap();
    let err = w.commit().unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::SizeMismatch {
                expected: 10,
                actual: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(!s.exists(&d).unwrap());
    let mut w = s.writer("short", None).unwrap();
    assert_eq!(w.offset(), 4);
    w.write_all(&data[4..]).unwrap();
    assert_eq!(w.commit().unwrap(), d);

    let mut w = s
        .writer("long", Some((Digest::sha256_of(b"abc"), 3)))
        .unwrap();
    w.write_all(b"abcd").unwrap();
    let err = w.commit().unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::SizeMismatch {
                expected: 3,
                actual: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.list().unwrap().len(), 1);
    assert!(s.ingests().unwrap().is_empty());
}

/// Drop a writer mid-way, reopen the same ref, finish: the blob is whole and correct.
pub fn resume_after_partial_write(f: &Fixture) {
    let s = &*f.store;
    let data = pattern(2 * 1024 * 1024 + 3, 2);
    let d = Digest::sha256_of(&data);
    let cut = 1024 * 1024 + 5;
    let mut w = s
        .writer("resume", Some((d.clone(), data.len() as u64)))
        .unwrap();
    w.write_all(&data[..cut]).unwrap();
    drop(w);
    assert!(!s.exists(&d).unwrap());
    let st = s.ingests().unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].reference, "resume");
    assert_eq!(st[0].offset, cut as u64);
    assert_eq!(st[0].expected, Some((d.clone(), data.len() as u64)));
    // The expectation was recorded: reopening without one keeps it, a different one is refused.
    let other = Some((Digest::sha256_of(b"x"), 1));
    assert_eq!(class(s.writer("resume", other)), ErrorClass::Conflict);
    let mut w = s.writer("resume", None).unwrap();
    assert_eq!(w.offset(), cut as u64);
    w.write_all(&data[cut..]).unwrap();
    assert_eq!(w.commit().unwrap(), d);
    assert_eq!(read_all(s, &d), data);
}

/// A second writer on a live ref gets `Unavailable`; once the first is gone it may proceed.
pub fn concurrent_writer_refused(f: &Fixture) {
    let s = &*f.store;
    let mut w = s.writer("busy", None).unwrap();
    w.write_all(b"abc").unwrap();
    let err = s.writer("busy", None).err().expect("second writer refused");
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");
    assert!(err.to_string().contains("busy"), "{err}");
    assert_eq!(class(s.abort("busy")), ErrorClass::Unavailable);
    // Another ref is independent.
    let mut other = s.writer("busy-2", None).unwrap();
    other.write_all(b"x").unwrap();
    drop(other);
    drop(w);
    let w = s.writer("busy", None).unwrap();
    assert_eq!(w.offset(), 3);
    assert_eq!(w.commit().unwrap(), Digest::sha256_of(b"abc"));
}

/// Committing content that is already stored succeeds and leaves one blob.
pub fn commit_existing_is_idempotent(f: &Fixture) {
    let s = &*f.store;
    let d1 = put(s, "a", b"same", true);
    let d2 = put(s, "b", b"same", true);
    let d3 = put(s, "c", b"same", false);
    assert_eq!(d1, d2);
    assert_eq!(d1, d3);
    assert_eq!(s.list().unwrap().len(), 1);
    assert!(s.ingests().unwrap().is_empty());
    assert_eq!(read_all(s, &d1), b"same");
}

/// Delete removes a blob; deleting or reading a missing one is `NotFound`.
pub fn delete(f: &Fixture) {
    let s = &*f.store;
    let d = put(s, "del", b"bye", true);
    s.delete(&d).unwrap();
    assert!(!s.exists(&d).unwrap());
    assert_eq!(class(s.delete(&d)), ErrorClass::NotFound);
    assert_eq!(class(s.read(&d)), ErrorClass::NotFound);
    assert_eq!(class(s.info(&d)), ErrorClass::NotFound);
    // It can be written again.
    assert_eq!(put(s, "del", b"bye", true), d);
}

/// List returns every blob with its size, sorted by digest.
pub fn list(f: &Fixture) {
    let s = &*f.store;
    assert!(s.list().unwrap().is_empty());
    let mut want: Vec<(Digest, u64)> = (0..5u8)
        .map(|i| {
            let data = pattern(100 * i as usize + 1, i);
            (put(s, &format!("list/{i}"), &data, true), data.len() as u64)
        })
        .collect();
    want.sort();
    let got: Vec<(Digest, u64)> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.digest, i.size))
        .collect();
    assert_eq!(got, want);
}

/// Abort discards a partial ingest; the ref then starts from zero; aborting a missing ref is `NotFound`.
pub fn abort(f: &Fixture) {
    let s = &*f.store;
    let mut w = s.writer("ab", None).unwrap();
    w.write_all(b"partial").unwrap();
    drop(w);
    s.abort("ab").unwrap();
    assert!(s.ingests().unwrap().is_empty());
    assert_eq!(class(s.abort("ab")), ErrorClass::NotFound);
    let w = s.writer("ab", None).unwrap();
    assert_eq!(w.offset(), 0);
    drop(w);
    s.abort("ab").unwrap();
    assert!(s.list().unwrap().is_empty());
    assert_eq!(class(s.writer("", None)), ErrorClass::InvalidArgument);
}

/// A blob changed on disk is caught by a verified read (at end of file), not by a plain one.
pub fn read_verified_detects_corruption(f: &Fixture) {
    let s = &*f.store;
    let data = pattern(256 * 1024, 3);
    let d = put(s, "corrupt", &data, true);
    (f.corrupt)(&d);
    assert_ne!(read_all(s, &d), data);
    let err = s
        .read_verified(&d)
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(&d.to_string()), "{err}");
}

/// Writing requires sha256 expectations.
pub fn unsupported_algorithm_refused(f: &Fixture) {
    let s = &*f.store;
    let d: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
    assert_eq!(
        class(s.writer("sha512", Some((d, 1)))),
        ErrorClass::InvalidArgument
    );
}

/// A digest learned only at the end is checked like one given at the start.
pub fn commit_expecting_late_digest(f: &Fixture) {
    let s = &*f.store;
    let data = b"late digest";
    let d = Digest::sha256_of(data);
    let mut w = s.writer("late", None).unwrap();
    w.write_all(data).unwrap();
    assert_eq!(w.commit_expecting(d.clone(), data.len() as u64).unwrap(), d);
    let mut w = s.writer("late-bad", None).unwrap();
    w.write_all(b"other").unwrap();
    let err = w
        .commit_expecting(Digest::sha256_of(b"nope"), 5)
        .unwrap_err();
    assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
    let mut w = s.writer("late-conflict", Some((d.clone(), 11))).unwrap();
    w.write_all(data).unwrap();
    let err = w.commit_expecting(Digest::sha256_of(b"x"), 1).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Conflict, "{err}");
    assert_eq!(s.list().unwrap().len(), 1);
}

/// `copy_from` streams a reader in and the result commits.
pub fn copy_from_streams(f: &Fixture) {
    let s = &*f.store;
    let data = pattern(2 * 1024 * 1024 + 99, 9);
    let d = Digest::sha256_of(&data);
    let mut w = s
        .writer("copy", Some((d.clone(), data.len() as u64)))
        .unwrap();
    assert_eq!(w.copy_from(&mut &data[..]).unwrap(), data.len() as u64);
    assert_eq!(w.offset(), data.len() as u64);
    assert_eq!(w.commit().unwrap(), d);
    assert_eq!(read_all(s, &d), data);
}
