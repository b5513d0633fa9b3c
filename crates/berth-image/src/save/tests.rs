//! Tests of `save`: two images sharing a layer, written to a buffer and to a file, read back
//! with the `tar` crate, checked by digest, and handed to skopeo, umoci and podman when they
//! are installed.

use super::*;
use crate::manifest::{parse_manifest, ManifestKind};
use berth_archive::{write_layer, Compression};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    root: PathBuf,
    store: ContentStore,
    images: Vec<SaveImage>,
    /// Stored manifests by image (digest, bytes).
    manifests: Vec<(Digest, Vec<u8>)>,
}

fn put(store: &ContentStore, data: &[u8]) -> Digest {
    let mut w = store
        .writer(&format!("test-{}", Digest::sha256_of(data).hex()), None)
        .unwrap();
    w.write_all(data).unwrap();
    w.commit().unwrap()
}

/// A layer of one file `name` holding `body`, stored in `compression`: (descriptor, diffID).
fn layer(
    store: &ContentStore,
    tmp: &Path,
    name: &str,
    body: &[u8],
    compression: Compression,
    media_type: &str,
) -> (Descriptor, Digest) {
    let dir = tmp.join(format!("layer-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), body).unwrap();
    let mut blob = Vec::new();
    let w = write_layer(&dir, &mut blob, compression).unwrap();
    let d = put(store, &blob);
    assert_eq!(d, w.digest);
    (Descriptor::new(media_type, d, blob.len() as u64), w.diff_id)
}

fn config(diff_ids: &[&Digest], cmd: &str) -> Vec<u8> {
    let ids: Vec<String> = diff_ids.iter().map(|d| d.to_string()).collect();
    let history: Vec<Value> = ids
        .iter()
        .map(|d| serde_json::json!({"created": "2024-01-02T03:04:05Z", "created_by": format!("ADD {d}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": [cmd], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ids},
        "history": history,
    }))
    .unwrap()
}

use serde_json::Value;

/// Image A (`berth-test/a:one`, Docker manifest): shared gzip layer + its own plain layer.
/// Image B (`berth-test/b:two` and `:three`, OCI manifest): shared layer + its own gzip layer.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = ContentStore::open(&root.join("store")).unwrap();
    let (shared, shared_id) = layer(
        &store,
        &root,
        "shared",
        &vec![7u8; 10_000],
        Compression::Gzip,
        media_types::DOCKER_LAYER_GZIP,
    );
    let (a, a_id) = layer(
        &store,
        &root,
        "a",
        b"image a\n",
        Compression::None,
        media_types::DOCKER_LAYER,
    );
    let (b, b_id) = layer(
        &store,
        &root,
        "b",
        b"image b\n",
        Compression::Gzip,
        media_types::OCI_LAYER_GZIP,
    );

    let a_config = config(&[&shared_id, &a_id], "/a");
    let a_config_d = put(&store, &a_config);
    let a_manifest = serde_json::to_vec(&Manifest::docker(
        Descriptor::new(
            media_types::DOCKER_CONFIG,
            a_config_d.clone(),
            a_config.len() as u64,
        ),
        vec![shared.clone(), a.clone()],
    ))
    .unwrap();
    let a_manifest_d = put(&store, &a_manifest);

    let b_config = config(&[&shared_id, &b_id], "/b");
    let b_config_d = put(&store, &b_config);
    let shared_oci = Descriptor {
        media_type: media_types::OCI_LAYER_GZIP.into(),
        ..shared.clone()
    };
    let b_manifest = serde_json::to_vec(&Manifest::oci(
        Descriptor::new(
            media_types::OCI_CONFIG,
            b_config_d.clone(),
            b_config.len() as u64,
        ),
        vec![shared_oci.clone(), b.clone()],
    ))
    .unwrap();
    let b_manifest_d = put(&store, &b_manifest);

    let images = vec![
        SaveImage {
            id: a_config_d.clone(),
            tags: vec!["docker.io/berth-test/a:one".into()],
            manifest_digest: a_manifest_d.clone(),
            manifest_media_type: media_types::DOCKER_MANIFEST.into(),
            config_digest: a_config_d,
            layers: vec![shared, a],
            diff_ids: vec![shared_id.clone(), a_id],
        },
        SaveImage {
            id: b_config_d.clone(),
            tags: vec![
                "docker.io/berth-test/b:two".into(),
                "docker.io/berth-test/b:three".into(),
            ],
            manifest_digest: b_manifest_d.clone(),
            manifest_media_type: media_types::OCI_MANIFEST.into(),
            config_digest: b_config_d,
            layers: vec![shared_oci, b],
            diff_ids: vec![shared_id, b_id],
        },
    ];
    Fixture {
        _dir: dir,
        root,
        store,
        images,
        manifests: vec![(a_manifest_d, a_manifest), (b_manifest_d, b_manifest)],
    }
}

/// The archive's entries in order: (path, entry type, mode, mtime, uid, body).
fn entries(archive: &[u8]) -> Vec<(String, tar::EntryType, u32, u64, u64, Vec<u8>)> {
    let mut a = tar::Archive::new(Cursor::new(archive));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                body,
            )
        })
        .collect()
}

