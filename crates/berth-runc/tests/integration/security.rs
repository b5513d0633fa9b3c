//! Escapes that hit runc in the past, tested from inside the container.

use crate::common::*;
use crate::require_root;
use serde_json::json;
use std::time::Duration;

/// CVE-2024-21626: no host fd reaches the container, and a cwd of /proc/self/fd/N (a leaked
/// host directory fd in vulnerable runtimes) does not put the process outside its root.
#[test]
fn cve_2024_21626_no_leaked_fds_or_cwd() {
    require_root!();
    let b = Bundle::new("cve21626fds");
    let r = b.probe();
    assert_eq!(
        fd_numbers(&r),
        vec![0, 1, 2],
        "only stdio is open: {}",
        r["fds"]
    );
    for f in r["fds"].as_array().unwrap() {
        let t = f["target"].as_str().unwrap_or("");
        assert!(
            !t.starts_with('/') || t.starts_with("/dev/"),
            "stdio points at a host path: {f}"
        );
    }
    assert_eq!(r["cwd"], "/", "cwd is the configured one");
    for n in 3..12 {
        let mut b = Bundle::new("cve21626cwd");
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let out = b.run();
        if !out.ok() {
            continue; // refusing the cwd is a fine answer
        }
        let r = out.json();
        let cwd = r["cwd"].as_str().unwrap_or("(none)");
        assert!(
            cwd.starts_with('/') && !cwd.contains("unreachable"),
            "cwd /proc/self/fd/{n} put the process outside its root: cwd={cwd}"
        );
        let ls = {
            b.args(&["/probe", "ls", "."]);
            b.run()
        };
        if ls.ok() {
            let entries = ls.json()["entries"].clone();
            for host_only in ["cgroup.procs", "berth-tests", "tasks"] {
                assert!(
                    !entries.as_array().unwrap().iter().any(|e| e == host_only),
                    "cwd /proc/self/fd/{n} shows a host directory: {entries}"
                );
            }
        }
    }
}

/// Extra fds given with --preserve-fds arrive as 3.., and nothing else.
#[test]
fn preserve_fds() {
    require_root!();
    let b = Bundle::new("preservefds");
    b.write_config();
    let f1 = b.dir.join("extra1");
    let f2 = b.dir.join("extra2");
    std::fs::write(&f1, "1").unwrap();
    std::fs::write(&f2, "2").unwrap();
    // The shell opens fds 3 and 4 for the runtime (no unsafe fd juggling in the test).
    let script = format!(
        "exec 3<'{}' 4<'{}'; exec '{}' --root '{}' run --preserve-fds 2 --bundle '{}' '{}'",
        f1.display(),
        f2.display(),
        b.runtime.display(),
        b.state_root.display(),
        b.bundle.display(),
        b.id
    );
    let out = run_cmd(
        std::process::Command::new("/bin/sh").args(["-c", &script]),
        TIMEOUT,
    );
    out.expect_ok();
    let r = out.json();
    assert_eq!(fd_numbers(&r), vec![0, 1, 2, 3, 4], "{}", r["fds"]);
    assert!(
        r["fds"][3]["target"]
            .as_str()
            .unwrap_or("")
            .ends_with("extra1"),
        "{}",
        r["fds"]
    );
    assert!(
        r["fds"][4]["target"]
            .as_str()
            .unwrap_or("")
            .ends_with("extra2"),
        "{}",
        r["fds"]
    );
    // Without --preserve-fds the same inherited fds are closed.
    let script = format!(
        "exec 3<'{}' 4<'{}'; exec '{}' --root '{}' run --bundle '{}' '{}'",
        f1.display(),
        f2.display(),
        b.runtime.display(),
        b.state_root.display(),
        b.bundle.display(),
        b.id
    );
    let out = run_cmd(
        std::process::Command::new("/bin/sh").args(["-c", &script]),
        TIMEOUT,
    );
    out.expect_ok();
    assert_eq!(
        fd_numbers(&out.json()),
        vec![0, 1, 2],
        "inherited fds without --preserve-fds"
    );
}

