//! Many connections on one file: threads with their own `Meta`, processes, and GC racing writers.

use crate::gc::{collect, GcOptions};
use crate::tests::{child_test, d, expect_success, image, layer};
use crate::Meta;
use berth_content::ContentStore;
use berth_oci::Digest;
use berth_snapshot::{CopySnapshotter, Snapshotter};
use std::path::Path;

const ROUNDS: usize = 30;

/// One writer's loop: each round stores a layer and an image, moves a shared tag to it, takes
/// and ends a lease, and removes its previous image.
fn writer_loop(path: &Path, who: &str) {
    let meta = Meta::open(path).unwrap();
    let mut previous = None;
    for round in 0..ROUNDS {
        let name = format!("{who}-{round}");
        let l = layer(&name, None);
        meta.put_layer(&l).unwrap();
        let img = image(&name, &[&l]);
        let own_tag = format!("docker.io/library/{who}:latest");
        meta.put_image(
            &img,
            &[],
            &[
                "docker.io/library/shared:latest".to_string(),
                own_tag.clone(),
            ],
        )
        .unwrap();
        assert_eq!(meta.resolve_tag(&own_tag).unwrap(), Some(img.id.clone()));
        let lease = meta.begin_lease(&name).unwrap();
        lease.add_blob(&d(&name)).unwrap();
        lease.end().unwrap();
        if let Some(prev) = previous.replace(img.id.clone()) {
            meta.delete_image(&prev).unwrap();
        }
        meta.tag(&format!("docker.io/library/{who}:{round}"), &img.id)
            .unwrap();
        meta.untag(&format!("docker.io/library/{who}:{round}"))
            .unwrap();
    }
}

/// After the writers `who`: each has exactly its last image, tagged, and the shared tag points at
/// one of them.
fn check_result(path: &Path, who: &[String]) {
    let meta = Meta::open(path).unwrap();
    let images = meta.images().unwrap();
    assert_eq!(images.len(), who.len());
    let lasts: Vec<Digest> = who
        .iter()
        .map(|w| image(&format!("{w}-{}", ROUNDS - 1), &[]).id)
        .collect();
    for (w, last) in who.iter().zip(&lasts) {
        assert_eq!(
            meta.resolve_tag(&format!("docker.io/library/{w}:latest"))
                .unwrap()
                .as_ref(),
            Some(last)
        );
    }
    let shared = meta
        .resolve_tag("docker.io/library/shared:latest")
        .unwrap()
        .unwrap();
    assert!(lasts.contains(&shared));
    assert_eq!(meta.layers().unwrap().len(), who.len() * ROUNDS);
    assert_eq!(meta.leases().unwrap(), vec![]);
}

#[test]
fn threads_with_their_own_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let who: Vec<String> = (0..4).map(|i| format!("thread{i}")).collect();
    std::thread::scope(|s| {
        for w in &who {
            let path = &path;
            s.spawn(move || writer_loop(path, w));
        }
    });
    check_result(&path, &who);
}

#[test]
fn threads_sharing_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("berth.db")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let meta = &meta;
            s.spawn(move || {
                let lease = meta.begin_lease(&format!("t{t}")).unwrap();
                for i in 0..ROUNDS {
                    let l = layer(&format!("shared-{t}-{i}"), None);
                    meta.put_layer(&l).unwrap();
                    lease.add_snapshot(&l.snapshot_key).unwrap();
                }
            });
        }
    });
    assert_eq!(meta.layers().unwrap().len(), 4 * ROUNDS);
}

/// Environment variables of the child writer processes.
const CHILD_DB: &str = "BERTH_META_TEST_WRITER_DB";
const CHILD_NAME: &str = "BERTH_META_TEST_WRITER_NAME";

/// Runs only in children of `processes_on_one_file`.
#[test]
fn writer_process_helper() {
    let (Ok(path), Ok(name)) = (std::env::var(CHILD_DB), std::env::var(CHILD_NAME)) else {
        return;
    };
    writer_loop(Path::new(&path), &name);
}

