//! Real container managers drive the runtime under test: Podman (`--runtime`) and containerd
//! (`ctr run --runc-binary`). Each uses private state under the test's temp dir and the test's
//! own cgroup prefix, and skips when the tool is not installed.

use crate::common::*;
use crate::require_root;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn installed(tool: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}

/// Podman with storage, run state and events kept under `dir`.
/// Podman raises RLIMIT_NOFILE/NPROC to 1048576 unless containers.conf says otherwise; a host
/// without CAP_SYS_RESOURCE in the bounding set (like CI's) refuses that for every runtime, runc
/// included. Explicit limits below the hard limit keep the test about the runtime.
const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

fn podman(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-runroot"))
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
        .args(["--events-backend", "file"])
        .arg("--tmpdir")
        .arg(dir.join("podman-tmp"));
    c
}

#[test]
fn podman_runs_containers_with_the_runtime() {
    require_root!();
    if installed("podman").is_none() {
        crate::skip!("podman is not installed (apt-get install podman)");
    }
    let b = Bundle::new("podman");
    let tar = b.dir.join("rootfs.tar");
    run_cmd(
        Command::new("tar")
            .arg("-C")
            .arg(b.rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        TIMEOUT,
    )
    .expect_ok();
    let image = format!("localhost/{}:latest", b.id.to_lowercase());
    run_cmd(
        podman(&b.dir).arg("import").arg("-q").arg(&tar).arg(&image),
        TIMEOUT,
    )
    .expect_ok();
    let rt = b.runtime.to_string_lossy().into_owned();
    let out = run_cmd(
        podman(&b.dir)
            .args(["--runtime", &rt, "run", "--rm", "--network", "none"])
            .args(PODMAN_ULIMITS)
            .args([
                "--cgroup-parent",
                &b.cgroup,
                "--memory",
                "64m",
                "--hostname",
                "podman-berth",
            ])
            .args([&image, "/probe"]),
        TIMEOUT,
    );
    out.expect_ok();
    let r = out.json();
    assert_eq!(r["pid"], 1, "podman's container process is pid 1");
    assert_eq!(r["hostname"], "podman-berth");
    assert_eq!(
        r["seccomp"], 2,
        "podman's default seccomp profile is applied"
    );
    let limit = probe_cgroup_value(&r, "memory.limit_in_bytes")
        .or_else(|| probe_cgroup_value(&r, "memory.max"));
    assert_eq!(
        limit.as_deref(),
        Some("67108864"),
        "podman --memory 64m: {}",
        r["cgroup_limits"]
    );
    // Exit codes come back through podman.
    let out = run_cmd(
        podman(&b.dir)
            .args([
                "--runtime",
                &rt,
                "run",
                "--rm",
                "--network",
                "none",
                "--cgroup-parent",
                &b.cgroup,
            ])
            .args(PODMAN_ULIMITS)
            .args([&image, "/probe", "exit", "5"]),
        TIMEOUT,
    );
    assert_eq!(out.code(), 5, "{out}");
    let _ = run_cmd(podman(&b.dir).args(["rmi", "-f", &image]), TIMEOUT);
}

/// A private containerd, stopped on drop.
struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
                 [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
                root = dir.join("ctrd-root").display(),
                state = dir.join("ctrd-state").display(),
                sock = socket.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd { child, socket };
        wait_for("containerd socket", Duration::from_secs(20), || {
            c.socket.exists().then_some(())
        });
        c
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket);
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn containerd_ctr_runs_containers_with_the_runtime() {
    require_root!();
    if installed("containerd").is_none()
        || installed("ctr").is_none()
        || installed("containerd-shim-runc-v2").is_none()
    {
        crate::skip!(
            "containerd/ctr/containerd-shim-runc-v2 are not installed (apt-get install containerd)"
        );
    }
    let b = Bundle::new("containerd");
    let ctrd = Containerd::start(&b.dir);
    let rt = b.runtime.to_string_lossy().into_owned();
    let rootfs = b.rootfs().to_string_lossy().into_owned();
    let cg = format!("{}/ctr", b.cgroup);
    let id = b.id.replace('-', "");
    let out = run_cmd(
        ctrd.ctr().args([
            "run",
            "--rm",
            "--runc-binary",
            &rt,
            "--cgroup",
            &cg,
            "--rootfs",
            &rootfs,
            &id,
            "/probe",
        ]),
        TIMEOUT,
    );
    out.expect_ok();
    let r = out.json();
    assert_eq!(r["pid"], 1, "ctr's container process is pid 1: {out}");
    assert!(
        r["cgroups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"].as_str().unwrap_or("").ends_with("/ctr")),
        "the process is in the cgroup ctr asked for: {}",
        r["cgroups"]
    );
    let out = run_cmd(
        ctrd.ctr().args([
            "run",
            "--rm",
            "--runc-binary",
            &rt,
            "--cgroup",
            &cg,
            "--rootfs",
            &rootfs,
            &format!("{id}x"),
            "/probe",
            "exit",
            "3",
        ]),
        TIMEOUT,
    );
    assert_eq!(out.code(), 3, "exit code through containerd: {out}");
    drop(ctrd);
}
