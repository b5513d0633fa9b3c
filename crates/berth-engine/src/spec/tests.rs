use super::*;
use crate::types::{HealthConfig, Mount, Ulimit};
use serde_json::json;

fn rootfs() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("etc")).unwrap();
    std::fs::write(
        t.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(t.path().join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    std::fs::create_dir_all(t.path().join("data")).unwrap();
    std::fs::write(t.path().join("data/seed"), "from image").unwrap();
    t
}

fn request<'a>(
    id: &'a str,
    c: &'a Config,
    h: &'a HostConfig,
    root: &'a Path,
    dir: &'a Path,
    mounts: &'a [MountPoint],
) -> SpecRequest<'a> {
    SpecRequest {
        id,
        config: c,
        host_config: h,
        rootfs: root,
        etc_files_dir: dir,
        mounts,
        init_binary: None,
        join_netns: None,
        join_ipcns: None,
        join_pidns: None,
        cgroup_v2: false,
    }
}

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn spec_json(c: &Config, h: &HostConfig, mounts: &[MountPoint]) -> (Value, tempfile::TempDir) {
    let r = rootfs();
    let d = tempfile::tempdir().unwrap();
    let s = build(&request(ID, c, h, r.path(), d.path(), mounts)).unwrap();
    (serde_json::to_value(s).unwrap(), r)
}

