//! Command-line shapes of the container verbs (run, create, ps, logs, exec, ...), with docker's
//! names, short flags and defaults.
//!
//! Flag values that docker parses with a type (sizes, integers, durations) are kept as strings
//! here and parsed by `commands::containers::options`, which reports them exactly as docker does
//! (`invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'`, exit 125).

use clap::{ArgAction, Args, Subcommand};
use std::path::PathBuf;

/// Container verbs, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum ContainerVerbs {
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Pause all processes within one or more containers.
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers.
    Unpause(ContainersArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// List containers.
    Ps(PsArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(ContainersArgs),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(OneContainer),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Display system-wide information.
    Info(InfoArgs),
}

/// `berth container <verb>`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Pause all processes within one or more containers.
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers.
    Unpause(ContainersArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(ContainersArgs),
    /// Display detailed information on one or more containers.
    Inspect(ContainerInspectArgs),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(OneContainer),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Remove all stopped containers.
    Prune(ContainerPruneArgs),
}

/// `berth volume <verb>`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(VolumeCreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes.
    Prune(VolumePruneArgs),
}

/// The options shared by `run` and `create` (docker's `containerOptions`).
#[derive(Debug, Args, Default, Clone)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR.
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Write the container ID to the file.
    #[arg(long = "cidfile", value_name = "string")]
    pub cidfile: Option<PathBuf>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long = "cpu-quota", value_name = "int")]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<String>,
    /// Number of CPUs.
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Add a host device to the container.
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name.
    #[arg(long = "domainname", value_name = "string")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Expose a port or a range of ports.
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Add additional groups to join.
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s).
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown
    /// (ms|s|m|h) (default 0s).
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s).
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPC mode to use.
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// Set meta data on a container.
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<PathBuf>,
    /// Logging driver for the container.
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options.
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Memory limit.
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap.
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100) (default -1).
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<String>,
    /// Attach a filesystem mount to the container.
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container.
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Connect a container to a network (none, host, container:NAME; default: none until
    /// networking lands).
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// PID namespace to use.
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container.
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host (accepted and stored; ports are wired by the
    /// networking issue).
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports (stored; wired by the networking issue).
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before creating ("always", "missing", "never").
    #[arg(long = "pull", value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits.
    #[arg(long = "restart", value_name = "string", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container when it exits.
    #[arg(long = "rm")]
    pub rm: bool,
    /// Security Options.
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm.
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<String>,
    /// Sysctl options.
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory.
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options.
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// User namespace to use.
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// UTS namespace to use.
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// Bind mount a volume.
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s).
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Print usage.
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_command: Vec<String>,
}

impl ContainerOptions {
    /// The image argument.
    pub fn image(&self) -> &str {
        self.image_and_command
            .first()
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The command and its arguments after the image.
    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or(&[])
    }
}

/// `berth create`.
#[derive(Debug, Args, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOptions,
}

/// `berth run`.
#[derive(Debug, Args, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process.
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOptions,
}

/// A list of containers.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// One container.
#[derive(Debug, Args)]
pub struct OneContainer {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `berth stop` and `berth restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "time",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(
        short = 's',
        long = "signal",
        value_name = "string",
        default_value = "KILL"
    )]
    pub signal: String,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `berth rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the specified link (accepted; links are not supported).
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `berth ps`.
#[derive(Debug, Args, Default)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided.
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE').
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1,
          allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes.
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

/// `berth logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs.
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output.
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for
    /// 42 minutes).
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs.
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for
    /// 42 minutes).
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command.
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    pub container_and_command: Vec<String>,
}

/// `berth attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth container inspect`.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes.
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `berth top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options (default -ef).
    #[arg(value_name = "ps OPTIONS", num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `berth stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template.
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `berth rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `berth cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or `-`.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// DEST_PATH, CONTAINER:DEST_PATH or `-`.
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// `berth commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short = 'p', long = "pause", value_name = "bool", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `berth export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `berth volume create`.
#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name.
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "local"
    )]
    pub driver: String,
    /// Set metadata for a volume.
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

/// `berth volume ls`.
#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `berth volume inspect`.
#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", required = true)]
    pub names: Vec<String>,
}

/// `berth volume rm`.
#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "VOLUME", required = true)]
    pub names: Vec<String>,
}

