//! Interop with podman, skopeo and umoci: archives they write load in berth with the same image
//! ID and diffIDs; archives berth writes load in podman and pass umoci / skopeo on the OCI layout.

use crate::common::*;
use crate::skip;
use std::fs;
use std::process::Command;

/// A podman store holding `localhost/interop:1` (busybox rootfs + a small random layer, loaded
/// from a fixture archive) and `localhost/imported:1` (`podman import` of the rootfs tar).
fn podman_with_images(fx: &Fixtures) -> Option<(Podman, Archive)> {
    let podman = Podman::new()?;
    let rootfs = fx.rootfs();
    let rnd = fx.random_layer("rnd.tar", 1.0);
    let a = fx.archive(
        "src.tar",
        &[&rootfs, &rnd],
        &["localhost/interop:1"],
        "none",
        false,
    );
    podman.ok(&["load", "-i", a.path.to_str().unwrap()]);
    assert_eq!(podman.id("localhost/interop:1"), hex(&a.id));
    podman.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        rootfs.to_str().unwrap(),
        "localhost/imported:1",
    ]);
    Some((podman, a))
}

/// Loads `archive` into a fresh berth store and asserts it holds the image podman knows as `img`
/// (same ID, same diffIDs).
fn assert_berth_loads_as_podman(podman: &Podman, img: &str, archive: &std::path::Path) {
    let store = Store::new();
    let out = store.load(archive);
    let want_id = podman.id(img);
    let ids = store.ids();
    assert_eq!(
        ids,
        vec![format!("sha256:{want_id}")],
        "berth load of {} (stdout: {out})",
        archive.display()
    );
    assert_eq!(store.diff_ids(&want_id), podman.diff_ids(img));
    store.assert_consistent("after loading a podman/skopeo archive");
}

#[test]
fn podman_docker_archive_loads_with_same_id() {
    let fx = Fixtures::new();
    let Some((podman, _)) = podman_with_images(&fx) else {
        return;
    };
    for img in ["localhost/interop:1", "localhost/imported:1"] {
        let out = fx.path(&format!("{}.docker.tar", img.replace(['/', ':'], "_")));
        podman.ok(&["save", "-o", out.to_str().unwrap(), img]);
        assert_berth_loads_as_podman(&podman, img, &out);
        // The tag came along.
        let store = Store::new();
        store.load(&out);
        assert_eq!(
            store.inspect(img)["Id"].as_str().unwrap(),
            format!("sha256:{}", podman.id(img))
        );
    }
}

#[test]
fn podman_oci_archive_loads_with_same_id() {
    let fx = Fixtures::new();
    let Some((podman, _)) = podman_with_images(&fx) else {
        return;
    };
    for img in ["localhost/interop:1", "localhost/imported:1"] {
        let out = fx.path(&format!("{}.oci.tar", img.replace(['/', ':'], "_")));
        podman.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            out.to_str().unwrap(),
            img,
        ]);
        // podman may re-serialise the config when converting to OCI: the ID to match is the one
        // podman itself gives the archive when loading it.
        let again = Podman::new().unwrap();
        again.ok(&["load", "-i", out.to_str().unwrap()]);
        let listed = again.ok(&["images", "-q", "--no-trunc"]);
        let want = lines(&listed);
        assert_eq!(want.len(), 1, "{listed}");
        let want_hex = hex(&want[0]).to_string();
        assert_berth_loads_as_podman(&again, &want_hex, &out);
    }
}

#[test]
fn skopeo_oci_archive_loads_with_same_id() {
    if !have("skopeo") {
        skip!("skopeo is not installed");
    }
    let fx = Fixtures::new();
    let Some((podman, src)) = podman_with_images(&fx) else {
        return;
    };
    let oci = fx.path("skopeo.oci.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("docker-archive:{}", src.path.display()),
        &format!("oci-archive:{}:v1", oci.display()),
    ]));
    // skopeo re-serialises the config when converting to OCI: the ID to match is the one podman
    // gives the same archive; the diffIDs are the source's.
    let again = Podman::new().unwrap();
    again.ok(&["load", "-i", oci.to_str().unwrap()]);
    let want = lines(&again.ok(&["images", "-q", "--no-trunc"]));
    assert_eq!(want.len(), 1, "{want:?}");
    let store = Store::new();
    store.load(&oci);
    assert_eq!(store.ids(), want);
    assert_eq!(store.diff_ids(&want[0]), src.diff_ids);
    assert_eq!(
        store.diff_ids(&want[0]),
        podman.diff_ids("localhost/interop:1")
    );
    store.assert_consistent("after loading skopeo's oci-archive");

    // And skopeo's docker-archive (written from podman's storage via its own save).
    let dock = fx.path("skopeo.docker.tar");
    let pd = fx.path("pd.tar");
    podman.ok(&["save", "-o", pd.to_str().unwrap(), "localhost/imported:1"]);
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("docker-archive:{}", pd.display()),
        &format!("docker-archive:{}:localhost/skopeo:1", dock.display()),
    ]));
    assert_berth_loads_as_podman(&podman, "localhost/imported:1", &dock);
}

