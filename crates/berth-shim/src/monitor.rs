//! The shim's single-threaded poll loop: container output to the log and attached clients,
//! clients' stdin to the container, exit status, restarts, health probes, final cleanup.

use crate::container::{launch, Incarnation};
use crate::detach::DetachScanner;
use crate::health::{self, Check, Probe};
use crate::restart::{should_restart, Backoff};
use crate::store::{now_text, start_time, StartRecord, Store};
use berth_engine::logfile::{LineSplitter, LogWriter, RotateOptions, Stream};
use berth_engine::shim_proto::{
    send_line, start_error_code, ClientMsg, LineReader, ShimConfig, ShimMsg, ShimPaths,
};
use berth_engine::state::Status;
use berth_engine::types::{Health, HealthcheckResult};
use berth_runtime::Runtime;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the start of an attached container may go unrecorded: one that exits within it
/// is written once, exited (a `run --rm` of a short command: not at all), instead of twice.
const START_RECORD_GRACE: Duration = Duration::from_millis(2);

/// The copy buffer: small, the shim must stay tiny.
const CHUNK: usize = 8 * 1024;

/// An attached client's stdio.
#[derive(Debug)]
struct ClientIo {
    stdin: Option<File>,
    stdout: File,
    stderr: File,
    detach: DetachScanner,
}

/// A connection on the control socket (or the spawner's socketpair).
#[derive(Debug)]
struct Client {
    sock: OwnedFd,
    reader: LineReader,
    io: Option<ClientIo>,
    /// Whether its stdin has fed the container yet (for StdinOnce).
    fed_stdin: bool,
    /// The terminal size sent with the attach.
    tty_size: Option<(u16, u16)>,
    gone: bool,
}

impl Client {
    fn new(sock: OwnedFd) -> Client {
        Client {
            sock,
            reader: LineReader::default(),
            io: None,
            fed_stdin: false,
            tty_size: None,
            gone: false,
        }
    }

    fn send(&mut self, m: &ShimMsg) {
        if send_line(self.sock.as_fd(), &m.encode(), &[]).is_err() {
            self.gone = true;
        }
    }
}

/// What a polled fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Signal,
    Listener,
    Out(Stream),
    Master,
    ClientSock(usize),
    ClientStdin(usize),
    Probe,
}

/// The monitor of one container.
pub struct Monitor {
    id: String,
    root: PathBuf,
    runroot: PathBuf,
    paths: ShimPaths,
    cfg: ShimConfig,
    bundle: PathBuf,
    rt: Runtime,
    store: Store,
    log: Option<LogWriter>,
    split_out: LineSplitter,
    split_err: LineSplitter,
    inc: Option<Incarnation>,
    clients: Vec<Client>,
    /// The shim's pid file, locked while it lives.
    _pid_lock: Option<nix::fcntl::Flock<File>>,
    /// The exit code of an `--rm` container, kept for its removal.
    exit_code: i32,
    /// `--rm`: clients told the exit code, kept connected until the container is removed (their
    /// end of file says "removed", as docker's wait condition does).
    awaiting_removal: Vec<Client>,
    /// `--rm`: the engine that will remove the container, opened while it runs.
    engine: Option<Result<berth_engine::Engine, String>>,
    /// `--rm`: the container's record, read with the engine (the removal needs it).
    removal_record: Option<berth_engine::record::ContainerRecord>,
    /// `--rm`: the exited container's mount namespace (see `Incarnation::mount_ns`), let go
    /// once the clients waiting for the removal are released, before the unmount.
    exited_mount_ns: Option<std::fs::File>,
    listener: UnixListener,
    signals: SignalFd,
    restart_count: i64,
    backoff: Backoff,
    restart_at: Option<Instant>,
    check: Option<Check>,
    health: Option<Health>,
    next_probe: Option<Instant>,
    probe: Option<Probe>,
    probe_process: Option<oci_spec::runtime::Process>,
    shim_pid: i32,
    /// The shim's own start time, read at the first launch.
    shim_start_time: Option<u64>,
    /// A start not written to the state yet (attached runs: see `Monitor::run`), and when it
    /// is written at the latest unless the container exits first.
    unrecorded_start: Option<StartRecord>,
    record_start_by: Option<Instant>,
    /// A network namespace made ahead for the first start (see `Monitor::run`).
    network_namespace: Option<std::sync::Arc<OwnedFd>>,
    /// The starting caller's container lock, handed on with the configuration: held until the
    /// start is recorded (see `berth_engine::lock`), closed before anything takes the lock.
    start_lock: Option<OwnedFd>,
    /// The last terminal size a client asked for (applied again at restarts).
    tty_size: Option<(u16, u16)>,
    buf: Vec<u8>,
}

