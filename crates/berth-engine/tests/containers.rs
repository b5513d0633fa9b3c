//! The engine on the real kernel: busybox containers in a temp root/runroot, run by the real
//! shim (`$BERTH_BIN`, else `berth` or `berth-shim` next to this test's target directory).
//! Every test cleans up (containers killed and removed, mounts gone) even when it fails.

use berth_engine::types::{Config, CreateBody, HostConfig};
use berth_engine::{
    CreateOptions, Engine, EngineError, EngineOptions, ListOptions, RemoveOptions, StartOptions,
    Status, StopOptions, WaitCondition,
};
use berth_oci::{Classify, ErrorClass};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The shim binary: `$BERTH_BIN`, else `berth`/`berth-shim` in this test's target dir.
fn shim_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?; // target/debug/deps -> target/debug
    ["berth", "berth-shim"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn skip() -> Option<PathBuf> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: needs /bin/busybox");
        return None;
    }
    let bin = shim_bin();
    if bin.is_none() {
        eprintln!("skipped: no berth binary (build it: cargo build -p berth, or set BERTH_BIN)");
    }
    bin
}

/// A temp root with busybox; removes every container (forced) on drop.
struct Env {
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Env> {
        let bin = skip()?;
        // Short: the shim's socket path (runroot/containers/<64 hex>/shim.sock) must fit in
        // sun_path's 108 bytes.
        COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new().prefix("be").tempdir().unwrap();
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
        Some(Env { engine, _dir: dir })
    }

