//! OCI hooks: run with the container state on stdin, with the hook's env and optional timeout.
//!
//! Each hook is a fork+exec of `path` with `args` (`args[0]` is the argv[0] the hook sees) and
//! exactly the `env` of the spec (empty when none). The state JSON is written into the stdin pipe
//! *before* the hook starts, so a hook that never reads stdin cannot block us or send us SIGPIPE.
//! stdout and stderr are collected (their tails go into the error message). No threads: one `poll`
//! loop multiplexes the two pipes, the timeout and the hook's exit, so this may run inside the
//! container init (createContainer and startContainer hooks) as well as in the runtime.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use berth_oci::oci_spec::runtime::Hook;
use berth_oci::{error::class_of_errno, Classify, ErrorClass};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::pipe2;
use nix::unistd::Pid;

/// How much of a hook's stdout and stderr is kept for the error message.
const TAIL_BYTES: usize = 2048;

/// A hook that could not run or did not succeed, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The spec's timeout is not a positive number of seconds.
    #[error("{phase} hook {}: timeout must be greater than zero, got {timeout}", path.display())]
    InvalidTimeout {
        /// The hook's program.
        path: PathBuf,
        /// The phase (`prestart`, `createRuntime`, ...).
        phase: String,
        /// The timeout given.
        timeout: i64,
    },
    /// Preparing the stdin pipe with the state failed.
    #[error("{phase} hook {}: passing the state on stdin: {errno}", path.display())]
    StatePipe {
        /// The hook's program.
        path: PathBuf,
        /// The phase.
        phase: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// fork/exec of the hook failed (missing program, not executable...).
    #[error("{phase} hook {}: cannot start: {source}", path.display())]
    Spawn {
        /// The hook's program.
        path: PathBuf,
        /// The phase.
        phase: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Waiting for the hook or reading its output failed.
    #[error("{phase} hook {}: waiting for it: {source}", path.display())]
    Wait {
        /// The hook's program.
        path: PathBuf,
        /// The phase.
        phase: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The hook ran longer than its timeout and was killed.
    #[error("{phase} hook {} timed out after {secs} s", path.display())]
    TimedOut {
        /// The hook's program.
        path: PathBuf,
        /// The phase.
        phase: String,
        /// The timeout, in seconds.
        secs: i64,
    },
    /// The hook exited non-zero or was killed by a signal.
    #[error("{phase} hook {} failed: {status}{}", path.display(), output_tail(stdout, stderr))]
    Failed {
        /// The hook's program.
        path: PathBuf,
        /// The phase.
        phase: String,
        /// How it ended.
        status: ExitStatus,
        /// The end of what it wrote on stdout.
        stdout: String,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
}

fn output_tail(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    if !stdout.is_empty() {
        s.push_str(&format!("; stdout: {stdout}"));
    }
    if !stderr.is_empty() {
        s.push_str(&format!("; stderr: {stderr}"));
    }
    s
}

impl Classify for HookError {
    fn class(&self) -> ErrorClass {
        match self {
            HookError::InvalidTimeout { .. } => ErrorClass::InvalidArgument,
            HookError::StatePipe { errno, .. } => class_of_errno(*errno as i32),
            HookError::Spawn { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno),
            HookError::Wait { .. } => ErrorClass::Internal,
            HookError::TimedOut { .. } => ErrorClass::Unavailable,
            HookError::Failed { .. } => ErrorClass::FailedPrecondition,
        }
    }
}

/// Runs `hooks` one after the other, each with `state_json` on stdin; stops at the first failure.
/// `phase` (`prestart`, `createRuntime`, `createContainer`, `startContainer`, `poststart`,
/// `poststop`) only names the phase in errors; the caller decides whether a failure is fatal
/// (for `poststart` and `poststop` the spec says to warn and go on).
pub fn run_hooks(hooks: &[Hook], state_json: &[u8], phase: &str) -> Result<(), HookError> {
    hooks
        .iter()
        .try_for_each(|hook| run_hook(hook, state_json, phase))
}

/// Runs every hook of a phase whose failures must not stop the lifecycle (poststart, poststop):
/// each failure is reported on stderr as a warning and the remaining hooks still run.
pub fn run_hooks_warn(hooks: &[Hook], state_json: &[u8], phase: &str) {
    for hook in hooks {
        if let Err(e) = run_hook(hook, state_json, phase) {
            eprintln!("warning: {e}");
        }
    }
}

/// Runs one hook; see the module doc.
pub fn run_hook(hook: &Hook, state_json: &[u8], phase: &str) -> Result<(), HookError> {
    let path = hook.path().clone();
    let timeout = match hook.timeout() {
        Some(secs) if secs <= 0 => {
            return Err(HookError::InvalidTimeout {
                path,
                phase: phase.into(),
                timeout: secs,
            })
        }
        Some(secs) => Some(secs),
        None => None,
    };
    let stdin = state_pipe(state_json).map_err(|errno| HookError::StatePipe {
        path: path.clone(),
        phase: phase.into(),
        errno,
    })?;
    let mut cmd = Command::new(&path);
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((key, value)) = entry.split_once('=') {
            cmd.env(key, value);
        }
    }
    // Its own process group, so that a timeout kills what the hook started too.
    cmd.process_group(0);
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|source| HookError::Spawn {
        path: path.clone(),
        phase: phase.into(),
        source,
    })?;
    let waited = supervise(child, timeout.map(|s| Duration::from_secs(s as u64)));
    let wait_err = |source| HookError::Wait {
        path: path.clone(),
        phase: phase.into(),
        source,
    };
    match waited.map_err(wait_err)? {
        Outcome::TimedOut => Err(HookError::TimedOut {
            path,
            phase: phase.into(),
            secs: timeout.unwrap_or_default(),
        }),
        Outcome::Exited { status, .. } if status.success() => Ok(()),
        Outcome::Exited {
            status,
            stdout,
            stderr,
        } => Err(HookError::Failed {
            path,
            phase: phase.into(),
            status,
            stdout,
            stderr,
        }),
    }
}

/// A pipe whose read end holds `data`, already written and with the write end closed.
fn state_pipe(data: &[u8]) -> Result<OwnedFd, Errno> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
    // The default pipe holds 64 KiB; make room for a larger state (up to pipe-max-size).
    if data.len() > 65536 {
        let size = i32::try_from(data.len()).map_err(|_| Errno::E2BIG)?;
        fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(size))?;
    }
    // Never block: if it does not fit, fail instead of hanging.
    fcntl(write.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    let mut file = std::fs::File::from(write);
    file.write_all(data)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(read)
}

