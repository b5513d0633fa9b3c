//! Talking to a container's shim: starting it ([`spawn`]) and the control/attach client
//! ([`Control`]).
//!
//! # Spawn handshake
//! [`spawn`] makes a socketpair, and fork+execs `$BERTH_BIN` (else the current executable) as
//! `berth shim --root R --runroot RR --ctl-fd N <id>` with stdio on /dev/null and N our
//! socketpair's other end. The shim forks once more (so it is nobody's child: no zombie in a
//! long-lived caller), calls `setsid`, closes every other inherited fd and reads one
//! `config <json>` line ([`ShimConfig`]), then optionally an `attach` message (the foreground fast
//! path below), creates and starts the container, and answers one line: `started <pid> <shim-pid>`
//! or `error <exit-code> <text>`, where the exit code is docker's: 127 for a command not found,
//! 126 for one that cannot be invoked, 125 for anything else. `spawn` returns after that line.
//!
//! # Attach
//! The caller's own stdin/stdout/stderr fds travel to the shim with SCM_RIGHTS in an
//! `attach <flags> <rows> <cols> <detach-keys-hex>` message; the shim then writes the container's
//! output straight to them and reads stdin from them, recognising the detach keys (ctrl-p ctrl-q
//! by default). The socket then carries control lines: `resize <rows> <cols>` (client to shim),
//! `attached`, `detached` and `exit <code>` (shim to client).
//! - `attach` / `start -a` of a running container: [`Control::connect`] to
//!   `<runroot>/containers/<id>/shim.sock`, then [`Control::attach`].
//! - Foreground `run` (fast path): [`SpawnOptions::attach`] hands the fds to the shim in the spawn
//!   handshake itself, before the container starts, so no early output is missed; the spawn
//!   socketpair stays open as the [`Control`] returned in [`Spawned::control`].
//!
//! Every message is one text line (the fds ride on the `attach` line's bytes).

use crate::types::{HealthConfig, RestartPolicy};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Errors of the shim protocol.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// Making the control socketpair.
    #[error("creating the shim's control socket: {0}")]
    Socketpair(nix::errno::Errno),
    /// Finding the berth binary to run as the shim.
    #[error("finding the berth executable (set $BERTH_BIN): {0}")]
    Exe(std::io::Error),
    /// fork+exec of the shim.
    #[error("starting the shim {}: {source}", exe.display())]
    Exec {
        exe: PathBuf,
        source: std::io::Error,
    },
    /// The shim exited before it said whether the container started.
    #[error("the shim of container {id} exited before starting it{}", status_text(.status))]
    ShimDied { id: String, status: Option<i32> },
    /// The container did not start; `code` is docker's exit code (125/126/127).
    #[error("{message}")]
    Start { code: i32, message: String },
    /// Connecting to a shim's socket.
    #[error("connecting to the shim at {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Sending a message.
    #[error("sending {what} to the shim: {source}")]
    Send {
        what: &'static str,
        source: nix::errno::Errno,
    },
    /// Receiving a message.
    #[error("reading from the shim: {0}")]
    Recv(nix::errno::Errno),
    /// A line that is not part of the protocol.
    #[error("unexpected message from the shim: {0:?}")]
    Protocol(String),
    /// Encoding the shim's configuration.
    #[error("encoding the shim configuration: {0}")]
    Encode(serde_json::Error),
}

fn status_text(s: &Option<i32>) -> String {
    match s {
        Some(c) => format!(" (status {c})"),
        None => String::new(),
    }
}

impl berth_oci::Classify for ShimError {
    fn class(&self) -> berth_oci::ErrorClass {
        use berth_oci::ErrorClass;
        match self {
            ShimError::Start { code: 127, .. } => ErrorClass::NotFound,
            ShimError::Start { code: 126, .. } => ErrorClass::PermissionDenied,
            ShimError::Start { .. } => ErrorClass::FailedPrecondition,
            ShimError::Connect { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                ErrorClass::Conflict
            }
            _ => ErrorClass::Internal,
        }
    }
}

