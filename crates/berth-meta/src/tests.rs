//! Tests of images, tags, layers, container references and leases, and shared fixtures.

use crate::{ContainerRef, ImageRecord, LayerRecord, Meta, MetaError};
use berth_oci::{Classify, Digest, ErrorClass};
use std::collections::BTreeMap;
use std::path::Path;

/// A digest derived from a name, for readable tests.
pub(crate) fn d(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

/// A layer row named `name` on `parent`, whose blob is `blob-<name>`.
pub(crate) fn layer(name: &str, parent: Option<&LayerRecord>) -> LayerRecord {
    let chain = d(&format!("chain-{name}"));
    LayerRecord {
        snapshot_key: format!("layer-{}", chain.hex()),
        chain_id: chain,
        diff_id: d(&format!("diff-{name}")),
        parent: parent.map(|p| p.chain_id.clone()),
        blob_digest: d(&format!("blob-{name}")),
        blob_size: 100,
        blob_media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        unpacked_size: 1000,
        file_count: 3,
    }
}

/// An image named `name` using `layers` (bottom first).
pub(crate) fn image(name: &str, layers: &[&LayerRecord]) -> ImageRecord {
    let mut labels = BTreeMap::new();
    labels.insert("name".to_string(), name.to_string());
    ImageRecord {
        id: d(&format!("config-{name}")),
        manifest_digest: d(&format!("manifest-{name}")),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        created: Some("2024-01-01T00:00:00Z".into()),
        added: 1_700_000_000,
        size: layers.iter().map(|l| l.unpacked_size).sum(),
        parent: None,
        layers: layers.iter().map(|l| l.chain_id.clone()).collect(),
        repo_digests: vec![],
        labels,
    }
}

pub(crate) fn open(dir: &Path) -> Meta {
    Meta::open(&dir.join("berth.db")).unwrap()
}

fn tag(name: &str) -> String {
    format!("docker.io/library/{name}:latest")
}

#[test]
fn put_and_get_layers() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    let top = layer("top", Some(&base));
    assert_eq!(meta.layer(&base.chain_id).unwrap(), None);
    meta.put_layer(&base).unwrap();
    meta.put_layer(&top).unwrap();
    assert_eq!(meta.layer(&top.chain_id).unwrap(), Some(top.clone()));
    let mut changed = top.clone();
    changed.unpacked_size = 5;
    changed.file_count = 9;
    meta.put_layer(&changed).unwrap();
    assert_eq!(meta.layer(&top.chain_id).unwrap(), Some(changed.clone()));
    let mut all = vec![base.clone(), changed.clone()];
    all.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
    assert_eq!(meta.layers().unwrap(), all);
    assert!(meta.delete_layer(&top.chain_id).unwrap());
    assert!(!meta.delete_layer(&top.chain_id).unwrap());
    assert_eq!(meta.layers().unwrap(), vec![base]);
}

#[test]
fn put_and_get_images() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    let top = layer("top", Some(&base));
    meta.put_layer(&base).unwrap();
    meta.put_layer(&top).unwrap();
    let mut img = image("app", &[&base, &top]);
    img.repo_digests = vec!["docker.io/library/app@sha256:00".into()];
    let extra = d("extra-blob");
    meta.put_image(&img, std::slice::from_ref(&extra), &[tag("app")])
        .unwrap();
    assert_eq!(meta.image(&img.id).unwrap(), Some(img.clone()));
    assert_eq!(meta.images().unwrap(), vec![img.clone()]);
    let mut want = vec![
        img.id.clone(),
        img.manifest_digest.clone(),
        base.blob_digest.clone(),
        top.blob_digest.clone(),
        extra,
    ];
    want.sort();
    assert_eq!(meta.image_blobs(&img.id).unwrap(), want);
    assert_eq!(meta.resolve_tag(&tag("app")).unwrap(), Some(img.id.clone()));
    assert_eq!(meta.tags_of(&img.id).unwrap(), vec![tag("app")]);
    assert_eq!(meta.image(&d("nothing")).unwrap(), None);

    // Stored again: the first `added` and earlier repo digests are kept, blob refs replaced.
    let mut again = img.clone();
    again.added += 100;
    again.repo_digests = vec!["docker.io/library/app@sha256:11".into()];
    meta.put_image(&again, &[], &[]).unwrap();
    let got = meta.image(&img.id).unwrap().unwrap();
    assert_eq!(got.added, img.added);
    assert_eq!(
        got.repo_digests,
        vec![
            "docker.io/library/app@sha256:00".to_string(),
            "docker.io/library/app@sha256:11".to_string()
        ]
    );
    assert_eq!(meta.image_blobs(&img.id).unwrap().len(), 4);
    meta.add_repo_digests(&img.id, &["x@sha256:22".into()])
        .unwrap();
    assert_eq!(meta.image(&img.id).unwrap().unwrap().repo_digests.len(), 3);
}

