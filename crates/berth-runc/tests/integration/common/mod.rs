//! Test support: bundles with a busybox + probe rootfs, the runtime under test, cleanup guards.
//!
//! The runtime under test is `$BERTH_TEST_RUNTIME` when set (e.g. `/usr/sbin/runc`), otherwise the
//! berth-runc binary of this package. The probe is `$BERTH_PROBE` when set, otherwise it is built
//! once (static, release) into `<workspace>/target/probe`. `BERTH_TEST_KEEP=1` keeps the temp
//! dirs of finished tests; `BERTH_TEST_NO_AMBIENT=1` drops the ambient set of the base config
//! (runc's default spec lists ambient capabilities that are not inheritable, which runc ignores).

#![allow(dead_code)]

pub mod caps;
pub mod console;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Default limit for one runtime command.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Skips the calling test (returns) unless we are root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("SKIP: this test needs root");
            return;
        }
    };
}

/// Skips the calling test (returns) with a message.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        eprintln!("SKIP: {}", format!($($arg)*));
        return;
    }};
}

/// True when the test runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The runtime binary under test.
pub fn runtime() -> PathBuf {
    match std::env::var_os("BERTH_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth-runc")),
    }
}

/// True when the runtime under test is runc 1.1.x (some newer spec fields are unknown to it).
pub fn runtime_is_runc_1_1() -> bool {
    Command::new(runtime())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("runc version 1.1"))
        .unwrap_or(false)
}

/// Path of an installed `runc`, if any (for interop tests).
pub fn real_runc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_RUNC") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/sbin/runc",
        "/usr/bin/runc",
        "/usr/local/sbin/runc",
        "/usr/local/bin/runc",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The static probe binary, built once per test process (cargo's own lock serialises builds
/// across processes).
pub fn probe_path() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BERTH_PROBE") {
                let p = PathBuf::from(p);
                assert!(p.exists(), "BERTH_PROBE={} does not exist", p.display());
                return p;
            }
            let target_dir = workspace_root().join("target/probe");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "-p", "berth-probe", "--release"])
                .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
                .arg(&target_dir)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .current_dir(workspace_root())
                .output()
                .expect("run cargo build -p berth-probe");
            assert!(
                out.status.success(),
                "building berth-probe failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target_dir.join("x86_64-unknown-linux-gnu/release/berth-probe")
        })
        .clone()
}

/// The static busybox that populates test rootfs.
pub fn busybox() -> PathBuf {
    let p =
        PathBuf::from(std::env::var_os("BERTH_BUSYBOX").unwrap_or_else(|| "/bin/busybox".into()));
    assert!(
        p.exists(),
        "{} missing: install busybox-static (apt-get install busybox-static)",
        p.display()
    );
    p
}

/// Output of one command.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// What ran, for messages.
    pub cmdline: String,
}

