//! cgroup v2 on the real kernel: uses a cgroup2 mount (the host's, or a hybrid host's unified
//! mount at /sys/fs/cgroup/unified) as an injected root. Runs as root; skips without a cgroup2
//! mount. The test cgroup is made with a plain mkdir, so the root's subtree_control is left alone.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_cgroups::{open, Cgroup, CgroupConfig};
use berth_oci::oci_spec::runtime::LinuxResources;

static COUNTER: AtomicU32 = AtomicU32::new(0);

struct Guard {
    cg: Box<dyn Cgroup>,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.thaw();
        let _ = self.cg.destroy();
    }
}

/// The cgroup2 mount point, if this host has one and we are root.
fn v2_root() -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let found = mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount_point = pre.split(' ').nth(4)?;
        (post.split(' ').next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    });
    if found.is_none() {
        eprintln!("skipped: no cgroup2 mount");
    }
    found
}

fn guard(root: &Path) -> (Guard, PathBuf) {
    let name = format!(
        "berth-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let dir = root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    let cg = open(&CgroupConfig {
        path: &format!("/{name}"),
        container_id: "unused",
        systemd: false,
        root: Some(root),
    })
    .unwrap();
    assert_eq!(cg.paths(), vec![dir.clone()]);
    (
        Guard {
            cg,
            children: Vec::new(),
        },
        dir,
    )
}

/// A shell that waits for a line on stdin, then runs `script`.
fn waiting_shell(script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("read _go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn device_program_is_enforced() {
    let Some(root) = v2_root() else { return };
    let (mut g, dir) = guard(&root);
    let r: LinuxResources = serde_json::from_str(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}"#,
    )
    .unwrap();
    g.cg.apply_resources(&r).unwrap();
    // Applying again replaces the program rather than stacking a second one.
    g.cg.apply_resources(&r).unwrap();
    let fd = std::fs::File::open(&dir).unwrap();
    let attached = berth_sys::bpf::query_cgroup_device(std::os::fd::AsFd::as_fd(&fd)).unwrap();
    assert_eq!(attached.len(), 1, "{attached:?}");

    let mut child = waiting_shell(
        "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null && echo zero-ok; true",
    );
    g.cg.add_process(child.id() as i32).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(out.contains("null-ok"), "stdout {out:?} stderr {err:?}");
    assert!(!out.contains("zero-ok"), "stdout {out:?} stderr {err:?}");
    assert!(err.contains("not permitted"), "stderr {err:?}");
    g.children.push(child);
}

#[test]
fn freeze_thaw_stats_and_cgroup_kill() {
    let Some(root) = v2_root() else { return };
    let (mut g, dir) = guard(&root);
    if !dir.join("cgroup.freeze").exists() {
        eprintln!("skipped: kernel without cgroup.freeze");
        return;
    }
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    g.children.push(child);
    g.cg.add_process(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());
    let s = g.cg.stats().unwrap();
    assert!(s.cpu.usage.total > 0, "{s:?}");
    g.cg.kill_all(libc::SIGKILL).unwrap();
    g.children[0].wait().unwrap();
    g.children.clear();
    g.cg.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn create_and_destroy_nested_below_a_cgroup_of_ours() {
    let Some(root) = v2_root() else { return };
    // Our own cgroup acts as the root, so the real root's subtree_control is never written.
    let (outer, outer_dir) = guard(&root);
    let cg = open(&CgroupConfig {
        path: "/a/b",
        container_id: "unused",
        systemd: false,
        root: Some(&outer_dir),
    })
    .unwrap();
    cg.create().unwrap();
    let leaf = outer_dir.join("a/b");
    assert!(leaf.join("cgroup.procs").exists());
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let mut inner = Guard {
        cg,
        children: vec![child],
    };
    inner.cg.add_process(pid).unwrap();
    assert_eq!(inner.cg.pids().unwrap(), vec![pid]);
    // The outer cgroup sees its descendants' processes too.
    assert_eq!(outer.cg.pids().unwrap(), vec![pid]);
    inner.cg.kill_all(libc::SIGKILL).unwrap();
    inner.children[0].wait().unwrap();
    inner.children.clear();
    inner.cg.destroy().unwrap();
    assert!(!outer_dir.join("a").exists(), "created parent left behind");
    assert!(outer_dir.exists(), "pre-existing parent removed");
}
