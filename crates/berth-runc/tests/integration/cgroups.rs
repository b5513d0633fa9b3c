//! linux.resources: limits written to the cgroup files (host side), visible from inside, and
//! enforced (memory OOM kill, pids limit).

use crate::common::*;
use crate::require_root;
use serde_json::json;

/// Reads `file` of controller `ctl` in the test's cgroup on the host.
fn host_value(b: &Bundle, ctl: &str, file: &str) -> Option<String> {
    let d = cgroup_dir(ctl, &b.cgroup)?;
    std::fs::read_to_string(d.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn has_controller(ctl: &str) -> bool {
    if cgroup_v2_only() {
        return std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == ctl);
    }
    cgroup_mounts()
        .iter()
        .any(|(c, _)| c.split(',').any(|x| x == ctl))
}

#[test]
fn memory_limit_is_written_and_visible() {
    require_root!();
    let mut b = Bundle::new("memlimit");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    b.args(&["/probe", "sleep", "600"]);
    b.create().expect_ok();
    b.start().expect_ok();
    let (file, want) = if cgroup_v2_only() {
        ("memory.max", "67108864")
    } else {
        ("memory.limit_in_bytes", "67108864")
    };
    assert_eq!(
        host_value(&b, "memory", file).as_deref(),
        Some(want),
        "host {file}"
    );
    let mut e = b.cmd(&["exec", &b.id, "/probe"]);
    let out = run_cmd(&mut e, TIMEOUT);
    out.expect_ok();
    let r = out.json();
    assert_eq!(
        probe_cgroup_value(&r, file).as_deref(),
        Some(want),
        "limit seen from inside: {}",
        r["cgroup_limits"]
    );
}

#[test]
fn memory_limit_is_enforced_by_oom_kill() {
    require_root!();
    let mut b = Bundle::new("oomkill");
    let mut mem = json!({"limit": 32 << 20});
    let swap_file = if cgroup_v2_only() {
        "memory.swap.max"
    } else {
        "memory.memsw.limit_in_bytes"
    };
    if cgroup_dir("memory", "/")
        .map(|d| d.join(swap_file).exists())
        .unwrap_or(false)
    {
        mem["swap"] = json!(32 << 20); // memory+swap == memory: no swap to escape to
    }
    b.config["linux"]["resources"]["memory"] = mem;
    b.config["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]);
    b.args(&["/probe", "alloc", "256"]);
    let out = b.run();
    assert_eq!(
        out.code(),
        137,
        "allocating 256 MiB under a 32 MiB limit gets SIGKILLed: {out}"
    );
    // A small allocation within the limit works.
    let mut ok = Bundle::new("oomok");
    ok.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    ok.args(&["/probe", "alloc", "8"]);
    let out = ok.run();
    out.expect_ok();
}

#[test]
fn pids_limit_is_enforced() {
    require_root!();
    if !has_controller("pids") {
        crate::skip!("no pids controller");
    }
    let mut b = Bundle::new("pids");
    b.config["linux"]["resources"]["pids"] = json!({"limit": 8});
    b.args(&["/probe", "spawn", "20"]);
    let r = b.run().json();
    let spawned = r["spawned"].as_i64().unwrap_or(-1);
    assert!(
        (0..8).contains(&spawned),
        "at most 7 children beside the probe under pids.max=8: {r}"
    );
    assert_eq!(r["spawn_error"], "EAGAIN", "fork fails with EAGAIN: {r}");
    let mut v = Bundle::new("pidsvisible");
    v.config["linux"]["resources"]["pids"] = json!({"limit": 8});
    let r = v.probe();
    assert_eq!(
        probe_cgroup_value(&r, "pids.max").as_deref(),
        Some("8"),
        "{}",
        r["cgroup_limits"]
    );
}

#[test]
fn cpu_quota_period_shares_cpuset() {
    require_root!();
    let mut b = Bundle::new("cpu");
    b.config["linux"]["resources"]["cpu"] =
        json!({"quota": 50000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"});
    b.start_sleeper();
    if cgroup_v2_only() {
        assert_eq!(
            host_value(&b, "cpu", "cpu.max").as_deref(),
            Some("50000 100000")
        );
        assert!(host_value(&b, "cpu", "cpu.weight").is_some());
    } else {
        assert_eq!(
            host_value(&b, "cpu", "cpu.cfs_quota_us").as_deref(),
            Some("50000"),
            "cpu.cfs_quota_us"
        );
        assert_eq!(
            host_value(&b, "cpu", "cpu.cfs_period_us").as_deref(),
            Some("100000"),
            "cpu.cfs_period_us"
        );
        assert_eq!(
            host_value(&b, "cpu", "cpu.shares").as_deref(),
            Some("512"),
            "cpu.shares"
        );
    }
    assert_eq!(
        host_value(&b, "cpuset", "cpuset.cpus").as_deref(),
        Some("0"),
        "cpuset.cpus"
    );
}

#[test]
fn process_is_in_the_configured_cgroup() {
    require_root!();
    let b = Bundle::new("cgpath");
    let pid_seen_by_host = {
        let mut s = Bundle::new("cgpath-sleeper");
        let pid = s.start_sleeper();
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        for line in text.lines() {
            let path = line.splitn(3, ':').nth(2).unwrap_or("");
            let ctl = line.split(':').nth(1).unwrap_or("");
            if ctl.is_empty() && !cgroup_v2_only() {
                continue; // the hybrid unified hierarchy is not managed
            }
            assert!(
                path.ends_with(&s.cgroup),
                "{pid} in {line}, want ...{}",
                s.cgroup
            );
        }
        pid
    };
    assert!(pid_seen_by_host > 0);
    drop(b);
}

#[test]
fn freezer_state_follows_pause() {
    require_root!();
    if cgroup_v2_only() {
        crate::skip!("v1 freezer only");
    }
    let mut b = Bundle::new("freezer");
    b.start_sleeper();
    b.rt(&["pause", &b.id]).expect_ok();
    assert_eq!(
        host_value(&b, "freezer", "freezer.state").as_deref(),
        Some("FROZEN")
    );
    b.rt(&["resume", &b.id]).expect_ok();
    assert_eq!(
        host_value(&b, "freezer", "freezer.state").as_deref(),
        Some("THAWED")
    );
}

#[test]
fn hugetlb_limit() {
    require_root!();
    if !has_controller("hugetlb") {
        crate::skip!("no hugetlb cgroup hierarchy on this host");
    }
    let mut b = Bundle::new("hugetlb");
    b.config["linux"]["resources"]["hugepageLimits"] =
        json!([{"pageSize": "2MB", "limit": 4194304}]);
    b.start_sleeper();
    let f = if cgroup_v2_only() {
        "hugetlb.2MB.max"
    } else {
        "hugetlb.2MB.limit_in_bytes"
    };
    assert_eq!(host_value(&b, "hugetlb", f).as_deref(), Some("4194304"));
}

#[test]
fn cgroup_removed_after_delete() {
    require_root!();
    let mut b = Bundle::new("cgremove");
    b.start_sleeper();
    assert!(
        cgroup_dir("pids", &b.cgroup).unwrap().exists(),
        "cgroup created"
    );
    b.rt(&["delete", "-f", &b.id]).expect_ok();
    let left = b.leftovers();
    assert!(left.is_empty(), "after delete -f: {left:?}");
}

#[test]
fn update_changes_limits_of_a_running_container() {
    require_root!();
    let mut b = Bundle::new("update");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    b.args(&["/probe", "sleep", "600"]);
    b.create().expect_ok();
    b.start().expect_ok();
    let (mem_file, pids_file) = if cgroup_v2_only() {
        ("memory.max", "pids.max")
    } else {
        ("memory.limit_in_bytes", "pids.max")
    };
    b.rt(&["update", "--memory", "96m", "--pids-limit", "33", &b.id])
        .expect_ok();
    assert_eq!(
        host_value(&b, "memory", mem_file).as_deref(),
        Some("100663296")
    );
    assert_eq!(host_value(&b, "pids", pids_file).as_deref(), Some("33"));
    // A malformed value is refused and changes nothing.
    assert!(!b.rt(&["update", "--memory", "12x", &b.id]).ok());
    assert_eq!(
        host_value(&b, "memory", mem_file).as_deref(),
        Some("100663296")
    );
}
