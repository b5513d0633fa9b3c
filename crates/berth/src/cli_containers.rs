//! Command-line shapes of the container verbs (run, create, ps, logs, exec, ...).

use clap::Subcommand;

/// Container verbs, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum ContainerVerbs {
    /// (being written)
    #[command(hide = true)]
    ContainersPending,
}
