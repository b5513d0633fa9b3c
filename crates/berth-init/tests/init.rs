//! berth-init on the host: exit codes, signal forwarding, and zombie reaping as pid 1 of a new
//! pid namespace (`unshare`, needs root).

use std::process::Command;
use std::time::{Duration, Instant};

fn init() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth-init"))
}

#[test]
fn exit_codes() {
    let s = init().args(["--", "sh", "-c", "exit 7"]).status().unwrap();
    assert_eq!(s.code(), Some(7));
    let s = init()
        .args(["--", "sh", "-c", "kill -TERM $$"])
        .status()
        .unwrap();
    assert_eq!(s.code(), Some(128 + 15));
    let s = init().args(["--", "/nonexistent/cmd"]).status().unwrap();
    assert_eq!(s.code(), Some(127));
    let s = init().status().unwrap();
    assert_eq!(s.code(), Some(2));
}

#[test]
fn forwards_signals() {
    let mut c = init()
        .args([
            "--",
            "sh",
            "-c",
            "trap 'exit 42' USR1; while :; do sleep 0.05; done",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            assert_eq!(s.code(), Some(42));
            break;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("the child never got SIGUSR1");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reaps_orphans_as_pid_1() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a pid namespace");
        return;
    }
    // An orphaned `sleep` is handed to pid 1 (berth-init) when its parent exits; without reaping
    // it would stay a zombie.
    let script = "sh -c 'sleep 0.1 &'; sleep 0.6; \
                  if grep -q 'Z (zombie)' /proc/[0-9]*/status 2>/dev/null; then echo ZOMBIE; else echo clean; fi";
    let out = Command::new("unshare")
        .args(["--fork", "--pid", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_berth-init"))
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "clean",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}
