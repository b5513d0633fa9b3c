//! top: the container's processes (pids from its cgroup, columns from /proc).

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::TopResponse;

impl Engine {
    /// `docker top`: `ps_args` as docker's (`-ef` default columns when empty).
    pub fn top(&self, reference: &str, ps_args: &str) -> Result<TopResponse> {
        let _ = (reference, ps_args);
        Err(EngineError::Invalid("top: not implemented yet".into()))
    }
}
