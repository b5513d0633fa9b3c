//! The client side of an attached container (foreground `run`, `start -a`, `attach`): our own
//! stdio goes to the shim (it writes the container's output straight to our fds), and this loop
//! waits on the control channel while proxying signals and terminal size changes.

use super::terminal::{self, RawMode, Signals};
use anyhow::{Context, Result};
use berth_engine::shim_proto::{AttachRequest, Control, Event};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this code.
    Exit(i32),
    /// The user pressed the detach keys.
    Detached,
    /// The shim went away without saying (killed).
    Closed,
}

/// Which of our streams the container gets.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The container has a tty (raw mode here, resizes passed on).
    pub tty: bool,
    /// Forward signals to the container (`--sig-proxy`; never with a tty, as docker).
    pub sig_proxy: bool,
}

/// The fds an attach hands over: duplicates of ours (same open files), or /dev/null for a
/// stream not attached.
pub struct Stdio {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    null: OwnedFd,
}

impl Stdio {
    /// Duplicates our stdio and opens /dev/null.
    pub fn new() -> Result<Stdio> {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .context("opening /dev/null")?;
        let dup = |fd: BorrowedFd<'_>, what: &str| {
            fd.try_clone_to_owned()
                .with_context(|| format!("duplicating {what}"))
        };
        Ok(Stdio {
            stdin: dup(std::io::stdin().as_fd(), "stdin")?,
            stdout: dup(std::io::stdout().as_fd(), "stdout")?,
            stderr: dup(std::io::stderr().as_fd(), "stderr")?,
            null: null.into(),
        })
    }

    /// Our stdin.
    pub fn stdin(&self) -> BorrowedFd<'_> {
        self.stdin.as_fd()
    }

    /// The terminal size, from stdout or stdin.
    pub fn window_size(&self) -> Option<(u16, u16)> {
        terminal::client_window_size(self.stdout.as_fd(), self.stdin.as_fd())
    }

    /// The request for `streams`.
    pub fn request<'a>(&'a self, s: &Streams, detach_keys: &'a [u8]) -> AttachRequest<'a> {
        AttachRequest {
            stdin: s.stdin.then(|| self.stdin.as_fd()),
            stdout: if s.stdout {
                self.stdout.as_fd()
            } else {
                self.null.as_fd()
            },
            stderr: if s.stderr {
                self.stderr.as_fd()
            } else {
                self.null.as_fd()
            },
            tty_size: if s.tty { self.window_size() } else { None },
            detach_keys,
        }
    }
}

/// Everything that must be undone when the session ends: raw mode and the blocked signals.
pub struct Session<'a> {
    // Field order = drop order: the terminal comes back first, then the signal mask.
    raw: Option<RawMode<'a>>,
    stdio: &'a Stdio,
    signals: Signals,
    sig_proxy: bool,
}

impl<'a> Session<'a> {
    /// Blocks the proxied signals (+ SIGWINCH with a tty) and sets the terminal raw when the
    /// container has a tty and our stdin is a terminal. Call before the container starts so no
    /// signal is lost.
    pub fn begin(s: &Streams, stdio: &'a Stdio) -> Result<Session<'a>> {
        let sig_proxy = s.sig_proxy && !s.tty;
        let list: &[Signal] = if sig_proxy { terminal::PROXIED } else { &[] };
        let signals = Signals::block(list, s.tty)?;
        let raw = if s.tty && s.stdin && std::io::stdin().is_terminal() {
            Some(RawMode::enable(stdio.stdin())?)
        } else {
            None
        };
        Ok(Session {
            raw,
            stdio,
            signals,
            sig_proxy,
        })
    }

    /// Waits for the end of the session; `forward` sends a proxied signal to the container.
    pub fn run(&mut self, control: &mut Control, forward: &mut dyn FnMut(Signal)) -> Result<Ended> {
        loop {
            let (ctl_ready, sig_ready) = {
                let mut fds = [
                    PollFd::new(control.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).context("waiting for the container"),
                }
                let ready = |f: &PollFd| {
                    f.revents().is_some_and(|r| {
                        r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    })
                };
                (ready(&fds[0]), ready(&fds[1]))
            };
            if sig_ready {
                while let Some(sig) = self.signals.next() {
                    if sig == Signal::SIGWINCH {
                        if let Some((rows, cols)) = self.stdio.window_size() {
                            let _ = control.resize(rows, cols);
                        }
                    } else if self.sig_proxy {
                        forward(sig);
                    }
                }
            }
            if ctl_ready {
                match control.next_event().context("reading from the shim")? {
                    Event::Attached => {}
                    Event::Detached => return Ok(Ended::Detached),
                    Event::Exit(code) => return Ok(Ended::Exit(code)),
                    Event::Closed => return Ok(Ended::Closed),
                }
            }
        }
    }

    /// Ends raw mode now (before printing anything after the session).
    pub fn end(mut self) {
        self.raw.take();
    }
}
