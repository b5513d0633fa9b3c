//! The container lifecycle over a state root: create, start, state, kill, delete, pause, resume,
//! and the queries (list, pids, stats). Callers must be single-threaded (create clones).

use crate::error::{Result, RuntimeError};
use crate::init::{self, InitArgs};
use crate::namespaces::{self, Plan};
use crate::state::{self, OciState, Status, StoredState, START_FIFO};
use crate::sync::{self, Msg};
use crate::{console, hooks};
use berth_cgroups::{Cgroup, CgroupConfig};
use berth_sys::process::{clone_process, pidfd_open, pidfd_send_signal, CloneResult};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A runtime instance: where container state lives and how cgroups are named.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The state root (`--root`), e.g. /run/berth-runc.
    pub root: PathBuf,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// The options of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// A network namespace made ahead for this container and used by nothing else (see
    /// [`crate::namespaces::fresh_network_namespace`]): when the config asks for a new network
    /// namespace, the init enters this one instead of making it.
    pub network_namespace: Option<std::sync::Arc<OwnedFd>>,
}

/// A container as loaded from its state directory.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub state: StoredState,
    pub status: Status,
}

/// Undoes a half-done create when dropped without `disarm`.
struct CreateGuard {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn Cgroup>>,
    children: Vec<Pid>,
}

/// A container just created by [`Runtime::create_for_start`], to hand to
/// [`Runtime::start_created`].
#[derive(Debug)]
pub struct Created {
    /// The init's pid.
    pub pid: Pid,
    state: StoredState,
    /// The write end of a pipe whose read end the init holds until its execve: the init was
    /// made to exec without waiting for a start (see [`Runtime::create_for_start`]).
    exec_watch: Option<OwnedFd>,
}

impl Created {
    /// The init's start time (/proc/<pid>/stat field 22), as recorded in the state.
    pub fn pid_start_time(&self) -> u64 {
        self.state.pid_start_time
    }
}

/// A container told to start by [`Runtime::start_created`], whose init may not have exec'd
/// the user's program yet.
#[derive(Debug)]
pub struct ExecPending {
    /// The start fifo's write end (`None` when the start already waited for the exec).
    fifo: Option<OwnedFd>,
}

impl ExecPending {
    /// Waits until the init has exec'd the user's program (or is gone), at most 10 s.
    pub fn wait(self) {
        if let Some(fd) = &self.fifo {
            wait_for_exec(fd);
        }
    }
}

impl CreateGuard {
    /// The error for an init that closed the channel early: it is reaped here, and no longer
    /// the guard's to kill.
    fn init_gone(&mut self, pid: Pid) -> RuntimeError {
        let status = waitpid(pid, None).ok();
        self.children.retain(|p| *p != pid);
        RuntimeError::Init(format!("the init exited before it was ready ({status:?})"))
    }

