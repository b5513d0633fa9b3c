//! The image store end to end on real directories: offline images, save/load round trips in both
//! formats and both drivers, concurrent loads, bad archives, removal and garbage collection.

use berth_image::{Driver, ImageError, ImageStore, SaveFormat};
use std::io::Cursor;
use std::path::Path;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A store with busybox (when a static busybox is installed) and hello-world.
fn seeded(root: &Path, driver: Driver) -> ImageStore {
    let store = ImageStore::open_with(root, driver).unwrap();
    store.bootstrap_hello().unwrap();
    if Path::new("/bin/busybox").exists() {
        store.bootstrap_busybox(Path::new("/bin/busybox")).unwrap();
    }
    store
}

fn names(store: &ImageStore) -> Vec<String> {
    let mut v: Vec<String> = store
        .images()
        .unwrap()
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    v.sort();
    v
}

fn save(store: &ImageStore, format: SaveFormat) -> Vec<u8> {
    let mut out = Vec::new();
    let all: Vec<String> = names(store);
    store.save(&all, format, &mut out).unwrap();
    out
}

#[test]
fn offline_images_are_reproducible() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = seeded(a.path(), Driver::Overlay);
    let sb = seeded(b.path(), Driver::Overlay);
    assert_eq!(names(&sa), names(&sb));
    assert_eq!(
        sa.resolve("hello-world").unwrap(),
        sb.resolve("hello-world:latest").unwrap()
    );
    assert!(sa.check(false).unwrap().problems.is_empty());
}

#[test]
fn save_load_round_trip_both_formats_both_drivers() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    let src_dir = tempfile::tempdir().unwrap();
    let src = seeded(src_dir.path(), Driver::Overlay);
    for format in [SaveFormat::DockerArchive, SaveFormat::OciArchive] {
        let archive = save(&src, format);
        for driver in [Driver::Overlay, Driver::Copy] {
            let dst_dir = tempfile::tempdir().unwrap();
            let dst = ImageStore::open_with(dst_dir.path(), driver).unwrap();
            let loaded = dst.load(&mut Cursor::new(&archive), &mut |_| {}).unwrap();
            assert_eq!(loaded.len(), names(&src).len(), "{format:?} {driver:?}");
            assert_eq!(names(&dst), names(&src), "{format:?} {driver:?}");
            let id = dst.resolve("hello-world").unwrap();
            assert_eq!(id, src.resolve("hello-world").unwrap());
            let report = dst.check(false).unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            // Loading again changes nothing.
            dst.load(&mut Cursor::new(&archive), &mut |_| {}).unwrap();
            assert_eq!(names(&dst), names(&src));
        }
    }
}

#[test]
fn concurrent_loads_of_one_archive() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    let src_dir = tempfile::tempdir().unwrap();
    let archive = save(
        &seeded(src_dir.path(), Driver::Overlay),
        SaveFormat::DockerArchive,
    );
    let dst_dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let archive = &archive;
            let root = dst_dir.path();
            s.spawn(move || {
                let store = ImageStore::open(root).unwrap();
                store.load(&mut Cursor::new(archive), &mut |_| {}).unwrap();
            });
        }
    });
    let store = ImageStore::open(dst_dir.path()).unwrap();
    let report = store.check(true).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        store.snapshotter().list().unwrap().len(),
        store.meta().layers().unwrap().len()
    );
}

