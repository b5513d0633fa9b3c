//! linux.namespaces: each type new vs shared with the host, the user namespace with id maps,
//! and joining another container's namespaces by path.

use crate::common::*;
use crate::require_root;
use serde_json::json;

/// Namespace types of the spec and the /proc/self/ns entry each one shows.
const TYPES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

#[test]
fn namespaces_all_new() {
    require_root!();
    let mut b = Bundle::new("nsnew");
    b.config["linux"]["namespaces"] = json!(TYPES
        .iter()
        .map(|(t, _)| json!({"type": t}))
        .collect::<Vec<_>>());
    let r = b.probe();
    let host = host_namespaces();
    for (t, link) in TYPES {
        assert_ne!(
            r["namespaces"][link], host[*link],
            "{t} namespace should be new"
        );
    }
    assert_eq!(r["pid"], 1, "the process is pid 1 of a new pid namespace");
    // In its own cgroup namespace the container's cgroups are the roots of its view.
    for c in r["cgroups"].as_array().unwrap() {
        if c["controllers"] == "" && !cgroup_v2_only() {
            continue; // hybrid: the unified hierarchy is not managed
        }
        assert_eq!(c["path"], "/", "cgroup namespace root: {c}");
    }
}

#[test]
fn namespaces_each_shared_with_host_when_absent() {
    require_root!();
    let host = host_namespaces();
    for (omit, link) in TYPES.iter().filter(|(t, _)| *t != "mount") {
        let mut b = Bundle::new(&format!("nsshare-{omit}"));
        let keep: Vec<_> = TYPES
            .iter()
            .filter(|(t, _)| t != omit)
            .map(|(t, _)| json!({"type": t}))
            .collect();
        b.config["linux"]["namespaces"] = json!(keep);
        if *omit == "uts" {
            b.config.as_object_mut().unwrap().remove("hostname");
        }
        let r = b.probe();
        assert_eq!(
            r["namespaces"][link], host[*link],
            "without {omit} in the config the {link} namespace is the host's"
        );
        for (t, other) in TYPES.iter().filter(|(t, _)| t != omit) {
            assert_ne!(
                r["namespaces"][other], host[*other],
                "{t} should still be new when only {omit} is omitted"
            );
        }
    }
}

#[test]
fn user_namespace_with_mappings() {
    require_root!();
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        crate::skip!("user namespaces are disabled (max_user_namespaces=0)");
    }
    let mut b = Bundle::new("userns");
    // The rootfs must be reachable by the mapped root: make the temp dirs traversable.
    use std::os::unix::fs::PermissionsExt;
    for d in [b.dir.clone(), b.bundle.clone(), b.rootfs()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut ns = b.config["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    b.config["linux"]["namespaces"] = json!(ns);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // sysfs and cgroup need the host's user namespace; keep the rest.
    let mounts: Vec<_> = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] != "sysfs" && m["type"] != "cgroup")
        .cloned()
        .collect();
    b.config["mounts"] = json!(mounts);
    b.args(&["/probe"]);
    let r = b.probe();
    let host = host_namespaces();
    assert_ne!(
        r["namespaces"]["user"], host["user"],
        "user namespace should be new"
    );
    assert_eq!(r["uid"], 0, "uid inside the user namespace");
    let mut m = Bundle::new("usernsmap");
    m.config = b.config.clone();
    m.config["linux"]["cgroupsPath"] = json!(m.cgroup.clone());
    for d in [m.dir.clone(), m.bundle.clone(), m.rootfs()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    m.args(&["/probe", "read", "/proc/self/uid_map"]);
    let map = m.probe();
    let fields: Vec<&str> = map["data"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(fields, vec!["0", "100000", "65536"], "uid_map: {map}");
}

#[test]
fn join_namespaces_by_path() {
    require_root!();
    let mut a = Bundle::new("nsjoin-a");
    a.config["linux"]["namespaces"] = json!(TYPES
        .iter()
        .map(|(t, _)| json!({"type": t}))
        .collect::<Vec<_>>());
    let pid = a.start_sleeper();
    let link = |n: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };

    let mut b = Bundle::new("nsjoin-b");
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")},
        {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
        {"type": "mount"}
    ]);
    b.config.as_object_mut().unwrap().remove("hostname");
    let r = b.probe();
    for n in ["net", "ipc", "uts", "pid"] {
        assert_eq!(
            r["namespaces"][n].as_str(),
            Some(link(n).as_str()),
            "{n} joined by path"
        );
    }
    assert_ne!(
        r["namespaces"]["mnt"].as_str(),
        Some(link("mnt").as_str()),
        "mount namespace is new"
    );
    assert_ne!(r["pid"], 1, "joined pid namespace already has an init");
}