impl Out {
    /// Exit code; 128+signal when killed by a signal.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn expect_ok(&self) -> &Self {
        assert!(self.ok(), "command failed: {self}");
        self
    }

    /// Panics unless the command failed.
    #[track_caller]
    pub fn expect_fail(&self) -> &Self {
        assert!(!self.ok(), "command should have failed: {self}");
        self
    }

    /// The last line of stdout that parses as a JSON object.
    #[track_caller]
    pub fn json(&self) -> Value {
        last_json(&self.stdout).unwrap_or_else(|| panic!("no JSON object on stdout: {self}"))
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.code(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The last line of `text` that is a JSON object (pty output has `\r\n`).
pub fn last_json(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` (stdin null, stdout/stderr captured) and kills it after `timeout`.
pub fn run_cmd(cmd: &mut Command, timeout: Duration) -> Out {
    let cmdline = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{cmdline}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A container left running with our pipes open must not hang the test: bound the drain.
    let stdout = join_bounded(t1, Duration::from_secs(5));
    let stderr = join_bounded(t2, Duration::from_secs(5));
    Out {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        cmdline,
    }
}

fn join_bounded(t: std::thread::JoinHandle<Vec<u8>>, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    while !t.is_finished() {
        if Instant::now() > deadline {
            return b"<output still open: a process kept the pipe>".to_vec();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    t.join().unwrap_or_default()
}

/// Polls `f` every 20 ms until it returns Some, or panics after `timeout` naming `what`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique container id: test name + pid + counter.
pub fn unique_id(test: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let short: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(32)
        .collect();
    format!("bt-{short}-{}-{n}", std::process::id())
}

/// Namespace links of the test process itself (the host's).
pub fn host_namespaces() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for e in std::fs::read_dir("/proc/self/ns")
        .expect("read /proc/self/ns")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(t) = std::fs::read_link(e.path()) {
            m.insert(name, Value::String(t.to_string_lossy().into_owned()));
        }
    }
    m
}

/// cgroup v1 hierarchies and the v2 mount (if any) found in /proc/self/mountinfo.
pub fn cgroup_mounts() -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        match r[0] {
            "cgroup" => {
                let ctls: Vec<&str> = r[2]
                    .split(',')
                    .filter(|o| !["rw", "ro", "relatime", "nosuid", "nodev", "noexec"].contains(o))
                    .collect();
                out.push((ctls.join(","), PathBuf::from(l[4])));
            }
            "cgroup2" => out.push(("unified".to_string(), PathBuf::from(l[4]))),
            _ => {}
        }
    }
    out
}

/// True when the host runs a pure cgroup v2 hierarchy at /sys/fs/cgroup.
pub fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Host directory of controller `ctl` for cgroup `rel` (absolute cgroupsPath), v1 or v2.
pub fn cgroup_dir(ctl: &str, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_start_matches('/');
    if cgroup_v2_only() {
        return Some(Path::new("/sys/fs/cgroup").join(rel));
    }
    cgroup_mounts()
        .into_iter()
        .find(|(c, _)| c.split(',').any(|x| x == ctl))
        .map(|(_, p)| p.join(rel))
}

/// A test bundle: `<tmp>/bundle/{config.json,rootfs}`, a private `--root`, and a container id.
/// Dropping it deletes the container (`delete -f`), kills what is left in its cgroup, unmounts
/// whatever was mounted under its directory and removes the directory and its cgroups.
pub struct Bundle {
    pub id: String,
    /// The temp dir holding everything.
    pub dir: PathBuf,
    /// The bundle directory (config.json, rootfs).
    pub bundle: PathBuf,
    /// `--root` for the runtime.
    pub state_root: PathBuf,
    /// The config written by `write_config` (edit before running).
    pub config: Value,
    /// Absolute cgroupsPath used (`/berth-test-<id>`).
    pub cgroup: String,
    /// The runtime binary this bundle is run with.
    pub runtime: PathBuf,
    /// Extra containers created with this bundle's state root (ids), deleted on drop.
    pub extra_ids: Vec<String>,
}

impl Bundle {
    /// A new bundle whose process is `/probe` (report mode), run by the runtime under test.
    pub fn new(test: &str) -> Bundle {
        Bundle::with_runtime(test, runtime())
    }

    /// A new bundle run by `runtime`.
    pub fn with_runtime(test: &str, runtime: PathBuf) -> Bundle {
        let id = unique_id(test);
        let dir = std::env::temp_dir().join("berth-tests").join(&id);
        let bundle = dir.join("bundle");
        let state_root = dir.join("state");
        std::fs::create_dir_all(bundle.join("rootfs")).expect("mkdir bundle");
        std::fs::create_dir_all(&state_root).expect("mkdir state root");
        let cgroup = format!("/berth-test-{id}");
        populate_rootfs(&bundle.join("rootfs"));
        let config = default_config(&id, &cgroup);
        let b = Bundle {
            id,
            dir,
            bundle,
            state_root,
            config,
            cgroup,
            runtime,
            extra_ids: Vec::new(),
        };
        b.write_config();
        b
    }

    /// True when this bundle's runtime is runc (any version): for the few places where runc's
    /// behaviour is older than the spec text the tests check.
    pub fn runtime_is_runc(&self) -> bool {
        Command::new(&self.runtime)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).starts_with("runc version"))
            .unwrap_or(false)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Writes `self.config` to config.json.
    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("serialise config"),
        )
        .expect("write config.json");
    }

    /// `<runtime> --root <state> ARGS` as a Command (not run).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(&self.state_root).args(args);
        c
    }

    /// Runs `<runtime> --root <state> ARGS` and returns its output.
    pub fn rt(&self, args: &[&str]) -> Out {
        run_cmd(&mut self.cmd(args), TIMEOUT)
    }

    fn bundle_str(&self) -> String {
        self.bundle.to_string_lossy().into_owned()
    }

    /// Writes config.json and runs the container in the foreground (`run --bundle B ID`).
    pub fn run(&self) -> Out {
        self.write_config();
        self.rt(&["run", "--bundle", &self.bundle_str(), &self.id])
    }

    /// `run` of a process, returning the probe's JSON (asserts exit 0).
    #[track_caller]
    pub fn probe(&self) -> Value {
        let out = self.run();
        out.expect_ok();
        out.json()
    }

    /// `create --bundle B ID` with the container's stdio sent to files `ctr.out`/`ctr.err` in
    /// the temp dir (a pipe would stay open as long as the container lives).
    pub fn create(&self) -> Out {
        self.create_with(&[])
    }

    /// `create` with extra flags (e.g. `--pid-file P`, `--console-socket S`).
    pub fn create_with(&self, extra: &[&str]) -> Out {
        self.write_config();
        let mut args = vec!["create", "--bundle"];
        let b = self.bundle_str();
        args.push(&b);
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.spawn_to_files(&args)
    }

    /// Runs a runtime command whose stdout/stderr are the files ctr.out / ctr.err (appended).
    pub fn spawn_to_files(&self, args: &[&str]) -> Out {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(name))
                .expect("open output file")
        };
        let mut c = self.cmd(args);
        let cmdline = describe(&c);
        let mut child = c
            .stdin(Stdio::null())
            .stdout(open("ctr.out"))
            .stderr(open("ctr.err"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{cmdline}` did not finish within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Out {
            status,
            stdout: self.ctr_out(),
            stderr: self.ctr_err(),
            cmdline,
        }
    }

    /// What the container (and a create/run -d) wrote to stdout so far.
    pub fn ctr_out(&self) -> String {
        std::fs::read_to_string(self.dir.join("ctr.out")).unwrap_or_default()
    }

    pub fn ctr_err(&self) -> String {
        std::fs::read_to_string(self.dir.join("ctr.err")).unwrap_or_default()
    }

    /// `start ID`.
    pub fn start(&self) -> Out {
        self.rt(&["start", &self.id])
    }

    /// `state ID` parsed (asserts success).
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]);
        out.expect_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {out}"))
    }

    /// The `status` field of `state`.
    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("").to_string()
    }

    /// Waits until `state` reports `want`.
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.rt(&["state", &self.id]);
            if out.ok() {
                if let Ok(v) = serde_json::from_str::<Value>(&out.stdout) {
                    last = v["status"].as_str().unwrap_or("").to_string();
                    if last == want {
                        return;
                    }
                }
            } else {
                last = format!("state failed: {out}");
            }
            assert!(
                Instant::now() < deadline,
                "container {} never reached status {want:?}; last: {last}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Init pid from `state`.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let st = self.state();
        st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no pid: {st}")) as i32
    }

    /// create + start of a long-running probe sleep; returns the init pid.
    #[track_caller]
    pub fn start_sleeper(&mut self) -> i32 {
        self.args(&["/probe", "sleep", "600"]);
        self.create().expect_ok();
        self.start().expect_ok();
        self.wait_status("running");
        self.pid()
    }

    /// Waits until the container's stdout file holds a JSON object and returns it.
    #[track_caller]
    pub fn wait_ctr_json(&self) -> Value {
        wait_for("container JSON output", Duration::from_secs(20), || {
            last_json(&self.ctr_out())
        })
    }

    /// What this bundle's container left behind: state dir, cgroup dirs, mounts under the temp
    /// dir, live processes in its cgroups. Empty when clean.
    pub fn leftovers(&self) -> Vec<String> {
        leftovers_of(&self.state_root, &self.id, &self.cgroup, &self.dir)
    }

    /// Path of the runtime log file when `--log` is used by a test.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("runtime.log")
    }
}