fn files(archive: &[u8]) -> HashMap<String, Vec<u8>> {
    entries(archive)
        .into_iter()
        .filter(|e| e.1 == tar::EntryType::Regular)
        .map(|e| (e.0, e.5))
        .collect()
}

fn json(files: &HashMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(&files[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn save_vec(f: &Fixture, format: SaveFormat) -> (Vec<u8>, SaveStats) {
    let mut out = Vec::new();
    let stats = save(&f.images, &f.store, format, &mut out).unwrap();
    (out, stats)
}

fn save_file(f: &Fixture, format: SaveFormat, name: &str) -> (PathBuf, SaveStats) {
    let path = f.root.join(name);
    let mut file = File::create(&path).unwrap();
    let stats = save_to_file(&f.images, &f.store, format, &mut file).unwrap();
    (path, stats)
}

#[test]
fn docker_archive_layout() {
    let f = fixture();
    let (out, stats) = save_vec(&f, SaveFormat::DockerArchive);
    assert_eq!(out.len() as u64, stats.archive_bytes);
    assert_eq!(out.len() % BLOCK, 0);
    let all = entries(&out);
    let names: Vec<&str> = all.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "entries are sorted");
    assert!(names[0].starts_with("blobs") && all[0].1 == tar::EntryType::Directory);
    for e in &all {
        assert_eq!((e.3, e.4), (0, 0), "{}: mtime and uid", e.0);
        let want = if e.1 == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        };
        assert_eq!(e.2, want, "{}: mode", e.0);
    }
    let files = files(&out);

    // Every blob hashes to its name; 2 configs + 3 layers (the shared one once) + 2 manifests.
    let blobs: Vec<&String> = files.keys().filter(|k| k.starts_with("blobs/")).collect();
    for name in &blobs {
        let d = Digest::sha256_of(&files[*name]);
        assert_eq!(*name, &format!("blobs/sha256/{}", d.hex()));
    }
    assert_eq!(blobs.len(), 7);
    assert_eq!(stats.blobs, 7);
    assert_eq!(stats.images, 2);

    assert_eq!(
        json(&files, "oci-layout"),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );

    // index.json: one entry per tag, OCI manifests, A's Docker manifest converted.
    let index = json(&files, "index.json");
    assert_eq!(index["mediaType"], media_types::OCI_INDEX);
    let descs = index["manifests"].as_array().unwrap();
    assert_eq!(descs.len(), 3);
    let by_name: HashMap<String, &Value> = descs
        .iter()
        .map(|d| {
            let ann = &d["annotations"];
            assert_eq!(d["mediaType"], media_types::OCI_MANIFEST);
            (
                ann["io.containerd.image.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d,
            )
        })
        .collect();
    let a = by_name["docker.io/berth-test/a:one"];
    assert_eq!(a["annotations"]["org.opencontainers.image.ref.name"], "one");
    assert_eq!(
        by_name["docker.io/berth-test/b:three"]["annotations"]["org.opencontainers.image.ref.name"],
        "three"
    );
    // B's stored OCI manifest is kept byte for byte.
    let b_digest = by_name["docker.io/berth-test/b:two"]["digest"]
        .as_str()
        .unwrap();
    assert_eq!(b_digest, f.manifests[1].0.to_string());
    assert_eq!(
        files[&format!("blobs/sha256/{}", f.manifests[1].0.hex())],
        f.manifests[1].1
    );
    // A's is an OCI manifest of the same blobs.
    let a_digest: Digest = a["digest"].as_str().unwrap().parse().unwrap();
    assert_ne!(a_digest, f.manifests[0].0);
    let a_bytes = &files[&format!("blobs/sha256/{}", a_digest.hex())];
    assert_eq!(a["size"], a_bytes.len());
    let ManifestKind::Manifest(m) = parse_manifest(a_bytes, None).unwrap() else {
        panic!("not a manifest")
    };
    assert_eq!(m.media_type.as_deref(), Some(media_types::OCI_MANIFEST));
    assert_eq!(m.config.digest, f.images[0].id);
    assert_eq!(m.config.media_type, media_types::OCI_CONFIG);
    let layer_types: Vec<&str> = m.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(
        layer_types,
        [media_types::OCI_LAYER_GZIP, media_types::OCI_LAYER]
    );
    let layer_digests: Vec<&Digest> = m.layers.iter().map(|l| &l.digest).collect();
    let want: Vec<&Digest> = f.images[0].layers.iter().map(|l| &l.digest).collect();
    assert_eq!(layer_digests, want);

    // manifest.json for docker/podman load.
    let legacy = json(&files, "manifest.json");
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    assert_eq!(
        legacy,
        serde_json::json!([
            {"Config": path(&f.images[0].id), "RepoTags": ["docker.io/berth-test/a:one"],
             "Layers": f.images[0].layers.iter().map(|l| path(&l.digest)).collect::<Vec<_>>()},
            {"Config": path(&f.images[1].id), "RepoTags": ["docker.io/berth-test/b:three", "docker.io/berth-test/b:two"],
             "Layers": f.images[1].layers.iter().map(|l| path(&l.digest)).collect::<Vec<_>>()},
        ])
    );
    let repos = json(&files, "repositories");
    assert_eq!(
        repos["docker.io/berth-test/b"]["two"],
        f.images[1].layers[1].digest.hex()
    );
    assert_eq!(
        repos["docker.io/berth-test/a"]["one"],
        f.images[0].layers[1].digest.hex()
    );
}

#[test]
fn file_output_is_byte_identical_and_deterministic() {
    let f = fixture();
    for format in [SaveFormat::DockerArchive, SaveFormat::OciArchive] {
        let (vec_out, vec_stats) = save_vec(&f, format);
        let (path, file_stats) = save_file(&f, format, "out.tar");
        assert_eq!(std::fs::read(&path).unwrap(), vec_out, "{format:?}");
        assert_eq!(vec_stats, file_stats);
        let (again, _) = save_vec(&f, format);
        assert_eq!(again, vec_out, "{format:?} is deterministic");
    }
}

/// `save_to_file` into a pipe (how the CLI can stream to stdout with sendfile/splice) gives the
/// same bytes as the buffered path.
#[test]
fn file_output_to_a_pipe() {
    let f = fixture();
    let (want, _) = save_vec(&f, SaveFormat::DockerArchive);
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        File::from(rd).read_to_end(&mut got).unwrap();
        got
    });
    let mut out = File::from(wr);
    save_to_file(&f.images, &f.store, SaveFormat::DockerArchive, &mut out).unwrap();
    drop(out);
    assert_eq!(reader.join().unwrap(), want);
}