#[test]
fn wrong_diff_id_is_refused_and_leaves_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    let src_dir = tempfile::tempdir().unwrap();
    let src = ImageStore::open(src_dir.path()).unwrap();
    src.bootstrap_hello().unwrap();
    let archive = save(&src, SaveFormat::DockerArchive);
    // Rewrite the config's diffID in a copy of the archive (its digest name changes with it).
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(Cursor::new(&archive));
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if e.header().entry_type().is_file() {
            entries.push((name, data));
        }
    }
    let id = src.resolve("hello-world").unwrap();
    let config_name = format!("blobs/sha256/{}", id.hex());
    let config = &entries.iter().find(|(n, _)| *n == config_name).unwrap().1;
    let mut json: serde_json::Value = serde_json::from_slice(config).unwrap();
    json["rootfs"]["diff_ids"][0] = serde_json::json!(format!("sha256:{}", "0".repeat(64)));
    let bad = serde_json::to_string(&json).unwrap();
    let bad_digest = berth_oci::Digest::sha256_of(bad.as_bytes());
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in &entries {
        let (name, data) = if *name == config_name {
            (
                format!("blobs/sha256/{}", bad_digest.hex()),
                bad.as_bytes().to_vec(),
            )
        } else if name == "manifest.json" {
            let m = String::from_utf8(data.clone())
                .unwrap()
                .replace(id.hex(), bad_digest.hex());
            (name.clone(), m.into_bytes())
        } else {
            (name.clone(), data.clone())
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    let bad_archive = out.into_inner().unwrap();
    // manifest.json (which a docker-archive load follows) now names the altered config.
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = ImageStore::open(dst_dir.path()).unwrap();
    let err = dst
        .load(&mut Cursor::new(&bad_archive), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, ImageError::DiffIdMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&"0".repeat(64)), "{err}");
    assert!(dst.images().unwrap().is_empty());
    assert!(
        dst.content().list().unwrap().is_empty(),
        "blobs left behind"
    );
    assert!(
        dst.snapshotter().list().unwrap().is_empty(),
        "snapshots left behind"
    );
}

#[test]
fn remove_collects_layers_and_blobs() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    store.bootstrap_hello().unwrap();
    store.tag("hello-world", "other:1").unwrap();
    // Two tags: removing by ID needs force; by name it only untags.
    let id = store.resolve("other:1").unwrap();
    assert!(matches!(
        store.remove(&id.hex()[..12], false),
        Err(ImageError::Conflict(_))
    ));
    store.remove("other:1", false).unwrap();
    assert_eq!(store.images().unwrap().len(), 1);
    store.remove("hello-world", false).unwrap();
    assert!(store.images().unwrap().is_empty());
    assert!(store.content().list().unwrap().is_empty());
    assert!(store.snapshotter().list().unwrap().is_empty());
    assert!(matches!(
        store.resolve("hello-world"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn truncated_and_empty_archives_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let e = store
        .load(&mut Cursor::new(Vec::new()), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"abc"[..]).unwrap();
    let e = store
        .load(&mut Cursor::new(b.into_inner().unwrap()), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("manifest.json"), "{e}");
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn unsynced_load_from_an_earlier_boot_is_verified_on_open() {
    if !is_root() {
        eprintln!("skipped: needs root (layer owners)");
        return;
    }
    if std::process::Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("skipped: the sqlite3 CLI is not installed (apt install sqlite3)");
        return;
    }
    let src_dir = tempfile::tempdir().unwrap();
    let archive = save(
        &seeded(src_dir.path(), Driver::Overlay),
        SaveFormat::DockerArchive,
    );
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = ImageStore::open(dir.path()).unwrap();
        store.load(&mut Cursor::new(&archive), &mut |_| {}).unwrap();
        assert!(!store.meta().unsynced().unwrap().is_empty());
        assert!(store.sync().unwrap());
        assert!(store.meta().unsynced().unwrap().is_empty());
        store.load(&mut Cursor::new(&archive), &mut |_| {}).unwrap();
        let id = store.resolve("hello-world").unwrap();
        // A torn layer blob, as a power cut before the sync could leave it.
        let rec = store.image(&id).unwrap();
        let layer = store.meta().layer(&rec.layers[0]).unwrap().unwrap();
        let blob = store.content().blob_path(&layer.blob_digest);
        let mut perms = std::fs::metadata(&blob).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
        std::fs::set_permissions(&blob, perms).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&blob)
            .unwrap()
            .set_len(10)
            .unwrap();
        id
    };
    // Pretend the marker was written before a reboot.
    let db = dir.path().join("berth.db");
    let st = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE unsynced SET boot_id = 'an-earlier-boot'")
        .status()
        .unwrap();
    assert!(st.success());
    let store = ImageStore::open(dir.path()).unwrap();
    assert!(
        store.meta().unsynced().unwrap().is_empty(),
        "markers not cleared"
    );
    let report = store.check(false).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // hello-world's layer was written by Berth (deterministic), so its blob was rebuilt.
    assert_eq!(store.resolve("hello-world").unwrap(), id);
}
