//! Shared helpers: a private Berth (`--root`, `--runroot`) per test with the bootstrapped busybox
//! image, commands with timeouts, and cleanup that removes containers, kills leftover processes,
//! removes their cgroups and unmounts everything under the scratch dir, even when a test fails.

#![allow(dead_code)]

use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `berth` binary under test.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Prints why a test is skipped and returns from it.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        eprintln!("SKIP: {}", format!($($arg)*));
        return;
    }};
}

/// Returns from the test (skipping) unless running as root.
#[macro_export]
macro_rules! need_root {
    () => {
        if !nix::unistd::Uid::effective().is_root() {
            $crate::skip!("needs root");
        }
    };
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this process and call: `<prefix>-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Formats a finished command for assertion messages.
pub fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits for `child` up to `max`; kills it (and fails) on timeout.
pub fn wait_output(mut child: Child, max: Duration, what: &str) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().unwrap(),
            Ok(None) if start.elapsed() > max => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{}",
                    describe(&format!("TIMEOUT after {max:?}: {what}"), &out)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// A private Berth: root and runroot in a scratch dir, busybox bootstrapped.
pub struct Berth {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Berth {
    /// A fresh store with the busybox image (`berth image bootstrap busybox`).
    pub fn new() -> Berth {
        let b = Berth::empty();
        b.ok(&["image", "bootstrap", "busybox"]);
        b
    }

    /// A fresh store without images.
    pub fn empty() -> Berth {
        let base = std::env::var_os("BERTH_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let name = unique("bt");
        let dir = base.join(format!("berth-ctr-{name}"));
        fs::create_dir_all(&dir).unwrap();
        // The runroot holds unix sockets (`containers/<64 hex>/shim.sock`): keep it short, as
        // /run/berth is, or the socket path passes the 108-byte sun_path limit.
        let runroot = PathBuf::from("/run").join(&name);
        Berth {
            root: dir.join("root"),
            runroot,
            dir,
        }
    }

    /// `berth --root R --runroot RR` ready for arguments.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c.env_remove("BERTH_ROOT").env_remove("BERTH_RUNROOT");
        // Registry settings and credentials of this test alone (run/create may pull).
        c.env("BERTH_REGISTRIES_CONFIG", self.dir.join("registries.json"))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .env_remove("BERTH_INSECURE_REGISTRIES");
        c
    }

    /// Runs `berth ARGS` (stdin closed, 60 s limit).
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        wait_output(
            child,
            Duration::from_secs(60),
            &format!("berth {}", args.join(" ")),
        )
    }

    /// Runs `berth ARGS` with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = wait_output(
            child,
            Duration::from_secs(60),
            &format!("berth {}", args.join(" ")),
        );
        let _ = writer.join();
        out
    }

    /// Runs `berth ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("berth {}", args.join(" ")), &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `berth ARGS`, asserts it exits `code`; returns (stdout, stderr).
    pub fn code(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            describe(&format!("berth {}", args.join(" ")), &out)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `berth run --rm ARGS` (busybox etc. given by the caller): stdout, asserting success.
    pub fn sh(&self, opts: &[&str], script: &str) -> String {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        self.ok(&args)
    }

    /// `run -d --network none OPTS busybox CMD...`: the new container's full ID.
    pub fn detached(&self, opts: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--network", "none"];
        args.extend_from_slice(opts);
        args.push("busybox");
        args.extend_from_slice(cmd);
        let id = self.ok(&args).trim().to_string();
        assert_eq!(id.len(), 64, "run -d prints the full ID: {id:?}");
        id
    }

    /// `inspect` of one container, parsed.
    pub fn inspect(&self, name: &str) -> Value {
        let out = self.ok(&["container", "inspect", name]);
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("inspect {name}: not JSON ({e}): {out}"));
        v.as_array().expect("array")[0].clone()
    }

    /// `inspect -f TEMPLATE NAME`, trimmed.
    pub fn field(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, name])
            .trim()
            .to_string()
    }

    /// Polls `inspect -f TEMPLATE` until it prints `want` (up to `max`).
    pub fn wait_field(&self, name: &str, template: &str, want: &str, max: Duration) {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < max {
            last = self.field(name, template);
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{name}: {template} is {last:?}, wanted {want:?} within {max:?}");
    }

    /// Polls until `f` is true (up to `max`).
    pub fn wait_until(&self, what: &str, max: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < max {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out after {max:?} waiting for {what}");
    }

    /// Full IDs of all containers.
    pub fn all_ids(&self) -> Vec<String> {
        let out = self.run(&["ps", "-aq", "--no-trunc"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| l.len() == 64)
            .collect()
    }

    /// A file under the scratch dir.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Containers first, through berth (stops shims, unmounts, removes cgroups).
        let ids = self.all_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self
                .cmd()
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Shims of `--rm` containers finish their removal after `run` returns: give them a
        // moment. Then whatever berth could not stop: shims naming our dirs, then container
        // processes left in cgroups named after our containers.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !users_of(&self.dir).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in users_of(&self.dir) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for id in &ids {
            kill_cgroup(id);
        }
        // The shared parent stays between containers; the last fixture out removes it.
        let _ = berth_cgroups::remove_unused_default_parent();
        std::thread::sleep(Duration::from_millis(50));
        for id in &ids {
            remove_cgroup(id);
        }
        for pid in users_of(&self.runroot) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let mut leaked = mounts_under(&self.dir);
        leaked.extend(mounts_under(&self.runroot));
        leaked.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in leaked {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(&self.runroot);
    }
}

/// The cgroup directories of container `id` on this host (v1 hierarchies and v2).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    let direct = base.join("berth").join(id);
    if direct.is_dir() {
        dirs.push(direct);
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.filter_map(|e| e.ok()) {
            let d = e.path().join("berth").join(id);
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    dirs
}

fn kill_cgroup(id: &str) {
    for d in cgroup_dirs(id) {
        if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        // A frozen cgroup must thaw for SIGKILL to land.
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        let _ = fs::write(d.join("cgroup.freeze"), "0");
    }
}

fn remove_cgroup(id: &str) {
    for d in cgroup_dirs(id) {
        let _ = fs::remove_dir(&d);
    }
}

/// Pids (other than ours) whose command line names a path at or under `dir`.
pub fn users_of(dir: &Path) -> Vec<u32> {
    let prefix = dir.to_string_lossy().to_string();
    let me = std::process::id();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cl| {
                    cl.split(|b| *b == 0)
                        .any(|arg| String::from_utf8_lossy(arg).starts_with(&prefix))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Mount points strictly under `dir`, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.to_string_lossy());
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|s| {
            s.replace("\\040", " ")
                .replace("\\011", "\t")
                .replace("\\012", "\n")
                .replace("\\134", "\\")
        })
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// Pids of the `berth shim` processes working on the store at `root` (from /proc/*/cmdline).
pub fn shims_of(root: &Path) -> Vec<i32> {
    let root = root.to_string_lossy();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<_> = cmdline
                .split(|b| *b == 0)
                .map(String::from_utf8_lossy)
                .collect();
            args.get(1).is_some_and(|a| a == "shim")
                && args.windows(2).any(|w| w[0] == "--root" && w[1] == root)
        })
        .collect()
}

/// Whether `tool` is an executable on PATH.
pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// The capability bits of a `CapEff:` hex value.
pub fn cap_bits(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}
