//! root.readonly, mounts (bind, tmpfs, proc, sysfs, mqueue, devpts, cgroup), maskedPaths,
//! readonlyPaths, sysctl, devices.

use crate::common::*;
use crate::require_root;
use serde_json::{json, Value};

fn probe_cmd(b: &mut Bundle, args: &[&str]) -> Value {
    let mut a = vec!["/probe"];
    a.extend_from_slice(args);
    b.args(&a);
    b.run().json()
}

#[test]
fn readonly_root() {
    require_root!();
    let mut b = Bundle::new("rootro");
    b.config["root"]["readonly"] = json!(true);
    let w = probe_cmd(&mut b, &["write", "/newfile"]);
    assert_eq!(w["error"], "EROFS", "write to a readonly root: {w}");
    let r = {
        b.args(&["/probe"]);
        b.probe()
    };
    let root = mount_at(&r, "/").expect("a / mount");
    assert!(mount_opts(root).contains("ro"), "/ mount options: {root}");

    let mut b = Bundle::new("rootrw");
    b.config["root"]["readonly"] = json!(false);
    let w = probe_cmd(&mut b, &["write", "/newfile", "x"]);
    assert_eq!(w["ok"], true, "write to a writable root: {w}");
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("newfile")).unwrap(),
        "x"
    );
}

#[test]
fn default_mounts_have_their_types() {
    require_root!();
    let b = Bundle::new("defmounts");
    let r = b.probe();
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let m = mount_at(&r, point)
            .unwrap_or_else(|| panic!("no mount at {point}: {:?}", mount_points(&r)));
        assert_eq!(m["fs_type"], fstype, "{point}: {m}");
    }
    let sys = mount_at(&r, "/sys").unwrap();
    assert!(mount_opts(sys).contains("ro"), "/sys is ro: {sys}");
    let shm = mount_at(&r, "/dev/shm").unwrap();
    for o in ["nosuid", "noexec", "nodev"] {
        assert!(mount_opts(shm).contains(o), "/dev/shm has {o}: {shm}");
    }
    // The cgroup mount: v1 shows a tmpfs with per-controller cgroup mounts, v2 a cgroup2 mount.
    let cg: Vec<&Value> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["mount_point"]
                .as_str()
                .unwrap_or("")
                .starts_with("/sys/fs/cgroup")
        })
        .collect();
    assert!(
        cg.iter()
            .any(|m| m["fs_type"] == "cgroup" || m["fs_type"] == "cgroup2"),
        "no cgroup mount under /sys/fs/cgroup: {cg:?}"
    );
    for m in cg.iter().filter(|m| m["fs_type"] != "tmpfs") {
        assert!(
            mount_opts(m).contains("ro"),
            "cgroup mount should be ro: {m}"
        );
    }
}

#[test]
fn bind_mount_ro_and_rw() {
    require_root!();
    let mut b = Bundle::new("bind");
    let ro_src = b.dir.join("ro-src");
    let rw_src = b.dir.join("rw-src");
    std::fs::create_dir_all(&ro_src).unwrap();
    std::fs::create_dir_all(&rw_src).unwrap();
    std::fs::write(ro_src.join("hello"), "from-host").unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/data-ro", "type": "bind", "source": ro_src, "options": ["rbind", "ro"]}));
    mounts.push(json!({"destination": "/data-rw", "type": "bind", "source": rw_src, "options": ["bind", "rw", "nosuid", "nodev", "noexec"]}));
    b.config["mounts"] = json!(mounts);
    let r = b.probe();
    let ro = mount_at(&r, "/data-ro").expect("mount at /data-ro");
    assert!(mount_opts(ro).contains("ro"), "{ro}");
    let rw = mount_at(&r, "/data-rw").expect("mount at /data-rw");
    for o in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(mount_opts(rw).contains(o), "/data-rw has {o}: {rw}");
    }
    let read = probe_cmd(&mut b, &["read", "/data-ro/hello"]);
    assert_eq!(read["data"], "from-host", "{read}");
    let w = probe_cmd(&mut b, &["write", "/data-ro/x"]);
    assert_eq!(w["error"], "EROFS", "{w}");
    let w = probe_cmd(&mut b, &["write", "/data-rw/x", "from-container"]);
    assert_eq!(w["ok"], true, "{w}");
    assert_eq!(
        std::fs::read_to_string(rw_src.join("x")).unwrap(),
        "from-container"
    );
}

