//! Signalling and waiting for a container's init process by pidfd, checked against the start
//! time recorded in its state so that a reused pid is never signalled.

use crate::error::{EngineError, Result};
use crate::state::StateFile;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// A pidfd of the container's init as recorded in `st`, `None` when that process is gone.
pub fn open_init(st: &StateFile) -> Option<OwnedFd> {
    open_recorded(st.pid, st.pid_start_time, &st.boot_id)
}

/// A pidfd of the container's shim as recorded in `st`, `None` when that process is gone.
pub fn open_shim(st: &StateFile) -> Option<OwnedFd> {
    open_recorded(st.shim_pid, st.shim_start_time, &st.boot_id)
}

/// A pidfd of the process recorded as (`pid`, `start` time, `boot`), if it still lives.
fn open_recorded(pid: i32, start: u64, boot: &str) -> Option<OwnedFd> {
    if pid <= 0 || boot != crate::state::boot_id() {
        return None;
    }
    let fd = berth_sys::process::pidfd_open(Pid::from_raw(pid)).ok()?;
    // Checked after opening: the pidfd now pins the process, so a match means it is ours.
    let now = crate::state::start_time(pid)?;
    (start == 0 || now == start).then_some(fd)
}

/// Sends `signal` through `fd`; a process that is already gone is not an error.
pub fn signal(fd: &OwnedFd, signal: i32, id: &str) -> Result<()> {
    match berth_sys::process::pidfd_send_signal(fd, signal) {
        Ok(()) => Ok(()),
        Err(berth_sys::process::ProcessError::PidfdSendSignal {
            errno: nix::errno::Errno::ESRCH,
            ..
        }) => Ok(()),
        Err(e) => Err(EngineError::Invalid(format!(
            "signalling container {id}: {e}"
        ))),
    }
}

/// Waits until the process behind `fd` exits or `timeout` passes; returns whether it exited.
pub fn wait_exit(fd: &OwnedFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return false;
                }
                PollTimeout::try_from(d - now).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(0) => continue,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}