/// See [`Bundle::leftovers`].
pub fn leftovers_of(state_root: &Path, id: &str, cgroup: &str, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let state_dir = state_root.join(id);
    if state_dir.exists() {
        found.push(format!("state dir {}", state_dir.display()));
    }
    for (_, mnt) in cgroup_mounts() {
        let d = mnt.join(cgroup.trim_start_matches('/'));
        if d.exists() {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            found.push(format!(
                "cgroup dir {} (procs: {})",
                d.display(),
                procs.split_whitespace().collect::<Vec<_>>().join(",")
            ));
        }
    }
    for m in mounts_under(dir) {
        found.push(format!("mount {m}"));
    }
    for pid in processes_referring_to(dir, id) {
        found.push(format!("process {pid}"));
    }
    found
}

/// Mount points (host mount namespace) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// Live processes whose cwd, root or cmdline mention `dir` or `id`.
pub fn processes_referring_to(dir: &Path, id: &str) -> Vec<i32> {
    let prefix = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let p = e.path();
        let link = |n: &str| {
            std::fs::read_link(p.join(n))
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let cmdline = std::fs::read(p.join("cmdline"))
            .map(|v| String::from_utf8_lossy(&v).replace('\0', " "))
            .unwrap_or_default();
        // Zombies and kernel threads have empty cmdline; the probe's own tests never name ids.
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue;
        }
        if link("cwd").starts_with(&prefix)
            || link("root").starts_with(&prefix)
            || cmdline.contains(&prefix)
            || cmdline.split(' ').any(|w| w == id)
        {
            out.push(pid);
        }
    }
    out
}

