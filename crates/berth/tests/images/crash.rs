//! Crash safety: `berth load`, `import`, `rmi` and `image prune` SIGKILLed at many points leave a
//! store `system check` finds consistent (no partial blob, no leaked mount), and the next command
//! works; `system check --repair` mends injected faults (deleted blob, damaged layer dir, stale
//! DB row).

use crate::common::*;
use crate::skip;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kill points per command.
const ITERATIONS: u32 = 20;

/// Starts `berth ARGS`, SIGKILLs it after `delay` unless it finished; returns whether it was
/// killed. A run that finished must have succeeded.
fn kill_after(store: &Store, args: &[&str], delay: Duration, log: &Path) -> bool {
    let err = fs::File::create(log).unwrap();
    let mut child = store
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn berth");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(
                st.success(),
                "berth {} exited {st} by itself: {}",
                args.join(" "),
                fs::read_to_string(log).unwrap_or_default()
            );
            return false;
        }
        if start.elapsed() >= delay {
            break;
        }
        std::thread::sleep(Duration::from_micros(200).min(delay));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    true
}

/// How long `berth ARGS` takes on a fresh run (the range of kill points).
fn time_of(store: &Store, args: &[&str]) -> Duration {
    let start = Instant::now();
    store.ok(args);
    start.elapsed()
}

/// Kill delays from 1 ms growing geometrically up to a bit past `full`.
fn delays(full: Duration) -> Vec<Duration> {
    let max = (full.as_secs_f64() * 1.2).max(0.005);
    let min: f64 = 0.001;
    (0..ITERATIONS)
        .map(|i| {
            let f = i as f64 / (ITERATIONS - 1) as f64;
            Duration::from_secs_f64(min * (max / min).powf(f))
        })
        .collect()
}

/// After a kill: consistent, no partial blob, and the image is either all there or absent.
fn assert_after_kill(store: &Store, id: &str, when: &str) {
    store.assert_consistent(when);
    store.assert_blobs_verify(when);
    let ids = store.ids();
    assert!(
        ids.is_empty() || ids == vec![id.to_string()],
        "{when}: unexpected images {ids:?}"
    );
    if !ids.is_empty() {
        // A listed image is whole: inspect works and names every layer.
        let layers = store.diff_ids(id);
        assert!(!layers.is_empty(), "{when}: image without layers");
    }
}

/// An image of ~`mib` MiB: busybox + random + text layers.
fn big_image(fx: &Fixtures, mib: f64, tags: &[&str]) -> Archive {
    let rootfs = fx.rootfs();
    let r = fx.random_layer("big-random.tar", mib / 2.0);
    let t = fx.text_layer("big-text.tar", mib / 2.0);
    fx.archive("big.tar", &[&rootfs, &r, &t], tags, "none", false)
}

#[test]
fn load_killed_at_many_points() {
    let fx = Fixtures::new();
    let a = big_image(&fx, 60.0, &["localhost/crash:load"]);
    let path = a.path.to_str().unwrap();
    let full = time_of(&Store::new(), &["load", "-i", path]);
    let store = Store::new();
    let log = fx.path("load.log");
    let mut killed = 0;
    for (i, d) in delays(full).into_iter().enumerate() {
        if kill_after(&store, &["load", "-i", path], d, &log) {
            killed += 1;
        }
        assert_after_kill(&store, &a.id, &format!("load killed after {d:?} (#{i})"));
        // Start over half of the time, keep the leftovers (to resume over) the other half.
        if i % 2 == 1 && !store.ids().is_empty() {
            store.ok(&["rmi", "localhost/crash:load"]);
        }
    }
    assert!(killed > ITERATIONS / 2, "only {killed} runs were killed");
    store.load(&a.path);
    assert_eq!(store.ids(), vec![a.id.clone()]);
    assert_eq!(store.diff_ids(&a.id), a.diff_ids);
    store.assert_consistent("after the final load");
    store.assert_blobs_verify("after the final load");
}

#[test]
fn import_killed_at_many_points() {
    let fx = Fixtures::new();
    let tarball = fx.random_layer("rootfs-big.tar", 40.0);
    let path = tarball.to_str().unwrap();
    let full = time_of(&Store::new(), &["import", path, "localhost/crash:import"]);
    let store = Store::new();
    let log = fx.path("import.log");
    for (i, d) in delays(full).into_iter().enumerate() {
        kill_after(&store, &["import", path, "localhost/crash:import"], d, &log);
        let when = format!("import killed after {d:?} (#{i})");
        store.assert_consistent(&when);
        store.assert_blobs_verify(&when);
        // Each import that finished made one image (config with its own timestamp).
        for id in store.ids() {
            assert!(!store.diff_ids(&id).is_empty(), "{when}");
        }
    }
    let id = store
        .ok(&["import", path, "localhost/crash:import"])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "import prints the ID: {id}");
    let layers = store.diff_ids("localhost/crash:import");
    assert_eq!(layers.len(), 1);
    store.assert_consistent("after the final import");
}