/// What the shim needs besides the bundle on disk (sent in the spawn handshake).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShimConfig {
    /// The container. A shim started before its container was made (see
    /// [`PendingShim::ahead`]) learns it here; otherwise it is on the shim's command line too.
    pub id: String,
    /// `Config.Tty`: the container gets a pty.
    pub tty: bool,
    /// `Config.OpenStdin` (`-i`): the container's stdin is a pipe fed by attached clients.
    pub open_stdin: bool,
    /// `Config.StdinOnce`: close the container's stdin when the first attached client's ends.
    pub stdin_once: bool,
    /// `HostConfig.RestartPolicy`.
    pub restart: RestartPolicy,
    /// `HostConfig.AutoRemove` (`--rm`).
    pub auto_remove: bool,
    /// `Config.Healthcheck` as merged with the image's (None or `["NONE"]`: no checks).
    pub healthcheck: Option<HealthConfig>,
    /// `HostConfig.LogConfig.Config` (json-file options: max-size, max-file).
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// The json-file log; default `<root>/containers/<id>/<id>-json.log`.
    pub log_path: Option<PathBuf>,
    /// The OCI bundle (holding config.json); default `<root>/containers/<id>`.
    pub bundle: Option<PathBuf>,
    /// The restart count to continue from (a restarted container keeps counting).
    pub restart_count: i64,
    /// The image store's snapshot driver (`overlay`, `copy`), to open the engine for `--rm`;
    /// empty = overlay.
    pub storage_driver: String,
    /// Set by [`spawn`]: an `attach` message follows the config (foreground fast path).
    pub attach_at_spawn: bool,
    /// Set by [`PendingShim::configure`]: the caller is still writing the container's /etc
    /// files; a `files-ready` message says when the container may be made.
    pub files_follow: bool,
    /// Set by [`PendingShim::configure`] given the caller's container lock: a copy of the locked
    /// descriptor rides on the config line, and the shim holds it until the start is recorded
    /// (see [`crate::lock`]).
    pub start_lock: bool,
}

/// The paths a shim uses, from root, runroot and id (the layout of the issue 4 contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimPaths {
    /// `<root>/containers/<id>`: state.json, logs, config.json.
    pub container_dir: PathBuf,
    /// `<runroot>/containers/<id>`: rootfs mountpoint, shim.sock, shim.pid.
    pub run_dir: PathBuf,
    /// `<runroot>/runtime`: berth-runtime's state root.
    pub runtime_root: PathBuf,
    /// `<runroot>/locks/<id>.lock`.
    pub lock: PathBuf,
}

impl ShimPaths {
    /// The layout for container `id` (the engine's [`crate::Paths`]).
    pub fn new(root: &Path, runroot: &Path, id: &str) -> ShimPaths {
        let p = crate::Paths::new(root, runroot);
        ShimPaths {
            container_dir: p.container_dir(id),
            run_dir: p.run_dir(id),
            runtime_root: p.runtime_root(),
            lock: p.lock_file(id),
        }
    }

    /// The control/attach socket.
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("shim.sock")
    }

    /// The file holding the shim's pid.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("shim.pid")
    }
}

/// The stdio a client attaches (its own fds, borrowed for the send).
#[derive(Debug, Clone, Copy)]
pub struct AttachRequest<'a> {
    /// The client's stdin, when the container's stdin should be fed (`-i`).
    pub stdin: Option<BorrowedFd<'a>>,
    /// Where the container's stdout (or pty output) goes.
    pub stdout: BorrowedFd<'a>,
    /// Where the container's stderr goes (unused with a tty).
    pub stderr: BorrowedFd<'a>,
    /// The client terminal's (rows, cols), for `-t`.
    pub tty_size: Option<(u16, u16)>,
    /// The detach sequence (`--detach-keys`); empty = ctrl-p ctrl-q.
    pub detach_keys: &'a [u8],
}

/// The longest socket path `bind`/`connect` take (sun_path is 108 bytes with its NUL).
const SUN_PATH_MAX: usize = 107;

/// Calls `f` with a path naming the same socket as `path` but short enough for a unix socket
/// address: `path` itself when it fits, else `/proc/self/fd/<dir fd>/<name>` through an `O_PATH`
/// descriptor of its directory (temp-dir roots easily pass 108 bytes with a 64-hex id).
pub fn with_short_path<T>(
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    use std::os::unix::fs::OpenOptionsExt;
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    f(&short)
}

/// The default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// How to start a shim.
#[derive(Debug, Clone)]
pub struct SpawnOptions<'a> {
    /// The container id.
    pub id: String,
    /// The state root (`--root`).
    pub root: PathBuf,
    /// The run root (`--runroot`).
    pub runroot: PathBuf,
    /// The berth binary; default `$BERTH_BIN`, else the current executable.
    pub berth_bin: Option<PathBuf>,
    /// The container's settings for the shim.
    pub config: ShimConfig,
    /// Foreground fast path: attach these fds before the container starts.
    pub attach: Option<AttachRequest<'a>>,
}