#[test]
fn put_image_needs_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    let img = image("app", &[&base]);
    let err = meta.put_image(&img, &[], &[tag("app")]).unwrap_err();
    assert!(matches!(err, MetaError::LayerNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&base.chain_id.to_string()));
    // Nothing of the failed transaction stays.
    assert_eq!(meta.images().unwrap(), vec![]);
    assert_eq!(meta.tags().unwrap(), vec![]);
}

#[test]
fn images_are_listed_newest_first_and_children_found() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    meta.put_layer(&base).unwrap();
    let parent = image("parent", &[&base]);
    let mut child = image("child", &[&base]);
    child.parent = Some(parent.id.clone());
    child.added = parent.added + 10;
    meta.put_image(&parent, &[], &[]).unwrap();
    meta.put_image(&child, &[], &[]).unwrap();
    let ids: Vec<Digest> = meta.images().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![child.id.clone(), parent.id.clone()]);
    assert_eq!(meta.children(&parent.id).unwrap(), vec![child.id.clone()]);
    assert_eq!(meta.children(&child.id).unwrap(), vec![]);
    assert_eq!(meta.images_using_layer(&base.chain_id).unwrap().len(), 2);
}

#[test]
fn moving_a_tag_leaves_the_previous_image_dangling() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    meta.put_layer(&base).unwrap();
    let old = image("old", &[&base]);
    let new = image("new", &[&base]);
    meta.put_image(&old, &[], &[tag("app"), tag("keep")])
        .unwrap();
    meta.put_image(&new, &[], &[tag("app")]).unwrap();
    assert_eq!(meta.resolve_tag(&tag("app")).unwrap(), Some(new.id.clone()));
    assert_eq!(meta.tags_of(&old.id).unwrap(), vec![tag("keep")]);
    meta.tag(&tag("keep"), &new.id).unwrap();
    assert_eq!(meta.tags_of(&old.id).unwrap(), Vec::<String>::new());
    assert!(
        meta.image(&old.id).unwrap().is_some(),
        "dangling, not deleted"
    );
    assert_eq!(
        meta.tags().unwrap(),
        vec![(tag("app"), new.id.clone()), (tag("keep"), new.id.clone())]
    );
}

#[test]
fn tag_and_untag() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    meta.put_layer(&base).unwrap();
    let img = image("app", &[&base]);
    meta.put_image(&img, &[], &[]).unwrap();
    meta.tag("localhost:5000/a/b:v1", &img.id).unwrap();
    assert_eq!(
        meta.resolve_tag("localhost:5000/a/b:v1").unwrap(),
        Some(img.id.clone())
    );
    assert_eq!(
        meta.untag("localhost:5000/a/b:v1").unwrap(),
        Some(img.id.clone())
    );
    assert_eq!(meta.untag("localhost:5000/a/b:v1").unwrap(), None);
    assert_eq!(meta.resolve_tag("localhost:5000/a/b:v1").unwrap(), None);

    let err = meta.tag(&tag("x"), &d("missing")).unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert!(err.to_string().contains(&d("missing").to_string()));
}

