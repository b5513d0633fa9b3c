//! Shared helpers: a private `berth` store per test, a private podman store, offline fixtures
//! (built by `fixtures.py`, python3's standard library only) and store-state snapshots.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Whether `tool` is an executable on PATH.
pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
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

/// A scratch directory removed on drop, after lazily unmounting anything left under it.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        let base = std::env::var_os("BERTH_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let path = base.join(unique(&format!("berth-img-{what}")));
        fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // `berth load` leaves a detached `berth system sync` behind: let such processes finish
        // before the directory goes, or they recreate files in it.
        wait_for_users(&self.path, std::time::Duration::from_secs(30));
        // Deepest first so nested mounts come off before their parents.
        let mut leaked = mounts_under(&self.path);
        leaked.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in leaked {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.path);
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

/// Waits (up to `max`) until no process names `dir` on its command line.
pub fn wait_for_users(dir: &Path, max: std::time::Duration) {
    let start = std::time::Instant::now();
    while !users_of(dir).is_empty() && start.elapsed() < max {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Mount points at or under `dir`, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().to_string();
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        // Strictly below: a test may mount the root itself (a small tmpfs for the full-disk test).
        .filter(|m| m.starts_with(&format!("{prefix}/")))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
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

/// Runs `cmd`, returning its output (stdin closed).
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"))
}

/// Runs `cmd` and asserts it succeeds; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd);
    assert!(out.status.success(), "{}", describe(&what, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private berth store (`--root`) inside its own scratch directory.
pub struct Store {
    pub root: PathBuf,
    pub scratch: Scratch,
}

impl Store {
    pub fn new() -> Store {
        let scratch = Scratch::new("store");
        Store {
            root: scratch.join("root"),
            scratch,
        }
    }

    /// A store whose root is `root` (e.g. on a tmpfs); the scratch dir holds other files.
    pub fn at(root: PathBuf, scratch: Scratch) -> Store {
        Store { root, scratch }
    }

    /// `berth --root <root>` ready for arguments.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root").arg(&self.root);
        c.env_remove("BERTH_ROOT");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
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

    /// Runs `berth ARGS`, asserts failure (exit 1, an `Error:` message), returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let what = describe(&format!("berth {}", args.join(" ")), &out);
        assert!(!out.status.success(), "expected failure; {what}");
        assert_eq!(out.status.code(), Some(1), "exit code; {what}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("Error"), "stderr has no 'Error'; {what}");
        err
    }

    /// Runs `berth ARGS` with `input` as stdin; asserts success, returns stdout.
    pub fn ok_stdin(&self, args: &[&str], input: &Path) -> String {
        let file = fs::File::open(input).unwrap();
        let out = self
            .cmd()
            .args(args)
            .stdin(file)
            .output()
            .expect("spawn berth");
        assert!(
            out.status.success(),
            "{}",
            describe(
                &format!("berth {} < {}", args.join(" "), input.display()),
                &out
            )
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `berth load -i FILE`; returns stdout.
    pub fn load(&self, archive: &Path) -> String {
        self.ok(&["load", "-i", archive.to_str().unwrap()])
    }

    /// Asserts `system check` exits 0 and no mount is left under the root.
    pub fn assert_consistent(&self, when: &str) {
        let out = self.run(&["system", "check"]);
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("system check {when}"), &out)
        );
        // The root itself may be a mount the test made (a small tmpfs).
        let leaked: Vec<String> = mounts_under(&self.root)
            .into_iter()
            .filter(|m| Path::new(m) != self.root)
            .collect();
        assert!(leaked.is_empty(), "leaked mounts {when}: {leaked:?}");
    }

    /// Full image IDs (`sha256:...`), sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ok(&["images", "-q", "--no-trunc"])
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// `image inspect IMG`, first element.
    pub fn inspect(&self, img: &str) -> Value {
        let out = self.ok(&["image", "inspect", img]);
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("image inspect {img}: not JSON ({e}): {out}"));
        let arr = v.as_array().expect("image inspect prints a JSON array");
        assert_eq!(arr.len(), 1, "one image inspected: {out}");
        arr[0].clone()
    }

    /// RootFS.Layers of an image.
    pub fn diff_ids(&self, img: &str) -> Vec<String> {
        strings(&self.inspect(img)["RootFS"]["Layers"])
    }

    /// The files of the store (relative paths with sizes) outside scratch areas, for "unchanged".
    pub fn state(&self) -> StoreState {
        let mut files = BTreeSet::new();
        walk(&self.root, &self.root, &mut files);
        StoreState {
            ids: self.ids(),
            blobs: files
                .iter()
                .filter(|f| f.starts_with("blobs/"))
                .cloned()
                .collect(),
            layer_dirs: files
                .iter()
                .filter(|f| f.contains("/snapshots/") && f.matches('/').count() == 2)
                .cloned()
                .collect(),
        }
    }

    /// Blob files (hex names) under blobs/sha256.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let dir = self.root.join("blobs/sha256");
        let mut v: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Asserts every blob file's sha256 is its name (no partial blob visible).
    pub fn assert_blobs_verify(&self, when: &str) {
        for b in self.blob_files() {
            let name = b.file_name().unwrap().to_string_lossy().to_string();
            let got = sha256_file(&b);
            assert_eq!(got, name, "blob {} has other content {when}", b.display());
        }
    }
}

/// What must not change when a command fails.
#[derive(Debug, PartialEq, Eq)]
pub struct StoreState {
    pub ids: Vec<String>,
    pub blobs: BTreeSet<String>,
    /// `<driver>/snapshots/<id>` entries.
    pub layer_dirs: BTreeSet<String>,
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.filter_map(|e| e.ok()) {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
        let ft = e.file_type().unwrap();
        // Don't descend into unpacked layer trees (large), only list their top-level dirs.
        if ft.is_dir() && !(rel.contains("/snapshots/") && rel.matches('/').count() >= 2) {
            out.insert(rel.clone());
            walk(root, &p, out);
        } else {
            out.insert(rel);
        }
    }
}

/// The strings of a JSON array.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// sha256 of a file, hex (via sha256sum).
pub fn sha256_file(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_string()
}

/// Every file (recursively) under `dir` whose name starts with `prefix`.
pub fn find_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    found
}

/// fixtures.py next to this file.
pub fn fixtures_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/fixtures.py")
}

