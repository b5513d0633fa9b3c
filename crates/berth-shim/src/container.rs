//! One run of the container: create it with berth-runtime with its stdio arranged (pipes, or a
//! pty whose master comes back over a console socket), then start it.

use berth_engine::shim_proto::ShimConfig;
use berth_runtime::{CreateOptions, Runtime};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::Pid;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

/// A started container: its init and the shim's ends of its stdio.
#[derive(Debug)]
pub struct Incarnation {
    pub pid: Pid,
    /// Read end of the container's stdout pipe (non-blocking).
    pub stdout: Option<File>,
    /// Read end of the container's stderr pipe (non-blocking).
    pub stderr: Option<File>,
    /// The pty master (`-t`, non-blocking): output and input both.
    pub master: Option<File>,
    /// Write end of the container's stdin pipe (`-i` without `-t`).
    pub stdin: Option<File>,
    /// When it started (for the restart backoff and the health start period).
    pub started: Instant,
    /// The init's start time in clock ticks since boot (tells it from a reused pid).
    pub pid_start_time: u64,
    /// Until it is waited for: the init may not have exec'd the user's program yet.
    pub exec_pending: Option<berth_runtime::ExecPending>,
    /// The container's mount namespace, held open: when the init exits, the kernel tears the
    /// namespace's mounts down (an RCU grace period) before it tells the shim; held here, that
    /// work happens when the shim lets go, after it has reported the exit.
    pub mount_ns: Option<File>,
}

pub fn nonblocking(f: &impl AsFd) {
    let fd = f.as_fd().as_raw_fd();
    if let Ok(bits) = fcntl(fd, FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(bits) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("creating a stdio pipe: {e}"))
}

/// Points fd `target` (0, 1 or 2) at `fd`.
fn put_at(fd: &impl AsFd, target: i32) -> Result<(), String> {
    nix::unistd::dup2(fd.as_fd().as_raw_fd(), target)
        .map(|_| ())
        .map_err(|e| format!("arranging the container's stdio (fd {target}): {e}"))
}

/// Creates and starts container `id` from `bundle`. The container's init inherits the shim's fds
/// 0/1/2 at create, so they point at the container's pipes just for that call, and at /dev/null
/// again after. `before_clone` and `meanwhile` run as in [`Runtime::create_for_start`]. On
/// failure, the half-made container is deleted and the error text returned.
#[allow(clippy::too_many_arguments)]
pub fn launch(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    run_dir: &Path,
    cfg: &ShimConfig,
    tty_size: Option<(u16, u16)>,
    network_namespace: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    before_clone: &mut dyn FnMut() -> Result<(), String>,
    meanwhile: &mut dyn FnMut(),
) -> Result<Incarnation, String> {
    // A leftover from a shim that died (kill -9): make room.
    if rt.load(id).is_ok() {
        let _ = rt.delete(id, true);
    }
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("opening /dev/null: {e}"))?;
    let mut inc = Incarnation {
        pid: Pid::from_raw(0),
        stdout: None,
        stderr: None,
        master: None,
        stdin: None,
        started: Instant::now(),
        pid_start_time: 0,
        exec_pending: None,
        mount_ns: None,
    };
    let mut opts = CreateOptions {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        network_namespace,
        ..Default::default()
    };
    let console_path = run_dir.join("console.sock");
    let created = if cfg.tty {
        let _ = std::fs::remove_file(&console_path);
        // A short path to the socket stays valid only while the closure runs (it goes through
        // a directory fd): the runtime connects to it during create, inside.
        let mut pid = Err(berth_runtime::RuntimeError::InvalidArgument(
            "the console socket was not set up".into(),
        ));
        let listener = berth_engine::shim_proto::with_short_path(&console_path, |p| {
            let l = std::os::unix::net::UnixListener::bind(p)?;
            opts.console_socket = Some(p.to_path_buf());
            // The window size is set between create and start: the init must wait for it.
            pid = rt.create_for_start(&opts, false, before_clone, meanwhile);
            Ok(l)
        })
        .map_err(|e| format!("console socket {}: {e}", console_path.display()))?;
        let _ = std::fs::remove_file(&console_path);
        pid.and_then(|created| {
            // The init connected and sent the master during create: it is queued.
            listener.set_nonblocking(true).ok();
            let (conn, _) = listener
                .accept()
                .map_err(|e| berth_runtime::RuntimeError::io(&console_path, e))?;
            let (_, master) = berth_sys::pty::receive_fd(conn.as_fd())
                .map_err(|e| berth_runtime::RuntimeError::sys("receive the pty master", e))?;
            let master = File::from(master);
            nonblocking(&master);
            if let Some((rows, cols)) = tty_size {
                // Before start: the program may ask for the size first thing.
                let _ = berth_sys::pty::set_window_size(master.as_fd(), rows, cols);
            }
            inc.master = Some(master);
            Ok(created)
        })
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin_r = if cfg.open_stdin {
            let (r, w) = pipe()?;
            inc.stdin = Some(File::from(w));
            Some(r)
        } else {
            None
        };
        match &stdin_r {
            Some(r) => put_at(r, 0)?,
            None => put_at(&devnull, 0)?,
        }
        put_at(&out_w, 1)?;
        put_at(&err_w, 2)?;
        let pid = rt.create_for_start(&opts, true, before_clone, meanwhile);
        for fd in 0..3 {
            put_at(&devnull, fd)?;
        }
        drop((out_w, err_w, stdin_r));
        let (out_r, err_r) = (File::from(out_r), File::from(err_r));
        nonblocking(&out_r);
        nonblocking(&err_r);
        inc.stdout = Some(out_r);
        inc.stderr = Some(err_r);
        pid
    };
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let _ = rt.delete(id, true);
            return Err(e.to_string());
        }
    };
    inc.pid = created.pid;
    inc.pid_start_time = created.pid_start_time();
    inc.mount_ns = File::open(format!("/proc/{}/ns/mnt", created.pid)).ok();
    berth_sys::timing::mark("shim created");
    match rt.start_created(created) {
        Ok(pending) => inc.exec_pending = Some(pending),
        Err(e) => {
            let _ = rt.delete(id, true);
            return Err(e.to_string());
        }
    }
    inc.started = Instant::now();
    berth_sys::timing::mark("shim started");
    Ok(inc)
}
