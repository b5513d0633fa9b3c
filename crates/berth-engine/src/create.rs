//! `create`: image -> merged config -> name -> id -> writable snapshot -> volumes/mounts ->
//! database row -> container directory with `state.json`. Each step registers its undo; any
//! failure undoes what was done, in reverse order, so nothing is left half-created.

use crate::engine::Engine;
use crate::error::Result;
use crate::types::{CreateBody, CreateResponse};

/// What `create` needs besides the Engine API body.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--name` (docker allows a leading `/`); `None`: a random docker-style name.
    pub name: Option<String>,
    /// The `POST /containers/create` body: `Config` with `HostConfig` inside.
    pub body: CreateBody,
}

impl Engine {
    /// Creates a container. Errors: `No such image: X`, docker's name conflict text, a bad
    /// option (InvalidArgument).
    pub fn create(&self, o: CreateOptions) -> Result<CreateResponse> {
        let _ = o;
        Err(crate::error::EngineError::Invalid(
            "create: not implemented yet".into(),
        ))
    }
}
