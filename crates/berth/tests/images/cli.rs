//! The image commands' behaviour, docker's: images (filters, formats), tag, rmi, history,
//! image inspect, import with --change, save/load round trips, image prune, system df.

use crate::common::*;
use std::fs;
use std::process::{Command, Stdio};

/// Two images: A (`localhost/a:1`) and B (`localhost/b:1`), sharing the busybox layer.
struct Two {
    fx: Fixtures,
    store: Store,
    a: Archive,
    b: Archive,
}

fn two() -> Two {
    let fx = Fixtures::new();
    let a = fx.small_image("a.tar", &["localhost/a:1"]);
    let rootfs = fx.rootfs();
    let r = fx.random_layer("b-r.tar", 0.5);
    let b = fx.archive("b.tar", &[&rootfs, &r], &["localhost/b:1"], "none", false);
    let store = Store::new();
    let out = store.load(&a.path);
    assert!(
        out.contains("Loaded image"),
        "load prints what it loaded: {out}"
    );
    assert!(out.contains("localhost/a:1"), "{out}");
    store.load(&b.path);
    Two { fx, store, a, b }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[test]
fn images_table_quiet_and_no_trunc() {
    let t = two();
    let out = t.store.ok(&["images"]);
    let header = out.lines().next().unwrap_or_default();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "header lacks {col}: {out}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("localhost/a "))
        .unwrap_or_else(|| panic!("no row for localhost/a: {out}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[1], "1", "{row}");
    assert_eq!(fields[2], &hex(&t.a.id)[..12], "{row}");
    let q = sorted(lines(&t.store.ok(&["images", "-q"])));
    assert_eq!(
        q,
        sorted(vec![
            hex(&t.a.id)[..12].to_string(),
            hex(&t.b.id)[..12].to_string()
        ])
    );
    assert_eq!(t.store.ids(), sorted(vec![t.a.id.clone(), t.b.id.clone()]));
    let digests = t.store.ok(&["images", "--digests"]);
    assert!(
        digests.lines().next().unwrap().contains("DIGEST"),
        "{digests}"
    );
    let no_trunc = t.store.ok(&["images", "--no-trunc"]);
    assert!(no_trunc.contains(&t.a.id), "{no_trunc}");
    // Positional REPO[:TAG].
    let only_a = lines(&t.store.ok(&["images", "-q", "localhost/a"]));
    assert_eq!(only_a, vec![hex(&t.a.id)[..12].to_string()]);
    let none = lines(&t.store.ok(&["images", "-q", "localhost/a:2"]));
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn images_format_and_filters() {
    let t = two();
    let fmt = sorted(lines(&t.store.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])));
    assert_eq!(fmt, vec!["localhost/a:1", "localhost/b:1"]);
    let ids = sorted(lines(&t.store.ok(&[
        "images",
        "--format",
        "{{.ID}} {{.Repository}}",
    ])));
    assert!(
        ids.contains(&format!("{} localhost/b", &hex(&t.b.id)[..12])),
        "{ids:?}"
    );
    // reference= filter, with a glob.
    let r = lines(&t.store.ok(&[
        "images",
        "-q",
        "--no-trunc",
        "--filter",
        "reference=localhost/b:*",
    ]));
    assert_eq!(r, vec![t.b.id.clone()]);
    let r = sorted(lines(&t.store.ok(&[
        "images",
        "-q",
        "--no-trunc",
        "--filter",
        "reference=localhost/*",
    ])));
    assert_eq!(r, sorted(vec![t.a.id.clone(), t.b.id.clone()]));
    // Loading another image with tag localhost/a:1 leaves the old one dangling.
    let rootfs = t.fx.rootfs();
    let r2 = t.fx.text_layer("a2.tar", 0.1);
    let a2 =
        t.fx.archive("a2.tar", &[&rootfs, &r2], &["localhost/a:1"], "none", false);
    t.store.load(&a2.path);
    let dangling = lines(
        &t.store
            .ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]),
    );
    assert_eq!(dangling, vec![t.a.id.clone()]);
    let not_dangling = sorted(lines(&t.store.ok(&[
        "images",
        "-q",
        "--no-trunc",
        "--filter",
        "dangling=false",
    ])));
    assert_eq!(not_dangling, sorted(vec![a2.id.clone(), t.b.id.clone()]));
    let fmt = sorted(lines(&t.store.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])));
    assert_eq!(fmt, vec!["<none>:<none>", "localhost/a:1", "localhost/b:1"]);
    // An unknown filter is an error.
    t.store.fails(&["images", "--filter", "bogus=1"]);
}

