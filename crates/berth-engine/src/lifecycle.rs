//! start, stop, kill, restart, pause, unpause, wait.
//!
//! Who writes what in `state.json` (see [`crate::state`]):
//! - `start` (engine, under the container lock): before spawning, clears the last run's pids,
//!   error and `manually_stopped` and sets `rootfs_mounted`; on a failed start, records the
//!   error and docker's exit code and unmounts.
//! - the shim, before it reports "started": `status=running`, `pid`, `pid_start_time`,
//!   `shim_pid`, `shim_start_time`, `boot_id`, `started_at`; at each exit `status`
//!   (`exited`/`restarting`), `exit_code`, `finished_at`, `oom_killed`; it never resets
//!   `shim_pid` to 0. If a shim reports "started" without having written `shim_pid`, `start`
//!   writes the running state itself.
//! - `stop`/`kill`: `manually_stopped`; then they wait for the shim to record the exit
//!   ([`Engine::wait_recorded`]), reconciling when the shim is gone.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::lock;
use crate::mounting;
use crate::process;
use crate::record::ContainerRecord;
use crate::shim_proto::{self, AttachRequest, Control, PendingShim, ShimConfig, ShimError};
use crate::state::{self, StateFile, Status};
use crate::types::WaitResponse;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to start a container.
#[derive(Debug, Default)]
pub struct StartOptions<'a> {
    /// Foreground fast path (`run` without `-d`, `start -a`): the caller's stdio, handed to
    /// the shim before the container starts so no output is missed.
    pub attach: Option<AttachRequest<'a>>,
    /// A shim started before the container was made (see [`enter_start_namespace`]);
    /// otherwise the start launches one.
    pub shim: Option<PendingShim>,
    /// The container's record, when the caller has just read it (`run`, which made the
    /// container): the start then does not read it again. Used only when its id is the one
    /// being started.
    pub record: Option<ContainerRecord>,
}

/// For a short-lived caller about to create and start one container (`run`), so that the
/// shim's exec overlaps the creation: enters the private mount namespace the rootfs will be
/// mounted in (as the start would; the process must still have one thread), after which the
/// caller starts the shim with [`PendingShim::ahead`] and passes it in [`StartOptions::shim`].
/// A shim dropped unused exits without touching anything.
pub fn enter_start_namespace() -> Result<()> {
    mounting::enter_private_namespace().map(drop)
}

/// A started container.
#[derive(Debug)]
pub struct Started {
    /// Full container ID.
    pub id: String,
    /// The container's init pid.
    pub pid: i32,
    /// The shim's pid.
    pub shim_pid: i32,
    /// With [`StartOptions::attach`]: the attach/control channel (exit code, detach, resize).
    pub control: Option<Control>,
}

/// How to stop a container (`stop -t -s`, `restart -t -s`).
#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    /// Seconds before SIGKILL (negative: wait forever); `None`: the container's StopTimeout,
    /// else 10.
    pub timeout: Option<i64>,
    /// The signal; `None`: the container's StopSignal, else SIGTERM.
    pub signal: Option<String>,
}

/// What `wait` waits for (docker's `--condition`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until the container is not running (returns at once if it is not).
    #[default]
    NotRunning,
    /// Until its next exit.
    NextExit,
    /// Until it is removed.
    Removed,
}

/// How long a shim may take to record an exit it has seen before the engine stops waiting.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    crate::logfile::format_time(crate::logfile::now_ns())
}

/// Where Berth's init binary is: `$BERTH_INIT`, next to the running executable, or
/// /usr/libexec/berth/berth-init.
pub fn init_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_INIT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("berth-init")))
        .filter(|p| p.is_file())
    {
        return Some(p);
    }
    let p = PathBuf::from("/usr/libexec/berth/berth-init");
    p.is_file().then_some(p)
}

/// Whether the host's cgroups are pure v2.
fn cgroup_v2() -> bool {
    static V2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V2.get_or_init(|| std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists())
}