    fn disarm(mut self) {
        self.dir = None;
        self.cgroup = None;
        self.children.clear();
    }
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        for pid in self.children.drain(..) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Runtime {
    /// A runtime keeping state under `root`.
    pub fn new(root: impl Into<PathBuf>, systemd_cgroup: bool) -> Self {
        Runtime {
            root: root.into(),
            systemd_cgroup,
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn open_cgroup(&self, st: &StoredState) -> Result<Box<dyn Cgroup>> {
        Ok(berth_cgroups::open(&CgroupConfig {
            path: &st.cgroup_path,
            container_id: &st.id,
            systemd: st.systemd_cgroup,
            root: None,
        })?)
    }

    /// Loads a container and works out its status.
    pub fn load(&self, id: &str) -> Result<Container> {
        state::validate_id(id)?;
        let dir = self.dir(id);
        let st = state::load(&dir, id)?;
        let status = if !state::init_alive(&st) {
            Status::Stopped
        } else if dir.join(START_FIFO).exists() {
            Status::Created
        } else if self
            .open_cgroup(&st)
            .and_then(|cg| Ok(cg.is_frozen()?))
            .unwrap_or(false)
        {
            Status::Paused
        } else {
            Status::Running
        };
        Ok(Container {
            dir,
            state: st,
            status,
        })
    }

    /// The OCI state of a container.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let c = self.load(id)?;
        Ok(c.state.oci_state(c.status))
    }

    /// Every container under the root, sorted by id.
    pub fn list(&self) -> Result<Vec<OciState>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io(&self.root, e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if state::validate_id(&name).is_ok() {
                if let Ok(s) = self.state(&name) {
                    out.push(s);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Creates a container: its init is set up and waits for `start`. Returns the init's pid.
    pub fn create(&self, o: &CreateOptions) -> Result<Pid> {
        Ok(self.create_with_console(o, false)?.0)
    }

    /// [`Runtime::create`] for a caller that starts the container itself next: the returned
    /// record lets [`Runtime::start_created`] skip rereading the state from disk. With
    /// `at_once` the init execs the program as soon as it is set up instead of waiting on the
    /// start fifo (a signal and a wake-up less on the way to the exec); the container then shows
    /// as running, not created, to `state`, and nothing may be done between the two (a console's
    /// window size set by the caller would come too late).
    /// `before_clone` runs once the config is loaded and checked, just before the init is
    /// made: it returns when the files the container mounts are in place (another process may
    /// still be writing them until then); its error aborts the create. `meanwhile` runs once
    /// the init is cloned, while it sets up its rootfs (milliseconds during which this process
    /// would only wait): work the caller needs soon costs nothing there. It must not wait on
    /// the container.
    pub fn create_for_start(
        &self,
        o: &CreateOptions,
        at_once: bool,
        before_clone: &mut dyn FnMut() -> std::result::Result<(), String>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<Created> {
        let (pid, _, state, exec_watch) =
            self.create_with_state(o, false, at_once, before_clone, meanwhile)?;
        Ok(Created {
            pid,
            state,
            exec_watch,
        })
    }

    /// `create`; with `foreground` (for `run` on the caller's terminal) a config that asks for a
    /// terminal but names no console socket gets one made here, whose other end is returned.
    fn create_with_console(
        &self,
        o: &CreateOptions,
        foreground: bool,
    ) -> Result<(Pid, Option<OwnedFd>)> {
        self.create_with_state(o, foreground, false, &mut || Ok(()), &mut || {})
            .map(|(pid, console, _, _)| (pid, console))
    }

    /// With `at_once` the init execs as soon as it is set up, without waiting for a start; the
    /// last value is then the write end of the pipe that tells its execve (see [`Created`]).
    fn create_with_state(
        &self,
        o: &CreateOptions,
        foreground: bool,
        at_once: bool,
        before_clone: &mut dyn FnMut() -> std::result::Result<(), String>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(Pid, Option<OwnedFd>, StoredState, Option<OwnedFd>)> {
        state::validate_id(&o.id)?;
        let bundle = std::fs::canonicalize(&o.bundle)
            .map_err(|_| RuntimeError::BundleMissing(o.bundle.clone()))?;
        let spec = berth_oci::spec::load_spec(&bundle.join("config.json"))?;
        berth_sys::timing::mark("rt config parsed");
        let root_path = &spec
            .root()
            .as_ref()
            .expect("validated: root present")
            .path();
        let rootfs_given = if root_path.is_absolute() {
            root_path.to_path_buf()
        } else {
            bundle.join(root_path)
        };
        let rootfs = std::fs::canonicalize(&rootfs_given)
            .map_err(|_| RuntimeError::RootfsMissing(rootfs_given.clone()))?;
        let process = spec.process().as_ref().ok_or_else(|| {
            RuntimeError::InvalidArgument(
                "config.json: field `process`: is required to create a container".into(),
            )
        })?;
        let terminal = process.terminal().unwrap_or(false);
        let (our_console_end, console_fd) = if foreground && terminal && o.console_socket.is_none()
        {
            let (ours, theirs) = crate::terminal::console_pair()?;
            (Some(ours), Some(theirs))
        } else {
            (None, None)
        };
        if terminal && o.console_socket.is_none() && console_fd.is_none() {
            return Err(RuntimeError::InvalidArgument(
                "process.terminal is true: a --console-socket is needed to hand over the terminal"
                    .into(),
            ));
        }
        if !terminal && o.console_socket.is_some() {
            return Err(RuntimeError::InvalidArgument(
                "--console-socket was given but process.terminal is false".into(),
            ));
        }

        crate::rootfs::validate_sysctls(&spec)?;
        crate::lsm::check(&spec)?;
        std::fs::create_dir_all(&self.root).map_err(|e| RuntimeError::io(&self.root, e))?;
        let dir = self.dir(&o.id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(o.id.clone()))
            }
            Err(e) => return Err(RuntimeError::io(&dir, e)),
        }
        let mut guard = CreateGuard {
            dir: Some(dir.clone()),
            cgroup: None,
            children: Vec::new(),
        };

        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(profile) => Some(berth_seccomp::compile_cached(
                profile,
                &self.root.join(".seccomp-cache"),
            )?),
            None => None,
        };
        berth_sys::timing::mark("rt seccomp ready");
        let plan = Plan::from_spec(&spec)?;
        let cgroup_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup = berth_cgroups::open(&CgroupConfig {
            path: &cgroup_path,
            container_id: &o.id,
            systemd: self.systemd_cgroup,
            root: None,
        })?;
        berth_sys::timing::mark("rt spec loaded");
        let cgroup = guard.cgroup.insert(cgroup);
        let mut resources = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        resources.set_devices(Some(crate::devices_policy::device_rules(&spec)));
        let late = !plan.joins.is_empty();
        if late {
            // The first child joins namespaces itself and may fork: its cgroup must exist first.
            cgroup.create()?;
            cgroup.apply_resources(&resources)?;
        }

        // The start fifo, where the init waits for `start`; or, at once, a pipe whose read end
        // only the init keeps, closed by its execve.
        let (fifo, exec_watch) = if at_once {
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
                .map_err(|e| RuntimeError::sys("pipe for the exec", e))?;
            (read, Some(write))
        } else {
            let fifo_path = dir.join(START_FIFO);
            nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o600))
                .map_err(|e| RuntimeError::sys(format!("mkfifo {}", fifo_path.display()), e))?;
            let fifo =
                nix::fcntl::open(&fifo_path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                    .map(owned_from_raw)
                    .map_err(|e| RuntimeError::sys(format!("open {}", fifo_path.display()), e))?;
            (fifo, None)
        };
        let console_socket = match console_fd {
            Some(fd) => Some(fd),
            None => o
                .console_socket
                .as_deref()
                .map(console::connect_console_socket)
                .transpose()?,
        };

        let hooks = spec.hooks().as_ref();
        let wants_hooks = hooks.is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_container().as_ref().is_some_and(|v| !v.is_empty())
                || h.start_container().as_ref().is_some_and(|v| !v.is_empty())
        });
        if late && plan.pid_fork_needed() {
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(|e| RuntimeError::sys("become subreaper", e))?;
        }
        let clone_flags = if late {
            0
        } else {
            (plan.new - init::UNSHARED_BY_INIT).bits() as u64
        };
        berth_sys::timing::mark("rt before clone");
        before_clone().map_err(RuntimeError::Init)?;
        berth_sys::timing::mark("rt files ready");
        let (parent_end, child_end) =
            sync::pair().map_err(|e| RuntimeError::Init(e.to_string()))?;

        // The init is moved off this CPU while it starts (see ForkSpread).
        let spread = berth_sys::sched::ForkSpread::before_fork();
        let child = match clone_process(clone_flags)? {
            CloneResult::Child => {
                if let Some(spread) = &spread {
                    spread.restore_in_child();
                }
                berth_sys::timing::mark("init cloned");
                drop(parent_end);
                let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
                init::run(InitArgs {
                    spec: &spec,
                    rootfs: &rootfs,
                    bundle: &bundle,
                    plan: &plan,
                    channel: &child_end,
                    start_fifo: (!at_once).then_some(&fifo),
                    console_socket,
                    seccomp: seccomp.as_ref(),
                    preserve_fds: o.preserve_fds,
                    no_pivot: o.no_pivot,
                    no_new_keyring: o.no_new_keyring,
                    late_namespaces: late,
                    wants_hooks,
                    network_namespace: o.network_namespace.as_deref().filter(|_| {
                        !late && plan.new.contains(nix::sched::CloneFlags::CLONE_NEWNET)
                    }),
                })
            }
            CloneResult::Parent(pid) => pid,
        };
        if let Some(spread) = &spread {
            spread.move_child(child);
        }
        berth_sys::timing::mark("rt clone returned");
        drop(child_end);
        if at_once {
            // Only the init may hold the read end: its execve must close the last one.
            drop(fifo);
        }
        drop(console_socket);
        guard.children.push(child);

        // A send fails when the init already gave up: its last message then says why.
        // Only a closed channel means the init is gone; any other failure leaves it waiting,
        // so nothing is read then (the guard kills it).
        let why = |e: sync::SyncError| match e {
            sync::SyncError::Closed => match parent_end.recv() {
                Ok(Msg::Error(why)) => RuntimeError::Init(why),
                _ => RuntimeError::Init(format!("talking to the init: {e}")),
            },
            e => RuntimeError::Init(format!("talking to the init: {e}")),
        };
        let send = |m: &Msg| parent_end.send(m).map_err(why);
        if late {
            // The first child joins namespaces itself and may fork: put it in the cgroup first.
            cgroup.add_process(child.as_raw())?;
            send(&Msg::Go)?;
        } else {
            if plan.new_user() {
                namespaces::write_id_maps(child.as_raw(), &spec)?;
            }
            send(&Msg::Go)?;
            // The cgroup is made while the init creates its network namespace and mounts its
            // rootfs (both cost milliseconds); the init waits for it only before its cgroup
            // namespace and mounts.
            cgroup.create()?;
            berth_sys::timing::mark("rt cgroup made");
            cgroup.apply_resources(&resources)?;
            berth_sys::timing::mark("rt cgroup ready");
            match cgroup.self_join()?.map(|j| j.into_parts()) {
                // v1: the init moves itself in through files opened here (see SelfJoin).
                Some(parts) if !parts.is_empty() => {
                    let (paths, files): (Vec<_>, Vec<_>) = parts
                        .into_iter()
                        .map(|(p, f)| (p.to_string_lossy().into_owned(), f))
                        .unzip();
                    let fds: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
                    parent_end
                        .send_with_fds(&Msg::CgroupFiles(paths), &fds)
                        .map_err(why)?;
                }
                // Moving another process waits for an RCU grace period (milliseconds): the
                // init goes on with its rootfs meanwhile.
                _ => {
                    cgroup.add_process(child.as_raw())?;
                    send(&Msg::CgroupJoined)?;
                }
            }
        }

        berth_sys::timing::mark("rt cloned");
        meanwhile();
        berth_sys::timing::mark("rt meanwhile done");
        let mut init_pid = child;
        let mut stored = StoredState {
            id: o.id.clone(),
            pid: child.as_raw(),
            pid_start_time: 0,
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: state::now_rfc3339(),
            cgroup_path,
            systemd_cgroup: self.systemd_cgroup,
            spec: spec.clone(),
        };
        loop {
            let msg = match parent_end.recv() {
                Ok(m) => m,
                Err(_) => return Err(guard.init_gone(child)),
            };
            match msg {
                Msg::MapsRequest => {
                    namespaces::write_id_maps(child.as_raw(), &spec)?;
                    send(&Msg::Go)?;
                }
                Msg::Pid(pid) => {
                    init_pid = Pid::from_raw(pid);
                    let _ = waitpid(child, None);
                    guard.children.retain(|p| *p != child);
                    guard.children.push(init_pid);
                    stored.pid = pid;
                    send(&Msg::Go)?;
                }
                Msg::HooksRequest => {
                    let state_json = oci_state_json(&stored, "creating");
                    // The deprecated prestart hooks historically ran once the container was
                    // created; runtime-tools checks for that status.
                    let prestart_json = oci_state_json(&stored, "created");
                    if let Some(h) = hooks {
                        for (list, phase, json) in [
                            (h.prestart(), "prestart", &prestart_json),
                            (h.create_runtime(), "createRuntime", &state_json),
                        ] {
                            if let Some(list) = list {
                                if let Err(e) = hooks::run_hooks(list, json.as_bytes(), phase) {
                                    let _ = send(&Msg::Error(e.to_string()));
                                    return Err(e.into());
                                }
                            }
                        }
                    }
                    send(&Msg::HooksDone(state_json))?;
                }
                Msg::Ready => break,
                Msg::Error(e) => return Err(RuntimeError::Init(e)),
                other => {
                    return Err(RuntimeError::Init(format!(
                        "unexpected message {other:?} from the init"
                    )))
                }
            }
        }
        berth_sys::timing::mark("rt init ready");
        let stat = state::proc_stat(init_pid.as_raw())
            .ok_or_else(|| RuntimeError::Init("the init vanished after it was ready".into()))?;
        // Woken by the init, maybe on its CPU: the init's process set-up (the seccomp filter)
        // must not wait for the recording below.
        if let Some(cpu) = stat.processor {
            berth_sys::sched::step_off_cpu(cpu);
        }
        stored.pid_start_time = stat.start_time;
        state::save(&dir, &stored)?;
        // Meanwhile the init set up its process: a failure there is still create's.
        match parent_end.recv() {
            Ok(Msg::Armed) => {}
            Ok(Msg::Error(e)) => return Err(RuntimeError::Init(e)),
            Ok(other) => {
                return Err(RuntimeError::Init(format!(
                    "unexpected message {other:?} from the init"
                )))
            }
            Err(_) => return Err(guard.init_gone(init_pid)),
        }
        berth_sys::timing::mark("rt init armed");
        if let Some(pid_file) = &o.pid_file {
            state::write_atomic(pid_file, init_pid.as_raw().to_string().as_bytes())?;
        }
        guard.disarm();
        berth_sys::timing::mark("rt created");
        Ok((init_pid, our_console_end, stored, exec_watch))
    }

    /// Lets a created container's init exec the user's program, then runs the poststart hooks.
    pub fn start(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        if c.status != Status::Created {
            return Err(wrong_state(&c, "start", "created"));
        }
        self.signal_start(&c.state, true).map(drop)
    }

    /// Starts a container this process just made with [`Runtime::create_for_start`] (made
    /// `at_once`, its init is already on its way: nothing is signalled). Unlike
    /// [`Runtime::start`] it returns before the init's execve (unless poststart hooks must run
    /// after it): the caller's bookkeeping overlaps it, and it calls [`ExecPending::wait`]
    /// before it reports the container running (until the execve a pid namespace's init
    /// ignores the signals a `stop` sends).
    pub fn start_created(&self, c: Created) -> Result<ExecPending> {
        let Some(watch) = c.exec_watch else {
            return self
                .signal_start(&c.state, false)
                .map(|fifo| ExecPending { fifo });
        };
        // Made to exec at once: it needs no signal.
        let poststart = c
            .state
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().as_ref());
        let Some(list) = poststart else {
            return Ok(ExecPending { fifo: Some(watch) });
        };
        wait_for_exec(&watch);
        hooks::run_hooks_warn(
            list,
            oci_state_json(&c.state, "running").as_bytes(),
            "poststart",
        );
        Ok(ExecPending { fifo: None })
    }

