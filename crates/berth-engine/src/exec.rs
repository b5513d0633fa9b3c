//! exec: a process in a running container, run from the calling process through
//! berth-runtime (the caller must be single-threaded: the runtime clones).
//!
//! The process starts from the container's own (the bundle's `config.json`): env, user, cwd,
//! capabilities, rlimits, no_new_privs; `-e`, `-u`, `-w`, `-t` and `--privileged` change it.
//! With `-t` the pty master comes back over a console socket and is relayed to the caller's
//! terminal (raw mode, window size, signals forwarded) until the process exits.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::Status;
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// `exec` flags.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    /// `-e K=V` (added to the container's env, replacing the same key).
    pub env: Vec<String>,
    /// `-u`; empty: the container's user.
    pub user: String,
    /// `-w`; empty: the container's working dir.
    pub workdir: String,
    /// `-t`: a pty (the caller's terminal is the console).
    pub tty: bool,
    /// `-i`: keep stdin open (else the process's stdin is /dev/null).
    pub interactive: bool,
    /// `-d`: do not wait (stdio on /dev/null).
    pub detach: bool,
    /// `--privileged`: every capability.
    pub privileged: bool,
    /// With `tty`: the pty's size (rows, columns) from the start, as the caller's terminal has
    /// it (the process may read it before any resize could arrive).
    pub console_size: Option<(u16, u16)>,
}

/// `-u user[:group]` against the container's /etc files: (uid, gid). The same resolution as the
/// container's own process (files read inside the rootfs, symlinks never followed out of it).
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<(u32, u32)> {
    let ids = crate::spec::user::resolve_user(rootfs, spec, &[])?;
    Ok((ids.uid, ids.gid))
}

/// The exec'd process: the container's process with the request's changes.
pub fn exec_process(container: &Value, rootfs: &Path, req: &ExecRequest) -> Result<Value> {
    let mut p = container.clone();
    if req.cmd.is_empty() {
        return Err(EngineError::Invalid("No exec command specified".into()));
    }
    p["args"] = json!(req.cmd);
    p["terminal"] = json!(req.tty);
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for e in &req.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    p["env"] = json!(env);
    if !req.workdir.is_empty() {
        p["cwd"] = json!(crate::spec::clean(&req.workdir));
    }
    if !req.user.is_empty() {
        let ids = crate::spec::user::resolve_user(rootfs, &req.user, &[])?;
        p["user"] = json!({"uid": ids.uid, "gid": ids.gid});
        if !ids.additional.is_empty() {
            p["user"]["additionalGids"] = json!(ids.additional);
        }
    }
    if req.privileged {
        let all = crate::spec::grantable_caps();
        p["capabilities"] = json!({
            "bounding": all, "effective": all, "permitted": all,
        });
    }
    match req.console_size.filter(|_| req.tty) {
        Some((rows, cols)) => p["consoleSize"] = json!({"height": rows, "width": cols}),
        None => {
            if let Some(o) = p.as_object_mut() {
                o.remove("consoleSize");
            }
        }
    }
    Ok(p)
}

/// Replaces fd `target` with `/dev/null` until dropped.
struct Redirect {
    target: i32,
    saved: Option<OwnedFd>,
}

impl Redirect {
    fn to_null(target: i32) -> Result<Redirect> {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(EngineError::io("opening", "/dev/null"))?;
        let saved = nix::unistd::dup(target).ok().map(berth_sys::fd::owned);
        nix::unistd::dup2(null.as_raw_fd(), target).map_err(EngineError::sys("dup2"))?;
        Ok(Redirect { target, saved })
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        if let Some(s) = self.saved.take() {
            let _ = nix::unistd::dup2(s.as_raw_fd(), self.target);
        }
    }
}

