//! Round trips and hostile input for `apply_layer` and `write_layer` (run as root: owners,
//! device nodes and trusted.* xattrs need it).

use crate::*;
use berth_oci::Digest;
use nix::sys::stat::{lstat, mknod, Mode, SFlag};
use nix::unistd::{chown, Gid, Uid};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A tree with every kind of entry.
fn make_tree(dir: &Path) {
    fs::create_dir(dir.join("d")).unwrap();
    fs::set_permissions(dir.join("d"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(dir.join("d/file"), b"hello world").unwrap();
    fs::set_permissions(dir.join("d/file"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(dir.join("big"), vec![0x5au8; 3 << 20]).unwrap();
    fs::hard_link(dir.join("d/file"), dir.join("hard")).unwrap();
    symlink("d/file", dir.join("sym")).unwrap();
    symlink("/etc/nowhere", dir.join("abs-sym")).unwrap();
    mknod(
        &dir.join("fifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    rustix::fs::setxattr(
        dir.join("d/file"),
        "user.test",
        b"v1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(dir.join(format!("long-{}", "n".repeat(150))), b"x").unwrap();
    if is_root() {
        chown(
            &dir.join("d/file"),
            Some(Uid::from_raw(1234)),
            Some(Gid::from_raw(5678)),
        )
        .unwrap();
        // setuid survives the owner change on extraction.
        fs::write(dir.join("suid"), b"#!/bin/sh").unwrap();
        chown(
            &dir.join("suid"),
            Some(Uid::from_raw(42)),
            Some(Gid::from_raw(42)),
        )
        .unwrap();
        fs::set_permissions(dir.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        mknod(
            &dir.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
    }
}

/// Asserts that `b` holds the same tree as `a` (types, modes, owners, contents, links, xattrs).
fn assert_same_tree(a: &Path, b: &Path) {
    let mut names: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut names_b: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names_b.sort();
    assert_eq!(names, names_b, "entries of {a:?} vs {b:?}");
    for n in names {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.mode(), mb.mode(), "mode of {pb:?}");
        assert_eq!(
            (ma.uid(), ma.gid()),
            (mb.uid(), mb.gid()),
            "owner of {pb:?}"
        );
        assert_eq!(ma.rdev(), mb.rdev(), "rdev of {pb:?}");
        if !ma.is_dir() {
            assert_eq!(ma.mtime(), mb.mtime(), "mtime of {pb:?}");
        }
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
        } else if ma.is_file() {
            assert_eq!(
                fs::read(&pa).unwrap(),
                fs::read(&pb).unwrap(),
                "data of {pb:?}"
            );
            assert_eq!(ma.nlink(), mb.nlink(), "links of {pb:?}");
        } else if ma.is_dir() {
            assert_eq!(ma.mtime(), mb.mtime(), "dir mtime of {pb:?}");
            assert_same_tree(&pa, &pb);
        }
    }
}

fn apply(bytes: &[u8], target: &Path, wh: Whiteouts) -> Result<LayerStats, ArchiveError> {
    apply_layer(bytes, target, &ApplyOptions::with_whiteouts(wh))
}

#[test]
fn round_trip_all_compressions() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    make_tree(&src);
    let mut plain = Vec::new();
    let w = write_layer(&src, &mut plain, Compression::None).unwrap();
    assert_eq!(w.diff_id, Digest::sha256_of(&plain));
    assert_eq!(w.digest, w.diff_id);
    assert_eq!(w.size, plain.len() as u64);
    // Deterministic.
    let mut again = Vec::new();
    assert_eq!(write_layer(&src, &mut again, Compression::None).unwrap(), w);
    assert_eq!(plain, again);
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let mut out = Vec::new();
        let wc = write_layer(&src, &mut out, c).unwrap();
        assert_eq!(Compression::detect(&out), c);
        assert_eq!(wc.diff_id, w.diff_id);
        assert_eq!(wc.digest, Digest::sha256_of(&out));
        assert_eq!(wc.size, out.len() as u64);
        let dst = t.path().join(format!("dst-{c:?}"));
        fs::create_dir(&dst).unwrap();
        let st = apply(&out, &dst, Whiteouts::Overlay).unwrap();
        assert_eq!(st.diff_id.as_ref(), Some(&w.diff_id));
        assert_eq!(st.size, plain.len() as u64);
        assert_same_tree(&src, &dst);
        let mut buf = [0u8; 8];
        let n = rustix::fs::getxattr(dst.join("d/file"), "user.test", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"v1");
    }
}

#[test]
fn diff_id_matches_sha256sum() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    let tar_path = t.path().join("../layer-test.tar");
    let tar_path = tar_path.with_file_name(format!("berth-archive-{}.tar", std::process::id()));
    let w = write_layer(
        t.path(),
        fs::File::create(&tar_path).unwrap(),
        Compression::None,
    )
    .unwrap();
    let out = Command::new("sha256sum").arg(&tar_path).output().unwrap();
    let _ = fs::remove_file(&tar_path);
    let sum = String::from_utf8(out.stdout).unwrap();
    assert_eq!(sum.split_whitespace().next().unwrap(), w.diff_id.hex());
}

#[test]
fn gnu_tar_output_extracts_identically() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    make_tree(&src);
    let out = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=user.*", "-C"])
        .arg(&src)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dst = t.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let st = apply(&out.stdout, &dst, Whiteouts::Overlay).unwrap();
    assert_eq!(st.diff_id, Some(Digest::sha256_of(&out.stdout)));
    assert_same_tree(&src, &dst);
}

/// Appends an entry whose name is written raw (the tar crate refuses `..` in names).
fn raw_entry(buf: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    buf.extend_from_slice(h.as_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().div_ceil(512) * 512, 0);
}

fn end(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0u8; 1024]);
}

fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let outside = t.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    (t, root, outside)
}

fn empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn dotdot_is_rejected_naming_the_entry() {
    let (_t, root, outside) = dirs();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "../outside/pwned",
        tar::EntryType::Regular,
        "",
        b"x",
    );
    end(&mut tar);
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::BadPath { .. }), "{err}");
    assert!(err.to_string().contains("../outside/pwned"), "{err}");
    assert_eq!(
        berth_oci::Classify::class(&err),
        berth_oci::ErrorClass::InvalidArgument
    );
    assert!(empty(&outside));
}

#[test]
fn absolute_paths_are_made_relative() {
    let (_t, root, _outside) = dirs();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "/etc/hostname",
        tar::EntryType::Regular,
        "",
        b"box",
    );
    end(&mut tar);
    apply(&tar, &root, Whiteouts::Overlay).unwrap();
    assert_eq!(fs::read(root.join("etc/hostname")).unwrap(), b"box");
}

#[test]
fn symlink_escape_stays_inside() {
    let (_t, root, outside) = dirs();
    // Symlinks whose targets exist inside the root: writes through them land inside.
    let mut tar = Vec::new();
    raw_entry(&mut tar, "outside/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut tar, "etc/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut tar, "rel", tar::EntryType::Symlink, "../outside", b"");
    raw_entry(
        &mut tar,
        "rel/shadow",
        tar::EntryType::Regular,
        "",
        b"owned",
    );
    raw_entry(&mut tar, "etcl", tar::EntryType::Symlink, "/etc", b"");
    raw_entry(
        &mut tar,
        "etcl/berth-archive-test",
        tar::EntryType::Regular,
        "",
        b"owned",
    );
    end(&mut tar);
    apply(&tar, &root, Whiteouts::Overlay).unwrap();
    assert!(empty(&outside), "something was written outside the target");
    assert!(!Path::new("/etc/berth-archive-test").exists());
    assert_eq!(fs::read(root.join("outside/shadow")).unwrap(), b"owned");
    assert_eq!(
        fs::read(root.join("etc/berth-archive-test")).unwrap(),
        b"owned"
    );
    assert!(fs::symlink_metadata(root.join("rel"))
        .unwrap()
        .file_type()
        .is_symlink());

    // A symlink to the real outside dir (dangling inside the root): the write fails, naming it.
    let (_t2, root, outside) = dirs();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "evil",
        tar::EntryType::Symlink,
        outside.to_str().unwrap(),
        b"",
    );
    raw_entry(
        &mut tar,
        "evil/passwd",
        tar::EntryType::Regular,
        "",
        b"owned",
    );
    end(&mut tar);
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::Parent { .. }), "{err}");
    assert!(err.to_string().contains("evil/passwd"), "{err}");
    assert!(empty(&outside), "something was written outside the target");
}