/// The signals the shim takes through its signalfd (none of them may kill it).
fn blocked_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        s.add(sig);
    }
    s
}

/// Writes a line to `<run_dir>/shim.log` (the shim has no stderr).
pub fn diag(paths: &ShimPaths, msg: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.run_dir.join("shim.log"))
    {
        let _ = writeln!(f, "{} {msg}", now_text());
    }
}

impl Monitor {
    /// Reads the handshake from `ctl`, starts the container, reports to the spawner and runs until
    /// the container is gone for good. Returns the shim's exit status. The container is `id`,
    /// or when `None` (a shim started before its container was made) the one the configuration
    /// names. With `netns_ahead` the container's network namespace is made while the
    /// configuration is awaited (the spawner is still making the container).
    pub fn run(
        id: Option<&str>,
        root: &std::path::Path,
        runroot: &std::path::Path,
        ctl: OwnedFd,
        netns_ahead: bool,
    ) -> i32 {
        let network_namespace = netns_ahead
            .then(|| berth_runtime::namespaces::fresh_network_namespace().ok())
            .flatten()
            .map(std::sync::Arc::new);
        berth_sys::timing::mark("shim netns made");
        // Host facts the start reads, while the configuration is awaited.
        berth_runtime::warm_up();
        let _ = berth_engine::state::boot_id();
        berth_sys::timing::mark("shim warmed up");
        let mut spawner = Client::new(ctl);
        let line = match spawner.reader.read_line(spawner.sock.as_fd()) {
            Ok(Some(l)) => l,
            _ => return 2,
        };
        let cfg = match ClientMsg::parse(&line) {
            Some(ClientMsg::Config(c)) => *c,
            _ => {
                if let Some(id) = id {
                    let paths = ShimPaths::new(root, runroot, id);
                    diag(&paths, &format!("bad handshake line {line:?}"));
                }
                return 2;
            }
        };
        let id = match id {
            Some(id) => id.to_string(),
            None => match berth_runtime::state::validate_id(&cfg.id) {
                Ok(()) => cfg.id.clone(),
                Err(e) => {
                    spawner.send(&ShimMsg::Error {
                        code: 125,
                        message: format!("berth shim: {e}"),
                    });
                    return 2;
                }
            },
        };
        let id = id.as_str();
        let paths = ShimPaths::new(root, runroot, id);
        berth_sys::timing::mark("shim config received");
        // It rode on the config line: the first fd received.
        let start_lock = if cfg.start_lock {
            spawner.reader.take_first_fd()
        } else {
            None
        };
        // Only now: a spawner that gave up before the handshake leaves nothing behind.
        let _ = std::fs::create_dir_all(&paths.run_dir);
        if cfg.attach_at_spawn {
            match spawner.reader.read_line(spawner.sock.as_fd()) {
                Ok(Some(l)) => attach_client(&mut spawner, &l, None),
                _ => return 2,
            }
        }
        let tty_size = spawner.tty_size;
        let mut m = match Monitor::new(id, root, runroot, cfg) {
            Ok(m) => m,
            Err(e) => {
                let code = start_error_code(&e);
                spawner.send(&ShimMsg::Error { code, message: e });
                return 1;
            }
        };
        m.tty_size = tty_size;
        m.network_namespace = network_namespace;
        m.start_lock = start_lock;
        berth_sys::timing::mark("shim monitor ready");
        // Foreground `run --rm` waits for the removal: the engine that does it is opened while
        // the container's init sets up. (Not for detached ones: a database connection held for
        // a container's whole life costs memory.)
        let attached = spawner.io.is_some();
        let wants_engine = m.cfg.auto_remove && attached;
        // With `files_follow` the spawner still writes the container's /etc files: the bundle is
        // loaded meanwhile, the container made once it says they are there. A spawner that
        // gives up before (its own start failed) has recorded why: nothing is recorded here.
        let files_follow = m.cfg.files_follow;
        let mut abandoned = false;
        let mut files_ready = || {
            if !files_follow {
                return Ok(());
            }
            match spawner.reader.read_line(spawner.sock.as_fd()) {
                Ok(Some(l)) if ClientMsg::parse(&l) == Some(ClientMsg::FilesReady) => Ok(()),
                Ok(Some(l)) => Err(format!("bad handshake line {l:?}")),
                _ => {
                    abandoned = true;
                    Err("the starting process went away".to_string())
                }
            }
        };
        // A detached start is reported once recorded: the spawner's caller may look at the
        // state next (`run -d` then `ps`). An attached one is reported first: its caller only
        // waits for the exit, and a container that exits at once is then written once.
        let launched = m.launch(wants_engine, !attached, &mut files_ready);
        if abandoned {
            m.cleanup_files();
            return 1;
        }
        match launched {
            Ok(pid) => {
                berth_sys::timing::mark("shim launched container");
                spawner.send(&ShimMsg::Started {
                    pid: pid.as_raw(),
                    shim_pid: m.shim_pid,
                });
                if spawner.io.is_some() {
                    m.clients.push(spawner);
                } else {
                    // A detached start's caller is on its way out: the checkpoint its commit
                    // left (an attached one's shim does it after the removal, or never needs to).
                    drop(spawner);
                    berth_engine::tidy_database_at(&m.root, &m.runroot);
                }
            }
            Err(e) => {
                let code = start_error_code(&e);
                diag(&m.paths, &format!("start failed: {e}"));
                m.record_start_failure(code, &e);
                spawner.send(&ShimMsg::Error { code, message: e });
                m.cleanup_files();
                return 1;
            }
        }
        // Start-up garbage (the spec, the runtime's parse buffers) would stay resident for the
        // container's whole life otherwise.
        berth_sys::process::trim_heap();
        m.main_loop();
        m.final_exit();
        0
    }

