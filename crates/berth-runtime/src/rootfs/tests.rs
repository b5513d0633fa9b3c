//! Tests that run the rootfs steps for real, in a child process with its own mount namespace.
//!
//! Each test re-runs itself (the same test binary, `--exact`) under `unshare(1)` with a fresh
//! mount namespace (private propagation, so nothing reaches the host) and whatever other
//! namespaces it needs. The child sees `BERTH_ROOTFS_TEST_CHILD=<name>` and runs the body; the
//! parent owns the temporary directory, removes it, and checks that no mount leaked to the host.
//! Needs root: skipped (with a message) otherwise.

use std::collections::HashMap;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_oci::oci_spec::runtime::Spec;
use serde_json::json;

use super::*;

const CHILD_ENV: &str = "BERTH_ROOTFS_TEST_CHILD";
const DIR_ENV: &str = "BERTH_ROOTFS_TEST_DIR";

/// In the child: `Some(temp dir)`, run the body. In the parent: runs the child and returns `None`.
fn in_child(name: &str, unshare: &[&str]) -> Option<PathBuf> {
    run_in_child("rootfs::tests", name, unshare)
}

/// [`in_child`] for the test `name` of test module `module` (its path in the test binary, e.g.
/// `rootfs::idmap::tests`), under `unshare` with the given arguments.
pub(super) fn run_in_child(module: &str, name: &str, unshare: &[&str]) -> Option<PathBuf> {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        return Some(PathBuf::from(std::env::var(DIR_ENV).unwrap()));
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping {module}::{name}: needs root");
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-rootfs-")
        .tempdir_in("/tmp")
        .unwrap();
    let out = Command::new("unshare")
        .args(unshare)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::{name}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .env(DIR_ENV, dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} ran no test:\n{text}"
    );
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(dir.path().to_str().unwrap()),
        "mount leaked to the host"
    );
    None
}

/// A fresh rootfs under `dir` with the usual top-level directories.
fn make_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["proc", "sys", "dev", "etc", "tmp", "bin"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    rootfs
}

