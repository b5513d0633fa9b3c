//! The registry verbs.

use crate::cli::Cli;
use crate::cli_registry::RegistryVerbs;
use anyhow::Result;

/// Runs a registry verb; returns the exit status.
pub fn run(_cli: &Cli, verb: &RegistryVerbs) -> Result<i32> {
    match verb {
        RegistryVerbs::RegistryPending => Ok(0),
    }
}
