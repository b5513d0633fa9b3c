//! Tests of the bootstrap images: the trees they build, their configs, and reproducibility
//! (two builds give the same layer diffID).

use super::*;
use berth_archive::{write_layer, Compression};
use berth_oci::{Classify, Digest, ErrorClass};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn diff_id(dir: &Path) -> Digest {
    write_layer(dir, std::io::sink(), Compression::None)
        .expect("write layer")
        .diff_id
}

/// Every entry under `dir` (not following symlinks), `dir` included.
fn all_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if p.symlink_metadata().unwrap().is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                out.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

fn assert_fixed_times_and_owner(dir: &Path) {
    let root = nix::unistd::geteuid().is_root();
    for p in all_entries(dir) {
        let md = p.symlink_metadata().unwrap();
        assert_eq!(md.mtime(), FIXED_MTIME, "mtime of {}", p.display());
        if root {
            assert_eq!((md.uid(), md.gid()), (0, 0), "owner of {}", p.display());
        }
    }
}

fn mode(p: &Path) -> u32 {
    p.symlink_metadata().unwrap().permissions().mode() & 0o7777
}

fn run_retrying(cmd: &mut Command) -> std::process::Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r.expect("run"),
        }
    }
    panic!("ETXTBSY for too long");
}

/// The static busybox of this host, or `None` (the test then skips).
fn host_busybox() -> Option<PathBuf> {
    let p = PathBuf::from(DEFAULT_BUSYBOX);
    let bytes = std::fs::read(&p).ok()?;
    match super::elf::parse(&bytes) {
        Some(info) if info.interp.is_none() => Some(p),
        _ => {
            eprintln!(
                "skip: {DEFAULT_BUSYBOX} is not a static busybox (apt install busybox-static)"
            );
            None
        }
    }
}

#[test]
fn hello_world_tree_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rootfs"); // missing: created
    let config = hello_world_rootfs(&dir).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["hello"]);
    assert_eq!(mode(&dir.join("hello")), 0o755);
    assert_eq!(mode(&dir), 0o755);
    assert_fixed_times_and_owner(&dir);
    assert_eq!(
        std::fs::read(dir.join("hello")).unwrap(),
        hello_elf(std::env::consts::ARCH).unwrap()
    );

    let host = Platform::host();
    assert_eq!(config.architecture, host.architecture);
    assert_eq!(config.variant, host.variant);
    assert_eq!(config.os, "linux");
    assert_eq!(config.created.as_deref(), Some(FIXED_CREATED));
    assert!(config.rootfs.diff_ids.is_empty());
    assert_eq!(config.rootfs.typ, "layers");
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(json["config"]["Env"][0], DEFAULT_PATH_ENV);
    assert_eq!(
        json["history"][0]["created_by"],
        "berth image bootstrap hello-world"
    );

    if std::env::consts::ARCH == "x86_64" || std::env::consts::ARCH == "aarch64" {
        let out = run_retrying(&mut Command::new(dir.join("hello")));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO_MESSAGE);
    }
}

#[test]
fn hello_world_is_reproducible() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ca = hello_world_rootfs(a.path()).unwrap();
    let cb = hello_world_rootfs(b.path()).unwrap();
    assert_eq!(ca, cb);
    assert_eq!(diff_id(a.path()), diff_id(b.path()));
    assert_eq!(
        serde_json::to_vec(&ca).unwrap(),
        serde_json::to_vec(&cb).unwrap()
    );
}

#[test]
fn hello_world_for_arm64() {
    let tmp = tempfile::tempdir().unwrap();
    let config = hello_world_rootfs_for(tmp.path(), "aarch64").unwrap();
    assert_eq!(config.architecture, "arm64");
    assert_eq!(config.variant.as_deref(), Some("v8"));
    assert_eq!(
        std::fs::read(tmp.path().join("hello")).unwrap(),
        hello_elf("arm64").unwrap()
    );
}

