//! Process creation into new namespaces, and pidfds.
//!
//! `clone` is only sound here because the caller is single-threaded: after `clone` in a threaded
//! process only async-signal-safe code may run (another thread may hold the allocator's lock).
//! [`clone_process`] checks this at run time rather than trusting every caller. [`fork_exec`]
//! needs no such check: its child makes only system calls before its execve.

use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::{FromRawFd, OwnedFd};

/// Failures of the process primitives.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(
        "refusing to clone: this process has {0} threads and cloning is only safe when it has one"
    )]
    MultiThreaded(usize),
    #[error("cannot read the thread count of this process: {0}")]
    ThreadCount(std::io::Error),
    #[error("clone with flags {flags:#x} failed: {errno}")]
    Clone { flags: u64, errno: Errno },
    #[error("pidfd_open({pid}) failed: {errno}")]
    PidfdOpen { pid: i32, errno: Errno },
    #[error("pidfd_send_signal(signal {signal}) failed: {errno}")]
    PidfdSendSignal { signal: i32, errno: Errno },
    #[error("starting {exe}: {errno}")]
    Spawn { exe: String, errno: Errno },
}

/// Which side of a [`clone_process`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneResult {
    /// In the parent; the child's pid (in the parent's pid namespace).
    Parent(Pid),
    /// In the new child.
    Child,
}

/// Field `n` (numbered as in proc(5), from 3 on) of a `/proc/<pid>/stat` text. The command
/// (field 2) is in parentheses and may hold spaces: fields are counted after its last ')'.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.split_whitespace().nth(n.checked_sub(3)?)
}

/// The number of threads of the calling process, from `/proc/self/stat`.
pub fn thread_count() -> Result<usize, ProcessError> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(ProcessError::ThreadCount)?;
    // Field 20: num_threads.
    stat_field(&stat, 20)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            ProcessError::ThreadCount(std::io::Error::other("malformed /proc/self/stat"))
        })
}

/// Like `fork`, but the child starts in the new namespaces named by `namespace_flags`
/// (`CLONE_NEW*` bits). Fails unless the calling process is single-threaded.
pub fn clone_process(namespace_flags: u64) -> Result<CloneResult, ProcessError> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(ProcessError::MultiThreaded(threads));
    }
    // The process is single-threaded (checked above): the child owns a consistent copy of the
    // whole address space, exactly as after fork(2), and may run any code.
    fork_like(namespace_flags)
}