impl Engine {
    /// berth-runtime over `<runroot>/runtime` (where the shims create containers).
    pub fn runtime(&self) -> berth_runtime::Runtime {
        berth_runtime::Runtime::new(self.paths.runtime_root(), false)
    }

    /// Starts a created or exited container: mounts its rootfs, writes /etc files and
    /// config.json, and spawns its shim. Starting a running container is a no-op.
    pub fn start(&self, reference: &str, mut o: StartOptions<'_>) -> Result<Started> {
        let given = o.record.take().filter(|r| r.id == reference);
        let id = match &given {
            Some(r) => r.id.clone(),
            None => self.lookup_row(reference)?.id,
        };
        let _lock = lock::lock(&self.paths, &id)?;
        let rec = match given {
            Some(r) => r,
            None => self.record(&id)?,
        };
        let st = self.reconciled_state(&id)?;
        match st.status {
            Status::Running | Status::Paused | Status::Restarting => {
                return Ok(Started {
                    id,
                    pid: st.pid,
                    shim_pid: st.shim_pid,
                    control: None,
                })
            }
            Status::Removing | Status::Dead => return Err(EngineError::BeingRemoved { id }),
            Status::Created | Status::Exited => {}
        }
        match self.start_locked(&rec, &st, o, &_lock) {
            Ok(s) => Ok(s),
            Err(e) => {
                let code = e.exit_code();
                let message = e.to_string();
                let _ = mounting::unmount_rootfs(&self.paths, &id);
                let _ = state::update(&self.paths, &id, |s| {
                    s.rootfs_mounted = false;
                    s.error = message;
                    s.exit_code = code as i64;
                    if s.status == Status::Running && s.shim_pid == 0 {
                        s.status = Status::Created;
                    }
                });
                Err(e)
            }
        }
    }