    /// Signals the start; returns the fifo's write end unless it already waited for the exec.
    fn signal_start(&self, state: &StoredState, wait_exec: bool) -> Result<Option<OwnedFd>> {
        let id = &state.id;
        let fifo_path = self.dir(id).join(START_FIFO);
        let fd = nix::fcntl::open(
            &fifo_path,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            nix::errno::Errno::ENXIO => {
                RuntimeError::Init(format!("container {id:?}: the init is gone"))
            }
            e => RuntimeError::sys(format!("open {}", fifo_path.display()), e),
        })?;
        let fd = owned_from_raw(fd);
        berth_sys::timing::mark("rt start signal");
        nix::unistd::write(&fd, b"1").map_err(|e| RuntimeError::sys("signal start", e))?;
        let _ = std::fs::remove_file(&fifo_path);
        let poststart = state
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().as_ref());
        if !wait_exec && poststart.is_none() {
            return Ok(Some(fd));
        }
        wait_for_exec(&fd);
        drop(fd);
        if let Some(list) = poststart {
            // The runtime spec: a failed poststart hook is logged and the lifecycle goes on.
            hooks::run_hooks_warn(
                list,
                oci_state_json(state, "running").as_bytes(),
                "poststart",
            );
        }
        Ok(None)
    }

    /// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let c = self.load(id)?;
        if c.status == Status::Stopped {
            return Err(wrong_state(&c, "kill", "created, running or paused"));
        }
        if all {
            self.open_cgroup(&c.state)?.kill_all(signal)?;
            return Ok(());
        }
        let pidfd = pidfd_open(Pid::from_raw(c.state.pid))?;
        if !state::init_alive(&c.state) {
            return Err(RuntimeError::NotFound(format!(
                "{id} (its init has exited)"
            )));
        }
        pidfd_send_signal(&pidfd, signal)?;
        Ok(())
    }

    /// Deletes a stopped (or, with `force`, any) container: processes, cgroup, state, poststop hooks.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let c = match self.load(id) {
            Ok(c) => c,
            Err(RuntimeError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let cgroup = self.open_cgroup(&c.state).ok();
        // The runtime spec: deleting a container that is not stopped is an error without effect
        // (runc also deletes "created" ones; containerd and Podman pass --force for those).
        match c.status {
            Status::Stopped => {}
            _ if force => {}
            _ => return Err(wrong_state(&c, "delete", "stopped (or use --force)")),
        }
        if c.status != Status::Stopped {
            if c.status == Status::Paused {
                if let Some(cg) = &cgroup {
                    let _ = cg.thaw();
                }
            }
            if let Ok(pidfd) = pidfd_open(Pid::from_raw(c.state.pid)) {
                if state::init_alive(&c.state) {
                    let _ = pidfd_send_signal(&pidfd, libc::SIGKILL);
                    wait_pidfd(&pidfd, Duration::from_secs(10));
                }
            }
        }
        if let Some(cg) = &cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            cg.destroy()?;
        }
        if let Some(list) = c
            .state
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().as_ref())
        {
            hooks::run_hooks_warn(
                list,
                oci_state_json(&c.state, "stopped").as_bytes(),
                "poststop",
            );
        }
        std::fs::remove_dir_all(&c.dir).map_err(|e| RuntimeError::io(&c.dir, e))
    }

    /// Freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        if c.status != Status::Running {
            return Err(wrong_state(&c, "pause", "running"));
        }
        Ok(self.open_cgroup(&c.state)?.freeze()?)
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        if c.status != Status::Paused {
            return Err(wrong_state(&c, "resume", "paused"));
        }
        Ok(self.open_cgroup(&c.state)?.thaw()?)
    }

    /// The pids (in the runtime's namespace) of every process of the container.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let c = self.load(id)?;
        Ok(self.open_cgroup(&c.state)?.pids()?)
    }

    /// Resource usage of the container's cgroup.
    pub fn stats(&self, id: &str) -> Result<berth_cgroups::Stats> {
        let c = self.load(id)?;
        Ok(self.open_cgroup(&c.state)?.stats()?)
    }

    /// How many processes the OOM killer killed in the container's cgroup.
    pub fn oom_kills(&self, id: &str) -> Result<u64> {
        let c = self.load(id)?;
        Ok(self.open_cgroup(&c.state)?.oom_kills()?)
    }

    /// The container's cgroup.
    pub fn cgroup_of(&self, id: &str) -> Result<Box<dyn Cgroup>> {
        let c = self.load(id)?;
        self.open_cgroup(&c.state)
    }
}