/// Kills `berth ARGS` (which removes images) at many points, reloading the image when gone.
fn removal_killed(args: &[&str], what: &str) {
    let fx = Fixtures::new();
    let a = big_image(&fx, 16.0, &["localhost/crash:rm"]);
    let store = Store::new();
    store.load(&a.path);
    let full = time_of(&store, args);
    let log = fx.path("rm.log");
    for (i, d) in delays(full).into_iter().enumerate() {
        if store.ids().is_empty() {
            store.load(&a.path);
        }
        kill_after(&store, args, d, &log);
        assert_after_kill(&store, &a.id, &format!("{what} killed after {d:?} (#{i})"));
        // Tag state is all-or-nothing too: the image, when listed, keeps its tag unless rmi ran.
    }
    // The store still works: load, remove, GC everything.
    store.load(&a.path);
    store.ok(&["image", "prune", "-a", "-f"]);
    assert!(store.ids().is_empty());
    store.assert_consistent(&format!("after {what} and prune"));
    assert!(
        store.blob_files().is_empty(),
        "prune -a left blobs: {:?}",
        store.blob_files()
    );
}

#[test]
fn rmi_killed_at_many_points() {
    removal_killed(&["rmi", "localhost/crash:rm"], "rmi");
}

#[test]
fn prune_killed_at_many_points() {
    removal_killed(&["image", "prune", "-a", "-f"], "image prune -a -f");
}

/// Runs `system check`; asserts it fails and its output names one of `names`; returns it.
pub(crate) fn check_finds(store: &Store, names: &[&str], fault: &str) -> String {
    let out = store.run(&["system", "check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{}",
        describe(&format!("system check after {fault} should fail"), &out)
    );
    assert!(
        names.iter().any(|n| text.contains(n)),
        "system check after {fault} names none of {names:?}: {text}"
    );
    text
}

/// `system check --repair` succeeds and a second `system check` is clean.
pub(crate) fn repair(store: &Store, fault: &str) {
    let out = store.run(&["system", "check", "--repair"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("system check --repair after {fault}"), &out)
    );
    store.assert_consistent(&format!("after repairing {fault}"));
}

/// After a repair, loading the archive again gives back the whole image.
pub(crate) fn reload_works(store: &Store, a: &Archive) {
    store.load(&a.path);
    assert_eq!(store.diff_ids(&a.id), a.diff_ids);
    store.assert_consistent("after reloading");
    store.assert_blobs_verify("after reloading");
}

pub(crate) fn loaded_small(tag: &str) -> (Fixtures, Store, Archive) {
    let fx = Fixtures::new();
    let rootfs = fx.rootfs();
    let r = fx.random_layer("r.tar", 2.0);
    let a = fx.archive("a.tar", &[&rootfs, &r], &[tag], "none", false);
    let store = Store::new();
    store.load(&a.path);
    store.assert_consistent("after load");
    (fx, store, a)
}

#[test]
fn repair_deleted_blob() {
    let (_fx, store, a) = loaded_small("localhost/repair:blob");
    // The largest blob is the random layer.
    let blob = store
        .blob_files()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .expect("blobs");
    let name = blob.file_name().unwrap().to_string_lossy().to_string();
    fs::remove_file(&blob).unwrap();
    check_finds(&store, &[&name[..12]], "deleting a blob");
    repair(&store, "a deleted blob");
    reload_works(&store, &a);
    assert!(blob.exists(), "the blob is back after reloading");
}

#[test]
fn repair_deleted_config_blob() {
    let (_fx, store, a) = loaded_small("localhost/repair:config");
    let blob = store.root.join("blobs/sha256").join(hex(&a.id));
    assert!(blob.exists(), "config blob stored by its digest");
    fs::remove_file(&blob).unwrap();
    check_finds(&store, &[&hex(&a.id)[..12]], "deleting the config blob");
    repair(&store, "a deleted config blob");
    reload_works(&store, &a);
}

/// Files under the unpacked layers named `name`.
pub(crate) fn layer_files(store: &Store, name: &str) -> Vec<PathBuf> {
    find_named(&store.root, name)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/snapshots/"))
        .collect()
}

#[test]
fn repair_truncated_layer_file() {
    let (_fx, store, a) = loaded_small("localhost/repair:trunc");
    let files = layer_files(&store, "blob");
    assert_eq!(files.len(), 1, "one unpacked copy of data/blob: {files:?}");
    let full = fs::metadata(&files[0]).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&files[0]).unwrap();
    f.set_len(full / 2).unwrap();
    drop(f);
    check_finds(
        &store,
        &["layer", "snapshot", "blob"],
        "truncating a file of a layer",
    );
    repair(&store, "a truncated layer file");
    if store.ids().is_empty() {
        reload_works(&store, &a);
    }
    let files = layer_files(&store, "blob");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(fs::metadata(&files[0]).unwrap().len(), full, "layer mended");
}

