//! The conformance suite every [`Snapshotter`] implementation runs: call [`run_all`] with a
//! function that opens the implementation at a given root directory.
//!
//! Checks that need a real mount (overlays) run as root in a dedicated thread that unshares its
//! mount namespace and makes `/` private, so nothing it mounts is seen by, or outlives in, the
//! host namespace; without root those checks are skipped with a message.

use crate::{Kind, Mount, SnapshotError, Snapshotter};
use berth_oci::{Classify, ErrorClass};
use std::fs;
use std::path::{Path, PathBuf};

/// Opens an implementation at a root directory.
pub type Make<'a> = &'a dyn Fn(&Path) -> Box<dyn Snapshotter>;

/// Runs every check.
pub fn run_all(make: impl Fn(&Path) -> Box<dyn Snapshotter>) {
    let make: Make = &make;
    lifecycle(make);
    parent_chain_visibility(make);
    remove_refuses_with_children(make);
    remove_committed_leaf(make);
    keys_unique(make);
    unknown_key(make);
    survives_reopen(make);
    two_instances_share_root(make);
    cleanup_removes_orphans(make);
    layers_stack_after_parallel_unpack(make);
}

/// `layer_dir` names the dir writes land in; drivers with independent layers stack parentless
/// snapshots with `commit_with_parent`, others refuse it.
pub fn layers_stack_after_parallel_unpack(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    let m = s.prepare("base-x", None).unwrap();
    assert_eq!(s.layer_dir("base-x").unwrap(), writable_dir(&m));
    std::fs::write(s.layer_dir("base-x").unwrap().join("a"), b"a").unwrap();
    s.prepare("top-x", None).unwrap();
    std::fs::write(s.layer_dir("top-x").unwrap().join("b"), b"b").unwrap();
    s.commit("base", "base-x").unwrap();
    if !s.independent_layers() {
        assert_eq!(
            class(s.commit_with_parent("top", "top-x", Some("base"))),
            ErrorClass::FailedPrecondition
        );
        return;
    }
    assert_eq!(
        class(s.commit_with_parent("top", "top-x", Some("missing"))),
        ErrorClass::NotFound
    );
    s.commit_with_parent("top", "top-x", Some("base")).unwrap();
    assert_eq!(s.stat("top").unwrap().parent.as_deref(), Some("base"));
    assert_eq!(class(s.remove("base")), ErrorClass::Conflict);
    // A snapshot prepared on a parent cannot be re-parented.
    s.prepare("c-x", Some("top")).unwrap();
    assert_eq!(
        class(s.commit_with_parent("c", "c-x", None)),
        ErrorClass::Conflict
    );
    let view = s.view("v", Some("top")).unwrap();
    assert_eq!(view[0].typ, "overlay");
    assert_eq!(view[0].option("lowerdir").unwrap().split(':').count(), 2);
}

fn class<T: std::fmt::Debug>(r: Result<T, SnapshotError>) -> ErrorClass {
    r.expect_err("expected an error").class()
}

/// The directory a caller's writes land in: a rw bind's source or an overlay's upperdir.
pub fn writable_dir(mounts: &[Mount]) -> PathBuf {
    let m = &mounts[0];
    match m.option("upperdir") {
        Some(u) => PathBuf::from(u),
        None => {
            assert!(!m.is_read_only(), "mount is read-only: {m:?}");
            PathBuf::from(&m.source)
        }
    }
}

/// prepare -> write -> commit -> view; kinds and mounts along the way.
pub fn lifecycle(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    let m = s.prepare("a", None).unwrap();
    assert_eq!(m.len(), 1);
    assert!(!m[0].is_read_only());
    assert_eq!(s.stat("a").unwrap().kind, Kind::Active);
    assert_eq!(s.mounts("a").unwrap(), m);
    fs::write(writable_dir(&m).join("f"), b"1").unwrap();
    s.commit("A", "a").unwrap();
    assert_eq!(class(s.stat("a")), ErrorClass::NotFound);
    let a = s.stat("A").unwrap();
    assert_eq!((a.kind, a.parent), (Kind::Committed, None));
    assert!(s.mounts("A").unwrap()[0].is_read_only());
    let v = s.view("v", Some("A")).unwrap();
    assert!(v[0].is_read_only());
    let vi = s.stat("v").unwrap();
    assert_eq!((vi.kind, vi.parent.as_deref()), (Kind::View, Some("A")));
    assert_eq!(class(s.commit("V", "v")), ErrorClass::Conflict);
    assert_eq!(class(s.commit("B", "A")), ErrorClass::Conflict);
    let keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["A", "v"]);
}

