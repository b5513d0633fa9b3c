//! The terminal side of an attached container: raw mode (restored on every exit path by a drop
//! guard; the signals that would end the process are blocked and read from a signalfd instead,
//! so they cannot bypass the guard), the window size, and the signals to proxy.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd};

/// Puts a terminal in raw mode; the previous mode comes back on drop.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// Raw mode on `fd` (a terminal), as docker's CLI sets it for `-t`.
    pub fn enable(fd: BorrowedFd<'a>) -> Result<RawMode<'a>> {
        let saved = termios::tcgetattr(fd).context("reading the terminal mode")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        // Keep output post-processing off but let the terminal itself stay usable if we die:
        // the guard restores `saved` anyway.
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).context("setting the terminal raw")?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// `(rows, cols)` of the terminal `fd`, if it is one.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    berth_sys::pty::window_size(fd).ok()
}

/// The client's terminal size: its stdout's, else its stdin's.
pub fn client_window_size(stdout: BorrowedFd<'_>, stdin: BorrowedFd<'_>) -> Option<(u16, u16)> {
    window_size(stdout).or_else(|| window_size(stdin))
}

/// The signals docker's CLI forwards to the container with `--sig-proxy` (all catchable ones
/// except SIGCHLD, SIGPIPE, SIGURG and SIGWINCH, which is a resize).
pub const PROXIED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGSYS,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
];

/// Signals read from a signalfd while they are blocked; the old mask comes back on drop.
pub struct Signals {
    fd: SignalFd,
    old: SigSet,
}

impl Signals {
    /// Blocks `signals` (+ SIGWINCH when `winch`) and reads them from a signalfd.
    pub fn block(signals: &[Signal], winch: bool) -> Result<Signals> {
        let mut set = SigSet::empty();
        for s in signals {
            set.add(*s);
        }
        if winch {
            set.add(Signal::SIGWINCH);
        }
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .context("blocking signals")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .context("creating a signalfd")?;
        Ok(Signals { fd, old })
    }

    /// The fd to poll.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next pending signal, if any.
    pub fn next(&mut self) -> Option<Signal> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            _ => None,
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// Docker's `--detach-keys` syntax (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) -> bytes.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), [b'a', 0]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn signals_are_read_from_the_fd_and_mask_restored() {
        // SIGUSR2 to ourselves while blocked: it waits in the signalfd.
        let before = SigSet::thread_get_mask().unwrap();
        {
            let mut s = Signals::block(&[Signal::SIGUSR2], false).unwrap();
            nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
            assert_eq!(s.next(), Some(Signal::SIGUSR2));
            assert_eq!(s.next(), None);
        }
        assert_eq!(
            SigSet::thread_get_mask().unwrap().contains(Signal::SIGUSR2),
            before.contains(Signal::SIGUSR2)
        );
    }
}