#[test]
fn images_label_filter() {
    let fx = Fixtures::new();
    let store = Store::new();
    let rootfs = fx.rootfs();
    let id = store
        .ok(&[
            "import",
            "-c",
            "LABEL team=berth",
            rootfs.to_str().unwrap(),
            "localhost/labelled:1",
        ])
        .trim()
        .to_string();
    store.ok(&["import", rootfs.to_str().unwrap(), "localhost/plain:1"]);
    let r = lines(&store.ok(&["images", "-q", "--no-trunc", "--filter", "label=team=berth"]));
    assert_eq!(r, vec![id.clone()]);
    let r = lines(&store.ok(&["images", "-q", "--no-trunc", "--filter", "label=team"]));
    assert_eq!(r, vec![id]);
}

#[test]
fn tag_and_rmi_like_docker() {
    let t = two();
    let s = &t.store;
    s.ok(&["tag", "localhost/a:1", "localhost/a:2"]);
    s.ok(&["tag", &hex(&t.a.id)[..12], "other"]);
    let tags = sorted(strings(&s.inspect("localhost/a:1")["RepoTags"]));
    assert_eq!(tags, vec!["localhost/a:1", "localhost/a:2", "other:latest"]);
    assert_eq!(
        s.inspect("docker.io/library/other:latest")["Id"],
        t.a.id.as_str()
    );
    let err = s.fails(&["tag", "localhost/nope:1", "x"]);
    assert!(err.contains("No such image"), "{err}");
    let err = s.fails(&["tag", "localhost/a:1", "Bad/Upper"]);
    assert!(err.to_lowercase().contains("invalid"), "{err}");

    // By ID with tags in several repositories: refused without -f.
    let err = s.fails(&["rmi", &hex(&t.a.id)[..12]]);
    assert!(
        err.contains("conflict: unable to delete")
            && err.contains("must be forced")
            && err.contains("referenced in multiple repositories"),
        "{err}"
    );
    assert!(s.ids().contains(&t.a.id));
    // By tag: untag only while other tags remain.
    let out = s.ok(&["rmi", "localhost/a:2"]);
    assert!(out.contains("Untagged: localhost/a:2"), "{out}");
    assert!(!out.contains("Deleted"), "{out}");
    assert!(s.ids().contains(&t.a.id));
    // -f by ID: all tags go, then the image.
    let out = s.ok(&["rmi", "-f", &hex(&t.a.id)[..12]]);
    assert!(out.contains("Untagged: localhost/a:1"), "{out}");
    assert!(out.contains("Untagged: other:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {}", t.a.id)), "{out}");
    assert_eq!(s.ids(), vec![t.b.id.clone()]);
    // The last tag by name deletes the image.
    let out = s.ok(&["rmi", "localhost/b:1"]);
    assert!(out.contains("Untagged: localhost/b:1"), "{out}");
    assert!(out.contains(&format!("Deleted: {}", t.b.id)), "{out}");
    assert!(s.ids().is_empty());
    let err = s.fails(&["rmi", "localhost/b:1"]);
    assert!(err.contains("No such image"), "{err}");
    // Two tags even in ONE repository: refused by ID too (docker's isSingleReference: at most
    // one tag); with a single tag, rmi by ID untags and deletes.
    s.load(&t.a.path);
    s.ok(&["tag", "localhost/a:1", "localhost/a:3"]);
    let err = s.fails(&["rmi", &t.a.id]);
    assert!(err.contains("must be forced"), "{err}");
    s.ok(&["rmi", "localhost/a:3"]);
    let out = s.ok(&["rmi", &t.a.id]);
    assert!(out.contains("Untagged: localhost/a:1"), "{out}");
    assert!(out.contains(&format!("Deleted: {}", t.a.id)), "{out}");
    s.ok(&["image", "prune", "-a", "-f"]);
    s.assert_consistent("after rmi");
    assert!(s.blob_files().is_empty(), "{:?}", s.blob_files());
}

#[test]
fn rmi_keeps_shared_layers() {
    let t = two();
    t.store.ok(&["rmi", "localhost/a:1"]);
    // B still has the busybox layer A shared, whole.
    assert_eq!(t.store.diff_ids("localhost/b:1"), t.b.diff_ids);
    t.store
        .assert_consistent("after removing one of two images");
    t.store.assert_blobs_verify("after rmi");
    let saved = t.fx.path("b-again.tar");
    t.store
        .ok(&["save", "-o", saved.to_str().unwrap(), "localhost/b:1"]);
    let other = Store::new();
    other.load(&saved);
    assert_eq!(other.ids(), vec![t.b.id.clone()]);
}

