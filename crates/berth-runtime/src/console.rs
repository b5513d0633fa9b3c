//! The container's terminal: a pty allocated inside the container and its master sent over the
//! console socket (SCM_RIGHTS), as runc does.
//!
//! The parent connects the socket ([`connect_console_socket`]) before cloning, so that the path is
//! resolved on the host and the fd is inherited by the init. The init calls [`setup_console`] after
//! `pivot_root`, while still root (before the user switch): the pty comes from the container's own
//! `/dev/ptmx` (its devpts instance), so the peer is `/dev/pts/N` *inside* the container.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use berth_oci::{error::class_of_errno, Classify, ErrorClass};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use nix::unistd::{dup2, getpid, getsid, setsid};

/// A failure while setting up the console, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Connecting to the console socket failed.
    #[error("connecting to console socket {}: {source}", path.display())]
    Connect {
        /// The socket path given with `--console-socket`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Opening `/dev/ptmx` failed (no devpts mounted with `ptmxmode`, or no `/dev/ptmx` link).
    #[error("opening /dev/ptmx: {0}")]
    OpenMaster(Errno),
    /// `grantpt` failed.
    #[error("grantpt on /dev/ptmx: {0}")]
    Grant(Errno),
    /// `unlockpt` failed.
    #[error("unlockpt on /dev/ptmx: {0}")]
    Unlock(Errno),
    /// Reading the peer's name (`TIOCGPTN`) failed.
    #[error("reading the pty name: {0}")]
    PtsName(Errno),
    /// Opening the peer failed (by `TIOCGPTPEER`, then by name).
    #[error("opening the pty peer {name}: {errno}")]
    OpenPeer {
        /// `/dev/pts/N`.
        name: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// Setting the window size failed.
    #[error("setting the window size of {name} to {rows}x{cols}: {errno}")]
    WindowSize {
        /// `/dev/pts/N`.
        name: String,
        /// Rows (height).
        rows: u16,
        /// Columns (width).
        cols: u16,
        /// What the kernel said.
        errno: Errno,
    },
    /// Sending the master over the console socket failed (the receiver went away?).
    #[error("sending the pty master of {name} over the console socket: {errno}")]
    Send {
        /// `/dev/pts/N`.
        name: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// `setsid` failed.
    #[error("creating a new session for the console: {0}")]
    Setsid(Errno),
    /// `TIOCSCTTY` failed.
    #[error("making {name} the controlling terminal: {errno}")]
    ControllingTerminal {
        /// `/dev/pts/N`.
        name: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// Duplicating the peer onto a standard fd failed.
    #[error("duplicating {name} onto fd {fd}: {errno}")]
    Dup {
        /// `/dev/pts/N`.
        name: String,
        /// The target fd (0, 1, 2) or the temporary one.
        fd: i32,
        /// What the kernel said.
        errno: Errno,
    },
}

impl Classify for ConsoleError {
    fn class(&self) -> ErrorClass {
        match self {
            ConsoleError::Connect { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno),
            ConsoleError::OpenMaster(_) => ErrorClass::FailedPrecondition,
            ConsoleError::Grant(e)
            | ConsoleError::Unlock(e)
            | ConsoleError::PtsName(e)
            | ConsoleError::Setsid(e)
            | ConsoleError::OpenPeer { errno: e, .. }
            | ConsoleError::WindowSize { errno: e, .. }
            | ConsoleError::Send { errno: e, .. }
            | ConsoleError::ControllingTerminal { errno: e, .. }
            | ConsoleError::Dup { errno: e, .. } => class_of_errno(*e as i32),
        }
    }
}

/// Connects to the unix stream socket at `path` (runc's `--console-socket`). The fd is close-on-exec:
/// it survives the clone into the init but not the final exec.
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd, ConsoleError> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| ConsoleError::Connect {
            path: path.to_path_buf(),
            source,
        })
}

/// Opens the pty peer, preferring `TIOCGPTPEER` and falling back to the name on old kernels.
fn open_peer(master: &PtyMaster, name: &str) -> Result<OwnedFd, ConsoleError> {
    let errno = match berth_sys::pty::open_peer(master.as_fd()) {
        Ok(fd) => return Ok(fd),
        Err(errno) => errno,
    };
    let failed = |errno| ConsoleError::OpenPeer {
        name: name.to_string(),
        errno,
    };
    if !matches!(errno, Errno::EINVAL | Errno::ENOTTY) {
        return Err(failed(errno));
    }
    // Kernel < 4.13: open by name (std opens with O_CLOEXEC).
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name)
        .map(OwnedFd::from)
        .map_err(|e| failed(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
}

/// Sends `master` over `socket` with SCM_RIGHTS, with the peer's name as the message data.
fn send_master(socket: &OwnedFd, master: &PtyMaster, name: &str) -> Result<(), ConsoleError> {
    let data = [IoSlice::new(name.as_bytes())];
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &data,
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(|errno| ConsoleError::Send {
        name: name.to_string(),
        errno,
    })
}

/// Makes the peer the process's stdin, stdout and stderr, and closes the original.
fn dup_onto_stdio(peer: OwnedFd, name: &str) -> Result<(), ConsoleError> {
    let dup_err = |fd, errno| ConsoleError::Dup {
        name: name.to_string(),
        fd,
        errno,
    };
    // If the peer landed on 0..=2 (stdio was closed), dup2 onto itself would keep O_CLOEXEC and
    // dropping it would close a standard fd: move it above 2 first (try_clone dups to >= 3).
    let peer = if peer.as_raw_fd() <= 2 {
        peer.try_clone()
            .map_err(|e| dup_err(3, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?
    } else {
        peer
    };
    for fd in 0..=2 {
        dup2(peer.as_raw_fd(), fd).map_err(|e| dup_err(fd, e))?;
    }
    Ok(())
}

/// Gives the process a terminal and hands its master to whoever listens on `console_socket`:
/// 1. opens `/dev/ptmx` (the container's, after `pivot_root`), `grantpt`, `unlockpt`;
/// 2. opens the peer with `TIOCGPTPEER` (or by its `/dev/pts/N` name on kernels before 4.13);
/// 3. sets the window size `size = (rows, cols)` = the spec's `consoleSize` `(height, width)`;
/// 4. sends the master over the socket with SCM_RIGHTS, the data being the name `/dev/pts/N`,
///    then closes the master and the socket in this process;
/// 5. `setsid` (unless the process already leads its session), `TIOCSCTTY` on the peer;
/// 6. `dup2` the peer onto 0, 1 and 2.
///
/// Call while still root (the peer belongs to the opener; [`crate::security::switch_user`] hands
/// fds 0..=2 to the process's user).
pub fn setup_console(
    console_socket: OwnedFd,
    size: Option<(u16, u16)>,
) -> Result<(), ConsoleError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(ConsoleError::OpenMaster)?;
    grantpt(&master).map_err(ConsoleError::Grant)?;
    unlockpt(&master).map_err(ConsoleError::Unlock)?;
    let name = ptsname_r(&master).map_err(ConsoleError::PtsName)?;
    let peer = open_peer(&master, &name)?;
    if let Some((rows, cols)) = size {
        berth_sys::pty::set_window_size(peer.as_fd(), rows, cols).map_err(|errno| {
            ConsoleError::WindowSize {
                name: name.clone(),
                rows,
                cols,
                errno,
            }
        })?;
    }
    send_master(&console_socket, &master, &name)?;
    drop(master);
    drop(console_socket);
    let pid = getpid();
    if getsid(None).ok() != Some(pid) {
        setsid().map_err(ConsoleError::Setsid)?;
    }
    berth_sys::pty::set_controlling_terminal(peer.as_fd()).map_err(|errno| {
        ConsoleError::ControllingTerminal {
            name: name.clone(),
            errno,
        }
    })?;
    dup_onto_stdio(peer, &name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::reexec;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::{BufRead, Read, Write};
    use std::os::unix::net::UnixListener;

    const ENTRY: &str = "console::tests::child_entry";
    const SOCKET_VAR: &str = "BERTH_TEST_CONSOLE_SOCKET";

    /// The child: takes a console, proves it is the controlling terminal, echoes one line back.
    #[test]
    fn child_entry() {
        let Some(scenario) = reexec::scenario() else {
            return;
        };
        assert_eq!(scenario, "console");
        let path = std::env::var(SOCKET_VAR).unwrap();
        let socket = connect_console_socket(Path::new(&path)).unwrap();
        setup_console(socket, Some((24, 80))).unwrap();
        // From here on stdout is the pty: report through it.
        let tty_ok = std::fs::File::open("/dev/tty").is_ok();
        let size = berth_sys::pty::window_size(std::io::stdin().as_fd()).unwrap();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
        println!("got: {} tty={tty_ok} size={size:?}", line.trim());
        std::io::stdout().flush().unwrap();
    }

    /// Reads from `master` until `needle` shows up or 10 s pass.
    fn read_until(master: &mut std::fs::File, needle: &str) -> String {
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {needle:?}, got {seen:?}"
            );
            let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, ms).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 1024];
            let n = master.read(&mut buf).unwrap();
            assert!(n > 0, "pty closed, got {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    }

    #[test]
    fn master_arrives_over_the_socket_and_drives_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut cmd = reexec::command(ENTRY, "console");
        cmd.env(SOCKET_VAR, &path);
        let child = cmd.spawn().unwrap();

        let (conn, _) = listener.accept().unwrap();
        let (name, master) = berth_sys::pty::receive_fd(conn.as_fd()).unwrap();
        let name = String::from_utf8(name).unwrap();
        assert!(name.starts_with("/dev/pts/"), "{name}");
        assert_eq!(
            berth_sys::pty::window_size(master.as_fd()).unwrap(),
            (24, 80)
        );

        let mut master = std::fs::File::from(master);
        master.write_all(b"hello\n").unwrap();
        let seen = read_until(&mut master, "size=");
        assert!(
            seen.contains("got: hello tty=true size=(24, 80)"),
            "{seen:?}"
        );
        let out = child.wait_with_output().unwrap();
        // Keep the master open until the child is gone: its last writes go to the pty.
        drop(master);
        reexec::expect_success("console", &out);
    }

    #[test]
    fn connecting_to_a_missing_socket_names_it() {
        let err = connect_console_socket(Path::new("/nonexistent/console.sock")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/console.sock"),
            "{err}"
        );
        assert_eq!(err.class(), ErrorClass::NotFound);
    }
}