#[test]
fn symlink_as_last_component_is_replaced_not_followed() {
    let (_t, root, outside) = dirs();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "f",
        tar::EntryType::Symlink,
        outside.join("f").to_str().unwrap(),
        b"",
    );
    raw_entry(&mut tar, "f", tar::EntryType::Regular, "", b"data");
    end(&mut tar);
    apply(&tar, &root, Whiteouts::Overlay).unwrap();
    assert!(empty(&outside));
    assert_eq!(fs::read(root.join("f")).unwrap(), b"data");
}

#[test]
fn hardlinks_outside_are_rejected() {
    let (_t, root, outside) = dirs();
    fs::write(outside.join("secret"), b"s").unwrap();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "l",
        tar::EntryType::Link,
        "../outside/secret",
        b"",
    );
    end(&mut tar);
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::BadPath { .. }), "{err}");

    let mut tar = Vec::new();
    let abs = outside.join("secret");
    raw_entry(
        &mut tar,
        "l",
        tar::EntryType::Link,
        abs.to_str().unwrap(),
        b"",
    );
    end(&mut tar);
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::Link { .. }), "{err}");
    assert_eq!(fs::metadata(&abs).unwrap().nlink(), 1);

    // Through a symlink pointing out: resolved inside the root, so still missing.
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        "out",
        tar::EntryType::Symlink,
        outside.to_str().unwrap(),
        b"",
    );
    raw_entry(&mut tar, "l2", tar::EntryType::Link, "out/secret", b"");
    end(&mut tar);
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::Link { .. }), "{err}");
    assert_eq!(fs::metadata(&abs).unwrap().nlink(), 1);
}

#[test]
fn truncated_tar_is_an_error() {
    let (_t, root, _outside) = dirs();
    let mut tar = Vec::new();
    raw_entry(&mut tar, "a", tar::EntryType::Regular, "", &[1u8; 5000]);
    raw_entry(&mut tar, "b", tar::EntryType::Regular, "", &[2u8; 10]);
    // Cut inside a's data.
    let err = apply(&tar[..2000], &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("\"a\""), "{err}");
    // Cut right after the last entry: no end-of-archive block.
    let err = apply(&tar, &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingEnd { .. }), "{err}");
    // Cut inside a header.
    let err = apply(&tar[..5632 + 100], &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::Header { .. }), "{err}");
}