#[test]
fn processes_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let who: Vec<String> = (0..3).map(|i| format!("proc{i}")).collect();
    // All children open the new file at once: migrations and the WAL switch race too.
    let children: Vec<_> = who
        .iter()
        .map(|w| {
            child_test(
                "concurrency_tests::writer_process_helper",
                &[(CHILD_DB, path.to_str().unwrap()), (CHILD_NAME, w)],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        expect_success("writer_process_helper", child.wait_with_output().unwrap());
    }
    check_result(&path, &who);
}

/// Stores an image the way the image store does: lease first, then create or reuse.
fn store_image(meta: &Meta, content: &ContentStore, snaps: &dyn Snapshotter, n: usize) -> Digest {
    let lease = meta.begin_lease("writer").unwrap();
    // Layers are shared between rounds (n % 3) so that GC and reuse meet.
    let name = format!("shared-{}", n % 3);
    let mut l = layer(&name, None);
    let data = format!("layer blob {name}");
    l.blob_digest = Digest::sha256_of(data.as_bytes());
    lease.add_blob(&l.blob_digest).unwrap();
    if !content.exists(&l.blob_digest).unwrap() {
        crate::gc::tests::put_blob(content, data.as_bytes());
    }
    lease.add_snapshot(&l.snapshot_key).unwrap();
    if snaps.stat(&l.snapshot_key).is_err() {
        let tmp = format!("unpack-{n}");
        lease.add_snapshot(&tmp).unwrap();
        snaps.prepare(&tmp, None).unwrap();
        match snaps.commit(&l.snapshot_key, &tmp) {
            Ok(()) => {}
            Err(berth_snapshot::SnapshotError::AlreadyExists { .. }) => snaps.remove(&tmp).unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    meta.put_layer(&l).unwrap();
    let mut img = image(&format!("img-{n}"), &[&l]);
    let config = format!("config {n}");
    img.id = Digest::sha256_of(config.as_bytes());
    lease.add_blob(&img.id).unwrap();
    crate::gc::tests::put_blob(content, config.as_bytes());
    let manifest = format!("manifest {n}");
    img.manifest_digest = Digest::sha256_of(manifest.as_bytes());
    lease.add_blob(&img.manifest_digest).unwrap();
    crate::gc::tests::put_blob(content, manifest.as_bytes());
    meta.put_image(&img, &[], &[]).unwrap();
    lease.end().unwrap();
    img.id
}

/// Sets the flag when dropped, so a panicking writer still stops the GC thread.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn gc_racing_writers_never_breaks_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let content = ContentStore::open(root).unwrap();
    let snaps = CopySnapshotter::new(&root.join("copy")).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let (content, snaps, stop) = (&content, &snaps, &stop);
        let gc = s.spawn(move || {
            let meta = Meta::open(&root.join("berth.db")).unwrap();
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let report = collect(&meta, content, snaps, &GcOptions::default()).unwrap();
                assert!(report.errors.is_empty(), "{:?}", report.errors);
                runs += 1;
            }
            runs
        });
        let stopper = StopOnDrop(stop);
        let meta = Meta::open(&root.join("berth.db")).unwrap();
        for n in 0..60 {
            let id = store_image(&meta, content, snaps, n);
            // Right after storing, everything the image needs exists.
            let img = meta.image(&id).unwrap().unwrap();
            for blob in meta.image_blobs(&id).unwrap() {
                assert!(
                    content.exists(&blob).unwrap(),
                    "round {n}: blob {blob} missing"
                );
            }
            for chain in &img.layers {
                let l = meta.layer(chain).unwrap().expect("layer row");
                assert!(
                    snaps.stat(&l.snapshot_key).is_ok(),
                    "round {n}: snapshot {} missing",
                    l.snapshot_key
                );
            }
            // Then drop it, making its layer garbage unless the next round reuses it.
            meta.delete_image(&id).unwrap();
        }
        drop(stopper);
        let runs = gc.join().unwrap();
        assert!(runs > 0);
    });
}
