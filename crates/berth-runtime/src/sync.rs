//! The parent <-> init channel: a SOCK_SEQPACKET socketpair carrying one short text message per packet.

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

/// One step of the create handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent -> child: namespaces are mapped and the cgroup joined; carry on.
    Go,
    /// Parent -> child: the init is in its cgroup (the cgroup namespace and mounts may follow).
    CgroupJoined,
    /// Child -> parent: the new user namespace exists; please write the id maps.
    MapsRequest,
    /// Child -> parent: the init's pid after an extra fork (pid namespace joined or created late).
    Pid(i32),
    /// Child -> parent: run the prestart and createRuntime hooks now.
    HooksRequest,
    /// Parent -> child: those hooks succeeded; the container's state JSON for the in-container hooks.
    HooksDone(String),
    /// Child -> parent: set up, waiting for start.
    Ready,
    /// Either way: a step failed; the text says which and why.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => b"go".to_vec(),
            Msg::CgroupJoined => b"cgroup".to_vec(),
            Msg::MapsRequest => b"maps".to_vec(),
            Msg::Pid(p) => format!("pid {p}").into_bytes(),
            Msg::HooksRequest => b"hooks".to_vec(),
            Msg::HooksDone(state) => format!("hooks-done {state}").into_bytes(),
            Msg::Ready => b"ready".to_vec(),
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
            _ => {
                if let Some(p) = text.strip_prefix("pid ") {
                    Msg::Pid(p.parse().ok()?)
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
        let data = msg.encode();
        loop {
            match send(self.0.as_raw_fd(), &data, MsgFlags::MSG_NOSIGNAL) {
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
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Err(SyncError::Closed),
                Ok(n) => {
                    return Msg::decode(&buf[..n]).ok_or(SyncError::Unexpected {
                        got: Msg::Error(String::from_utf8_lossy(&buf[..n]).into_owned()),
                        want: "a known message",
                    })
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) => return Err(SyncError::Closed),
                Err(e) => return Err(e.into()),
            }
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
            Msg::Pid(42),
            Msg::HooksRequest,
            Msg::HooksDone("{}".into()),
            Msg::Ready,
            Msg::Error("mount /proc: EPERM".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
        drop(a);
        assert!(matches!(b.recv(), Err(SyncError::Closed)));
    }
}
