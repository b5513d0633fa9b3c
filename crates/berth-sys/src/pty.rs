//! Pseudo-terminal ioctls that nix does not wrap: open the peer (slave) of a master through the
//! master itself (`TIOCGPTPEER`), make a terminal the controlling terminal of the session
//! (`TIOCSCTTY`) and set its window size (`TIOCSWINSZ`).
//!
//! Opening the master, `grantpt`, `unlockpt` and `ptsname_r` are safe in `nix::pty`; only the calls
//! here need `unsafe`.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

/// Opens the peer (slave side) of the pty master `master` with `TIOCGPTPEER` (Linux >= 4.13).
///
/// Unlike opening `/dev/pts/N` by name, this cannot be redirected by a path swapped under us, and it
/// works when the devpts instance of the master is not mounted where the caller looks. The new fd
/// is opened `O_RDWR | O_NOCTTY | O_CLOEXEC`. Fails with `EINVAL` or `ENOTTY` on kernels without
/// the ioctl; the caller may then fall back to opening the name from `ptsname_r`.
pub fn open_peer(master: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes an int of open flags by value and touches no memory of ours;
    // `master` is a valid open fd for the duration of the call (borrowed).
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: on success the ioctl returned a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes the terminal `tty` the controlling terminal of the calling process's session
/// (`TIOCSCTTY` with argument 0: do not steal it from another session).
///
/// The caller must be a session leader without a controlling terminal (call `setsid` first).
pub fn set_controlling_terminal(tty: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int by value (0 = do not steal) and touches no memory of ours;
    // `tty` is a valid open fd for the duration of the call.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) };
    Errno::result(ret).map(drop)
}

/// Sets the window size of the terminal `tty` to `rows` x `cols` (`TIOCSWINSZ`).
pub fn set_window_size(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from the pointer, which points to a live,
    // initialised local for the duration of the call; `tty` is a valid open fd.
    let ret = unsafe {
        libc::ioctl(
            tty.as_raw_fd(),
            libc::TIOCSWINSZ,
            &size as *const libc::winsize,
        )
    };
    Errno::result(ret).map(drop)
}

/// Reads the window size of the terminal `tty` as `(rows, cols)` (`TIOCGWINSZ`).
pub fn window_size(tty: BorrowedFd<'_>) -> Result<(u16, u16), Errno> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, which points to a live
    // local of that type for the duration of the call; `tty` is a valid open fd.
    let ret = unsafe {
        libc::ioctl(
            tty.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut size as *mut libc::winsize,
        )
    };
    Errno::result(ret)?;
    Ok((size.ws_row, size.ws_col))
}

/// Receives one fd sent with SCM_RIGHTS over the unix socket `socket` (the other end of a console
/// socket), with the message data (the pty name, e.g. `/dev/pts/3`). The fd arrives close-on-exec.
/// Fails with `EBADMSG` when the message carries no fd, or had its control data truncated (extra
/// fds are closed).
pub fn receive_fd(socket: BorrowedFd<'_>) -> Result<(Vec<u8>, OwnedFd), Errno> {
    let mut data = vec![0u8; 4096];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
    let (len, raw_fds, truncated) = {
        let mut iov = [IoSliceMut::new(&mut data)];
        let msg = recvmsg::<UnixAddr>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut raw_fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                raw_fds.extend(fds);
            }
        }
        (msg.bytes, raw_fds, msg.flags.contains(MsgFlags::MSG_CTRUNC))
    };
    let mut owned: Vec<OwnedFd> = raw_fds
        .into_iter()
        // SAFETY: the kernel has just installed these fds in our table for this message; nothing
        // else in the process knows their numbers, so each gets exactly one owner here.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if truncated || owned.is_empty() {
        return Err(Errno::EBADMSG);
    }
    data.truncate(len);
    Ok((data, owned.swap_remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, unlockpt};
    use std::os::fd::AsFd;

    #[test]
    fn peer_and_window_size() {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let peer = open_peer(master.as_fd()).unwrap();
        set_window_size(peer.as_fd(), 33, 120).unwrap();
        assert_eq!(window_size(master.as_fd()).unwrap(), (33, 120));
        // Not a session leader with a free terminal: TIOCSCTTY must fail, not crash.
        let not_tty = std::fs::File::open("/dev/null").unwrap();
        assert!(set_controlling_terminal(not_tty.as_fd()).is_err());
    }

    #[test]
    fn fd_passing_round_trip() {
        use nix::sys::socket::{sendmsg, ControlMessage};
        use std::io::IoSlice;
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let fds = [file.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(b"/dev/pts/9")];
        sendmsg::<UnixAddr>(a.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).unwrap();
        let (name, fd) = receive_fd(b.as_fd()).unwrap();
        assert_eq!(name, b"/dev/pts/9");
        assert_ne!(fd.as_raw_fd(), file.as_raw_fd());
        // A message without fds is refused.
        sendmsg::<UnixAddr>(a.as_raw_fd(), &iov, &[], MsgFlags::empty(), None).unwrap();
        assert_eq!(receive_fd(b.as_fd()).unwrap_err(), Errno::EBADMSG);
    }
}