fn spec(value: serde_json::Value) -> Spec {
    let mut v = json!({"ociVersion": "1.2.0", "root": {"path": "rootfs"}});
    v.as_object_mut()
        .unwrap()
        .extend(value.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn opts(dir: &Path) -> RootfsOptions {
    RootfsOptions {
        no_pivot: false,
        bundle: dir.to_owned(),
    }
}

/// One mount as /proc/self/mountinfo shows it.
#[derive(Debug, Clone)]
struct Mnt {
    root: String,
    options: Vec<String>,
    optional: String,
    fstype: String,
}

impl Mnt {
    fn ro(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
    fn has(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }
}

/// Mountpoint -> the topmost mount there.
fn mounts() -> HashMap<String, Mnt> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        let (left, right) = line.split_once(" - ").unwrap();
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        out.insert(
            l[4].to_owned(),
            Mnt {
                root: l[3].to_owned(),
                options: l[5].split(',').map(str::to_owned).collect(),
                optional: l[6..].join(" "),
                fstype: r[0].to_owned(),
            },
        );
    }
    out
}

#[test]
fn symlinks_never_lead_out_of_the_rootfs() {
    let Some(dir) = in_child("symlinks_never_lead_out_of_the_rootfs", &["-m"]) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    symlink("/etc", rootfs.join("evil")).unwrap();
    symlink("../../../../../../../etc", rootfs.join("rel")).unwrap();
    symlink("/nonexistent/deep", rootfs.join("dangling")).unwrap();
    std::fs::write(dir.join("hostfile"), b"bundle file").unwrap();
    let s = spec(json!({"mounts": [
        {"destination": "/evil/berth-escape", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/rel/berth-escape-file", "type": "bind", "source": "hostfile",
         "options": ["rbind", "ro"]},
        {"destination": "/dangling", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil/../../../evil/dotdot", "type": "tmpfs", "source": "tmpfs"},
    ]}));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();

    let m = mounts();
    let r = rootfs.to_str().unwrap();
    assert_eq!(m[&format!("{r}/etc/berth-escape")].fstype, "tmpfs");
    assert!(m[&format!("{r}/etc/berth-escape-file")].ro());
    assert_eq!(
        std::fs::read(rootfs.join("etc/berth-escape-file")).unwrap(),
        b"bundle file"
    );
    assert!(m.contains_key(&format!("{r}/nonexistent/deep")));
    assert!(m.contains_key(&format!("{r}/etc/dotdot")));
    for host in [
        "/etc/berth-escape",
        "/etc/berth-escape-file",
        "/etc/dotdot",
        "/nonexistent",
    ] {
        assert!(!Path::new(host).exists(), "{host} created on the host");
        assert!(!m.contains_key(host), "{host} mounted on the host");
    }
}

#[test]
fn proc_and_sysfs_targets_are_checked() {
    let Some(dir) = in_child("proc_and_sysfs_targets_are_checked", &["-m", "-p", "-f"]) else {
        return;
    };
    let run = |name: &str, setup: &dyn Fn(&Path), mounts: serde_json::Value| {
        let rootfs = make_rootfs(&dir.join(name));
        setup(&rootfs);
        prepare_rootfs(&spec(json!({ "mounts": mounts })), &rootfs, &opts(&dir))
    };
    let proc_mount = json!({"destination": "/proc", "type": "proc", "source": "proc"});

    // /proc is a symlink: refused, and nothing is mounted at its target.
    let e = run(
        "a",
        &|r| {
            std::fs::remove_dir(r.join("proc")).unwrap();
            symlink("/tmp", r.join("proc")).unwrap();
        },
        json!([proc_mount]),
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::DestinationSymlink { .. }), "{e}");
    assert!(e.to_string().contains("/proc"), "{e}");

    // /sys is a file: refused.
    let e = run(
        "b",
        &|r| {
            std::fs::remove_dir(r.join("sys")).unwrap();
            std::fs::write(r.join("sys"), b"").unwrap();
        },
        json!([{"destination": "/sys", "type": "sysfs", "source": "sysfs"}]),
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::NotADirectory { .. }), "{e}");
    assert!(e.to_string().contains("/sys"), "{e}");

    // Over a /proc entry: refused, also when reached through a symlink.
    let e = run(
        "c",
        &|_| {},
        json!([proc_mount, {"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}]),
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::ProcMount { .. }), "{e}");
    assert!(e.to_string().contains("/proc/sys"), "{e}");
    let e = run(
        "d",
        &|r| symlink("/proc/sys/kernel", r.join("k")).unwrap(),
        json!([proc_mount, {"destination": "/k", "type": "tmpfs", "source": "tmpfs"}]),
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::ProcMount { .. }), "{e}");
    assert!(e.to_string().contains("/k"), "{e}");

    // Something other than procfs on /proc: refused.
    let e = run(
        "e",
        &|_| {},
        json!([{"destination": "/proc", "type": "bind", "source": "/tmp", "options": ["rbind"]}]),
    )
    .unwrap_err();
    assert!(matches!(e, RootfsError::ProcMount { .. }), "{e}");

    // The lxcfs-style files are allowed.
    std::fs::write(dir.join("cpuinfo"), b"fake cpuinfo").unwrap();
    run(
        "f",
        &|_| {},
        json!([proc_mount, {"destination": "/proc/cpuinfo", "type": "bind", "source": "cpuinfo",
                            "options": ["bind", "ro"]}]),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(dir.join("f/rootfs/proc/cpuinfo")).unwrap(),
        b"fake cpuinfo"
    );
}

/// A spec much like `runc spec` writes, plus extra mounts, devices, sysctls and a hostname.
fn full_spec(readonly_root: bool) -> Spec {
    let mut s = spec(json!({
        "hostname": "berth-test",
        "domainname": "berth.example",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/data", "type": "bind", "source": "data",
             "options": ["rbind", "ro", "nosuid", "noatime", "rprivate"]},
            {"destination": "/data-rro", "type": "bind", "source": "data",
             "options": ["rbind", "rro", "rnoexec"]},
            {"destination": "/copied", "type": "tmpfs", "source": "tmpfs",
             "options": ["tmpcopyup", "ro", "size=1m"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
             "options": ["noexec", "dirsync", "sync"]},
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "pid"}],
            "devices": [
                {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                 "fileMode": 384, "uid": 1000, "gid": 1001},
                {"path": "/dev/sub/myfifo", "type": "p"}
            ],
            "sysctl": {"kernel.shm_rmid_forced": "1"},
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list",
                            "/proc/does-not-exist", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger", "/no/such/path"]
        }
    }));
    if let Some(r) = s.root_mut() {
        r.set_readonly(Some(readonly_root));
    }
    s
}