/// The OCI state JSON handed to hooks.
pub(crate) fn oci_state_json(st: &StoredState, status: &str) -> String {
    let mut s = st.oci_state(Status::Running);
    s.status = status.to_string();
    serde_json::to_string(&s).unwrap_or_default()
}

fn wrong_state(c: &Container, op: &'static str, needed: &'static str) -> RuntimeError {
    RuntimeError::WrongState {
        id: c.state.id.clone(),
        status: c.status.as_str(),
        op,
        needed,
    }
}

/// Waits (at most 10 s) until the init has closed the start fifo, which happens at its execve (the
/// fifo is close-on-exec) or its exit: `start` then returns with the user's program running, so
/// poststart hooks really run after it started.
fn wait_for_exec(fifo_writer: &OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // A fifo's write end reports POLLERR once no reader is left.
    let mut fds = [PollFd::new(fifo_writer.as_fd(), PollFlags::empty())];
    let _ = poll(&mut fds, PollTimeout::from(10_000u16));
}

/// Waits until the process behind `pidfd` exits, at most `timeout`.
pub(crate) fn wait_pidfd(pidfd: &OwnedFd, timeout: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, ms), Ok(n) if n > 0)
}

/// Takes ownership of a raw fd that nix just returned.
pub(crate) fn owned_from_raw(fd: std::os::fd::RawFd) -> OwnedFd {
    berth_sys::fd::owned(fd)
}

