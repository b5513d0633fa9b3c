//! Survival: the CLI killed mid-operation, a shim killed, `system check` reconciling, and 50
//! parallel detached runs.

use crate::common::*;
use crate::need_root;
use std::process::Stdio;
use std::time::Duration;

/// The state of every container is one docker could show, and `rm -f` clears them all.
fn assert_consistent_and_clear(b: &Berth, when: &str) {
    let out = b.run(&["system", "check"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("system check {when}"), &out)
    );
    for id in b.all_ids() {
        let st = b.field(&id, "{{.State.Status}}");
        assert!(
            ["created", "running", "exited"].contains(&st.as_str()),
            "{id} is {st} {when}"
        );
        if st == "running" {
            let pid: i32 = b.field(&id, "{{.State.Pid}}").parse().unwrap();
            assert!(
                std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "running pid {pid} gone {when}"
            );
        }
    }
    let ids = b.all_ids();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        b.ok(&args);
    }
    assert!(b.all_ids().is_empty());
}

fn kill_after(b: &Berth, args: &[&str], after: Duration) {
    let mut child = b
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn cli_killed_during_run_d_stop_rm() {
    need_root!();
    let b = Berth::new();
    for i in 0..8u64 {
        let delay = Duration::from_millis(2 + i * 7);
        let name = format!("k{i}");
        kill_after(
            &b,
            &["run", "-d", "--name", &name, "busybox", "sleep", "1000"],
            delay,
        );
        assert_consistent_and_clear(&b, &format!("after killing run -d at {delay:?}"));

        b.detached(&["--name", &name], &["sleep", "1000"]);
        kill_after(&b, &["stop", "-t", "1", &name], delay);
        assert_consistent_and_clear(&b, &format!("after killing stop at {delay:?}"));

        b.detached(&["--name", &name], &["sleep", "1000"]);
        kill_after(&b, &["rm", "-f", &name], delay);
        assert_consistent_and_clear(&b, &format!("after killing rm -f at {delay:?}"));
    }
}

/// `rm -f` right after a `run -d` killed half-way through its start: the shim, which goes on
/// starting the container, holds the container's lock until the start is recorded, so the
/// removal finds it running and stops it (it used to find it "created", remove it, and leave
/// its process and shim running).
#[test]
fn rm_f_right_after_a_killed_run_d_leaves_nothing_running() {
    need_root!();
    let b = Berth::new();
    for i in 0..40u64 {
        let name = format!("half{i}");
        kill_after(
            &b,
            &["run", "-d", "--name", &name, "busybox", "sleep", "1000"],
            Duration::from_millis(2 + i),
        );
        let out = b.run(&["rm", "-f", &name]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || err.contains("No such container"),
            "{}",
            describe(&format!("rm -f after killing run -d at {} ms", 2 + i), &out)
        );
        b.wait_until(
            &format!("no shim left (run -d killed at {} ms)", 2 + i),
            Duration::from_secs(10),
            || shims_of(&b.root).is_empty(),
        );
        assert!(b.all_ids().is_empty(), "{name} still listed");
    }
}

#[test]
fn containers_outlive_the_cli_and_a_killed_shim_is_reconciled() {
    need_root!();
    let b = Berth::new();
    let id = b.detached(&["--name", "ss"], &["sleep", "1000"]);
    // The CLI is gone; the container still runs under its shim.
    assert_eq!(b.field("ss", "{{.State.Status}}"), "running");
    let shim_pid: i32 =
        std::fs::read_to_string(b.runroot.join("containers").join(&id).join("shim.pid"))
            .expect("shim.pid")
            .trim()
            .parse()
            .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = b.run(&["system", "check", "--repair"]);
    assert!(
        out.status.success(),
        "{}",
        describe("system check --repair", &out)
    );
    b.wait_field("ss", "{{.State.Running}}", "false", Duration::from_secs(10));
    // And it can be started again, then removed.
    b.ok(&["start", "ss"]);
    assert_eq!(b.field("ss", "{{.State.Status}}"), "running");
    b.ok(&["rm", "-f", "ss"]);
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn rm_of_auto_remove_happens_without_the_cli() {
    need_root!();
    let b = Berth::new();
    b.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    b.wait_until(
        "--rm container removed by its shim",
        Duration::from_secs(10),
        || b.all_ids().is_empty(),
    );
}

/// `run --rm` returns once the container's name is free (its row is gone); its shim removes
/// the rest (mount, cgroups, writable layer, directories) right after, and nothing is left.
#[test]
fn run_rm_frees_the_name_at_once_and_leaves_nothing() {
    need_root!();
    let b = Berth::new();
    let child = b
        .cmd()
        .args([
            "run",
            "--rm",
            "--name",
            "fg",
            "busybox",
            "sh",
            "-c",
            "sleep 0.5",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut id = String::new();
    b.wait_until("the container runs", Duration::from_secs(10), || {
        let out = b.run(&["inspect", "-f", "{{.Id}}", "fg"]);
        id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        out.status.success() && !id.is_empty()
    });
    let out = wait_output(child, Duration::from_secs(20), "run --rm");
    assert!(out.status.success(), "{}", describe("run --rm", &out));
    // The name is free the moment `run` returns.
    b.ok(&["create", "--name", "fg", "busybox", "true"]);
    b.ok(&["rm", "fg"]);
    let gone = |p: &std::path::Path| !p.exists();
    b.wait_until("the removal finished", Duration::from_secs(10), || {
        gone(&b.root.join("containers").join(&id))
            && gone(&b.runroot.join("containers").join(&id))
            && mounts_under(&b.dir).is_empty()
            && mounts_under(&b.runroot).is_empty()
            && cgroup_dirs(&id).is_empty()
            && users_of(&b.dir).is_empty()
    });
    let check = b.ok(&["system", "check"]);
    assert!(!check.contains(&id), "{check}");
}

/// A running container's rootfs is mounted in the namespace its shim holds, not the host's
/// (the host mount table does not grow with containers), and still reachable by cp, exec -u
/// and export; a stopped one's is mounted for a cp only, and nothing stays mounted.
#[test]
fn rootfs_is_mounted_out_of_the_host_namespace() {
    need_root!();
    let b = Berth::new();
    b.ok(&["run", "-d", "--name", "ns1", "busybox", "sleep", "60"]);
    b.ok(&["run", "-d", "--name", "ns2", "busybox", "sleep", "60"]);
    assert!(
        mounts_under(&b.runroot).is_empty(),
        "{:?}",
        mounts_under(&b.runroot)
    );
    assert!(mounts_under(&b.dir).is_empty());
    assert_eq!(
        b.ok(&["exec", "-u", "nobody", "ns1", "id", "-un"]),
        "nobody\n"
    );
    let file = b.dir.join("in.txt");
    std::fs::write(&file, "hello\n").unwrap();
    b.ok(&["cp", file.to_str().unwrap(), "ns2:/tmp/in.txt"]);
    assert_eq!(b.ok(&["exec", "ns2", "cat", "/tmp/in.txt"]), "hello\n");
    let out = b.dir.join("out.txt");
    b.ok(&["cp", "ns2:/tmp/in.txt", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n");
    b.ok(&["stop", "-t", "0", "ns2"]);
    b.ok(&["cp", "ns2:/tmp/in.txt", out.to_str().unwrap()]);
    assert!(mounts_under(&b.runroot).is_empty());
    b.ok(&["start", "ns2"]);
    assert_eq!(b.ok(&["exec", "ns2", "cat", "/tmp/in.txt"]), "hello\n");
    b.ok(&["rm", "-f", "ns1", "ns2"]);
}

/// A removal interrupted after the container's row went (the shim of an `--rm` container
/// killed then): `system check` finds the directories and finishes it.
#[test]
fn check_finishes_a_removal_interrupted_after_the_row() {
    need_root!();
    if !have("sqlite3") {
        eprintln!("skipped: the sqlite3 tool is not installed (it fakes the interrupted removal)");
        return;
    }
    let b = Berth::new();
    let id = b.ok(&["create", "--name", "half", "busybox", "true"]);
    let id = id.trim();
    let db = b.root.join("berth.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!("DELETE FROM containers WHERE id = '{id}'"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe("sqlite3", &out));
    let layer = |id: &str| {
        b.root
            .join("overlay/active")
            .join(format!("container-{id}"))
            .exists()
    };
    assert!(layer(id) && b.root.join("containers").join(id).exists());
    let report = b.ok(&["system", "check"]);
    assert!(
        report.contains(id) && report.contains("interrupted removal"),
        "{report}"
    );
    assert!(!b.root.join("containers").join(id).exists());
    assert!(!layer(id), "the writable layer is removed too");
    // Nothing left to do the second time.
    assert!(!b.ok(&["system", "check"]).contains(id));
}

#[test]
fn fifty_parallel_detached_runs() {
    need_root!();
    let b = Berth::new();
    let children: Vec<_> = (0..50)
        .map(|i| {
            b.cmd()
                .args([
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    &format!("p{i}"),
                    "busybox",
                    "sleep",
                    "1000",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = wait_output(c, Duration::from_secs(120), &format!("run -d p{i}"));
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("run -d p{i}"), &out)
        );
    }
    assert_eq!(b.ok(&["ps", "-q"]).lines().count(), 50);
    let ids = b.all_ids();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    b.ok(&args);
    assert!(b.all_ids().is_empty());
}