fn populate_bundle(dir: &Path, rootfs: &Path) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/file"), b"data").unwrap();
    std::fs::create_dir_all(rootfs.join("copied/sub")).unwrap();
    std::fs::write(rootfs.join("copied/sub/kept"), b"kept").unwrap();
    symlink("sub/kept", rootfs.join("copied/link")).unwrap();
}

#[test]
fn full_rootfs_as_seen_from_inside() {
    let Some(dir) = in_child(
        "full_rootfs_as_seen_from_inside",
        &["-m", "-u", "-i", "-p", "-f"],
    ) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    populate_bundle(&dir, &rootfs);
    let s = full_spec(true);
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    enter_rootfs(&rootfs, &opts(&dir)).unwrap();
    finalize_rootfs(&s).unwrap();
    set_hostname(&s).unwrap();

    let m = mounts();
    // The old root is gone: nothing but the container's mounts.
    assert!(
        m.keys().all(|k| !k.starts_with(dir.to_str().unwrap())),
        "{m:?}"
    );
    assert!(
        !dir.exists(),
        "the host's {} is still reachable",
        dir.display()
    );
    assert!(m["/"].ro(), "root not read-only: {:?}", m["/"]);
    assert_eq!(
        std::fs::write("/berth-probe", b"x")
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EROFS)
    );
    assert_eq!(m["/proc"].fstype, "proc");
    assert_eq!(m["/dev"].fstype, "tmpfs");
    assert!(m["/dev"].has("nosuid"));
    assert_eq!(m["/dev/pts"].fstype, "devpts");
    assert_eq!(m["/dev/shm"].fstype, "tmpfs");
    assert!(m["/dev/shm"].has("noexec") && m["/dev/shm"].has("nodev"));
    assert_eq!(
        std::fs::metadata("/dev/shm").unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(m["/dev/mqueue"].fstype, "mqueue");
    assert_eq!(m["/sys"].fstype, "sysfs");
    assert!(m["/sys"].ro());
    assert!(m["/run"].has("noexec") && !m["/run"].ro());
    // The bind: read-only, nosuid, noatime, content from the bundle.
    assert!(m["/data"].ro() && m["/data"].has("nosuid") && m["/data"].has("noatime"));
    assert_eq!(std::fs::read("/data/file").unwrap(), b"data");
    assert!(m["/data-rro"].ro() && m["/data-rro"].has("noexec"));
    // tmpcopyup: a read-only tmpfs holding what the directory held.
    assert_eq!(m["/copied"].fstype, "tmpfs");
    assert!(m["/copied"].ro());
    assert_eq!(std::fs::read("/copied/sub/kept").unwrap(), b"kept");
    assert_eq!(
        std::fs::read_link("/copied/link").unwrap(),
        Path::new("sub/kept")
    );
    // cgroups (v1 or hybrid here: a tmpfs of binds; v2: cgroup2), read-only.
    let cg = &m["/sys/fs/cgroup"];
    assert!(cg.ro(), "{cg:?}");
    if cg.fstype == "tmpfs" {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let memory = own
            .lines()
            .find_map(|l| l.split_once(":memory:"))
            .map(|(_, p)| p.to_owned());
        if let Some(path) = memory {
            let mm = &m["/sys/fs/cgroup/memory"];
            assert_eq!(mm.fstype, "cgroup");
            assert_eq!(mm.root, path);
            assert!(mm.ro());
        }
    } else {
        assert_eq!(cg.fstype, "cgroup2");
    }
    // Devices, symlinks.
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    for d in [
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        assert!(
            std::fs::metadata(d).unwrap().file_type().is_char_device(),
            "{d}"
        );
    }
    let my = std::fs::metadata("/dev/mynull").unwrap();
    assert_eq!(
        (my.mode() & 0o7777, my.uid(), my.gid()),
        (0o600, 1000, 1001)
    );
    assert!(std::fs::metadata("/dev/sub/myfifo")
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read_link("/dev/ptmx").unwrap(),
        Path::new("pts/ptmx")
    );
    assert_eq!(
        std::fs::read_link("/dev/fd").unwrap(),
        Path::new("/proc/self/fd")
    );
    assert_eq!(
        std::fs::read_link("/dev/stderr").unwrap(),
        Path::new("/proc/self/fd/2")
    );
    std::fs::write("/dev/null", b"x").unwrap();
    // Masked: files are /dev/null, directories an empty read-only tmpfs.
    assert_eq!(std::fs::read("/proc/timer_list").unwrap(), b"");
    assert!(m.contains_key("/proc/timer_list"));
    assert_eq!(m["/proc/acpi"].fstype, "tmpfs");
    assert!(m["/proc/acpi"].ro());
    if Path::new("/sys/firmware").exists() {
        assert_eq!(m["/sys/firmware"].fstype, "tmpfs");
    }
    assert!(!m.contains_key("/proc/does-not-exist"));
    // Read-only paths.
    // Read-only, other flags kept as the mount had them (as runc does).
    assert!(m["/proc/sys"].ro() && m["/proc/sys"].has("relatime"));
    if let Some(t) = m.get("/proc/sysrq-trigger") {
        assert!(t.ro());
    }
    assert!(std::fs::write("/proc/sys/kernel/hostname", b"nope").is_err());
    // sysctl, hostname, domainname.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        "1\n"
    );
    assert_eq!(nix::unistd::gethostname().unwrap(), "berth-test");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        "berth.example\n"
    );
    assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
}