#[test]
fn history_rows() {
    let t = two();
    let created_by = lines(&t.store.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "localhost/a:1",
    ]));
    assert_eq!(
        created_by,
        vec!["fixtures.py layer 1", "fixtures.py layer 0"],
        "newest first"
    );
    let out = t.store.ok(&["history", "localhost/a:1"]);
    let header = out.lines().next().unwrap();
    for col in ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"] {
        assert!(header.contains(col), "{out}");
    }
    assert_eq!(out.lines().count(), 3, "{out}");
    let q = lines(&t.store.ok(&["history", "-q", "localhost/a:1"]));
    assert_eq!(q[0], hex(&t.a.id)[..12], "{q:?}");
    t.store.fails(&["history", "localhost/none:1"]);
}

#[test]
fn inspect_shape() {
    let t = two();
    let v = t.store.inspect("localhost/a:1");
    assert_eq!(v["Id"], t.a.id.as_str());
    assert_eq!(strings(&v["RepoTags"]), vec!["localhost/a:1"]);
    assert!(v["RepoDigests"].is_array(), "{v}");
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(strings(&v["RootFS"]["Layers"]), t.a.diff_ids);
    assert_eq!(strings(&v["Config"]["Cmd"]), vec!["sh"]);
    assert!(strings(&v["Config"]["Env"])[0].starts_with("PATH="), "{v}");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Created"], "2024-01-01T00:00:00Z");
    assert!(v["Size"].as_u64().unwrap() > 2_000_000, "{v}");
    // By short ID, by full ID, via `inspect`, with --format.
    assert_eq!(t.store.inspect(&hex(&t.a.id)[..12])["Id"], t.a.id.as_str());
    assert_eq!(t.store.inspect(&t.a.id)["Id"], t.a.id.as_str());
    let top: serde_json::Value =
        serde_json::from_str(&t.store.ok(&["inspect", "localhost/b:1"])).unwrap();
    assert_eq!(top[0]["Id"], t.b.id.as_str());
    let f = t
        .store
        .ok(&["image", "inspect", "--format", "{{.Id}}", "localhost/b:1"]);
    assert_eq!(f.trim(), t.b.id);
    // Several at once; a missing one is an error naming it.
    let both: serde_json::Value =
        serde_json::from_str(
            &t.store
                .ok(&["image", "inspect", "localhost/a:1", "localhost/b:1"]),
        )
        .unwrap();
    assert_eq!(both.as_array().unwrap().len(), 2);
    let err = t.store.fails(&["image", "inspect", "localhost/missing:1"]);
    assert!(err.contains("localhost/missing:1"), "{err}");
}

#[test]
fn import_with_changes() {
    let fx = Fixtures::new();
    let store = Store::new();
    let rootfs = fx.rootfs();
    let out = store.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=b",
        "-c",
        "WORKDIR /tmp",
        "-m",
        "imported for a test",
        rootfs.to_str().unwrap(),
        "localhost/imp:1",
    ]);
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let v = store.inspect("localhost/imp:1");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(strings(&v["Config"]["Cmd"]), vec!["sh"]);
    assert!(
        strings(&v["Config"]["Env"]).contains(&"A=b".to_string()),
        "{v}"
    );
    assert_eq!(v["Config"]["WorkingDir"], "/tmp");
    let layers = strings(&v["RootFS"]["Layers"]);
    assert_eq!(layers.len(), 1);
    if layers[0] != format!("sha256:{}", sha256_file(&rootfs)) {
        eprintln!("note: import's diffID is not the tarball's sha256 (docker's is)");
    }
    let comments = store.ok(&["history", "--format", "{{.Comment}}", "localhost/imp:1"]);
    assert!(comments.contains("imported for a test"), "{comments}");
    // From stdin, and gzip-compressed: the same layer.
    let gz = fx.path("rootfs.tar.gz");
    gzip(&rootfs, &gz);
    store.ok_stdin(&["import", "-", "localhost/imp:2"], &gz);
    assert_eq!(store.diff_ids("localhost/imp:2"), layers);
    store.ok(&["import", gz.to_str().unwrap(), "localhost/imp:3"]);
    assert_eq!(store.diff_ids("localhost/imp:3"), layers);
    // Without a name: a dangling image.
    let bare = store.ok(&["import", rootfs.to_str().unwrap()]);
    let dangling = lines(&store.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]));
    assert_eq!(dangling, vec![bare.trim().to_string()]);
    // A bad change is refused.
    let err = store.fails(&["import", "-c", "FROB x", rootfs.to_str().unwrap()]);
    assert!(err.contains("FROB"), "{err}");
    store.assert_consistent("after imports");
}