    fn create(
        &self,
        name: Option<&str>,
        cmd: &[&str],
        tweak: impl FnOnce(&mut CreateBody),
    ) -> String {
        let mut body = CreateBody {
            config: Config {
                image: "busybox".into(),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            host_config: HostConfig {
                network_mode: "none".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        tweak(&mut body);
        self.engine
            .create(CreateOptions {
                name: name.map(str::to_string),
                body,
            })
            .unwrap()
            .id
    }

    fn run(&self, cmd: &[&str]) -> String {
        let id = self.create(None, cmd, |_| {});
        self.engine.start(&id, StartOptions::default()).unwrap();
        id
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(list) = self.engine.list(ListOptions {
            all: true,
            size: false,
        }) {
            for l in list {
                let _ = self.engine.remove(
                    &l.record.id,
                    RemoveOptions {
                        force: true,
                        volumes: true,
                    },
                );
            }
        }
        // Anything still mounted under the temp runroot (a failed test).
        let run = self.engine.paths().runroot.join("containers");
        if let Ok(dirs) = std::fs::read_dir(&run) {
            for d in dirs.flatten() {
                let _ =
                    nix::mount::umount2(&d.path().join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        // The shared parent stays between containers; the last fixture out removes it.
        let _ = berth_cgroups::remove_unused_default_parent();
    }
}

fn wait_status(e: &Engine, id: &str, want: Status, secs: u64) -> berth_engine::StateFile {
    let start = Instant::now();
    loop {
        let s = e.state(id).unwrap();
        if s.status == want {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {want:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn create_start_wait_inspect_remove() {
    let Some(env) = Env::new() else { return };
    let e = &env.engine;
    let id = env.create(Some("first"), &["sh", "-c", "echo hello; exit 3"], |_| {});
    assert_eq!(id.len(), 64);
    let j = e.inspect("first", false).unwrap();
    assert_eq!(j.name, "/first");
    assert_eq!(j.state.status, "created");
    assert_eq!(j.path, "sh");
    assert_eq!(j.args, vec!["-c", "echo hello; exit 3"]);
    assert_eq!(j.state.started_at, "0001-01-01T00:00:00Z");
    // Lookup by prefix.
    assert_eq!(e.lookup(&id[..8]).unwrap().id, id);

    let started = e.start("first", StartOptions::default()).unwrap();
    assert!(started.pid > 0);
    let w = e.wait(&id, WaitCondition::NotRunning).unwrap();
    assert_eq!(w.status_code, 3);
    let j = e.inspect(&id, false).unwrap();
    assert_eq!(j.state.status, "exited");
    assert_eq!(j.state.exit_code, 3);
    assert!(!j.state.running);
    let mut lines = Vec::new();
    e.logs(&id, &Default::default(), false, &mut |l| {
        lines.push(String::from_utf8_lossy(&l.log).into_owned());
        true
    })
    .unwrap();
    assert_eq!(lines, vec!["hello\n"]);
    // ps: not listed without -a, listed with.
    assert!(e.list(ListOptions::default()).unwrap().is_empty());
    let all = e
        .list_summaries(ListOptions {
            all: true,
            size: false,
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].names, vec!["/first"]);
    assert!(all[0].status.starts_with("Exited (3)"), "{}", all[0].status);
    // Restartable after exit.
    e.start(&id, StartOptions::default()).unwrap();
    assert_eq!(
        e.wait(&id, WaitCondition::NotRunning).unwrap().status_code,
        3
    );

    e.remove(&id, RemoveOptions::default()).unwrap();
    let err = e.inspect(&id, false).unwrap_err();
    assert_eq!(err.to_string(), format!("No such container: {id}"));
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert!(!e.paths().container_dir(&id).exists());
    assert!(!e.paths().run_dir(&id).exists());
}

#[test]
fn stop_kill_and_rm_of_running_containers() {
    let Some(env) = Env::new() else { return };
    let e = &env.engine;
    let id = env.run(&[
        "sh",
        "-c",
        "trap 'exit 143' TERM; while true; do sleep 0.1; done",
    ]);
    let s = e.state(&id).unwrap();
    assert_eq!(s.status, Status::Running);
    assert_eq!(e.list(ListOptions::default()).unwrap().len(), 1);
    // rm without -f refuses, with docker's text.
    let err = e.remove(&id, RemoveOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "You cannot remove a running container {id}. Stop the container before attempting \
             removal or force remove"
        )
    );
    assert_eq!(err.class(), ErrorClass::Conflict);
    // A shell that exits on SIGTERM stops at once.
    let t = Instant::now();
    e.stop(&id, &StopOptions::default()).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    let s = e.state(&id).unwrap();
    assert_eq!(s.status, Status::Exited);
    assert_eq!(s.exit_code, 143);
    // stop of a stopped container is a no-op.
    e.stop(&id, &StopOptions::default()).unwrap();

    // pid 1 ignores SIGTERM without a handler (sleep): killed after the timeout.
    let id2 = env.run(&["sleep", "1000"]);
    let t = Instant::now();
    e.stop(
        &id2,
        &StopOptions {
            timeout: Some(1),
            signal: None,
        },
    )
    .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(e.state(&id2).unwrap().exit_code, 137);

    // kill -s, and kill of a stopped container.
    let id3 = env.run(&[
        "sh",
        "-c",
        "trap 'exit 10' USR1; while true; do sleep 0.1; done",
    ]);
    e.kill(&id3, Some("USR1")).unwrap();
    let s = wait_status(e, &id3, Status::Exited, 10);
    assert_eq!(s.exit_code, 10);
    let err = e.kill(&id3, None).unwrap_err();
    assert!(matches!(err, EngineError::NotRunning(_)), "{err}");

    // rm -f of a running one.
    let id4 = env.run(&["sleep", "1000"]);
    e.remove(
        &id4,
        RemoveOptions {
            force: true,
            volumes: false,
        },
    )
    .unwrap();
    assert!(e.lookup(&id4).is_err());
}

#[test]
fn bad_input_leaves_nothing_behind() {
    let Some(env) = Env::new() else { return };
    let e = &env.engine;
    let count = |e: &Engine| {
        e.list(ListOptions {
            all: true,
            size: false,
        })
        .unwrap()
        .len()
    };
    let err = e
        .create(CreateOptions {
            name: None,
            body: CreateBody {
                config: Config {
                    image: "nosuchimage".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "No such image: nosuchimage");
    assert_eq!(err.class(), ErrorClass::NotFound);

    let id = env.create(Some("taken"), &["true"], |_| {});
    let err = e
        .create(CreateOptions {
            name: Some("taken".into()),
            body: CreateBody {
                config: Config {
                    image: "busybox".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Conflict. The container name \"/taken\" is already in use by container \"{id}\". \
             You have to remove (or rename) that container to be able to reuse that name."
        )
    );
    let err = e
        .create(CreateOptions {
            name: Some("bad name".into()),
            body: Default::default(),
        })
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidArgument);
    // A missing --mount bind source: nothing is created.
    let before_snaps = e.images().unwrap().snapshotter().list().unwrap().len();
    let err = e
        .create(CreateOptions {
            name: Some("mountfail".into()),
            body: CreateBody {
                config: Config {
                    image: "busybox".into(),
                    cmd: Some(vec!["true".into()]),
                    ..Default::default()
                },
                host_config: HostConfig {
                    mounts: Some(vec![berth_engine::types::Mount {
                        kind: "bind".into(),
                        source: "/nonexistent/berth-test".into(),
                        target: "/x".into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                ..Default::default()
            },
        })
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidArgument, "{err}");
    assert_eq!(count(e), 1);
    assert_eq!(
        e.images().unwrap().snapshotter().list().unwrap().len(),
        before_snaps
    );

    // A command that does not exist: start fails with 127, the container stays (docker).
    let id = env.create(Some("nocmd"), &["/nonexistent"], |_| {});
    let err = e.start(&id, StartOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 127, "{err}");
    let j = e.inspect(&id, false).unwrap();
    assert!(!j.state.running);
    assert!(!j.state.error.is_empty());
    assert!(!berth_engine_is_mounted(&e.paths().rootfs(&id)));
}

fn berth_engine_is_mounted(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = p.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

#[test]
fn pause_restart_rename_top_stats() {
    let Some(env) = Env::new() else { return };
    let e = &env.engine;
    let id = env.create(Some("svc"), &["sleep", "1000"], |_| {});
    e.start("svc", StartOptions::default()).unwrap();

    // top: the container's sleep, from the host's ps.
    let top = e.top("svc", "").unwrap();
    assert!(top.titles.contains(&"PID".to_string()), "{top:?}");
    assert!(
        top.processes
            .iter()
            .any(|p| p.last().unwrap().contains("sleep 1000")),
        "{top:?}"
    );
    // stats: a live sample.
    let s = e.stats("svc").unwrap();
    assert_eq!(s.name, "/svc");
    assert!(s.pids_stats.current >= 1, "{s:?}");
    assert!(s.memory_stats.limit > 0);

    // exec: tests/exec.rs (it needs a single-threaded process).

    // pause / unpause.
    e.pause("svc").unwrap();
    assert_eq!(e.state(&id).unwrap().status, Status::Paused);
    assert!(matches!(e.pause("svc"), Err(EngineError::AlreadyPaused(_))));
    let err = e.remove("svc", RemoveOptions::default()).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("You cannot remove a paused container"));
    e.unpause("svc").unwrap();
    assert_eq!(e.state(&id).unwrap().status, Status::Running);
    assert!(matches!(e.unpause("svc"), Err(EngineError::NotPaused(_))));

    // restart: a new process.
    let pid1 = e.state(&id).unwrap().pid;
    e.restart(
        "svc",
        &StopOptions {
            timeout: Some(0),
            signal: None,
        },
    )
    .unwrap();
    let s = e.state(&id).unwrap();
    assert_eq!(s.status, Status::Running);
    assert_ne!(s.pid, pid1);

    // rename.
    e.rename("svc", "svc2").unwrap();
    assert_eq!(e.inspect("svc2", false).unwrap().name, "/svc2");
    assert!(e.lookup("svc").is_err());
    let other = env.create(Some("other"), &["true"], |_| {});
    let err = e.rename("other", "svc2").unwrap_err();
    assert!(
        err.to_string().contains(&format!("by container \"{id}\"")),
        "{err}"
    );

    // prune removes the stopped one only.
    let report = e.prune(&[], None).unwrap();
    assert_eq!(report.containers_deleted, Some(vec![other]));
    assert!(e.lookup(&id).is_ok());
}

#[test]
fn a_killed_shim_is_reconciled() {
    let Some(env) = Env::new() else { return };
    let e = &env.engine;
    let id = env.run(&["sleep", "1000"]);
    let s = e.state(&id).unwrap();
    assert!(s.shim_pid > 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Wait for the shim to be gone (it is nobody's child here: reaped by init).
    let t = Instant::now();
    while berth_engine::state::process_alive(s.shim_pid, s.shim_start_time, &s.boot_id) {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = e.check(false).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    let report = e.check(true).unwrap();
    assert_eq!(report.fixed.len(), 1, "{report:?}");
    let s2 = e.state(&id).unwrap();
    assert_eq!(s2.status, Status::Exited);
    assert_eq!(s2.exit_code, 137);
    // The orphaned container process was killed.
    let t = Instant::now();
    while berth_engine::state::process_alive(s.pid, s.pid_start_time, &s.boot_id) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "container process survived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // And it can start again.
    e.start(&id, StartOptions::default()).unwrap();
    assert_eq!(e.state(&id).unwrap().status, Status::Running);
}