/// A fork-like `clone` with `namespace_flags`: what the child may run is its caller's to
/// justify (anything in a single-threaded process; only system calls otherwise).
fn fork_like(namespace_flags: u64) -> Result<CloneResult, ProcessError> {
    let flags = namespace_flags | libc::SIGCHLD as u64;
    // SAFETY: a NULL stack makes clone fork-like (the child runs on a copy of the caller's
    // stack, in a copy of its memory), and the remaining pointer arguments are unused because no
    // CLONE_VM, CLONE_*TID or CLONE_SETTLS flag is passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(ProcessError::Clone {
            flags,
            errno: Errno::last(),
        }),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Opens a pidfd for `pid`: a handle that keeps naming this process even if its pid is reused.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, ProcessError> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new fd or -1; no memory is shared.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(ProcessError::PidfdOpen {
            pid: pid.as_raw(),
            errno: Errno::last(),
        });
    }
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd` (no pid-reuse race).
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), ProcessError> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid pidfd, a signal number, a NULL siginfo (the kernel fills in a default one)
    // and zero flags; the call reads no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(ProcessError::PidfdSendSignal {
            signal,
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// Joins a new session keyring named `name`, so the container does not share the host's keys.
pub fn join_session_keyring(name: &std::ffi::CStr) -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, name) only reads the NUL-terminated string `name`,
    // which outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Starts `exe` with `args` (`argv[0]` is `exe`) in a forked child whose stdin, stdout and
/// stderr are /dev/null, and returns its pid without waiting for its exec, which std's
/// `Command::spawn` does (the child's execve: 0.3 ms for a large binary). A failed exec shows
/// only as the child's exit status 127, so the caller checks `exe` first. The child inherits
/// the environment and every descriptor without close-on-exec, and starts, as after std's
/// spawn, with an empty signal mask and SIGPIPE at its default.
///
/// Safe in a threaded process too: everything the child needs is prepared before the fork, and
/// the child only makes system calls (no allocation, no lock) until its execve, as
/// `posix_spawn` does.
pub fn fork_exec(exe: &std::path::Path, args: &[std::ffi::OsString]) -> Result<Pid, ProcessError> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let spawn_err = |errno| ProcessError::Spawn {
        exe: exe.display().to_string(),
        errno,
    };
    let c = |s: &std::ffi::OsStr| CString::new(s.as_bytes()).map_err(|_| spawn_err(Errno::EINVAL));
    let path = c(exe.as_os_str())?;
    let argv = std::iter::once(Ok(path.clone()))
        .chain(args.iter().map(|a| c(a)))
        .collect::<Result<Vec<_>, _>>()?;
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(spawn_err)?;
    // SAFETY: open just returned this descriptor; nothing else owns it.
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    let null_fd = null.as_raw_fd();
    let empty = nix::sys::signal::SigSet::empty();
    // The child, which may have been forked from a threaded process, runs only `exec_prepared`
    // (system calls, nothing else) on values prepared before the fork.
    match fork_like(0)? {
        CloneResult::Child => exec_prepared(null_fd, &path, &argv_ptrs, empty.as_ref()),
        CloneResult::Parent(pid) => Ok(pid),
    }
}

/// The child's side of [`fork_exec`]: system calls only (no allocation, no lock, nothing that
/// could unwind) until execve or _exit.
fn exec_prepared(
    null_fd: libc::c_int,
    path: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    empty: &libc::sigset_t,
) -> ! {
    // As std's spawn does: an empty signal mask, SIGPIPE back to its default (Rust's runtime
    // ignores it, and an exec keeps "ignored").
    // SAFETY: sigprocmask reads the initialised set it is given.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, empty, std::ptr::null_mut()) };
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    for fd in 0..3 {
        // SAFETY: dup2 on descriptors; the copies are left without close-on-exec.
        if unsafe { libc::dup2(null_fd, fd) } < 0 {
            exit_now(127);
        }
    }
    // SAFETY: `path` is NUL-terminated and `argv` a NULL-terminated array of pointers to
    // NUL-terminated strings, all alive in this process's memory until the exec replaces it.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    exit_now(127)
}

/// Exits the current process at once, without running destructors or atexit handlers: what a
/// cloned child must do instead of returning into the parent's call stack.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// Spawns `cmd` with an empty signal mask and default signal dispositions in the child, whatever
/// the caller blocked (an init blocks every signal to read them from a signalfd; its child must
/// not inherit that).
pub fn spawn_with_clean_signals(
    cmd: &mut std::process::Command,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls sigprocmask, which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)
        })
    };
    cmd.spawn()
}

/// Restores the default disposition of every signal the Rust runtime or a caller may have
/// changed (SIGPIPE is ignored by Rust's runtime; an exec'd program inherits "ignored"), so a
/// container's process starts as it would from a shell.
pub fn reset_signal_dispositions() -> Result<(), Errno> {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [
        Signal::SIGPIPE,
        Signal::SIGXFSZ,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGCHLD,
    ] {
        // SAFETY: installing SIG_DFL registers no handler code, so no async-signal-safety or
        // reentrancy requirement applies.
        unsafe { signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Hands the heap's free pages back to the kernel (glibc's `malloc_trim`): for long-lived
/// monitors whose start-up allocations are long freed. Returns whether memory was released;
/// elsewhere than glibc, a no-op.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks and releases the allocator's own free chunks under
        // its lock; it touches no memory the program owns.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn trimming_the_heap_is_harmless() {
        let v: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 << 10]).collect();
        drop(v);
        trim_heap();
        let again = vec![2u8; 1 << 20];
        assert_eq!(again[12345], 2);
    }

    #[test]
    fn fork_exec_checks_its_arguments() {
        let bad = fork_exec(Path::new("/bin/true"), &["a\0b".into()]);
        assert!(matches!(
            bad,
            Err(ProcessError::Spawn {
                errno: Errno::EINVAL,
                ..
            })
        ));
    }

    #[test]
    fn fork_exec_runs_the_program_from_a_threaded_process() {
        // The test harness is threaded; another thread allocates all along.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::black_box(vec![0u8; 4096]);
                }
            })
        };
        for _ in 0..20 {
            let pid = fork_exec(Path::new("/bin/sh"), &["-c".into(), "exit 3".into()]).unwrap();
            let status = nix::sys::wait::waitpid(pid, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 3));
        }
        let missing = fork_exec(Path::new("/nonexistent/berth"), &[]).unwrap();
        let status = nix::sys::wait::waitpid(missing, None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(missing, 127));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        busy.join().unwrap();
    }

    #[test]
    fn stat_fields_are_counted_after_the_command() {
        let stat = "42 (a) b (c) R 1 42 42 0 -1 4194560";
        assert_eq!(stat_field(stat, 3), Some("R"));
        assert_eq!(stat_field(stat, 4), Some("1"));
        assert_eq!(stat_field(stat, 2), None);
        assert_eq!(stat_field(stat, 30), None);
    }

    #[test]
    fn counts_threads() {
        assert!(thread_count().unwrap() >= 1);
    }

    #[test]
    fn refuses_to_clone_when_threaded() {
        // The test harness runs tests on several threads, but even alone a second thread proves it.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv().ok());
        let err = clone_process(0).unwrap_err();
        assert!(
            matches!(err, ProcessError::MultiThreaded(n) if n >= 2),
            "{err}"
        );
        tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn pidfd_of_self_works() {
        let fd = pidfd_open(nix::unistd::getpid()).unwrap();
        pidfd_send_signal(&fd, 0).unwrap();
    }
}
