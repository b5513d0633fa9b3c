//! `run` / `create` flags -> Docker's `Config` and `HostConfig`, as docker's CLI builds them
//! (cli/command/container/opts.go): typed values parsed with docker's error texts, conflicts
//! rejected before anything is created.
//!
//! The result is built as Docker Engine API JSON (the swagger shapes, PascalCase) and then read
//! into `berth_engine::types`, so this module depends only on the wire shape.

use crate::cli_containers::ContainerOptions;
use crate::units;
use berth_engine::spec;
use berth_engine::types::{Config, HostConfig};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A flag value docker would reject while parsing flags (exit 125).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// `invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'`.
    InvalidArgument {
        value: String,
        flag: &'static str,
        reason: String,
    },
    /// A combination docker refuses (`Conflicting options: --restart and --rm`) or another
    /// validation message, printed as is.
    Invalid(String),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::InvalidArgument {
                value,
                flag,
                reason,
            } => write!(
                f,
                "invalid argument \"{value}\" for \"{flag}\" flag: {reason}"
            ),
            OptionError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OptionError {}

impl berth_oci::Classify for OptionError {
    fn class(&self) -> berth_oci::ErrorClass {
        berth_oci::ErrorClass::InvalidArgument
    }
}

type Result<T> = std::result::Result<T, OptionError>;

fn bad(value: &str, flag: &'static str, reason: impl Into<String>) -> OptionError {
    OptionError::InvalidArgument {
        value: value.to_string(),
        flag,
        reason: reason.into(),
    }
}

/// Go's `strconv.ParseInt` error text.
fn parse_int(value: &str, flag: &'static str) -> Result<i64> {
    value.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        bad(
            value,
            flag,
            format!("strconv.ParseInt: parsing \"{value}\": {why}"),
        )
    })
}

/// go-units `RAMInBytes` (`opts.MemBytes`).
fn parse_bytes(value: &str, flag: &'static str) -> Result<i64> {
    units::ram_in_bytes(value).map_err(|e| bad(value, flag, e.to_string()))
}

/// `opts.MemSwapBytes`: like [`parse_bytes`] but `-1` means unlimited.
fn parse_swap_bytes(value: &str, flag: &'static str) -> Result<i64> {
    if value == "-1" {
        return Ok(-1);
    }
    parse_bytes(value, flag)
}

/// Go's `time.ParseDuration` (ns) with its error text.
fn parse_duration(value: &str, flag: &'static str) -> Result<i64> {
    crate::filters::parse_go_duration(value)
        .and_then(|ns| i64::try_from(ns).ok())
        .ok_or_else(|| bad(value, flag, format!("time: invalid duration \"{value}\"")))
}

/// `opts.NanoCPUs`: a decimal number of CPUs -> nanoCPUs.
fn parse_cpus(value: &str) -> Result<i64> {
    let err = || {
        bad(
            value,
            "--cpus",
            format!("failed to parse {value} as a rational number"),
        )
    };
    let f: f64 = value.parse().map_err(|_| err())?;
    if !f.is_finite() {
        return Err(err());
    }
    // A rational number of nanoCPUs must be whole: at most 9 decimals.
    let decimals = value
        .split_once('.')
        .map(|(_, d)| d.trim_end_matches('0').len())
        .unwrap_or(0);
    if decimals > 9 {
        return Err(bad(value, "--cpus", "value is too precise"));
    }
    Ok((f * 1e9).round() as i64)
}

