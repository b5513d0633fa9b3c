//! The parent <-> init channel: a SOCK_SEQPACKET socketpair carrying one short text message per packet.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The most files one message carries (one per cgroup v1 hierarchy, with room to spare).
const MAX_FDS: usize = 32;

/// One step of the create handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent -> child: namespaces are mapped and the cgroup joined; carry on.
    Go,
    /// Parent -> child: the init is in its cgroup (the cgroup namespace and mounts may follow).
    CgroupJoined,
    /// Parent -> child: the cgroup is ready; the message carries one open `tasks` file per path
    /// (sent with [`Channel::send_with_fds`]) through which the init moves itself in.
    CgroupFiles(Vec<String>),
    /// Child -> parent: the new user namespace exists; please write the id maps.
    MapsRequest,
    /// Child -> parent: the init's pid after an extra fork (pid namespace joined or created late).
    Pid(i32),
    /// Child -> parent: run the prestart and createRuntime hooks now.
    HooksRequest,
    /// Parent -> child: those hooks succeeded; the container's state JSON for the in-container hooks.
    HooksDone(String),
    /// Child -> parent: the container is set up; the process's own set-up (limits, identity,
    /// seccomp) follows while the parent records the container.
    Ready,
    /// Child -> parent: the process is set up too; only the start is left.
    Armed,
    /// Either way: a step failed; the text says which and why.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => b"go".to_vec(),
            Msg::CgroupJoined => b"cgroup".to_vec(),
            Msg::CgroupFiles(paths) => format!("cgroup-files {}", paths.join("\0")).into_bytes(),
            Msg::MapsRequest => b"maps".to_vec(),
            Msg::Pid(p) => format!("pid {p}").into_bytes(),
            Msg::HooksRequest => b"hooks".to_vec(),
            Msg::HooksDone(state) => format!("hooks-done {state}").into_bytes(),
            Msg::Ready => b"ready".to_vec(),
            Msg::Armed => b"armed".to_vec(),
            Msg::Error(e) => format!("error {e}").into_bytes(),
        }
    }

    fn decode(data: &[u8]) -> Option<Msg> {
        let text = std::str::from_utf8(data).ok()?;
        Some(match text {
            "go" => Msg::Go,
            "maps" => Msg::MapsRequest,
            "cgroup" => Msg::CgroupJoined,
            "hooks" => Msg::HooksRequest,
            "ready" => Msg::Ready,
            "armed" => Msg::Armed,
            _ => {
                if let Some(p) = text.strip_prefix("pid ") {
                    Msg::Pid(p.parse().ok()?)
                } else if let Some(paths) = text.strip_prefix("cgroup-files ") {
                    let paths = paths.split('\0').filter(|p| !p.is_empty());
                    Msg::CgroupFiles(paths.map(str::to_owned).collect())
                } else if let Some(state) = text.strip_prefix("hooks-done ") {
                    Msg::HooksDone(state.to_string())
                } else {
                    Msg::Error(text.strip_prefix("error ")?.to_string())
                }
            }
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(pub OwnedFd);

/// Why the channel failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync socket: {0}")]
    Sys(#[from] nix::errno::Errno),
    #[error("the other side closed the sync socket")]
    Closed,
    #[error("unexpected sync message {got:?} while waiting for {want}")]
    Unexpected { got: Msg, want: &'static str },
}

/// A connected pair of channel ends (close-on-exec).
pub fn pair() -> Result<(Channel, Channel), SyncError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, msg: &Msg) -> Result<(), SyncError> {
        self.send_with_fds(msg, &[])
    }

    /// Sends one message with open files attached (SCM_RIGHTS).
    pub fn send_with_fds(&self, msg: &Msg, fds: &[BorrowedFd<'_>]) -> Result<(), SyncError> {
        let data = msg.encode();
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsg: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
        let iov = [IoSlice::new(&data)];
        loop {
            match sendmsg::<()>(self.0.as_raw_fd(), &iov, cmsg, MsgFlags::MSG_NOSIGNAL, None) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EPIPE) | Err(nix::errno::Errno::ECONNRESET) => {
                    return Err(SyncError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives one message; `Closed` when the peer is gone.
    pub fn recv(&self) -> Result<Msg, SyncError> {
        self.recv_with_fds().map(|(msg, _)| msg)
    }

    /// Receives one message and the files attached to it (close-on-exec).
    pub fn recv_with_fds(&self) -> Result<(Msg, Vec<OwnedFd>), SyncError> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let (n, fds) = match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => {
                    let mut fds = Vec::new();
                    let cmsgs = m.cmsgs().map_err(SyncError::Sys)?;
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(list) = c {
                            // The kernel just installed these in this process: ours alone.
                            fds.extend(list.into_iter().map(berth_sys::fd::owned));
                        }
                    }
                    if m.flags.contains(MsgFlags::MSG_CTRUNC) {
                        // More files than MAX_FDS: the rest were dropped by the kernel.
                        return Err(SyncError::Sys(nix::errno::Errno::EMSGSIZE));
                    }
                    (m.bytes, fds)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) => return Err(SyncError::Closed),
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Err(SyncError::Closed);
            }
            let msg = Msg::decode(&buf[..n]).ok_or(SyncError::Unexpected {
                got: Msg::Error(String::from_utf8_lossy(&buf[..n]).into_owned()),
                want: "a known message",
            })?;
            return Ok((msg, fds));
        }
    }

    /// Receives and checks that the message is `want`.
    pub fn expect(&self, want: Msg, name: &'static str) -> Result<(), SyncError> {
        match self.recv()? {
            got if got == want => Ok(()),
            got => Err(SyncError::Unexpected { got, want: name }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::MapsRequest,
            Msg::CgroupJoined,
            Msg::CgroupFiles(vec!["/sys/fs/cgroup/memory/x".into(), "/y".into()]),
            Msg::CgroupFiles(vec![]),
            Msg::Pid(42),
            Msg::HooksRequest,
            Msg::HooksDone("{}".into()),
            Msg::Ready,
            Msg::Armed,
            Msg::Error("mount /proc: EPERM".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
        drop(a);
        assert!(matches!(b.recv(), Err(SyncError::Closed)));
    }

    #[test]
    fn files_travel_with_a_message() {
        let (a, b) = pair().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks");
        std::fs::write(&path, "").unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let msg = Msg::CgroupFiles(vec![path.display().to_string(), "second".into()]);
        use std::os::fd::AsFd;
        a.send_with_fds(&msg, &[file.as_fd(), file.as_fd()])
            .unwrap();
        drop(file);
        let (got, fds) = b.recv_with_fds().unwrap();
        assert_eq!(got, msg);
        assert_eq!(fds.len(), 2);
        use std::io::Write;
        std::fs::File::from(fds.into_iter().next().unwrap())
            .write_all(b"0")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0");
    }
}