#[test]
fn hello_world_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = hello_world_rootfs_for(tmp.path(), "sparc").unwrap_err();
    assert!(
        matches!(err, BootstrapError::UnsupportedArch { .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::InvalidArgument);
    assert!(err.to_string().contains("sparc"));

    std::fs::write(tmp.path().join("junk"), b"x").unwrap();
    let err = hello_world_rootfs(tmp.path()).unwrap_err();
    assert!(matches!(err, BootstrapError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains(&tmp.path().display().to_string()));
    assert_eq!(err.class(), ErrorClass::Conflict);
}

#[test]
fn busybox_tree_and_config() {
    let Some(bb) = host_busybox() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = busybox_rootfs(dir, &bb).unwrap();

    // The binary, byte for byte, 0755.
    assert_eq!(
        std::fs::read(dir.join("bin/busybox")).unwrap(),
        std::fs::read(&bb).unwrap()
    );
    assert_eq!(mode(&dir.join("bin/busybox")), 0o755);
    // Every applet the binary lists is a link to /bin/busybox.
    let listed =
        String::from_utf8(run_retrying(Command::new(&bb).arg("--list-full")).stdout).unwrap();
    let mut links = 0;
    for applet in listed
        .lines()
        .filter(|l| l.contains('/') && *l != "bin/busybox")
    {
        let target =
            std::fs::read_link(dir.join(applet)).unwrap_or_else(|e| panic!("applet {applet}: {e}"));
        assert_eq!(target, Path::new("/bin/busybox"), "{applet}");
        links += 1;
    }
    assert!(links > 100, "only {links} applets");
    assert_eq!(
        std::fs::read_link(dir.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(!dir.join("linuxrc").exists());
    // Every symlink in the tree points to /bin/busybox.
    for p in all_entries(dir) {
        if p.symlink_metadata().unwrap().file_type().is_symlink() {
            assert_eq!(std::fs::read_link(&p).unwrap(), Path::new("/bin/busybox"));
        }
    }
    // Directories and their modes.
    assert_eq!(mode(&dir.join("tmp")), 0o1777);
    assert_eq!(mode(&dir.join("root")), 0o700);
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "home", "var", "proc", "sys", "dev",
    ] {
        assert!(dir.join(d).is_dir(), "{d}");
        assert_eq!(mode(&dir.join(d)), 0o755, "{d}");
    }
    // /etc.
    let passwd = std::fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"));
    assert!(passwd.contains("nobody:x:65534:65534:"));
    assert!(std::fs::read_to_string(dir.join("etc/group"))
        .unwrap()
        .contains("root:x:0:"));
    assert_eq!(mode(&dir.join("etc/passwd")), 0o644);
    assert!(
        !dir.join("etc/hosts").exists(),
        "the engine writes /etc/hosts"
    );
    assert_fixed_times_and_owner(dir);

    // Config.
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(json["config"]["Env"], serde_json::json!([DEFAULT_PATH_ENV]));
    assert_eq!(config.architecture, Platform::host().architecture);
    assert_eq!(config.os, "linux");
    assert_eq!(config.created.as_deref(), Some(FIXED_CREATED));
    let comment = config.history[0].comment.as_deref().unwrap();
    assert!(comment.starts_with("BusyBox v"), "{comment}");
    assert!(comment.contains("sha256:"), "{comment}");
}

#[test]
fn busybox_runs_in_its_rootfs() {
    let Some(bb) = host_busybox() else { return };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skip: chroot needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    busybox_rootfs(tmp.path(), &bb).unwrap();
    let out = run_retrying(
        Command::new("chroot")
            .arg(tmp.path())
            .args([
                "/bin/sh",
                "-c",
                "cd /tmp && echo hi > f && cat f && id -un && env | grep -c .",
            ])
            .env_clear()
            .env("PATH", DEFAULT_PATH_ENV.trim_start_matches("PATH=")),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("hi\nroot\n"), "{text}");
}

#[test]
fn busybox_is_reproducible() {
    let Some(bb) = host_busybox() else { return };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ca = busybox_rootfs(a.path(), &bb).unwrap();
    let cb = busybox_rootfs(b.path(), &bb).unwrap();
    assert_eq!(
        serde_json::to_vec(&ca).unwrap(),
        serde_json::to_vec(&cb).unwrap()
    );
    assert_eq!(diff_id(a.path()), diff_id(b.path()));
}

#[test]
fn busybox_rejects_dynamic_non_elf_and_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rootfs");

    // A dynamically linked program (ls is, on every distribution Berth targets).
    let ls = Path::new("/bin/ls");
    let err = busybox_rootfs(&out, ls).unwrap_err();
    assert!(matches!(err, BootstrapError::NotStatic { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/bin/ls") && msg.contains("busybox-static"),
        "{msg}"
    );
    assert_eq!(err.class(), ErrorClass::InvalidArgument);
    assert!(!out.exists(), "nothing written on a rejected binary");

    let script = tmp.path().join("script");
    std::fs::write(&script, b"#!/bin/sh\necho busybox\n").unwrap();
    let err = busybox_rootfs(&out, &script).unwrap_err();
    assert!(matches!(err, BootstrapError::NotElf { .. }), "{err}");
    assert!(err.to_string().contains(&script.display().to_string()));

    let missing = tmp.path().join("nope/busybox");
    let err = busybox_rootfs(&out, &missing).unwrap_err();
    assert!(matches!(err, BootstrapError::ReadBusybox { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert!(err.to_string().contains("nope/busybox"));
}

#[test]
fn busybox_refuses_a_non_empty_dir() {
    let Some(bb) = host_busybox() else { return };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("etc")).unwrap();
    let err = busybox_rootfs(tmp.path(), &bb).unwrap_err();
    assert!(matches!(err, BootstrapError::NotEmpty { .. }), "{err}");
}
