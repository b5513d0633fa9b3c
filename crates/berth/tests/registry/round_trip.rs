//! Push then pull through docker-registry, with and without auth; skopeo pushes, berth pulls.

use crate::common::{have, run};
use crate::env::{Client, Registry};
use std::process::Command;

fn round_trip(reg: &Registry, a: &Client, b: &Client) {
    let name = format!("{}/test/bb:v1", reg.host());
    a.busybox_as(&name);
    let pushed = a.ok(&["push", &name]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    assert!(pushed.contains("Pushed"), "{pushed}");
    // Pushing again finds every blob there.
    let again = a.ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    let pulled = b.ok(&["pull", &name]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(
        pulled.contains("Status: Downloaded newer image for"),
        "{pulled}"
    );
    let ia = a.inspect(&name);
    let ib = b.inspect(&name);
    assert_eq!(ia["Id"], ib["Id"], "same image ID");
    assert_eq!(ia["RootFS"], ib["RootFS"], "same diffIDs");
    let digests = ib["RepoDigests"].to_string();
    let digest_line = pushed
        .lines()
        .find(|l| l.contains("digest:"))
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    assert!(digests.contains(&digest_line), "{digests} vs {digest_line}");
    // A second pull changes nothing.
    let up = b.ok(&["pull", &name]);
    assert!(up.contains("Image is up to date"), "{up}");
    // The pulled image is whole: system check is clean.
    b.store.assert_consistent("after pull");
    // Cross-repository mount: the same image pushed to another repo of the registry.
    let other = format!("{}/test/other:v1", reg.host());
    b.ok(&["tag", &name, &other]);
    let mounted = b.ok(&["push", &other]);
    assert!(mounted.contains("Mounted from test/bb"), "{mounted}");
}

#[test]
fn push_pull_round_trip_anonymous() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let (a, b) = (Client::new(), Client::new());
    round_trip(&reg, &a, &b);
    // pull -q prints the reference only; --all-tags pulls every tag.
    let c = Client::new();
    let q = c.ok(&["pull", "-q", &format!("{}/test/bb:v1", reg.host())]);
    assert_eq!(q.trim(), format!("{}/test/bb:v1", reg.host()));
    let all = Client::new();
    all.ok(&["pull", "--all-tags", &format!("{}/test/bb", reg.host())]);
    all.inspect(&format!("{}/test/bb:v1", reg.host()));
}

#[test]
fn push_pull_with_htpasswd_auth() {
    let Some(reg) = Registry::start(Some(("alice", "s3cret"))) else {
        return;
    };
    let (a, b) = (Client::new(), Client::new());
    let name = format!("{}/test/bb:v1", reg.host());
    a.busybox_as(&name);
    // Without credentials: refused.
    let err = a.fails(&["push", &name]);
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    // Wrong password: login fails, nothing stored.
    let err = a.fails(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!a.docker_config.join("config.json").exists());
    for c in [&a, &b] {
        let out = c.ok(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
        assert!(out.contains("Login Succeeded"), "{out}");
        let cfg = std::fs::read_to_string(c.docker_config.join("config.json")).unwrap();
        assert!(cfg.contains(&reg.host()), "{cfg}");
    }
    round_trip(&reg, &a, &b);
    let out = b.ok(&["logout", &reg.host()]);
    assert!(out.contains("Removing login credentials"), "{out}");
    let c = Client::new();
    let err = c.fails(&["pull", &name]);
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
}

#[test]
fn skopeo_pushes_berth_pulls() {
    if !have("skopeo") {
        eprintln!("SKIP: skopeo is not installed");
        return;
    }
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    a.ok(&["image", "bootstrap", "busybox"]);
    let tar = a.store.scratch.join("bb.tar");
    a.ok(&["save", "-o", tar.to_str().unwrap(), "busybox:latest"]);
    let dest = format!("docker://{}/sk/bb:latest", reg.host());
    let out = run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", tar.display()),
        &dest,
    ]));
    assert!(
        out.status.success(),
        "{}",
        crate::common::describe("skopeo copy", &out)
    );
    let b = Client::new();
    let name = format!("{}/sk/bb:latest", reg.host());
    b.ok(&["pull", &name]);
    let ib = b.inspect(&name);
    let ia = a.inspect("busybox:latest");
    assert_eq!(ia["Id"], ib["Id"]);
    b.store.assert_consistent("after pulling skopeo's push");
}

#[test]
fn docker_io_names_go_to_the_configured_mirror() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let on_mirror = format!("{}/library/mirrored:v1", reg.host());
    a.busybox_as(&on_mirror);
    a.ok(&["push", &on_mirror]);
    let b = Client::new();
    let settings = b.store.scratch.join("registries.json");
    std::fs::write(
        &settings,
        format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, reg.host()),
    )
    .unwrap();
    let out = b
        .cmd()
        .env("BERTH_REGISTRIES_CONFIG", &settings)
        .args(["pull", "mirrored:v1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        crate::common::describe("pull through a mirror", &out)
    );
    assert_eq!(b.inspect("mirrored:v1")["Id"], a.inspect(&on_mirror)["Id"]);
    // A platform the image is not: refused.
    let err = b.fails(&["pull", "--platform", "linux/s390x", &on_mirror]);
    assert!(err.contains("no matching manifest"), "{err}");
}

#[test]
fn large_layers_take_the_chunked_upload_and_round_trip() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let fx = crate::common::Fixtures::new();
    let rootfs = fx.rootfs();
    // Over the 16 MiB monolithic limit: PATCH then PUT.
    let big = fx.random_layer("big.tar", 20.0);
    let name = format!("{}/big/img:1", reg.host());
    let archive = fx.archive("big-image.tar", &[&rootfs, &big], &[&name], "none", true);
    let a = Client::new();
    a.ok(&["load", "-i", archive.path.to_str().unwrap()]);
    let out = a.ok(&["push", &name]);
    assert!(out.contains("Pushed"), "{out}");
    let b = Client::new();
    b.ok(&["pull", &name]);
    assert_eq!(a.inspect(&name)["Id"], b.inspect(&name)["Id"]);
    assert_eq!(
        b.inspect(&name)["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    b.store.assert_consistent("after a large pull");
}

#[test]
fn image_pull_and_image_push_are_aliases() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let name = format!("{}/alias/bb:v1", reg.host());
    a.busybox_as(&name);
    let out = a.ok(&["image", "push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    let b = Client::new();
    let out = b.ok(&["image", "pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(a.inspect(&name)["Id"], b.inspect(&name)["Id"]);
    assert_eq!(
        a.inspect(&name)["RepoDigests"],
        b.inspect(&name)["RepoDigests"]
    );
    // The same flags as the top-level verbs.
    let out = b.ok(&["image", "pull", "-q", &name]);
    assert_eq!(out.trim(), name);
}
