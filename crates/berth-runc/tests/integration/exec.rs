//! exec: joins every namespace and the cgroup of the init, exit codes, --process, flags.

use crate::common::*;
use crate::require_root;
use serde_json::json;

fn exec_out(b: &Bundle, args: &[&str]) -> Out {
    let mut a = vec!["exec"];
    a.extend_from_slice(args);
    run_cmd(&mut b.cmd(&a), TIMEOUT)
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    require_root!();
    let mut b = Bundle::new("execns");
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
    ]);
    let pid = b.start_sleeper();
    let out = exec_out(&b, &[&b.id, "/probe"]);
    out.expect_ok();
    let r = out.json();
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup", "user"] {
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            r["namespaces"][ns].as_str(),
            Some(init.as_str()),
            "exec'd process {ns} namespace"
        );
    }
    let init_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let exec_pid = r["pid"].as_i64().unwrap();
    assert!(exec_pid > 1, "exec'd process is not pid 1: {exec_pid}");
    // In the container's cgroup: the probe saw the same membership as init sees from inside.
    let mut e = b.cmd(&["exec", &b.id, "/probe", "read", "/proc/1/cgroup"]);
    let init_inside = run_cmd(&mut e, TIMEOUT).json();
    let exec_inside: Vec<String> = r["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}:{}",
                c["id"].as_str().unwrap(),
                c["controllers"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect();
    let init_lines: Vec<&str> = init_inside["data"].as_str().unwrap().lines().collect();
    assert_eq!(
        exec_inside, init_lines,
        "exec'd process cgroups vs init's (host view of init: {init_cg})"
    );
    // Same root, caps and security settings as the init process.
    assert_eq!(
        r["caps"]["bounding"].as_str().map(caps_mask),
        Some(crate::common::caps::mask(&[
            "CAP_AUDIT_WRITE",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE"
        ]))
    );
    assert_eq!(r["no_new_privs"], 1);
}

fn caps_mask(s: &str) -> u64 {
    crate::common::caps::parse(s)
}

#[test]
fn exec_exit_code_is_propagated() {
    require_root!();
    let mut b = Bundle::new("execexit");
    b.start_sleeper();
    let out = exec_out(&b, &[&b.id, "/probe", "exit", "42"]);
    assert_eq!(out.code(), 42, "{out}");
}

#[test]
fn exec_flags_env_cwd_user() {
    require_root!();
    let mut b = Bundle::new("execflags");
    std::fs::create_dir_all(b.rootfs().join("work")).unwrap();
    b.start_sleeper();
    let out = exec_out(
        &b,
        &[
            "--env",
            "A=1",
            "--env",
            "B=two",
            "--cwd",
            "/work",
            "--user",
            "1000:1000",
            "--additional-gids",
            "20",
            &b.id,
            "/probe",
        ],
    );
    out.expect_ok();
    let r = out.json();
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"A=1") && env.contains(&"B=two"), "{env:?}");
    assert!(
        env.iter().any(|e| e.starts_with("PATH=")),
        "PATH from the config: {env:?}"
    );
    assert_eq!(r["cwd"], "/work");
    assert_eq!(
        (r["uid"].as_i64(), r["gid"].as_i64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(r["groups"], json!([20]));
}

#[test]
fn exec_process_json() {
    require_root!();
    let mut b = Bundle::new("execprocess");
    b.start_sleeper();
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "umask": 0o077},
        "args": ["/probe"],
        "env": ["PATH=/bin", "FROM_PROCESS_JSON=yes"],
        "cwd": "/tmp",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"], "inheritable": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    let p = b.dir.join("process.json");
    std::fs::write(&p, process.to_string()).unwrap();
    let out = exec_out(&b, &["--process", &p.to_string_lossy(), &b.id]);
    out.expect_ok();
    let r = out.json();
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["cwd"], "/tmp");
    if !runtime_is_runc_1_1() {
        // (runc 1.1 ignores user.umask on exec)
        assert_eq!(r["umask"], "0077");
    }
    assert!(
        r["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "FROM_PROCESS_JSON=yes"),
        "{}",
        r["env"]
    );
    assert_eq!(
        crate::common::caps::of(&r, "effective"),
        crate::common::caps::mask(&["CAP_KILL"])
    );
}

#[test]
fn exec_detach_and_pid_file() {
    require_root!();
    let mut b = Bundle::new("execdetach");
    b.start_sleeper();
    let pf = b.dir.join("exec.pid");
    let out = b.spawn_to_files(&[
        "exec",
        "-d",
        "--pid-file",
        &pf.to_string_lossy(),
        &b.id,
        "/probe",
        "sleep",
        "600",
    ]);
    out.expect_ok();
    let pid: i32 = std::fs::read_to_string(&pf)
        .expect("exec --pid-file")
        .trim()
        .parse()
        .unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "exec'd process {pid} is alive"
    );
    let ps = b.rt(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).unwrap_or_default();
    assert!(
        pids.contains(&i64::from(pid)),
        "ps lists the exec'd process: {ps}"
    );
}

#[test]
fn exec_into_stopped_container_fails() {
    require_root!();
    let mut b = Bundle::new("execstopped");
    b.args(&["/probe", "exit", "0"]);
    b.create().expect_ok();
    b.start().expect_ok();
    b.wait_status("stopped");
    let out = exec_out(&b, &[&b.id, "/probe"]);
    assert!(!out.ok(), "exec into a stopped container must fail: {out}");
}

#[test]
fn exec_preserves_no_host_fds() {
    require_root!();
    let mut b = Bundle::new("execfds");
    b.start_sleeper();
    let out = exec_out(&b, &[&b.id, "/probe", "fds"]);
    out.expect_ok();
    assert_eq!(fd_numbers(&out.json()), vec![0, 1, 2], "{out}");
}