fn cmd(args: &[&str]) -> Config {
    Config {
        cmd: Some(args.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

#[test]
fn docker_defaults() {
    let (s, _r) = spec_json(&cmd(&["true"]), &HostConfig::default(), &[]);
    let caps = s["process"]["capabilities"]["effective"]
        .as_array()
        .unwrap();
    assert_eq!(caps.len(), 14, "{caps:?}");
    assert!(caps.contains(&json!("CAP_NET_RAW")));
    assert!(!caps.contains(&json!("CAP_SYS_ADMIN")));
    assert_eq!(s["hostname"], "0123456789ab");
    assert_eq!(s["process"]["env"][0], DEFAULT_PATH);
    assert_eq!(s["process"]["env"][1], "HOSTNAME=0123456789ab");
    assert_eq!(s["process"]["cwd"], "/");
    assert!(s["linux"]["seccomp"]["syscalls"].as_array().unwrap().len() > 10);
    assert!(s["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .contains(&json!("/proc/kcore")));
    assert!(s["linux"]["readonlyPaths"]
        .as_array()
        .unwrap()
        .contains(&json!("/proc/sys")));
    assert_eq!(s["linux"]["cgroupsPath"], format!("/berth/{ID}"));
    let ns: Vec<&str> = s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["mount", "pid", "ipc", "uts", "network"]);
    let dests: Vec<&str> = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for d in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/dev/shm",
        "/dev/mqueue",
        "/etc/resolv.conf",
        "/etc/hostname",
        "/etc/hosts",
    ] {
        assert!(dests.contains(&d), "{d} in {dests:?}");
    }
    let shm = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/dev/shm")
        .unwrap();
    assert!(shm["options"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("size={}", 64 << 20))));
    assert_eq!(s["root"]["readonly"], false);
}

#[test]
fn caps_privileged_security() {
    let h = HostConfig {
        cap_drop: Some(vec!["net_raw".into(), "CAP_CHOWN".into()]),
        cap_add: Some(vec!["sys_admin".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        ..Default::default()
    };
    let (s, _r) = spec_json(&cmd(&["true"]), &h, &[]);
    let caps = s["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert!(!caps.contains(&json!("CAP_NET_RAW")) && !caps.contains(&json!("CAP_CHOWN")));
    assert!(caps.contains(&json!("CAP_SYS_ADMIN")));
    assert_eq!(s["process"]["noNewPrivileges"], true);
    let h = HostConfig {
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: Some(vec!["KILL".into()]),
        ..Default::default()
    };
    assert_eq!(capabilities(&h).unwrap(), vec!["CAP_KILL"]);
    assert!(capabilities(&HostConfig {
        cap_add: Some(vec!["BOGUS".into()]),
        ..Default::default()
    })
    .is_err());
    let h = HostConfig {
        privileged: true,
        ..Default::default()
    };
    let (s, _r) = spec_json(&cmd(&["true"]), &h, &[]);
    assert_eq!(
        s["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap()
            .len(),
        grantable_caps().len()
    );
    assert!(s["linux"].get("seccomp").is_none_or(Value::is_null));
    assert!(s["linux"].get("maskedPaths").is_none_or(Value::is_null));
    let h = HostConfig {
        security_opt: Some(vec!["seccomp=unconfined".into()]),
        ..Default::default()
    };
    let (s, _r) = spec_json(&cmd(&["true"]), &h, &[]);
    assert!(s["linux"].get("seccomp").is_none_or(Value::is_null));
    assert!(security_options(&HostConfig {
        security_opt: Some(vec!["bogus=1".into()]),
        ..Default::default()
    })
    .is_err());
}

#[test]
fn resources_and_rlimits() {
    let h = HostConfig {
        memory: 64 << 20,
        nano_cpus: 1_500_000_000,
        cpu_shares: 512,
        cpuset_cpus: "0".into(),
        pids_limit: Some(20),
        ulimits: Some(vec![Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }]),
        readonly_rootfs: true,
        ..Default::default()
    };
    let (s, _r) = spec_json(&cmd(&["true"]), &h, &[]);
    let r = &s["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(r["memory"]["swap"], 128 << 20);
    assert_eq!(r["cpu"]["quota"], 150_000);
    assert_eq!(r["cpu"]["period"], 100_000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["cpu"]["cpus"], "0");
    assert_eq!(r["pids"]["limit"], 20);
    assert_eq!(r["devices"][0]["allow"], false);
    assert_eq!(s["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert_eq!(s["root"]["readonly"], true);
    let bad = HostConfig {
        memory: 10 << 20,
        memory_swap: 5 << 20,
        ..Default::default()
    };
    assert!(resources(&bad).is_err());
    let unlimited = HostConfig {
        memory: 10 << 20,
        memory_swap: -1,
        ..Default::default()
    };
    assert_eq!(resources(&unlimited).unwrap()["memory"]["swap"], -1);
}

#[test]
fn namespaces_modes() {
    let h = HostConfig {
        network_mode: "host".into(),
        pid_mode: "host".into(),
        ipc_mode: "host".into(),
        uts_mode: "host".into(),
        ..Default::default()
    };
    let (s, _r) = spec_json(&cmd(&["true"]), &h, &[]);
    let ns: Vec<&str> = s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["mount"]);
    assert!(s.get("hostname").is_none_or(Value::is_null));
    let r = rootfs();
    let d = tempfile::tempdir().unwrap();
    let c = cmd(&["true"]);
    let h = HostConfig {
        network_mode: "container:other".into(),
        ..Default::default()
    };
    assert!(build(&request(ID, &c, &h, r.path(), d.path(), &[])).is_err());
    let mut req = request(ID, &c, &h, r.path(), d.path(), &[]);
    req.join_netns = Some("/proc/1/ns/net".into());
    let s = serde_json::to_value(build(&req).unwrap()).unwrap();
    assert!(s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!({"type": "network", "path": "/proc/1/ns/net"})));
    let h = HostConfig {
        network_mode: "mynet".into(),
        ..Default::default()
    };
    assert!(build(&request(ID, &c, &h, r.path(), d.path(), &[])).is_err());
}

#[test]
fn user_workdir_env_init() {
    let r = rootfs();
    let d = tempfile::tempdir().unwrap();
    let c = Config {
        user: "app".into(),
        working_dir: "/work/dir".into(),
        tty: true,
        env: Some(vec!["A=1".into()]),
        entrypoint: Some(vec!["/bin/sh".into()]),
        cmd: Some(vec!["-c".into(), "x".into()]),
        ..Default::default()
    };
    let h = HostConfig {
        init: Some(true),
        ..Default::default()
    };
    let mut req = request(ID, &c, &h, r.path(), d.path(), &[]);
    let init = r.path().join("init-binary");
    std::fs::write(&init, "").unwrap();
    req.init_binary = Some(&init);
    let s = serde_json::to_value(build(&req).unwrap()).unwrap();
    assert_eq!(s["process"]["user"]["uid"], 1000);
    assert_eq!(s["process"]["cwd"], "/work/dir");
    assert!(r.path().join("work/dir").is_dir());
    assert_eq!(
        s["process"]["args"],
        json!([INIT_PATH, "--", "/bin/sh", "-c", "x"])
    );
    let env = s["process"]["env"].as_array().unwrap();
    assert!(env.contains(&json!("TERM=xterm")) && env.contains(&json!("A=1")));
    assert!(s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["destination"] == INIT_PATH));
    let empty = Config::default();
    assert!(build(&request(
        ID,
        &empty,
        &HostConfig::default(),
        r.path(),
        d.path(),
        &[]
    ))
    .unwrap_err()
    .to_string()
    .contains("no command"));
    let bad_user = Config {
        user: "ghost".into(),
        ..cmd(&["true"])
    };
    assert!(build(&request(
        ID,
        &bad_user,
        &HostConfig::default(),
        r.path(),
        d.path(),
        &[]
    ))
    .is_err());
}

#[test]
fn merge_follows_docker() {
    let image = json!({"Env": ["PATH=/img", "A=img"], "Cmd": ["img-cmd"], "Entrypoint": ["/ep"],
        "WorkingDir": "/w", "User": "app", "Volumes": {"/data": {}}, "Labels": {"l": "img"},
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}});
    let mut c = Config {
        env: Some(vec!["A=user".into()]),
        labels: Some([("l".to_string(), "user".to_string())].into()),
        ..Default::default()
    };
    merge_image_config(&mut c, &image);
    assert_eq!(c.env.as_deref().unwrap(), ["PATH=/img", "A=user"]);
    assert_eq!(c.entrypoint.as_deref().unwrap(), ["/ep"]);
    assert_eq!(c.cmd.as_deref().unwrap(), ["img-cmd"]);
    assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/w", "app"));
    assert!(c.volumes.as_ref().unwrap().contains_key("/data"));
    assert_eq!(c.labels.as_ref().unwrap()["l"], "user");
    assert_eq!(c.healthcheck.as_ref().unwrap().interval, 5);
    // --entrypoint drops the image's CMD; --entrypoint "" resets it.
    let mut c = Config {
        entrypoint: Some(vec!["/mine".into()]),
        ..Default::default()
    };
    merge_image_config(&mut c, &image);
    assert!(c.cmd.is_none());
    let mut c = Config {
        entrypoint: Some(vec![]),
        cmd: Some(vec!["sh".into()]),
        ..Default::default()
    };
    merge_image_config(&mut c, &image);
    assert!(c.entrypoint.is_none());
    assert_eq!(c.cmd.as_deref().unwrap(), ["sh"]);
    let mut c = Config {
        healthcheck: Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    merge_image_config(&mut c, &image);
    assert_eq!(c.healthcheck.unwrap().test.unwrap(), ["NONE"]);
}

#[test]
fn mounts_volumes_tmpfs() {
    let t = tempfile::tempdir().unwrap();
    let vols = Volumes::open(t.path()).unwrap();
    let src = t.path().join("bindsrc");
    let c = Config {
        volumes: Some(
            [
                ("/data".to_string(), Default::default()),
                ("/covered".to_string(), Default::default()),
            ]
            .into(),
        ),
        ..cmd(&["true"])
    };
    let h = HostConfig {
        binds: Some(vec![
            format!("{}:/b:ro", src.display()),
            "named:/covered".into(),
        ]),
        mounts: Some(vec![Mount {
            kind: "tmpfs".into(),
            target: "/t".into(),
            ..Default::default()
        }]),
        tmpfs: Some([("/run".to_string(), "size=1m".to_string())].into()),
        ..Default::default()
    };
    let planned = plan_mounts(&c, &h, &vols).unwrap();
    assert!(src.is_dir(), "-v creates a missing bind source");
    assert_eq!(planned.len(), 4, "{planned:?}");
    let anon = planned.iter().find(|m| m.destination == "/data").unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(planned
        .iter()
        .any(|m| m.name == "named" && m.destination == "/covered"));
    assert!(!planned.iter().find(|m| m.destination == "/b").unwrap().rw);
    // --mount type=bind with a missing source is an error.
    let h2 = HostConfig {
        mounts: Some(vec![Mount {
            kind: "bind".into(),
            source: "/nonexistent/x".into(),
            target: "/x".into(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    assert!(plan_mounts(&cmd(&["true"]), &h2, &vols)
        .unwrap_err()
        .to_string()
        .contains("bind source path does not exist"));
    let dup = HostConfig {
        binds: Some(vec!["/a:/x".into(), "/b:/x".into()]),
        ..Default::default()
    };
    assert!(plan_mounts(&cmd(&["true"]), &dup, &vols).is_err());
    // Build: image content copied up into the new anonymous volume; tmpfs options.
    let (s, _r) = {
        let r = rootfs();
        let d = tempfile::tempdir().unwrap();
        let s = build(&request(ID, &c, &h, r.path(), d.path(), &planned)).unwrap();
        (serde_json::to_value(s).unwrap(), r)
    };
    assert_eq!(
        std::fs::read_to_string(Path::new(&anon.source).join("seed")).unwrap(),
        "from image"
    );
    let run = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/run")
        .unwrap();
    assert!(run["options"]
        .as_array()
        .unwrap()
        .contains(&json!("size=1048576")));
    let b = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/b")
        .unwrap();
    assert!(b["options"].as_array().unwrap().contains(&json!("ro")));
}

#[test]
fn etc_files() {
    let d = tempfile::tempdir().unwrap();
    let h = HostConfig {
        extra_hosts: Some(vec!["db:10.0.0.2".into()]),
        dns: Some(vec!["1.1.1.1".into()]),
        ..Default::default()
    };
    write_etc_files(d.path(), "box", &h).unwrap();
    assert_eq!(
        std::fs::read_to_string(d.path().join("hostname")).unwrap(),
        "box\n"
    );
    assert!(std::fs::read_to_string(d.path().join("hosts"))
        .unwrap()
        .contains("10.0.0.2\tdb"));
    assert_eq!(
        std::fs::read_to_string(d.path().join("resolv.conf")).unwrap(),
        "nameserver 1.1.1.1\n"
    );
    let text = "nameserver 127.0.0.53\nsearch example.com\noptions edns0\n";
    assert_eq!(
        resolv_conf(text, &HostConfig::default(), false),
        "search example.com\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
    );
    assert!(resolv_conf(text, &HostConfig::default(), true).contains("127.0.0.53"));
}