#[test]
fn oci_archive_has_no_legacy_files() {
    let f = fixture();
    let (out, _) = save_vec(&f, SaveFormat::OciArchive);
    let files = files(&out);
    assert!(!files.contains_key("manifest.json"));
    assert!(!files.contains_key("repositories"));
    assert_eq!(
        json(&files, "index.json")["manifests"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn untagged_and_repeated_images() {
    let f = fixture();
    let mut a = f.images[0].clone();
    a.tags.clear();
    let mut a_again = a.clone();
    a_again.tags = vec!["docker.io/library/x:1".into()];
    let mut out = Vec::new();
    let stats = save(
        &[a.clone(), a_again],
        &f.store,
        SaveFormat::DockerArchive,
        &mut out,
    )
    .unwrap();
    assert_eq!(stats.images, 1);
    let files = files(&out);
    assert_eq!(
        json(&files, "manifest.json")[0]["RepoTags"],
        serde_json::json!(["docker.io/library/x:1"])
    );

    let mut out = Vec::new();
    save(&[a], &f.store, SaveFormat::DockerArchive, &mut out).unwrap();
    let files = self::files(&out);
    assert_eq!(json(&files, "manifest.json")[0]["RepoTags"], Value::Null);
    let index = json(&files, "index.json");
    assert!(index["manifests"][0].get("annotations").is_none());
    assert!(!files.contains_key("repositories"));
}

#[test]
fn errors_name_the_blob() {
    let f = fixture();
    let mut out = Vec::new();
    assert!(matches!(
        save(&[], &f.store, SaveFormat::DockerArchive, &mut out),
        Err(SaveError::NoImages)
    ));

    // A descriptor size that disagrees with the stored blob.
    let mut img = f.images[0].clone();
    img.layers[1].size += 1;
    let err = save(&[img], &f.store, SaveFormat::DockerArchive, &mut out).unwrap_err();
    assert!(matches!(err, SaveError::SizeMismatch { .. }), "{err}");
    assert!(err.to_string().contains(f.images[0].layers[1].digest.hex()));

    // A missing blob.
    let mut img = f.images[0].clone();
    img.layers[1].digest = Digest::sha256_of(b"nothing");
    let err = save(&[img], &f.store, SaveFormat::DockerArchive, &mut out).unwrap_err();
    assert!(matches!(err, SaveError::MissingBlob { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::NotFound);

    // Layer count and diffIDs disagree.
    let mut img = f.images[0].clone();
    img.diff_ids.pop();
    let err = save(&[img], &f.store, SaveFormat::OciArchive, &mut out).unwrap_err();
    assert!(matches!(err, SaveError::LayerCount { .. }), "{err}");

    // A bad tag.
    let mut img = f.images[0].clone();
    img.tags = vec!["UPPER/Case:x".into()];
    let err = save(&[img], &f.store, SaveFormat::OciArchive, &mut out).unwrap_err();
    assert!(matches!(err, SaveError::BadTag { .. }), "{err}");

    // A corrupt blob of the right size: both outputs fail with the digest named.
    let victim = &f.images[0].layers[1].digest;
    let path = f.store.blob_path(victim);
    let mut data = std::fs::read(&path).unwrap();
    data[0] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let err = save(&f.images, &f.store, SaveFormat::DockerArchive, &mut out).unwrap_err();
    assert!(matches!(err, SaveError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(victim.hex()), "{err}");
    let mut file = File::create(f.root.join("bad.tar")).unwrap();
    let err = save_to_file(&f.images, &f.store, SaveFormat::OciArchive, &mut file).unwrap_err();
    assert!(matches!(err, SaveError::DigestMismatch { .. }), "{err}");
}

// ---- real tools ----------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIP: {tool} is not installed");
    }
    found
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    tar::Archive::new(File::open(archive).unwrap())
        .unpack(dir)
        .unwrap();
}

#[test]
fn skopeo_reads_both_formats() {
    if !have("skopeo") {
        return;
    }
    let f = fixture();
    let (oci, _) = save_file(&f, SaveFormat::OciArchive, "oci.tar");
    let (docker, _) = save_file(&f, SaveFormat::DockerArchive, "docker.tar");
    // The stored OCI manifest comes back byte for byte.
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci-archive:{}:two", oci.display()),
    ]));
    assert_eq!(raw, f.manifests[1].1);
    for (format, path) in [("oci-archive", &oci), ("docker-archive", &docker)] {
        for (i, name) in [(0, "one"), (1, "three")] {
            let reference = match format {
                "oci-archive" => format!("{format}:{}:{name}", path.display()),
                _ => format!(
                    "{format}:{}:berth-test/{}:{name}",
                    path.display(),
                    ["a", "b"][i]
                ),
            };
            let config =
                run(Command::new("skopeo").args(["inspect", "--raw", "--config", &reference]));
            assert_eq!(Digest::sha256_of(&config), f.images[i].id, "{reference}");
            let info: Value =
                serde_json::from_slice(&run(Command::new("skopeo").args(["inspect", &reference])))
                    .unwrap();
            // containers/image lists a docker-archive's layers by diffID (it decompresses them).
            let layers: Vec<String> = match format {
                "oci-archive" => f.images[i]
                    .layers
                    .iter()
                    .map(|l| l.digest.to_string())
                    .collect(),
                _ => f.images[i].diff_ids.iter().map(|d| d.to_string()).collect(),
            };
            assert_eq!(info["Layers"], serde_json::json!(layers), "{reference}");
        }
    }
}

#[test]
fn umoci_reads_the_oci_layout() {
    if !have("umoci") {
        return;
    }
    let f = fixture();
    for format in [SaveFormat::OciArchive, SaveFormat::DockerArchive] {
        let (archive, _) = save_file(&f, format, "umoci.tar");
        let dir = f.root.join(format!("layout-{format:?}"));
        untar(&archive, &dir);
        let tags = String::from_utf8(run(Command::new("umoci")
            .args(["ls", "--layout"])
            .arg(&dir)))
        .unwrap();
        let mut tags: Vec<&str> = tags.lines().collect();
        tags.sort_unstable();
        assert_eq!(tags, ["one", "three", "two"], "{format:?}");
        for tag in ["one", "two"] {
            let stat = run(Command::new("umoci")
                .args(["stat", "--json", "--image"])
                .arg(format!("{}:{tag}", dir.display())));
            let stat: Value = serde_json::from_slice(&stat).unwrap();
            assert_eq!(
                stat["history"].as_array().unwrap().len(),
                2,
                "{format:?} {tag}"
            );
        }
    }
}

#[test]
fn podman_loads_the_docker_archive() {
    if !have("podman") {
        return;
    }
    let f = fixture();
    let (archive, _) = save_file(&f, SaveFormat::DockerArchive, "podman.tar");
    let root = f.root.join("podman-root");
    let runroot = f.root.join("podman-runroot");
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "none",
                "--cgroup-manager",
                "cgroupfs",
            ]);
        c
    };
    run(podman().arg("load").arg("-i").arg(&archive));
    let listed = String::from_utf8(run(podman().args([
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ])))
    .unwrap();
    let mut lines: Vec<&str> = listed.lines().collect();
    lines.sort_unstable();
    let a = f.images[0].id.to_string();
    let b = f.images[1].id.to_string();
    let mut want = vec![
        format!("{a} docker.io/berth-test/a:one"),
        format!("{b} docker.io/berth-test/b:three"),
        format!("{b} docker.io/berth-test/b:two"),
    ];
    want.sort_unstable();
    // podman prints IDs with or without the algorithm depending on the version.
    let lines: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.starts_with("sha256:") {
                l.to_string()
            } else {
                format!("sha256:{l}")
            }
        })
        .collect();
    assert_eq!(lines, want);
    // vfs leaves no mounts: removing the temp dir removes the store (no `system reset`, which
    // would also touch the host's network configs).
}

