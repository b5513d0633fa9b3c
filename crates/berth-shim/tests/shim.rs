//! The shim on the real kernel: a busybox bundle made by hand in a temp root, started through
//! `shim_proto::spawn` with the `berth-shim` binary of this crate.

use berth_engine::logfile::{self, ReadOptions, Stream};
use berth_engine::shim_proto::{self, AttachRequest, Event, ShimConfig, ShimError, ShimPaths};
use berth_engine::types::{HealthConfig, RestartPolicy};
use serde_json::{json, Value};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn skip() -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root");
        return true;
    }
    if !Path::new("/bin/busybox").exists() || which("runc").is_none() {
        eprintln!("skipped: needs /bin/busybox and runc (for `runc spec`)");
        return true;
    }
    false
}

fn which(p: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(p))
            .find(|c| c.exists())
    })
}

/// A container bundle under a temp root; cleans up whatever the test left running.
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runroot: PathBuf,
    id: String,
    paths: ShimPaths,
}

impl Env {
    fn new(args: &[&str], tweak: impl FnOnce(&mut Value)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // Long enough that socket paths pass sun_path's 108 bytes, as temp roots do with
        // 64-hex ids: the shim must cope.
        let runroot = dir.path().join(format!("run{}", "-".repeat(64)));
        let id = format!(
            "shimtest{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let paths = ShimPaths::new(&root, &runroot, &id);
        std::fs::create_dir_all(&paths.container_dir).unwrap();
        std::fs::create_dir_all(&paths.run_dir).unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for tool in ["sh", "echo", "sleep", "cat", "true", "false", "read"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(tool)).unwrap();
        }
        let st = std::process::Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&paths.container_dir)
            .status()
            .unwrap();
        assert!(st.success());
        let cfg_path = paths.container_dir.join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        spec["root"] = json!({"path": rootfs, "readonly": false});
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        spec["linux"]["cgroupsPath"] = json!(format!("/berth/{id}"));
        tweak(&mut spec);
        std::fs::write(&cfg_path, serde_json::to_vec(&spec).unwrap()).unwrap();
        std::fs::write(
            paths.container_dir.join("state.json"),
            r#"{"status":"created"}"#,
        )
        .unwrap();
        Env {
            _dir: dir,
            root,
            runroot,
            id,
            paths,
        }
    }

    fn spawn_with(
        &self,
        cfg: ShimConfig,
        attach: Option<AttachRequest<'_>>,
    ) -> Result<shim_proto::Spawned, ShimError> {
        shim_proto::spawn(&shim_proto::SpawnOptions {
            id: self.id.clone(),
            root: self.root.clone(),
            runroot: self.runroot.clone(),
            // BERTH_SHIM_TEST_BIN: measure another build (e.g. the release binary).
            berth_bin: Some(
                std::env::var_os("BERTH_SHIM_TEST_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"))),
            ),
            config: cfg,
            attach,
        })
    }

    fn state(&self) -> Value {
        std::fs::read(self.paths.container_dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }

    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let s = self.state();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}: {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<(Stream, String)> {
        let mut v = Vec::new();
        logfile::read(
            &self
                .paths
                .container_dir
                .join(format!("{}-json.log", self.id)),
            &ReadOptions::default(),
            |e| {
                v.push((e.stream, String::from_utf8_lossy(&e.log).into_owned()));
                true
            },
        )
        .unwrap();
        v
    }

    fn shim_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.paths.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(pid) = self.shim_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let rt = berth_runtime::Runtime::new(self.paths.runtime_root.clone(), false);
        let _ = rt.delete(&self.id, true);
        // The shared parent stays between containers; the last fixture out removes it.
        let _ = berth_cgroups::remove_unused_default_parent();
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn logs_and_exit_status_are_recorded() {
    if skip() {
        return;
    }
    let env = Env::new(&["sh", "-c", "echo out; echo err >&2; exit 3"], |_| {});
    let s = env.spawn_with(ShimConfig::default(), None).unwrap();
    assert!(s.pid > 0 && s.shim_pid > 0);
    let st = env.wait_for("exit", 10, |s| s["status"] == "exited");
    assert_eq!(st["exit_code"], 3);
    assert_eq!(st["oom_killed"], false);
    assert!(st["finished_at"].as_str().unwrap().ends_with('Z'));
    let log = env.log();
    assert!(log.contains(&(Stream::Stdout, "out\n".into())), "{log:?}");
    assert!(log.contains(&(Stream::Stderr, "err\n".into())), "{log:?}");
    // The shim cleaned up after itself.
    let start = Instant::now();
    while env.paths.socket().exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!env.paths.socket().exists());
    assert!(!env.paths.runtime_root.join(&env.id).exists());
}