/// CVE-2019-5736: a process in the container gets an O_PATH fd to the runtime binary through
/// /proc/<pid>/exe of the runtime's init (visible in the container's pid namespace while the
/// container is created but not started), then keeps trying to reopen it for writing after the
/// init has exec'd the container process. That must never succeed on the host binary.
#[test]
fn cve_2019_5736_runtime_binary_not_writable_from_container() {
    require_root!();
    let runtime_bin = std::fs::canonicalize(runtime()).unwrap();
    let before = std::fs::read(&runtime_bin).unwrap();
    let mut a = Bundle::new("cve5736-a");
    a.config["root"]["readonly"] = json!(false);
    a.args(&["/probe", "sleep", "600"]);
    a.create().expect_ok();
    let pid = a.pid();
    let init_exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();

    // B shares A's pid namespace: A's init is pid 1 there.
    let mut b = Bundle::new("cve5736-b");
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pid}/ns/pid")}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}
    ]);
    b.args(&["/probe", "hold-exe", "1", "3"]);
    b.create().expect_ok();
    b.start().expect_ok();
    std::thread::sleep(Duration::from_millis(500));
    a.start().expect_ok();
    let r = b.wait_ctr_json();
    let _ = a.rt(&["delete", "-f", &a.id]);
    eprintln!("hold-exe result: {r} (init exe on host: {init_exe})");
    if r["ok"] == false {
        // Refused outright (e.g. the init is not dumpable): the attack cannot start.
        assert!(
            matches!(
                r["error"].as_str(),
                Some("EACCES" | "EPERM" | "ENOENT" | "ESRCH")
            ),
            "unexpected failure opening /proc/1/exe: {r}"
        );
        return;
    }
    let held = r["held_target"].as_str().unwrap_or("");
    let harmless = held.starts_with("/memfd:") || held.contains("(deleted)") || held == "/probe";
    assert!(
        r["opened_for_write"] == false || harmless,
        "the container reopened the runtime binary for writing: {r}"
    );
    let after = std::fs::read(&runtime_bin).unwrap();
    assert!(before == after, "{} changed!", runtime_bin.display());
}

