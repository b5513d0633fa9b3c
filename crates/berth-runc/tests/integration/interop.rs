//! The same bundle run by the runtime under test and by runc gives the same probe answer in
//! every field that must match.

use crate::common::*;
use crate::require_root;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Fields compared as they are.
const SAME: &[&str] = &[
    "uid",
    "euid",
    "suid",
    "fsuid",
    "gid",
    "egid",
    "sgid",
    "fsgid",
    "groups",
    "caps",
    "no_new_privs",
    "seccomp",
    "umask",
    "hostname",
    "domainname",
    "cwd",
    "rlimits",
    "tty",
    "oom_score_adj",
    "pid",
];

/// Which namespaces differ from the host's (the set, not the inode numbers).
fn new_namespaces(r: &Value) -> BTreeSet<String> {
    let host = host_namespaces();
    r["namespaces"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| host.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// (mount point, fs type) of every mount, sorted; cgroup paths and /dev/console normalised.
fn mount_set(r: &Value) -> BTreeSet<(String, String)> {
    r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mount_point"].as_str().unwrap().to_string(),
                m["fs_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn env_set(r: &Value) -> BTreeSet<String> {
    r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str().map(String::from))
        .collect()
}

fn compare(name: &str, configure: impl Fn(&mut Bundle)) {
    let Some(runc) = real_runc() else {
        eprintln!("SKIP: runc is not installed (apt-get install runc)");
        return;
    };
    let mut ours = Bundle::new(&format!("interop-{name}"));
    configure(&mut ours);
    let mut theirs = Bundle::with_runtime(&format!("interop-{name}-runc"), runc);
    configure(&mut theirs);
    // Each bundle keeps its own cgroup path (configure may not change it).
    theirs.config["linux"]["cgroupsPath"] = json!(theirs.cgroup.clone());
    ours.config["linux"]["cgroupsPath"] = json!(ours.cgroup.clone());
    let a = ours.probe();
    let b = theirs.probe();
    let mut diffs = Vec::new();
    for f in SAME {
        if a[*f] != b[*f] {
            diffs.push(format!("{f}: ours {} vs runc {}", a[*f], b[*f]));
        }
    }
    if fd_numbers(&a) != fd_numbers(&b) {
        diffs.push(format!(
            "fds: ours {:?} vs runc {:?}",
            fd_numbers(&a),
            fd_numbers(&b)
        ));
    }
    let (na, nb) = (new_namespaces(&a), new_namespaces(&b));
    if na != nb {
        diffs.push(format!("new namespaces: ours {na:?} vs runc {nb:?}"));
    }
    let (ma, mb) = (mount_set(&a), mount_set(&b));
    if ma != mb {
        diffs.push(format!(
            "mounts: only ours {:?}, only runc {:?}",
            ma.difference(&mb).collect::<Vec<_>>(),
            mb.difference(&ma).collect::<Vec<_>>()
        ));
    }
    let (ea, eb) = (env_set(&a), env_set(&b));
    if ea != eb {
        diffs.push(format!("env: ours {ea:?} vs runc {eb:?}"));
    }
    assert!(
        diffs.is_empty(),
        "{name}: berth vs runc differ:\n  {}",
        diffs.join("\n  ")
    );
}

#[test]
fn interop_default_spec() {
    require_root!();
    compare("default", |_| {});
}

#[test]
fn interop_rich_config() {
    require_root!();
    compare("rich", |b| {
        let c = &mut b.config;
        c["hostname"] = json!("interop");
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 20], "umask": 0o027});
        c["process"]["env"] = json!(["PATH=/bin", "A=b"]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
        });
        c["process"]["oomScoreAdj"] = json!(100);
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
        ]);
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
        c["linux"]["resources"]["memory"] = json!({"limit": 128 << 20});
        c["linux"]["resources"]["pids"] = json!({"limit": 64});
        let mut mounts = c["mounts"].as_array().unwrap().clone();
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        c["mounts"] = json!(mounts);
    });
}

#[test]
fn interop_writable_root_no_new_privs_off() {
    require_root!();
    compare("rw", |b| {
        b.config["root"]["readonly"] = json!(false);
        b.config["process"]["noNewPrivileges"] = json!(false);
    });
}
