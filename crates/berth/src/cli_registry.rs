//! Command-line shapes of the registry verbs (pull, push, login, logout, search, registry serve).

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Registry verbs, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum RegistryVerbs {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Search Docker Hub (or a registry offering /v1/search) for images.
    Search(SearchArgs),
    /// Berth's own registry server.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

/// `berth pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    pub name: String,
    /// Download all tagged images in the repository.
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Skip image verification (accepted for compatibility; Berth always verifies digests).
    #[arg(long, hide = true)]
    pub disable_content_trust: bool,
}

/// `berth push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    pub name: String,
    /// Push all tags of an image to the repository.
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Accepted for compatibility.
    #[arg(long, hide = true)]
    pub disable_content_trust: bool,
}

/// `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `berth logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
}

/// `berth search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// TERM, or REGISTRY/TERM.
    pub term: String,
    /// Max number of search results.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `berth registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Run an OCI distribution registry.
    Serve(ServeArgs),
    /// Delete the blobs no manifest or repository references (safe while `serve` runs on the
    /// same root). The storage root is the global `--root` (default /var/lib/berth-registry).
    #[command(name = "gc", alias = "garbage-collect")]
    Gc(GcArgs),
}

/// `berth registry gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// List what would be deleted; delete nothing.
    #[arg(short = 'm', long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs younger than this many seconds (a push may not have linked
    /// them yet).
    #[arg(long, default_value_t = 3600)]
    pub grace: u64,
}

/// `berth registry serve`. Its storage root is the global `--root` when given (it must not be an
/// image store's root); by default `/var/lib/berth-registry`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:5000")]
    pub addr: String,
    /// htpasswd file (bcrypt) for basic auth.
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
    /// TLS certificate (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Run garbage collection every this many seconds while serving.
    #[arg(long)]
    pub gc_interval: Option<u64>,
}