/// A started shim.
#[derive(Debug)]
pub struct Spawned {
    /// The container's init pid.
    pub pid: i32,
    /// The shim's pid.
    pub shim_pid: i32,
    /// With [`SpawnOptions::attach`]: the open control channel.
    pub control: Option<Control>,
}

/// A message from a client to the shim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMsg {
    /// The shim's settings (spawn handshake only).
    Config(Box<ShimConfig>),
    /// Attach the fds sent along: stdin included when `stdin`.
    Attach {
        stdin: bool,
        tty_size: Option<(u16, u16)>,
        detach_keys: Vec<u8>,
    },
    /// The client's terminal changed size.
    Resize { rows: u16, cols: u16 },
    /// The container's files are written (spawn handshake, after a config with `files_follow`).
    FilesReady,
}

/// A message from the shim to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimMsg {
    /// The container runs: its init pid and the shim's.
    Started { pid: i32, shim_pid: i32 },
    /// The container could not start.
    Error { code: i32, message: String },
    /// The attach took effect.
    Attached,
    /// The client's detach keys were seen: the shim let go of its fds.
    Detached,
    /// The container exited with this code.
    Exit(i32),
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return Some(Vec::new());
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl ClientMsg {
    /// The line (with its newline).
    pub fn encode(&self) -> Result<String, ShimError> {
        Ok(match self {
            ClientMsg::Config(c) => {
                format!(
                    "config {}\n",
                    serde_json::to_string(c).map_err(ShimError::Encode)?
                )
            }
            ClientMsg::Attach {
                stdin,
                tty_size,
                detach_keys,
            } => {
                let (r, c) = tty_size.unwrap_or((0, 0));
                format!("attach {} {r} {c} {}\n", u8::from(*stdin), hex(detach_keys))
            }
            ClientMsg::Resize { rows, cols } => format!("resize {rows} {cols}\n"),
            ClientMsg::FilesReady => "files-ready\n".into(),
        })
    }

    /// Parses a line (without its newline).
    pub fn parse(line: &str) -> Option<ClientMsg> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "config" => serde_json::from_str(rest)
                .ok()
                .map(|c| ClientMsg::Config(Box::new(c))),
            "attach" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [stdin, r, c, keys] = f.as_slice() else {
                    return None;
                };
                let (r, c): (u16, u16) = (r.parse().ok()?, c.parse().ok()?);
                Some(ClientMsg::Attach {
                    stdin: *stdin == "1",
                    tty_size: (r != 0 || c != 0).then_some((r, c)),
                    detach_keys: unhex(keys)?,
                })
            }
            "files-ready" => Some(ClientMsg::FilesReady),
            "resize" => {
                let (r, c) = rest.split_once(' ')?;
                Some(ClientMsg::Resize {
                    rows: r.parse().ok()?,
                    cols: c.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

impl ShimMsg {
    /// The line (with its newline); an error's text is kept on one line.
    pub fn encode(&self) -> String {
        match self {
            ShimMsg::Started { pid, shim_pid } => format!("started {pid} {shim_pid}\n"),
            ShimMsg::Error { code, message } => {
                format!("error {code} {}\n", message.replace('\n', " "))
            }
            ShimMsg::Attached => "attached\n".into(),
            ShimMsg::Detached => "detached\n".into(),
            ShimMsg::Exit(code) => format!("exit {code}\n"),
        }
    }

    /// Parses a line (without its newline).
    pub fn parse(line: &str) -> Option<ShimMsg> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "started" => {
                let (p, s) = rest.split_once(' ')?;
                Some(ShimMsg::Started {
                    pid: p.parse().ok()?,
                    shim_pid: s.parse().ok()?,
                })
            }
            "error" => {
                let (c, m) = rest.split_once(' ').unwrap_or((rest, ""));
                Some(ShimMsg::Error {
                    code: c.parse().ok()?,
                    message: m.to_string(),
                })
            }
            "attached" => Some(ShimMsg::Attached),
            "detached" => Some(ShimMsg::Detached),
            "exit" => Some(ShimMsg::Exit(rest.parse().ok()?)),
            _ => None,
        }
    }
}

/// Docker's exit code for a container that failed to start with `message`.
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("no such file") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    }
}

