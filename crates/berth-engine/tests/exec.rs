//! `Engine::exec` on the real kernel. The runtime clones, which is only allowed in a
//! single-threaded process: this test has no harness (`harness = false`), it is `main`.

use berth_engine::types::{Config, CreateBody, HostConfig};
use berth_engine::{
    CreateOptions, Engine, EngineOptions, ExecRequest, RemoveOptions, StartOptions,
};
use std::path::{Path, PathBuf};

fn shim_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    ["berth", "berth-shim"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

struct Cleanup<'a>(&'a Engine, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(
            &self.1,
            RemoveOptions {
                force: true,
                volumes: true,
            },
        );
        // The shared parent stays between containers; the last one out removes it.
        let _ = berth_cgroups::remove_unused_default_parent();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("exec: test");
        return;
    }
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/bin/busybox").exists() {
        println!("exec: skipped (needs root and /bin/busybox)");
        return;
    }
    let Some(bin) = shim_bin() else {
        println!("exec: skipped (no berth binary; cargo build -p berth or set BERTH_BIN)");
        return;
    };
    let dir = tempfile::Builder::new().prefix("bx").tempdir().unwrap();
    let engine = Engine::open(EngineOptions {
        root: dir.path().join("root"),
        runroot: dir.path().join("r"),
        driver: berth_image::Driver::Overlay,
    })
    .unwrap()
    .with_berth_bin(bin);
    engine
        .images()
        .unwrap()
        .bootstrap_busybox(Path::new("/bin/busybox"))
        .unwrap();
    let id = engine
        .create(CreateOptions {
            name: Some("ex".into()),
            body: CreateBody {
                config: Config {
                    image: "busybox".into(),
                    cmd: Some(vec!["sleep".into(), "1000".into()]),
                    env: Some(vec!["FROM_CONTAINER=1".into()]),
                    ..Default::default()
                },
                host_config: HostConfig {
                    network_mode: "none".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        })
        .unwrap()
        .id;
    let _cleanup = Cleanup(&engine, id.clone());
    engine.start(&id, StartOptions::default()).unwrap();
    let req = |cmd: &str| ExecRequest {
        cmd: vec!["sh".into(), "-c".into(), cmd.into()],
        ..Default::default()
    };
    assert_eq!(engine.exec("ex", &req("exit 7")).unwrap(), 7);
    // The container's env, plus -e; -u and -w.
    let mut r =
        req("test \"$FROM_CONTAINER$X\" = 12 && test \"$(id -u)\" = 65534 && test \"$PWD\" = /tmp");
    r.env = vec!["X=2".into()];
    r.user = "65534".into();
    r.workdir = "/tmp".into();
    assert_eq!(engine.exec("ex", &r).unwrap(), 0);
    // A missing command: docker's 127.
    let err = engine
        .exec(
            "ex",
            &ExecRequest {
                cmd: vec!["/nonexistent".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.exit_code(), 127, "{err}");
    // -d: returns at once, the process runs on.
    let mut d = req("touch /tmp/detached-ran; sleep 1");
    d.detach = true;
    assert_eq!(engine.exec("ex", &d).unwrap(), 0);
    let mut check = 1;
    for _ in 0..100 {
        check = engine
            .exec("ex", &req("test -e /tmp/detached-ran"))
            .unwrap();
        if check == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(check, 0);
    println!("exec: ok");
}
