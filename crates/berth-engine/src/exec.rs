//! exec: a process in a running container, run from the calling process through
//! berth-runtime (the caller is single-threaded then).

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// `exec` flags.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    /// `-e K=V` (added to the container's env).
    pub env: Vec<String>,
    /// `-u`; empty: the container's user.
    pub user: String,
    /// `-w`; empty: the container's working dir.
    pub workdir: String,
    /// `-t`: a pty (the caller's terminal is the console).
    pub tty: bool,
    /// `-i`: keep stdin open.
    pub interactive: bool,
    /// `-d`: do not wait.
    pub detach: bool,
    /// `--privileged`.
    pub privileged: bool,
}

impl Engine {
    /// Runs `req` in a running container; returns its exit code (0 when detached).
    pub fn exec(&self, reference: &str, req: &ExecRequest) -> Result<i32> {
        let _ = (reference, req);
        Err(EngineError::Invalid("exec: not implemented yet".into()))
    }
}
