//! One function per subcommand: parse flags into library calls and print results like runc.

use crate::cli::{Cli, Command, CreateArgs, ExecArgs, UpdateArgs};
use anyhow::{bail, Context, Result};
use berth_runtime::{CreateOptions, ExecOptions, Runtime};
use oci_spec::runtime::{Capability, Process};
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

/// Runs the command; returns the process exit code.
pub fn dispatch(cli: &Cli) -> Result<i32> {
    let rt = Runtime::new(&cli.root, cli.systemd_cgroup);
    match &cli.command {
        Command::Create(a) => {
            rt.create(&create_options(a))?;
            Ok(0)
        }
        Command::Start { id } => {
            rt.start(id)?;
            Ok(0)
        }
        Command::Run(a) => {
            let code = rt.run(&create_options(&a.create), a.detach)?;
            Ok(code)
        }
        Command::State { id } => {
            print_json(&rt.state(id)?)?;
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            rt.kill(id, berth_runtime::signals::parse_signal(signal)?, *all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            rt.delete(id, *force)?;
            Ok(0)
        }
        Command::Exec(a) => exec(&rt, a),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(&rt, format, id, ps_args),
        Command::Pause { id } => {
            rt.pause(id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            rt.resume(id)?;
            Ok(0)
        }
        Command::Events {
            stats,
            interval,
            id,
        } => events(&rt, *stats, interval, id),
        Command::Features => {
            print_json(&berth_runtime::features::features())?;
            Ok(0)
        }
        Command::Spec { bundle } => {
            let rootless = cli.rootless.as_deref().is_some_and(|v| v != "false");
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let spec = crate::default_spec::default_spec(rootless);
            std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Command::List { format, quiet } => list(&rt, format, *quiet),
        Command::Update(a) => {
            rt.update(&a.id, &update_patch(a)?)?;
            Ok(0)
        }
    }
}

fn create_options(a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        network_namespace: None,
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Builds the exec'd process: from `--process`, or the container's own process with the flags applied.
fn exec_process(rt: &Runtime, a: &ExecArgs) -> Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path)
            .with_context(|| format!("reading process file {}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&data);
        return serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow::anyhow!("{}: field `{}`: {}", path.display(), e.path(), e.inner())
        });
    }
    if a.command.is_empty() {
        bail!("exec needs a command to run (or --process)");
    }
    let container = rt.load(&a.id)?;
    let mut p = container
        .state
        .spec
        .process()
        .clone()
        .context("the container's config has no process to take defaults from")?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &a.env {
            let key = kv.split('=').next().unwrap_or(kv);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(user) = &a.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u.parse::<u32>()?, Some(g.parse::<u32>()?)),
            None => (
                user.parse::<u32>()
                    .with_context(|| format!("--user {user:?}: expected uid[:gid]"))?,
                None,
            ),
        };
        let mut u = p.user().clone();
        u.set_uid(uid);
        if let Some(g) = gid {
            u.set_gid(g);
        }
        p.set_user(u);
    }
    if !a.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(u);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap = Capability::from_str(name)
                .map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32> {
    let mut process = exec_process(rt, a)?;
    if a.tty {
        process.set_terminal(Some(true));
    }
    let code = rt.exec(&ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    })?;
    Ok(code)
}

fn ps(rt: &Runtime, format: &str, id: &str, ps_args: &[String]) -> Result<i32> {
    let pids = rt.pids(id)?;
    match format {
        "json" => print_json(&pids)?,
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{header}")?;
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    writeln!(stdout, "{line}")?;
                }
            }
        }
        other => bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(0)
}

/// Parses `512`, `64k`, `256m`, `1g` (bytes, binary multiples); `-1` means unlimited.
fn parse_bytes(s: &str) -> Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("invalid size {s:?}: use e.g. 512, 64k, 256m, 1g"))?;
    if n == -1 {
        return Ok(-1);
    }
    n.checked_mul(mult)
        .filter(|v| *v >= 0)
        .with_context(|| format!("invalid size {s:?}"))
}

/// The `linux.resources` patch of an `update`: the `--resources` document with the flags on top.
fn update_patch(a: &UpdateArgs) -> Result<serde_json::Value> {
    let mut patch = match &a.resources {
        None => serde_json::json!({}),
        Some(path) => {
            let data = if path.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                buf
            } else {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            };
            serde_json::from_slice(&data)
                .context("--resources: not a JSON object of linux.resources")?
        }
    };
    let mut set = |section: &str, key: &str, value: serde_json::Value| {
        patch[section][key] = value;
    };
    if let Some(v) = &a.memory {
        set("memory", "limit", parse_bytes(v)?.into());
    }
    if let Some(v) = &a.memory_swap {
        set("memory", "swap", parse_bytes(v)?.into());
    }
    if let Some(v) = &a.memory_reservation {
        set("memory", "reservation", parse_bytes(v)?.into());
    }
    if let Some(v) = a.cpu_shares {
        set("cpu", "shares", v.into());
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", v.into());
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", v.into());
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", v.clone().into());
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", v.into());
    }
    if !patch.is_object() {
        bail!("--resources: not a JSON object of linux.resources");
    }
    Ok(patch)
}

fn parse_interval(s: &str) -> Result<Duration> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid interval {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid interval {s:?}: use e.g. 5s, 500ms, 1m"),
    };
    if secs <= 0.0 {
        bail!("the interval must be greater than 0");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn events(rt: &Runtime, once: bool, interval: &str, id: &str) -> Result<i32> {
    let interval = parse_interval(interval)?;
    loop {
        let stats = rt.stats(id)?;
        let event = serde_json::json!({"type": "stats", "id": id, "data": stats});
        let mut out = std::io::stdout().lock();
        writeln!(out, "{event}")?;
        out.flush()?;
        if once {
            return Ok(0);
        }
        std::thread::sleep(interval);
        if rt.state(id)?.status == "stopped" {
            return Ok(0);
        }
    }
}

fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<i32> {
    let all = rt.list()?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &all {
            writeln!(out, "{}", s.id)?;
        }
        return Ok(0);
    }
    match format {
        "json" => {
            serde_json::to_writer(&mut out, &all)?;
            writeln!(out)?;
        }
        "table" => {
            writeln!(
                out,
                "{:<12} {:<8} {:<10} {:<40} {:<31} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            )?;
            for s in &all {
                writeln!(
                    out,
                    "{:<12} {:<8} {:<10} {:<40} {:<31} root",
                    s.id,
                    s.pid,
                    s.status,
                    s.bundle.display(),
                    s.created
                )?;
            }
        }
        other => bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("64k").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("256M").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("12x").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("x").is_err());
        assert!(parse_interval("0s").is_err());
    }
}