/// Files of two committed layers are visible in a snapshot on top; writes land in its own dir.
pub fn parent_chain_visibility(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    let m = s.prepare("a1", None).unwrap();
    fs::write(writable_dir(&m).join("one"), b"1").unwrap();
    s.commit("L1", "a1").unwrap();
    let m = s.prepare("a2", Some("L1")).unwrap();
    fs::write(writable_dir(&m).join("two"), b"2").unwrap();
    s.commit("L2", "a2").unwrap();

    let top = s.prepare("top", Some("L2")).unwrap();
    let upper = writable_dir(&top);
    let snapshots = tmp.path().join("snapshots");
    let ran = with_mounted(&top, &snapshots, |dir| {
        assert_eq!(fs::read(dir.join("one")).unwrap(), b"1");
        assert_eq!(fs::read(dir.join("two")).unwrap(), b"2");
        fs::write(dir.join("three"), b"3").unwrap();
    });
    if ran {
        assert_eq!(fs::read(upper.join("three")).unwrap(), b"3");
    }
    let view = s.view("v", Some("L2")).unwrap();
    with_mounted(&view, &snapshots, |dir| {
        assert_eq!(fs::read(dir.join("one")).unwrap(), b"1");
        assert_eq!(fs::read(dir.join("two")).unwrap(), b"2");
        assert!(!dir.join("three").exists());
    });
}

/// Runs `check` on a directory showing `mounts`. A lone bind mount is checked at its source
/// directly; anything else is mounted for real in a private mount namespace (root only).
/// Returns false when the check was skipped.
pub fn with_mounted(mounts: &[Mount], snapshots: &Path, check: impl FnOnce(&Path) + Send) -> bool {
    if mounts.len() == 1 && mounts[0].typ == "bind" {
        check(Path::new(&mounts[0].source));
        return true;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping real mount check: needs root");
        return false;
    }
    let target = tempfile::tempdir().unwrap();
    let t = target.path().to_path_buf();
    std::thread::scope(|scope| {
        scope
            .spawn(|| mount_in_private_ns(mounts, snapshots, &t, check))
            .join()
            .expect("mount check thread failed");
    });
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(&*target.path().to_string_lossy()),
        "mount leaked to the host namespace"
    );
    true
}