/// A mount destination reached through a symlink that points out of the rootfs is resolved
/// inside the rootfs: nothing is created or mounted on the host path.
#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    require_root!();
    let mut b = Bundle::new("symlinkmount");
    let host_target = b.dir.join("host-target");
    std::fs::create_dir_all(&host_target).unwrap();
    let rootfs = b.rootfs();
    // Absolute and relative links that both aim at the host directory.
    std::os::unix::fs::symlink(&host_target, rootfs.join("evil-abs")).unwrap();
    let depth = rootfs.components().count();
    let rel = format!(
        "{}{}",
        "../".repeat(depth + 2),
        host_target.to_string_lossy().trim_start_matches('/')
    );
    std::os::unix::fs::symlink(&rel, rootfs.join("evil-rel")).unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/evil-abs/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    mounts.push(json!({"destination": "/evil-rel/sub2", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    b.config["mounts"] = json!(mounts);
    let out = b.run();
    assert!(
        !host_target.join("sub").exists() && !host_target.join("sub2").exists(),
        "the runtime created directories on the host through a rootfs symlink: {out}"
    );
    if out.ok() {
        let r = out.json();
        let inside = host_target.to_string_lossy().into_owned();
        let points = mount_points(&r);
        assert!(
            points.contains(&format!("{inside}/sub")) && points.contains(&format!("{inside}/sub2")),
            "the tmpfs mounts should land at the link targets resolved inside the rootfs: {points:?}"
        );
        assert!(
            rootfs
                .join(inside.trim_start_matches('/'))
                .join("sub")
                .is_dir(),
            "created inside the rootfs"
        );
    }
    assert!(mounts_under(&host_target).is_empty(), "host path mounted");
}

/// /proc must be mounted on a real directory: a /proc symlink in the rootfs is not followed
/// out of it (CVE-2019-16884 class).
#[test]
fn proc_destination_symlink_is_not_followed_out() {
    require_root!();
    let b = Bundle::new("procsymlink");
    let host_target = b.dir.join("host-proc");
    std::fs::create_dir_all(&host_target).unwrap();
    let rootfs = b.rootfs();
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink(&host_target, rootfs.join("proc")).unwrap();
    let out = b.run();
    assert!(
        mounts_under(&host_target).is_empty(),
        "proc mounted on the host path"
    );
    assert!(
        std::fs::read_dir(&host_target).unwrap().next().is_none(),
        "something was written into the host dir behind the /proc symlink"
    );
    if out.ok() {
        let r = out.json();
        let proc_mount = mount_at(&r, "/proc");
        assert!(
            proc_mount.is_some_and(|m| m["fs_type"] == "proc"),
            "proc is at /proc inside: {:?}",
            mount_points(&r)
        );
    }
}

/// The container cannot see the host's processes or the runtime's environment.
#[test]
fn no_host_environment_or_processes_leak() {
    require_root!();
    let mut b = Bundle::new("envleak");
    b.args(&["/probe", "ls", "/proc"]);
    b.write_config();
    let out = run_cmd(
        b.cmd(&["run", "--bundle", &b.bundle.to_string_lossy(), &b.id])
            .env("BERTH_SECRET_TEST", "leak"),
        TIMEOUT,
    );
    out.expect_ok();
    let pids: Vec<String> = out.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
        .collect();
    assert_eq!(pids, vec!["1"], "only the container's process is visible");
    b.args(&["/probe"]);
    let r = b.probe();
    assert!(
        !r["env"].to_string().contains("BERTH_SECRET_TEST"),
        "runtime env leaked: {}",
        r["env"]
    );
}

/// CVE-2019-5736, the original exploit: the container replaces the target of `exec` with
/// `#!/proc/self/exe`, so the kernel runs the runtime's own executable inside the container.
/// A watcher in the container grabs `/proc/<pid>/exe` of that process and, once it has exited,
/// tries to reopen it for writing. That must never reach the runtime binary on the host (a
/// sealed memfd or a read-only copy is fine). (Kernel 6.18 already refuses /proc/self/exe as a
/// script interpreter inside a container, ENOENT; the test keeps guarding other kernels.)
#[test]
fn cve_2019_5736_shebang_proc_self_exe_on_exec() {
    require_root!();
    let runtime_bin = std::fs::canonicalize(runtime()).unwrap();
    let before = std::fs::read(&runtime_bin).unwrap();
    let mut a = Bundle::new("cve5736-exec");
    a.config["root"]["readonly"] = json!(false);
    a.start_sleeper();
    let evil = a.rootfs().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    a.spawn_to_files(&["exec", "-d", &a.id, "/probe", "watch-exe", "4"])
        .expect_ok();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..10 {
        // Fails one way or another (the runtime binary does not understand "/evil"); what
        // matters is what the watcher could do meanwhile.
        let out = a.rt(&["exec", &a.id, "/evil"]);
        if i == 0 {
            eprintln!("exec of the #!/proc/self/exe script: {out}");
        }
    }
    let r = wait_for("watch-exe report", Duration::from_secs(20), || {
        a.ctr_out()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["op"] == "watch-exe")
    });
    eprintln!("watch-exe: {r}");
    for h in r["held"].as_array().unwrap() {
        let target = h["target"].as_str().unwrap_or("");
        let harmless = target.starts_with("/memfd:") || target.contains("(deleted)");
        assert!(
            h["opened_for_write"] == false || harmless,
            "the container could open the runtime's executable {target} for writing: {h}"
        );
    }
    let after = std::fs::read(&runtime_bin).unwrap();
    assert!(before == after, "{} changed!", runtime_bin.display());
}
