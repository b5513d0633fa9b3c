//! A console-socket receiver: the test listens on a unix socket, the runtime connects and sends
//! the pty master with SCM_RIGHTS, as runc's `--console-socket` protocol does.

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A received pty master; closed on drop.
#[derive(Debug)]
pub struct Master(pub RawFd);

impl Drop for Master {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.0);
    }
}

/// A listener waiting for one master fd on its own thread.
pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<Result<(Master, String), String>>,
}

fn receive(listener: UnixListener) -> Result<(Master, String), String> {
    let (stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    let n = msg.bytes;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    let mut masters: Vec<Master> = fds.into_iter().map(Master).collect();
    if masters.is_empty() {
        return Err(format!(
            "no fd in the console socket message (payload {name:?})"
        ));
    }
    Ok((masters.remove(0), name))
}

impl ConsoleSocket {
    /// Binds `path` and waits in the background for one connection.
    pub fn listen(path: &Path) -> ConsoleSocket {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(receive(listener));
        });
        ConsoleSocket {
            path: path.to_path_buf(),
            rx,
        }
    }

    /// The received master fd and the payload sent with it (runc sends the pty path).
    pub fn recv(&self, timeout: Duration) -> Result<(Master, String), String> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|_| format!("no console fd received within {timeout:?}"))?
    }
}

/// Reads from the master until `done(text)` is true, EOF/EIO, or `timeout`.
pub fn read_master(master: &Master, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let _ = fcntl(master.0, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let deadline = Instant::now() + timeout;
    let mut text = Vec::new();
    while Instant::now() < deadline && !done(&String::from_utf8_lossy(&text)) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(master.0, &mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break, // EIO: the slave side is closed
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}