/// Sends one line with `fds` attached.
pub fn send_line(sock: BorrowedFd<'_>, line: &str, fds: &[RawFd]) -> Result<(), nix::errno::Errno> {
    let mut data = line.as_bytes();
    let mut first = true;
    while !data.is_empty() {
        let iov = [IoSlice::new(data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if first && !fds.is_empty() { &cmsg } else { &[] };
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => {
                data = &data[n..];
                first = false;
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads lines (and the fds riding on them) from a stream socket, a small buffer at a time.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    fds: Vec<OwnedFd>,
    eof: bool,
}

/// The longest line accepted (a config line is a few KiB).
pub const MAX_LINE: usize = 1 << 20;

impl LineReader {
    /// One `recvmsg` (blocking or not, as the socket is): appends data and fds. Returns false at
    /// end of stream.
    pub fn fill(&mut self, sock: BorrowedFd<'_>) -> Result<bool, nix::errno::Errno> {
        if self.eof {
            return Ok(false);
        }
        if self.buf.len() > MAX_LINE {
            return Err(nix::errno::Errno::EMSGSIZE);
        }
        self.fill_at_most(sock, 1024)
    }

    /// The next complete line, if one is buffered.
    pub fn next_line(&mut self) -> Option<String> {
        let i = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=i).collect();
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
        Some(String::from_utf8_lossy(&line[..i]).into_owned())
    }

    /// Takes the fds received so far.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }

    /// Takes the first fd received (the one that rode on the first line), leaving the rest.
    pub fn take_first_fd(&mut self) -> Option<OwnedFd> {
        (!self.fds.is_empty()).then(|| self.fds.remove(0))
    }

    /// Whether the peer closed the stream.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Like [`LineReader::read_line`], but never takes bytes past the line's end off the socket
    /// (it peeks first), so a caller that polls the socket between lines sees the next one as
    /// readable.
    pub fn read_line_exact(
        &mut self,
        sock: BorrowedFd<'_>,
    ) -> Result<Option<String>, nix::errno::Errno> {
        loop {
            if let Some(l) = self.next_line() {
                return Ok(Some(l));
            }
            if self.eof {
                return Ok(None);
            }
            let mut peek = [0u8; 1024];
            let n = loop {
                match nix::sys::socket::recv(sock.as_raw_fd(), &mut peek, MsgFlags::MSG_PEEK) {
                    Ok(n) => break n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e),
                }
            };
            let want = match peek[..n].iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => n.max(1),
            };
            if !self.fill_at_most(sock, want)? {
                return Ok(None);
            }
        }
    }

    fn fill_at_most(
        &mut self,
        sock: BorrowedFd<'_>,
        max: usize,
    ) -> Result<bool, nix::errno::Errno> {
        let mut chunk = [0u8; 1024];
        let max = max.min(chunk.len());
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let (n, fds) = loop {
            let mut iov = [IoSliceMut::new(&mut chunk[..max])];
            match recvmsg::<UnixAddr>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut fds = Vec::new();
                    for c in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            fds.extend(raw);
                        }
                    }
                    break (msg.bytes, fds);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        };
        self.fds.extend(fds.into_iter().map(berth_sys::fd::owned));
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    /// Blocks until a whole line is there (None at end of stream).
    pub fn read_line(&mut self, sock: BorrowedFd<'_>) -> Result<Option<String>, nix::errno::Errno> {
        loop {
            if let Some(l) = self.next_line() {
                return Ok(Some(l));
            }
            if !self.fill(sock)? {
                return Ok(None);
            }
        }
    }
}

/// The control/attach channel to one shim.
#[derive(Debug)]
pub struct Control {
    sock: OwnedFd,
    reader: LineReader,
}

/// What the shim said on an attached channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The attach took effect.
    Attached,
    /// Detached by the detach keys.
    Detached,
    /// The container exited with this code.
    Exit(i32),
    /// The shim closed the channel (it exited, or was killed).
    Closed,
}

impl Control {
    /// Connects to the shim of container `id`.
    pub fn connect(paths: &ShimPaths) -> Result<Control, ShimError> {
        let path = paths.socket();
        let err = |source| ShimError::Connect {
            path: path.clone(),
            source,
        };
        let s = with_short_path(&path, |p| UnixStream::connect(p)).map_err(err)?;
        Ok(Control {
            sock: OwnedFd::from(s),
            reader: LineReader::default(),
        })
    }