/// In the calling thread only: unshare the mount namespace, make `/` private, mount, check.
/// The namespace (and its mounts) disappear when the thread exits.
fn mount_in_private_ns(
    mounts: &[Mount],
    snapshots: &Path,
    target: &Path,
    check: impl FnOnce(&Path),
) {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS).expect("unshare mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
    // Relative lowerdirs resolve against <root>/snapshots; this thread has its own cwd now.
    std::env::set_current_dir(snapshots).expect("chdir to snapshots dir");
    for m in mounts {
        let data = m.options.join(",");
        mount(
            Some(m.source.as_str()),
            target,
            Some(m.typ.as_str()),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .unwrap_or_else(|e| panic!("mount {m:?}: {e}"));
    }
    check(target);
}

/// A parent cannot be removed while a child stacks on it.
pub fn remove_refuses_with_children(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    s.prepare("a", None).unwrap();
    s.commit("A", "a").unwrap();
    s.prepare("b", Some("A")).unwrap();
    s.view("v", Some("A")).unwrap();
    let e = s.remove("A").unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert!(e.to_string().contains("\"A\""), "{e}");
    s.remove("b").unwrap();
    assert_eq!(class(s.remove("A")), ErrorClass::Conflict);
    s.remove("v").unwrap();
    s.remove("A").unwrap();
    assert!(s.list().unwrap().is_empty());
}

/// Removing a committed leaf forgets it and deletes its directories.
pub fn remove_committed_leaf(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    s.prepare("a", None).unwrap();
    s.commit("A", "a").unwrap();
    let m = s.prepare("b", Some("A")).unwrap();
    fs::write(writable_dir(&m).join("f"), b"x").unwrap();
    s.commit("B", "b").unwrap();
    let id = s.stat("B").unwrap().id;
    let dir = tmp.path().join("snapshots").join(id.to_string());
    assert!(dir.join("fs").is_dir());
    s.remove("B").unwrap();
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert_eq!(class(s.stat("B")), ErrorClass::NotFound);
    assert!(s.stat("A").is_ok());
}

/// Keys are unique across kinds; a refused create leaves nothing behind.
pub fn keys_unique(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    s.prepare("a", None).unwrap();
    assert_eq!(class(s.prepare("a", None)), ErrorClass::AlreadyExists);
    assert_eq!(class(s.view("a", None)), ErrorClass::AlreadyExists);
    s.prepare("b", None).unwrap();
    assert_eq!(class(s.commit("b", "a")), ErrorClass::AlreadyExists);
    assert_eq!(s.stat("a").unwrap().kind, Kind::Active);
    assert_eq!(class(s.prepare("", None)), ErrorClass::InvalidArgument);
    assert_eq!(s.list().unwrap().len(), 2);
    let dirs = fs::read_dir(tmp.path().join("snapshots")).unwrap().count();
    assert_eq!(dirs, 2);
}

/// Unknown keys and parents are NotFound; an active parent is refused.
pub fn unknown_key(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    assert_eq!(class(s.stat("nope")), ErrorClass::NotFound);
    assert_eq!(class(s.mounts("nope")), ErrorClass::NotFound);
    assert_eq!(class(s.remove("nope")), ErrorClass::NotFound);
    assert_eq!(class(s.commit("x", "nope")), ErrorClass::NotFound);
    assert_eq!(class(s.prepare("k", Some("nope"))), ErrorClass::NotFound);
    assert_eq!(class(s.view("k", Some("nope"))), ErrorClass::NotFound);
    s.prepare("act", None).unwrap();
    assert_eq!(class(s.prepare("k", Some("act"))), ErrorClass::Conflict);
    assert_eq!(s.list().unwrap().len(), 1);
}

/// A second instance on the same root sees the same snapshots.
pub fn survives_reopen(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let before = {
        let s = make(tmp.path());
        s.prepare("a", None).unwrap();
        s.commit("A", "a").unwrap();
        s.prepare("b", Some("A")).unwrap();
        s.list().unwrap()
    };
    let s = make(tmp.path());
    assert_eq!(s.list().unwrap(), before);
    s.prepare("c", Some("A")).unwrap();
    let ids: std::collections::BTreeSet<u64> = s.list().unwrap().iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 3, "ids must not be reused after reopen");
}

/// Two instances on one root (as two processes would be) see each other's changes.
pub fn two_instances_share_root(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s1 = make(tmp.path());
    let s2 = make(tmp.path());
    s1.prepare("a", None).unwrap();
    assert_eq!(class(s2.prepare("a", None)), ErrorClass::AlreadyExists);
    s2.prepare("b", None).unwrap();
    s2.commit("B", "b").unwrap();
    s1.prepare("c", Some("B")).unwrap();
    assert_eq!(class(s2.remove("B")), ErrorClass::Conflict);
    let list = s1.list().unwrap();
    assert_eq!(list, s2.list().unwrap());
    let ids: std::collections::BTreeSet<u64> = list.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 3);
}

/// Orphan directories (crash leftovers) are removed; live snapshots are kept.
pub fn cleanup_removes_orphans(make: Make) {
    let tmp = tempfile::tempdir().unwrap();
    let s = make(tmp.path());
    s.prepare("a", None).unwrap();
    let live = tmp
        .path()
        .join("snapshots")
        .join(s.stat("a").unwrap().id.to_string());
    let orphan = tmp.path().join("snapshots/999");
    fs::create_dir_all(orphan.join("fs")).unwrap();
    let removed = s.cleanup().unwrap();
    assert_eq!(removed, vec![orphan.clone()]);
    assert!(!orphan.exists());
    assert!(live.join("fs").is_dir());
    assert!(s.cleanup().unwrap().is_empty());
}