    fn new(
        id: &str,
        root: &std::path::Path,
        runroot: &std::path::Path,
        cfg: ShimConfig,
    ) -> Result<Monitor, String> {
        let paths = ShimPaths::new(root, runroot, id);
        let bundle = cfg
            .bundle
            .clone()
            .unwrap_or_else(|| paths.container_dir.clone());
        let log_path = cfg
            .log_path
            .clone()
            .unwrap_or_else(|| paths.container_dir.join(format!("{id}-json.log")));
        let rotate = RotateOptions::from_opts(&cfg.log_opts).map_err(|e| e.to_string())?;
        let log = LogWriter::open(&log_path, rotate).map_err(|e| e.to_string())?;
        let sock = paths.socket();
        let _ = std::fs::remove_file(&sock);
        let listener = berth_engine::shim_proto::with_short_path(&sock, |p| UnixListener::bind(p))
            .map_err(|e| format!("binding {}: {e}", sock.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{}: {e}", sock.display()))?;
        let set = blocked_signals();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .map_err(|e| format!("blocking signals: {e}"))?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| format!("signalfd: {e}"))?;
        let shim_pid = std::process::id() as i32;
        // Held locked for the shim's life: `ps` tells a live shim by the lock, without reading
        // /proc (see berth_engine::state::shim_alive).
        let pid_lock = std::fs::File::create(paths.pid_file())
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
        if let Some(f) = &pid_lock {
            let _ = (&**f).write_all(shim_pid.to_string().as_bytes());
        }
        let check = cfg.healthcheck.as_ref().and_then(Check::from_config);
        let probe_process = if check.is_some() {
            berth_oci::spec::load_spec(&bundle.join("config.json"))
                .ok()
                .and_then(|s| s.process().clone())
        } else {
            None
        };
        Ok(Monitor {
            id: id.to_string(),
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            store: Store::new(root, runroot, id),
            rt: Runtime::new(paths.runtime_root.clone(), false),
            paths,
            restart_count: cfg.restart_count,
            cfg,
            bundle,
            log: Some(log),
            split_out: LineSplitter::default(),
            split_err: LineSplitter::default(),
            inc: None,
            clients: Vec::new(),
            awaiting_removal: Vec::new(),
            engine: None,
            removal_record: None,
            exited_mount_ns: None,
            listener,
            signals,
            backoff: Backoff::default(),
            restart_at: None,
            check,
            health: None,
            next_probe: None,
            probe: None,
            probe_process,
            shim_pid,
            shim_start_time: None,
            unrecorded_start: None,
            network_namespace: None,
            start_lock: None,
            record_start_by: None,
            _pid_lock: pid_lock,
            exit_code: 0,
            tty_size: None,
            buf: vec![0u8; CHUNK],
        })
    }
}

/// Handles an `attach` line on `c`: takes the fds that came with it.
fn attach_client(c: &mut Client, line: &str, master: Option<&File>) {
    let Some(ClientMsg::Attach {
        stdin,
        tty_size,
        detach_keys,
    }) = ClientMsg::parse(line)
    else {
        return;
    };
    let mut fds = c.reader.take_fds().into_iter();
    let stdin_fd = if stdin { fds.next() } else { None };
    let (Some(out), Some(err)) = (fds.next(), fds.next()) else {
        c.gone = true;
        return;
    };
    c.io = Some(ClientIo {
        stdin: stdin_fd.map(File::from),
        stdout: File::from(out),
        stderr: File::from(err),
        detach: DetachScanner::new(&detach_keys),
    });
    c.tty_size = tty_size;
    if let (Some((rows, cols)), Some(m)) = (tty_size, master) {
        let _ = berth_sys::pty::set_window_size(m.as_fd(), rows, cols);
    }
}

/// Reads once from a non-blocking fd: `Some(n)` bytes (0 = end), `None` = nothing now.
fn read_some(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    match f.read(buf) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => None,
        // EIO on a pty master once the last slave closed: its end.
        Err(_) => Some(0),
    }
}

