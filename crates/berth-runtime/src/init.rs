//! The container's init: the code that runs in the freshly cloned child, from the handshake with
//! the parent to the execve of the user's program. Every step's failure is sent to the parent as
//! text naming the step, then the child exits.

use crate::error::{Result, RuntimeError};
use crate::namespaces::Plan;
use crate::sync::{Channel, Msg};
use crate::{console, hooks, rootfs, security};
use berth_seccomp::CompiledFilter;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use oci_spec::runtime::Spec;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Everything the init needs, prepared by the parent before the clone.
#[derive(Debug)]
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub plan: &'a Plan,
    pub channel: &'a Channel,
    /// The start fifo (opened read-write by the parent); `None` for `exec`'d processes.
    pub start_fifo: Option<&'a OwnedFd>,
    /// The connected console socket when `process.terminal` is set.
    pub console_socket: Option<OwnedFd>,
    pub seccomp: Option<&'a CompiledFilter>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Whether the process must first join the namespaces in `plan.joins` (exec, or create with paths).
    pub late_namespaces: bool,
    /// Whether the container hooks that run inside the container exist (a round trip is needed).
    pub wants_hooks: bool,
    /// A new, unused network namespace to enter instead of making one (not with late namespaces).
    pub network_namespace: Option<&'a OwnedFd>,
}

/// Runs the init to its execve; never returns. On failure the error goes to the parent.
pub fn run(args: InitArgs<'_>) -> ! {
    let err = match setup_and_exec(args.clone_ref()) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if args.channel.send(&Msg::Error(err.to_string())).is_err() {
        // After "armed" nobody listens: the container's stderr is the only place left to say why.
        eprintln!("berth-runc: container init: {err}");
    }
    berth_sys::process::exit_now(1)
}

impl InitArgs<'_> {
    fn clone_ref(&self) -> InitArgs<'_> {
        InitArgs {
            spec: self.spec,
            rootfs: self.rootfs,
            bundle: self.bundle,
            plan: self.plan,
            channel: self.channel,
            start_fifo: self.start_fifo,
            console_socket: self
                .console_socket
                .as_ref()
                .and_then(|f| f.try_clone().ok()),
            seccomp: self.seccomp,
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            late_namespaces: self.late_namespaces,
            wants_hooks: self.wants_hooks,
            network_namespace: self.network_namespace,
        }
    }
}

fn sync_err(step: &str, e: crate::sync::SyncError) -> RuntimeError {
    RuntimeError::Init(format!("{step}: {e}"))
}

/// The namespaces the init creates itself after the clone rather than in it: the cgroup
/// namespace once the init is in its cgroup, the network namespace (a millisecond of kernel
/// work) while the parent makes the cgroup.
pub(crate) const UNSHARED_BY_INIT: CloneFlags =
    CloneFlags::CLONE_NEWCGROUP.union(CloneFlags::CLONE_NEWNET);

/// Waits until the parent has made the cgroup, and enters it: the parent either moved us
/// (`CgroupJoined`) or sent the files through which we move ourselves (`CgroupFiles`).
fn wait_for_cgroup(channel: &Channel) -> Result<()> {
    let (msg, fds) = channel
        .recv_with_fds()
        .map_err(|e| sync_err("waiting for the cgroup", e))?;
    match msg {
        Msg::CgroupJoined => Ok(()),
        Msg::CgroupFiles(paths) if paths.len() == fds.len() => {
            let files = paths
                .into_iter()
                .map(std::path::PathBuf::from)
                .zip(fds.into_iter().map(std::fs::File::from))
                .collect();
            berth_cgroups::SelfJoin::from_parts(files).join()?;
            Ok(())
        }
        Msg::Error(e) => Err(RuntimeError::Init(e)),
        other => Err(RuntimeError::Init(format!(
            "unexpected {other:?} ({} files) while waiting for the cgroup",
            fds.len()
        ))),
    }
}