#[test]
fn a_missing_command_is_127_with_docker_text() {
    if skip() {
        return;
    }
    let env = Env::new(&["nosuchcmd"], |_| {});
    match env.spawn_with(ShimConfig::default(), None) {
        Err(ShimError::Start { code, message }) => {
            assert_eq!(code, 127);
            assert!(
                message.contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn on_failure_restarts_up_to_the_limit() {
    if skip() {
        return;
    }
    let env = Env::new(&["sh", "-c", "echo run; exit 1"], |_| {});
    let cfg = ShimConfig {
        restart: RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: 2,
        },
        ..Default::default()
    };
    env.spawn_with(cfg, None).unwrap();
    let st = env.wait_for("the last exit", 15, |s| {
        s["status"] == "exited" && s["restart_count"] == 2
    });
    assert_eq!(st["exit_code"], 1);
    let runs = env.log().iter().filter(|(_, l)| l == "run\n").count();
    assert_eq!(runs, 3);
}

#[test]
fn always_restarts_until_stopped_by_hand() {
    if skip() {
        return;
    }
    let env = Env::new(&["sh", "-c", "exit 0"], |_| {});
    let cfg = ShimConfig {
        restart: RestartPolicy {
            name: "always".into(),
            maximum_retry_count: 0,
        },
        ..Default::default()
    };
    env.spawn_with(cfg, None).unwrap();
    env.wait_for("two restarts", 15, |s| {
        s["restart_count"].as_i64() >= Some(2)
    });
    // What `stop` does: mark it, then the next exit is final.
    {
        // As the engine's state::update does: under the flock of the container directory.
        let dir = std::fs::File::open(&env.paths.container_dir).unwrap();
        let _l = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).unwrap();
        let mut st = env.state();
        st["manually_stopped"] = json!(true);
        let tmp = env.paths.container_dir.join(".state.test");
        std::fs::write(&tmp, serde_json::to_vec(&st).unwrap()).unwrap();
        std::fs::rename(&tmp, env.paths.container_dir.join("state.json")).unwrap();
    }
    env.wait_for("the final exit", 15, |s| s["status"] == "exited");
    let shim = env.shim_pid();
    std::thread::sleep(Duration::from_millis(300));
    assert!(shim.is_none_or(|p| !alive(p)));
}

#[test]
fn health_turns_unhealthy() {
    if skip() {
        return;
    }
    let env = Env::new(&["sleep", "30"], |_| {});
    let cfg = ShimConfig {
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "echo probing; exit 1".into()]),
            interval: 100_000_000,
            timeout: 5_000_000_000,
            retries: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = env.spawn_with(cfg, None).unwrap();
    let st = env.wait_for("unhealthy", 20, |s| s["health"]["Status"] == "unhealthy");
    let log = st["health"]["Log"].as_array().unwrap();
    assert!(log.len() >= 2);
    assert_eq!(log[0]["ExitCode"], 1);
    assert_eq!(log[0]["Output"], "probing\n");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let st = env.wait_for("exit", 10, |s| s["status"] == "exited");
    assert_eq!(st["exit_code"], 137);
}

#[test]
fn a_health_check_that_hangs_times_out() {
    if skip() {
        return;
    }
    let env = Env::new(&["sleep", "30"], |_| {});
    let cfg = ShimConfig {
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), "sleep".into(), "20".into()]),
            // Long enough that the next probe has not begun when the test looks.
            interval: 1_000_000_000,
            timeout: 200_000_000,
            retries: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = env.spawn_with(cfg, None).unwrap();
    let st = env.wait_for("unhealthy", 20, |s| s["health"]["Status"] == "unhealthy");
    let log = &st["health"]["Log"][0];
    assert_eq!(log["ExitCode"], -1);
    assert_eq!(log["Output"], "Health check exceeded timeout (0.2s)");
    // The probe's own process was killed too: only the container's sleep is left.
    std::thread::sleep(Duration::from_millis(100));
    let sleeps = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x0020\x00")
        })
        .filter(|p| alive(*p))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup")).is_ok_and(|c| c.contains(&env.id))
        })
        .count();
    assert_eq!(sleeps, 0);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    env.wait_for("exit", 10, |s| s["status"] == "exited");
}

