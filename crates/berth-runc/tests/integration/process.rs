//! process.*: args, env, cwd, user, umask, capabilities, rlimits, noNewPrivileges, oomScoreAdj,
//! and the hostname/domainname of the UTS namespace.

use crate::common::caps;
use crate::common::*;
use crate::require_root;
use serde_json::json;

#[test]
fn args_env_cwd() {
    require_root!();
    let mut b = Bundle::new("argsenv");
    std::fs::create_dir_all(b.rootfs().join("work/dir")).unwrap();
    b.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
    b.config["process"]["cwd"] = json!("/work/dir");
    let r = b.probe();
    assert_eq!(r["cwd"], "/work/dir", "cwd: {}", r["cwd"]);
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for want in ["PATH=/bin", "FOO=bar baz", "EMPTY="] {
        assert!(env.contains(&want), "env {env:?} lacks {want}");
    }
    // Nothing from the runtime's own environment leaks in.
    assert!(
        env.iter().all(|e| e.starts_with("PATH=")
            || e.starts_with("FOO=")
            || e.starts_with("EMPTY=")
            || e.starts_with("HOME=")),
        "unexpected env: {env:?}"
    );
}

#[test]
fn args_are_passed_verbatim() {
    require_root!();
    let mut b = Bundle::new("argv");
    b.args(&["/probe", "echo", "a b", "", "c'd\"e", "$HOME"]);
    let out = b.run();
    out.expect_ok();
    assert_eq!(
        out.stdout.trim_end_matches('\n'),
        "a b  c'd\"e $HOME",
        "{out}"
    );
}

#[test]
fn cwd_is_created_if_missing() {
    require_root!();
    let mut b = Bundle::new("cwdmissing");
    b.config["root"]["readonly"] = json!(false);
    b.config["process"]["cwd"] = json!("/not/yet/there");
    let r = b.probe();
    assert_eq!(r["cwd"], "/not/yet/there");
}

#[test]
fn user_uid_gid_additional_gids() {
    require_root!();
    let mut b = Bundle::new("user");
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 1001]});
    let r = b.probe();
    for (k, want) in [
        ("uid", 1000),
        ("euid", 1000),
        ("suid", 1000),
        ("gid", 1001),
        ("egid", 1001),
        ("sgid", 1001),
    ] {
        assert_eq!(r[k].as_i64(), Some(want), "{k}: {}", r[k]);
    }
    let mut groups: Vec<i64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_i64())
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, vec![10, 20, 1001], "groups");
}

#[test]
fn user_without_additional_gids_has_no_supplementary_groups() {
    require_root!();
    let mut b = Bundle::new("nogroups");
    b.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    let r = b.probe();
    let groups: Vec<i64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_i64())
        .collect();
    assert!(
        groups.is_empty() || groups == vec![0],
        "host groups leaked: {groups:?}"
    );
}

#[test]
fn umask() {
    require_root!();
    let mut b = Bundle::new("umask");
    b.config["process"]["user"]["umask"] = json!(0o027);
    let r = b.probe();
    assert_eq!(r["umask"], "0027");
}

#[test]
fn umask_default_is_0022() {
    require_root!();
    let b = Bundle::new("umaskdef");
    assert_eq!(b.probe()["umask"], "0022");
}

fn assert_caps(r: &serde_json::Value, which: &str, want: &[&str]) {
    let got = caps::of(r, which);
    assert_eq!(
        got,
        caps::mask(want),
        "{which}: got {:?}, want {want:?}",
        caps::names(got)
    );
}

