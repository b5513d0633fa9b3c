//! Bad input: truncated and corrupt archives, digest mismatches, a manifest naming a missing
//! blob, hostile layer tars, a full disk. Each fails with an error naming the entry or digest,
//! writes nothing outside the store, and leaves the store as it was.

use crate::common::*;
use std::fs;
use std::path::Path;

/// A store holding one good image, with its state before the bad load.
struct Setup {
    fx: Fixtures,
    store: Store,
    before: StoreState,
}

fn setup() -> Setup {
    let fx = Fixtures::new();
    let good = fx.small_image("good.tar", &["localhost/good:1"]);
    let store = Store::new();
    store.load(&good.path);
    let before = store.state();
    assert_eq!(before.ids, vec![good.id]);
    Setup { fx, store, before }
}

impl Setup {
    /// `berth load -i ARCHIVE` fails naming one of `names`; the store is unchanged and consistent.
    fn load_fails(&self, archive: &Path, names: &[&str], what: &str) -> String {
        let err = self.store.fails(&["load", "-i", archive.to_str().unwrap()]);
        assert!(
            names.iter().any(|n| err.contains(n)),
            "{what}: stderr names none of {names:?}: {err}"
        );
        self.assert_unchanged(what);
        // stdin too.
        let out = self
            .store
            .cmd()
            .arg("load")
            .stdin(fs::File::open(archive).unwrap())
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{}",
            describe(&format!("{what} via stdin"), &out)
        );
        self.assert_unchanged(&format!("{what} via stdin"));
        err
    }

    fn assert_unchanged(&self, what: &str) {
        self.store.assert_consistent(&format!("after {what}"));
        let after = self.store.state();
        assert_eq!(after, self.before, "the store changed after {what}");
        self.store.assert_blobs_verify(what);
    }

    /// A fresh image (small busybox rootfs + one more layer) not yet in the store.
    fn other_layers(&self) -> (std::path::PathBuf, std::path::PathBuf) {
        let rootfs = self.fx.rootfs();
        let r = self.fx.random_layer("other.tar", 1.0);
        (rootfs, r)
    }
}

fn prefixes(digests: &[String]) -> Vec<String> {
    digests.iter().map(|d| hex(d)[..12].to_string()).collect()
}

