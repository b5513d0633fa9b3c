//! berth-init: pid 1 of `--init` containers (`/sbin/berth-init -- cmd args...`).
//!
//! Runs the command as its child, forwards every catchable signal it receives to it, reaps every
//! zombie that the pid namespace hands to pid 1, and exits with the child's status (128 + signal
//! when a signal killed it), as docker's tini does.
#![forbid(unsafe_code)]

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::process::Command;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init -- command [args...]");
        std::process::exit(2);
    }
    std::process::exit(run(&args));
}

/// Signals forwarded to the child; SIGCHLD drives reaping.
fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGABRT,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ] {
        set.remove(s);
    }
    set
}

fn run(args: &[String]) -> i32 {
    let set = forwarded();
    if let Err(e) = set.thread_block() {
        eprintln!("berth-init: blocking signals: {e}");
        return 1;
    }
    let sfd = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth-init: signalfd: {e}");
            return 1;
        }
    };
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    let child = match berth_sys::process::spawn_with_clean_signals(&mut cmd) {
        Ok(c) => Pid::from_raw(c.id() as i32),
        Err(e) => {
            eprintln!("berth-init: exec {:?} failed: {e}", args[0]);
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    loop {
        if let Some(code) = reap(child) {
            return code;
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let signo = info.ssi_signo as i32;
                if signo == Signal::SIGCHLD as i32 {
                    continue;
                }
                if let Ok(sig) = Signal::try_from(signo) {
                    let _ = kill(child, sig);
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                eprintln!("berth-init: reading signals: {e}");
                return 1;
            }
        }
    }
}

/// Reaps every exited child; the child's exit code once it has exited.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