/// Resolves the bundle's rootfs path; used by tests and the CLI's `spec` checks.
pub fn rootfs_of(bundle: &Path, spec: &Spec) -> Option<PathBuf> {
    let p = spec.root().as_ref()?.path();
    Some(if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    })
}

impl Runtime {
    /// `run`: create and start, then (unless `detach`) forward signals, wait for the process, delete
    /// the container and return the process's exit code.
    pub fn run(&self, o: &CreateOptions, detach: bool) -> Result<i32> {
        let sigset = if detach {
            None
        } else {
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(|e| RuntimeError::sys("become subreaper", e))?;
            Some(crate::signals::block_forwarded()?)
        };
        let (pid, console) = self.create_with_console(o, !detach)?;
        let terminal = match console
            .as_ref()
            .map(crate::terminal::receive_master)
            .transpose()
        {
            Ok(master) => master,
            Err(e) => {
                let _ = self.delete(&o.id, true);
                return Err(e);
            }
        };
        if let Err(e) = self.start(&o.id) {
            let _ = self.delete(&o.id, true);
            return Err(e);
        }
        let Some(set) = sigset else { return Ok(0) };
        let code = match (pidfd_open(pid), terminal) {
            (Ok(pidfd), Some(master)) => crate::terminal::relay(master, pid, &pidfd, &set),
            (Ok(pidfd), None) => crate::signals::forward_and_wait(pid, &pidfd, &set),
            (Err(e), _) => Err(e.into()),
        };
        let deleted = self.delete(&o.id, true);
        let code = code?;
        deleted?;
        Ok(code)
    }
}