#[test]
fn prefix_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    meta.put_layer(&base).unwrap();
    // Find two image names whose IDs share a first hex digit, and one that does not.
    let mut by_first: BTreeMap<char, Vec<ImageRecord>> = BTreeMap::new();
    for i in 0..40 {
        let img = image(&format!("img{i}"), &[&base]);
        let first = img.id.hex().chars().next().unwrap();
        by_first.entry(first).or_default().push(img);
    }
    let pair = by_first.values().find(|v| v.len() >= 2).unwrap().clone();
    let (a, b) = (&pair[0], &pair[1]);
    meta.put_image(a, &[], &[]).unwrap();
    meta.put_image(b, &[], &[]).unwrap();

    let first = &a.id.hex()[..1];
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(meta.images_by_prefix(first).unwrap(), both);
    let err = meta.image_by_prefix(first).unwrap_err();
    assert!(
        matches!(err, MetaError::AmbiguousPrefix { count: 2, .. }),
        "{err}"
    );

    let short = &a.id.hex()[..12];
    assert_eq!(meta.images_by_prefix(short).unwrap(), vec![a.id.clone()]);
    assert_eq!(
        meta.images_by_prefix(&format!("sha256:{short}")).unwrap(),
        vec![a.id.clone()]
    );
    assert_eq!(meta.image_by_prefix(a.id.hex()).unwrap(), a.id);
    assert_eq!(meta.images_by_prefix(&"0".repeat(64)).unwrap(), vec![]);
    assert_eq!(
        meta.image_by_prefix(&"0".repeat(64)).unwrap_err().class(),
        ErrorClass::NotFound
    );
    for bad in ["", "sha256:", "XYZ", "abc%", "ABC"] {
        let err = meta.images_by_prefix(bad).unwrap_err();
        assert!(
            matches!(err, MetaError::InvalidPrefix { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn delete_image_keeps_layers() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let base = layer("base", None);
    meta.put_layer(&base).unwrap();
    let img = image("app", &[&base]);
    meta.put_image(&img, &[d("extra")], &[tag("app"), tag("other")])
        .unwrap();
    meta.delete_image(&img.id).unwrap();
    assert_eq!(meta.image(&img.id).unwrap(), None);
    assert_eq!(meta.tags().unwrap(), vec![]);
    assert_eq!(meta.image_blobs(&img.id).unwrap(), vec![]);
    assert_eq!(meta.layer(&base.chain_id).unwrap(), Some(base.clone()));
    let err = meta.delete_image(&img.id).unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound);
}

#[test]
fn container_refs() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let img = d("config-app");
    let c1 = ContainerRef {
        id: "c1".into(),
        name: "web".into(),
        image_id: img.clone(),
        snapshot_key: Some("c1-rw".into()),
    };
    let c2 = ContainerRef {
        id: "c2".into(),
        name: "db".into(),
        image_id: d("config-other"),
        snapshot_key: None,
    };
    meta.put_container_ref(&c1).unwrap();
    meta.put_container_ref(&c2).unwrap();
    assert_eq!(meta.container_refs().unwrap(), vec![c1.clone(), c2.clone()]);
    assert_eq!(meta.containers_using(&img).unwrap(), vec![c1.clone()]);
    assert_eq!(meta.container_ref("c2").unwrap(), Some(c2.clone()));
    let clash = ContainerRef {
        id: "c3".into(),
        name: "web".into(),
        ..c2.clone()
    };
    let err = meta.put_container_ref(&clash).unwrap_err();
    assert_eq!(err.class(), ErrorClass::AlreadyExists);
    assert!(err.to_string().contains("web") && err.to_string().contains("c1"));
    // Renaming a container to its own name is an update.
    meta.put_container_ref(&c1).unwrap();
    assert!(meta.delete_container_ref("c1").unwrap());
    assert!(!meta.delete_container_ref("c1").unwrap());
    assert_eq!(meta.containers_using(&img).unwrap(), vec![]);
}

#[test]
fn leases_hold_resources_until_ended() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let lease = meta.begin_lease("test").unwrap();
    lease.add_blob(&d("b")).unwrap();
    lease.add_blob(&d("b")).unwrap();
    lease.add_snapshot("snap").unwrap();
    // Committed at once: visible from another connection.
    let other = open(dir.path());
    let leases = other.leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert!(leases[0].alive);
    assert_eq!(leases[0].purpose, "test");
    assert_eq!(leases[0].owner.pid, std::process::id() as i32);
    assert_eq!(
        other.lease_resources(lease.id()).unwrap(),
        vec![
            ("blob".to_string(), d("b").to_string()),
            ("snapshot".to_string(), "snap".to_string())
        ]
    );
    assert_eq!(other.remove_stale_leases().unwrap(), vec![]);
    let id = lease.id();
    lease.end().unwrap();
    assert_eq!(other.leases().unwrap(), vec![]);
    assert_eq!(other.lease_resources(id).unwrap(), vec![]);

    // Drop ends a lease too.
    let lease = meta.begin_lease("dropped").unwrap();
    lease.add_blob(&d("c")).unwrap();
    drop(lease);
    assert_eq!(other.leases().unwrap(), vec![]);
}