#[test]
fn cgroup_namespace_gets_cgroup_filesystems() {
    let Some(dir) = in_child("cgroup_namespace_gets_cgroup_filesystems", &["-m", "-C"]) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    let s = spec(json!({
        "mounts": [
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "cgroup"}]}
    }));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    let m = mounts();
    let cg = rootfs.join("sys/fs/cgroup");
    let cg = cg.to_str().unwrap();
    assert!(m[cg].ro(), "{:?}", m[cg]);
    if m[cg].fstype == "tmpfs" {
        // v1 or hybrid: fresh cgroup mounts, each rooted at the namespace's root.
        let sub: Vec<_> = m
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{cg}/")))
            .collect();
        assert!(!sub.is_empty(), "{m:?}");
        for (k, v) in sub {
            assert!(v.fstype.starts_with("cgroup"), "{k}: {v:?}");
            assert_eq!(v.root, "/", "{k}: {v:?}");
            assert!(v.ro(), "{k}: {v:?}");
        }
    } else {
        assert_eq!(m[cg].fstype, "cgroup2");
        assert_eq!(m[cg].root, "/");
    }
}

#[test]
fn no_pivot_moves_the_rootfs_onto_slash() {
    let Some(dir) = in_child("no_pivot_moves_the_rootfs_onto_slash", &["-m", "-p", "-f"]) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    std::fs::write(rootfs.join("marker"), b"inside").unwrap();
    let s = spec(json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
    ]}));
    let o = RootfsOptions {
        no_pivot: true,
        bundle: dir.clone(),
    };
    prepare_rootfs(&s, &rootfs, &o).unwrap();
    enter_rootfs(&rootfs, &o).unwrap();
    finalize_rootfs(&s).unwrap();
    assert_eq!(std::fs::read("/marker").unwrap(), b"inside");
    let m = mounts();
    // The only proc visible is the container's, and the host's sysfs is gone.
    assert_eq!(m["/proc"].fstype, "proc");
    assert!(
        m.values().filter(|x| x.fstype == "sysfs").count() == 0,
        "{m:?}"
    );
    assert!(!Path::new("/sys/kernel").exists());
}

