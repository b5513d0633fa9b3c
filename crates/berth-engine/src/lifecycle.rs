//! start, stop, kill, restart, pause, unpause, wait.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::shim_proto::{AttachRequest, Control};
use crate::types::WaitResponse;

/// How to start a container.
#[derive(Debug, Default)]
pub struct StartOptions<'a> {
    /// Foreground fast path (`run` without `-d`, `start -a`): the caller's stdio, handed to
    /// the shim before the container starts so no output is missed.
    pub attach: Option<AttachRequest<'a>>,
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
    /// Seconds before SIGKILL; `None`: the container's StopTimeout, else 10.
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

impl Engine {
    /// Starts a created or exited container: mounts its rootfs, writes /etc files and
    /// config.json, and spawns its shim. Starting a running container is a no-op.
    pub fn start(&self, reference: &str, o: StartOptions<'_>) -> Result<Started> {
        let _ = (reference, o);
        Err(EngineError::Invalid("start: not implemented yet".into()))
    }

    /// Stops a container: its stop signal, then SIGKILL after the timeout; returns its ID.
    /// Stopping a stopped container is a no-op.
    pub fn stop(&self, reference: &str, o: &StopOptions) -> Result<String> {
        let _ = (reference, o);
        Err(EngineError::Invalid("stop: not implemented yet".into()))
    }

    /// Sends `signal` (default SIGKILL) to a running container's init; returns its ID.
    pub fn kill(&self, reference: &str, signal: Option<&str>) -> Result<String> {
        let _ = (reference, signal);
        Err(EngineError::Invalid("kill: not implemented yet".into()))
    }

    /// Stops (if running) and starts a container; returns its ID.
    pub fn restart(&self, reference: &str, o: &StopOptions) -> Result<String> {
        let _ = (reference, o);
        Err(EngineError::Invalid("restart: not implemented yet".into()))
    }

    /// Freezes a running container; returns its ID.
    pub fn pause(&self, reference: &str) -> Result<String> {
        let _ = reference;
        Err(EngineError::Invalid("pause: not implemented yet".into()))
    }

    /// Thaws a paused container; returns its ID.
    pub fn unpause(&self, reference: &str) -> Result<String> {
        let _ = reference;
        Err(EngineError::Invalid("unpause: not implemented yet".into()))
    }

    /// Waits for `condition`; returns the exit code.
    pub fn wait(&self, reference: &str, condition: WaitCondition) -> Result<WaitResponse> {
        let _ = (reference, condition);
        Err(EngineError::Invalid("wait: not implemented yet".into()))
    }
}