/// Runs fixtures.py with `args`; returns stdout.
pub fn py(args: &[&str]) -> String {
    run_ok(Command::new("python3").arg(fixtures_py()).args(args))
}

/// A docker-archive built by fixtures.py.
#[derive(Debug, Clone)]
pub struct Archive {
    pub path: PathBuf,
    /// `sha256:<config digest>`.
    pub id: String,
    pub diff_ids: Vec<String>,
}

/// Builds layers and archives into one scratch directory.
pub struct Fixtures {
    pub dir: Scratch,
}

impl Fixtures {
    pub fn new() -> Fixtures {
        Fixtures {
            dir: Scratch::new("fx"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The busybox rootfs tar (bin/busybox + applet links + /etc).
    pub fn rootfs(&self) -> PathBuf {
        let p = self.path("rootfs.tar");
        if !p.exists() {
            py(&["rootfs-tar", p.to_str().unwrap()]);
        }
        p
    }

    /// A layer with one file of `mib` MiB random data.
    pub fn random_layer(&self, name: &str, mib: f64) -> PathBuf {
        let p = self.path(name);
        py(&["random-tar", p.to_str().unwrap(), &mib.to_string()]);
        p
    }

    /// A layer with one file of `mib` MiB repetitive text.
    pub fn text_layer(&self, name: &str, mib: f64) -> PathBuf {
        let p = self.path(name);
        py(&["text-tar", p.to_str().unwrap(), &mib.to_string()]);
        p
    }

    /// A hostile layer of `kind` aimed at the directory `target`.
    pub fn evil_layer(&self, kind: &str, target: &Path) -> PathBuf {
        let p = self.path(&format!("evil-{kind}.tar"));
        py(&[
            "evil-tar",
            p.to_str().unwrap(),
            kind,
            "--target",
            target.to_str().unwrap(),
        ]);
        p
    }

    /// A docker-archive of `layers` tagged `tags`; `mutate` as in fixtures.py.
    pub fn archive(
        &self,
        name: &str,
        layers: &[&Path],
        tags: &[&str],
        mutate: &str,
        gzip: bool,
    ) -> Archive {
        let path = self.path(name);
        let mut args = vec![
            "archive".to_string(),
            path.to_str().unwrap().to_string(),
            "--mutate".into(),
            mutate.into(),
        ];
        for l in layers {
            args.push("--layer".into());
            args.push(l.to_str().unwrap().into());
        }
        for t in tags {
            args.push("--tag".into());
            args.push(t.to_string());
        }
        if gzip {
            args.push("--gzip".into());
        }
        let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let out = py(&argv);
        let v: Value = serde_json::from_str(out.trim()).expect("fixtures.py summary");
        Archive {
            path,
            id: v["id"].as_str().unwrap().to_string(),
            diff_ids: strings(&v["diff_ids"]),
        }
    }

    /// A small valid image: busybox rootfs + a small text layer.
    pub fn small_image(&self, name: &str, tags: &[&str]) -> Archive {
        let rootfs = self.rootfs();
        let text = self.text_layer(&format!("{name}-text.tar"), 0.25);
        self.archive(name, &[&rootfs, &text], tags, "none", false)
    }
}

/// A private podman store (graph root, run root, tmp dir) under a scratch dir; the host's podman
/// store is never touched.
pub struct Podman {
    pub dir: Scratch,
}

impl Podman {
    /// None (after printing why) when podman is not installed.
    pub fn new() -> Option<Podman> {
        if !have("podman") {
            eprintln!("SKIP: podman is not installed");
            return None;
        }
        Some(Podman {
            dir: Scratch::new("podman"),
        })
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ]);
        c
    }

    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(self.cmd().args(args))
    }