#[test]
fn capabilities_each_set_root() {
    require_root!();
    let mut b = Bundle::new("capsroot");
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_KILL"]
    });
    let r = b.probe();
    assert_caps(
        &r,
        "bounding",
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_SYS_CHROOT",
        ],
    );
    assert_caps(&r, "inheritable", &["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    assert_caps(&r, "ambient", &["CAP_KILL"]);
    // noNewPrivileges (true in the base config) keeps exec from adding to permitted.
    assert_caps(
        &r,
        "permitted",
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    );
    assert_caps(
        &r,
        "effective",
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    );
}

#[test]
fn capabilities_each_set_non_root_ambient() {
    require_root!();
    let mut b = Bundle::new("capsuser");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let r = b.probe();
    assert_caps(
        &r,
        "bounding",
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETUID",
        ],
    );
    assert_caps(&r, "inheritable", &["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    // A non-root exec keeps only the ambient set in permitted and effective.
    assert_caps(&r, "ambient", &["CAP_NET_BIND_SERVICE"]);
    assert_caps(&r, "permitted", &["CAP_NET_BIND_SERVICE"]);
    assert_caps(&r, "effective", &["CAP_NET_BIND_SERVICE"]);
}

#[test]
fn capabilities_default_spec_set() {
    require_root!();
    let b = Bundle::new("capsdefault");
    let r = b.probe();
    let d = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    assert_caps(&r, "bounding", &d);
    assert_caps(&r, "effective", &d);
    assert_caps(&r, "permitted", &d);
}

#[test]
fn capabilities_empty_means_none() {
    require_root!();
    let mut b = Bundle::new("capsnone");
    b.config["process"]["capabilities"] = json!({});
    let r = b.probe();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        assert_caps(&r, set, &[]);
    }
}

#[test]
fn rlimits() {
    require_root!();
    let mut b = Bundle::new("rlimits");
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CPU", "soft": 3600, "hard": 7200},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
        {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608}
    ]);
    let r = b.probe();
    for (name, soft, hard) in [
        ("RLIMIT_NOFILE", 512, 1024),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NPROC", 100, 200),
        ("RLIMIT_CPU", 3600, 7200),
        ("RLIMIT_MSGQUEUE", 4096, 8192),
        ("RLIMIT_STACK", 4194304, 8388608),
    ] {
        let got = &r["rlimits"][name];
        assert_eq!(
            (got["soft"].as_i64(), got["hard"].as_i64()),
            (Some(soft), Some(hard)),
            "{name}: {got}"
        );
    }
}

#[test]
fn rlimit_above_hard_limit_fails_without_sys_resource() {
    require_root!();
    // CAP_SYS_RESOURCE is absent from this machine's bounding set: raising a hard limit fails.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .map(|l| caps::parse(l[7..].trim()))
        .unwrap_or(0);
    if bnd & caps::mask(&["CAP_SYS_RESOURCE"]) != 0 {
        crate::skip!("CAP_SYS_RESOURCE is available here; raising hard limits is allowed");
    }
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let mut b = Bundle::new("rlimitraise");
    b.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    let out = b.run();
    assert!(
        !out.ok(),
        "raising RLIMIT_NOFILE above {hard} must fail: {out}"
    );
    assert!(
        out.stderr.to_lowercase().contains("rlimit") || out.stderr.contains("NOFILE"),
        "error should name the rlimit: {out}"
    );
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

#[test]
fn no_new_privileges() {
    require_root!();
    let mut b = Bundle::new("nnp");
    b.config["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(b.probe()["no_new_privs"], 1);
    let mut b = Bundle::new("nnpoff");
    b.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(b.probe()["no_new_privs"], 0);
}

#[test]
fn oom_score_adj() {
    require_root!();
    let mut b = Bundle::new("oomadj");
    b.config["process"]["oomScoreAdj"] = json!(500);
    assert_eq!(b.probe()["oom_score_adj"], 500);
}

#[test]
fn hostname() {
    require_root!();
    let mut b = Bundle::new("uts");
    b.config["hostname"] = json!("berth-host");
    let r = b.probe();
    assert_eq!(r["hostname"], "berth-host");
    let host = nix::sys::utsname::uname().unwrap();
    assert_ne!(
        host.nodename().to_string_lossy(),
        "berth-host",
        "host hostname changed!"
    );
}

#[test]
fn domainname() {
    require_root!();
    if runtime_is_runc_1_1() {
        crate::skip!("runc 1.1 predates `domainname` (runtime-spec 1.1)");
    }
    let mut b = Bundle::new("domain");
    b.config["hostname"] = json!("berth-host");
    b.config["domainname"] = json!("berth.test");
    let r = b.probe();
    assert_eq!(r["hostname"], "berth-host");
    assert_eq!(r["domainname"], "berth.test");
    let host = nix::sys::utsname::uname().unwrap();
    assert_ne!(
        host.nodename().to_string_lossy(),
        "berth-host",
        "host hostname changed!"
    );
}

#[test]
fn personality_linux32() {
    require_root!();
    if runtime_is_runc_1_1() {
        crate::skip!("runc 1.1 predates linux.personality (runtime-spec 1.2)");
    }
    let mut b = Bundle::new("personality");
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    assert_eq!(b.probe()["machine"], "i686", "uname -m under LINUX32");
}

#[test]
fn scheduler_policy_and_nice() {
    require_root!();
    if runtime_is_runc_1_1() {
        crate::skip!("runc 1.1 predates process.scheduler (runtime-spec 1.2)");
    }
    let mut b = Bundle::new("scheduler");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    let r = b.probe();
    assert_eq!(r["sched"]["policy"], 3, "SCHED_BATCH: {}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 5, "nice: {}", r["sched"]);
}