impl Engine {
    /// Runs `req` in a running container; returns its exit code (0 when detached).
    pub fn exec(&self, reference: &str, req: &ExecRequest) -> Result<i32> {
        let rec = self.lookup(reference)?;
        let id = rec.id.clone();
        let st = self.reconciled_state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => return Err(EngineError::Paused(id)),
            _ => return Err(EngineError::NotRunning(id)),
        }
        let cfg_path = self.paths.config_json(&id);
        let spec: Value = serde_json::from_slice(
            &std::fs::read(&cfg_path).map_err(EngineError::io("reading", &cfg_path))?,
        )
        .map_err(|e| EngineError::Corrupt {
            what: cfg_path.display().to_string(),
            reason: e.to_string(),
        })?;
        let rootfs = self
            .running_rootfs(&id)
            .unwrap_or_else(|| self.paths.rootfs(&id));
        let process = exec_process(&spec["process"], &rootfs, req)?;
        let process: oci_spec::runtime::Process =
            serde_json::from_value(process).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let rt = self.runtime();
        let start_err = |e: berth_runtime::RuntimeError| EngineError::Shim(e.to_string());
        let mut opts = berth_runtime::ExecOptions {
            id: id.clone(),
            process,
            console_socket: None,
            pid_file: None,
            detach: req.detach,
            preserve_fds: 0,
            ignore_paused: false,
        };
        if req.detach {
            return self.exec_detached(&rt, opts, req.tty);
        }
        if req.tty {
            return self.exec_tty(&rt, opts, false);
        }
        let _stdin = if req.interactive {
            None
        } else {
            Some(Redirect::to_null(0)?)
        };
        opts.detach = false;
        let mask = SignalMask::save();
        let r = rt.exec(&opts).map_err(start_err);
        drop(mask);
        r
    }

    /// `exec -d`: through an intermediate process that exits at once, so the exec'd process is
    /// never our child. (Were it our zombie, the container's pid namespace could not finish
    /// dying: its init waits for every process of the namespace to be reaped.)
    fn exec_detached(
        &self,
        rt: &berth_runtime::Runtime,
        opts: berth_runtime::ExecOptions,
        tty: bool,
    ) -> Result<i32> {
        // The runtime makes its caller a subreaper; orphans must go to init, not to us.
        let _ = nix::sys::prctl::set_child_subreaper(false);
        let (read_end, write_end) = nix::unistd::pipe().map_err(EngineError::sys("pipe"))?;
        match berth_sys::process::clone_process(0) {
            Err(e) => Err(EngineError::Shim(e.to_string())),
            Ok(berth_sys::process::CloneResult::Child) => {
                drop(read_end);
                let r = (|| {
                    let _null: Vec<Redirect> = [0, 1, 2]
                        .into_iter()
                        .map(Redirect::to_null)
                        .collect::<Result<_>>()?;
                    if tty {
                        self.exec_tty(rt, opts, true)
                    } else {
                        rt.exec(&opts).map_err(|e| EngineError::Shim(e.to_string()))
                    }
                })();
                let code = match r {
                    Ok(_) => 0,
                    Err(e) => {
                        let _ = nix::unistd::write(&write_end, e.to_string().as_bytes());
                        1
                    }
                };
                berth_sys::process::exit_now(code)
            }
            Ok(berth_sys::process::CloneResult::Parent(pid)) => {
                drop(write_end);
                let mut msg = Vec::new();
                let mut f = std::fs::File::from(read_end);
                let _ = std::io::Read::read_to_end(&mut f, &mut msg);
                let status = nix::sys::wait::waitpid(pid, None);
                match status {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(0),
                    _ if !msg.is_empty() => Err(EngineError::Shim(
                        String::from_utf8_lossy(&msg).into_owned(),
                    )),
                    other => Err(EngineError::Shim(format!(
                        "exec -d in container {}: the helper process ended with {other:?}",
                        opts.id
                    ))),
                }
            }
        }
    }

    /// `exec -t`: the pty master comes back over a console socket; relayed to our terminal.
    fn exec_tty(
        &self,
        rt: &berth_runtime::Runtime,
        mut opts: berth_runtime::ExecOptions,
        detach: bool,
    ) -> Result<i32> {
        let tag = &crate::volumes::random_hex()[..12];
        let sock = self.paths.runroot.join(format!("e-{tag}.sock"));
        let pid_file = self.paths.runroot.join(format!("e-{tag}.pid"));
        let listener = std::os::unix::net::UnixListener::bind(&sock)
            .map_err(EngineError::io("listening on", &sock))?;
        let _cleanup = RemoveOnDrop(vec![sock.clone(), pid_file.clone()]);
        opts.console_socket = Some(sock.clone());
        opts.pid_file = Some(pid_file.clone());
        opts.detach = true;
        let set = if detach {
            None
        } else {
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(EngineError::sys("become subreaper"))?;
            Some(
                berth_runtime::signals::block_forwarded()
                    .map_err(|e| EngineError::Shim(e.to_string()))?,
            )
        };
        let result = (|| {
            rt.exec(&opts)
                .map_err(|e| EngineError::Shim(e.to_string()))?;
            let (conn, _) = listener
                .accept()
                .map_err(EngineError::io("accepting on", &sock))?;
            let master = berth_sys::pty::receive_fd(std::os::fd::AsFd::as_fd(&conn))
                .map(|(_, fd)| fd)
                .map_err(EngineError::sys("receiving the exec's terminal"))?;
            let Some(set) = &set else {
                // Detached: the master is dropped; the process keeps its pty slave.
                drop(master);
                return Ok(0);
            };
            let pid: i32 = std::fs::read_to_string(&pid_file)
                .map_err(EngineError::io("reading", &pid_file))?
                .trim()
                .parse()
                .map_err(|_| EngineError::Corrupt {
                    what: pid_file.display().to_string(),
                    reason: "not a pid".into(),
                })?;
            let pid = nix::unistd::Pid::from_raw(pid);
            let pidfd = berth_sys::process::pidfd_open(pid)
                .map_err(|e| EngineError::Invalid(e.to_string()))?;
            berth_runtime::terminal::relay(master, pid, &pidfd, set)
                .map_err(|e| EngineError::Shim(e.to_string()))
        })();
        if let Some(set) = &set {
            let _ = nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
                Some(set),
                None,
            );
        }
        result
    }
}

