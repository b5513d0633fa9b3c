//! cgroup v1 on the real kernel (runs on v1 and hybrid hosts as root; skips elsewhere).
//! Every test uses its own `/berth-test-<pid>-<n>` cgroup and removes it, even on failure.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_cgroups::{open, Cgroup, CgroupConfig, Layout};
use berth_oci::oci_spec::runtime::LinuxResources;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A test cgroup plus the processes in it; dropping it kills them and destroys the cgroup.
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

fn usable() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    match berth_cgroups::detect_layout() {
        Ok(Layout::V1 | Layout::Hybrid) => true,
        other => {
            eprintln!("skipped: not a v1/hybrid host ({other:?})");
            false
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "/berth-test-{}-{}{prefix}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn guard(path: &str) -> Guard {
    let cg = open(&CgroupConfig {
        path,
        container_id: "unused",
        systemd: false,
        root: None,
    })
    .unwrap();
    Guard {
        cg,
        children: Vec::new(),
    }
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn dir_of(g: &Guard, controller: &str) -> std::path::PathBuf {
    g.cg.paths()
        .into_iter()
        .find(|p| {
            p.strip_prefix("/sys/fs/cgroup")
                .ok()
                .and_then(|r| r.components().next())
                .is_some_and(|c| {
                    c.as_os_str()
                        .to_str()
                        .is_some_and(|n| n.split(',').any(|x| x == controller))
                })
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy in {:?}", g.cg.paths()))
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_owned()
}

fn sleeper() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

#[test]
fn memory_limit_reads_back() {
    if !usable() {
        return;
    }
    let g = guard(&unique(""));
    g.cg.create().unwrap();
    g.cg.apply_resources(&resources(
        r#"{"memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 20}}"#,
    ))
    .unwrap();
    let mem = dir_of(&g, "memory");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(read(&mem, "memory.swappiness"), "20");
    // Growing the limit past memsw needs memsw raised first.
    if mem.join("memory.memsw.limit_in_bytes").exists() {
        g.cg.apply_resources(&resources(
            r#"{"memory": {"limit": 134217728, "swap": 268435456}}"#,
        ))
        .unwrap();
        g.cg.apply_resources(&resources(
            r#"{"memory": {"limit": 402653184, "swap": 536870912}}"#,
        ))
        .unwrap();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), "402653184");
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "536870912");
    }
}

#[test]
fn cpu_pids_cpuset_devices_blkio_apply() {
    if !usable() {
        return;
    }
    let g = guard(&unique(""));
    g.cg.create().unwrap();
    g.cg.apply_resources(&resources(
        r#"{
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 32},
            "devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 136, "access": "rw"}],
            "blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]}
        }"#,
    ))
    .unwrap();
    let cpu = dir_of(&g, "cpu");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&dir_of(&g, "cpuset"), "cpuset.cpus"), "0");
    assert_eq!(read(&dir_of(&g, "pids"), "pids.max"), "32");
    let list = read(&dir_of(&g, "devices"), "devices.list");
    assert_eq!(list, "c 1:3 rwm\nc 136:* rw");
    let blkio = dir_of(&g, "blkio");
    if Path::new("/sys/dev/block/254:0").exists() {
        assert!(read(&blkio, "blkio.throttle.read_bps_device").contains("254:0 1048576"));
    }
}

#[test]
fn missing_hugetlb_is_an_error_naming_it() {
    if !usable() || Path::new("/sys/fs/cgroup/hugetlb").exists() {
        return;
    }
    let g = guard(&unique(""));
    g.cg.create().unwrap();
    let err =
        g.cg.apply_resources(&resources(
            r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("hugetlb"), "{err}");
}

#[test]
fn stats_pids_and_kill_with_a_real_process() {
    if !usable() {
        return;
    }
    let mut g = guard(&unique(""));
    g.cg.create().unwrap();
    g.cg.apply_resources(&resources(r#"{"pids": {"limit": 10}}"#))
        .unwrap();
    let child = sleeper();
    let pid = child.id() as i32;
    g.children.push(child);
    g.cg.add_process(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    let s = g.cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 10);
    assert!(s.memory.usage.limit > 0);
    assert!(!s.memory.raw.is_empty());
    assert!(!s.cpu.usage.percpu.is_empty());
    let json = serde_json::to_value(&s).unwrap();
    eprintln!("stats: {json}");
    assert_eq!(json["pids"]["current"], 1);

    g.cg.kill_all(libc::SIGKILL).unwrap();
    let status = g.children[0].wait().unwrap();
    assert!(!status.success());
    g.children.clear();
    g.cg.destroy().unwrap();
    assert!(g.cg.paths().iter().all(|p| !p.exists()));
}

#[test]
fn freeze_and_thaw_a_real_process() {
    if !usable() {
        return;
    }
    let mut g = guard(&unique(""));
    g.cg.create().unwrap();
    let child = sleeper();
    let pid = child.id() as i32;
    g.children.push(child);
    g.cg.add_process(pid).unwrap();
    assert!(!g.cg.is_frozen().unwrap());
    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    assert_eq!(read(&dir_of(&g, "freezer"), "freezer.state"), "FROZEN");
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());
    // SIGTERM through kill_all (which freezes around the signal) ends sleep.
    g.cg.kill_all(libc::SIGTERM).unwrap();
    g.children[0].wait().unwrap();
    g.children.clear();
}

#[test]
fn destroy_removes_the_parents_it_created_only() {
    if !usable() {
        return;
    }
    let top = unique("");
    let g = guard(&format!("{top}/inner/leaf"));
    g.cg.create().unwrap();
    let leaf = dir_of(&g, "memory");
    let top_dir = leaf.parent().unwrap().parent().unwrap().to_owned();
    assert!(leaf.is_dir());
    g.cg.destroy().unwrap();
    assert!(!leaf.exists());
    assert!(!top_dir.exists(), "{} left behind", top_dir.display());

    // A parent that existed before survives a destroy.
    let pre = guard(&top);
    pre.cg.create().unwrap();
    let g2 = guard(&format!("{top}/leaf2"));
    g2.cg.create().unwrap();
    g2.cg.destroy().unwrap();
    assert!(dir_of(&pre, "memory").is_dir());
}

#[test]
fn relative_and_systemd_paths_land_where_expected() {
    if !usable() {
        return;
    }
    let name = unique("");
    let slice = format!("{}.slice", name.trim_start_matches('/'));
    let cg = open(&CgroupConfig {
        path: &format!("{slice}:berth:x"),
        container_id: "x",
        systemd: true,
        root: None,
    })
    .unwrap();
    assert!(cg
        .paths()
        .iter()
        .any(|p| p.ends_with(format!("{slice}/berth-x.scope"))));
    let own_pids = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let pids_own = own_pids
        .lines()
        .find_map(|l| l.split(':').nth(1).filter(|c| *c == "pids").map(|_| l))
        .and_then(|l| l.splitn(3, ':').nth(2))
        .unwrap()
        .to_owned();
    let rel = open(&CgroupConfig {
        path: "child",
        container_id: "x",
        systemd: false,
        root: None,
    })
    .unwrap();
    let expected = Path::new("/sys/fs/cgroup/pids")
        .join(pids_own.trim_start_matches('/'))
        .join("child");
    assert!(rel.paths().contains(&expected), "{:?}", rel.paths());
}