#[test]
fn bind_mount_of_a_file() {
    require_root!();
    let mut b = Bundle::new("bindfile");
    let src = b.dir.join("file-src");
    std::fs::write(&src, "file-content").unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/etc/bound.conf", "type": "bind", "source": src, "options": ["bind", "ro"]}));
    b.config["mounts"] = json!(mounts);
    let r = probe_cmd(&mut b, &["read", "/etc/bound.conf"]);
    assert_eq!(r["data"], "file-content", "{r}");
}

#[test]
fn tmpfs_size_and_mode() {
    require_root!();
    let mut b = Bundle::new("tmpfs");
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "size=1m", "mode=1770"]}),
    );
    b.config["mounts"] = json!(mounts);
    let r = b.probe();
    let m = mount_at(&r, "/scratch").expect("tmpfs at /scratch");
    assert_eq!(m["fs_type"], "tmpfs");
    let o = mount_opts(m);
    assert!(o.contains("size=1024k"), "size: {m}");
    assert!(o.contains("mode=1770"), "mode: {m}");
    assert!(o.contains("nosuid") && o.contains("nodev"), "flags: {m}");
    // (runc 1.1 chmods the tmpfs root to the mode of the directory it mounts over, so the
    // superblock option is what is checked here.)
    // size is enforced: 2 MiB do not fit.
    let w = probe_cmd(&mut b, &["fill", "/scratch/big", "2048"]);
    assert_eq!(w["error"], "ENOSPC", "{}", w["error"]);
}

#[test]
fn mount_propagation_and_rootfs_propagation() {
    require_root!();
    let mut b = Bundle::new("propagation");
    b.config["linux"]["rootfsPropagation"] = json!("slave");
    let r = b.probe();
    let root = mount_at(&r, "/").expect("/ mount");
    let prop: Vec<&str> = root["propagation"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // slave of the host's peer group, or private when the host root is private.
    assert!(
        prop.iter().all(|p| !p.starts_with("shared:")),
        "rootfs must not be shared: {root}"
    );
}

/// The first of `paths` that exists on the host (masking only applies to what exists).
fn first_existing<'a>(paths: &[&'a str]) -> Option<&'a str> {
    paths
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn masked_paths() {
    require_root!();
    let mut b = Bundle::new("masked");
    let Some(file) = first_existing(&["/proc/kcore", "/proc/keys", "/proc/timer_list"]) else {
        crate::skip!("none of the masked /proc files exists on this kernel");
    };
    let st = probe_cmd(&mut b, &["stat", file]);
    assert_eq!(
        (
            st["type"].as_str(),
            st["major"].as_i64(),
            st["minor"].as_i64()
        ),
        (Some("char"), Some(1), Some(3)),
        "masked file {file} is /dev/null: {st}"
    );
    let rd = probe_cmd(&mut b, &["read", file]);
    assert_eq!(rd["data"], "", "masked file reads empty: {rd}");
    let dir = first_existing(&["/sys/firmware", "/proc/acpi"]).expect("/sys/firmware exists");
    let ls = probe_cmd(&mut b, &["ls", dir]);
    assert_eq!(ls["entries"], json!([]), "masked dir {dir} is empty: {ls}");
    let w = probe_cmd(&mut b, &["write", &format!("{dir}/x")]);
    assert_eq!(w["ok"], false, "masked dir is read-only: {w}");
}

#[test]
fn readonly_paths() {
    require_root!();
    let mut b = Bundle::new("ropaths");
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    b.config["process"]["capabilities"]["effective"] = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    b.config["process"]["capabilities"]["permitted"] = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    let w = probe_cmd(&mut b, &["write", "/proc/sys/kernel/domainname", "x"]);
    assert_eq!(
        w["error"], "EROFS",
        "/proc/sys is read-only even with CAP_SYS_ADMIN: {w}"
    );
    b.args(&["/probe"]);
    let r = b.probe();
    for p in [
        "/proc/sys",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sysrq-trigger",
    ] {
        if !std::path::Path::new(p).exists() {
            continue;
        }
        let m = mount_at(&r, p).unwrap_or_else(|| panic!("{p} is a mount: {:?}", mount_points(&r)));
        assert!(mount_opts(m).contains("ro"), "{m}");
    }
}

