//! Docker's container -> an OCI runtime spec, with docker's defaults.
//!
//! - [`merge_image_config`]: the image's ENV/CMD/ENTRYPOINT/WORKDIR/USER/VOLUME/... under the
//!   user's `Config` (docker's rules), at create.
//! - [`plan_mounts`]: binds, volumes (named and anonymous) and `--mount`s resolved once at create,
//!   so anonymous volumes keep their names across restarts.
//! - [`write_etc_files`]: the container's `hostname`, `hosts` and `resolv.conf`.
//! - [`build`]: the `config.json` of a start: process (args, env, user from the rootfs's
//!   /etc/passwd, cwd, caps, rlimits, no_new_privs), mounts, masked paths, namespaces, resources,
//!   devices, seccomp.
//!
//! Paths inside the rootfs are resolved by [`rootfs::resolve`], which follows symlinks as the
//! container would see them and never leaves the rootfs.

pub mod parse;
pub mod rootfs;
pub mod user;

pub use parse::{
    clean, parse_bind, parse_device, parse_mount_flag, parse_restart_policy, parse_signal,
    parse_size, parse_tmpfs, parse_ulimit,
};

use crate::types::{Config, HostConfig, MountPoint};
use crate::volumes::{VolumeError, Volumes};
use berth_oci::{Classify, ErrorClass};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Failures building a container's spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A bad option value; the message is docker's text where docker has one.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Volume(#[from] VolumeError),
    #[error("unable to find user {user}: no matching entries in passwd file")]
    NoSuchUser { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    NoSuchGroup { group: String },
    #[error("error gathering device information while adding custom device {path:?}: {reason}")]
    Device { path: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the generated runtime spec does not parse: {0}")]
    Spec(String),
}

impl Classify for SpecError {
    fn class(&self) -> ErrorClass {
        match self {
            SpecError::Invalid(_)
            | SpecError::NoSuchUser { .. }
            | SpecError::NoSuchGroup { .. }
            | SpecError::Device { .. } => ErrorClass::InvalidArgument,
            SpecError::Volume(e) => e.class(),
            SpecError::Io { .. } | SpecError::Spec(_) => ErrorClass::Internal,
        }
    }
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SpecError {
    let path = path.to_path_buf();
    move |source| SpecError::Io { op, path, source }
}

/// The default `PATH` of a container whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where `--init` puts Berth's init inside the container.
pub const INIT_PATH: &str = "/sbin/berth-init";
/// Docker's default /dev/shm size.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// Docker's masked /proc and /sys paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Docker's read-only /proc paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Every capability a privileged container gets.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Merges the image's config under the user's (docker's rules): ENV entries the user did not set
/// come from the image; an `--entrypoint` drops the image's CMD; empty fields inherit.
pub fn merge_image_config(user: &mut Config, image: &Value) {
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
    };
    let image_env = strings(&image["Env"]).unwrap_or_default();
    let mut env = image_env;
    for e in user.env.take().unwrap_or_default() {
        let key = e.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    user.env = Some(env);
    let user_entrypoint = user.entrypoint.is_some();
    if user.entrypoint.is_none() {
        user.entrypoint = strings(&image["Entrypoint"]);
    }
    if user.cmd.as_ref().is_none_or(Vec::is_empty) && !user_entrypoint {
        user.cmd = strings(&image["Cmd"]);
    }
    if user.entrypoint.as_ref().is_some_and(|e| e.is_empty()) {
        user.entrypoint = None;
    }
    if user.working_dir.is_empty() {
        user.working_dir = image["WorkingDir"].as_str().unwrap_or("").to_string();
    }
    if user.user.is_empty() {
        user.user = image["User"].as_str().unwrap_or("").to_string();
    }
    if let Some(vols) = image["Volumes"].as_object() {
        let set = user.volumes.get_or_insert_with(Default::default);
        for k in vols.keys() {
            set.entry(k.clone()).or_default();
        }
    }
    if let Some(ports) = image["ExposedPorts"].as_object() {
        let set = user.exposed_ports.get_or_insert_with(Default::default);
        for k in ports.keys() {
            set.entry(k.clone()).or_default();
        }
    }
    if let Some(labels) = image["Labels"].as_object() {
        let l = user.labels.get_or_insert_with(Default::default);
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                l.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
    }
    if user.stop_signal.is_none() {
        user.stop_signal = image["StopSignal"].as_str().map(str::to_string);
    }
    if user.healthcheck.is_none() {
        if let Ok(h) = serde_json::from_value(image["Healthcheck"].clone()) {
            user.healthcheck = Some(h);
        }
    } else if let (Some(h), Ok(img)) = (
        user.healthcheck.as_mut(),
        serde_json::from_value::<crate::types::HealthConfig>(image["Healthcheck"].clone()),
    ) {
        if h.test.as_ref().is_none_or(Vec::is_empty) {
            h.test = img.test;
        }
        for (mine, theirs) in [
            (&mut h.interval, img.interval),
            (&mut h.timeout, img.timeout),
            (&mut h.retries, img.retries),
            (&mut h.start_period, img.start_period),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
    }
    if user.on_build.is_none() {
        user.on_build = strings(&image["OnBuild"]);
    }
    if user.shell.is_none() {
        user.shell = strings(&image["Shell"]);
    }
}

/// Resolves every mount of a new container: `-v` binds and volumes, `--mount`s, and anonymous
/// volumes for `Config.Volumes` destinations nothing else covers. Creates named volumes that do
/// not exist yet and `-v` bind sources that are missing (docker's behaviour); a missing
/// `--mount type=bind` source is an error.
pub fn plan_mounts(
    config: &Config,
    host: &HostConfig,
    volumes: &Volumes,
) -> Result<Vec<MountPoint>, SpecError> {
    let mut out: Vec<MountPoint> = Vec::new();
    let taken = |dst: &str, out: &Vec<MountPoint>| -> Result<(), SpecError> {
        if out.iter().any(|m| m.destination == dst) {
            return Err(SpecError::Invalid(format!("Duplicate mount point: {dst}")));
        }
        Ok(())
    };
    for b in host.binds.iter().flatten() {
        let m = parse_bind(b)?;
        taken(&m.target, &out)?;
        if m.kind == "bind" {
            let src = Path::new(&m.source);
            if !src.exists() {
                std::fs::create_dir_all(src).map_err(io_err("create bind source", src))?;
            }
        }
        out.push(mount_point(&m, volumes, "")?);
    }
    for m in host.mounts.iter().flatten() {
        taken(&m.target, &out)?;
        match m.kind.as_str() {
            "bind" => {
                if !Path::new(&m.source).exists() {
                    return Err(SpecError::Invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
            }
            "volume" | "tmpfs" => {}
            other => {
                return Err(SpecError::Invalid(format!(
                    "mount type {other:?} is not supported"
                )))
            }
        }
        out.push(mount_point(m, volumes, "")?);
    }
    for dst in config.volumes.iter().flat_map(|v| v.keys()) {
        let dst = clean(dst);
        if out.iter().any(|m| m.destination == dst)
            || host.tmpfs.as_ref().is_some_and(|t| t.contains_key(&dst))
        {
            continue;
        }
        let m = crate::types::Mount {
            target: dst,
            kind: "volume".into(),
            ..Default::default()
        };
        out.push(mount_point(&m, volumes, "")?);
    }
    Ok(out)
}

fn mount_point(
    m: &crate::types::Mount,
    volumes: &Volumes,
    _mode: &str,
) -> Result<MountPoint, SpecError> {
    let propagation = m
        .bind_options
        .as_ref()
        .map(|b| b.propagation.clone())
        .filter(|p| !p.is_empty());
    let mut p = MountPoint {
        kind: m.kind.clone(),
        destination: m.target.clone(),
        rw: !m.read_only,
        mode: if m.read_only {
            "ro".into()
        } else {
            String::new()
        },
        ..Default::default()
    };
    match m.kind.as_str() {
        "bind" => {
            p.source = m.source.clone();
            p.propagation = propagation.unwrap_or_else(|| "rprivate".into());
        }
        "volume" => {
            let labels = m
                .volume_options
                .as_ref()
                .and_then(|o| o.labels.clone())
                .unwrap_or_default();
            let name = (!m.source.is_empty()).then_some(m.source.as_str());
            let v = volumes.create(name, "local", labels, Default::default())?;
            p.name = v.name;
            p.source = v.mountpoint;
            p.driver = "local".into();
            if m.volume_options.as_ref().is_some_and(|o| o.no_copy) {
                p.mode = if m.read_only { "ro,nocopy" } else { "nocopy" }.into();
            } else if p.mode.is_empty() {
                p.mode = "z".into();
            }
        }
        "tmpfs" => {
            let t = m.tmpfs_options.clone().unwrap_or_default();
            let mut opts = Vec::new();
            if t.size_bytes > 0 {
                opts.push(format!("size={}", t.size_bytes));
            }
            if let Some(mode) = t.mode {
                opts.push(format!("mode={mode:o}"));
            }
            p.source = String::new();
            p.mode = opts.join(",");
        }
        _ => {}
    }
    Ok(p)
}

/// The container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, written into `dir`.
pub fn write_etc_files(dir: &Path, hostname: &str, host: &HostConfig) -> Result<(), SpecError> {
    let host_net = host.network_mode == "host";
    let write = |name: &str, text: String| -> Result<(), SpecError> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(io_err("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))
    };
    write("hostname", format!("{hostname}\n"))?;
    let mut hosts = if host_net {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    for extra in host.extra_hosts.iter().flatten() {
        let (name, ip) = extra
            .split_once(':')
            .or_else(|| extra.split_once('='))
            .ok_or_else(|| {
                SpecError::Invalid(format!(
                    "invalid argument {extra:?} for \"--add-host\" flag"
                ))
            })?;
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    write("hosts", hosts)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write("resolv.conf", resolv_conf(&host_resolv, host, host_net))
}

/// Docker's resolv.conf: the host's, without loopback nameservers (unreachable from a container
/// network), Google's public resolvers when none are left; `--dns*` override.
pub fn resolv_conf(host_text: &str, host: &HostConfig, host_net: bool) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host_text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(s) = words.next() {
                    if host_net || !(s.starts_with("127.") || s == "::1") {
                        servers.push(s.into());
                    }
                }
            }
            Some("search" | "domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if let Some(d) = host.dns.as_ref().filter(|d| !d.is_empty()) {
        servers = d.clone();
    }
    if let Some(d) = host.dns_search.as_ref().filter(|d| !d.is_empty()) {
        search = d.iter().filter(|s| *s != ".").cloned().collect();
    }
    if let Some(d) = host.dns_options.as_ref().filter(|d| !d.is_empty()) {
        options = d.clone();
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// What [`build`] needs.
#[derive(Debug, Clone)]
pub struct SpecRequest<'a> {
    /// The container's 64-hex id.
    pub id: &'a str,
    /// The merged config (see [`merge_image_config`]).
    pub config: &'a Config,
    pub host_config: &'a HostConfig,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    /// Holds `hostname`, `hosts`, `resolv.conf` (see [`write_etc_files`]).
    pub etc_files_dir: &'a Path,
    /// From [`plan_mounts`].
    pub mounts: &'a [MountPoint],
    /// Berth's init (`--init`), bind-mounted at [`INIT_PATH`].
    pub init_binary: Option<&'a Path>,
    /// For `--network container:<x>`: that container's `/proc/<pid>/ns/net`.
    pub join_netns: Option<PathBuf>,
    /// For `--ipc container:<x>`: that container's `/proc/<pid>/ns/ipc`.
    pub join_ipcns: Option<PathBuf>,
    /// For `--pid container:<x>`: that container's `/proc/<pid>/ns/pid`.
    pub join_pidns: Option<PathBuf>,
    /// Whether the host's cgroup hierarchy is pure v2 (docker's default cgroupns is private there).
    pub cgroup_v2: bool,
}

/// The process's args: entrypoint + cmd, behind the init with `--init`.
pub fn process_args(config: &Config, init: bool) -> Result<Vec<String>, SpecError> {
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(SpecError::Invalid("no command specified".into()));
    }
    if init {
        let mut a = vec![INIT_PATH.to_string(), "--".to_string()];
        a.extend(args);
        return Ok(a);
    }
    Ok(args)
}

/// The hostname a container gets: `-h`, else the first 12 hex digits of its id.
pub fn hostname_of(id: &str, config: &Config) -> String {
    if config.hostname.is_empty() {
        id.chars().take(12).collect()
    } else {
        config.hostname.clone()
    }
}

/// Builds the container's OCI spec.
pub fn build(r: &SpecRequest<'_>) -> Result<Spec, SpecError> {
    serde_json::from_value(build_json(r)?).map_err(|e| SpecError::Spec(e.to_string()))
}

/// [`build`] as JSON, the form config.json is written in: the start skips a conversion to
/// oci-spec's types and back (~0.3 ms); the runtime parses the file into them anyway.
pub fn build_json(r: &SpecRequest<'_>) -> Result<Value, SpecError> {
    let c = r.config;
    let h = r.host_config;
    let privileged = h.privileged;
    let init = h.init.unwrap_or(false) && r.init_binary.is_some();
    let args = process_args(c, init)?;
    let hostname = hostname_of(r.id, c);

    let mut env: Vec<String> = c.env.clone().unwrap_or_default();
    let has = |env: &Vec<String>, k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.into());
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    if c.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }

    let ids = user::resolve_user(r.rootfs, &c.user, h.group_add.as_deref().unwrap_or(&[]))?;
    let cwd = if c.working_dir.is_empty() {
        "/".to_string()
    } else {
        clean(&c.working_dir)
    };
    if cwd != "/" {
        rootfs::mkdir_all(r.rootfs, &cwd, ids.uid, ids.gid)?;
    }

    let caps = capabilities(h)?;
    let security = security_options(h)?;

    let mut rlimits = Vec::new();
    for u in h.ulimits.iter().flatten() {
        let kind = parse::rlimit_type(&u.name)
            .ok_or_else(|| SpecError::Invalid(format!("invalid ulimit type: {}", u.name)))?;
        rlimits.push(json!({"type": kind, "soft": u.soft as u64, "hard": u.hard as u64}));
    }

    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": ids.uid, "gid": ids.gid, "additionalGids": ids.additional},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": security.no_new_privileges,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if h.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(h.oom_score_adj);
    }

    let mounts = mounts(r, privileged)?;
    let namespaces = namespaces(r)?;
    let resources = resources(h)?;
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": cgroups_path(h, r.id),
    });
    let devices = devices(h)?;
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    if !privileged {
        linux["maskedPaths"] = json!(h
            .masked_paths
            .clone()
            .unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
        linux["readonlyPaths"] = json!(h
            .readonly_paths
            .clone()
            .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
    }
    if let Some(sysctls) = h.sysctls.as_ref().filter(|s| !s.is_empty()) {
        linux["sysctl"] = json!(sysctls);
    }
    if let Some(seccomp) = security.seccomp {
        linux["seccomp"] = seccomp;
    } else if !privileged && !security.unconfined {
        linux["seccomp"] = serde_json::to_value(berth_seccomp::default_profile(&caps))
            .map_err(|e| SpecError::Spec(e.to_string()))?;
    }

    let mut spec = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": r.rootfs, "readonly": h.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": {"org.opencontainers.image.stopSignal": c.stop_signal.clone().unwrap_or_default()},
    });
    if h.uts_mode != "host" {
        spec["hostname"] = json!(hostname);
        if !c.domainname.is_empty() {
            spec["domainname"] = json!(c.domainname);
        }
    }
    Ok(spec)
}

fn cgroups_path(h: &HostConfig, id: &str) -> String {
    let parent = if h.cgroup_parent.is_empty() {
        "/berth"
    } else {
        h.cgroup_parent.trim_end_matches('/')
    };
    let parent = if parent.starts_with('/') {
        parent.to_string()
    } else {
        format!("/{parent}")
    };
    format!("{parent}/{id}")
}

/// `CAP_X` form of a capability name (`net_admin`, `CAP_NET_ADMIN`, `ALL`).
fn cap_name(s: &str) -> String {
    let u = s.to_ascii_uppercase();
    if u == "ALL" || u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

/// The capabilities this process may grant: [`ALL_CAPS`] (listed in bit order) filtered by the
/// bounding set in /proc/self/status. Docker gives a privileged container what its daemon has;
/// asking for more makes capset fail (on this kind of host CAP_SYS_RESOURCE is not bounded).
pub fn grantable_caps() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Docker's capability arithmetic: the default set (all grantable with `--privileged`), minus
/// drops, plus adds.
pub fn capabilities(h: &HostConfig) -> Result<Vec<String>, SpecError> {
    if h.privileged {
        return Ok(grantable_caps());
    }
    let adds: Vec<String> = h.cap_add.iter().flatten().map(|c| cap_name(c)).collect();
    let drops: Vec<String> = h.cap_drop.iter().flatten().map(|c| cap_name(c)).collect();
    for c in adds.iter().chain(&drops) {
        if c != "ALL" && !ALL_CAPS.contains(&c.as_str()) {
            return Err(SpecError::Invalid(format!("unknown capability: {c:?}")));
        }
    }
    let mut caps: Vec<String> = if drops.iter().any(|d| d == "ALL") {
        Vec::new()
    } else {
        berth_seccomp::DOCKER_DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    if adds.iter().any(|a| a == "ALL") {
        caps = grantable_caps()
            .into_iter()
            .filter(|c| !drops.contains(c) || adds.contains(c))
            .collect();
    } else {
        for a in adds {
            if !caps.contains(&a) {
                caps.push(a);
            }
        }
    }
    Ok(caps)
}

struct Security {
    no_new_privileges: bool,
    unconfined: bool,
    seccomp: Option<Value>,
}

fn security_options(h: &HostConfig) -> Result<Security, SpecError> {
    let mut s = Security {
        no_new_privileges: false,
        unconfined: false,
        seccomp: None,
    };
    for opt in h.security_opt.iter().flatten() {
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match k {
            "no-new-privileges" => {
                s.no_new_privileges = match v {
                    "" | "true" => true,
                    "false" => false,
                    _ => {
                        return Err(SpecError::Invalid(format!(
                            "invalid --security-opt 2: {opt:?}"
                        )))
                    }
                }
            }
            "seccomp" if v == "unconfined" => s.unconfined = true,
            "seccomp" => {
                let profile = berth_seccomp::parse_profile(v.as_bytes(), "seccomp profile")
                    .map_err(|e| SpecError::Invalid(format!("seccomp profile: {e}")))?;
                s.seccomp = Some(
                    serde_json::to_value(profile).map_err(|e| SpecError::Spec(e.to_string()))?,
                );
            }
            "apparmor" | "label" => {} // no AppArmor or SELinux on this host: accepted, unused
            "systempaths" if v == "unconfined" => {}
            _ => {
                return Err(SpecError::Invalid(format!(
                    "invalid --security-opt: {opt:?}"
                )))
            }
        }
    }
    Ok(s)
}

fn mounts(r: &SpecRequest<'_>, privileged: bool) -> Result<Vec<Value>, SpecError> {
    let h = r.host_config;
    let shm_size = if h.shm_size > 0 {
        h.shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    let sys_opts = if privileged {
        json!(["nosuid", "noexec", "nodev", "rw"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let mut out = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if h.ipc_mode == "host" {
        out.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}));
    } else if !h.tmpfs.as_ref().is_some_and(|t| t.contains_key("/dev/shm")) {
        out.push(
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
        );
    }
    for (name, dst) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        let src = r.etc_files_dir.join(name);
        let mut opts = vec!["rbind", "rprivate"];
        if h.readonly_rootfs {
            opts.push("ro");
        }
        out.push(json!({"destination": dst, "type": "bind", "source": src, "options": opts}));
    }
    if let (true, Some(init)) = (h.init.unwrap_or(false), r.init_binary) {
        out.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["rbind", "ro", "rprivate"]}));
    }
    // User mounts, parents before children (docker sorts by path depth).
    let mut user: Vec<Value> = Vec::new();
    for m in r.mounts {
        let mut opts: Vec<String> = Vec::new();
        let (kind, source) = match m.kind.as_str() {
            "tmpfs" => {
                opts.extend(["nosuid", "nodev", "noexec"].map(String::from));
                opts.extend(
                    m.mode
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
                ("tmpfs", "tmpfs".to_string())
            }
            _ => {
                opts.push("rbind".into());
                let prop = if m.propagation.is_empty() {
                    "rprivate"
                } else {
                    &m.propagation
                };
                opts.push(prop.to_string());
                ("bind", m.source.clone())
            }
        };
        if !m.rw {
            opts.push("ro".into());
        }
        if m.kind == "volume" && !m.mode.contains("nocopy") {
            copy_up(r.rootfs, &m.destination, Path::new(&m.source))?;
        }
        user.push(
            json!({"destination": m.destination, "type": kind, "source": source, "options": opts}),
        );
    }
    for (dst, options) in h.tmpfs.iter().flatten() {
        let opts = parse_tmpfs(options)?;
        user.push(
            json!({"destination": clean(dst), "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    }
    user.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .filter(|s| !s.is_empty())
            .count()
    });
    out.extend(user);
    Ok(out)
}

/// Docker copies the image's content at a volume's destination into the volume when the volume is
/// empty (first use).
fn copy_up(rootfs: &Path, dst: &str, volume_dir: &Path) -> Result<(), SpecError> {
    let empty = std::fs::read_dir(volume_dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let Some(src) = rootfs::resolve(rootfs, dst)? else {
        return Ok(());
    };
    if !src.is_dir() {
        return Ok(());
    }
    rootfs::copy_tree(&src, volume_dir)
}

/// Whether a container in `network_mode` gets a new network namespace of its own.
pub fn own_network_namespace(network_mode: &str) -> bool {
    matches!(network_mode, "" | "none" | "default" | "bridge")
}

fn namespaces(r: &SpecRequest<'_>) -> Result<Vec<Value>, SpecError> {
    let h = r.host_config;
    let mut ns = vec![json!({"type": "mount"})];
    match h.pid_mode.as_str() {
        "host" => {}
        _ => match &r.join_pidns {
            Some(p) => ns.push(json!({"type": "pid", "path": p})),
            None => ns.push(json!({"type": "pid"})),
        },
    }
    match h.ipc_mode.as_str() {
        "host" => {}
        _ => match &r.join_ipcns {
            Some(p) => ns.push(json!({"type": "ipc", "path": p})),
            None => ns.push(json!({"type": "ipc"})),
        },
    }
    if h.uts_mode != "host" {
        ns.push(json!({"type": "uts"}));
    }
    match h.network_mode.as_str() {
        "host" => {}
        m if m.starts_with("container:") => match &r.join_netns {
            Some(p) => ns.push(json!({"type": "network", "path": p})),
            None => {
                return Err(SpecError::Invalid(format!(
                    "cannot join network of a non running container: {}",
                    &m["container:".len()..]
                )))
            }
        },
        m if own_network_namespace(m) => ns.push(json!({"type": "network"})),
        other => {
            return Err(SpecError::Invalid(format!(
                "network {other} not found (this Berth supports none, host and container:<name>)"
            )))
        }
    }
    let private_cgroupns = match h.cgroupns_mode.as_str() {
        "private" => true,
        "host" => false,
        _ => r.cgroup_v2,
    };
    if private_cgroupns {
        ns.push(json!({"type": "cgroup"}));
    }
    Ok(ns)
}

/// Docker's default device cgroup rules (after "deny all").
const DEFAULT_DEVICE_RULES: &[(&str, Option<i64>, Option<i64>, &str)] = &[
    ("c", None, None, "m"),
    ("b", None, None, "m"),
    ("c", Some(1), Some(3), "rwm"),
    ("c", Some(1), Some(8), "rwm"),
    ("c", Some(1), Some(7), "rwm"),
    ("c", Some(5), Some(0), "rwm"),
    ("c", Some(1), Some(5), "rwm"),
    ("c", Some(1), Some(9), "rwm"),
    ("c", Some(5), Some(1), "rwm"),
    ("c", Some(136), None, "rwm"),
    ("c", Some(5), Some(2), "rwm"),
    ("c", Some(10), Some(200), "rwm"),
];

fn resources(h: &HostConfig) -> Result<Value, SpecError> {
    let mut devices: Vec<Value> = Vec::new();
    if h.privileged {
        devices.push(json!({"allow": true, "access": "rwm"}));
    } else {
        devices.push(json!({"allow": false, "access": "rwm"}));
        for (t, maj, min, acc) in DEFAULT_DEVICE_RULES {
            devices
                .push(json!({"allow": true, "type": t, "major": maj, "minor": min, "access": acc}));
        }
        for d in h.devices.iter().flatten() {
            let info = device_info(&d.path_on_host)?;
            devices.push(json!({"allow": true, "type": info.kind, "major": info.major, "minor": info.minor,
                "access": if d.cgroup_permissions.is_empty() { "rwm" } else { &d.cgroup_permissions }}));
        }
    }
    let mut res = json!({"devices": devices});
    let mut memory = serde_json::Map::new();
    if h.memory > 0 {
        memory.insert("limit".into(), json!(h.memory));
        let swap = match h.memory_swap {
            0 => Some(h.memory * 2),
            -1 => Some(-1),
            n if n > 0 => {
                if n < h.memory {
                    return Err(SpecError::Invalid(
                        "Minimum memoryswap limit should be larger than memory limit, see usage"
                            .into(),
                    ));
                }
                Some(n)
            }
            _ => None,
        };
        if let Some(s) = swap {
            memory.insert("swap".into(), json!(s));
        }
    } else if h.memory_swap > 0 {
        return Err(SpecError::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if h.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(h.memory_reservation));
    }
    if let Some(s) = h.memory_swappiness.filter(|s| *s >= 0) {
        memory.insert("swappiness".into(), json!(s));
    }
    if h.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        res["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        if h.cpu_quota > 0 || h.cpu_period > 0 {
            return Err(SpecError::Invalid(
                "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set".into(),
            ));
        }
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(h.nano_cpus * period / 1_000_000_000));
    } else {
        if h.cpu_period > 0 {
            cpu.insert("period".into(), json!(h.cpu_period));
        }
        if h.cpu_quota > 0 {
            cpu.insert("quota".into(), json!(h.cpu_quota));
        }
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !h.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(h.cpuset_mems));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = h.pids_limit.filter(|p| *p != 0) {
        res["pids"] = json!({"limit": if p < 0 { -1 } else { p }});
    }
    if h.blkio_weight > 0 {
        res["blockIO"] = json!({"weight": h.blkio_weight});
    }
    Ok(res)
}

struct DeviceInfo {
    kind: &'static str,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn device_info(path: &str) -> Result<DeviceInfo, SpecError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).map_err(|e| SpecError::Device {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let kind = if md.file_type().is_char_device() {
        "c"
    } else if md.file_type().is_block_device() {
        "b"
    } else {
        return Err(SpecError::Device {
            path: path.into(),
            reason: "not a device node".into(),
        });
    };
    let rdev = md.rdev();
    Ok(DeviceInfo {
        kind,
        major: nix::sys::stat::major(rdev),
        minor: nix::sys::stat::minor(rdev),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    })
}

/// `linux.devices`: `--device` nodes (all host devices with `--privileged`).
fn devices(h: &HostConfig) -> Result<Vec<Value>, SpecError> {
    let mut out = Vec::new();
    let node = |info: &DeviceInfo, path: &str| {
        json!({"path": path, "type": info.kind, "major": info.major, "minor": info.minor,
            "fileMode": info.mode, "uid": info.uid, "gid": info.gid})
    };
    if h.privileged {
        if let Ok(rd) = std::fs::read_dir("/dev") {
            let mut names: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            for n in names {
                let p = format!("/dev/{n}");
                if matches!(n.as_str(), "console" | "ptmx" | "tty") {
                    continue;
                }
                if let Ok(info) = device_info(&p) {
                    out.push(node(&info, &p));
                }
            }
        }
    }
    for d in h.devices.iter().flatten() {
        let info = device_info(&d.path_on_host)?;
        out.retain(|v| v["path"] != d.path_in_container.as_str());
        out.push(node(&info, &d.path_in_container));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