/// `KEY=VALUE` lines of an env file (docker's `ParseEnvFile`): blank lines and `#` comments
/// skipped; a bare `KEY` takes the value from this process's environment, if any.
pub fn parse_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read(path)
        .map_err(|e| OptionError::Invalid(format!("open {}: {}", path.display(), io_text(&e))))?;
    let text = String::from_utf8(text).map_err(|_| {
        OptionError::Invalid(format!(
            "env file {} contains invalid utf8 bytes",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line.trim_end(), None),
        };
        if key.is_empty() {
            return Err(OptionError::Invalid(format!(
                "no variable name on line '{line}' of {}",
                path.display()
            )));
        }
        if key.contains(char::is_whitespace) {
            return Err(OptionError::Invalid(format!(
                "variable '{key}' contains whitespaces (line {} of {})",
                n + 1,
                path.display()
            )));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Ok(v) = std::env::var(key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// The text of an I/O error without Rust's "(os error N)" suffix, as Go prints it.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `-e` values: `KEY=VALUE` kept; a bare `KEY` takes this process's value or is dropped.
pub fn expand_env(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values {
        if v.starts_with('=') {
            return Err(OptionError::Invalid(format!(
                "invalid environment variable: {v}"
            )));
        }
        if v.contains('=') {
            out.push(v.clone());
        } else if let Ok(val) = std::env::var(v) {
            out.push(format!("{v}={val}"));
        }
    }
    Ok(out)
}

/// Env files first, then `-e`, as docker merges them.
pub fn environment(files: &[std::path::PathBuf], env: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        out.extend(parse_env_file(f)?);
    }
    out.extend(expand_env(env)?);
    Ok(out)
}

/// Labels: label files, then `-l`; `key` alone means an empty value.
fn labels(files: &[std::path::PathBuf], labels: &[String]) -> Result<BTreeMap<String, String>> {
    let mut all: Vec<String> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| OptionError::Invalid(format!("open {}: {}", f.display(), io_text(&e))))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    all.extend(labels.iter().cloned());
    let mut out = BTreeMap::new();
    for l in all {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// One `-p` value: `[ip:][hostPort:]containerPort[/proto]` (ranges `8000-8001:80-81`), as
/// `(container port "80/tcp", host ip, host port)` triples.
pub fn parse_publish(value: &str) -> Result<Vec<(String, String, String)>> {
    let err = |why: &str| bad(value, "-p, --publish", why.to_string());
    let (spec, proto) = match value.rsplit_once('/') {
        Some((s, p)) => (s, p.to_ascii_lowercase()),
        None => (value, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(&format!("invalid proto: {proto}")));
    }
    // An IPv6 host ip is bracketed: [::1]:80:80.
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) = r
            .split_once("]:")
            .ok_or_else(|| err("invalid IP address"))?;
        (ip.to_string(), rest)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), spec),
            3 => (parts[0].to_string(), &spec[parts[0].len() + 1..]),
            _ => return Err(err("too many colons")),
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(err(&format!("invalid IP address: {ip}")));
    }
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    if container.is_empty() {
        return Err(err(&format!("no port specified: {value}<empty>")));
    }
    let range = |s: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let p = |x: &str| {
            x.parse::<u16>()
                .map_err(|_| err(&format!("invalid containerPort: {s}")))
        };
        let (a, b) = (p(a)?, p(b)?);
        if b < a {
            return Err(err(&format!("invalid range specified for port: {s}")));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host)?)
    };
    let mut out = Vec::new();
    for (i, port) in (c0..=c1).enumerate() {
        let hp = match host_range {
            None => String::new(),
            Some((h0, h1)) if h1 - h0 == c1 - c0 => (h0 + i as u16).to_string(),
            // One host range for one container port: the engine picks within it.
            Some((h0, h1)) if c0 == c1 => format!("{h0}-{h1}"),
            Some(_) => return Err(err("port ranges don't match")),
        };
        out.push((format!("{port}/{proto}"), ip.clone(), hp));
    }
    Ok(out)
}

/// `--expose 80` / `--expose 8000-8010/udp` -> container ports.
fn parse_expose(value: &str) -> Result<Vec<String>> {
    let (spec, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let (a, b) = spec.split_once('-').unwrap_or((spec, spec));
    let p = |x: &str| {
        x.parse::<u16>().map_err(|_| {
            bad(
                value,
                "--expose",
                format!("invalid range format for --expose: {value}"),
            )
        })
    };
    let (a, b) = (p(a)?, p(b)?);
    Ok((a..=b).map(|port| format!("{port}/{proto}")).collect())
}

/// Docker's `ValidateAttach`.
fn attach_stream(value: &str) -> Result<String> {
    let lower = value.to_ascii_lowercase();
    if matches!(lower.as_str(), "stdin" | "stdout" | "stderr") {
        Ok(lower)
    } else {
        Err(bad(
            value,
            "-a, --attach",
            "valid streams are STDIN, STDOUT and STDERR",
        ))
    }
}

/// How the caller runs the container: `run -d`, `run` in the foreground, or `create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `create`.
    Create,
    /// `run` attached to the terminal.
    RunForeground,
    /// `run -d`.
    RunDetached,
}

