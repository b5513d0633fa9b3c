//! `berth shim <id>`: the per-container monitor.
//!
//! One small single-threaded process per container (no threads, no async runtime): it is the
//! parent of the container's init (berth-runtime runs in-process), holds its stdio pipes or pty,
//! writes the json-file log, serves attach on `<runroot>/containers/<id>/shim.sock`, records the
//! exit status in `state.json`, applies the restart policy, runs health checks and, at the end,
//! unmounts the rootfs, deletes the runtime state and honours `--rm`. It outlives the CLI that
//! started it: it is in its own session, and no signal of a gone terminal or pipe kills it.
//!
//! The handshake with the caller is described in `berth_engine::shim_proto`.
#![forbid(unsafe_code)]

mod container;
mod detach;
mod health;
mod monitor;
mod remove;
mod restart;
mod store;

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

/// The command line of `berth shim`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    root: PathBuf,
    runroot: PathBuf,
    ctl_fd: RawFd,
    /// The container; `None` for a shim started before its container was made, which takes
    /// it from its configuration.
    id: Option<String>,
    /// `--no-fork`: the spawner is short-lived and lets the shim stay its child (it is
    /// re-parented when the spawner exits), so no detaching fork is needed.
    no_fork: bool,
    /// `--netns-ahead`: the container will get a new network namespace; the shim makes it while
    /// it waits for its configuration.
    netns_ahead: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut root = None;
    let mut runroot = None;
    let mut ctl = None;
    let mut id = None;
    let mut no_fork = false;
    let mut netns_ahead = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--runroot" => runroot = Some(PathBuf::from(value("--runroot")?)),
            "--ctl-fd" => {
                ctl = Some(
                    value("--ctl-fd")?
                        .parse::<RawFd>()
                        .map_err(|_| "--ctl-fd: not a number".to_string())?,
                )
            }
            "--no-fork" => no_fork = true,
            "--netns-ahead" => netns_ahead = true,
            s if s.starts_with('-') => return Err(format!("unknown flag {s}")),
            s if id.is_none() => id = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(Args {
        root: root.ok_or("--root is required")?,
        runroot: runroot.ok_or("--runroot is required")?,
        ctl_fd: ctl.ok_or("--ctl-fd is required")?,
        id,
        no_fork,
        netns_ahead,
    })
}

/// Closes every fd from 3 up except `keep`.
pub(crate) fn close_fds_except(keep: &[RawFd]) -> std::io::Result<()> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            let _ = nix::unistd::close(fd);
        }
    }
    Ok(())
}

/// Runs the shim with the process's arguments (`berth shim ...`); returns the exit status.
///
/// The process that `shim_proto::spawn` started forks the real shim and exits at once (status 0),
/// so the shim is nobody's child; the real shim returns only when the container is gone for good.
/// With `--no-fork` it is the real shim itself.
pub fn main_from_args(args: &[String]) -> i32 {
    berth_sys::timing::mark("shim main");
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth shim: {e}");
            return 2;
        }
    };
    if let Some(Err(e)) = a.id.as_deref().map(berth_runtime::state::validate_id) {
        eprintln!("berth shim: {e}");
        return 2;
    }
    // Own the control fd before anything else (it was inherited without close-on-exec).
    let ctl = berth_sys::fd::owned(a.ctl_fd);
    let _ = nix::fcntl::fcntl(
        ctl.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    if !a.no_fork {
        match berth_sys::process::clone_process(0) {
            Ok(berth_sys::process::CloneResult::Parent(_)) => return 0,
            Ok(berth_sys::process::CloneResult::Child) => {}
            Err(e) => {
                eprintln!("berth shim: fork: {e}");
                return 1;
            }
        }
    }
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
    let _ = close_fds_except(&[ctl.as_raw_fd()]);
    berth_sys::timing::mark("shim detached");
    monitor::Monitor::run(a.id.as_deref(), &a.root, &a.runroot, ctl, a.netns_ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&v("--root /r --runroot /rr --ctl-fd 5 abc")).unwrap(),
            Args {
                root: "/r".into(),
                runroot: "/rr".into(),
                ctl_fd: 5,
                id: Some("abc".into()),
                no_fork: false,
                netns_ahead: false,
            }
        );
        assert!(
            parse_args(&v("--root /r --runroot /rr --ctl-fd 5 --no-fork abc"))
                .unwrap()
                .no_fork
        );
        assert_eq!(
            parse_args(&v("--root /r --runroot /rr --ctl-fd 5"))
                .unwrap()
                .id,
            None
        );
        assert!(parse_args(&v("--root /r abc")).is_err());
        assert!(parse_args(&v("--root /r --runroot /rr --ctl-fd x abc")).is_err());
        assert!(parse_args(&v("--bogus")).is_err());
    }
}
