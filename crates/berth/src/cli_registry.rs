//! Command-line shapes of the registry verbs (pull, push, login, logout, search, registry serve).

use clap::Subcommand;

/// Registry verbs, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum RegistryVerbs {
    /// (being written)
    #[command(hide = true)]
    RegistryPending,
}