    fn from_fd(sock: OwnedFd, reader: LineReader) -> Control {
        Control { sock, reader }
    }

    /// Sends our fds to the shim, which starts copying to/from them at once.
    pub fn attach(&mut self, req: &AttachRequest<'_>) -> Result<(), ShimError> {
        send_attach(self.sock.as_fd(), req)
    }

    /// Passes a new terminal size on.
    pub fn resize(&mut self, rows: u16, cols: u16) -> Result<(), ShimError> {
        let line = ClientMsg::Resize { rows, cols }.encode()?;
        send_line(self.sock.as_fd(), &line, &[]).map_err(|source| ShimError::Send {
            what: "a resize",
            source,
        })
    }

    /// After [`Event::Exit`]: blocks until the shim closes the channel, which it does at once,
    /// or for an `--rm` container once it is removed (or when the shim dies).
    pub fn wait_closed(&mut self) {
        while let Ok(Event::Exit(_) | Event::Attached | Event::Detached) = self.next_event() {}
    }

    /// The socket, to poll together with other fds; call [`Control::next_event`] when readable.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Blocks until the shim says something. Reads exactly one message off the socket, so the
    /// socket polls readable again while another one waits.
    pub fn next_event(&mut self) -> Result<Event, ShimError> {
        let Some(l) = self
            .reader
            .read_line_exact(self.sock.as_fd())
            .map_err(ShimError::Recv)?
        else {
            return Ok(Event::Closed);
        };
        match ShimMsg::parse(&l) {
            Some(ShimMsg::Attached) => Ok(Event::Attached),
            Some(ShimMsg::Detached) => Ok(Event::Detached),
            Some(ShimMsg::Exit(c)) => Ok(Event::Exit(c)),
            _ => Err(ShimError::Protocol(l)),
        }
    }
}

fn send_attach(sock: BorrowedFd<'_>, req: &AttachRequest<'_>) -> Result<(), ShimError> {
    let keys = if req.detach_keys.is_empty() {
        DEFAULT_DETACH_KEYS
    } else {
        req.detach_keys
    };
    let line = ClientMsg::Attach {
        stdin: req.stdin.is_some(),
        tty_size: req.tty_size,
        detach_keys: keys.to_vec(),
    }
    .encode()?;
    let mut fds = Vec::with_capacity(3);
    if let Some(i) = req.stdin {
        fds.push(i.as_raw_fd());
    }
    fds.push(req.stdout.as_raw_fd());
    fds.push(req.stderr.as_raw_fd());
    send_line(sock, &line, &fds).map_err(|source| ShimError::Send {
        what: "the attach request",
        source,
    })
}

/// The berth binary to run as the shim.
pub fn berth_bin(given: Option<&Path>) -> Result<PathBuf, ShimError> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("BERTH_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(ShimError::Exe)
}

/// Starts the shim of a container whose bundle (config.json) and rootfs are ready, and waits
/// until it reports the container started (or why not).
pub fn spawn(o: &SpawnOptions<'_>) -> Result<Spawned, ShimError> {
    launch(
        Some(&o.id),
        &o.root,
        &o.runroot,
        o.berth_bin.as_deref(),
        ShimParent::Detached,
        false,
    )?
    .finish(&o.config, o.attach.as_ref())
}

/// Whose child the shim is once it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShimParent {
    /// Nobody's: the started process forks the shim and exits, so a long-lived caller
    /// (a service, a test process) collects no zombies.
    Detached,
    /// The caller's, saving that fork: for a short-lived caller (the CLI), whose exit hands the
    /// shim to the system's reaper.
    Caller,
}

/// A shim process started ahead of its configuration: the exec, the dynamic loading and the
/// detaching fork of the shim overlap whatever the caller does until [`PendingShim::finish`]
/// (mounting the rootfs, writing config.json). Dropped unfinished, the shim reads the end of
/// its handshake and exits without touching anything.
#[derive(Debug)]
pub struct PendingShim {
    id: String,
    child: Option<Pid>,
    ours: Option<OwnedFd>,
    parent: ShimParent,
}

