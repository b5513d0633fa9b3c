//! Handing the seccomp user-notification fd to the agent on `linux.seccomp.listenerPath`.
//!
//! As the runtime spec says: connect to the UNIX stream socket, send one message whose data is
//! the JSON `ContainerProcessState` (`ociVersion`, `fds: ["seccompFd"]`, `pid`, `metadata`,
//! `state`) and whose `SCM_RIGHTS` carries the fd.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde_json::{json, Value};

use crate::error::SeccompError;

/// The runtime-spec version written in the message.
const OCI_VERSION: &str = "1.2.0";

fn notify_err(path: &Path, step: &'static str) -> impl FnOnce(nix::errno::Errno) -> SeccompError {
    let path: PathBuf = path.to_path_buf();
    move |source| SeccompError::Agent { path, step, source }
}

/// The message sent to the agent, without the fd.
pub fn process_state(pid: i32, metadata: Option<&str>, state: &Value) -> Value {
    json!({
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or(""),
        "state": state,
    })
}

/// Sends `seccomp_fd` with the process state of `pid` (and the container `state`, as
/// `berth state` prints it) to the agent listening on `listener_path`.
pub fn send_to_agent(
    listener_path: &Path,
    seccomp_fd: BorrowedFd<'_>,
    pid: i32,
    metadata: Option<&str>,
    state: &Value,
) -> Result<(), SeccompError> {
    let message = process_state(pid, metadata, state).to_string();
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(notify_err(
        listener_path,
        "create a socket for the seccomp agent",
    ))?;
    let addr = UnixAddr::new(listener_path)
        .map_err(notify_err(listener_path, "use as a socket address"))?;
    connect(sock.as_raw_fd(), &addr)
        .map_err(notify_err(listener_path, "connect to the seccomp agent"))?;
    let fds = [seccomp_fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(message.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent =
        sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(
            notify_err(listener_path, "send the fd to the seccomp agent"),
        )?;
    if sent != message.len() {
        return Err(notify_err(
            listener_path,
            "send the whole message to the seccomp agent",
        )(nix::errno::Errno::EMSGSIZE));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn agent_receives_state_and_fd() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();

        // Any fd will do for the transfer: send a memfd.
        let memfd =
            nix::sys::memfd::memfd_create(c"probe", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
                .unwrap();
        let state = json!({"id": "c1", "status": "creating"});
        send_to_agent(&path, memfd.as_fd(), 42, Some("meta"), &state).unwrap();

        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let mut received = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                received.extend(fds);
            }
        }
        let n = msg.bytes;
        for fd in &received {
            nix::unistd::close(*fd).unwrap();
        }
        assert_eq!(received.len(), 1);
        let value: Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(value["fds"], json!(["seccompFd"]));
        assert_eq!(value["pid"], 42);
        assert_eq!(value["metadata"], "meta");
        assert_eq!(value["state"]["id"], "c1");
    }

    #[test]
    fn missing_agent_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nobody.sock");
        let memfd =
            nix::sys::memfd::memfd_create(c"probe", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
                .unwrap();
        let err = send_to_agent(&path, memfd.as_fd(), 1, None, &json!({})).unwrap_err();
        assert!(err.to_string().contains("nobody.sock"), "{err}");
    }
}