/// Kills every process in the cgroup dirs of `cgroup` (thawing a frozen one first) and removes
/// the dirs. Only touches `/berth-test-*` cgroups, which the tests created.
pub fn remove_test_cgroup(cgroup: &str) {
    assert!(
        cgroup.starts_with("/berth-test-"),
        "refusing to touch cgroup {cgroup}"
    );
    let dirs: Vec<PathBuf> = cgroup_mounts()
        .into_iter()
        .map(|(_, m)| m.join(cgroup.trim_start_matches('/')))
        .filter(|d| d.exists())
        .collect();
    for d in &dirs {
        let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        let _ = std::fs::write(d.join("cgroup.freeze"), "0");
    }
    for _ in 0..50 {
        let mut any = false;
        for d in &dirs {
            for pid in std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|s| s.parse::<i32>().ok())
            {
                any = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for d in &dirs {
        // Children first (a runtime may nest), then the dir itself.
        remove_cgroup_tree(d);
    }
}

fn remove_cgroup_tree(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    for _ in 0..25 {
        if std::fs::remove_dir(d).is_ok() || !d.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unmounts (lazily) everything mounted under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let mut m = mounts_under(dir);
    m.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for p in m {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let mut ids = self.extra_ids.clone();
        ids.push(self.id.clone());
        for id in &ids {
            let mut c = self.cmd(&["delete", "-f", id]);
            let _ = c
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        remove_test_cgroup(&self.cgroup);
        for pid in processes_referring_to(&self.dir, &self.id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        unmount_under(&self.dir);
        if std::env::var_os("BERTH_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Fills `rootfs`: /bin/busybox with applet links, /probe, the usual empty dirs, /etc files.
pub fn populate_rootfs(rootfs: &Path) {
    for d in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "root", "home", "var", "run", "mnt",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in [
        "sh", "true", "false", "sleep", "cat", "ls", "echo", "id", "env", "mkdir", "touch", "ps",
        "kill", "pwd", "hostname", "mount", "stat", "test", "head", "grep", "dd", "rm", "readlink",
    ] {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    std::fs::copy(probe_path(), rootfs.join("probe")).expect("copy probe");
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nuser:x:1000:1000:user:/home:/bin/sh\n",
    )
    .expect("write passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\nuser:x:1000:\n",
    )
    .expect("write group");
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777));
}

/// The base config: the same content `runc spec` produces (runtime-spec defaults), with
/// `terminal: false`, `/probe` as the process and a unique absolute cgroupsPath.
pub fn default_config(id: &str, cgroup: &str) -> Value {
    let default_caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let _ = id;
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/probe"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": default_caps,
                "effective": default_caps,
                "permitted": default_caps,
                "ambient": if std::env::var_os("BERTH_TEST_NO_AMBIENT").is_some() { json!([]) } else { default_caps }
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
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
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroup,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Mount points of a probe report, in order.
pub fn mount_points(report: &Value) -> Vec<String> {
    report["mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["mount_point"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The probe's mountinfo entry for `point` (the last one: the visible mount).
pub fn mount_at<'a>(report: &'a Value, point: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == point)
}

/// Per-mount and superblock options of a mount, as a set.
pub fn mount_opts(m: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for k in ["options", "super_options"] {
        for o in m[k].as_str().unwrap_or("").split(',') {
            s.insert(o.to_string());
        }
    }
    s
}

/// fd numbers of a probe report.
pub fn fd_numbers(report: &Value) -> Vec<i64> {
    report["fds"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["fd"].as_i64()).collect())
        .unwrap_or_default()
}

/// Value of a cgroup limit file the probe saw, if any.
pub fn probe_cgroup_value(report: &Value, file: &str) -> Option<String> {
    report["cgroup_limits"][file]["value"]
        .as_str()
        .map(String::from)
}