/// Starts `berth shim` for container `id` (`None`: named by its configuration), which makes the
/// container's new network namespace ahead with `network_namespace`; see [`PendingShim`].
pub fn launch(
    id: Option<&str>,
    root: &Path,
    runroot: &Path,
    exe: Option<&Path>,
    parent: ShimParent,
    network_namespace: bool,
) -> Result<PendingShim, ShimError> {
    let exe = berth_bin(exe)?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ShimError::Socketpair)?;
    // dup() gives a copy without close-on-exec: the one fd the shim inherits besides stdio.
    let inherited = theirs.try_clone_to_owned_without_cloexec()?;
    drop(theirs);
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("shim")
        .arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(runroot)
        .arg("--ctl-fd")
        .arg(inherited.as_raw_fd().to_string());
    if parent == ShimParent::Caller {
        cmd.arg("--no-fork");
    }
    if network_namespace {
        cmd.arg("--netns-ahead");
    }
    // (No process group of its own here: the shim's first act is setsid, which a group leader
    // could not do.)
    cmd.args(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let spawned = start_process(&mut cmd, &exe, parent);
    drop(inherited);
    let child = spawned.map_err(|source| ShimError::Exec { exe, source })?;
    // Its start-up is meant to overlap the caller's work, not to wait for it on one CPU.
    berth_sys::sched::separate_from(child);
    Ok(PendingShim {
        id: id.unwrap_or_default().to_string(),
        child: Some(child),
        ours: Some(ours),
        parent,
    })
}

/// Starts `cmd`. A short-lived caller (the CLI) forks it without waiting for its exec
/// (`fork_exec`; `exe` is checked first, as the child's exec failure would only show as status
/// 127 later); others wait for the exec as std does.
fn start_process(
    cmd: &mut std::process::Command,
    exe: &Path,
    parent: ShimParent,
) -> std::io::Result<Pid> {
    if parent == ShimParent::Caller {
        nix::unistd::access(exe, nix::unistd::AccessFlags::X_OK)?;
        let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
        return berth_sys::process::fork_exec(exe, &args).map_err(std::io::Error::other);
    }
    let child = cmd.spawn()?;
    Ok(Pid::from_raw(child.id() as i32))
}

/// The exit status of our child `pid` once it has exited (`None`: killed, or not ours).
fn wait_code(pid: Pid) -> Option<i32> {
    match nix::sys::wait::waitpid(pid, None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Some(code),
        _ => None,
    }
}

impl PendingShim {
    /// Starts a shim before its container is made, for a short-lived caller (it stays the
    /// caller's child, see [`ShimParent::Caller`]): its exec overlaps the creation, and it
    /// learns the container from its configuration ([`ShimConfig::id`]). With
    /// `network_namespace` (the container will get a new one) the shim makes that namespace
    /// while it waits.
    pub fn ahead(
        root: &Path,
        runroot: &Path,
        network_namespace: bool,
    ) -> Result<PendingShim, ShimError> {
        launch(
            None,
            root,
            runroot,
            None,
            ShimParent::Caller,
            network_namespace,
        )
    }

    /// Hands the shim its configuration (and the caller's stdio with `attach`), then waits until
    /// it reports the container started (or why not).
    pub fn finish(
        self,
        config: &ShimConfig,
        attach: Option<&AttachRequest<'_>>,
    ) -> Result<Spawned, ShimError> {
        self.configure_with(config, attach, false, None)?.finish()
    }

    /// Hands the shim its configuration (and the caller's stdio with `attach`) while the caller
    /// still writes the container's /etc files: the shim loads and checks the bundle meanwhile,
    /// and makes the container only once [`ConfiguredShim::finish`] says the files are there.
    /// With `lock` (the caller's container lock) the shim holds the lock too, until the start
    /// is recorded: a caller killed meanwhile leaves no window in which another operation sees
    /// the container created while it is being started.
    pub fn configure(
        self,
        config: &ShimConfig,
        attach: Option<&AttachRequest<'_>>,
        lock: Option<BorrowedFd<'_>>,
    ) -> Result<ConfiguredShim, ShimError> {
        self.configure_with(config, attach, true, lock)
    }

