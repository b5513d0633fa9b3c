//! Real clients against the server: skopeo (plain, basic auth, TLS) and podman push/pull.
//! Each test skips with a message when its client is not installed.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes a one-layer OCI image layout (tag `v1`) under `dir`.
fn oci_layout(dir: &Path) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/hello"), data(300_000, 30)).unwrap();
    let layer_path = dir.join("layer.tar");
    let ok = Command::new("tar")
        .args([
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            layer_path.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let layer = std::fs::read(&layer_path).unwrap();
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        std::fs::write(blobs.join(digest(b).hex()), b).unwrap();
        digest(b)
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer).to_string()]},
    }))
    .unwrap();
    put(&config);
    put(&layer);
    let m = manifest(&config, &[&layer]);
    let md = put(&m);
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(), "size": m.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
        .trim_start_matches("https://")
}

#[test]
fn skopeo_push_and_pull() {
    if !have("skopeo") {
        eprintln!("skipped: skopeo is not installed");
        return;
    }
    let s = start();
    let dir = tempfile::tempdir().unwrap();
    oci_layout(dir.path());
    let src = format!("oci:{}:v1", dir.path().join("layout").display());
    let dst = format!("docker://{}/interop/img:v1", host(&s.base));
    let (ok, out) =
        run(Command::new("skopeo").args(["copy", "--dest-tls-verify=false", &src, &dst]));
    assert!(ok, "{out}");
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &dst])
        .output()
        .unwrap();
    assert!(out.status.success());
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pulled = dir.path().join("pulled");
    let (ok, out) = run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &dst,
        &format!("oci:{}:v1", pulled.display()),
    ]));
    assert!(ok, "{out}");
    // skopeo compressed the layer on push: the pulled layout holds what the registry served.
    for l in pushed["layers"].as_array().unwrap() {
        let d: berth_oci::Digest = l["digest"].as_str().unwrap().parse().unwrap();
        let got = std::fs::read(pulled.join("blobs/sha256").join(d.hex())).unwrap();
        assert_eq!(digest(&got), d);
    }
    // A second push finds every blob in place.
    let (ok, out) =
        run(Command::new("skopeo").args(["copy", "--dest-tls-verify=false", &src, &dst]));
    assert!(ok, "{out}");
}

#[test]
fn skopeo_with_basic_auth() {
    if !have("skopeo") {
        eprintln!("skipped: skopeo is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("bob:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let s = start_with(|o| o.htpasswd = Some(file.clone()));
    oci_layout(dir.path());
    let src = format!("oci:{}:v1", dir.path().join("layout").display());
    let dst = format!("docker://{}/auth/img:v1", host(&s.base));
    let authfile = dir.path().join("auth.json");
    std::fs::write(&authfile, "{}").unwrap();
    let a = authfile.to_str().unwrap();
    let (ok, _) = run(Command::new("skopeo").args([
        "copy",
        "--authfile",
        a,
        "--dest-tls-verify=false",
        &src,
        &dst,
    ]));
    assert!(!ok, "push without credentials must fail");
    let (ok, _) = run(Command::new("skopeo").args([
        "copy",
        "--authfile",
        a,
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:bad",
        &src,
        &dst,
    ]));
    assert!(!ok, "push with a wrong password must fail");
    let (ok, out) = run(Command::new("skopeo").args([
        "copy",
        "--authfile",
        a,
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:pw",
        &src,
        &dst,
    ]));
    assert!(ok, "{out}");
}

#[test]
fn skopeo_over_tls() {
    if !have("skopeo") || !have("openssl") {
        eprintln!("skipped: skopeo or openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (ok, out) = run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]));
    assert!(ok, "{out}");
    let s = start_with(|o| {
        o.tls_cert = Some(cert.clone());
        o.tls_key = Some(key.clone());
    });
    oci_layout(dir.path());
    let src = format!("oci:{}:v1", dir.path().join("layout").display());
    let dst = format!("docker://{}/tls/img:v1", host(&s.base));
    let (ok, out) =
        run(Command::new("skopeo").args(["copy", "--dest-tls-verify=false", &src, &dst]));
    assert!(ok, "{out}");
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
    let (ok, out) =
        run(Command::new("skopeo").args(["inspect", "--cert-dir", certs.to_str().unwrap(), &dst]));
    assert!(ok, "verified TLS: {out}");
}

#[test]
fn podman_pull_and_push() {
    if !have("podman") || !have("skopeo") {
        eprintln!("skipped: podman or skopeo is not installed");
        return;
    }
    let s = start();
    let dir = tempfile::tempdir().unwrap();
    oci_layout(dir.path());
    let h = host(&s.base).to_string();
    let src = format!("oci:{}:v1", dir.path().join("layout").display());
    let (ok, out) = run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{h}/podman/src:v1"),
    ]));
    assert!(ok, "{out}");
    let p = dir.path().join("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.args([
            "--root",
            p.join("root").to_str().unwrap(),
            "--runroot",
            p.join("run").to_str().unwrap(),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .args(args);
        run(&mut c)
    };
    let (ok, out) = podman(&["pull", "--tls-verify=false", &format!("{h}/podman/src:v1")]);
    assert!(ok, "{out}");
    let (ok, out) = podman(&[
        "push",
        "--tls-verify=false",
        &format!("{h}/podman/src:v1"),
        &format!("{h}/podman/pushed:v2"),
    ]);
    assert!(ok, "{out}");
    let r = req(
        "GET",
        &format!("{}/v2/podman/pushed/tags/list", s.base),
        &[],
        None,
    );
    assert_eq!(r.json()["tags"], serde_json::json!(["v2"]));
    let (ok, out) = podman(&[
        "pull",
        "--tls-verify=false",
        &format!("{h}/podman/pushed:v2"),
    ]);
    assert!(ok, "{out}");
    let _ = podman(&["rmi", "-af"]);
}
