//! check/reconcile: run state that a crash, a killed shim or a reboot left untrue.
//!
//! A container whose state says running (or paused, restarting) but whose shim is gone
//! (its pid, start time and boot id no longer match a live process) is reconciled to `exited`:
//! - its init still runs (the shim alone was killed): nobody collects its output or exit
//!   status any more, so it is killed (SIGKILL) and recorded with exit code 137;
//! - otherwise the exit status is lost: exit code 255 (docker's code for a container found
//!   dead at daemon start), with `Error` saying why.
//!
//! After a reboot every such container is reconciled (the boot id differs) and its
//! `rootfs_mounted` flag cleared (mounts did not survive).

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use crate::state::{self, Status};

/// What [`Engine::check`] found (and fixed, when repairing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per fixed problem: "container <id>: running but its shim is gone: now exited".
    pub fixed: Vec<String>,
    /// Problems left (not repairing, or the repair failed).
    pub problems: Vec<String>,
}

impl Engine {
    /// Reconciles container `id` if its shim is gone; returns what was done, if anything.
    pub fn reconcile(&self, id: &str) -> Result<Option<String>> {
        let now = crate::lifecycle::now_rfc3339();
        let mut kill_pid = None;
        let msg = state::update(&self.paths, id, |s| {
            let this_boot = s.boot_id == state::boot_id();
            if !this_boot && s.rootfs_mounted {
                s.rootfs_mounted = false;
            }
            if !s.status.is_active()
                || state::process_alive(s.shim_pid, s.shim_start_time, &s.boot_id)
            {
                return None;
            }
            let was = s.status.as_str();
            let init_alive = state::process_alive(s.pid, s.pid_start_time, &s.boot_id);
            s.status = Status::Exited;
            s.finished_at = now.clone();
            let why = if !this_boot {
                s.exit_code = 255;
                s.error = "the host rebooted while the container ran".into();
                "the host rebooted"
            } else if init_alive {
                kill_pid = Some((s.pid, s.pid_start_time));
                s.exit_code = 137;
                s.error = "the container's shim died; the container was killed".into();
                "its shim is gone (container killed)"
            } else {
                s.exit_code = 255;
                s.error = "the container's shim died; its exit status is lost".into();
                "its shim is gone"
            };
            s.pid = 0;
            Some(format!("container {id}: {was} but {why}: now exited"))
        })?;
        if let Some((pid, start)) = kill_pid {
            let st = crate::state::StateFile {
                pid,
                pid_start_time: start,
                boot_id: state::boot_id().to_string(),
                ..Default::default()
            };
            if let Some(fd) = crate::process::open_init(&st) {
                let _ = crate::process::signal(&fd, libc::SIGKILL, id);
            }
        }
        Ok(msg)
    }

    /// Checks every container's run state and files; with `repair`, fixes what it can.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for row in self.meta.container_rows()? {
            let id = row.id.clone();
            let rec = match ContainerRecord::from_json(&row.id, &row.config) {
                Ok(r) => r,
                Err(e) => {
                    report.problems.push(format!("container {id}: {e}"));
                    continue;
                }
            };
            let st = match state::load(&self.paths, &id) {
                Ok(s) => s,
                Err(EngineError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    let line = format!("container {id}: no state file");
                    // A create whose process died before writing the state (nobody holds the
                    // lock): undo it, as create itself would have.
                    let interrupted =
                        matches!(crate::lock::try_lock(&self.paths, &id), Ok(Some(_)));
                    if interrupted {
                        let dir = self.paths.container_dir(&id);
                        let _ = std::fs::create_dir_all(&dir);
                        let _ = state::save(&self.paths, &id, &state::StateFile::created());
                        let o = crate::remove::RemoveOptions {
                            force: true,
                            volumes: true,
                        };
                        match self.remove(&id, o) {
                            Ok(_) => report
                                .fixed
                                .push(format!("{line}: removed the half-created container")),
                            Err(e) => report.problems.push(format!("{line}: {e}")),
                        }
                        continue;
                    }
                    if repair {
                        let dir = self.paths.container_dir(&id);
                        let fixed = std::fs::create_dir_all(&dir).is_ok()
                            && state::save(&self.paths, &id, &state::StateFile::created()).is_ok();
                        if fixed {
                            report.fixed.push(format!("{line}: recreated as created"));
                            continue;
                        }
                    }
                    report.problems.push(line);
                    continue;
                }
                Err(e) => {
                    let line = format!("container {id}: {e}");
                    if repair {
                        let dead = state::StateFile {
                            status: Status::Dead,
                            error: "its state file was corrupt".into(),
                            ..Default::default()
                        };
                        if state::save(&self.paths, &id, &dead).is_ok() {
                            report.fixed.push(format!("{line}: now dead (remove it)"));
                            continue;
                        }
                    }
                    report.problems.push(line);
                    continue;
                }
            };
            // A removal whose process died (nobody holds the container's lock): finish it.
            if st.status == Status::Removing {
                let free = matches!(crate::lock::try_lock(&self.paths, &id), Ok(Some(_)));
                if free {
                    let o = crate::remove::RemoveOptions {
                        force: true,
                        volumes: false,
                    };
                    match self.remove(&id, o) {
                        Ok(_) => report
                            .fixed
                            .push(format!("container {id}: finished its interrupted removal")),
                        Err(e) => report.problems.push(format!("container {id}: {e}")),
                    }
                    continue;
                }
            }
            let stale = st.status.is_active()
                && !state::process_alive(st.shim_pid, st.shim_start_time, &st.boot_id);
            if stale {
                if repair {
                    match self.reconcile(&id) {
                        Ok(Some(m)) => report.fixed.push(m),
                        Ok(None) => {}
                        Err(e) => report.problems.push(format!("container {id}: {e}")),
                    }
                } else {
                    report.problems.push(format!(
                        "container {id}: {} but its shim is gone",
                        st.status.as_str()
                    ));
                }
            }
            if let Ok(images) = self.images() {
                if images.snapshotter().stat(&rec.snapshot_key).is_err() {
                    report.problems.push(format!(
                        "container {id}: its writable layer {} is missing (remove the container)",
                        rec.snapshot_key
                    ));
                }
            }
        }
        match self.finish_orphans() {
            Ok(lines) => report.fixed.extend(lines),
            Err(e) => report.problems.push(format!("finishing removals: {e}")),
        }
        Ok(report)
    }
}