#[test]
fn user_namespace_binds_devices_and_keeps_locked_flags() {
    let Some(dir) = in_child(
        "user_namespace_binds_devices_and_keeps_locked_flags",
        &["-U", "-r", "-m"],
    ) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let s = spec(json!({
        "mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755"]},
            {"destination": "/data", "type": "bind", "source": "data", "options": ["bind", "ro"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid", "nodev", "noexec"]},
        ],
        // Like a rootless engine's spec: the user namespace is the engine's, not in the spec.
        "linux": {"namespaces": [{"type": "mount"}]}
    }));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    let m = mounts();
    let r = rootfs.to_str().unwrap();
    // mknod is refused in a user namespace: the host's nodes are bind-mounted.
    assert!(m.contains_key(&format!("{r}/dev/null")), "{m:?}");
    assert!(m.contains_key(&format!("{r}/dev/tty")));
    assert!(m[&format!("{r}/data")].ro());
    assert!(m[&format!("{r}/sys")].ro());
    enter_rootfs(&rootfs, &opts(&dir)).unwrap();
    finalize_rootfs(&s).unwrap();
    std::fs::write("/dev/null", b"x").unwrap();
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

/// Sets up what a runtime meets on a systemd host: the calling test thread moves to a new mount
/// namespace whose mounts are peers of the (child process's) previous one, where `/` is rshared
/// and `<dir>/shared-src` is a shared tmpfs. Returns the previous namespace's mountinfo, open
/// (read it later to see what propagated back).
fn enter_peer_namespace(dir: &Path) -> std::fs::File {
    use nix::mount::{mount, MsFlags};
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .unwrap();
    let src = dir.join("shared-src");
    std::fs::create_dir_all(&src).unwrap();
    mount(
        Some("tmpfs"),
        &src,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    mount(
        None::<&str>,
        &src,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .unwrap();
    // /proc/<pid> shows the main thread, which stays in the previous namespace.
    let outer = std::fs::File::open(format!("/proc/{}/mountinfo", std::process::id())).unwrap();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
    outer
}

fn read_all(mut f: std::fs::File) -> String {
    use std::io::Read;
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn default_propagation_keeps_a_shared_host_untouched() {
    let Some(dir) = in_child("default_propagation_keeps_a_shared_host_untouched", &["-m"]) else {
        return;
    };
    let outer = enter_peer_namespace(&dir);
    let rootfs = make_rootfs(&dir);
    let s = spec(json!({"mounts": [
        {"destination": "/shared", "type": "bind", "source": "shared-src", "options": ["rbind"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
    ]}));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    enter_rootfs(&rootfs, &opts(&dir)).unwrap();
    finalize_rootfs(&s).unwrap();
    // A mount made inside the container stays inside.
    nix::mount::mount(
        Some("tmpfs"),
        "/shared",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let outer = read_all(outer);
    assert!(
        !outer.contains(rootfs.to_str().unwrap()),
        "container mounts reached the outer namespace:\n{outer}"
    );
    assert_eq!(outer.matches("shared-src").count(), 1, "{outer}");
}

#[test]
fn rshared_propagation_lets_bind_mounts_reach_the_host() {
    let Some(dir) = in_child(
        "rshared_propagation_lets_bind_mounts_reach_the_host",
        &["-m"],
    ) else {
        return;
    };
    let outer = enter_peer_namespace(&dir);
    let rootfs = make_rootfs(&dir);
    let s = spec(json!({
        "mounts": [
            {"destination": "/shared", "type": "bind", "source": "shared-src",
             "options": ["rbind", "rshared"]},
            {"destination": "/proc", "type": "proc", "source": "proc"},
        ],
        "linux": {"rootfsPropagation": "rshared"}
    }));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    enter_rootfs(&rootfs, &opts(&dir)).unwrap();
    finalize_rootfs(&s).unwrap();
    std::fs::create_dir_all("/shared/sub").unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        "/shared/sub",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let m = mounts();
    assert!(m["/"].optional.contains("shared:"), "{:?}", m["/"]);
    let outer = read_all(outer);
    // Bidirectional: the container's mount under the shared bind shows up outside...
    assert!(
        outer.contains(&format!("{} ", dir.join("shared-src/sub").display())),
        "{outer}"
    );
    // ...but the rootfs itself and the container's other mounts do not.
    assert!(!outer.contains(rootfs.to_str().unwrap()), "{outer}");
}

#[test]
fn unbindable_rootfs_propagation() {
    let Some(dir) = in_child("unbindable_rootfs_propagation", &["-m"]) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    let s = spec(json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"rootfsPropagation": "runbindable"}
    }));
    prepare_rootfs(&s, &rootfs, &opts(&dir)).unwrap();
    enter_rootfs(&rootfs, &opts(&dir)).unwrap();
    finalize_rootfs(&s).unwrap();
    let m = mounts();
    assert!(m["/"].optional.contains("unbindable"), "{:?}", m["/"]);
    assert!(
        m["/proc"].optional.contains("unbindable"),
        "{:?}",
        m["/proc"]
    );
}

#[test]
fn bad_input_is_named() {
    let Some(dir) = in_child("bad_input_is_named", &["-m"]) else {
        return;
    };
    let rootfs = make_rootfs(&dir);
    let e = prepare_rootfs(
        &spec(json!({"linux": {"rootfsPropagation": "sideways"}})),
        &rootfs,
        &opts(&dir),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sideways"), "{e}");
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    let e = prepare_rootfs(
        &spec(
            json!({"mounts": [{"destination": "/x", "type": "bind", "source": "missing",
                                 "options": ["bind"]}]}),
        ),
        &rootfs,
        &opts(&dir),
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    assert_eq!(e.class(), ErrorClass::NotFound);
    let e = prepare_rootfs(
        &spec(json!({"mounts": [{"destination": "/y", "type": "nosuchfs", "source": "x"}]})),
        &rootfs,
        &opts(&dir),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/y"), "{e}");
    let e = set_hostname(&spec(json!({"hostname": "h"}))).unwrap_err();
    assert!(matches!(e, RootfsError::NoUtsNamespace { .. }), "{e}");
}

#[test]
fn cgroup_mounts_go_last_unless_a_later_mount_nests_with_them() {
    let mounts: Vec<Mount> = serde_json::from_value(json!([
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
        {"destination": "/etc/hosts", "type": "bind", "source": "/h", "options": ["bind"]}
    ]))
    .unwrap();
    assert!(nests_with_none(&mounts[0], &mounts[1..]));
    for nested in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/", "/sys", "/"] {
        let later: Vec<Mount> = serde_json::from_value(json!([
            {"destination": nested, "type": "bind", "source": "/v", "options": ["bind"]}
        ]))
        .unwrap();
        assert!(!nests_with_none(&mounts[0], &later), "{nested}");
    }
    let sibling: Vec<Mount> = serde_json::from_value(json!([
        {"destination": "/sys/fs/cgroupx", "type": "bind", "source": "/v", "options": ["bind"]}
    ]))
    .unwrap();
    assert!(nests_with_none(&mounts[0], &sibling));
}
