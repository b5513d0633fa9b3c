//! `run` on the caller's own terminal: the container's pty master comes back over a socketpair, the
//! caller's terminal goes raw, and bytes are relayed both ways until the container exits.

use crate::error::{Result, RuntimeError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

/// A connected stream pair: (ours, the one handed to the init as its console socket).
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("console socketpair", e))
}

/// Receives the pty master that the init sent over `ours`.
pub fn receive_master(ours: &OwnedFd) -> Result<OwnedFd> {
    berth_sys::pty::receive_fd(ours.as_fd())
        .map(|(_, fd)| fd)
        .map_err(|e| RuntimeError::sys("receive the container's terminal", e))
}

/// Puts stdin in raw mode while alive, when it is a terminal; restores it on drop.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

fn copy_window_size(master: &OwnedFd) {
    if let Ok((rows, cols)) = berth_sys::pty::window_size(std::io::stdin().as_fd()) {
        let _ = berth_sys::pty::set_window_size(master.as_fd(), rows, cols);
    }
}

/// Relays between the caller's stdio and `master` until `pid` exits; forwards signals (SIGWINCH
/// resizes the pty instead). Returns the exit code.
pub fn relay(master: OwnedFd, pid: Pid, pidfd: &OwnedFd, set: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| RuntimeError::sys("signalfd", e))?;
    let _raw = RawMode::enter();
    copy_window_size(&master);
    let mut master_file = std::fs::File::from(master);
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    let mut exit = None;
    loop {
        if exit.is_none() {
            while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                if status == WaitStatus::StillAlive {
                    break;
                }
                if status.pid() == Some(pid) {
                    exit = crate::signals::exit_code(status);
                }
            }
        }
        let stdin = std::io::stdin();
        let mut fds = vec![
            PollFd::new(master_file.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the process is gone, only drain what the pty still holds.
        let timeout = if exit.is_some() {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if exit.is_some() => break,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(RuntimeError::sys("poll", e)),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (master_ready, sig_ready, stdin_ready) = (ready(0), ready(1), ready(3));
        drop(fds);
        if master_ready {
            match master_file.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if exit.is_some() {
                        break;
                    }
                    // EIO once the last writer of the pty closed: wait for the exit.
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
        if sig_ready {
            if let Ok(Some(info)) = sfd.read_signal() {
                match info.ssi_signo as i32 {
                    libc::SIGWINCH => copy_window_size(
                        &std::fs::File::try_clone(&master_file)
                            .map(OwnedFd::from)
                            .map_err(|e| RuntimeError::io("pty", e))?,
                    ),
                    libc::SIGCHLD => {}
                    sig => {
                        let _ = berth_sys::process::pidfd_send_signal(pidfd, sig);
                    }
                }
            }
        }
        if stdin_ready {
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = master_file.write_all(&buf[..n]);
                }
            }
        }
    }
    match exit {
        Some(code) => Ok(code),
        None => Err(RuntimeError::Init(
            "the container's process vanished".into(),
        )),
    }
}