#[test]
fn lease_with_a_reused_pid_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let lease = meta.begin_lease("fake").unwrap();
    // Pretend the lease was taken by an earlier process that had our pid.
    meta.shared
        .lock()
        .execute(
            "UPDATE leases SET start_time = start_time + 1 WHERE id = ?1",
            [lease.id()],
        )
        .unwrap();
    let stale = meta.remove_stale_leases().unwrap();
    assert_eq!(stale.len(), 1);
    assert!(!stale[0].alive);
    let err = lease.add_blob(&d("x")).unwrap_err();
    assert!(matches!(err, MetaError::LeaseGone { .. }), "{err}");
    assert!(err.to_string().contains("fake"));
}

/// Environment variable naming the database a child test process leases in.
const CHILD_DB: &str = "BERTH_META_TEST_LEASE_CHILD_DB";

/// Runs only inside the child process spawned by `lease_of_a_dead_process_is_stale`: takes a
/// lease and exits without ending it, like a crashed `berth load`.
#[test]
fn lease_child_helper() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let meta = Meta::open(Path::new(&path)).unwrap();
    let lease = meta.begin_lease("child").unwrap();
    lease.add_blob(&d("child-blob")).unwrap();
    lease.add_snapshot("child-snap").unwrap();
    std::mem::forget(lease);
}

/// A command running only this test binary's test `name`, with `env` set.
pub(crate) fn child_test(name: &str, env: &[(&str, &str)]) -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for a child test and fails with its output if it failed.
pub(crate) fn expect_success(name: &str, out: std::process::Output) {
    assert!(
        out.status.success(),
        "child test {name} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs this test binary's test `name` in a child process with `env` set, to completion.
pub(crate) fn run_child_test(name: &str, env: &[(&str, &str)]) {
    let out = child_test(name, env).output().unwrap();
    expect_success(name, out);
}

#[test]
fn lease_of_a_dead_process_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let meta = Meta::open(&path).unwrap();
    let mine = meta.begin_lease("mine").unwrap();
    run_child_test(
        "tests::lease_child_helper",
        &[(CHILD_DB, path.to_str().unwrap())],
    );
    let leases = meta.leases().unwrap();
    assert_eq!(leases.len(), 2);
    let child = leases.iter().find(|l| l.purpose == "child").unwrap();
    assert!(!child.alive, "the child has exited and was reaped");
    assert_ne!(child.owner.pid, std::process::id() as i32);
    assert_eq!(meta.lease_resources(child.id).unwrap().len(), 2);
    let stale = meta.remove_stale_leases().unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].purpose, "child");
    assert_eq!(meta.lease_resources(child.id).unwrap(), vec![]);
    let left = meta.leases().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, mine.id());
}