#[test]
fn repair_deleted_layer_file() {
    let (_fx, store, a) = loaded_small("localhost/repair:del");
    let files = layer_files(&store, "busybox");
    let bin: Vec<_> = files
        .iter()
        .filter(|p| p.ends_with("bin/busybox"))
        .collect();
    assert_eq!(bin.len(), 1, "{files:?}");
    fs::remove_file(bin[0]).unwrap();
    check_finds(
        &store,
        &["layer", "snapshot", "busybox"],
        "deleting a file of a layer",
    );
    repair(&store, "a deleted layer file");
    if store.ids().is_empty() {
        reload_works(&store, &a);
    }
    let files = layer_files(&store, "busybox");
    assert!(
        files.iter().any(|p| p.ends_with("bin/busybox")),
        "layer mended: {files:?}"
    );
}

/// sqlite3 SQL output.
fn sql(db: &Path, query: &str) -> String {
    run_ok(Command::new("sqlite3").arg(db).arg(query))
}

#[test]
fn repair_stale_db_row() {
    if !have("sqlite3") {
        skip!("the sqlite3 CLI is not installed");
    }
    let (_fx, store, a) = loaded_small("localhost/repair:row");
    let db = store.root.join("berth.db");
    assert!(db.exists(), "{} exists", db.display());
    let bogus = format!("{}{}", "dead", &hex(&a.id)[4..]);
    // A copy of the rows of each image/tag table, with the image ID and tag replaced: an image
    // whose config blob does not exist, its blob references, and a tag naming it.
    // Schema-agnostic on purpose.
    let tables = lines(&sql(
        &db,
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'",
    ));
    let mut inserted = Vec::new();
    for t in tables
        .iter()
        .filter(|t| t.contains("image") || t.contains("tag"))
    {
        let cols: Vec<(String, String, bool)> = lines(&sql(
            &db,
            &format!("SELECT name, type, pk FROM pragma_table_info('{t}')"),
        ))
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].to_string(), f[1].to_uppercase(), f[2] != "0")
        })
        .collect();
        let keep: Vec<&(String, String, bool)> = cols
            .iter()
            .filter(|(_, ty, pk)| !(*pk && ty.contains("INT")))
            .collect();
        let names: Vec<String> = keep.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
        let exprs: Vec<String> = keep
            .iter()
            .map(|(n, ty, _)| {
                if ty.contains("INT") || ty.contains("BLOB") {
                    format!("\"{n}\"")
                } else {
                    format!(
                        "replace(replace(\"{n}\", '{}', '{bogus}'), 'repair:row', 'stale:row')",
                        hex(&a.id)
                    )
                }
            })
            .collect();
        let q = format!(
            "INSERT INTO \"{t}\" ({}) SELECT {} FROM \"{t}\"",
            names.join(","),
            exprs.join(",")
        );
        let out = Command::new("sqlite3").arg(&db).arg(&q).output().unwrap();
        if out.status.success() {
            inserted.push(t.clone());
        }
    }
    assert!(
        !inserted.is_empty(),
        "could not insert a stale row in any of {tables:?}"
    );
    eprintln!("stale rows inserted into {inserted:?}");
    check_finds(&store, &[&bogus[..12], "stale:row"], "inserting stale rows");
    repair(&store, "stale DB rows");
    let ids = store.ids();
    assert_eq!(
        ids,
        vec![a.id.clone()],
        "the stale image is gone, the real one kept"
    );
    let listed = store.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!listed.contains("stale"), "{listed}");
    assert_eq!(store.diff_ids("localhost/repair:row"), a.diff_ids);
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
