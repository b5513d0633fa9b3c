//! Real-kernel tests: each scenario runs in a child process (this test binary re-run with
//! `BERTH_SECCOMP_CHILD=<scenario>`), installs a filter there and checks its effect from inside.
//! The parent only sees the exit status and output, so no filter ever reaches the test runner.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use berth_seccomp::{
    compile, compile_cached_status, default_profile, parse_profile, CacheStatus, CompiledFilter,
    DOCKER_DEFAULT_CAPS,
};
use nix::errno::Errno;
use nix::sched::CloneFlags;

const CHILD_ENV: &str = "BERTH_SECCOMP_CHILD";
const SCRATCH_ENV: &str = "BERTH_SECCOMP_SCRATCH";

/// Runs `scenario` in a child and returns what it printed; panics with its output if it failed.
fn run_child(scenario: &str) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env(SCRATCH_ENV, scratch.path())
        .output()
        .unwrap()
}

fn assert_child_ok(scenario: &str) -> String {
    let out = run_child(scenario);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("SCENARIO {scenario} PASSED")),
        "child {scenario} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The child side. In a normal test run (no env var) it does nothing.
#[test]
fn child_entry() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    let scratch = PathBuf::from(std::env::var(SCRATCH_ENV).unwrap());
    match scenario.as_str() {
        "errno" => child_errno(&scratch),
        "default" => child_default(&scratch),
        "default_sys_admin" => child_default_sys_admin(),
        "kill" => child_kill(),
        "tsync" => child_tsync(&scratch),
        other => panic!("unknown scenario {other}"),
    }
    println!("SCENARIO {scenario} PASSED");
}

fn seccomp_status_line() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Seccomp:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("call should have failed")
        .raw_os_error()
        .unwrap()
}

/// mkdir -> EPERM, getcwd -> EPERM, rmdir -> errnoRet 39; the filter comes from the cache.
fn child_errno(scratch: &std::path::Path) {
    let profile = parse_profile(
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat","getcwd"],"action":"SCMP_ACT_ERRNO"},
            {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":39}]}"#,
        "linux.seccomp",
    )
    .unwrap();
    let cache = scratch.join("cache");
    let (_, first) = compile_cached_status(&profile, &cache).unwrap();
    assert!(matches!(first, CacheStatus::Miss), "{first:?}");
    let (filter, second) = compile_cached_status(&profile, &cache).unwrap();
    assert!(matches!(second, CacheStatus::Hit), "{second:?}");

    let existing = scratch.join("existing");
    std::fs::create_dir(&existing).unwrap();
    assert_eq!(seccomp_status_line(), "0");
    nix::sys::prctl::set_no_new_privs().unwrap();
    filter.install().unwrap();
    assert_eq!(seccomp_status_line(), "2");
    assert_eq!(berth_sys::seccomp::current_mode().unwrap(), 2);
    assert_eq!(
        errno_of(std::fs::create_dir(scratch.join("new"))),
        libc::EPERM
    );
    assert_eq!(errno_of(std::env::current_dir()), libc::EPERM);
    assert_eq!(errno_of(std::fs::remove_dir(&existing)), libc::ENOTEMPTY);
    // Everything else still works.
    std::fs::write(scratch.join("file"), b"x").unwrap();
    assert_eq!(std::fs::read(scratch.join("file")).unwrap(), b"x");
}

/// Docker's default profile with Docker's default capabilities.
fn child_default(scratch: &std::path::Path) {
    let caps: Vec<String> = DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let filter = compile(&default_profile(&caps)).unwrap();
    nix::sys::prctl::set_no_new_privs().unwrap();
    filter.install().unwrap();
    assert_eq!(seccomp_status_line(), "2");

    // Namespaces, mounts, hostname: refused with EPERM.
    for flags in [
        CloneFlags::CLONE_NEWNS,
        CloneFlags::CLONE_NEWUSER,
        CloneFlags::CLONE_NEWNET,
        CloneFlags::CLONE_NEWUTS,
    ] {
        assert_eq!(nix::sched::unshare(flags), Err(Errno::EPERM), "{flags:?}");
    }
    assert_eq!(
        nix::sched::setns(
            std::fs::File::open("/proc/self/ns/uts").unwrap(),
            CloneFlags::empty()
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        nix::mount::mount(
            Some("none"),
            scratch,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(nix::unistd::sethostname("nope"), Err(Errno::EPERM));
    // AF_VSOCK sockets are refused, others work.
    assert_eq!(
        nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Vsock,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::empty(),
            None
        )
        .map(drop),
        Err(Errno::EPERM)
    );
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap();

    // Ordinary work goes on: files, processes (glibc meets clone3 -> ENOSYS, falls back to a
    // plain clone, which the flag condition allows).
    std::fs::write(scratch.join("f"), b"data").unwrap();
    std::fs::create_dir(scratch.join("d")).unwrap();
    assert!(std::env::current_dir().is_ok());
    let status = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    let t = std::thread::spawn(|| 5);
    assert_eq!(t.join().unwrap(), 5);
    // chroot comes with CAP_SYS_CHROOT (in Docker's default set): not refused by the filter.
    assert_ne!(
        nix::unistd::chroot("/nonexistent-berth"),
        Err(Errno::EPERM),
        "chroot should reach the kernel"
    );
}

/// With CAP_SYS_ADMIN the namespace calls reach the kernel.
fn child_default_sys_admin() {
    let filter = compile(&default_profile(&["CAP_SYS_ADMIN".to_string()])).unwrap();
    nix::sys::prctl::set_no_new_privs().unwrap();
    filter.install().unwrap();
    // A UTS namespace is per thread: fine in a multi-threaded test process, and the child exits.
    nix::sched::unshare(CloneFlags::CLONE_NEWUTS).unwrap();
    nix::unistd::sethostname("berth-seccomp-test").unwrap();
}

/// SCMP_ACT_KILL_PROCESS on getppid: the child dies of SIGSYS.
fn child_kill() {
    let profile = parse_profile(
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        "linux.seccomp",
    )
    .unwrap();
    let filter = compile(&profile).unwrap();
    filter.install().unwrap();
    let _ = nix::unistd::getppid();
    println!("still alive after getppid");
}

/// SECCOMP_FILTER_FLAG_TSYNC: a thread started before the install is filtered too.
fn child_tsync(scratch: &std::path::Path) {
    let profile = parse_profile(
        br#"{"defaultAction":"SCMP_ACT_ALLOW",
             "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
             "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        "linux.seccomp",
    )
    .unwrap();
    let filter: CompiledFilter = compile(&profile).unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let target = scratch.join("from-thread");
    let other = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        std::fs::create_dir(&target).map_err(|e| e.kind())
    });
    filter.install().unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(other.join().unwrap(), Err(ErrorKind::PermissionDenied));
}

#[test]
fn errno_rules_take_effect_and_mode_is_filter() {
    assert_child_ok("errno");
}

#[test]
fn default_profile_blocks_namespaces_and_allows_normal_work() {
    assert_child_ok("default");
}

#[test]
fn default_profile_with_cap_sys_admin_allows_namespaces() {
    assert_child_ok("default_sys_admin");
}

#[test]
fn kill_process_action_kills_with_sigsys() {
    let out = run_child("kill");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSYS),
        "status {:?}, stdout {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("still alive"));
}

#[test]
fn tsync_flag_filters_every_thread() {
    assert_child_ok("tsync");
}