    fn start_locked(
        &self,
        rec: &ContainerRecord,
        st: &StateFile,
        mut o: StartOptions<'_>,
        lock: &lock::ContainerLock,
    ) -> Result<Started> {
        let id = rec.id.as_str();
        let shim = match o.shim.take() {
            Some(shim) => shim,
            None => {
                // The rootfs is mounted in a namespace the shim shares (see `mounting`).
                mounting::enter_private_namespace()?;
                // Started first: its exec and detaching fork run on the other core while the
                // rootfs is mounted and the spec written.
                shim_proto::launch(
                    Some(id),
                    &self.paths.root,
                    &self.paths.runroot,
                    self.berth_bin.as_deref(),
                    self.shim_parent,
                    false,
                )?
            }
        };
        berth_sys::timing::mark("shim launched");
        let snaps_dir = self.paths.snapshots_dir(self.driver.name());
        mounting::mount_rootfs(
            &self.paths,
            id,
            self.snapshotter()?.as_ref(),
            &rec.snapshot_key,
            &snaps_dir,
            mounting::MountMode {
                already: st.rootfs_mounted && st.boot_id == state::boot_id(),
                // `--rm`: the writable layer is thrown away with the container, so the kernel
                // need not sync it (at unmount).
                volatile: rec.host_config.auto_remove,
            },
        )?;
        berth_sys::timing::mark("rootfs mounted");
        // The bundle and the /etc files go with the run state (see Paths::config_json).
        let run_dir = self.paths.run_dir(id);
        let rootfs = self.paths.rootfs(id);
        let init = if rec.host_config.init.unwrap_or(false) {
            init_binary()
        } else {
            None
        };
        let h = &rec.host_config;
        let join = |mode: &str, ns: &str| -> Result<Option<PathBuf>> {
            match mode.strip_prefix("container:") {
                Some(other) => self.namespace_of(other, ns).map(Some),
                None => Ok(None),
            }
        };
        let spec = crate::spec::build_json(&crate::spec::SpecRequest {
            id,
            config: &rec.config,
            host_config: h,
            rootfs: &rootfs,
            etc_files_dir: &run_dir,
            mounts: &rec.mounts,
            init_binary: init.as_deref(),
            join_netns: join(&h.network_mode, "net")?,
            join_ipcns: join(&h.ipc_mode, "ipc")?,
            join_pidns: join(&h.pid_mode, "pid")?,
            cgroup_v2: cgroup_v2(),
        })?;
        berth_sys::timing::mark("spec built");
        write_json(&self.paths.config_json(id), &spec)?;
        berth_sys::timing::mark("config.json written");

        let config = ShimConfig {
            id: id.to_string(),
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            restart: h.restart_policy.clone(),
            auto_remove: h.auto_remove,
            healthcheck: rec.config.healthcheck.clone(),
            log_opts: h.log_config.config.clone(),
            log_path: None,
            bundle: Some(run_dir.clone()),
            restart_count: st.restart_count,
            storage_driver: rec.driver.clone(),
            attach_at_spawn: false,
            files_follow: false,
            start_lock: false,
        };
        let shim_failed = |e| match e {
            ShimError::Start { message, .. } => EngineError::Shim(message),
            e => e.into(),
        };
        // The shim loads and checks the bundle while the state and the /etc files are written.
        let shim = shim
            .configure(&config, o.attach.as_ref(), Some(lock.as_fd()))
            .map_err(shim_failed)?;
        berth_sys::timing::mark("spec written");
        state::update(&self.paths, id, |s| {
            s.rootfs_mounted = true;
            s.boot_id = state::boot_id().to_string();
            s.pid = 0;
            s.pid_start_time = 0;
            s.shim_pid = 0;
            s.shim_start_time = 0;
            s.error.clear();
            s.manually_stopped = false;
            s.health = None;
            // Set again by the shim when it records the start: tells below whether it did.
            s.started_at.clear();
        })?;
        berth_sys::timing::mark("state updated");
        crate::spec::write_etc_files(&run_dir, &rec.hostname, &rec.host_config)?;
        berth_sys::timing::mark("etc files written");
        let spawned = shim.finish().map_err(shim_failed)?;
        berth_sys::timing::mark("shim reported");
        // A shim that did not record the running state itself: record it here. (Not when it
        // did and the container has already exited: `shim_pid` is 0 again then, but
        // `started_at` is set. Nor for an attached start, which the shim reports before it
        // records it.)
        if o.attach.is_none() {
            state::update(&self.paths, id, |s| {
                if s.shim_pid == 0 && s.started_at.is_empty() {
                    s.status = Status::Running;
                    s.pid = spawned.pid;
                    s.pid_start_time = state::start_time(spawned.pid).unwrap_or(0);
                    s.shim_pid = spawned.shim_pid;
                    s.shim_start_time = state::start_time(spawned.shim_pid).unwrap_or(0);
                    s.boot_id = state::boot_id().to_string();
                    s.started_at = now_rfc3339();
                    s.exit_code = 0;
                }
            })?;
        }
        Ok(Started {
            id: id.to_string(),
            pid: spawned.pid,
            shim_pid: spawned.shim_pid,
            control: spawned.control,
        })
    }

    /// `/proc/<pid>/ns/<ns>` of running container `reference` (for `--network container:x`).
    fn namespace_of(&self, reference: &str, ns: &str) -> Result<PathBuf> {
        let other = self.lookup_row(reference)?.id;
        let st = self.reconciled_state(&other)?;
        if !matches!(st.status, Status::Running | Status::Paused) || st.pid <= 0 {
            return Err(EngineError::Invalid(format!(
                "cannot join the {ns} namespace of a non running container: {reference}"
            )));
        }
        Ok(PathBuf::from(format!("/proc/{}/ns/{ns}", st.pid)))
    }

