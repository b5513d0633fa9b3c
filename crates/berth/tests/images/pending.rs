//! Later additions: a full disk, a deleted layer directory, `system df -v`, usage errors.

use crate::common::*;
use crate::crash::{check_finds, layer_files, loaded_small, reload_works, repair};
use std::fs;

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

#[test]
fn repair_deleted_layer_dir() {
    let (_fx, store, a) = loaded_small("localhost/repair:dir");
    let files = layer_files(&store, "blob");
    // <root>/overlay/snapshots/<id>/fs/data/blob -> remove <id>/fs entirely.
    let fs_dir = files[0].parent().unwrap().parent().unwrap();
    assert!(fs_dir.ends_with("fs"), "{}", fs_dir.display());
    fs::remove_dir_all(fs_dir).unwrap();
    check_finds(
        &store,
        &["layer", "snapshot", "fs"],
        "deleting a layer's directory",
    );
    repair(&store, "a deleted layer dir");
    if store.ids().is_empty() {
        reload_works(&store, &a);
    }
    assert_eq!(layer_files(&store, "blob").len(), 1);
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