/// Enters the namespaces: waits for the parent, joins by path, creates late ones, forks into a pid
/// namespace when needed. Returns in the process that becomes the container's init.
/// `fresh_netns` (not with `late`) is entered instead of a network namespace being made.
pub(crate) fn enter_namespaces(
    plan: &Plan,
    channel: &Channel,
    late: bool,
    fresh_netns: Option<&OwnedFd>,
) -> Result<()> {
    channel
        .expect(Msg::Go, "go")
        .map_err(|e| sync_err("waiting for the parent", e))?;
    if !late {
        if plan.new_user() {
            become_namespace_root()?;
        }
        // The cgroup namespace, also left out of the clone, follows the cgroup join.
        let mut deferred = plan.new & (UNSHARED_BY_INIT - CloneFlags::CLONE_NEWCGROUP);
        if let Some(fd) = fresh_netns.filter(|_| deferred.contains(CloneFlags::CLONE_NEWNET)) {
            setns(fd, CloneFlags::CLONE_NEWNET)
                .map_err(|e| RuntimeError::sys("enter the network namespace made ahead", e))?;
            deferred.remove(CloneFlags::CLONE_NEWNET);
        }
        if !deferred.is_empty() {
            unshare(deferred).map_err(|e| RuntimeError::sys(format!("unshare {deferred:?}"), e))?;
        }
        if deferred.contains(CloneFlags::CLONE_NEWNET) {
            crate::loopback::bring_up()?;
        }
        return Ok(());
    }
    let join = |j: &crate::namespaces::Join| {
        setns(&j.fd, j.flag)
            .map_err(|e| RuntimeError::sys(format!("join namespace {}", j.path.display()), e))
    };
    // The mount namespace is joined last, after the pid fork: until then /proc/self must still be
    // the runtime's own /proc (clone_process reads it).
    let is_mnt = |j: &&crate::namespaces::Join| j.flag == CloneFlags::CLONE_NEWNS;
    for j in plan.joins.iter().filter(|j| !is_mnt(j)) {
        join(j)?;
    }
    if plan.new_user() {
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| RuntimeError::sys("unshare user namespace", e))?;
        channel
            .send(&Msg::MapsRequest)
            .map_err(|e| sync_err("asking for id maps", e))?;
        channel
            .expect(Msg::Go, "go")
            .map_err(|e| sync_err("waiting for id maps", e))?;
        become_namespace_root()?;
    }
    let rest = plan.new & !(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWCGROUP);
    if !rest.is_empty() {
        unshare(rest).map_err(|e| RuntimeError::sys(format!("unshare {rest:?}"), e))?;
    }
    if rest.contains(CloneFlags::CLONE_NEWNET) {
        crate::loopback::bring_up()?;
    }
    if plan.pid_fork_needed() {
        match berth_sys::process::clone_process(0)? {
            berth_sys::process::CloneResult::Child => {
                // Our pid reaches the parent from the intermediate process: wait until it has,
                // so that every later message comes after it.
                channel
                    .expect(Msg::Go, "go after the pid fork")
                    .map_err(|e| sync_err("waiting for the parent after the pid fork", e))?;
            }
            berth_sys::process::CloneResult::Parent(pid) => {
                let code = i32::from(channel.send(&Msg::Pid(pid.as_raw())).is_err());
                berth_sys::process::exit_now(code);
            }
        }
    }
    for j in plan.joins.iter().filter(is_mnt) {
        join(j)?;
    }
    Ok(())
}

/// Takes the ids that the new user namespace maps to root: until then the process still carries
/// the host's ids, which the namespace cannot represent (files it creates would fail EOVERFLOW).
fn become_namespace_root() -> Result<()> {
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| RuntimeError::sys("setresgid(0) in the user namespace", e))?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| RuntimeError::sys("setresuid(0) in the user namespace", e))?;
    // Host supplementary groups mean nothing inside; dropping them fails if setgroups is denied.
    let _ = nix::unistd::setgroups(&[]);
    Ok(())
}

