//! Flags proven from inside the container (and from the host's cgroups where that is the
//! observable): limits, read-only root, capabilities, volumes, restart policies, health checks,
//! init, namespaces, users, environment.

use crate::common::*;
use crate::need_root;
use std::time::Duration;

/// A cgroup limit file of container `id` on the host: the v1 `v1_file` of `controller`, or the
/// v2 `v2_file`.
fn host_cgroup_value(id: &str, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let v1 = std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(id)
        .join(v1_file);
    if let Ok(s) = std::fs::read_to_string(&v1) {
        return s.trim().to_string();
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup/berth")
        .join(id)
        .join(v2_file);
    std::fs::read_to_string(&v2)
        .unwrap_or_else(|e| panic!("neither {} nor {}: {e}", v1.display(), v2.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_limit_in_cgroup_and_oom_kill() {
    need_root!();
    let b = Berth::new();
    let id = b.detached(&["-m", "32m", "--memory-swap", "32m"], &["sleep", "1000"]);
    assert_eq!(
        host_cgroup_value(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        (32 * 1024 * 1024).to_string()
    );
    // --memory-swap: memory plus swap, where the kernel accounts swap (v1 memsw; v2's
    // memory.swap.max holds the swap part alone: 0 here).
    let memsw = format!("/sys/fs/cgroup/memory/berth/{id}/memory.memsw.limit_in_bytes");
    let swap_max = format!("/sys/fs/cgroup/berth/{id}/memory.swap.max");
    if let Ok(v) = std::fs::read_to_string(&memsw) {
        assert_eq!(v.trim(), (32 * 1024 * 1024).to_string(), "{memsw}");
    } else if let Ok(v) = std::fs::read_to_string(&swap_max) {
        assert_eq!(v.trim(), "0", "{swap_max}");
    } else {
        eprintln!("note: no swap accounting on this host: --memory-swap not checked");
    }
    // Inside: whichever cgroup file the container sees holds the same limit.
    let seen = b.ok(&[
        "exec", &id, "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; true",
    ]);
    if !seen.trim().is_empty() {
        assert!(seen.contains("33554432"), "limit inside: {seen}");
    }
    // The OOM killer enforces it: a process growing past 32 MiB is killed (137, OOMKilled).
    let out = b.run(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived ${#x}",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        describe("oom run", &out)
    );
    assert_eq!(b.field("oom", "{{.State.OOMKilled}}"), "true");
}

#[test]
fn cpu_pids_shm_ulimit_limits() {
    need_root!();
    let b = Berth::new();
    let id = b.detached(
        &[
            "--cpus",
            "0.5",
            "-c",
            "512",
            "--pids-limit",
            "20",
            "--cpuset-cpus",
            "0",
        ],
        &["sleep", "1000"],
    );
    let quota = host_cgroup_value(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(
        quota == "50000" || quota.starts_with("50000 "),
        "quota {quota}"
    );
    assert_eq!(host_cgroup_value(&id, "pids", "pids.max", "pids.max"), "20");
    assert_eq!(
        host_cgroup_value(&id, "cpuset", "cpuset.cpus", "cpuset.cpus"),
        "0"
    );
    // -c 512: v1 shares as given; v2's weight is docker's conversion of them.
    let shares = host_cgroup_value(&id, "cpu", "cpu.shares", "cpu.weight");
    assert!(shares == "512" || shares == "20", "cpu shares {shares}");
    // The cpuset holds inside: the container's processes may run on CPU 0 only.
    let allowed = b.ok(&[
        "exec",
        &id,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert_eq!(
        allowed.split_whitespace().last(),
        Some("0"),
        "cpuset inside: {allowed}"
    );
    // The pids limit holds inside: 30 background sleeps cannot all start.
    let out = b.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 5 & done 2>&1; wait",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("fork") || text.contains("Resource") || !out.status.success(),
        "{text}"
    );

    let out = b.sh(&["--shm-size", "8m"], "df -k /dev/shm | tail -1");
    assert!(out.split_whitespace().nth(1) == Some("8192"), "shm: {out}");
    let out = b.sh(&["--ulimit", "nofile=100:200"], "ulimit -n; ulimit -Hn");
    assert_eq!(out, "100\n200\n");
}

#[test]
fn read_only_rootfs_and_tmpfs() {
    need_root!();
    let b = Berth::new();
    let out = b.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only file system"));
    let out = b.sh(
        &["--read-only", "--tmpfs", "/scratch:size=1m"],
        "touch /scratch/ok && echo ok; grep ' /scratch ' /proc/mounts",
    );
    assert!(
        out.starts_with("ok\n") && out.contains("tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    let out = b.sh(
        &["--mount", "type=tmpfs,destination=/m"],
        "grep ' /m ' /proc/mounts",
    );
    assert!(out.contains("tmpfs"), "{out}");
}

#[test]
fn capabilities_default_drop_add_privileged_no_new_privs() {
    need_root!();
    let b = Berth::new();
    let status = b.sh(&[], "cat /proc/self/status");
    // Docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
    // net_bind_service net_raw sys_chroot mknod audit_write setfcap.
    assert_eq!(cap_bits(&status, "CapEff:"), 0xa80425fb, "{status}");
    let status = b.sh(
        &["--cap-drop", "NET_RAW", "--cap-drop", "chown"],
        "cat /proc/self/status",
    );
    let eff = cap_bits(&status, "CapEff:");
    assert_eq!(eff & (1 << 13), 0, "NET_RAW dropped");
    assert_eq!(eff & 1, 0, "CHOWN dropped");
    let status = b.sh(&["--cap-add", "SYS_ADMIN"], "cat /proc/self/status");
    assert_ne!(
        cap_bits(&status, "CapEff:") & (1 << 21),
        0,
        "SYS_ADMIN added"
    );
    let status = b.sh(&["--cap-drop", "ALL"], "cat /proc/self/status");
    assert_eq!(cap_bits(&status, "CapEff:"), 0);
    let out = b.sh(&["--cap-drop", "CHOWN"], "chown 1 /tmp 2>&1; echo rc=$?");
    assert!(out.contains("rc=1"), "{out}");
    let status = b.sh(&["--privileged"], "cat /proc/self/status");
    assert_ne!(cap_bits(&status, "CapEff:") & (1 << 21), 0);
    let status = b.sh(
        &["--security-opt", "no-new-privileges"],
        "cat /proc/self/status",
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')),
        "{status}"
    );
}

#[test]
fn volumes_survive_rm_and_binds_mount() {
    need_root!();
    let b = Berth::new();
    b.ok(&[
        "run",
        "--name",
        "ww",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    b.ok(&["rm", "-v", "ww"]);
    assert_eq!(b.sh(&["-v", "keep:/data"], "cat /data/f"), "kept\n");
    // Anonymous volume removed with rm -v.
    b.ok(&[
        "run", "--name", "anon", "-v", "/anon", "busybox", "touch", "/anon/x",
    ]);
    let vols = b.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 2, "{vols}");
    b.ok(&["rm", "-v", "anon"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "keep\n");

    let host = b.path("bind");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host").unwrap();
    let spec = format!("{}:/b", host.display());
    assert_eq!(
        b.sh(&["-v", &spec], "cat /b/in; echo out > /b/out"),
        "from host"
    );
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "out\n");
    let ro = format!("{}:/b:ro", host.display());
    let out = b.run(&["run", "--rm", "-v", &ro, "busybox", "touch", "/b/x"]);
    assert!(!out.status.success());
    let m = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(b.sh(&["--mount", &m], "cat /m/in"), "from host");
    let out = b.run(&["run", "--rm", "--mount", &m, "busybox", "touch", "/m/x"]);
    assert!(!out.status.success());
}

#[test]
fn restart_policies_restart() {
    need_root!();
    let b = Berth::new();
    b.detached(
        &["--name", "of", "--restart", "on-failure:2"],
        &["sh", "-c", "exit 1"],
    );
    b.wait_until("two restarts then exit", Duration::from_secs(20), || {
        b.field("of", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    b.detached(
        &["--name", "al", "--restart", "always"],
        &["sh", "-c", "sleep 0.2; exit 0"],
    );
    b.wait_until("always restarts", Duration::from_secs(20), || {
        b.field("al", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    b.ok(&["stop", "-t", "1", "al"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        b.field("al", "{{.State.Status}}"),
        "exited",
        "a stopped container stays stopped"
    );
    b.detached(&["--name", "no"], &["sh", "-c", "exit 1"]);
    b.wait_field("no", "{{.State.Status}}", "exited", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.field("no", "{{.RestartCount}}"), "0");
}

#[test]
fn health_checks_turn_healthy_and_unhealthy() {
    need_root!();
    let b = Berth::new();
    b.detached(
        &[
            "--name",
            "sick",
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "300ms",
            "--health-retries",
            "2",
        ],
        &["sleep", "1000"],
    );
    b.detached(
        &[
            "--name",
            "fine",
            "--health-cmd",
            "true",
            "--health-interval",
            "300ms",
        ],
        &["sleep", "1000"],
    );
    b.wait_field(
        "sick",
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(15),
    );
    b.wait_field(
        "fine",
        "{{.State.Health.Status}}",
        "healthy",
        Duration::from_secs(15),
    );
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("sick Up") && l.ends_with("(unhealthy)")),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with("fine Up") && l.ends_with("(healthy)")),
        "{ps}"
    );
    assert_eq!(
        b.ok(&[
            "ps",
            "-q",
            "-f",
            "health=unhealthy",
            "--format",
            "{{.Names}}"
        ]),
        "sick\n"
    );
    // --health-timeout: a probe that runs too long counts as failed (exit -1, docker's text).
    b.detached(
        &[
            "--name",
            "slow",
            "--health-cmd",
            "sleep 10",
            "--health-timeout",
            "200ms",
            "--health-interval",
            "300ms",
            "--health-retries",
            "1",
        ],
        &["sleep", "1000"],
    );
    // --health-start-period: failures inside it do not count; the status stays "starting".
    b.detached(
        &[
            "--name",
            "warming",
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
            "--health-start-period",
            "60s",
        ],
        &["sleep", "1000"],
    );
    b.wait_field(
        "slow",
        "{{.State.Health.Status}}",
        "unhealthy",
        Duration::from_secs(15),
    );
    let last = b.field(
        "slow",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
    );
    assert!(
        last.starts_with("-1 Health check exceeded timeout"),
        "{last}"
    );
    // By now the warming container has failed several probes (every 200 ms for over a second).
    b.wait_until(
        "failed probes in the start period",
        Duration::from_secs(15),
        || {
            b.field("warming", "{{len .State.Health.Log}}")
                .parse::<u32>()
                .is_ok_and(|n| n >= 3)
        },
    );
    assert_eq!(b.field("warming", "{{.State.Health.Status}}"), "starting");
    assert_eq!(b.field("warming", "{{.State.Health.FailingStreak}}"), "0");
    let streak = b.field("sick", "{{.State.Health.FailingStreak}}");
    assert!(streak.parse::<u32>().unwrap() >= 2);
    let log = b.field("sick", "{{len .State.Health.Log}}");
    assert!(log.parse::<u32>().unwrap() >= 1);
}

#[test]
fn init_is_pid1_and_reaps_zombies() {
    need_root!();
    let b = Berth::new();
    let out = b.sh(&["--init"], "cat /proc/1/cmdline | tr '\\0' ' '");
    assert!(out.contains("init"), "pid 1 with --init: {out}");
    // An orphan whose parent exits is reparented to pid 1 (init), which reaps it.
    let out = b.sh(
        &["--init"],
        "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat | grep -c '^Z' || true",
    );
    assert_eq!(out.trim(), "0", "zombies left: {out}");
}

#[test]
fn env_user_workdir_hostname_entrypoint_labels() {
    need_root!();
    let b = Berth::new();
    let envf = b.path("envfile");
    std::fs::write(&envf, "# comment\nFROM_FILE=f\n").unwrap();
    let out = b.sh(
        &[
            "-e",
            "A=1",
            "--env-file",
            envf.to_str().unwrap(),
            "-w",
            "/tmp",
            "-u",
            "1234:5678",
            "-h",
            "boxhost",
        ],
        "echo $A $FROM_FILE; pwd; id -u; id -g; hostname; cat /etc/hostname",
    );
    assert_eq!(out, "1 f\n/tmp\n1234\n5678\nboxhost\nboxhost\n");
    let out = b.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out, "via entrypoint\n");
    let out = b.sh(
        &[],
        "grep -c nameserver /etc/resolv.conf; grep -c localhost /etc/hosts",
    );
    assert!(
        out.lines().all(|l| l.parse::<u32>().unwrap_or(0) >= 1),
        "{out}"
    );
    let out = b.sh(
        &["--device", "/dev/null:/dev/mynull"],
        "echo x > /dev/mynull && echo ok",
    );
    assert_eq!(out, "ok\n");
    let out = b.sh(
        &[],
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
    );
    assert_eq!(out, "lo\n");
}

#[test]
fn host_namespaces_and_stop_signal() {
    need_root!();
    let b = Berth::new();
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(
        b.sh(&["--uts", "host"], "hostname"),
        format!("{host_name}\n")
    );
    let out = b.sh(
        &["--pid", "host"],
        "test -d /proc/$PPID && ls /proc | grep -c '^[0-9]'",
    );
    assert!(
        out.trim().parse::<u32>().unwrap() > 5,
        "host pids visible: {out}"
    );
    let host_links = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let out = b.sh(&["--ipc", "host"], "readlink /proc/self/ns/ipc");
    assert_eq!(out.trim(), host_links.to_string_lossy());
    // A network namespace of its own (made ahead by the shim), only `lo` in it, one per
    // container; `--network host` shares the host's.
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_net = host_net.to_string_lossy();
    let script = "readlink /proc/self/ns/net; ls /sys/class/net";
    let net = |mode: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        b.ok(&args)
    };
    // (Side by side: a namespace number is reused once its namespace is gone.)
    let other = b.detached(&[], &["sleep", "30"]);
    let other_pid = b.field(&other, "{{.State.Pid}}");
    let other_net = std::fs::read_link(format!("/proc/{}/ns/net", other_pid.trim())).unwrap();
    let a = net(&[]);
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_ne!(first(&a), host_net, "{a}");
    assert_ne!(
        first(&a),
        other_net.to_string_lossy(),
        "two containers, one network namespace"
    );
    assert_eq!(a.lines().skip(1).collect::<Vec<_>>(), ["lo"], "{a}");
    assert_eq!(first(&net(&["--network", "host"])), host_net);
    // --stop-signal reaches the process: the trap records it and exits 0 before the timeout.
    b.detached(
        &[
            "--name",
            "sig",
            "--stop-signal",
            "USR1",
            "--stop-timeout",
            "20",
        ],
        &[
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    b.ok(&["stop", "sig"]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(b.field("sig", "{{.State.ExitCode}}"), "0");
    assert!(b.ok(&["logs", "sig"]).contains("got-usr1"));
}

#[test]
fn stop_timeout_network_container_and_init_signals() {
    need_root!();
    let b = Berth::new();
    // --stop-timeout: a process that ignores the stop signal is killed after that many
    // seconds (not docker's default 10).
    b.detached(
        &["--name", "stubborn", "--stop-timeout", "1"],
        &["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    b.ok(&["stop", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "stop took {took:?}"
    );
    assert_eq!(b.field("stubborn", "{{.State.ExitCode}}"), "137");
    // `stop -t` overrides it.
    b.ok(&["start", "stubborn"]);
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    b.ok(&["stop", "-t", "0", "stubborn"]);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // A network namespace of the container's own has its loopback up.
    let lo = b.sh(&[], "ip -o addr show lo");
    assert!(lo.contains("127.0.0.1/8"), "{lo}");
    // --network container:NAME: the other container's network namespace, its `lo`, and a
    // server listening there is reachable on 127.0.0.1.
    let server = b.detached(
        &["--name", "netowner"],
        &["sh", "-c", "echo served | nc -l -p 7777; sleep 100"],
    );
    let pid = b.field(&server, "{{.State.Pid}}");
    let owner_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "container:netowner",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 7777 </dev/null && break; sleep 0.2; done",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(&*owner_net.to_string_lossy()), "{out}");
    assert!(out.contains("served"), "{out}");
    // A container that is not running has no namespace to join.
    b.ok(&["stop", "-t", "0", "netowner"]);
    let (_, err) = b.code(
        125,
        &[
            "run",
            "--rm",
            "--network",
            "container:netowner",
            "busybox",
            "true",
        ],
    );
    assert!(err.contains("non running container"), "{err}");

    // --init forwards signals: SIGTERM reaches the command under the init (which as a plain
    // child has the default handlers), the trap runs, its exit code is the container's.
    b.detached(
        &["--name", "under-init", "--init"],
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; while true; do sleep 0.1; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    b.ok(&["kill", "-s", "TERM", "under-init"]);
    assert_eq!(b.ok(&["wait", "under-init"]).trim(), "7");
    assert!(b.ok(&["logs", "under-init"]).contains("got-term"));
}

#[test]
fn seccomp_profiles_log_rotation_and_volume_mounts() {
    need_root!();
    let b = Berth::new();
    // The default profile filters (Seccomp: 2); `unconfined` runs without a filter; a profile
    // file replaces the default: here one that refuses mkdir.
    assert!(b.sh(&[], "grep Seccomp: /proc/self/status").contains('2'));
    let out = b.sh(
        &["--security-opt", "seccomp=unconfined"],
        "grep Seccomp: /proc/self/status",
    );
    assert!(out.contains('0'), "{out}");
    let profile = b.path("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "touch /ok && echo touched; mkdir /refused",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("touched"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{}",
        describe("run with a profile", &out)
    );
    // A profile that is not JSON is refused up front, naming the file.
    let bad = b.path("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let out = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", bad.display()),
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seccomp"));

    // --log-opt max-size/max-file: the json-file log rotates and keeps that many files, each
    // near the size; `logs` reads across the rotation.
    let id = b.detached(
        &["--log-opt", "max-size=1k", "--log-opt", "max-file=2"],
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 300 ]; do echo line-$i-padding-padding; i=$((i+1)); done",
        ],
    );
    assert_eq!(b.ok(&["wait", &id]).trim(), "0");
    let log = std::path::PathBuf::from(b.field(&id, "{{.LogPath}}"));
    let dir = log.parent().unwrap();
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .collect();
    logs.sort_by_key(|e| e.file_name());
    assert_eq!(logs.len(), 2, "{logs:?}");
    for f in &logs {
        let size = f.metadata().unwrap().len();
        assert!(size <= 1024 + 200, "{:?} is {size} bytes", f.path());
    }
    let tail = b.ok(&["logs", &id]);
    assert!(tail.ends_with("line-299-padding-padding\n"), "{tail}");
    assert!(!tail.contains("line-0-"), "old lines rotated away: {tail}");

    // --mount type=volume: a named volume made on first use, its data outliving the container.
    b.sh(
        &["--mount", "type=volume,source=mvol,target=/data"],
        "echo kept > /data/f",
    );
    assert!(b.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "mvol"));
    let out = b.sh(
        &["--mount", "type=volume,src=mvol,dst=/data,readonly"],
        "cat /data/f; touch /data/g 2>&1 || echo refused",
    );
    assert!(
        out.starts_with("kept\n") && out.contains("refused"),
        "{out}"
    );
}