fn until(t: Option<Instant>, now: Instant) -> Option<Duration> {
    t.map(|t| t.saturating_duration_since(now))
}

impl Monitor {
    /// Creates and starts (or restarts) the container; with `open_engine`, the engine for its
    /// removal is opened while the init sets up. With `record_now` the start is recorded
    /// (while the init execs) before this returns; otherwise it waits in `unrecorded_start`
    /// for `record_start`.
    fn launch(
        &mut self,
        open_engine: bool,
        record_now: bool,
        before_clone: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<Pid, String> {
        let mut engine = None;
        let mut record = None;
        let (root, runroot, driver) = (&self.root, &self.runroot, &self.cfg.storage_driver);
        let id = &self.id;
        let mut meanwhile = || {
            if open_engine && engine.is_none() {
                let opened = crate::remove::open_engine(root, runroot, driver);
                if let Ok(e) = &opened {
                    record = e.record_for_removal(id).ok().flatten();
                }
                engine = Some(opened);
            }
        };
        let mut inc = launch(
            &self.rt,
            &self.id,
            &self.bundle,
            &self.paths.run_dir,
            &self.cfg,
            self.tty_size,
            // Used once: a restart makes its own.
            self.network_namespace.take(),
            before_clone,
            &mut meanwhile,
        )?;
        if engine.is_some() {
            self.engine = engine;
            self.removal_record = record;
        }
        let (pid, pid_start_time) = (inc.pid, inc.pid_start_time);
        let exec_pending = inc.exec_pending.take();
        self.inc = Some(inc);
        self.health = self.check.as_ref().map(|_| health::starting());
        self.next_probe = self.check.as_ref().map(|c| {
            let now = Instant::now();
            now + c.next_wait(now, now)
        });
        let shim_pid = self.shim_pid;
        let shim_start_time = *self
            .shim_start_time
            .get_or_insert_with(|| start_time(shim_pid));
        self.unrecorded_start = Some(StartRecord {
            pid: pid.as_raw(),
            pid_start_time,
            shim_pid,
            shim_start_time,
            started_at: now_text(),
            restart_count: self.restart_count,
            health: self.health.clone(),
        });
        if record_now {
            self.record_start();
        } else {
            self.record_start_by = Some(Instant::now() + START_RECORD_GRACE);
        }
        // Recorded while the init exec'd; reported running only once it has (a stop sent
        // before would meet the runtime's code, not the user's program).
        if let Some(p) = exec_pending {
            p.wait();
        }
        Ok(pid)
    }

    /// Writes the start that `launch` left unrecorded, if any.
    fn record_start(&mut self) {
        self.record_start_by = None;
        if let Some(r) = self.unrecorded_start.take() {
            if let Err(e) = self.store.update(|s| r.apply(s)) {
                diag(&self.paths, &e.to_string());
            }
        }
        self.start_lock = None;
    }

    /// The first start failed: docker keeps the status (created) and records the error.
    fn record_start_failure(&mut self, code: i32, e: &str) {
        let _ = self.store.update(|s| {
            s.pid = 0;
            s.exit_code = code.into();
            s.error = e.to_string();
        });
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        self.tty_size = Some((rows, cols));
        if let Some(m) = self.inc.as_ref().and_then(|i| i.master.as_ref()) {
            let _ = berth_sys::pty::set_window_size(m.as_fd(), rows, cols);
        }
    }

    /// Whether the monitor still has something to do.
    fn alive(&self) -> bool {
        self.inc.is_some() || self.restart_at.is_some()
    }

    fn main_loop(&mut self) {
        while self.alive() {
            let now = Instant::now();
            let timeout = [
                until(self.record_start_by, now),
                until(self.restart_at, now),
                until(self.next_probe, now),
                until(self.probe.as_ref().map(|p| p.deadline), now),
            ]
            .into_iter()
            .flatten()
            .min();
            let ready = self.poll_once(timeout);
            for (src, revents) in ready {
                self.dispatch(src, revents);
            }
            self.clients.retain(|c| !c.gone);
            self.timers();
        }
    }

    fn poll_once(&mut self, timeout: Option<Duration>) -> Vec<(Src, PollFlags)> {
        let mut srcs: Vec<(Src, BorrowedFd<'_>)> = Vec::with_capacity(8);
        srcs.push((Src::Signal, self.signals.as_fd()));
        srcs.push((Src::Listener, self.listener.as_fd()));
        if let Some(inc) = &self.inc {
            if let Some(f) = &inc.stdout {
                srcs.push((Src::Out(Stream::Stdout), f.as_fd()));
            }
            if let Some(f) = &inc.stderr {
                srcs.push((Src::Out(Stream::Stderr), f.as_fd()));
            }
            if let Some(f) = &inc.master {
                srcs.push((Src::Master, f.as_fd()));
            }
        }
        let feeds = self
            .inc
            .as_ref()
            .is_some_and(|i| i.stdin.is_some() || i.master.is_some());
        for (i, c) in self.clients.iter().enumerate() {
            srcs.push((Src::ClientSock(i), c.sock.as_fd()));
            if let Some(stdin) = c.io.as_ref().and_then(|io| io.stdin.as_ref()) {
                if feeds {
                    srcs.push((Src::ClientStdin(i), stdin.as_fd()));
                }
            }
        }
        if let Some(fd) = self.probe.as_ref().and_then(|p| p.output.as_ref()) {
            srcs.push((Src::Probe, fd.as_fd()));
        }
        let mut fds: Vec<PollFd<'_>> = srcs
            .iter()
            .map(|(_, fd)| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d.as_millis().min(i32::MAX as u128) as i32 + 1)
                .unwrap_or(PollTimeout::MAX),
        };
        match poll(&mut fds, t) {
            Ok(n) if n > 0 => {}
            _ => return Vec::new(),
        }
        srcs.iter()
            .zip(fds.iter())
            .filter_map(|((src, _), fd)| {
                let r = fd.revents().unwrap_or(PollFlags::empty());
                (!r.is_empty()).then_some((*src, r))
            })
            .collect()
    }

    fn dispatch(&mut self, src: Src, _revents: PollFlags) {
        match src {
            Src::Signal => self.on_signals(),
            Src::Listener => {
                while let Ok((s, _)) = self.listener.accept() {
                    let _ = s.set_nonblocking(false);
                    self.clients.push(Client::new(OwnedFd::from(s)));
                }
            }
            Src::Out(stream) => self.pump(stream, false),
            Src::Master => self.pump(Stream::Stdout, false),
            Src::ClientSock(i) => self.on_client_msg(i),
            Src::ClientStdin(i) => self.on_client_stdin(i),
            Src::Probe => {
                if let Some(p) = self.probe.as_mut() {
                    p.read_output();
                }
            }
        }
    }

    /// Copies what the container wrote on `stream` (its pipe, or the pty) to the log and the
    /// attached clients; with `drain`, until nothing is left.
    fn pump(&mut self, stream: Stream, drain: bool) {
        loop {
            let Some(inc) = self.inc.as_mut() else { return };
            let src = match (&mut inc.master, stream) {
                (Some(m), _) => Some(m),
                (None, Stream::Stdout) => inc.stdout.as_mut(),
                (None, Stream::Stderr) => inc.stderr.as_mut(),
            };
            let Some(f) = src else { return };
            let n = match read_some(f, &mut self.buf) {
                None => return,
                Some(0) => {
                    // End of this stream: flush its partial line.
                    if inc.master.is_some() {
                        inc.master = None;
                    } else if stream == Stream::Stdout {
                        inc.stdout = None;
                    } else {
                        inc.stderr = None;
                    }
                    let splitter = match stream {
                        Stream::Stdout => &mut self.split_out,
                        Stream::Stderr => &mut self.split_err,
                    };
                    let log = &mut self.log;
                    splitter.finish(|e| write_log(log, stream, e));
                    return;
                }
                Some(n) => n,
            };
            let data = &self.buf[..n];
            let splitter = match stream {
                Stream::Stdout => &mut self.split_out,
                Stream::Stderr => &mut self.split_err,
            };
            let log = &mut self.log;
            splitter.push(data, |e| write_log(log, stream, e));
            for c in &mut self.clients {
                if let Some(io) = &mut c.io {
                    let out = match stream {
                        Stream::Stdout => &mut io.stdout,
                        Stream::Stderr => &mut io.stderr,
                    };
                    if out.write_all(data).is_err() {
                        c.io = None;
                    }
                }
            }
            if !drain && n < self.buf.len() {
                return;
            }
        }
    }

    fn on_client_msg(&mut self, i: usize) {
        let master = self.inc.as_ref().and_then(|inc| inc.master.as_ref());
        // Clients may have been dropped by an earlier event of the same poll round (an exit).
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        match c.reader.fill(c.sock.as_fd()) {
            Ok(true) => {}
            _ => {
                c.gone = true;
                return;
            }
        }
        let mut resize = None;
        while let Some(line) = c.reader.next_line() {
            match ClientMsg::parse(&line) {
                Some(ClientMsg::Attach { .. }) => {
                    attach_client(c, &line, master);
                    c.send(&ShimMsg::Attached);
                    if c.tty_size.is_some() {
                        resize = c.tty_size;
                    }
                }
                Some(ClientMsg::Resize { rows, cols }) => resize = Some((rows, cols)),
                _ => {}
            }
        }
        if let Some((rows, cols)) = resize {
            self.resize(rows, cols);
        }
    }

    fn on_client_stdin(&mut self, i: usize) {
        let stdin_once = self.cfg.stdin_once;
        let Some(io) = self.clients.get_mut(i).and_then(|c| c.io.as_mut()) else {
            return;
        };
        let Some(stdin) = io.stdin.as_mut() else {
            return;
        };
        let n = match stdin.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        if n == 0 {
            io.stdin = None;
            if stdin_once {
                if let Some(inc) = self.inc.as_mut() {
                    inc.stdin = None;
                }
            }
            return;
        }
        let mut forward = Vec::with_capacity(n);
        let detached = io.detach.feed(&self.buf[..n], &mut forward);
        self.clients[i].fed_stdin = true;
        if let Some(inc) = self.inc.as_mut() {
            let target = match (&mut inc.master, &mut inc.stdin) {
                (Some(m), _) => Some(m),
                (None, Some(s)) => Some(s),
                _ => None,
            };
            if let Some(t) = target {
                if !forward.is_empty() && t.write_all(&forward).is_err() {
                    inc.stdin = None;
                }
            }
        }
        if detached {
            let c = &mut self.clients[i];
            c.io = None;
            c.send(&ShimMsg::Detached);
            c.gone = true;
        }
    }

    fn on_signals(&mut self) {
        let mut chld = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            if info.ssi_signo as i32 == libc::SIGCHLD {
                chld = true;
            }
        }
        if !chld {
            return;
        }
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(s) => s,
            };
            let Some(pid) = status.pid() else { break };
            let code = berth_runtime::signals::exit_code(status);
            if self.inc.as_ref().is_some_and(|i| i.pid == pid) {
                self.on_exit(code.unwrap_or(255));
            } else if self.probe.as_ref().is_some_and(|p| p.child == pid) {
                self.finish_probe(code.unwrap_or(-1).into(), None);
            }
        }
    }

    /// The container's init exited with `code`.
    fn on_exit(&mut self, code: i32) {
        berth_sys::timing::mark("shim saw exit");
        self.pump(Stream::Stdout, true);
        self.pump(Stream::Stderr, true);
        let log = &mut self.log;
        self.split_out.finish(|e| write_log(log, Stream::Stdout, e));
        self.split_err.finish(|e| write_log(log, Stream::Stderr, e));
        let Some(mut inc) = self.inc.take() else {
            return;
        };
        let ran = inc.started.elapsed();
        let mount_ns = inc.mount_ns.take();
        drop(inc);
        if self.cfg.auto_remove {
            // `--rm` (never with a restart policy): the container is removed next, in
            // final_exit; a `run` waiting for that gets the code now and the close after.
            // (A start not recorded yet is written only if the removal fails.)
            self.record_start_by = None;
            self.exit_code = code;
            for c in &mut self.clients {
                c.send(&ShimMsg::Exit(code));
            }
            self.awaiting_removal.append(&mut self.clients);
            self.exited_mount_ns = mount_ns;
            // The removal takes the lock.
            self.start_lock = None;
            return;
        }
        // The container's mounts (and the memory they hold in its cgroup) go before the
        // runtime deletes the cgroup and the rootfs is unmounted.
        drop(mount_ns);
        let oom = self.rt.oom_kills(&self.id).is_ok_and(|n| n > 0);
        berth_sys::timing::mark("shim oom read");
        if let Err(e) = self.rt.delete(&self.id, true) {
            diag(&self.paths, &format!("deleting the runtime state: {e}"));
        }
        berth_sys::timing::mark("shim runtime deleted");
        self.cancel_probe();
        let manually = self.store.manually_stopped();
        let restart = should_restart(&self.cfg.restart, code, self.restart_count, manually);
        // Unmounted before the exit is recorded: whoever waits for it (stop, rm) finds the
        // container's rootfs released.
        let unmounted = !restart && self.unmount_rootfs();
        // A start not recorded yet is written along with the exit, in one update.
        let start = self.unrecorded_start.take();
        self.record_start_by = None;
        if let Err(e) = self.store.update(|s| {
            if let Some(r) = &start {
                r.apply(s);
            }
            s.rootfs_mounted &= !unmounted;
            s.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            s.pid = 0;
            s.pid_start_time = 0;
            s.exit_code = code.into();
            s.oom_killed = oom;
            s.finished_at = now_text();
        }) {
            diag(&self.paths, &e.to_string());
        }
        self.start_lock = None;
        berth_sys::timing::mark("shim exit recorded");
        for c in &mut self.clients {
            c.send(&ShimMsg::Exit(code));
        }
        // Closing the channel tells a `run` that waits for it the session is over.
        self.clients.clear();
        if restart {
            self.restart_at = Some(Instant::now() + self.backoff.delay(ran));
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.record_start_by.is_some_and(|t| t <= now) {
            self.record_start();
        }
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            if self.store.manually_stopped() {
                let unmounted = self.unmount_rootfs();
                let _ = self.store.update(|s| {
                    s.status = Status::Exited;
                    s.rootfs_mounted &= !unmounted;
                });
                return;
            }
            self.restart_count += 1;
            if let Err(e) = self.launch(false, true, &mut || Ok(())) {
                diag(&self.paths, &format!("restart failed: {e}"));
                let code = start_error_code(&e);
                let manually = self.store.manually_stopped();
                let again = should_restart(&self.cfg.restart, code, self.restart_count, manually);
                let unmounted = !again && self.unmount_rootfs();
                let _ = self.store.update(|s| {
                    s.status = if again {
                        Status::Restarting
                    } else {
                        Status::Exited
                    };
                    s.finished_at = now_text();
                    s.pid = 0;
                    s.exit_code = code.into();
                    s.error = e.clone();
                    s.rootfs_mounted &= !unmounted;
                });
                if again {
                    self.restart_at = Some(Instant::now() + self.backoff.delay(Duration::ZERO));
                }
            }
        }
        if let Some(p) = &self.probe {
            if p.deadline <= now {
                let secs = self
                    .check
                    .as_ref()
                    .map(|c| c.timeout.as_secs_f64())
                    .unwrap_or(0.0);
                let child = p.child;
                // The command itself (its pid written by the exec), then the child waiting on it.
                let pid_file = self.paths.run_dir.join("health.pid");
                if let Some(pid) = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .filter(|p| *p > 0)
                {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = std::fs::remove_file(&pid_file);
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                self.finish_probe(-1, Some(format!("Health check exceeded timeout ({secs}s)")));
            }
        }
        if self.probe.is_none() && self.inc.is_some() && self.next_probe.is_some_and(|t| t <= now) {
            self.next_probe = None;
            self.start_probe();
        }
    }

    /// Runs the health command in the container from a forked child (the exec joins the
    /// container's namespaces, which the shim itself must not).
    fn start_probe(&mut self) {
        let (Some(check), Some(process)) = (&self.check, &self.probe_process) else {
            return;
        };
        let mut process = process.clone();
        process.set_args(Some(check.argv.clone()));
        process.set_terminal(Some(false));
        let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
            Ok(p) => p,
            Err(_) => return,
        };
        let start = now_text();
        match berth_sys::process::clone_process(0) {
            Ok(berth_sys::process::CloneResult::Child) => {
                drop(r);
                let pid_file = self.paths.run_dir.join("health.pid");
                let _ = std::fs::remove_file(&pid_file);
                let code = probe_child(&self.rt, &self.id, process, &w, pid_file);
                berth_sys::process::exit_now(code);
            }
            Ok(berth_sys::process::CloneResult::Parent(child)) => {
                drop(w);
                let r = File::from(r);
                crate::container::nonblocking(&r);
                self.probe = Some(Probe {
                    child,
                    output: Some(OwnedFd::from(r)),
                    buf: Vec::new(),
                    start,
                    deadline: Instant::now() + check.timeout,
                });
            }
            Err(e) => {
                diag(&self.paths, &format!("health probe fork: {e}"));
                self.finish_probe_result(-1, format!("starting the health check: {e}"), start);
            }
        }
    }

    fn cancel_probe(&mut self) {
        if let Some(p) = self.probe.take() {
            let _ = nix::sys::signal::kill(p.child, Signal::SIGKILL);
        }
        self.next_probe = None;
    }

    fn finish_probe(&mut self, code: i64, why: Option<String>) {
        let Some(mut p) = self.probe.take() else {
            return;
        };
        while p.read_output() {}
        let output = why.unwrap_or_else(|| String::from_utf8_lossy(&p.buf).into_owned());
        self.finish_probe_result(code, output, p.start);
    }

    fn finish_probe_result(&mut self, code: i64, output: String, start: String) {
        let (Some(check), Some(h), Some(inc)) = (&self.check, self.health.as_mut(), &self.inc)
        else {
            return;
        };
        let now = Instant::now();
        let in_start = now.duration_since(inc.started) < check.start_period;
        health::record(
            h,
            check,
            in_start,
            HealthcheckResult {
                start,
                end: now_text(),
                exit_code: code,
                output,
            },
        );
        self.next_probe = Some(now + check.next_wait(inc.started, now));
        let h = h.clone();
        if let Err(e) = self.store.update(|s| s.health = Some(h)) {
            diag(&self.paths, &e.to_string());
        }
    }

    /// Unmounts the container's rootfs (mounted by the engine at start); true when it is not
    /// mounted any more.
    fn unmount_rootfs(&self) -> bool {
        let rootfs = self.paths.run_dir.join("rootfs");
        match nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => true,
            Err(e) => {
                diag(
                    &self.paths,
                    &format!("unmounting {}: {e}", rootfs.display()),
                );
                false
            }
        }
    }

    /// Removes the shim's own files (socket, pid file).
    fn cleanup_files(&self) {
        let _ = std::fs::remove_file(self.paths.socket());
        let _ = std::fs::remove_file(self.paths.pid_file());
    }

    /// The container is gone for good: unmount its rootfs, drop the runtime state, and for
    /// `--rm` remove the container.
    fn final_exit(&mut self) {
        if self.cfg.auto_remove {
            self.remove_container();
            return;
        }
        let _ = self.rt.delete(&self.id, true);
        let unmounted = self.unmount_rootfs();
        let _ = self.store.update(|s| {
            s.rootfs_mounted &= !unmounted;
            s.shim_pid = 0;
            s.shim_start_time = 0;
            s.pid = 0;
            s.pid_start_time = 0;
        });
        self.cleanup_files();
    }

    /// `--rm`: removes the container through the engine, which frees its name first; the
    /// clients waiting for the removal are let go right then, before the slower rest (unmount,
    /// cgroups, writable layer, directories).
    fn remove_container(&mut self) {
        let engine = self.engine.take().unwrap_or_else(|| {
            crate::remove::open_engine(&self.root, &self.runroot, &self.cfg.storage_driver)
        });
        let waiting = &mut self.awaiting_removal;
        let mount_ns = &mut self.exited_mount_ns;
        let record = self.removal_record.take();
        let removed = engine.and_then(|engine| {
            let removed = engine.remove_exited(&self.id, record.as_ref(), &mut || {
                waiting.clear();
                // Its teardown (an RCU grace period) after the release, before the unmount.
                mount_ns.take();
            });
            // Nobody waits for this shim now: the checkpoint the commands' commits left.
            engine.tidy_database();
            removed.map_err(|e| e.to_string())
        });
        self.exited_mount_ns = None;
        if let Err(why) = removed {
            // Without the engine: release the run state, then remove the directories so nothing
            // of the container keeps holding space (`system check` drops its row); only when
            // that fails too is the exit recorded.
            let _ = self.rt.delete(&self.id, true);
            let unmounted = self.unmount_rootfs();
            match crate::remove::remove_dirs(&self.paths) {
                Ok(()) => diag(
                    &self.paths,
                    &format!("--rm: the engine could not remove the container ({why})"),
                ),
                Err(e) => {
                    diag(&self.paths, &format!("--rm: {why}; then {e}"));
                    let code = self.exit_code;
                    let start = self.unrecorded_start.take();
                    let _ = self.store.update(|s| {
                        if let Some(r) = &start {
                            r.apply(s);
                        }
                        s.rootfs_mounted &= !unmounted;
                        s.status = Status::Exited;
                        s.exit_code = code.into();
                        s.finished_at = now_text();
                        s.shim_pid = 0;
                        s.pid = 0;
                    });
                }
            }
        }
        berth_sys::timing::mark("shim removed");
        self.awaiting_removal.clear();
    }
}

fn write_log(log: &mut Option<LogWriter>, stream: Stream, entry: &[u8]) {
    if let Some(w) = log {
        if w.write(stream, entry, berth_engine::logfile::now_ns())
            .is_err()
        {
            // A full disk must not stop the container: logging stops, output still flows.
            *log = None;
        }
    }
}

/// In the forked probe child: stdio to the pipe, exec the check in the container, exit with its
/// code.
fn probe_child(
    rt: &Runtime,
    id: &str,
    process: oci_spec::runtime::Process,
    out: &OwnedFd,
    pid_file: PathBuf,
) -> i32 {
    let _ = crate::close_fds_except(&[out.as_raw_fd()]);
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
    }
    let _ = nix::unistd::dup2(out.as_raw_fd(), 1);
    let _ = nix::unistd::dup2(out.as_raw_fd(), 2);
    let opts = berth_runtime::ExecOptions {
        id: id.to_string(),
        process,
        console_socket: None,
        pid_file: Some(pid_file),
        detach: false,
        preserve_fds: 0,
        ignore_paused: false,
    };
    match rt.exec(&opts) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            let _ = std::io::stdout().write_all(msg.as_bytes());
            start_error_code(&msg)
        }
    }
}
