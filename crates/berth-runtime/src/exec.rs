//! `exec`: a new process inside a running container, in all of its namespaces and its cgroup, with
//! the container's seccomp filter.

use crate::container::{owned_from_raw, Runtime};
use crate::error::{Result, RuntimeError};
use crate::init;
use crate::namespaces::{Join, Plan};
use crate::state::{self, Status};
use crate::sync::{self, Msg};
use crate::{console, signals};
use berth_sys::process::{clone_process, pidfd_open, CloneResult};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub id: String,
    /// The process to run (from `--process` or built from the container's process and flags).
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

/// The namespaces of `pid` that differ from ours, to be joined (user first).
fn namespaces_of(pid: i32) -> Result<Vec<Join>> {
    let order = [
        CloneFlags::CLONE_NEWUSER,
        CloneFlags::CLONE_NEWIPC,
        CloneFlags::CLONE_NEWUTS,
        CloneFlags::CLONE_NEWNET,
        CloneFlags::CLONE_NEWPID,
        CloneFlags::CLONE_NEWCGROUP,
        CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        CloneFlags::CLONE_NEWNS,
    ];
    let mut joins = Vec::new();
    for flag in order {
        let name = crate::namespaces::proc_name(flag);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (Ok(mine), Ok(their_meta)) = (
            std::fs::metadata(format!("/proc/self/ns/{name}")),
            std::fs::metadata(&theirs),
        ) else {
            continue; // a kernel without this namespace type
        };
        if mine.ino() != their_meta.ino() || mine.dev() != their_meta.dev() {
            let fd = nix::fcntl::open(
                theirs.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map(owned_from_raw)
            .map_err(|e| RuntimeError::sys(format!("open {theirs}"), e))?;
            joins.push(Join {
                flag,
                fd,
                path: theirs.into(),
            });
        }
    }
    Ok(joins)
}

impl Runtime {
    /// Runs a process in a running container. Returns its exit code, or 0 when detached.
    pub fn exec(&self, o: &ExecOptions) -> Result<i32> {
        let c = self.load(&o.id)?;
        match c.status {
            Status::Running | Status::Created => {}
            Status::Paused if o.ignore_paused => {}
            _ => {
                return Err(RuntimeError::WrongState {
                    id: o.id.clone(),
                    status: c.status.as_str(),
                    op: "exec",
                    needed: "running",
                })
            }
        }
        let terminal = o.process.terminal().unwrap_or(false);
        if terminal != o.console_socket.is_some() {
            return Err(RuntimeError::InvalidArgument(
                "a terminal (--tty / process.terminal) and --console-socket go together".into(),
            ));
        }
        let init_pidfd = pidfd_open(Pid::from_raw(c.state.pid))?;
        if !state::init_alive(&c.state) {
            return Err(RuntimeError::NotFound(format!(
                "{} (its init has exited)",
                o.id
            )));
        }
        let mut spec = c.state.spec.clone();
        spec.set_process(Some(o.process.clone()));
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(profile) => Some(berth_seccomp::compile_cached(
                profile,
                &self.root.join(".seccomp-cache"),
            )?),
            None => None,
        };
        let joins = namespaces_of(c.state.pid)?;
        let joins_mount = joins.iter().any(|j| j.flag == CloneFlags::CLONE_NEWNS);
        let joins_pid = joins.iter().any(|j| j.flag == CloneFlags::CLONE_NEWPID);
        let plan = Plan {
            new: CloneFlags::empty(),
            joins,
        };
        let cgroup = self.cgroup_of(&o.id)?;
        let console_socket = o
            .console_socket
            .as_deref()
            .map(console::connect_console_socket)
            .transpose()?;
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| RuntimeError::sys("become subreaper", e))?;
        let sigset = if o.detach {
            None
        } else {
            Some(signals::block_forwarded()?)
        };
        // On v1 the child moves itself into the cgroup (microseconds) instead of being moved by
        // us (an RCU grace period, milliseconds).
        let self_join = cgroup.self_join()?;
        let (parent_end, child_end) =
            sync::pair().map_err(|e| RuntimeError::Init(e.to_string()))?;

        let child = match clone_process(0)? {
            CloneResult::Child => {
                drop(parent_end);
                let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
                let err = exec_child(
                    &plan,
                    &child_end,
                    &spec,
                    &c.state.rootfs,
                    joins_mount,
                    console_socket,
                    seccomp.as_ref(),
                    self_join.as_ref(),
                    o.preserve_fds,
                    terminal,
                );
                let _ = child_end.send(&Msg::Error(err.to_string()));
                berth_sys::process::exit_now(1);
            }
            CloneResult::Parent(pid) => pid,
        };
        drop(child_end);
        drop(console_socket);
        let fail = |e: RuntimeError, pids: &[Pid]| {
            for p in pids {
                let _ = nix::sys::signal::kill(*p, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(*p, None);
            }
            e
        };
        if self_join.is_none() {
            if let Err(e) = cgroup.add_process(child.as_raw()) {
                return Err(fail(e.into(), &[child]));
            }
        }
        drop(self_join);
        if let Err(e) = parent_end.send(&Msg::Go) {
            return Err(fail(RuntimeError::Init(e.to_string()), &[child]));
        }
        let mut pid = child;
        if joins_pid {
            match parent_end.recv() {
                Ok(Msg::Pid(p)) => {
                    pid = Pid::from_raw(p);
                    let _ = waitpid(child, None);
                    if let Err(e) = parent_end.send(&Msg::Go) {
                        return Err(fail(RuntimeError::Init(e.to_string()), &[pid]));
                    }
                }
                Ok(Msg::Error(e)) => return Err(fail(RuntimeError::Init(e), &[child])),
                other => {
                    return Err(fail(
                        RuntimeError::Init(format!("exec: unexpected {other:?}")),
                        &[child],
                    ))
                }
            }
        }
        // Ready, then the socket closes on a successful execve (it is close-on-exec) or an error comes.
        match parent_end.recv() {
            Ok(Msg::Ready) => {}
            Ok(Msg::Error(e)) => return Err(fail(RuntimeError::Init(e), &[pid])),
            other => {
                return Err(fail(
                    RuntimeError::Init(format!("exec: unexpected {other:?}")),
                    &[pid],
                ))
            }
        }
        match parent_end.recv() {
            Err(sync::SyncError::Closed) => {}
            Ok(Msg::Error(e)) => return Err(fail(RuntimeError::Init(e), &[pid])),
            other => {
                return Err(fail(
                    RuntimeError::Init(format!("exec: unexpected {other:?}")),
                    &[pid],
                ))
            }
        }
        if let Some(pid_file) = &o.pid_file {
            state::write_atomic(pid_file, pid.as_raw().to_string().as_bytes())?;
        }
        let Some(set) = sigset else { return Ok(0) };
        let pidfd = pidfd_open(pid)?;
        drop(init_pidfd);
        signals::forward_and_wait(pid, &pidfd, &set)
    }
}