#[test]
fn save_load_round_trips() {
    let t = two();
    let s = &t.store;
    s.ok(&["tag", "localhost/a:1", "localhost/a:extra"]);
    // To a file.
    let f = t.fx.path("rt.tar");
    s.ok(&["save", "-o", f.to_str().unwrap(), "localhost/a:1"]);
    let other = Store::new();
    let out = other.load(&f);
    assert!(out.contains("localhost/a:1"), "{out}");
    assert_eq!(other.ids(), vec![t.a.id.clone()]);
    assert_eq!(other.diff_ids(&t.a.id), t.a.diff_ids);
    assert_eq!(
        other.inspect(&t.a.id)["Config"],
        s.inspect(&t.a.id)["Config"]
    );
    // Saving twice gives the same bytes (deterministic archives).
    let f2 = t.fx.path("rt2.tar");
    s.ok(&["save", "-o", f2.to_str().unwrap(), "localhost/a:1"]);
    assert_eq!(sha256_file(&f), sha256_file(&f2), "save is deterministic");

    // stdout -> stdin, several images at once.
    let third = Store::new();
    let mut save = s
        .cmd()
        .args(["save", "localhost/a:1", "localhost/b:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = third
        .cmd()
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success());
    assert!(
        load.status.success(),
        "{}",
        describe("load from a pipe", &load)
    );
    assert_eq!(third.ids(), sorted(vec![t.a.id.clone(), t.b.id.clone()]));
    let tags = sorted(lines(&third.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])));
    assert_eq!(tags, vec!["localhost/a:1", "localhost/b:1"]);
    third.assert_consistent("after a piped load");

    // gzip-compressed, by file and by stdin.
    let gz = t.fx.path("rt.tar.gz");
    gzip(&f, &gz);
    let fourth = Store::new();
    fourth.load(&gz);
    assert_eq!(fourth.ids(), vec![t.a.id.clone()]);
    let fifth = Store::new();
    fifth.ok_stdin(&["load"], &gz);
    assert_eq!(fifth.ids(), vec![t.a.id.clone()]);
    if have("zstd") {
        let zst = t.fx.path("rt.tar.zst");
        run_ok(
            Command::new("zstd")
                .args(["-q", "-1", "-o"])
                .arg(&zst)
                .arg(&f),
        );
        let sixth = Store::new();
        sixth.load(&zst);
        assert_eq!(sixth.ids(), vec![t.a.id.clone()]);
    }

    // OCI archive round trip.
    let oci = t.fx.path("rt.oci.tar");
    s.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().unwrap(),
        "localhost/b:1",
    ]);
    let seventh = Store::new();
    seventh.load(&oci);
    assert_eq!(seventh.ids(), vec![t.b.id.clone()]);
    assert_eq!(seventh.diff_ids(&t.b.id), t.b.diff_ids);

    // Loading what is already there is a no-op that still succeeds.
    s.load(&t.a.path);
    assert_eq!(s.ids(), sorted(vec![t.a.id.clone(), t.b.id.clone()]));
    s.assert_consistent("after reloading");

    // Saving a missing image fails and writes no file.
    let nope = t.fx.path("nope.tar");
    let err = s.fails(&["save", "-o", nope.to_str().unwrap(), "localhost/zz:1"]);
    assert!(err.contains("localhost/zz:1"), "{err}");
    assert!(!nope.exists(), "a failed save left {}", nope.display());
}