#[test]
fn sysctl_in_new_namespaces() {
    require_root!();
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let want_fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let want_shm = if host_shm.trim() == "1" { "0" } else { "1" };
    let mut b = Bundle::new("sysctl");
    b.config["linux"]["sysctl"] =
        json!({"net.ipv4.ip_forward": want_fwd, "kernel.shm_rmid_forced": want_shm});
    let r = probe_cmd(&mut b, &["read", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(r["data"].as_str().map(str::trim), Some(want_fwd), "{r}");
    let r = probe_cmd(&mut b, &["read", "/proc/sys/kernel/shm_rmid_forced"]);
    assert_eq!(r["data"].as_str().map(str::trim), Some(want_shm), "{r}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "host ip_forward changed"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        host_shm,
        "host shm_rmid_forced changed"
    );
}

#[test]
fn sysctl_of_a_host_namespace_is_refused() {
    require_root!();
    let mut b = Bundle::new("sysctlhost");
    // No network namespace: a net.* sysctl would change the host; the runtime must refuse.
    b.config["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if host.trim() == "1" { "0" } else { "1" };
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want});
    let out = b.run();
    assert!(
        !out.ok(),
        "net sysctl without a network namespace must fail: {out}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host,
        "host ip_forward changed!"
    );
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

#[test]
fn default_devices_and_symlinks() {
    require_root!();
    let mut b = Bundle::new("devices");
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let st = probe_cmd(&mut b, &["stat", path]);
        assert_eq!(
            (
                st["type"].as_str(),
                st["major"].as_i64(),
                st["minor"].as_i64()
            ),
            (Some("char"), Some(major), Some(minor)),
            "{path}: {st}"
        );
        assert_eq!(st["mode"], "0666", "{path} mode: {st}");
    }
    for (path, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        let st = probe_cmd(&mut b, &["stat", path]);
        assert_eq!(
            (st["type"].as_str(), st["target"].as_str()),
            (Some("symlink"), Some(target)),
            "{path}: {st}"
        );
    }
    let w = probe_cmd(&mut b, &["write", "/dev/null", "x"]);
    assert_eq!(w["ok"], true, "/dev/null is writable: {w}");
}

#[test]
fn linux_devices_adds_a_device() {
    require_root!();
    let mut b = Bundle::new("adddev");
    b.config["linux"]["devices"] = json!([{"path": "/dev/berth-full", "type": "c", "major": 1, "minor": 7,
        "fileMode": 0o640, "uid": 0, "gid": 0}]);
    let mut rules = b.config["linux"]["resources"]["devices"]
        .as_array()
        .unwrap()
        .clone();
    rules.push(json!({"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rw"}));
    b.config["linux"]["resources"]["devices"] = json!(rules);
    let st = probe_cmd(&mut b, &["stat", "/dev/berth-full"]);
    assert_eq!(
        (
            st["type"].as_str(),
            st["major"].as_i64(),
            st["minor"].as_i64()
        ),
        (Some("char"), Some(1), Some(7)),
        "{st}"
    );
    assert_eq!(st["mode"], "0640", "{st}");
    let w = probe_cmd(&mut b, &["write", "/dev/berth-full", "x"]);
    assert_eq!(w["error"], "ENOSPC", "writing /dev/full gives ENOSPC: {w}");
}

#[test]
fn device_cgroup_denies_unlisted_device() {
    require_root!();
    let mut b = Bundle::new("devdeny");
    // A loop block device node shipped in the rootfs itself (not in linux.devices): only the
    // devices cgroup stands between the container and the device; it answers EPERM on open.
    nix::sys::stat::mknod(
        &b.rootfs().join("berth-denied"),
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(7, 0),
    )
    .expect("mknod in the rootfs");
    b.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    let w = probe_cmd(&mut b, &["open", "/berth-denied", "r"]);
    assert_eq!(
        w["error"], "EPERM",
        "opening a device the cgroup denies: {w}"
    );
}

#[test]
fn idmapped_bind_mount_shows_mapped_owners() {
    require_root!();
    if runtime_is_runc_1_1() {
        crate::skip!("runc 1.1 predates idmapped mounts");
    }
    let mut b = Bundle::new("idmap");
    let src = b.dir.join("idmap-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    std::os::unix::fs::chown(src.join("f"), Some(0), Some(0)).unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({
        "destination": "/data", "type": "bind", "source": src,
        "options": ["rbind", "idmap", "ro"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]
    }));
    b.config["mounts"] = json!(mounts);
    b.args(&["/bin/busybox", "stat", "-c", "%u %g", "/data/f"]);
    let out = b.run();
    if out.stderr.contains("does not support idmapped mounts") {
        crate::skip!(
            "the filesystem under /tmp cannot be idmapped: {}",
            out.stderr
        );
    }
    out.expect_ok();
    assert_eq!(out.stdout.trim(), "1000 2000", "{out}");
    let meta = std::fs::metadata(src.join("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "the source is unchanged");
}