/// `berth volume prune`.
#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>").
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `berth info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
}

/// `berth system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>").
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Prune anonymous volumes.
    #[arg(long = "volumes")]
    pub volumes: bool,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut v = vec!["berth"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args).unwrap().command {
            Command::Containers(ContainerVerbs::Run(r)) => r,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn run_command_after_image_keeps_its_flags() {
        let r = run_args(&["run", "-d", "--rm", "busybox", "ls", "-l", "-a"]);
        assert!(r.detach);
        assert!(r.opts.rm);
        assert_eq!(r.opts.image(), "busybox");
        assert_eq!(r.opts.command(), ["ls", "-l", "-a"]);
        assert!(r.opts.label.is_empty());
        assert!(r.opts.attach.is_empty());
    }

    #[test]
    fn combined_short_flags_and_hostname() {
        let r = run_args(&["run", "-it", "-h", "box", "-m", "12m", "busybox"]);
        assert!(r.opts.interactive && r.opts.tty);
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        assert_eq!(r.opts.memory.as_deref(), Some("12m"));
        assert!(r.opts.command().is_empty());
    }

    #[test]
    fn sig_proxy_takes_an_optional_value() {
        assert!(run_args(&["run", "busybox"]).sig_proxy);
        assert!(!run_args(&["run", "--sig-proxy=false", "busybox"]).sig_proxy);
        let r = run_args(&["run", "--sig-proxy", "busybox", "true"]);
        assert!(r.sig_proxy);
        assert_eq!(r.opts.image(), "busybox");
    }

    #[test]
    fn net_alias_and_repeated_lists() {
        let r = run_args(&[
            "run",
            "--net",
            "none",
            "-e",
            "A=1",
            "--env",
            "B=2",
            "-v",
            "/a:/b",
            "-p",
            "80:80",
            "--memory-swap",
            "-1",
            "busybox",
        ]);
        assert_eq!(r.opts.network.as_deref(), Some("none"));
        assert_eq!(r.opts.env, ["A=1", "B=2"]);
        assert_eq!(r.opts.volume, ["/a:/b"]);
        assert_eq!(r.opts.publish, ["80:80"]);
        assert_eq!(r.opts.memory_swap.as_deref(), Some("-1"));
    }

    #[test]
    fn unknown_flag_is_an_error() {
        let e = parse(&["run", "--bogus", "busybox"]).unwrap_err();
        assert!(e.use_stderr());
        assert!(parse(&["run"]).is_err());
    }

    #[test]
    fn container_subcommands_and_aliases() {
        for verb in ["ls", "ps", "list"] {
            match parse(&["container", verb, "-a"]).unwrap().command {
                Command::Containers(ContainerVerbs::Container(ContainerCommand::Ls(a))) => {
                    assert!(a.all)
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(parse(&["container", "prune", "-f"]).is_ok());
        assert!(parse(&["container", "rm", "-fv", "x"]).is_ok());
        assert!(parse(&["volume", "create", "v1"]).is_ok());
        assert!(parse(&["volume", "prune", "-af"]).is_ok());
        assert!(parse(&["system", "prune", "-af", "--volumes"]).is_ok());
    }

    #[test]
    fn exec_and_top_take_trailing_commands() {
        match parse(&["exec", "-it", "-e", "X=1", "c1", "sh", "-c", "echo hi"])
            .unwrap()
            .command
        {
            Command::Containers(ContainerVerbs::Exec(a)) => {
                assert!(a.interactive && a.tty);
                assert_eq!(a.container_and_command, ["c1", "sh", "-c", "echo hi"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["exec", "c1"]).is_err());
        match parse(&["top", "c1", "-o", "pid"]).unwrap().command {
            Command::Containers(ContainerVerbs::Top(a)) => assert_eq!(a.ps_args, ["-o", "pid"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ps_defaults() {
        match parse(&["ps"]).unwrap().command {
            Command::Containers(ContainerVerbs::Ps(a)) => {
                assert_eq!(a.last, -1);
                assert!(!a.all);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["ps", "-n", "3", "--filter", "status=exited", "-s"])
            .unwrap()
            .command
        {
            Command::Containers(ContainerVerbs::Ps(a)) => {
                assert_eq!(a.last, 3);
                assert_eq!(a.filter, ["status=exited"]);
                assert!(a.size);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logs_stop_kill_defaults() {
        match parse(&["logs", "-n", "5", "-ft", "c"]).unwrap().command {
            Command::Containers(ContainerVerbs::Logs(a)) => {
                assert_eq!(a.tail, "5");
                assert!(a.follow && a.timestamps);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["kill", "c"]).unwrap().command {
            Command::Containers(ContainerVerbs::Kill(a)) => assert_eq!(a.signal, "KILL"),
            other => panic!("{other:?}"),
        }
        match parse(&["stop", "-t", "0", "-s", "TERM", "a", "b"])
            .unwrap()
            .command
        {
            Command::Containers(ContainerVerbs::Stop(a)) => {
                assert_eq!(a.time.as_deref(), Some("0"));
                assert_eq!(a.containers, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