#[test]
fn prune_dangling_then_all() {
    let t = two();
    let rootfs = t.fx.rootfs();
    let r2 = t.fx.text_layer("a2.tar", 0.1);
    let a2 =
        t.fx.archive("a2.tar", &[&rootfs, &r2], &["localhost/a:1"], "none", false);
    t.store.load(&a2.path);
    // Dangling only.
    let out = t.store.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&t.a.id), "prune names what it deleted: {out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(t.store.ids(), sorted(vec![a2.id.clone(), t.b.id.clone()]));
    assert_eq!(t.store.diff_ids(&a2.id), a2.diff_ids);
    t.store.assert_consistent("after prune");
    t.store.assert_blobs_verify("after prune");
    // All unused.
    t.store.ok(&["image", "prune", "-a", "-f"]);
    assert!(t.store.ids().is_empty());
    t.store.assert_consistent("after prune -a");
    assert!(
        t.store.blob_files().is_empty(),
        "{:?}",
        t.store.blob_files()
    );
    let snaps = find_named(&t.store.root, "busybox");
    assert!(snaps.is_empty(), "unpacked layers left: {snaps:?}");
}

#[test]
fn system_df() {
    let t = two();
    let out = t.store.ok(&["system", "df"]);
    let header = out.lines().next().unwrap();
    for col in ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] {
        assert!(header.contains(col), "{out}");
    }
    let images = out
        .lines()
        .find(|l| l.starts_with("Images"))
        .unwrap_or_else(|| panic!("no Images row: {out}"));
    let f: Vec<&str> = images.split_whitespace().collect();
    assert_eq!(f[1], "2", "{images}");
    assert_eq!(f[2], "0", "{images}");
    t.store.ok(&["system", "df", "-v"]);
}

#[test]
fn bootstrap_images() {
    if !std::path::Path::new("/bin/busybox").exists() {
        crate::skip!("/bin/busybox (busybox-static) is not installed");
    }
    let store = Store::new();
    store.ok(&["image", "bootstrap", "all"]);
    let names = sorted(lines(&store.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])));
    assert!(names.iter().any(|n| n.starts_with("busybox:")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("hello-world:")),
        "{names:?}"
    );
    let v = store.inspect("busybox");
    assert!(!strings(&v["Config"]["Cmd"]).is_empty(), "{v}");
    // Again: still two images, the store consistent.
    store.ok(&["image", "bootstrap", "busybox"]);
    store.assert_consistent("after bootstrap");
    let fmt = lines(&store.ok(&["images", "--format", "{{.Repository}}"]));
    assert_eq!(fmt.iter().filter(|n| *n == "busybox").count(), 1, "{fmt:?}");
}

#[test]
fn parallel_loads_share_a_store() {
    let fx = Fixtures::new();
    let rootfs = fx.rootfs();
    let archives: Vec<Archive> = (0..4)
        .map(|i| {
            let r = fx.random_layer(&format!("p{i}.tar"), 4.0);
            fx.archive(
                &format!("p{i}.tar"),
                &[&rootfs, &r],
                &[&format!("localhost/par:{i}")],
                "none",
                false,
            )
        })
        .collect();
    let store = Store::new();
    // Four different images (sharing the busybox layer) plus one twice, all at once.
    let mut children: Vec<_> = archives
        .iter()
        .chain(std::iter::once(&archives[0]))
        .map(|a| {
            store
                .cmd()
                .args(["load", "-i", a.path.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.drain(..).enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("parallel load #{i}"), &out)
        );
    }
    let want = sorted(archives.iter().map(|a| a.id.clone()).collect());
    assert_eq!(store.ids(), want);
    for a in &archives {
        assert_eq!(store.diff_ids(&a.id), a.diff_ids);
    }
    store.assert_consistent("after parallel loads");
    store.assert_blobs_verify("after parallel loads");
    // The shared busybox layer is unpacked once.
    let bb: Vec<_> = find_named(&store.root, "busybox")
        .into_iter()
        .filter(|p| p.ends_with("bin/busybox"))
        .collect();
    assert_eq!(bb.len(), 1, "{bb:?}");
    let _ = fs::metadata(&store.root);
}

#[test]
fn missing_input_file_is_named() {
    let store = Store::new();
    let out = store.run(&["load", "-i", "/nonexistent/archive.tar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/archive.tar"),
        "{}",
        describe("load of a missing file", &out)
    );
}

#[test]
fn system_df_verbose_lists_images() {
    let fx = Fixtures::new();
    let a = fx.small_image("a.tar", &["localhost/a:1"]);
    let store = Store::new();
    store.load(&a.path);
    let v = store.ok(&["system", "df", "-v"]);
    assert!(v.contains("REPOSITORY"), "{v}");
    assert!(v.contains("localhost/a"), "{v}");
}

#[test]
fn usage_errors_exit_125() {
    let store = Store::new();
    // Docker's CLI exits 125 on flag errors.
    let out = store.run(&["images", "--no-such-flag"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        describe("bad flag", &out)
    );
}
