//! Crash safety: a child process (this test binary re-executed) streams a large blob into an
//! ingest and is SIGKILLed mid-way. Afterwards no partial blob is visible under `blobs/`, and the
//! ingest can be resumed to a correct blob or aborted.

use berth_content::conformance::pattern;
use berth_content::ContentStore;
use berth_oci::Digest;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

const ENV_ROOT: &str = "BERTH_CONTENT_CRASH_ROOT";
const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 12;
const REF: &str = "crash/blob";
const READY: &str = "BERTH-CONTENT-CHILD-READY";

fn blob_data() -> Vec<u8> {
    let mut data = Vec::with_capacity(CHUNK * CHUNKS);
    for i in 0..CHUNKS {
        let start = data.len();
        data.resize(start + CHUNK, i as u8);
        // A few distinct bytes per chunk so that misplaced data changes the digest.
        data[start..start + 256].copy_from_slice(&pattern(256, i as u8));
    }
    data
}

/// The child: writes all but the last byte, never commits, and waits to be killed.
/// Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Ok(root) = std::env::var(ENV_ROOT) else {
        return;
    };
    let data = blob_data();
    let store = ContentStore::open(Path::new(&root)).unwrap();
    let expected = (Digest::sha256_of(&data), data.len() as u64);
    let mut w = store.writer(REF, Some(expected)).unwrap();
    let body = &data[..data.len() - 1];
    for (i, chunk) in body.chunks(CHUNK / 4).enumerate() {
        w.write_all(chunk).unwrap();
        if i == 10 {
            w.flush().unwrap();
            println!("{READY}");
            std::io::stdout().flush().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    w.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// Runs the child on `root` and SIGKILLs it once it has written a few MiB.
fn write_and_kill(root: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(ENV_ROOT, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.any(|l| l.map(|l| l.contains(READY)).unwrap_or(false));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(ready, "child never got ready: {status:?}");
    assert_eq!(status.signal(), Some(9), "child was SIGKILLed");
}

/// After the kill: nothing under blobs/, one ingest with part of the data.
fn check_after_kill(store: &ContentStore, data: &[u8]) -> u64 {
    assert!(store.list().unwrap().is_empty());
    let blobs = store.root().join("blobs/sha256");
    let entries: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
    assert!(
        entries.is_empty(),
        "nothing at all under {}: {entries:?}",
        blobs.display()
    );
    let ingests = store.ingests().unwrap();
    assert_eq!(ingests.len(), 1, "{ingests:?}");
    let st = &ingests[0];
    assert_eq!(st.reference, REF);
    assert_eq!(
        st.expected,
        Some((Digest::sha256_of(data), data.len() as u64))
    );
    assert!(
        st.offset >= 2 * CHUNK as u64 && st.offset < data.len() as u64,
        "offset {}",
        st.offset
    );
    st.offset
}

#[test]
fn killed_ingest_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = blob_data();
    write_and_kill(dir.path());
    let store = ContentStore::open(dir.path()).unwrap();
    let offset = check_after_kill(&store, &data);
    let mut w = store.writer(REF, None).unwrap();
    assert_eq!(w.offset(), offset);
    w.write_all(&data[offset as usize..]).unwrap();
    let d = w.commit().unwrap();
    assert_eq!(d, Digest::sha256_of(&data));
    let mut back = Vec::new();
    store
        .read_verified(&d)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == data);
    assert!(store.ingests().unwrap().is_empty());
}

#[test]
fn killed_ingest_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let data = blob_data();
    write_and_kill(dir.path());
    let store = ContentStore::open(dir.path()).unwrap();
    check_after_kill(&store, &data);
    store.abort(REF).unwrap();
    assert!(store.ingests().unwrap().is_empty());
    assert!(store.list().unwrap().is_empty());
    let w = store.writer(REF, None).unwrap();
    assert_eq!(w.offset(), 0);
}