fn setup_and_exec(args: InitArgs<'_>) -> Result<std::convert::Infallible> {
    // The parent blocks signals it forwards; the container must start with a clean mask.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| RuntimeError::sys("reset signal mask", e))?;
    // Rust ignores SIGPIPE; a container's `yes | head` must die of it as under a shell.
    berth_sys::process::reset_signal_dispositions()
        .map_err(|e| RuntimeError::sys("reset signal dispositions", e))?;
    berth_sys::timing::mark("init begins");
    enter_namespaces(
        args.plan,
        args.channel,
        args.late_namespaces,
        args.network_namespace,
    )?;
    berth_sys::timing::mark("init got go");
    // With namespaces joined late, the parent put the first child in the cgroup before "go";
    // otherwise it makes the cgroup while we work, then moves us in or sends the files
    // through which we move ourselves. (Until then only this runtime code runs, outside the
    // container's limits: the kernel memory of the network namespace and of the first mounts
    // is charged to the shim's cgroup.)
    let join_cgroup = || -> Result<()> {
        if !args.late_namespaces {
            wait_for_cgroup(args.channel)?;
        }
        if args.plan.new.contains(CloneFlags::CLONE_NEWCGROUP) {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| RuntimeError::sys("unshare cgroup namespace", e))?;
        }
        Ok(())
    };
    let spec = args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidArgument("config.json has no process to run".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    if !terminal {
        nix::unistd::setsid().map_err(|e| RuntimeError::sys("setsid", e))?;
    }
    crate::lsm::apply_apparmor(spec)?;
    if !args.no_new_keyring {
        // Fails with ENOSYS/EPERM on kernels or seccomp profiles without keyrings: not fatal, as in runc.
        let _ = berth_sys::process::join_session_keyring(c"_ses.berth");
    }

    let opts = rootfs::RootfsOptions {
        no_pivot: args.no_pivot,
        bundle: args.bundle.to_path_buf(),
    };
    if args.plan.has_mount_ns() {
        rootfs::prepare_rootfs_with(spec, args.rootfs, &opts, join_cgroup)?;
    } else {
        join_cgroup()?;
    }
    berth_sys::timing::mark("init rootfs prepared");
    let state_json = if args.wants_hooks {
        args.channel
            .send(&Msg::HooksRequest)
            .map_err(|e| sync_err("asking for hooks", e))?;
        match args
            .channel
            .recv()
            .map_err(|e| sync_err("waiting for hooks", e))?
        {
            Msg::HooksDone(state) => state,
            Msg::Error(e) => return Err(RuntimeError::Init(e)),
            other => {
                return Err(RuntimeError::Init(format!(
                    "unexpected {other:?} while waiting for hooks"
                )))
            }
        }
    } else {
        String::new()
    };
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
    {
        hooks::run_hooks(h, state_json.as_bytes(), "createContainer")?;
    }
    if args.plan.has_mount_ns() {
        rootfs::enter_rootfs(args.rootfs, &opts)?;
        berth_sys::timing::mark("init pivoted");
    } else {
        nix::unistd::chroot(args.rootfs).map_err(|e| RuntimeError::sys("chroot", e))?;
    }
    if let Some(socket) = args.console_socket {
        let size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup_console(socket, size)?;
    }
    create_cwd(process.cwd())?;
    if args.plan.has_mount_ns() {
        rootfs::finalize_rootfs(spec)?;
    }
    berth_sys::timing::mark("init rootfs entered");
    rootfs::set_hostname(spec)?;
    // The parent records the container while the process is set up (the seccomp filter alone
    // takes the kernel ~0.6 ms to check and compile); it waits for "armed" before create returns.
    args.channel
        .send(&Msg::Ready)
        .map_err(|e| sync_err("reporting ready", e))?;
    // Before the seccomp filter: a profile may well not allow close_range.
    pass_fds(args.preserve_fds)?;
    prepare_process(spec, args.seccomp)?;
    let target = ExecTarget::resolve(process)?;
    nix::sys::prctl::set_pdeathsig(None)
        .map_err(|e| RuntimeError::sys("clear parent-death signal", e))?;
    args.channel
        .send(&Msg::Armed)
        .map_err(|e| sync_err("reporting armed", e))?;
    berth_sys::timing::mark("init process ready");
    if let Some(fifo) = args.start_fifo {
        wait_for_start(fifo)?;
    }
    berth_sys::timing::mark("init exec");
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        hooks::run_hooks(h, state_json.as_bytes(), "startContainer")?;
    }
    Err(target.exec())
}