    /// Stops a container: its stop signal, then SIGKILL after the timeout; returns its ID.
    /// Stopping a stopped container is a no-op.
    pub fn stop(&self, reference: &str, o: &StopOptions) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        let _lock = lock::lock(&self.paths, &id)?;
        let rec = self.record(&id)?;
        self.stop_locked(&rec, o)?;
        Ok(id)
    }

    pub(crate) fn stop_locked(&self, rec: &ContainerRecord, o: &StopOptions) -> Result<()> {
        let id = rec.id.as_str();
        let st = state::update(&self.paths, id, |s| {
            if s.status.is_active() {
                s.manually_stopped = true;
            }
            s.clone()
        })?;
        if !st.status.is_active() {
            return Ok(());
        }
        let signal = match o.signal.as_deref().or(rec.config.stop_signal.as_deref()) {
            Some(s) if !s.is_empty() => crate::spec::parse_signal(s)?,
            _ => libc::SIGTERM,
        };
        let timeout = o.timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let Some(fd) = process::open_init(&st) else {
            // Between restarts, or the process is already gone: the shim records it.
            self.wait_recorded(id, &st)?;
            return Ok(());
        };
        process::signal(&fd, signal, id)?;
        if st.status == Status::Paused {
            let _ = self.runtime().resume(id);
        }
        let exited = match timeout {
            t if t < 0 => process::wait_exit(&fd, None),
            t => process::wait_exit(&fd, Some(Duration::from_secs(t as u64))),
        };
        if !exited {
            process::signal(&fd, libc::SIGKILL, id)?;
            process::wait_exit(&fd, None);
        }
        self.wait_recorded(id, &st)
    }

    /// Waits until the shim has recorded the end of the run `before` describes (status no longer
    /// running/paused, or a later `finished_at`); reconciles when the shim is gone.
    pub(crate) fn wait_recorded(&self, id: &str, before: &StateFile) -> Result<()> {
        let deadline = Instant::now() + RECORD_TIMEOUT;
        let mut pause = Duration::from_micros(500);
        loop {
            let s = state::load(&self.paths, id)?;
            let recorded = !matches!(s.status, Status::Running | Status::Paused)
                || s.finished_at != before.finished_at
                || (s.pid != before.pid && s.pid != 0);
            if recorded {
                return Ok(());
            }
            if !state::process_alive(s.shim_pid, s.shim_start_time, &s.boot_id) {
                self.reconcile(id)?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EngineError::Timeout(format!(
                    "waiting for the shim of container {id} to record its exit"
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (default SIGKILL) to a running container's init; returns its ID.
    pub fn kill(&self, reference: &str, signal: Option<&str>) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        let sig = match signal {
            Some(s) if !s.is_empty() => crate::spec::parse_signal(s)?,
            _ => libc::SIGKILL,
        };
        let _lock = lock::lock(&self.paths, &id)?;
        let rec = self.record(&id)?;
        let st = self.reconciled_state(&id)?;
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Err(EngineError::NotRunning(id));
        }
        let stop_signal = rec
            .config
            .stop_signal
            .as_deref()
            .and_then(|s| crate::spec::parse_signal(s).ok())
            .unwrap_or(libc::SIGTERM);
        if sig == libc::SIGKILL || sig == stop_signal {
            state::update(&self.paths, &id, |s| s.manually_stopped = true)?;
        }
        let Some(fd) = process::open_init(&st) else {
            return Err(EngineError::NotRunning(id));
        };
        process::signal(&fd, sig, &id)?;
        if sig == libc::SIGKILL {
            if st.status == Status::Paused {
                let _ = self.runtime().resume(&id);
            }
            process::wait_exit(&fd, Some(Duration::from_secs(10)));
            self.wait_recorded(&id, &st)?;
        }
        Ok(id)
    }

    /// Stops (if running) and starts a container; returns its ID.
    pub fn restart(&self, reference: &str, o: &StopOptions) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        {
            let _lock = lock::lock(&self.paths, &id)?;
            let rec = self.record(&id)?;
            self.stop_locked(&rec, o)?;
            // A restart restarts the count.
            state::update(&self.paths, &id, |s| s.restart_count = 0)?;
        }
        self.start(&id, StartOptions::default())?;
        Ok(id)
    }

    /// Freezes a running container; returns its ID.
    pub fn pause(&self, reference: &str) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        let _lock = lock::lock(&self.paths, &id)?;
        let st = self.reconciled_state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => return Err(EngineError::AlreadyPaused(id)),
            _ => return Err(EngineError::NotRunning(id)),
        }
        self.runtime()
            .pause(&id)
            .map_err(EngineError::runtime("pausing container", &id))?;
        state::update(&self.paths, &id, |s| {
            if s.status == Status::Running {
                s.status = Status::Paused;
            }
        })?;
        Ok(id)
    }

    /// Thaws a paused container; returns its ID.
    pub fn unpause(&self, reference: &str) -> Result<String> {
        let id = self.lookup_row(reference)?.id;
        let _lock = lock::lock(&self.paths, &id)?;
        let st = self.reconciled_state(&id)?;
        if st.status != Status::Paused {
            return Err(EngineError::NotPaused(id));
        }
        self.runtime()
            .resume(&id)
            .map_err(EngineError::runtime("resuming container", &id))?;
        state::update(&self.paths, &id, |s| {
            if s.status == Status::Paused {
                s.status = Status::Running;
            }
        })?;
        Ok(id)
    }

    /// Waits for `condition`; returns the exit code.
    pub fn wait(&self, reference: &str, condition: WaitCondition) -> Result<WaitResponse> {
        let id = self.lookup_row(reference)?.id;
        let first = self.reconciled_state(&id)?;
        let done = |s: &StateFile| WaitResponse {
            status_code: s.exit_code,
            error: None,
        };
        match condition {
            WaitCondition::NotRunning if !first.status.is_active() => return Ok(done(&first)),
            _ => {}
        }
        let mut last = first.clone();
        loop {
            let s = match self.reconciled_state(&id) {
                Ok(s) => s,
                Err(EngineError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    // Removed (a `--rm` container after its exit).
                    return Ok(done(&last));
                }
                Err(EngineError::NoSuchContainer(_)) => return Ok(done(&last)),
                Err(e) => return Err(e),
            };
            let exited_since = s.finished_at != first.finished_at;
            match condition {
                WaitCondition::NotRunning if !s.status.is_active() => return Ok(done(&s)),
                WaitCondition::NextExit
                    if exited_since && !matches!(s.status, Status::Running | Status::Paused) =>
                {
                    return Ok(done(&s))
                }
                _ => {}
            }
            last = s.clone();
            // Sleep on the process when there is one, else poll.
            match process::open_init(&s) {
                Some(fd) if s.status == Status::Running || s.status == Status::Paused => {
                    if process::wait_exit(&fd, Some(Duration::from_secs(1))) {
                        let _ = self.wait_recorded(&id, &s);
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Container `id`'s state, with a running state whose shim is gone reconciled first.
    pub(crate) fn reconciled_state(&self, id: &str) -> Result<StateFile> {
        let s = state::load(&self.paths, id).map_err(|e| match e {
            EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                EngineError::NoSuchContainer(id.to_string())
            }
            e => e,
        })?;
        if s.status.is_active() && !state::process_alive(s.shim_pid, s.shim_start_time, &s.boot_id)
        {
            self.reconcile(id)?;
            return state::load(&self.paths, id);
        }
        Ok(s)
    }
}

/// Writes `value` as JSON to `path` by temp file + rename.
pub(crate) fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<()> {
    let data = serde_json::to_vec(value).map_err(|e| EngineError::Corrupt {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data).map_err(EngineError::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        EngineError::io("renaming", path)(e)
    })
}