fn whiteout_tar() -> Vec<u8> {
    let mut tar = Vec::new();
    raw_entry(&mut tar, "a/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut tar, "a/.wh.b", tar::EntryType::Regular, "", b"");
    raw_entry(&mut tar, "a/c", tar::EntryType::Regular, "", b"c");
    raw_entry(&mut tar, "d/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut tar, "d/new", tar::EntryType::Regular, "", b"n");
    raw_entry(&mut tar, "d/.wh..wh..opq", tar::EntryType::Regular, "", b"");
    end(&mut tar);
    tar
}

#[test]
fn whiteouts_overlay() {
    if !is_root() {
        eprintln!("skipped: overlay whiteouts need root (mknod, trusted.* xattrs)");
        return;
    }
    let (_t, root, _outside) = dirs();
    apply(&whiteout_tar(), &root, Whiteouts::Overlay).unwrap();
    let st = lstat(&root.join("a/b")).unwrap();
    assert_eq!(
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT,
        SFlag::S_IFCHR
    );
    assert_eq!(st.st_rdev, 0);
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(root.join("d"), "trusted.overlay.opaque", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(root.join("d/new").exists());
    assert!(!root.join("d/.wh..wh..opq").exists());

    // And back: the upper dir becomes the same OCI whiteouts.
    let mut out = Vec::new();
    write_layer(&root, &mut out, Compression::None).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(
        names,
        ["a/", "a/.wh.b", "a/c", "d/", "d/.wh..wh..opq", "d/new"]
    );
}

#[test]
fn whiteouts_delete() {
    let (_t, root, _outside) = dirs();
    fs::create_dir_all(root.join("a/b/deep")).unwrap();
    fs::write(root.join("a/b/deep/x"), b"x").unwrap();
    fs::write(root.join("a/keep"), b"k").unwrap();
    fs::create_dir_all(root.join("d/olddir")).unwrap();
    fs::write(root.join("d/old"), b"o").unwrap();
    apply(&whiteout_tar(), &root, Whiteouts::Delete).unwrap();
    assert!(!root.join("a/b").exists());
    assert!(root.join("a/keep").exists());
    assert!(root.join("a/c").exists());
    assert!(!root.join("d/old").exists());
    assert!(!root.join("d/olddir").exists());
    assert_eq!(fs::read(root.join("d/new")).unwrap(), b"n");
}

#[test]
fn truncated_gzip_names_the_entry() {
    let (t, root, _outside) = dirs();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    let data: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(src.join("payload"), &data).unwrap();
    let mut gz = Vec::new();
    write_layer(&src, &mut gz, Compression::Gzip).unwrap();
    let err = apply(&gz[..gz.len() / 2], &root, Whiteouts::Overlay).unwrap_err();
    assert!(matches!(err, ArchiveError::ReadData { .. }), "{err}");
    assert!(err.to_string().contains("payload"), "{err}");
    assert_eq!(
        berth_oci::Classify::class(&err),
        berth_oci::ErrorClass::InvalidArgument
    );
}

#[test]
fn bad_whiteouts_are_rejected() {
    let (_t, root, _outside) = dirs();
    fs::create_dir(root.join("a")).unwrap();
    fs::write(root.join("a/keep"), b"k").unwrap();
    for name in ["a/.wh..", "a/.wh."] {
        let mut tar = Vec::new();
        raw_entry(&mut tar, name, tar::EntryType::Regular, "", b"");
        end(&mut tar);
        for mode in [Whiteouts::Delete, Whiteouts::Overlay] {
            let err = apply(&tar, &root, mode).unwrap_err();
            assert!(matches!(err, ArchiveError::BadPath { .. }), "{err}");
        }
    }
    assert!(root.join("a/keep").exists());
}

#[test]
fn replaces_dir_with_file_and_keeps_dir_over_dir() {
    let (_t, root, _outside) = dirs();
    fs::create_dir_all(root.join("x/y")).unwrap();
    fs::create_dir_all(root.join("k")).unwrap();
    fs::write(root.join("k/old"), b"o").unwrap();
    let mut tar = Vec::new();
    raw_entry(&mut tar, "x", tar::EntryType::Regular, "", b"file now");
    raw_entry(&mut tar, "k/", tar::EntryType::Directory, "", b"");
    end(&mut tar);
    apply(&tar, &root, Whiteouts::Delete).unwrap();
    assert_eq!(fs::read(root.join("x")).unwrap(), b"file now");
    assert!(root.join("k/old").exists());
}

#[test]
fn gnu_tar_extracts_our_output_identically() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    make_tree(&src);
    let mut layer = Vec::new();
    write_layer(&src, &mut layer, Compression::None).unwrap();
    let dst = t.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let mut child = Command::new("tar")
        .args([
            "--xattrs",
            "--xattrs-include=user.*",
            "--same-owner",
            "--numeric-owner",
            "-C",
        ])
        .arg(&dst)
        .args(["-xpf", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &layer).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_same_tree(&src, &dst);
}

#[test]
fn user_xattr_on_symlink_is_skipped() {
    let (_t, root, _outside) = dirs();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("SCHILY.xattr.user.x", &b"v"[..])])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "s", "target").unwrap();
    let tar = b.into_inner().unwrap();
    apply(&tar, &root, Whiteouts::Overlay).unwrap();
    assert_eq!(fs::read_link(root.join("s")).unwrap(), Path::new("target"));
}