#[test]
fn foreground_attach_at_spawn_feeds_stdin_and_reports_the_exit() {
    if skip() {
        return;
    }
    let env = Env::new(
        &["sh", "-c", "read x; echo got $x; echo e >&2; exit 4"],
        |_| {},
    );
    let (in_r, in_w) = nix::unistd::pipe().unwrap();
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let (err_r, err_w) = nix::unistd::pipe().unwrap();
    let cfg = ShimConfig {
        open_stdin: true,
        stdin_once: true,
        ..Default::default()
    };
    let s = env
        .spawn_with(
            cfg,
            Some(AttachRequest {
                stdin: Some(in_r.as_fd()),
                stdout: out_w.as_fd(),
                stderr: err_w.as_fd(),
                tty_size: None,
                detach_keys: &[],
            }),
        )
        .unwrap();
    drop((in_r, out_w, err_w));
    let mut control = s.control.expect("a control channel");
    nix::unistd::write(&in_w, b"hi\n").unwrap();
    drop(in_w);
    assert_eq!(control.next_event().unwrap(), Event::Exit(4));
    use std::io::Read;
    let mut out = String::new();
    std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
    assert_eq!(out, "got hi\n");
    let mut err = String::new();
    std::fs::File::from(err_r).read_to_string(&mut err).unwrap();
    assert_eq!(err, "e\n");
}

#[test]
fn attach_to_a_running_container_and_detach() {
    if skip() {
        return;
    }
    let env = Env::new(&["sh", "-c", "while read x; do echo echo:$x; done"], |_| {});
    let cfg = ShimConfig {
        open_stdin: true,
        ..Default::default()
    };
    let s = env.spawn_with(cfg, None).unwrap();
    let mut c = shim_proto::Control::connect(&env.paths).unwrap();
    let (in_r, in_w) = nix::unistd::pipe().unwrap();
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    c.attach(&AttachRequest {
        stdin: Some(in_r.as_fd()),
        stdout: out_w.as_fd(),
        stderr: out_w.as_fd(),
        tty_size: None,
        detach_keys: &[],
    })
    .unwrap();
    assert_eq!(c.next_event().unwrap(), Event::Attached);
    drop((in_r, out_w));
    nix::unistd::write(&in_w, b"a\n").unwrap();
    let mut buf = [0u8; 64];
    let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&out_r), &mut buf).unwrap();
    assert_eq!(&buf[..n], b"echo:a\n");
    nix::unistd::write(&in_w, b"\x10\x11").unwrap();
    assert_eq!(c.next_event().unwrap(), Event::Detached);
    // Still running after the detach.
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(s.pid));
    assert_eq!(env.state()["status"], "running");
}