/// Applies the process's identity and limits, in the order the kernel's rules require.
pub(crate) fn prepare_process(spec: &Spec, seccomp: Option<&CompiledFilter>) -> Result<()> {
    let process = spec.process().as_ref().expect("checked by the caller");
    if let Some(rlimits) = process.rlimits() {
        security::set_rlimits(rlimits)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(adj)?;
    }
    if let Some(prio) = process.io_priority() {
        security::set_io_priority(prio)?;
    }
    if let Some(sched) = process.scheduler() {
        security::set_scheduler(sched)?;
    }
    if let Some(personality) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        security::set_personality(personality)?;
    }
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still have it.
    if !no_new_privs {
        if let Some(filter) = seccomp {
            filter.install()?;
        }
    }
    if let Some(caps) = process.capabilities() {
        security::drop_bounding_set(caps)?;
    }
    security::switch_user(process.user(), setgroups_allowed(spec))?;
    nix::unistd::chdir(process.cwd())
        .map_err(|e| RuntimeError::sys(format!("chdir to cwd {}", process.cwd().display()), e))?;
    match process.capabilities() {
        Some(caps) => security::apply_capabilities(caps)?,
        None => security::apply_capabilities(&empty_caps())?,
    }
    if no_new_privs {
        security::set_no_new_privileges()?;
        if let Some(filter) = seccomp {
            filter.install()?;
        }
    }
    Ok(())
}

fn empty_caps() -> oci_spec::runtime::LinuxCapabilities {
    let none = oci_spec::runtime::Capabilities::new();
    oci_spec::runtime::LinuxCapabilitiesBuilder::default()
        .bounding(none.clone())
        .effective(none.clone())
        .permitted(none.clone())
        .inheritable(none.clone())
        .ambient(none)
        .build()
        .expect("all fields set")
}

/// Whether setgroups(2) may be called: not in a user namespace whose setgroups file says "deny".
fn setgroups_allowed(_spec: &Spec) -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// Creates the process's working directory if it is missing (inside the container's root, before
/// the root turns read-only), as runc does.
fn create_cwd(cwd: &Path) -> Result<()> {
    match std::fs::metadata(cwd) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(cwd).map_err(|e| RuntimeError::io(cwd, e))
        }
        Err(e) => Err(RuntimeError::io(cwd, e)),
    }
}

/// `env` with `HOME` added when it is missing: the user's home from the container's /etc/passwd,
/// else `/root` for root and `/` for anyone else (runc's rule).
pub(crate) fn with_home(env: &[String], uid: u32) -> Vec<String> {
    let mut env = env.to_vec();
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let from_passwd = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        });
    let home = from_passwd.unwrap_or_else(|| if uid == 0 { "/root".into() } else { "/".into() });
    env.push(format!("HOME={home}"));
    env
}

/// The program, argv and environment of an execve, resolved and converted before the process
/// commits to running (so that `create` and `exec` report a missing program).
pub(crate) struct ExecTarget {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecTarget {
    /// Resolves `process.args[0]` in the (already entered) root and builds argv and envp, with
    /// HOME added as runc does.
    pub(crate) fn resolve(process: &oci_spec::runtime::Process) -> Result<ExecTarget> {
        let args = process.args().as_deref().unwrap_or_default();
        let first = args.first().ok_or_else(|| {
            RuntimeError::InvalidArgument("process.args: no program to run".into())
        })?;
        let program =
            security::resolve_executable(first, env_path(process.env().as_deref()), process.cwd())?;
        Ok(ExecTarget {
            program,
            argv: to_cstrings(args)?,
            envp: to_cstrings(&with_home(
                process.env().as_deref().unwrap_or_default(),
                process.user().uid(),
            ))?,
        })
    }

    /// execve; returns only the error.
    pub(crate) fn exec(&self) -> RuntimeError {
        RuntimeError::Init(security::exec(&self.program, &self.argv, &self.envp).to_string())
    }
}

fn env_path(env: Option<&[String]>) -> Option<&str> {
    env?.iter().find_map(|e| e.strip_prefix("PATH="))
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| RuntimeError::InvalidArgument(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// Blocks until `start` writes to the start fifo.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fifo.as_raw_fd(), &mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => {
                return Err(RuntimeError::Init(
                    "start fifo closed without a start".into(),
                ))
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys("wait for start", e)),
        }
    }
}

/// Leaves only stdio and the `preserve_fds` fds after them open across exec.
pub(crate) fn pass_fds(preserve_fds: u32) -> Result<()> {
    for fd in 3..3 + preserve_fds as i32 {
        // A preserved fd may carry CLOEXEC from its creator; it must survive the exec.
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        );
    }
    berth_sys::fd::cloexec_from(3 + preserve_fds)
        .map_err(|e| RuntimeError::sys("close inherited fds", e))
}