#[test]
fn berth_docker_archive_loads_in_podman_and_runs() {
    let fx = Fixtures::new();
    let Some(podman) = Podman::new() else { return };
    let a = fx.small_image("a.tar", &["localhost/berthsaved:1"]);
    let store = Store::new();
    store.load(&a.path);
    let saved = fx.path("berth-saved.tar");
    store.ok(&[
        "save",
        "-o",
        saved.to_str().unwrap(),
        "localhost/berthsaved:1",
    ]);
    podman.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(podman.id("localhost/berthsaved:1"), hex(&a.id));
    assert_eq!(podman.diff_ids("localhost/berthsaved:1"), a.diff_ids);
    if !have("runc") {
        skip!("runc is not installed: not running the image");
    }
    let out = podman.run(&[
        "--rm",
        "--network",
        "none",
        "--runtime",
        "runc",
        "localhost/berthsaved:1",
        "sh",
        "-c",
        "echo hello-from-berth-image; ls /data",
    ]);
    assert!(out.contains("hello-from-berth-image"), "{out}");
    assert!(out.contains("blob"), "the second layer is there: {out}");
}

#[test]
fn berth_save_to_stdout_loads_in_podman() {
    let fx = Fixtures::new();
    let Some(podman) = Podman::new() else { return };
    let a = fx.small_image("a.tar", &["localhost/stdout:1"]);
    let store = Store::new();
    store.load(&a.path);
    let saved = fx.path("stdout.tar");
    let f = fs::File::create(&saved).unwrap();
    let st = store
        .cmd()
        .args(["save", "localhost/stdout:1"])
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success());
    podman.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(podman.id("localhost/stdout:1"), hex(&a.id));
}

#[test]
fn berth_oci_archive_passes_umoci_and_skopeo() {
    let fx = Fixtures::new();
    let a = fx.small_image("a.tar", &["localhost/ocisave:v2"]);
    let store = Store::new();
    store.load(&a.path);
    let saved = fx.path("berth.oci.tar");
    store.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        saved.to_str().unwrap(),
        "localhost/ocisave:v2",
    ]);
    let layout = fx.path("layout");
    untar(&saved, &layout);
    assert_eq!(
        fs::read_to_string(layout.join("oci-layout"))
            .map(|s| s.contains("1.0.0"))
            .ok(),
        Some(true),
        "oci-layout file"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "{index}");
    let ref_name = manifests[0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .map(str::to_string);
    let mdigest = manifests[0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex(mdigest))).unwrap())
            .unwrap();
    assert_eq!(manifest["config"]["digest"].as_str().unwrap(), a.id);

    if have("umoci") {
        let out = run_ok(Command::new("umoci").args(["ls", "--layout"]).arg(&layout));
        if let Some(r) = &ref_name {
            assert!(out.lines().any(|l| l.trim() == r), "umoci ls: {out}");
            let stat = run_ok(
                Command::new("umoci")
                    .args(["stat", "--json", "--image"])
                    .arg(format!("{}:{r}", layout.display())),
            );
            assert!(stat.contains("history"), "umoci stat: {stat}");
        }
    } else {
        eprintln!("SKIP part: umoci is not installed");
    }
    if have("skopeo") {
        let src = match &ref_name {
            Some(r) => format!("oci:{}:{r}", layout.display()),
            None => format!("oci:{}", layout.display()),
        };
        let raw = run_ok(Command::new("skopeo").args(["inspect", "--config", "--raw", &src]));
        let digest = format!("sha256:{}", {
            let p = fx.path("config.json");
            write(&p, raw.as_bytes());
            sha256_file(&p)
        });
        assert_eq!(digest, a.id, "skopeo's config of the berth layout");
        let info = run_ok(Command::new("skopeo").args(["inspect", &src]));
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(strings(&v["Layers"]).len(), a.diff_ids.len(), "{info}");
        // skopeo can copy it on, byte-verifying every blob.
        let copy = fx.path("copy");
        run_ok(Command::new("skopeo").args([
            "copy",
            "--quiet",
            &src,
            &format!("oci:{}:copied", copy.display()),
        ]));
    } else {
        eprintln!("SKIP part: skopeo is not installed");
    }
    // podman loads the OCI archive too, with the same ID.
    if let Some(podman) = Podman::new() {
        podman.ok(&["load", "-i", saved.to_str().unwrap()]);
        let listed = lines(&podman.ok(&["images", "-q", "--no-trunc"]));
        assert_eq!(listed, vec![a.id.clone()]);
    }
}

#[test]
fn bootstrap_busybox_round_trips_through_podman() {
    let Some(podman) = Podman::new() else { return };
    if !std::path::Path::new("/bin/busybox").exists() {
        skip!("/bin/busybox (busybox-static) is not installed");
    }
    let fx = Fixtures::new();
    let store = Store::new();
    store.ok(&["image", "bootstrap", "busybox"]);
    let ids = store.ids();
    assert_eq!(ids.len(), 1, "bootstrap busybox made one image: {ids:?}");
    let saved = fx.path("bb.tar");
    store.ok(&["save", "-o", saved.to_str().unwrap(), &ids[0]]);
    podman.ok(&["load", "-i", saved.to_str().unwrap()]);
    let listed = lines(&podman.ok(&["images", "-q", "--no-trunc"]));
    assert_eq!(listed, ids);
    if have("runc") {
        let out = podman.run(&[
            "--rm",
            "--network",
            "none",
            "--runtime",
            "runc",
            hex(&ids[0]),
            "sh",
            "-c",
            "echo bootstrap-ok",
        ]);
        assert!(out.contains("bootstrap-ok"), "{out}");
    }
}
