//! The Docker Engine API's shapes (moby `api/swagger.yaml`, API 1.47), with docker's JSON names.
//!
//! The CLI builds `Config` + `HostConfig` from flags exactly as docker's CLI does, `berth serve`
//! receives them from clients, and the engine stores them in the container's record; `inspect` and
//! `ps` answer with `ContainerJson` and `ContainerSummary`. Every struct tolerates missing fields
//! (`#[serde(default)]`) so any client's JSON parses; `Option` marks what docker emits as `null`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A string -> string map (labels, options), ordered for stable output.
pub type StringMap = BTreeMap<String, String>;
/// A set as docker encodes it: keys mapped to empty objects (`ExposedPorts`, `Volumes`).
pub type EmptyObjectSet = BTreeMap<String, EmptyObject>;

/// `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// The container's portable configuration (`Config` in create and inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<EmptyObjectSet>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub image: String,
    pub volumes: Option<EmptyObjectSet>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// A health check (`Config.Healthcheck`); durations in nanoseconds, 0 = inherit/default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args...]`, `["CMD-SHELL", command]`.
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The non-portable, host-dependent configuration (`HostConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    // Resources.
    pub cpu_shares: i64,
    pub memory: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub nano_cpus: i64,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    // Everything else.
    pub binds: Option<Vec<String>>,
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub storage_opt: Option<StringMap>,
    pub tmpfs: Option<StringMap>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    pub sysctls: Option<StringMap>,
    pub runtime: String,
    pub isolation: String,
    pub init: Option<bool>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// `--device`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `--log-driver` / `--log-opt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: StringMap,
}

/// `-p hostIp:hostPort:containerPort`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `--restart`: `Name` is "", "no", "always", "unless-stopped" or "on-failure".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `--mount` (and the engine's parsed form of `-v` / `--tmpfs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    pub target: String,
    pub source: String,
    /// "bind", "volume", "tmpfs" (docker also knows "npipe", "cluster", "image").
    #[serde(rename = "Type")]
    pub kind: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// A volume driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    pub name: String,
    pub options: StringMap,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes; 0 = unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// The body of `POST /containers/create`: `Config` with `HostConfig` (and networking) beside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: Config,
    pub host_config: HostConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<serde_json::Value>,
}

/// `POST /containers/create`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `docker inspect <container>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerJson {
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    /// The image ID (`sha256:...`).
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    /// With docker's leading slash: `/name`.
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<MountPoint>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

/// Where a container's layers are (`GraphDriver`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    pub name: String,
    pub data: StringMap,
}

/// `State` of `docker inspect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Health-check status: `starting`, `healthy`, `unhealthy` (or `none`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthcheckResult>,
}

/// One probe's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// A mount as `inspect` and `ps` report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `NetworkSettings` (bridge networking arrives with a later issue; `none`/`host` fill little).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// One row of `GET /containers/json` (`docker ps`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    /// With leading slashes: `["/name"]`.
    pub names: Vec<String>,
    /// The image as the user named it.
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line, joined with spaces.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: StringMap,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// Docker's human text: "Up 3 seconds (healthy)", "Exited (0) 2 minutes ago"...
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<MountPoint>,
}

/// `HostConfig` of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

/// `NetworkSettings` of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// A published port of a `ps` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// A named volume (`docker volume inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    /// RFC 3339.
    pub created_at: String,
    pub labels: Option<StringMap>,
    /// "local".
    pub scope: String,
    pub options: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsage>,
}

/// Size and reference count of a volume (`system df -v`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsage {
    pub size: i64,
    pub ref_count: i64,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateBody {
    pub name: String,
    pub driver: String,
    pub driver_opts: StringMap,
    pub labels: StringMap,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub volumes_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// `GET /containers/{id}/stats` (the fields `docker stats` reads; cgroup v1 and v2 both map here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub read: String,
    pub preread: String,
    pub id: String,
    pub name: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `blkio_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
}

/// One blkio counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// "read" / "write" (docker's v2 spelling; v1 says "Read" / "Write").
    pub op: String,
    pub value: u64,
}

/// `cpu_stats` / `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    pub throttling_data: ThrottlingData,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    pub usage: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    pub stats: BTreeMap<String, u64>,
    pub limit: u64,
}

/// Per-interface counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitResponse {
    pub status_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

/// The error of a wait.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitError {
    pub message: String,
}

/// One entry of `docker diff` / `GET /containers/{id}/changes`: Kind 0 = modified, 1 = added,
/// 2 = deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_parses_docker_cli_json() {
        let body = json!({
            "Hostname": "", "User": "1000:1000", "AttachStdout": true, "Tty": false,
            "Env": ["A=1"], "Cmd": ["sh", "-c", "true"], "Image": "busybox",
            "Labels": {"k": "v"}, "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000},
            "StopTimeout": 3, "Volumes": {"/data": {}},
            "HostConfig": {
                "Binds": ["/src:/dst:ro"], "Memory": 6291456, "MemorySwap": -1, "NanoCpus": 500000000,
                "PidsLimit": 10, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
                "Tmpfs": {"/run": "size=1m"}, "UTSMode": "host", "Init": true, "AutoRemove": true,
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
                "SomethingNew": 1
            }
        });
        let b: CreateBody = serde_json::from_value(body).unwrap();
        assert_eq!(b.config.cmd.as_deref().unwrap()[2], "true");
        assert_eq!(b.config.stop_timeout, Some(3));
        assert_eq!(b.host_config.memory_swap, -1);
        assert_eq!(b.host_config.pids_limit, Some(10));
        assert_eq!(b.host_config.restart_policy.maximum_retry_count, 3);
        assert_eq!(b.host_config.mounts.as_ref().unwrap()[0].kind, "tmpfs");
        assert_eq!(b.host_config.uts_mode, "host");
        assert_eq!(b.host_config.log_config.kind, "json-file");
        assert_eq!(b.config.healthcheck.unwrap().interval, 1_000_000_000);
    }

    #[test]
    fn inspect_uses_docker_names() {
        let j = ContainerJson {
            state: ContainerState {
                oom_killed: true,
                ..Default::default()
            },
            exec_ids: None,
            ..Default::default()
        };
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["State"]["OOMKilled"], true);
        assert!(v["ExecIDs"].is_null());
        assert!(v.get("HostConfig").unwrap().get("UTSMode").is_some());
        let m = serde_json::to_value(MountPoint {
            rw: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m["RW"], true);
        let s = serde_json::to_value(ContainerSummary::default()).unwrap();
        assert!(s.get("ImageID").is_some());
    }
}