#[test]
fn container_rows_and_lookup() {
    use crate::{ContainerLookup, ContainerRow};
    let dir = tempfile::tempdir().unwrap();
    let meta = open(dir.path());
    let row = |id: &str, name: &str, created: i64| ContainerRow {
        id: id.into(),
        name: name.into(),
        image_id: d("config-app"),
        snapshot_key: Some(format!("{id}-rw")),
        created,
        image: "busybox".into(),
        config: "{}".into(),
    };
    let a = row("abc123", "web", 1);
    let b = row("abd456", "db", 2);
    meta.insert_container(&a).unwrap();
    meta.insert_container(&b).unwrap();
    // A reference that is not a container (an `image mount` view) is not listed.
    meta.put_container_ref(&ContainerRef {
        id: "mount-x".into(),
        name: "mount-x".into(),
        image_id: d("config-app"),
        snapshot_key: None,
    })
    .unwrap();
    assert_eq!(meta.container_rows().unwrap(), vec![b.clone(), a.clone()]);
    assert_eq!(meta.container_row("abc123").unwrap(), Some(a.clone()));
    assert_eq!(meta.container_row("mount-x").unwrap(), None);
    let found = |r: &str| meta.lookup_container(r).unwrap();
    assert_eq!(found("abc123"), ContainerLookup::Found(a.clone()));
    assert_eq!(found("web"), ContainerLookup::Found(a.clone()));
    assert_eq!(found("/db"), ContainerLookup::Found(b.clone()));
    assert_eq!(found("abd"), ContainerLookup::Found(b.clone()));
    assert_eq!(found("ab"), ContainerLookup::Ambiguous(2));
    assert_eq!(found("zz"), ContainerLookup::NotFound);
    assert_eq!(found("mount-x"), ContainerLookup::NotFound);
    assert_eq!(found(""), ContainerLookup::NotFound);
    // A name that looks like another's ID prefix: the exact name wins.
    let c = row("fff000", "abc", 3);
    meta.insert_container(&c).unwrap();
    assert_eq!(found("abc"), ContainerLookup::Found(c.clone()));
    let err = meta.insert_container(&row("eee", "web", 4)).unwrap_err();
    assert_eq!(err.class(), ErrorClass::AlreadyExists);
    let err = meta.rename_container("fff000", "db", "{}").unwrap_err();
    assert_eq!(err.class(), ErrorClass::AlreadyExists);
    meta.rename_container("fff000", "cache", "{\"x\":1}")
        .unwrap();
    assert_eq!(
        found("cache"),
        ContainerLookup::Found(ContainerRow {
            name: "cache".into(),
            config: "{\"x\":1}".into(),
            ..c
        })
    );
    assert!(meta.delete_container_ref("abc123").unwrap());
    assert_eq!(found("web"), ContainerLookup::NotFound);
}

/// What a short-lived command does: the only connection, opened, one write (container `i`,
/// with a 2 kB config), closed.
fn insert_alone(path: &std::path::Path, i: i64) {
    let meta = Meta::open_with(path, crate::Durability::Normal).unwrap();
    meta.insert_container(&crate::ContainerRow {
        id: format!("{i:064x}"),
        name: format!("c{i}"),
        image_id: d("config-app"),
        snapshot_key: None,
        created: i,
        image: "busybox".into(),
        config: "x".repeat(2000),
    })
    .unwrap();
}

#[test]
fn wal_stays_short_across_processes_that_each_open_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    for i in 0..300 {
        insert_alone(&path, i);
    }
    let wal = std::fs::metadata(dir.path().join("berth.db-wal")).map_or(0, |m| m.len());
    assert!(wal <= 1 << 20, "the WAL grew to {wal} bytes");
    assert_eq!(open(dir.path()).container_rows().unwrap().len(), 300);
}

#[test]
fn commands_leave_the_checkpoint_to_checkpoint_if_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let wal_len = || std::fs::metadata(dir.path().join("berth.db-wal")).map_or(0, |m| m.len());
    for i in 0..80 {
        insert_alone(&path, i);
    }
    // No commit checkpointed (80 rows of 2 kB: past the 64 pages at which SQLite's default
    // would have, below the truncation that writes do themselves).
    let grown = wal_len();
    assert!(grown > 64 * 4096, "the WAL holds {grown} bytes");
    let meta = Meta::open_with(&path, crate::Durability::Normal).unwrap();
    meta.checkpoint_if_over(grown);
    assert_eq!(wal_len(), grown, "under the limit: left alone");
    meta.checkpoint_if_over(64 * 4096);
    // Restarted, with its first frame (and synced header) written already.
    assert!(
        wal_len() > 0 && wal_len() <= 32 + 24 + 4096,
        "{}",
        wal_len()
    );
    assert_eq!(
        meta.schema_version().unwrap(),
        Meta::latest_schema_version()
    );
    assert_eq!(meta.container_rows().unwrap().len(), 80);
}
