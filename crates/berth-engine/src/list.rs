//! ps and inspect: one database query plus one state-file read per container, no locks.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use crate::state::StateFile;
use crate::types::{ContainerJson, ContainerSummary};

/// `ps` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// `-a`: stopped containers too.
    pub all: bool,
    /// `-s`: compute sizes (slow: walks each writable layer).
    pub size: bool,
}

/// One listed container.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: ContainerRecord,
    pub state: StateFile,
}

impl Engine {
    /// The containers, newest first.
    pub fn list(&self, o: ListOptions) -> Result<Vec<Listed>> {
        let _ = o;
        Err(EngineError::Invalid("ps: not implemented yet".into()))
    }

    /// `ps` rows (Engine API `ContainerSummary`), newest first.
    pub fn list_summaries(&self, o: ListOptions) -> Result<Vec<ContainerSummary>> {
        let _ = o;
        Err(EngineError::Invalid("ps: not implemented yet".into()))
    }

    /// docker inspect's document; `size` adds SizeRw/SizeRootFs.
    pub fn inspect(&self, reference: &str, size: bool) -> Result<ContainerJson> {
        let _ = (reference, size);
        Err(EngineError::Invalid("inspect: not implemented yet".into()))
    }
}