    /// `podman run <args>` with explicit rlimits: without `default_ulimits` in containers.conf
    /// podman raises RLIMIT_NOFILE/NPROC to 1048576, which a host whose bounding set lacks
    /// CAP_SYS_RESOURCE (CI's) refuses for every runtime.
    pub fn run(&self, args: &[&str]) -> String {
        let limits = [
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=4096:4096",
        ];
        run_ok(self.cmd().arg("run").args(limits).args(args))
    }

    /// The image ID (hex) podman reports.
    pub fn id(&self, img: &str) -> String {
        self.ok(&["image", "inspect", "--format", "{{.Id}}", img])
            .trim()
            .to_string()
    }

    /// RootFS.Layers podman reports.
    pub fn diff_ids(&self, img: &str) -> Vec<String> {
        let out = self.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            img,
        ]);
        strings(&serde_json::from_str(out.trim()).unwrap())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-af"]).stdin(Stdio::null()).output();
    }
}

/// `sha256:<hex>` -> `<hex>`.
pub fn hex(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// gzip -c SRC > DST.
pub fn gzip(src: &Path, dst: &Path) {
    let out = fs::File::create(dst).unwrap();
    let st = Command::new("gzip")
        .args(["-1", "-c"])
        .arg(src)
        .stdout(out)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Writes `data` to `path`.
pub fn write(path: &Path, data: &[u8]) {
    fs::File::create(path).unwrap().write_all(data).unwrap();
}

/// Lines of `s`, trimmed, non-empty.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Extracts the tar `archive` into `dir` (created).
pub fn untar(archive: &Path, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(dir),
    );
}
