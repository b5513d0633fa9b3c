//! The command line: docker's verbs and flags, parsed with clap.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Berth: build, ship and run containers.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every verb takes.
#[derive(Debug, Args)]
pub struct Globals {
    /// Root of persistent state (images, containers, volumes).
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// Root of runtime state.
    #[arg(
        long,
        global = true,
        env = "BERTH_RUNROOT",
        default_value = "/run/berth"
    )]
    pub runroot: PathBuf,
    /// How layers are stored: overlay or copy.
    #[arg(
        long,
        global = true,
        env = "BERTH_STORAGE_DRIVER",
        default_value = "overlay"
    )]
    pub storage_driver: String,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the run flags does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    #[command(flatten)]
    Containers(crate::cli_containers::ContainerVerbs),
    #[command(flatten)]
    Registry(crate::cli_registry::RegistryVerbs),
    /// List images.
    Images(ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Return low-level information on images.
    Inspect(InspectArgs),
    /// Manage Berth.
    #[command(subcommand)]
    System(SystemCommand),
    /// Show the Berth version information.
    Version,
}

/// `berth image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Download an image from a registry (`berth pull`).
    Pull(crate::cli_registry::PullArgs),
    /// Upload an image to a registry (`berth push`).
    Push(crate::cli_registry::PushArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
    /// Remove one or more images.
    Rm(RmiArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Save one or more images to a tar archive.
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Mount an image read-only and print the mount point.
    Mount(MountArgs),
    /// Unmount an image mounted with `image mount`.
    #[command(alias = "umount")]
    Unmount(MountArgs),
    /// Create Berth's built-in images offline: busybox (from a static busybox) and hello-world.
    Bootstrap(BootstrapArgs),
}

/// `berth system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage.
    Df(DfArgs),
    /// Check the store for inconsistencies (and mend them with --repair).
    Check(CheckArgs),
    /// Make recent loads durable (loads return before their data reaches the disk; this
    /// runs in the background after each load).
    Sync,
    /// Remove unused data (stopped containers, dangling images, unused volumes with --volumes).
    Prune(crate::cli_containers::SystemPruneArgs),
    /// Display system-wide information.
    Info(crate::cli_containers::InfoArgs),
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (dangling=, label=, reference=, before=, since=).
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template, `table`, `table TEMPLATE` or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Only images matching REPOSITORY[:TAG].
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive (also an OCI layout) or oci-archive.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform (only this host's is supported).
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball file, or `-` for STDIN.
    pub file: String,
    /// REPOSITORY[:TAG] for the new image.
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type (container, image, volume).
    #[arg(long = "type")]
    pub typ: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (until=, label=).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Which images: busybox, hello-world or all.
    #[arg(default_value = "all")]
    pub which: String,
    /// The static busybox binary to build the busybox image from.
    #[arg(long, default_value = "/bin/busybox")]
    pub busybox: PathBuf,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Mend what can be mended and collect garbage.
    #[arg(long)]
    pub repair: bool,
    /// Only print problems.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct MountArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}