    fn configure_with(
        mut self,
        config: &ShimConfig,
        attach: Option<&AttachRequest<'_>>,
        files_follow: bool,
        lock: Option<BorrowedFd<'_>>,
    ) -> Result<ConfiguredShim, ShimError> {
        let mut shim_config = config.clone();
        shim_config.attach_at_spawn = attach.is_some();
        if self.id.is_empty() {
            self.id.clone_from(&config.id);
        }
        shim_config.files_follow = files_follow;
        shim_config.start_lock = lock.is_some();
        let lock_fds: Vec<RawFd> = lock.iter().map(|fd| fd.as_raw_fd()).collect();
        // An error here drops `self`, which reaps the first shim process. (A shim that stays our
        // child once started is never waited for: the caller exits first, or collects it.)
        let config = ClientMsg::Config(Box::new(shim_config)).encode()?;
        let ours = self.ours.as_ref().expect("a pending shim has its socket");
        let sent = send_line(ours.as_fd(), &config, &lock_fds)
            .map_err(|source| ShimError::Send {
                what: "the configuration",
                source,
            })
            .and_then(|()| match attach {
                Some(a) => send_attach(ours.as_fd(), a),
                None => Ok(()),
            });
        // The first shim process exits as soon as it has forked the real one; a shim that stays
        // our child is waited for only when it could not take its configuration.
        let status = match self.parent {
            ShimParent::Caller if sent.is_ok() => None,
            _ => self.child.take().and_then(wait_code),
        };
        if sent.is_err() && status != Some(0) {
            return Err(ShimError::ShimDied {
                id: self.id.clone(),
                status,
            });
        }
        sent?;
        if files_follow {
            // We write the files meanwhile: the shim, just woken, must not wait for our CPU.
            if let Some(child) = self.child {
                berth_sys::sched::separate_from(child);
            }
        }
        Ok(ConfiguredShim {
            pending: self,
            attached: attach.is_some(),
            files_follow,
            status,
        })
    }
}

/// A shim that has its configuration: [`ConfiguredShim::finish`] lets it make the container.
/// Dropped unfinished, the shim gives up before it makes anything.
#[derive(Debug)]
pub struct ConfiguredShim {
    pending: PendingShim,
    attached: bool,
    /// Whether the shim waits for `files-ready` before it makes the container.
    files_follow: bool,
    /// The exit status of the first shim process when it was waited for already.
    status: Option<i32>,
}

impl ConfiguredShim {
    /// Tells the shim the container's files are in place (when it waits for that), then waits
    /// until it reports the container started (or why not).
    pub fn finish(mut self) -> Result<Spawned, ShimError> {
        let id = self.pending.id.clone();
        let ours = self
            .pending
            .ours
            .take()
            .expect("a configured shim has its socket");
        let child = self.pending.child.take();
        let parent = self.pending.parent;
        let status = self.status;
        // The shim closed its end without a report: it is gone (or going).
        let died = |child: Option<Pid>| {
            let status = match parent {
                ShimParent::Caller => child.and_then(wait_code),
                ShimParent::Detached => status,
            };
            ShimError::ShimDied {
                id: id.clone(),
                status: status.filter(|c| *c != 0),
            }
        };
        if self.files_follow {
            let ready = ClientMsg::FilesReady.encode()?;
            if send_line(ours.as_fd(), &ready, &[]).is_err() {
                return Err(died(child));
            }
        }
        let mut reader = LineReader::default();
        loop {
            let Some(line) = reader.read_line(ours.as_fd()).map_err(ShimError::Recv)? else {
                return Err(died(child));
            };
            match ShimMsg::parse(&line) {
                Some(ShimMsg::Started { pid, shim_pid }) => {
                    let control = self.attached.then(|| Control::from_fd(ours, reader));
                    return Ok(Spawned {
                        pid,
                        shim_pid,
                        control,
                    });
                }
                Some(ShimMsg::Error { code, message }) => {
                    return Err(ShimError::Start { code, message })
                }
                // An attach acknowledgement before the start report.
                Some(ShimMsg::Attached) => continue,
                _ => return Err(ShimError::Protocol(line)),
            }
        }
    }
}

impl Drop for PendingShim {
    fn drop(&mut self) {
        // Unfinished: closing the socket ends the shim's handshake; reap the first process.
        drop(self.ours.take());
        if let Some(c) = self.child.take() {
            let _ = wait_code(c);
        }
    }
}

/// `dup` without close-on-exec, as an owned fd.
trait DupInheritable {
    fn try_clone_to_owned_without_cloexec(&self) -> Result<OwnedFd, ShimError>;
}

