//! stats: cgroup counters in Docker's stats JSON.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::Stats;

impl Engine {
    /// One stats sample of a container (zeros for a stopped one, as docker).
    pub fn stats(&self, reference: &str) -> Result<Stats> {
        let _ = reference;
        Err(EngineError::Invalid("stats: not implemented yet".into()))
    }
}
