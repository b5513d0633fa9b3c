//! The container verbs.

use crate::cli::Cli;
use crate::cli_containers::ContainerVerbs;
use anyhow::Result;

/// Runs a container verb; returns the exit status.
pub fn run(_cli: &Cli, verb: &ContainerVerbs) -> Result<i32> {
    match verb {
        ContainerVerbs::ContainersPending => Ok(0),
    }
}
