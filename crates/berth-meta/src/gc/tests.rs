//! GC tests on a real content store and a copy snapshotter in a temp dir (no mounts needed).

use super::*;
use crate::tests::{d, image, layer, open, run_child_test};
use crate::{ContainerRef, ImageRecord, LayerRecord};
use berth_content::ContentStore;
use berth_snapshot::CopySnapshotter;
use std::io::Write;
use std::path::Path;

/// A store of the three parts in one temp dir.
pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub meta: Meta,
    pub content: ContentStore,
    pub snaps: CopySnapshotter,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        Fixture::at(dir)
    }

    fn at(dir: tempfile::TempDir) -> Fixture {
        let meta = open(dir.path());
        let content = ContentStore::open(dir.path()).unwrap();
        let snaps = CopySnapshotter::new(&dir.path().join("copy")).unwrap();
        Fixture {
            dir,
            meta,
            content,
            snaps,
        }
    }

    pub fn blob(&self, data: &[u8]) -> Digest {
        put_blob(&self.content, data)
    }

    /// Stores `layer`'s blob, a committed snapshot under its key (on its parent's), and its row.
    pub fn stored_layer(&self, name: &str, parent: Option<&LayerRecord>) -> LayerRecord {
        let mut l = layer(name, parent);
        l.blob_digest = self.blob(format!("blob of {name}").as_bytes());
        l.blob_size = format!("blob of {name}").len() as u64;
        let parent_key = parent.map(|p| p.snapshot_key.clone());
        commit_snapshot(&self.snaps, &l.snapshot_key, parent_key.as_deref(), name);
        self.meta.put_layer(&l).unwrap();
        l
    }

    /// Stores an image over `layers` with its config and manifest blobs.
    pub fn stored_image(&self, name: &str, layers: &[&LayerRecord], tags: &[&str]) -> ImageRecord {
        let mut img = image(name, layers);
        img.id = self.blob(format!("config of {name}").as_bytes());
        img.manifest_digest = self.blob(format!("manifest of {name}").as_bytes());
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        self.meta.put_image(&img, &[], &tags).unwrap();
        img
    }

    pub fn gc(&self, dry_run: bool) -> GcReport {
        collect(
            &self.meta,
            &self.content,
            &self.snaps,
            &GcOptions {
                dry_run,
                ..Default::default()
            },
        )
        .unwrap()
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.content.exists(digest).unwrap()
    }

    pub fn has_snapshot(&self, key: &str) -> bool {
        self.snaps.stat(key).is_ok()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub(crate) fn put_blob(content: &ContentStore, data: &[u8]) -> Digest {
    let reference = format!("test-{}", Digest::sha256_of(data).hex());
    let mut w = content.writer(&reference, None).unwrap();
    w.write_all(data).unwrap();
    w.commit().unwrap()
}

/// Creates committed snapshot `key` on `parent` holding one file named after `content`.
pub(crate) fn commit_snapshot(
    snaps: &dyn Snapshotter,
    key: &str,
    parent: Option<&str>,
    content: &str,
) {
    let tmp = format!("tmp-{key}");
    snaps.prepare(&tmp, parent).unwrap();
    let dir = snaps.layer_dir(&tmp).unwrap();
    std::fs::write(dir.join(content), content).unwrap();
    snaps.commit(key, &tmp).unwrap();
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn unreferenced_removed_referenced_kept() {
    let f = Fixture::new();
    let base = f.stored_layer("base", None);
    let top = f.stored_layer("top", Some(&base));
    let img = f.stored_image("app", &[&base, &top], &["docker.io/library/app:latest"]);
    // Garbage: a blob, a snapshot without row, a layer (row, snapshot, blob) no image uses.
    let junk = f.blob(b"junk");
    commit_snapshot(&f.snaps, "orphan", None, "orphan");
    let lonely = f.stored_layer("lonely", None);

    let report = f.gc(false);
    assert_eq!(
        sorted(report.removed_blobs.clone()),
        sorted(vec![
            (junk.clone(), 4),
            (lonely.blob_digest.clone(), lonely.blob_size)
        ])
    );
    assert_eq!(
        sorted(report.removed_snapshots.clone()),
        sorted(vec!["orphan".to_string(), lonely.snapshot_key.clone()])
    );
    assert_eq!(report.removed_layers, vec![lonely.chain_id.clone()]);
    assert_eq!(
        report.reclaimed_bytes,
        4 + lonely.blob_size + lonely.unpacked_size
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!f.has_blob(&junk));
    assert!(!f.has_snapshot("orphan"));
    assert_eq!(f.meta.layer(&lonely.chain_id).unwrap(), None);
    for blob in f.meta.image_blobs(&img.id).unwrap() {
        assert!(f.has_blob(&blob), "{blob} kept");
    }
    assert!(f.has_snapshot(&base.snapshot_key) && f.has_snapshot(&top.snapshot_key));
    assert!(f.meta.layer(&top.chain_id).unwrap().is_some());
    // A second run finds nothing.
    assert_eq!(f.gc(false), GcReport::default());
}

#[test]
fn removing_an_image_frees_its_layers_children_first() {
    let f = Fixture::new();
    let base = f.stored_layer("base", None);
    let mid = f.stored_layer("mid", Some(&base));
    let top = f.stored_layer("top", Some(&mid));
    let keep = f.stored_image("keep", &[&base], &["docker.io/library/keep:1"]);
    let gone = f.stored_image("gone", &[&base, &mid, &top], &["docker.io/library/gone:1"]);
    f.meta.delete_image(&gone.id).unwrap();

    let report = f.gc(false);
    // `top` must go before `mid` (the snapshotter refuses to remove a parent first).
    assert_eq!(
        report.removed_snapshots,
        vec![top.snapshot_key.clone(), mid.snapshot_key.clone()]
    );
    assert_eq!(
        sorted(report.removed_layers.clone()),
        sorted(vec![top.chain_id.clone(), mid.chain_id.clone()])
    );
    let removed: Vec<Digest> = report
        .removed_blobs
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(
        sorted(removed),
        sorted(vec![
            gone.id.clone(),
            gone.manifest_digest.clone(),
            mid.blob_digest.clone(),
            top.blob_digest.clone()
        ])
    );
    assert!(f.has_snapshot(&base.snapshot_key));
    assert!(f.has_blob(&base.blob_digest));
    assert!(f.has_blob(&keep.id));
}

#[test]
fn dry_run_reports_without_removing() {
    let f = Fixture::new();
    let lonely = f.stored_layer("lonely", None);
    let junk = f.blob(b"junk");
    let mut w = f.content.writer("abandoned", None).unwrap();
    w.write_all(b"partial").unwrap();
    drop(w);
    let report = f.gc(true);
    assert_eq!(report.removed_layers, vec![lonely.chain_id.clone()]);
    assert_eq!(report.removed_snapshots, vec![lonely.snapshot_key.clone()]);
    assert_eq!(report.removed_blobs.len(), 2);
    assert_eq!(report.removed_ingests, vec!["abandoned".to_string()]);
    assert!(f.has_blob(&junk));
    assert!(f.has_snapshot(&lonely.snapshot_key));
    assert!(f.meta.layer(&lonely.chain_id).unwrap().is_some());
    assert_eq!(f.content.ingests().unwrap().len(), 1);
    // The real run removes what the dry run announced.
    let real = f.gc(false);
    assert_eq!(real.removed_layers, report.removed_layers);
    assert_eq!(real.removed_snapshots, report.removed_snapshots);
    assert_eq!(sorted(real.removed_blobs), sorted(report.removed_blobs));
    assert_eq!(real.removed_ingests, report.removed_ingests);
    assert_eq!(real.reclaimed_bytes, report.reclaimed_bytes);
}

#[test]
fn leased_resources_are_kept_until_the_lease_ends() {
    let f = Fixture::new();
    let lease = f.meta.begin_lease("load").unwrap();
    let blob = d("not yet written");
    lease.add_blob(&blob).unwrap();
    let blob = f.blob(b"being loaded");
    lease.add_blob(&blob).unwrap();
    lease.add_snapshot("layer-x").unwrap();
    commit_snapshot(&f.snaps, "layer-x", None, "x");
    lease.add_snapshot("unpack-1").unwrap();
    f.snaps.prepare("unpack-1", Some("layer-x")).unwrap();
    // A layer row whose snapshot is leased stays (the image referencing it comes next).
    let mut l = layer("x", None);
    l.snapshot_key = "layer-x".into();
    f.meta.put_layer(&l).unwrap();

    let report = f.gc(false);
    assert_eq!(report, GcReport::default());
    assert!(f.has_blob(&blob) && f.has_snapshot("layer-x") && f.has_snapshot("unpack-1"));

    lease.end().unwrap();
    let report = f.gc(false);
    assert_eq!(report.removed_blobs, vec![(blob, 12)]);
    assert_eq!(
        report.removed_snapshots,
        vec!["unpack-1".to_string(), "layer-x".to_string()]
    );
    assert_eq!(report.removed_layers, vec![l.chain_id]);
}

/// Environment variable naming the root a child test process leases in.
const CHILD_ROOT: &str = "BERTH_META_TEST_GC_CHILD_ROOT";

/// Runs only in the child of `stale_leases_protect_nothing`: leases and writes a blob, then
/// exits without ending the lease (a crashed writer).
#[test]
fn gc_child_helper() {
    let Ok(root) = std::env::var(CHILD_ROOT) else {
        return;
    };
    let meta = Meta::open(&Path::new(&root).join("berth.db")).unwrap();
    let content = ContentStore::open(Path::new(&root)).unwrap();
    let lease = meta.begin_lease("crashed").unwrap();
    lease
        .add_blob(&Digest::sha256_of(b"left by a crash"))
        .unwrap();
    put_blob(&content, b"left by a crash");
    std::mem::forget(lease);
}

#[test]
fn stale_leases_protect_nothing() {
    let f = Fixture::new();
    run_child_test(
        "gc::tests::gc_child_helper",
        &[(CHILD_ROOT, f.path().to_str().unwrap())],
    );
    let left = Digest::sha256_of(b"left by a crash");
    assert!(f.has_blob(&left));
    let leases = f.meta.leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert!(!leases[0].alive);
    // A dry run ignores the stale lease but does not delete it.
    let dry = f.gc(true);
    assert_eq!(dry.removed_blobs, vec![(left.clone(), 15)]);
    assert_eq!(f.meta.leases().unwrap().len(), 1);
    let report = f.gc(false);
    assert_eq!(report.removed_leases, vec![leases[0].id]);
    assert_eq!(report.removed_blobs, vec![(left.clone(), 15)]);
    assert!(!f.has_blob(&left));
    assert_eq!(f.meta.leases().unwrap(), vec![]);
}

#[test]
fn container_snapshots_keep_their_parent_chain() {
    let f = Fixture::new();
    let base = f.stored_layer("base", None);
    let top = f.stored_layer("top", Some(&base));
    let img = f.stored_image("app", &[&base, &top], &[]);
    f.snaps.prepare("ctr-rw", Some(&top.snapshot_key)).unwrap();
    f.meta
        .put_container_ref(&ContainerRef {
            id: "ctr".into(),
            name: "ctr".into(),
            image_id: img.id.clone(),
            snapshot_key: Some("ctr-rw".into()),
        })
        .unwrap();
    // `rmi -f` removed the image; the container still runs on its layers.
    f.meta.delete_image(&img.id).unwrap();
    let report = f.gc(false);
    assert_eq!(report.removed_snapshots, Vec::<String>::new());
    assert_eq!(report.removed_layers, vec![]);
    assert_eq!(
        sorted(
            report
                .removed_blobs
                .iter()
                .map(|(d, _)| d.clone())
                .collect()
        ),
        sorted(vec![img.id.clone(), img.manifest_digest.clone()])
    );
    assert!(
        f.has_blob(&top.blob_digest),
        "blobs of kept layer rows stay"
    );
    assert!(f.has_snapshot("ctr-rw") && f.has_snapshot(&base.snapshot_key));

    f.meta.delete_container_ref("ctr").unwrap();
    let report = f.gc(false);
    assert_eq!(
        report.removed_snapshots,
        vec![
            "ctr-rw".to_string(),
            top.snapshot_key.clone(),
            base.snapshot_key.clone()
        ]
    );
    assert_eq!(report.removed_layers.len(), 2);
    assert_eq!(report.removed_blobs.len(), 2);
}

#[test]
fn abandoned_ingests_are_aborted_live_ones_kept() {
    let f = Fixture::new();
    let mut abandoned = f.content.writer("abandoned", None).unwrap();
    abandoned.write_all(b"half").unwrap();
    drop(abandoned);
    let mut live = f.content.writer("live", None).unwrap();
    live.write_all(b"still writing").unwrap();
    live.flush().unwrap();
    let report = f.gc(false);
    assert_eq!(report.removed_ingests, vec!["abandoned".to_string()]);
    let left: Vec<String> = f
        .content
        .ingests()
        .unwrap()
        .into_iter()
        .map(|i| i.reference)
        .collect();
    assert_eq!(left, vec!["live".to_string()]);
    let digest = live.commit().unwrap();
    assert!(f.has_blob(&digest));
    let no_ingests = collect(
        &f.meta,
        &f.content,
        &f.snaps,
        &GcOptions {
            abort_ingests: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(no_ingests.removed_ingests, Vec::<String>::new());
}

#[test]
fn a_claim_rechecks_and_skips_what_became_used() {
    let f = Fixture::new();
    let owner = Owner::current().unwrap();
    let lease = f.meta.begin_lease("reuse").unwrap();
    lease.add_blob(&d("reused")).unwrap();
    lease.add_snapshot("layer-reused").unwrap();
    let claimed = f
        .meta
        .write(
            || "claim".into(),
            |tx| {
                let b = claim(
                    tx,
                    &owner,
                    ResourceKind::Blob,
                    &[d("reused").to_string(), d("free").to_string()],
                )?;
                let s = claim(
                    tx,
                    &owner,
                    ResourceKind::Snapshot,
                    &["layer-reused".to_string(), "free".to_string()],
                )?;
                Ok((b, s))
            },
        )
        .unwrap();
    assert_eq!(claimed.0, vec![d("free").to_string()]);
    assert_eq!(claimed.1, vec!["free".to_string()]);
}

#[test]
fn adding_a_resource_waits_while_gc_deletes_it() {
    let f = Fixture::new();
    let owner = Owner::current().unwrap();
    let name = d("contested").to_string();
    f.meta
        .write(
            || "claim".into(),
            |tx| claim(tx, &owner, ResourceKind::Blob, std::slice::from_ref(&name)),
        )
        .unwrap();
    let lease = f.meta.begin_lease("waiter").unwrap();
    let meta = f.meta.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut claims = Claims {
            meta: &meta,
            owner: &owner,
            held: Vec::new(),
        };
        claims
            .release(&[(ResourceKind::Blob, d("contested").to_string())])
            .unwrap();
    });
    let start = std::time::Instant::now();
    lease.add_blob(&d("contested")).unwrap();
    assert!(start.elapsed() >= std::time::Duration::from_millis(250));
    releaser.join().unwrap();

    // A claim left by a dead collector does not block.
    f.meta
        .shared
        .lock()
        .execute(
            "INSERT INTO gc_doomed (kind, name, boot_id, pid, start_time)
             VALUES ('snapshot', 'dead-claim', 'another-boot', 1, 1)",
            [],
        )
        .unwrap();
    let start = std::time::Instant::now();
    lease.add_snapshot("dead-claim").unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn children_first_orders_deepest_first() {
    let parents: HashMap<String, Option<String>> =
        [("a", None), ("b", Some("a")), ("c", Some("b")), ("x", None)]
            .into_iter()
            .map(|(k, p)| (k.to_string(), p.map(str::to_string)))
            .collect();
    let order = children_first(
        vec!["a".into(), "x".into(), "c".into(), "b".into()],
        &parents,
    );
    assert_eq!(order, vec!["c", "b", "a", "x"]);
}