/// The Engine API bodies of a create request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// Docker's `Config` (container-portable settings), as JSON.
    pub config: Value,
    /// Docker's `HostConfig`, as JSON.
    pub host_config: Value,
    /// The requested name, if any.
    pub name: Option<String>,
}

/// Builds the create request from `run`/`create` flags.
pub fn build(o: &ContainerOptions, mode: Mode) -> Result<CreateRequest> {
    let mut config = Map::new();
    let mut host = Map::new();

    // Attach streams.
    let attach: Vec<String> = o
        .attach
        .iter()
        .map(|a| attach_stream(a))
        .collect::<Result<_>>()?;
    if mode == Mode::RunDetached && !attach.is_empty() {
        return Err(OptionError::Invalid(
            "Conflicting options: -a and -d".into(),
        ));
    }
    let (att_in, att_out, att_err) = match mode {
        Mode::RunDetached => (false, false, false),
        _ if attach.is_empty() => (o.interactive, true, true),
        _ => (
            attach.iter().any(|a| a == "stdin"),
            attach.iter().any(|a| a == "stdout"),
            attach.iter().any(|a| a == "stderr"),
        ),
    };
    config.insert("AttachStdin".into(), json!(att_in));
    config.insert("AttachStdout".into(), json!(att_out));
    config.insert("AttachStderr".into(), json!(att_err));
    config.insert("Tty".into(), json!(o.tty));
    config.insert("OpenStdin".into(), json!(o.interactive));
    config.insert("StdinOnce".into(), json!(o.interactive && att_in));

    if let Some(h) = &o.hostname {
        config.insert("Hostname".into(), json!(h));
    }
    if let Some(d) = &o.domainname {
        config.insert("Domainname".into(), json!(d));
    }
    if let Some(u) = &o.user {
        config.insert("User".into(), json!(u));
    }
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(OptionError::Invalid(format!(
                "the working directory '{w}' is invalid, it needs to be an absolute path"
            )));
        }
        config.insert("WorkingDir".into(), json!(w));
    }
    config.insert("Env".into(), json!(environment(&o.env_file, &o.env)?));
    let cmd = o.command();
    config.insert(
        "Cmd".into(),
        if cmd.is_empty() {
            Value::Null
        } else {
            json!(cmd)
        },
    );
    if let Some(ep) = &o.entrypoint {
        // An empty --entrypoint "" resets the image's entrypoint.
        config.insert("Entrypoint".into(), json!([ep]));
    }
    config.insert("Image".into(), json!(o.image()));
    config.insert("Labels".into(), json!(labels(&o.label_file, &o.label)?));
    if let Some(s) = &o.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = &o.stop_timeout {
        config.insert("StopTimeout".into(), json!(parse_int(t, "--stop-timeout")?));
    }

    // Ports: exposed and published (stored; bound by the networking issue).
    let mut exposed = BTreeMap::new();
    for e in &o.expose {
        for p in parse_expose(e)? {
            exposed.insert(p, json!({}));
        }
    }
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &o.publish {
        for (port, ip, hp) in parse_publish(p)? {
            exposed.insert(port.clone(), json!({}));
            bindings
                .entry(port)
                .or_default()
                .push(json!({"HostIp": ip, "HostPort": hp}));
        }
    }
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), json!(exposed));
    }
    host.insert("PortBindings".into(), json!(bindings));
    host.insert("PublishAllPorts".into(), json!(o.publish_all));

    // Volumes: `-v /path` is an anonymous volume, anything with a colon a bind/named volume.
    let mut volumes = BTreeMap::new();
    let mut binds = Vec::new();
    for v in &o.volume {
        if v.is_empty() {
            return Err(bad(v, "-v, --volume", "invalid empty volume spec"));
        }
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    if !volumes.is_empty() {
        config.insert("Volumes".into(), json!(volumes));
    }
    host.insert("Binds".into(), json!(binds));

    // Health check.
    let health_given = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some();
    if o.no_healthcheck {
        if health_given {
            return Err(OptionError::Invalid(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        config.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
    } else if health_given {
        let mut hc = Map::new();
        if let Some(c) = &o.health_cmd {
            if !c.is_empty() {
                hc.insert("Test".into(), json!(["CMD-SHELL", c]));
            }
        }
        for (flag, val, key) in [
            ("--health-interval", &o.health_interval, "Interval"),
            ("--health-timeout", &o.health_timeout, "Timeout"),
            (
                "--health-start-period",
                &o.health_start_period,
                "StartPeriod",
            ),
        ] {
            if let Some(v) = val {
                let ns = parse_duration(v, flag)?;
                if ns < 0 {
                    return Err(OptionError::Invalid(format!("{flag} cannot be negative")));
                }
                hc.insert(key.into(), json!(ns));
            }
        }
        if let Some(r) = &o.health_retries {
            let n = parse_int(r, "--health-retries")?;
            if n < 0 {
                return Err(OptionError::Invalid(
                    "--health-retries cannot be negative".into(),
                ));
            }
            hc.insert("Retries".into(), json!(n));
        }
        config.insert("Healthcheck".into(), Value::Object(hc));
    }

    // Resources.
    let memory = match &o.memory {
        Some(m) => parse_bytes(m, "-m, --memory")?,
        None => 0,
    };
    if memory != 0 && memory < 6 * 1024 * 1024 {
        return Err(OptionError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    host.insert("Memory".into(), json!(memory));
    let swap = match &o.memory_swap {
        Some(s) => parse_swap_bytes(s, "--memory-swap")?,
        None => 0,
    };
    if swap != 0 && memory == 0 {
        return Err(OptionError::Invalid(
            "You should always set the Memory limit when using Memoryswap limit".into(),
        ));
    }
    if swap > 0 && swap < memory {
        return Err(OptionError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    host.insert("MemorySwap".into(), json!(swap));
    if let Some(r) = &o.memory_reservation {
        host.insert(
            "MemoryReservation".into(),
            json!(parse_bytes(r, "--memory-reservation")?),
        );
    }
    if let Some(s) = &o.memory_swappiness {
        let n = parse_int(s, "--memory-swappiness")?;
        if n != -1 && !(0..=100).contains(&n) {
            return Err(OptionError::Invalid(format!(
                "invalid value: {n}, valid memory swappiness range is 0-100"
            )));
        }
        if n != -1 {
            host.insert("MemorySwappiness".into(), json!(n));
        }
    }
    let nano = match &o.cpus {
        Some(c) => parse_cpus(c)?,
        None => 0,
    };
    if nano < 0 {
        return Err(bad(
            o.cpus.as_deref().unwrap_or(""),
            "--cpus",
            "value must be positive",
        ));
    }
    let period = match &o.cpu_period {
        Some(p) => parse_int(p, "--cpu-period")?,
        None => 0,
    };
    let quota = match &o.cpu_quota {
        Some(q) => parse_int(q, "--cpu-quota")?,
        None => 0,
    };
    if nano > 0 && (period > 0 || quota > 0) {
        return Err(OptionError::Invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ));
    }
    if nano > 0 {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1);
        if nano < 10_000_000 || nano > cpus * 1_000_000_000 {
            return Err(OptionError::Invalid(format!(
                "range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
    }
    host.insert("NanoCpus".into(), json!(nano));
    host.insert("CpuPeriod".into(), json!(period));
    host.insert("CpuQuota".into(), json!(quota));
    host.insert(
        "CpuShares".into(),
        json!(match &o.cpu_shares {
            Some(c) => parse_int(c, "-c, --cpu-shares")?,
            None => 0,
        }),
    );
    host.insert(
        "CpusetCpus".into(),
        json!(o.cpuset_cpus.clone().unwrap_or_default()),
    );
    host.insert(
        "CpusetMems".into(),
        json!(o.cpuset_mems.clone().unwrap_or_default()),
    );
    if let Some(p) = &o.pids_limit {
        let n = parse_int(p, "--pids-limit")?;
        // 0 and -1 both mean unlimited; docker sends nothing for 0.
        if n != 0 {
            host.insert("PidsLimit".into(), json!(n));
        }
    }
    if let Some(s) = &o.shm_size {
        let n = parse_bytes(s, "--shm-size")?;
        if n <= 0 {
            return Err(OptionError::Invalid(
                "SHM size can not be less than 0".into(),
            ));
        }
        host.insert("ShmSize".into(), json!(n));
    }
    if let Some(s) = &o.oom_score_adj {
        let n = parse_int(s, "--oom-score-adj")?;
        if !(-1000..=1000).contains(&n) {
            return Err(OptionError::Invalid(format!(
                "Invalid value {n}, range for oom score adj is [-1000, 1000]"
            )));
        }
        host.insert("OomScoreAdj".into(), json!(n));
    }
    host.insert("OomKillDisable".into(), json!(o.oom_kill_disable));

    // Mounts and devices: the raw strings go to the engine's parsers (berth_engine::spec),
    // which check them when the request is read (see `to_types`).
    host.insert("Tmpfs".into(), json!(tmpfs_map(&o.tmpfs)));
    host.insert("ReadonlyRootfs".into(), json!(o.read_only));

    // Security.
    host.insert("CapAdd".into(), json!(o.cap_add));
    host.insert("CapDrop".into(), json!(o.cap_drop));
    host.insert("Privileged".into(), json!(o.privileged));
    let mut secopts = Vec::new();
    for s in &o.security_opt {
        secopts.push(security_opt(s)?);
    }
    host.insert("SecurityOpt".into(), json!(secopts));
    if o.init {
        host.insert("Init".into(), json!(true));
    }
    host.insert("GroupAdd".into(), json!(o.group_add));

    // Namespaces.
    if let Some(n) = &o.network {
        host.insert("NetworkMode".into(), json!(n));
    } else {
        host.insert("NetworkMode".into(), json!("default"));
    }
    for (flag, val, key) in [
        ("--pid", &o.pid, "PidMode"),
        ("--ipc", &o.ipc, "IpcMode"),
        ("--uts", &o.uts, "UTSMode"),
        ("--userns", &o.userns, "UsernsMode"),
    ] {
        if let Some(v) = val {
            let ok = match key {
                "IpcMode" => {
                    matches!(v.as_str(), "" | "host" | "private" | "shareable" | "none")
                        || v.starts_with("container:")
                }
                "PidMode" => v.is_empty() || v == "host" || v.starts_with("container:"),
                "UTSMode" => v.is_empty() || v == "host",
                _ => v.is_empty() || v == "host",
            };
            if !ok {
                return Err(OptionError::Invalid(format!("{flag}: invalid {key}")));
            }
            host.insert(key.into(), json!(v));
        }
    }
    if let Some(c) = &o.cgroup_parent {
        host.insert("CgroupParent".into(), json!(c));
    }
    host.insert("Dns".into(), json!(o.dns));
    host.insert("DnsSearch".into(), json!(o.dns_search));
    host.insert("DnsOptions".into(), json!(o.dns_option));
    for h in &o.add_host {
        if !h.contains(':') && !h.contains('=') {
            return Err(bad(
                h,
                "--add-host",
                format!("bad format for add-host: \"{h}\""),
            ));
        }
    }
    host.insert(
        "ExtraHosts".into(),
        json!(o
            .add_host
            .iter()
            .map(|h| h.replacen('=', ":", 1))
            .collect::<Vec<_>>()),
    );
    let mut sysctls = BTreeMap::new();
    for s in &o.sysctl {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| bad(s, "--sysctl", format!("invalid value \"{s}\"")))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    host.insert("Sysctls".into(), json!(sysctls));
    host.insert("VolumesFrom".into(), json!(o.volumes_from));

    // Logging.
    let mut log_config = Map::new();
    log_config.insert(
        "Type".into(),
        json!(o.log_driver.clone().unwrap_or_default()),
    );
    let mut log_opts = BTreeMap::new();
    for l in &o.log_opt {
        let (k, v) = l.split_once('=').ok_or_else(|| {
            bad(
                l,
                "--log-opt",
                format!("invalid key value pair format: {l}"),
            )
        })?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    log_config.insert("Config".into(), json!(log_opts));
    host.insert("LogConfig".into(), Value::Object(log_config));

    // Restart and removal.
    let (restart_name, retries) = restart_policy(&o.restart)?;
    if o.rm && !matches!(restart_name.as_str(), "" | "no") {
        return Err(OptionError::Invalid(
            "Conflicting options: --restart and --rm".into(),
        ));
    }
    host.insert(
        "RestartPolicy".into(),
        json!({"Name": restart_name, "MaximumRetryCount": retries}),
    );
    host.insert("AutoRemove".into(), json!(o.rm));

    // Ulimits, devices, mounts: kept raw here, parsed by the engine's spec parsers.
    host.insert("Ulimits".into(), json!(Vec::<Value>::new()));
    host.insert("Devices".into(), json!(Vec::<Value>::new()));
    host.insert("Mounts".into(), json!(Vec::<Value>::new()));

    Ok(CreateRequest {
        config: Value::Object(config),
        host_config: Value::Object(host),
        name: o.name.clone(),
    })
}

/// `--tmpfs /run:rw,size=64m` -> `{"/run": "rw,size=64m"}`.
fn tmpfs_map(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|t| match t.split_once(':') {
            Some((p, o)) => (p.to_string(), o.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect()
}

/// Docker's `parseSecurityOpts`: `seccomp=PATH` loads the profile file's JSON inline; `key:value`
/// is accepted as `key=value`; `no-new-privileges` alone is allowed.
fn security_opt(s: &str) -> Result<String> {
    if s == "no-new-privileges" {
        return Ok(s.to_string());
    }
    let (k, v) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| {
            bad(
                s,
                "--security-opt",
                format!("Invalid --security-opt: {s:?}"),
            )
        })?;
    if k == "seccomp" && v != "unconfined" {
        let text = std::fs::read_to_string(v).map_err(|e| {
            OptionError::Invalid(format!(
                "opening seccomp profile ({v}) failed: open {v}: {}",
                io_text(&e)
            ))
        })?;
        // Compact it, as docker sends the profile's JSON.
        let parsed: Value = serde_json::from_str(&text).map_err(|e| {
            OptionError::Invalid(format!(
                "compacting json for seccomp profile ({v}) failed: {e}"
            ))
        })?;
        return Ok(format!("seccomp={parsed}"));
    }
    Ok(format!("{k}={v}"))
}

/// `--restart` through the engine's parser.
fn restart_policy(s: &str) -> Result<(String, i64)> {
    let p = spec::parse_restart_policy(s).map_err(|e| OptionError::Invalid(e.to_string()))?;
    let name = if p.name.is_empty() {
        "no".to_string()
    } else {
        p.name
    };
    Ok((name, p.maximum_retry_count))
}

/// Reads the request into the engine's types, running the engine's parsers over what docker's
/// CLI checks before sending (`-v`, `--mount`, `--tmpfs`, `--device`, `--ulimit`,
/// `--stop-signal`), so a bad value is a flag error (125) and nothing is created.
pub fn to_types(req: &CreateRequest, o: &ContainerOptions) -> Result<(Config, HostConfig)> {
    let config: Config = serde_json::from_value(req.config.clone())
        .map_err(|e| OptionError::Invalid(format!("internal: config: {e}")))?;
    let mut host: HostConfig = serde_json::from_value(req.host_config.clone())
        .map_err(|e| OptionError::Invalid(format!("internal: host config: {e}")))?;
    for v in &o.volume {
        if v.contains(':') {
            spec::parse_bind(v).map_err(|e| OptionError::Invalid(e.to_string()))?;
        }
    }
    let mut mounts = Vec::new();
    for m in &o.mount {
        mounts.push(spec::parse_mount_flag(m).map_err(|e| bad(m, "--mount", e.to_string()))?);
    }
    host.mounts = Some(mounts);
    for (path, opts) in host.tmpfs.iter().flatten() {
        if !path.starts_with('/') {
            return Err(bad(
                path,
                "--tmpfs",
                format!("invalid mount path: '{path}' mount path must be absolute"),
            ));
        }
        spec::parse_tmpfs(opts).map_err(|e| bad(opts, "--tmpfs", e.to_string()))?;
    }
    let mut devices = Vec::new();
    for d in &o.device {
        devices.push(spec::parse_device(d).map_err(|e| bad(d, "--device", e.to_string()))?);
    }
    host.devices = Some(devices);
    let mut ulimits = Vec::new();
    for u in &o.ulimit {
        ulimits.push(spec::parse_ulimit(u).map_err(|e| bad(u, "--ulimit", e.to_string()))?);
    }
    host.ulimits = Some(ulimits);
    if let Some(s) = &config.stop_signal {
        spec::parse_signal(s).map_err(|e| OptionError::Invalid(e.to_string()))?;
    }
    Ok((config, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli_containers::{ContainerVerbs, RunArgs};
    use clap::Parser;

    fn run(args: &[&str]) -> RunArgs {
        let mut v = vec!["berth", "run"];
        v.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(v).unwrap().command {
            crate::cli::Command::Containers(ContainerVerbs::Run(r)) => r,
            _ => unreachable!(),
        }
    }

    fn req(args: &[&str]) -> Result<CreateRequest> {
        let r = run(args);
        let mode = if r.detach {
            Mode::RunDetached
        } else {
            Mode::RunForeground
        };
        build(&r.opts, mode)
    }

    #[test]
    fn bad_memory_is_docker_text() {
        let e = req(&["--memory", "12x", "busybox"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"12x\" for \"-m, --memory\" flag: invalid size: '12x'"
        );
        let e = req(&["--cpu-shares", "z", "busybox"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"z\" for \"-c, --cpu-shares\" flag: strconv.ParseInt: parsing \"z\": invalid syntax"
        );
        let e = req(&["--health-interval", "5", "busybox"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"5\" for \"--health-interval\" flag: time: invalid duration \"5\""
        );
        let e = req(&["--cpus", "abc", "busybox"]).unwrap_err();
        assert!(e
            .to_string()
            .contains("failed to parse abc as a rational number"));
    }

    #[test]
    fn resources_translate() {
        let r = req(&[
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "-c",
            "512",
            "--pids-limit",
            "20",
            "--shm-size",
            "1g",
            "--cpuset-cpus",
            "0",
            "busybox",
        ])
        .unwrap();
        let h = &r.host_config;
        assert_eq!(h["Memory"], 64 * 1024 * 1024);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(h["NanoCpus"], 500_000_000);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["PidsLimit"], 20);
        assert_eq!(h["ShmSize"], 1024 * 1024 * 1024);
        assert_eq!(h["CpusetCpus"], "0");
    }

    #[test]
    fn conflicts_rejected() {
        assert_eq!(
            req(&["--rm", "--restart", "always", "busybox"])
                .unwrap_err()
                .to_string(),
            "Conflicting options: --restart and --rm"
        );
        assert!(req(&["-d", "-a", "stdout", "busybox"]).is_err());
        assert!(req(&["--memory-swap", "1g", "busybox"]).is_err());
        assert!(req(&["-m", "1m", "busybox"]).is_err());
        assert!(req(&["--no-healthcheck", "--health-cmd", "true", "busybox"]).is_err());
        assert!(req(&["-w", "rel", "busybox"]).is_err());
        assert!(req(&["--restart", "sometimes", "busybox"]).is_err());
        assert!(req(&["--restart", "always:3", "busybox"]).is_err());
    }

    #[test]
    fn config_shape() {
        let r = req(&[
            "-it",
            "--name",
            "web",
            "-e",
            "A=1",
            "-l",
            "x=y",
            "-l",
            "flag",
            "--entrypoint",
            "",
            "-u",
            "1000:1000",
            "-w",
            "/srv",
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "-v",
            "/data",
            "-v",
            "/h:/c:ro",
            "-p",
            "127.0.0.1:8080:80",
            "--tmpfs",
            "/run:size=1m",
            "--restart",
            "on-failure:3",
            "--init",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "x",
        ])
        .unwrap();
        let c = &r.config;
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(c["Tty"], true);
        assert_eq!(c["OpenStdin"], true);
        assert_eq!(c["AttachStdin"], true);
        assert_eq!(c["StdinOnce"], true);
        assert_eq!(c["Env"], json!(["A=1"]));
        assert_eq!(c["Labels"], json!({"x": "y", "flag": ""}));
        assert_eq!(c["Entrypoint"], json!([""]));
        assert_eq!(c["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["Healthcheck"]["Test"], json!(["CMD-SHELL", "exit 1"]));
        assert_eq!(c["Healthcheck"]["Interval"], 1_000_000_000i64);
        assert_eq!(c["Healthcheck"]["Retries"], 2);
        assert_eq!(c["StopSignal"], "SIGUSR1");
        assert_eq!(c["StopTimeout"], 3);
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        let h = &r.host_config;
        assert_eq!(h["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(
            h["PortBindings"],
            json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
        );
        assert_eq!(h["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(h["Init"], true);
        assert_eq!(h["ReadonlyRootfs"], true);
    }

    #[test]
    fn detached_attaches_nothing() {
        let r = req(&["-d", "-i", "busybox"]).unwrap();
        assert_eq!(r.config["AttachStdin"], false);
        assert_eq!(r.config["AttachStdout"], false);
        assert_eq!(r.config["OpenStdin"], true);
        assert_eq!(r.config["Cmd"], Value::Null);
    }

    #[test]
    fn engine_types_and_parsers() {
        let r = run(&[
            "--mount",
            "type=tmpfs,destination=/m",
            "--device",
            "/dev/null:/dev/n",
            "--ulimit",
            "nofile=10:20",
            "-m",
            "64m",
            "--stop-signal",
            "USR1",
            "--restart",
            "always",
            "busybox",
        ]);
        let req = build(&r.opts, Mode::RunForeground).unwrap();
        let (c, h) = to_types(&req, &r.opts).unwrap();
        assert_eq!(c.image, "busybox");
        assert_eq!(h.memory, 64 << 20);
        assert_eq!(h.mounts.as_ref().unwrap()[0].kind, "tmpfs");
        assert_eq!(h.devices.as_ref().unwrap()[0].path_in_container, "/dev/n");
        assert_eq!(h.ulimits.as_ref().unwrap()[0].hard, 20);
        assert_eq!(h.restart_policy.name, "always");
        for bad in [
            vec!["--mount", "type=nope,target=/x", "busybox"],
            vec!["--device", "relative", "busybox"],
            vec!["--ulimit", "bogus=1", "busybox"],
            vec!["--stop-signal", "SIGNOPE", "busybox"],
            vec!["-v", "a:b:c:d", "busybox"],
            vec!["--tmpfs", "/t:bogus", "busybox"],
        ] {
            let r = run(&bad);
            let req = build(&r.opts, Mode::Create).unwrap();
            assert!(to_types(&req, &r.opts).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn publish_forms() {
        assert_eq!(
            parse_publish("80").unwrap(),
            [("80/tcp".into(), String::new(), String::new())]
        );
        assert_eq!(
            parse_publish("8080:80/udp").unwrap(),
            [("80/udp".into(), String::new(), "8080".into())]
        );
        assert_eq!(parse_publish("1-2:3-4").unwrap().len(), 2);
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("1.2.3:80:80").is_err());
        assert_eq!(
            parse_publish("[::1]:80:80").unwrap(),
            [("80/tcp".into(), "::1".into(), "80".into())]
        );
    }

    #[test]
    fn env_file_and_bare_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# c\nA=1\n\nPATH\nNOT_SET_ANYWHERE_X\n").unwrap();
        let env = environment(&[f], &["B=2".into()]).unwrap();
        assert_eq!(env[0], "A=1");
        assert!(env[1].starts_with("PATH="));
        assert_eq!(env[2], "B=2");
        assert_eq!(env.len(), 3);
        assert!(environment(&[dir.path().join("missing")], &[])
            .unwrap_err()
            .to_string()
            .contains("no such file or directory"));
    }
}
