//! Bad input: docker-like errors (exit 125 for run/create), nothing half-created, nothing outside
//! the container touched.

use crate::common::*;
use crate::need_root;

/// Asserts the store holds no container and no container directory or mount.
fn assert_nothing_created(b: &Berth, when: &str) {
    assert!(b.all_ids().is_empty(), "containers left {when}");
    let dir = b.root.join("containers");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "container dirs left {when}: {left:?}");
    assert!(mounts_under(&b.dir).is_empty(), "mounts left {when}");
    // `run` starts the shim before it makes the container: one that failed left none behind.
    assert!(shims_of(&b.root).is_empty(), "shims left {when}");
}

#[test]
fn unknown_image() {
    need_root!();
    let b = Berth::new();
    // Docker's two lines: the image is not here, then the pull's failure (no registry here).
    let (_, err) = b.code(125, &["run", "--rm", "nosuchimage"]);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("Unable to find image 'nosuchimage:latest' locally"),
        "{err}"
    );
    let last = lines.last().unwrap_or_default();
    assert!(last.starts_with("Error"), "{err}");
    assert!(last.contains("nosuchimage"), "{err}");
    b.code(125, &["create", "nosuchimage:2"]);
    // Never pulling: docker's "No such image", nothing else.
    let (_, err) = b.code(125, &["run", "--pull", "never", "nosuchimage"]);
    assert_eq!(err, "Error: No such image: nosuchimage:latest\n");
    let (_, err) = b.code(125, &["create", "--pull", "sometimes", "busybox"]);
    assert!(
        err.starts_with("Error: invalid pull option: 'sometimes'"),
        "{err}"
    );
    assert_nothing_created(&b, "after unknown images");
}

#[test]
fn malformed_flag_values_exit_125_with_dockers_text() {
    let b = Berth::empty();
    let (_, err) = b.code(125, &["run", "--memory", "12x", "busybox"]);
    assert!(
        err.contains("invalid argument \"12x\" for \"-m, --memory\" flag: invalid size: '12x'"),
        "{err}"
    );
    let (_, err) = b.code(125, &["create", "--cpu-shares", "lots", "busybox"]);
    assert!(err.contains("for \"-c, --cpu-shares\" flag"), "{err}");
    let (_, err) = b.code(125, &["run", "--restart", "sometimes", "busybox"]);
    assert!(err.contains("invalid restart policy"), "{err}");
    let (_, err) = b.code(125, &["run", "--rm", "--restart", "always", "busybox"]);
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let (_, err) = b.code(125, &["run", "--no-such-flag", "busybox"]);
    assert!(err.contains("--no-such-flag"), "{err}");
    b.code(125, &["run"]);
    b.code(125, &["ps", "--bogus"]);
}

#[test]
fn taken_name_names_the_holder() {
    need_root!();
    let b = Berth::new();
    let id = b
        .ok(&["create", "--name", "taken", "busybox"])
        .trim()
        .to_string();
    let (_, err) = b.code(125, &["run", "--name", "taken", "busybox", "true"]);
    assert!(
        err.contains("\"/taken\" is already in use by container"),
        "{err}"
    );
    assert!(err.contains(&id), "the error names the holder: {err}");
    assert_eq!(b.all_ids(), std::slice::from_ref(&id));
    b.code(125, &["run", "--name", "x", "busybox"]);
    b.ok(&["create", "--name", "other", "busybox"]);
    let (_, err) = b.code(1, &["rename", "other", "taken"]);
    assert!(err.contains("already in use"), "{err}");
    b.code(125, &["run", "--name", "bad/name", "busybox"]);
}

#[test]
fn missing_bind_source() {
    need_root!();
    let b = Berth::new();
    let missing = b.path("does-not-exist");
    let m = format!("type=bind,source={},target=/x", missing.display());
    let (_, err) = b.code(125, &["run", "--rm", "--mount", &m, "busybox", "true"]);
    assert!(err.contains("bind source path does not exist"), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(!missing.exists(), "--mount does not create the source");
    assert_nothing_created(&b, "after a missing bind source");
}

#[test]
fn cp_does_not_escape_through_symlinks() {
    need_root!();
    let b = Berth::new();
    let outside = b.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "host secret").unwrap();
    b.detached(&["--name", "cc"], &["sleep", "1000"]);
    // Inside: /esc points (absolutely, and by ..) at the host path of `outside`.
    let target = outside.to_str().unwrap();
    b.ok(&["exec", "cc", "sh", "-c", &format!(
        "mkdir -p $(dirname {target}) && ln -s {target} /esc && ln -s ../../../../../../..{target} /esc2"
    )]);
    let src = b.path("payload");
    std::fs::write(&src, "payload").unwrap();
    for link in ["/esc", "/esc2"] {
        let out = b.run(&["cp", src.to_str().unwrap(), &format!("cc:{link}/dropped")]);
        // Either refused, or written inside the container: never on the host.
        assert!(
            !outside.join("dropped").exists(),
            "cp through {link} escaped: {}",
            describe("cp", &out)
        );
        let back = b.path(&format!("back{}", link.len()));
        let out = b.run(&["cp", &format!("cc:{link}/secret"), back.to_str().unwrap()]);
        let got = std::fs::read_to_string(&back).unwrap_or_default();
        assert_ne!(
            got,
            "host secret",
            "cp read the host through {link}: {}",
            describe("cp", &out)
        );
    }
    let (_, err) = b.code(
        1,
        &["cp", "cc:/no/such/file", b.path("x").to_str().unwrap()],
    );
    assert!(err.contains("No such") || err.contains("no such"), "{err}");
}

#[test]
fn verbs_on_unknown_containers_fail_with_docker_text() {
    need_root!();
    let b = Berth::new();
    for verb in [
        vec!["stop", "ghost"],
        vec!["start", "ghost"],
        vec!["kill", "ghost"],
        vec!["rm", "ghost"],
        vec!["logs", "ghost"],
        vec!["exec", "ghost", "true"],
        vec!["wait", "ghost"],
        vec!["top", "ghost"],
        vec!["pause", "ghost"],
    ] {
        let (_, err) = b.code(1, &verb);
        assert!(err.contains("No such container: ghost"), "{verb:?}: {err}");
    }
}