/// How a supervised hook ended.
enum Outcome {
    TimedOut,
    Exited {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
}

/// The last [`TAIL_BYTES`] read from a pipe; `None` once it reached EOF.
struct Tail<R> {
    pipe: Option<R>,
    tail: VecDeque<u8>,
}

impl<R: Read + AsFd> Tail<R> {
    fn new(pipe: Option<R>) -> std::io::Result<Self> {
        if let Some(p) = &pipe {
            fcntl(p.as_fd().as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        }
        Ok(Self {
            pipe,
            tail: VecDeque::new(),
        })
    }

    /// Reads what is available without blocking; drops the pipe at EOF.
    fn drain(&mut self) -> std::io::Result<()> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(());
        };
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.pipe = None;
                    return Ok(());
                }
                Ok(n) => {
                    self.tail.extend(&buf[..n]);
                    let excess = self.tail.len().saturating_sub(TAIL_BYTES);
                    self.tail.drain(..excess);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pipe.as_ref().map(|p| p.as_fd())
    }

    fn text(&self) -> String {
        let bytes: Vec<u8> = self.tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

/// Collects the hook's output until it exits or `timeout` passes (then kills it).
///
/// The loop wakes on output, on the pipes' EOF (normally the hook's exit) and at least every
/// 50 ms to notice an exit while a daemonised grandchild keeps the pipes open.
fn supervise(mut child: Child, timeout: Option<Duration>) -> std::io::Result<Outcome> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut out = Tail::new(child.stdout.take())?;
    let mut err = Tail::new(child.stderr.take())?;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            out.drain()?;
            err.drain()?;
            return Ok(Outcome::Exited {
                status,
                stdout: out.text(),
                stderr: err.text(),
            });
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            let group = Pid::from_raw(child.id() as i32);
            if killpg(group, Signal::SIGKILL).is_err() {
                child.kill()?;
            }
            child.wait()?;
            return Ok(Outcome::TimedOut);
        }
        let left = deadline.map_or(Duration::MAX, |d| d - now);
        let wait = if out.pipe.is_none() && err.pipe.is_none() {
            // Pipes closed: the exit is imminent; back off gently.
            nap = (nap * 2).min(Duration::from_millis(50));
            nap
        } else {
            Duration::from_millis(50)
        }
        .min(left);
        let ms = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let mut fds: Vec<PollFd> = [out.fd(), err.fd()]
            .into_iter()
            .flatten()
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, ms) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        drop(fds);
        out.drain()?;
        err.drain()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn state_arrives_on_stdin_with_args_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            r#"{{"path":"/bin/sh","args":["my-hook","-c","cat > {0}; echo \"$0 $FOO $HOME\" >> {0}"],
                "env":["FOO=bar"]}}"#,
            out.display()
        );
        run_hooks(&[hook(&script)], br#"{"id":"c1"}"#, "prestart").unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, "{\"id\":\"c1\"}my-hook bar \n");
    }

    #[test]
    fn hooks_run_in_order_and_stop_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let step = |n: u32, code: u32| {
            hook(&format!(
                r#"{{"path":"/bin/sh","args":["sh","-c","echo {n} >> {}; exit {code}"]}}"#,
                log.display()
            ))
        };
        let err = run_hooks(&[step(1, 0), step(2, 3), step(3, 0)], b"{}", "poststart").unwrap_err();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "1\n2\n");
        assert!(matches!(err, HookError::Failed { .. }));
    }

    #[test]
    fn failure_names_path_phase_status_and_stderr() {
        let h = hook(
            r#"{"path":"/bin/sh","args":["sh","-c","echo some output; echo it broke >&2; exit 7"]}"#,
        );
        let err = run_hooks(&[h], b"{}", "createRuntime").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("createRuntime hook /bin/sh failed"),
            "{msg}"
        );
        assert!(msg.contains("exit status: 7"), "{msg}");
        assert!(msg.contains("stderr: it broke"), "{msg}");
        assert!(msg.contains("stdout: some output"), "{msg}");
        assert_eq!(err.class(), ErrorClass::FailedPrecondition);
    }

    #[test]
    fn timeout_kills_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","sleep 30 & echo $! > {}; wait"],"timeout":1}}"#,
            pidfile.display()
        ));
        let started = Instant::now();
        let err = run_hooks(&[h], b"{}", "prestart").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(err.to_string(), "prestart hook /bin/sh timed out after 1 s");
        assert_eq!(err.class(), ErrorClass::Unavailable);
        // The hook's own children die with it (same process group).
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next();
        assert!(matches!(state, None | Some("Z")), "sleep survived: {stat}");
    }

    #[test]
    fn a_daemonised_grandchild_holding_the_pipes_does_not_block() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","sleep 5 & exit 0"]}"#);
        let started = Instant::now();
        run_hooks(&[h], b"{}", "poststop").unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_hook_ignoring_a_large_state_is_fine() {
        let state = vec![b'x'; 200_000];
        let h = hook(r#"{"path":"/bin/true"}"#);
        run_hooks(&[h], &state, "prestart").unwrap();
    }

    #[test]
    fn bad_timeout_and_missing_program() {
        let err = run_hooks(
            &[hook(r#"{"path":"/bin/true","timeout":0}"#)],
            b"{}",
            "prestart",
        )
        .unwrap_err();
        assert!(matches!(err, HookError::InvalidTimeout { .. }), "{err}");
        let err = run_hooks(
            &[hook(r#"{"path":"/nonexistent/hook"}"#)],
            b"{}",
            "prestart",
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hook"), "{err}");
        assert_eq!(err.class(), ErrorClass::NotFound);
    }
}
