//! `berth registry gc`: on the root of a running `berth registry serve`, a dry run lists the
//! unreferenced blobs and deletes nothing; the real run deletes exactly those, and what another
//! repository still references stays pullable.

use crate::common::{Scratch, BERTH};
use crate::env::{free_port, Client};
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `berth registry serve` on a free loopback port; killed on drop.
struct Server {
    port: u16,
    root: PathBuf,
    child: Child,
    _dir: Scratch,
}

impl Server {
    fn start() -> Server {
        let dir = Scratch::new("bregistry");
        let root = dir.join("root");
        let port = free_port();
        let child = Command::new(BERTH)
            .arg("--root")
            .arg(&root)
            .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "berth registry serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            port,
            root,
            child,
            _dir: dir,
        }
    }

    /// `berth --root <root> registry gc ARGS`, asserting success; stdout.
    fn gc(&self, args: &[&str]) -> String {
        let out = Command::new(BERTH)
            .arg("--root")
            .arg(&self.root)
            .args(["registry", "gc"])
            .args(args)
            .output()
            .unwrap();
        let what = crate::common::describe(&format!("berth registry gc {}", args.join(" ")), &out);
        assert!(out.status.success(), "{what}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The blob files of the registry's content store.
fn blobs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn registry_gc_dry_run_then_delete_while_serving() {
    let s = Server::start();
    let a = Client::new();
    let keep = format!("127.0.0.1:{}/keep/bb:v1", s.port);
    a.busybox_as(&keep);
    a.ok(&["push", &keep]);
    // A second, one-layer image in another repository: imported from a small tar.
    let src = a.store.scratch.join("imp");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("hello.txt"), b"only in the dropped repository\n").unwrap();
    let tar = a.store.scratch.join("imp.tar");
    crate::common::run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let dropped = format!("127.0.0.1:{}/drop/x:v1", s.port);
    a.ok(&["import", tar.to_str().unwrap(), &dropped]);
    a.ok(&["push", &dropped]);
    let before = blobs(&s.root);
    // The repository goes away: its manifest, config and layer are now unreferenced.
    fs::remove_dir_all(s.root.join("repositories/drop")).unwrap();

    // Within the default grace period nothing is eligible.
    let out = s.gc(&["--dry-run"]);
    assert!(out.contains("0 blobs eligible"), "{out}");

    let out = s.gc(&["--dry-run", "--grace", "0"]);
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("blob eligible for deletion: "))
        .collect();
    assert_eq!(
        listed.len(),
        3,
        "manifest, config and layer of drop/x: {out}"
    );
    assert_eq!(blobs(&s.root), before, "a dry run deletes nothing");

    let out = s.gc(&["--grace", "0"]);
    let deleted: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("deleted blob: "))
        .collect();
    assert_eq!(deleted, listed, "{out}");
    let after = blobs(&s.root);
    assert_eq!(after.len(), before.len() - 3);
    assert!(deleted.iter().all(|d| !after.contains(&d.to_string())));
    let out = s.gc(&["--grace", "0"]);
    assert!(out.contains("0 blobs deleted"), "{out}");

    // What keep/bb references is whole: a fresh client pulls it from the live server.
    let b = Client::new();
    b.ok(&["pull", &keep]);
    assert_eq!(a.inspect(&keep)["Id"], b.inspect(&keep)["Id"]);
    b.fails(&["pull", &dropped]);
}

#[test]
fn registry_gc_refuses_a_root_that_is_not_a_registry() {
    let dir = Scratch::new("notreg");
    let out = Command::new(BERTH)
        .arg("--root")
        .arg(dir.join("nothing"))
        .args(["registry", "gc", "--dry-run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a registry storage root"), "{err}");
}