/// The signal mask, restored on drop (the runtime blocks the signals it forwards).
struct SignalMask(Option<nix::sys::signal::SigSet>);

impl SignalMask {
    fn save() -> SignalMask {
        SignalMask(nix::sys::signal::SigSet::thread_get_mask().ok())
    }
}

impl Drop for SignalMask {
    fn drop(&mut self) {
        if let Some(m) = &self.0 {
            let _ = m.thread_set_mask();
        }
    }
}

struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let base = json!({"args": ["sh"], "env": ["PATH=/bin", "A=1"], "cwd": "/",
                          "user": {"uid": 0, "gid": 0}, "terminal": false});
        let req = ExecRequest {
            cmd: vec!["id".into()],
            env: vec!["A=2".into()],
            user: "www:staff".into(),
            workdir: "/tmp/".into(),
            tty: true,
            ..Default::default()
        };
        let p = exec_process(&base, dir.path(), &req).unwrap();
        assert_eq!(p["args"], json!(["id"]));
        assert_eq!(p["env"], json!(["PATH=/bin", "A=2", "TERM=xterm"]));
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(p["user"], json!({"uid": 33, "gid": 50}));
        assert_eq!(p["terminal"], true);
        assert!(p.get("consoleSize").is_none());
        let sized = ExecRequest {
            console_size: Some((33, 111)),
            ..req.clone()
        };
        let p = exec_process(&base, dir.path(), &sized).unwrap();
        assert_eq!(p["consoleSize"], json!({"height": 33, "width": 111}));
        // Without a pty there is no console to size.
        let untty = ExecRequest {
            tty: false,
            ..sized
        };
        let p = exec_process(&base, dir.path(), &untty).unwrap();
        assert!(p.get("consoleSize").is_none());
        assert_eq!(resolve_user(dir.path(), "1000").unwrap(), (1000, 0));
        assert_eq!(resolve_user(dir.path(), "www").unwrap(), (33, 34));
        assert!(resolve_user(dir.path(), "nobody").is_err());
        let empty = ExecRequest::default();
        assert!(exec_process(&base, dir.path(), &empty).is_err());
    }
}