/// Throughput on a 300 MiB image (3 × 100 MiB blobs + a small one), warm cache. Not run in CI:
/// `cargo test --release -p berth-image --lib save::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_300mib() {
    let dir = tempfile::tempdir_in(std::env::var("BERTH_BENCH_DIR").unwrap_or("/var/tmp".into()))
        .unwrap();
    let store = ContentStore::open(&dir.path().join("store")).unwrap();
    let mut layers = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (i, len) in [2 << 20, 100 << 20, 100 << 20, 100 << 20]
        .into_iter()
        .enumerate()
    {
        let mut data = vec![0u8; len];
        if i != 3 {
            for chunk in data.chunks_mut(8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
            }
        }
        let d = put(&store, &data);
        layers.push(Descriptor::new(media_types::OCI_LAYER, d, len as u64));
    }
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
    let cfg = config(&diff_ids.iter().collect::<Vec<_>>(), "/bin/sh");
    let cfg_d = put(&store, &cfg);
    let manifest = serde_json::to_vec(&Manifest::oci(
        Descriptor::new(media_types::OCI_CONFIG, cfg_d.clone(), cfg.len() as u64),
        layers.clone(),
    ))
    .unwrap();
    let manifest_d = put(&store, &manifest);
    let images = [SaveImage {
        id: cfg_d.clone(),
        tags: vec!["docker.io/library/bench:latest".into()],
        manifest_digest: manifest_d,
        manifest_media_type: media_types::OCI_MANIFEST.into(),
        config_digest: cfg_d,
        layers,
        diff_ids,
    }];
    let mib = |b: u64, t: std::time::Duration| b as f64 / (1 << 20) as f64 / t.as_secs_f64();
    for round in 0..3 {
        let out_path = dir.path().join("out.tar");
        let mut out = File::create(&out_path).unwrap();
        let t = std::time::Instant::now();
        let stats = save_to_file(&images, &store, SaveFormat::DockerArchive, &mut out).unwrap();
        let file_time = t.elapsed();
        drop(out);
        std::fs::remove_file(&out_path).unwrap();

        // The copy alone, without the digest check.
        let mut out = File::create(&out_path).unwrap();
        let t = std::time::Instant::now();
        let plan = super::plan(&images, &store, SaveFormat::DockerArchive).unwrap();
        super::run(&plan, &mut FileSink { out: &mut out }, false).unwrap();
        let copy_time = t.elapsed();
        drop(out);
        std::fs::remove_file(&out_path).unwrap();

        let mut sink = io::sink();
        let t = std::time::Instant::now();
        save(&images, &store, SaveFormat::DockerArchive, &mut sink).unwrap();
        let stream_time = t.elapsed();

        // To a pipe drained by another thread (the CLI's stdout): File sink, then stream sink.
        let mut pipe_times = Vec::new();
        for as_file in [true, false] {
            let (rd, wr) = nix::unistd::pipe().unwrap();
            let drain = std::thread::spawn(move || io::copy(&mut File::from(rd), &mut io::sink()));
            let mut out = File::from(wr);
            let t = std::time::Instant::now();
            if as_file {
                save_to_file(&images, &store, SaveFormat::DockerArchive, &mut out).unwrap();
            } else {
                save(&images, &store, SaveFormat::DockerArchive, &mut out).unwrap();
            }
            drop(out);
            drain.join().unwrap().unwrap();
            pipe_times.push(t.elapsed().as_secs_f64());
        }

        let blobs: Vec<(Digest, PathBuf)> = images[0]
            .layers
            .iter()
            .map(|l| (l.digest.clone(), store.blob_path(&l.digest)))
            .collect();
        let refs: Vec<(&Digest, &PathBuf)> = blobs.iter().map(|(d, p)| (d, p)).collect();
        let t = std::time::Instant::now();
        verify_blobs(&refs, &AtomicBool::new(false)).unwrap();
        let verify_time = t.elapsed();
        eprintln!(
            "round {round}: {} MiB archive; save_to_file {:.3} s ({:.0} MiB/s); stream to sink {:.3} s ({:.0} MiB/s); pipe: as file {:.3} s, as stream {:.3} s; sha256 alone {:.3} s; file copy alone {:.3} s",
            stats.archive_bytes >> 20,
            file_time.as_secs_f64(),
            mib(stats.archive_bytes, file_time),
            stream_time.as_secs_f64(),
            mib(stats.archive_bytes, stream_time),
            pipe_times[0],
            pipe_times[1],
            verify_time.as_secs_f64(),
            copy_time.as_secs_f64(),
        );
    }
}