/// The exec'd child: joins, forks into the pid namespace if needed, sets up and execs.
#[allow(clippy::too_many_arguments)]
fn exec_child(
    plan: &Plan,
    channel: &sync::Channel,
    spec: &oci_spec::runtime::Spec,
    rootfs: &std::path::Path,
    joins_mount: bool,
    console_socket: Option<std::os::fd::OwnedFd>,
    seccomp: Option<&berth_seccomp::CompiledFilter>,
    cgroup_join: Option<&berth_cgroups::SelfJoin>,
    preserve_fds: u32,
    terminal: bool,
) -> RuntimeError {
    let run = || -> Result<std::convert::Infallible> {
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        )
        .map_err(|e| RuntimeError::sys("reset signal mask", e))?;
        berth_sys::process::reset_signal_dispositions()
            .map_err(|e| RuntimeError::sys("reset signal dispositions", e))?;
        // Before any fork into the pid namespace, which the grandchild inherits.
        if let Some(join) = cgroup_join {
            join.join()?;
        }
        // While our /proc is still the host's.
        crate::lsm::apply_apparmor(spec)?;
        init::enter_namespaces(plan, channel, true, None)?;
        if !joins_mount {
            nix::unistd::chroot(rootfs).map_err(|e| RuntimeError::sys("chroot", e))?;
        }
        if let Some(socket) = console_socket {
            let process = spec.process().as_ref().expect("set by exec");
            let size = process
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16));
            console::setup_console(socket, size)?;
        } else if terminal {
            unreachable!("checked by the parent");
        }
        init::pass_fds(preserve_fds)?;
        init::prepare_process(spec, seccomp)?;
        let process = spec.process().as_ref().expect("set by exec");
        let target = init::ExecTarget::resolve(process)?;
        channel
            .send(&Msg::Ready)
            .map_err(|e| RuntimeError::Init(e.to_string()))?;
        Err(target.exec())
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}
