//! Concurrency, GC while serving, and a server killed mid-upload (child process).

mod common;
use berth_registry::{gc_with, GcOptions, ServeOptions, Server};
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[test]
fn concurrent_pushes_of_one_blob() {
    let s = start();
    let blob = std::sync::Arc::new(data(3 << 20, 12));
    let d = digest(&blob);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (base, blob) = (s.base.clone(), blob.clone());
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    push_blob(&base, "same", &blob).status
                } else {
                    let r = req("POST", &format!("{base}/v2/same/blobs/uploads/"), &[], None);
                    let loc = format!("{base}{}", r.header("Location").unwrap());
                    let mid = blob.len() / 2;
                    let cr = format!("0-{}", mid - 1);
                    req("PATCH", &loc, &[("Content-Range", &cr)], Some(&blob[..mid]));
                    let d = digest(&blob);
                    req("PUT", &format!("{loc}?digest={d}"), &[], Some(&blob[mid..])).status
                }
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 201);
    }
    let r = req("GET", &format!("{}/v2/same/blobs/{d}", s.base), &[], None);
    assert_eq!(digest(&r.body), d);
    assert_eq!(std::fs::read_dir(s.root.join("ingest")).unwrap().count(), 0);
}

#[test]
fn gc_during_pushes_keeps_what_is_referenced() {
    let s = start();
    let no_grace = GcOptions {
        grace: Duration::ZERO,
        upload_max_age: Duration::from_secs(3600),
        dry_run: false,
    };
    // An unreferenced blob (pushed, then its link deleted) is collected.
    let orphan = data(5000, 13);
    let od = digest(&orphan);
    push_blob(&s.base, "gc", &orphan);
    req("DELETE", &format!("{}/v2/gc/blobs/{od}", s.base), &[], None);
    // An upload in progress survives GC and completes afterwards.
    let partial = data(200_000, 14);
    let r = req(
        "POST",
        &format!("{}/v2/gc/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = format!("{}{}", s.base, r.header("Location").unwrap());
    req("PATCH", &loc, &[], Some(&partial[..100_000]));
    // Pushes running while GC loops.
    let base = s.base.clone();
    let pusher = std::thread::spawn(move || {
        (0..15u8)
            .map(|i| push_image(&base, "gc/busy", &format!("t{i}"), 40 + i))
            .collect::<Vec<_>>()
    });
    let root = s.root.clone();
    let opts = no_grace.clone();
    let collector = std::thread::spawn(move || {
        let mut deleted = 0;
        for _ in 0..30 {
            deleted += gc_with(&root, &opts).unwrap().blobs_deleted;
            std::thread::sleep(Duration::from_millis(5));
        }
        deleted
    });
    let pushed = pusher.join().unwrap();
    assert!(collector.join().unwrap() >= 1);
    assert!(!stored(&s.root, &od));
    let r = req(
        "PUT",
        &format!("{loc}?digest={}", digest(&partial)),
        &[],
        Some(&partial[100_000..]),
    );
    assert_eq!(r.status, 201);
    gc_with(&s.root, &no_grace).unwrap();
    for (i, (d, m)) in pushed.iter().enumerate() {
        let r = req(
            "GET",
            &format!("{}/v2/gc/busy/manifests/t{i}", s.base),
            &[],
            None,
        );
        assert_eq!(&r.body, m);
        let v: serde_json::Value = serde_json::from_slice(m).unwrap();
        let mut blobs = vec![v["config"]["digest"].as_str().unwrap().to_string()];
        blobs.push(v["layers"][0]["digest"].as_str().unwrap().to_string());
        for b in blobs {
            let r = req(
                "GET",
                &format!("{}/v2/gc/busy/blobs/{b}", s.base),
                &[],
                None,
            );
            assert_eq!(r.status, 200, "blob {b} of manifest {d}");
            assert_eq!(digest(&r.body).to_string(), b);
        }
    }
    let r = req(
        "GET",
        &format!("{}/v2/gc/blobs/{}", s.base, digest(&partial)),
        &[],
        None,
    );
    assert_eq!(r.body, partial);
}

/// Runs a server when started as a child by `killed_mid_upload_keeps_committed_blobs`.
#[test]
fn child_server() {
    let Ok(root) = std::env::var("BERTH_REGISTRY_TEST_CHILD_ROOT") else {
        return;
    };
    let server = Server::bind(ServeOptions {
        addr: "127.0.0.1:0".into(),
        root: root.into(),
        ..Default::default()
    })
    .unwrap();
    println!("ADDR {}", server.local_addr());
    server.run().unwrap();
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(root: &std::path::Path) -> (KillOnDrop, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
        .env("BERTH_REGISTRY_TEST_CHILD_ROOT", root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("child printed its address").unwrap();
        // libtest prints "test child_server ... " on the same line.
        if let Some((_, a)) = line.split_once("ADDR ") {
            break a.trim().to_string();
        }
    };
    (KillOnDrop(child), format!("http://{addr}"))
}

#[test]
fn killed_mid_upload_keeps_committed_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (child, base) = spawn_child(&root);
    let committed = data(1 << 20, 15);
    assert_eq!(push_blob(&base, "k", &committed).status, 201);
    let big = data(2 << 20, 16);
    let r = req("POST", &format!("{base}/v2/k/blobs/uploads/"), &[], None);
    let path = r.header("Location").unwrap().to_string();
    req(
        "PATCH",
        &format!("{base}{path}"),
        &[],
        Some(&big[..1 << 20]),
    );
    drop(child); // SIGKILL
    let (_child, base) = spawn_child(&root);
    let r = req(
        "GET",
        &format!("{base}/v2/k/blobs/{}", digest(&committed)),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, committed);
    // The session resumes where the bytes on disk end.
    let loc = format!("{base}{path}");
    let r = req("GET", &loc, &[], None);
    assert_eq!(r.status, 204);
    let have: u64 = r
        .header("Range")
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        + 1;
    let r = req(
        "PUT",
        &format!("{loc}?digest={}", digest(&big)),
        &[],
        Some(&big[have as usize..]),
    );
    assert_eq!(r.status, 201);
    let r = req(
        "GET",
        &format!("{base}/v2/k/blobs/{}", digest(&big)),
        &[],
        None,
    );
    assert_eq!(r.body, big);
}