#[test]
fn truncated_archive() {
    let s = setup();
    let (a, b) = s.other_layers();
    let arch =
        s.fx.archive("t.tar", &[&a, &b], &["localhost/t:1"], "none", false);
    let len = fs::metadata(&arch.path).unwrap().len();
    for (i, frac) in [0.1, 0.6, 0.97].into_iter().enumerate() {
        let cut = s.fx.path(&format!("cut{i}.tar"));
        let data = fs::read(&arch.path).unwrap();
        write(&cut, &data[..(len as f64 * frac) as usize]);
        let mut names: Vec<String> = prefixes(&arch.diff_ids);
        names.extend(
            [
                "manifest.json",
                "truncated",
                "unexpected end",
                "end of",
                "EOF",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        s.load_fails(&cut, &names, &format!("an archive cut at {frac}"));
    }
}

#[test]
fn truncated_gzip_archive() {
    let s = setup();
    let (a, b) = s.other_layers();
    let arch =
        s.fx.archive("t.tar", &[&a, &b], &["localhost/t:1"], "none", false);
    let gz = s.fx.path("t.tar.gz");
    gzip(&arch.path, &gz);
    let data = fs::read(&gz).unwrap();
    let cut = s.fx.path("cut.tar.gz");
    write(&cut, &data[..data.len() * 2 / 3]);
    let mut names: Vec<String> = prefixes(&arch.diff_ids);
    names.extend(
        ["gzip", "truncated", "unexpected end", "end of", "EOF"]
            .iter()
            .map(|s| s.to_string()),
    );
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    s.load_fails(&cut, &names, "a truncated gzip archive");
}

#[test]
fn corrupt_layer_bytes() {
    let s = setup();
    let (a, b) = s.other_layers();
    let arch = s.fx.archive(
        "c.tar",
        &[&a, &b],
        &["localhost/c:1"],
        "corrupt-layer",
        false,
    );
    let last = hex(arch.diff_ids.last().unwrap())[..12].to_string();
    s.load_fails(&arch.path, &[&last], "a layer with flipped bytes");
}

#[test]
fn manifest_names_missing_blob() {
    let s = setup();
    let (a, b) = s.other_layers();
    let arch = s.fx.archive(
        "m.tar",
        &[&a, &b],
        &["localhost/m:1"],
        "missing-blob",
        false,
    );
    s.load_fails(
        &arch.path,
        &["ffffffffffff"],
        "a manifest naming a missing layer",
    );
}

#[test]
fn diff_id_mismatch() {
    let s = setup();
    let (a, b) = s.other_layers();
    let arch = s.fx.archive(
        "d.tar",
        &[&a, &b],
        &["localhost/d:1"],
        "diffid-mismatch",
        false,
    );
    let last = hex(arch.diff_ids.last().unwrap())[..12].to_string();
    s.load_fails(
        &arch.path,
        &["000000000000", &last],
        "a config whose diffID does not match the layer",
    );
}

#[test]
fn garbage_input() {
    let s = setup();
    let junk = s.fx.path("junk");
    write(&junk, &[0x5a; 4096]);
    s.load_fails(
        &junk,
        &["tar", "archive", "manifest", "format"],
        "4 KiB of junk",
    );
    let empty = s.fx.path("empty");
    write(&empty, b"");
    s.load_fails(
        &empty,
        &["tar", "archive", "manifest", "empty", "EOF"],
        "empty input",
    );
}

/// A hostile layer on top of a good one: load fails naming the entry, nothing escapes.
fn hostile(kind: &str, strict: bool) {
    let s = setup();
    let outside = s.fx.path("outside");
    fs::create_dir_all(&outside).unwrap();
    write(&outside.join("secret"), b"secret\n");
    let evil = s.fx.evil_layer(kind, &outside);
    let rootfs = s.fx.rootfs();
    let arch = s.fx.archive(
        "evil.tar",
        &[&rootfs, &evil],
        &["localhost/evil:1"],
        "none",
        false,
    );
    let out = s.store.run(&["load", "-i", arch.path.to_str().unwrap()]);
    let escaped: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != "secret")
        .collect();
    assert!(escaped.is_empty(), "{kind}: written outside: {escaped:?}");
    assert_eq!(fs::read(outside.join("secret")).unwrap(), b"secret\n");
    let secret = fs::metadata(outside.join("secret")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&secret),
        1,
        "{kind}: hardlinked"
    );
    let name = format!("berth-evil-{kind}");
    if out.status.success() {
        assert!(
            !strict,
            "{}",
            describe(&format!("load of a {kind} layer should fail"), &out)
        );
        // Accepted (docker strips a leading '/'): the file must be inside the unpacked layer.
        let found = find_named(&s.store.root, &name);
        eprintln!("{kind}: accepted, written inside the layer at {found:?}");
        for f in &found {
            assert!(f.to_string_lossy().contains("/snapshots/"), "{f:?}");
        }
        s.store.assert_consistent(&format!("after a {kind} layer"));
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", describe(kind, &out));
    assert!(
        err.contains(&name)
            || err.contains("ok/link")
            || err.contains("ok/up")
            || err.contains("ok/hl"),
        "{kind}: stderr does not name the entry: {err}"
    );
    assert!(
        find_named(&s.store.scratch.path, &name).is_empty(),
        "{kind}: a {name} file was left in the store"
    );
    s.assert_unchanged(&format!("a {kind} layer"));
}

#[test]
fn layer_with_dotdot_entry() {
    hostile("dotdot", true);
}

#[test]
fn layer_with_inner_dotdot_entry() {
    hostile("dotdot-inner", true);
}

#[test]
fn layer_with_absolute_entry() {
    // Docker and GNU tar strip the leading '/': either refused or confined to the layer.
    hostile("absolute", false);
}

#[test]
fn layer_writing_through_absolute_symlink() {
    hostile("symlink-out", true);
}

#[test]
fn layer_writing_through_relative_symlink() {
    hostile("symlink-out-relative", true);
}

#[test]
fn layer_with_hardlink_out() {
    hostile("hardlink-out", true);
}

#[test]
fn full_disk_fails_cleanly() {
    use nix::mount::{mount, MsFlags};
    let scratch = Scratch::new("fulldisk");
    let root = scratch.join("root");
    fs::create_dir_all(&root).unwrap();
    if let Err(e) = mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=20m"),
    ) {
        crate::skip!("cannot mount a tmpfs ({e}): not root?");
    }
    // The Scratch (moved into the Store) unmounts the tmpfs on drop, even when this test fails.
    let store = Store::at(root.clone(), scratch);
    let fx = Fixtures::new();
    let small = fx.small_image("small.tar", &["localhost/small:1"]);
    store.load(&small.path);
    let before = store.state();
    let rootfs = fx.rootfs();
    let r = fx.random_layer("r.tar", 25.0);
    let t = fx.text_layer("t.tar", 25.0);
    let big = fx.archive(
        "big.tar",
        &[&rootfs, &r, &t],
        &["localhost/big:1"],
        "none",
        false,
    );
    let err = store.fails(&["load", "-i", big.path.to_str().unwrap()]);
    assert!(
        err.contains("No space left on device")
            || err.contains("ENOSPC")
            || err.contains("disk is full"),
        "full disk: stderr does not say so: {err}"
    );
    store.assert_consistent("after a load that filled the disk");
    assert_eq!(store.state(), before, "the store changed after ENOSPC");
    // The space was given back: another small image still fits.
    let rootfs2 = fx.random_layer("r2.tar", 3.0);
    let small2 = fx.archive(
        "small2.tar",
        &[&rootfs2],
        &["localhost/small:2"],
        "none",
        false,
    );
    store.load(&small2.path);
    store.assert_consistent("after loading again");
    assert_eq!(store.ids().len(), 2);
}