impl Runtime {
    /// `update`: applies `patch` (a partial `linux.resources` object) to a live container's cgroup,
    /// and records the merged resources in its state.
    pub fn update(&self, id: &str, patch: &serde_json::Value) -> Result<()> {
        let c = self.load(id)?;
        if c.status == Status::Stopped {
            return Err(wrong_state(&c, "update", "created, running or paused"));
        }
        let field = |e: serde_json::Error| RuntimeError::InvalidArgument(format!("resources: {e}"));
        let resources: oci_spec::runtime::LinuxResources =
            serde_json::from_value(patch.clone()).map_err(field)?;
        self.open_cgroup(&c.state)?.apply_resources(&resources)?;

        let mut st = c.state;
        let current = st
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .map(|r| serde_json::to_value(r).map_err(field))
            .transpose()?
            .unwrap_or_else(|| serde_json::json!({}));
        let merged: oci_spec::runtime::LinuxResources =
            serde_json::from_value(merge(current, patch)).map_err(field)?;
        let mut linux = st.spec.linux().clone().unwrap_or_default();
        linux.set_resources(Some(merged));
        st.spec.set_linux(Some(linux));
        state::save(&c.dir, &st)
    }
}

/// `base` with every field of `patch` laid over it, objects merged recursively.
fn merge(mut base: serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
    match (&mut base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                let merged = merge(b.remove(k).unwrap_or(serde_json::Value::Null), v);
                b.insert(k.clone(), merged);
            }
            base
        }
        _ => patch.clone(),
    }
}

#[cfg(test)]
mod update_tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_lays_patch_over_base() {
        let base = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        let patch = json!({"memory": {"limit": 10}, "cpu": {"shares": 3}});
        assert_eq!(
            merge(base, &patch),
            json!({"memory": {"limit": 10, "swap": 2}, "pids": {"limit": 5}, "cpu": {"shares": 3}})
        );
    }
}