impl DupInheritable for OwnedFd {
    fn try_clone_to_owned_without_cloexec(&self) -> Result<OwnedFd, ShimError> {
        nix::unistd::dup(self.as_raw_fd())
            .map(berth_sys::fd::owned)
            .map_err(ShimError::Socketpair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip() {
        let msgs = [
            ClientMsg::Config(Box::new(ShimConfig {
                tty: true,
                open_stdin: true,
                restart: RestartPolicy {
                    name: "on-failure".into(),
                    maximum_retry_count: 3,
                },
                ..Default::default()
            })),
            ClientMsg::Attach {
                stdin: true,
                tty_size: Some((24, 80)),
                detach_keys: vec![16, 17],
            },
            ClientMsg::Attach {
                stdin: false,
                tty_size: None,
                detach_keys: vec![],
            },
            ClientMsg::Resize { rows: 1, cols: 2 },
            ClientMsg::FilesReady,
        ];
        for m in msgs {
            let line = m.encode().unwrap();
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            assert_eq!(ClientMsg::parse(line.trim_end_matches('\n')), Some(m));
        }
        assert_eq!(ClientMsg::parse("bogus"), None);
        assert_eq!(ClientMsg::parse("attach 1 x 2 -"), None);
    }

    #[test]
    fn shim_messages_round_trip() {
        for m in [
            ShimMsg::Started {
                pid: 12,
                shim_pid: 11,
            },
            ShimMsg::Error {
                code: 127,
                message: "exec: \"x\": executable file not found in $PATH".into(),
            },
            ShimMsg::Attached,
            ShimMsg::Detached,
            ShimMsg::Exit(137),
        ] {
            let line = m.encode();
            assert_eq!(ShimMsg::parse(line.trim_end_matches('\n')), Some(m));
        }
        let m = ShimMsg::Error {
            code: 125,
            message: "a\nb".into(),
        };
        assert_eq!(m.encode(), "error 125 a b\n");
    }

    #[test]
    fn start_error_codes() {
        assert_eq!(
            start_error_code(
                "container init failed: exec: \"nosuchcmd\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(start_error_code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(start_error_code("cgroup: EBUSY"), 125);
    }

    #[test]
    fn fds_travel_with_the_attach_line() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_attach(
            a.as_fd(),
            &AttachRequest {
                stdin: Some(r.as_fd()),
                stdout: w.as_fd(),
                stderr: w.as_fd(),
                tty_size: Some((5, 6)),
                detach_keys: &[],
            },
        )
        .unwrap();
        send_line(a.as_fd(), "resize 7 8\n", &[]).unwrap();
        let mut rd = LineReader::default();
        let l = rd.read_line(b.as_fd()).unwrap().unwrap();
        assert_eq!(
            ClientMsg::parse(&l),
            Some(ClientMsg::Attach {
                stdin: true,
                tty_size: Some((5, 6)),
                detach_keys: vec![16, 17]
            })
        );
        let fds = rd.take_fds();
        assert_eq!(fds.len(), 3);
        // The received stdout is our pipe's write end.
        nix::unistd::write(&fds[1], b"hi").unwrap();
        let mut buf = [0u8; 2];
        nix::unistd::read(r.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        assert_eq!(
            ClientMsg::parse(&rd.read_line(b.as_fd()).unwrap().unwrap()),
            Some(ClientMsg::Resize { rows: 7, cols: 8 })
        );
        drop(a);
        assert_eq!(rd.read_line(b.as_fd()).unwrap(), None);
    }

    #[test]
    fn events_are_taken_one_at_a_time() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send_line(a.as_fd(), "attached\nexit 3\n", &[]).unwrap();
        let mut c = Control::from_fd(b, LineReader::default());
        assert_eq!(c.next_event().unwrap(), Event::Attached);
        // The exit is still on the socket: a poll sees it.
        let mut fds = [nix::poll::PollFd::new(
            c.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        assert_eq!(
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap(),
            1
        );
        assert_eq!(c.next_event().unwrap(), Event::Exit(3));
        drop(a);
        assert_eq!(c.next_event().unwrap(), Event::Closed);
    }

    #[test]
    fn long_socket_paths_work() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join("shim.sock");
        assert!(path.as_os_str().len() > SUN_PATH_MAX);
        let l = with_short_path(&path, |p| std::os::unix::net::UnixListener::bind(p)).unwrap();
        assert!(path.exists());
        let _c = with_short_path(&path, |p| UnixStream::connect(p)).unwrap();
        assert!(l.accept().is_ok());
    }

    #[test]
    fn paths() {
        let p = ShimPaths::new(Path::new("/r"), Path::new("/rr"), "abc");
        assert_eq!(p.socket(), Path::new("/rr/containers/abc/shim.sock"));
        assert_eq!(p.lock, Path::new("/rr/locks/abc.lock"));
        assert_eq!(p.container_dir, Path::new("/r/containers/abc"));
    }
}