/// Through the image store, with each driver (overlay only unpacks into layer directories:
/// nothing is mounted): an archive loads, saves again in both formats, and each of those loads
/// into a fresh store with the same image IDs, tags and diffIDs.
#[test]
fn round_trip_through_the_store() {
    for driver in [crate::Driver::Copy, crate::Driver::Overlay] {
        round_trip_with(driver);
    }
}

fn round_trip_with(driver: crate::Driver) {
    use crate::ImageStore;
    let f = fixture();
    let (first, _) = save_file(&f, SaveFormat::DockerArchive, "first.tar");
    let load = |root: &str, archive: &Path| {
        let store = ImageStore::open_with(&f.root.join(root), driver).unwrap();
        let mut input = File::open(archive).unwrap();
        let loaded = store.load(&mut input, &mut |_| {}).unwrap();
        // An image may be reported once per index entry (tag): merge by ID.
        let mut by_id: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for l in loaded {
            by_id.entry(l.id).or_default().extend(l.tags);
        }
        let summary: Vec<(Digest, Vec<String>, Vec<Digest>)> = by_id
            .into_iter()
            .map(|(id, mut tags)| {
                tags.sort_unstable();
                tags.dedup();
                let diff_ids = store.config(&id).unwrap().rootfs.diff_ids;
                (id, tags, diff_ids)
            })
            .collect();
        (store, summary)
    };
    let (store, want) = load("store-1", &first);
    let mut ids: Vec<Digest> = f.images.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(want.iter().map(|w| w.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(want.iter().map(|w| w.1.len()).sum::<usize>(), 3);

    let names = vec![
        "berth-test/a:one".to_string(),
        "berth-test/b:two".to_string(),
        "berth-test/b:three".to_string(),
    ];
    for (i, format) in [SaveFormat::DockerArchive, SaveFormat::OciArchive]
        .into_iter()
        .enumerate()
    {
        let path = f.root.join(format!("again-{i}.tar"));
        let mut out = File::create(&path).unwrap();
        store.save_to_file(&names, format, &mut out).unwrap();
        drop(out);
        let (_, got) = load(&format!("store-again-{i}"), &path);
        assert_eq!(got, want, "{driver:?} {format:?}");
    }
}
