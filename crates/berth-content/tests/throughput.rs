//! Ingest and verified-read throughput. Ignored by default; run with
//! `cargo test --release -p berth-content --test throughput -- --ignored --nocapture`.

use berth_content::ContentStore;
use std::io::{Read, Write};
use std::time::Instant;

#[test]
#[ignore]
fn ingest_throughput() {
    const MIB: usize = 1 << 20;
    let size = 256 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let chunk: Vec<u8> = (0..MIB).map(|i| (i * 7 + i / 4096) as u8).collect();
    let t = Instant::now();
    let mut w = store.writer("bench", None).unwrap();
    for _ in 0..size / MIB {
        w.write_all(&chunk).unwrap();
    }
    let d = w.commit().unwrap();
    let write = t.elapsed();
    let t = Instant::now();
    let mut r = store.read_verified(&d).unwrap();
    let mut buf = vec![0u8; MIB];
    while r.read(&mut buf).unwrap() > 0 {}
    let read = t.elapsed();
    let mb = size as f64 / 1e6;
    eprintln!(
        "ingest+commit {:.0} MB/s, verified read {:.0} MB/s",
        mb / write.as_secs_f64(),
        mb / read.as_secs_f64()
    );
}
