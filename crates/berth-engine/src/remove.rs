//! rm, rename, container prune.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::PruneReport;

/// `rm` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too.
    pub volumes: bool,
}

impl Engine {
    /// Removes a container; returns its ID. A running one needs `force`.
    pub fn remove(&self, reference: &str, o: RemoveOptions) -> Result<String> {
        let _ = (reference, o);
        Err(EngineError::Invalid("rm: not implemented yet".into()))
    }

    /// Renames a container (docker's rules and name conflict text).
    pub fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let _ = (reference, new_name);
        Err(EngineError::Invalid("rename: not implemented yet".into()))
    }

    /// Removes every stopped container whose labels match (`label=k[=v]`, `label!=...`) and
    /// which was created before `until_ns` when given.
    pub fn prune(&self, labels: &[String], until_ns: Option<i64>) -> Result<PruneReport> {
        let _ = (labels, until_ns);
        Err(EngineError::Invalid("prune: not implemented yet".into()))
    }
}