#[test]
fn auto_remove_without_any_client() {
    if skip() {
        return;
    }
    let env = Env::new(&["true"], |_| {});
    let cfg = ShimConfig {
        auto_remove: true,
        ..Default::default()
    };
    env.spawn_with(cfg, None).unwrap();
    let start = Instant::now();
    while env.paths.container_dir.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_shim_leaves_a_state_to_reconcile() {
    if skip() {
        return;
    }
    let env = Env::new(&["sleep", "30"], |_| {});
    let s = env.spawn_with(ShimConfig::default(), None).unwrap();
    env.wait_for("running", 5, |s| s["status"] == "running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let st = env.state();
    // The state still names the dead shim: `system check` sees shim_pid gone and reconciles.
    assert_eq!(st["status"], "running");
    assert_eq!(st["shim_pid"], s.shim_pid);
    assert!(!alive(s.shim_pid));
}

#[test]
fn shim_memory_is_small() {
    if skip() {
        return;
    }
    let env = Env::new(&["sleep", "30"], |_| {});
    let s = env.spawn_with(ShimConfig::default(), None).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", s.shim_pid)).unwrap();
    let kb = |key: &str| -> u64 {
        rollup
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // File pages count as "private" while only this process maps them, and as dirty while a
    // freshly linked binary is not yet written back: what a shim really costs is its anonymous
    // memory (heap, stack, relocated data), which 1000 shims do not share.
    let private = kb("Private_Clean:") + kb("Private_Dirty:");
    eprintln!(
        "shim {}: Anonymous {} kB (Rss {} kB, Pss {} kB, Private {} kB incl. file pages)",
        s.shim_pid,
        kb("Anonymous:"),
        kb("Rss:"),
        kb("Pss:"),
        private,
    );
    assert!(kb("Anonymous:") < 2048, "{rollup}");
    if std::env::var_os("SHIM_MEM_PAUSE").is_some() {
        std::thread::sleep(Duration::from_secs(6));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    env.wait_for("exit", 10, |s| s["status"] == "exited");
}

#[test]
fn tty_gets_a_pty_with_the_clients_size() {
    if skip() {
        return;
    }
    let env = Env::new(&["sh", "-c", "stty size; tty"], |spec| {
        spec["process"]["terminal"] = json!(true);
    });
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let cfg = ShimConfig {
        tty: true,
        ..Default::default()
    };
    let s = env
        .spawn_with(
            cfg,
            Some(AttachRequest {
                stdin: None,
                stdout: out_w.as_fd(),
                stderr: out_w.as_fd(),
                tty_size: Some((33, 120)),
                detach_keys: &[],
            }),
        )
        .unwrap();
    drop(out_w);
    let mut control = s.control.unwrap();
    assert_eq!(control.next_event().unwrap(), Event::Exit(0));
    use std::io::Read;
    let mut out = String::new();
    std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
    assert!(out.starts_with("33 120\r\n/dev/pts/"), "{out:?}");
    // The log has the pty's lines too (a pty is one stream: stdout).
    let log = env.log();
    assert_eq!(log[0], (Stream::Stdout, "33 120\r\n".into()));
}

#[test]
fn an_oom_kill_is_recorded() {
    if skip() {
        return;
    }
    let env = Env::new(
        &["sh", "-c", "x=$(yes | head -c 200000000); echo survived"],
        |spec| {
            spec["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}});
        },
    );
    std::os::unix::fs::symlink("busybox", env_rootfs(&env).join("bin/head")).unwrap();
    env.spawn_with(ShimConfig::default(), None).unwrap();
    let st = env.wait_for("exit", 20, |s| s["status"] == "exited");
    assert_eq!(st["oom_killed"], true, "{st}");
    assert_eq!(st["exit_code"], 137);
}

fn env_rootfs(env: &Env) -> PathBuf {
    env._dir.path().join("rootfs")
}

#[test]
fn a_vanished_foreground_client_does_not_stop_the_shim() {
    if skip() {
        return;
    }
    // What a `run --rm` CLI killed with -9 leaves: its end of the control socket and its stdio
    // close while the container runs. The shim carries on, logs, and removes the container.
    let env = Env::new(&["sh", "-c", "sleep 0.3; echo late; echo more"], |_| {});
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let cfg = ShimConfig {
        auto_remove: true,
        ..Default::default()
    };
    let s = env
        .spawn_with(
            cfg,
            Some(AttachRequest {
                stdin: None,
                stdout: out_w.as_fd(),
                stderr: out_w.as_fd(),
                tty_size: None,
                detach_keys: &[],
            }),
        )
        .unwrap();
    drop((s.control, out_r, out_w));
    let start = Instant::now();
    while env.paths.container_dir.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(s.shim_pid) || {
            std::thread::sleep(Duration::from_millis(300));
            !alive(s.shim_pid)
        }
    );
}
