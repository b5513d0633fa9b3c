//! The verbs that read containers: `ps`, `inspect`, `logs`, `top`, `stats`, `port`, `info`, and
//! `exec` and `system prune`, which need the same listing.

use super::ps::{self, Listed as Row};
use super::{logs, show, volume};
use crate::cli::{Cli, InspectArgs};
use crate::cli_containers::{
    ContainerInspectArgs, ExecArgs, InfoArgs, LogsArgs, PortArgs, PsArgs, StatsArgs,
    SystemPruneArgs, TopArgs,
};
use crate::output;
use anyhow::{bail, Result};
use berth_engine::list::PsOptions;
use berth_engine::{EngineError, ExecRequest, ListOptions, StateFile};
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Inspect's `State` object from a state file.
pub fn state_json(s: &StateFile) -> Value {
    let st = s.status.as_str();
    json!({
        "Status": st,
        "Running": matches!(st, "running" | "paused" | "restarting"),
        "Paused": st == "paused",
        "Restarting": st == "restarting",
        "OOMKilled": s.oom_killed,
        "Dead": st == "dead",
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
        "Health": s.health,
    })
}

/// A listed container as `ps` sees it; `state` is `None` when not read (`ps -aq`).
fn row(r: berth_engine::list::PsRecord, state: Option<&StateFile>, now: i64) -> Row {
    // Docker's daemon quotes arguments holding a space.
    let mut command = r.path;
    for a in &r.args {
        command.push(' ');
        if a.contains(' ') {
            command.push('\'');
            command.push_str(a);
            command.push('\'');
        } else {
            command.push_str(a);
        }
    }
    let ports = r
        .config
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys())
        .map(|p| {
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            ps::PortEntry {
                private_port: u64::from(num.parse::<u16>().unwrap_or(0)),
                kind: proto.to_string(),
                ..Default::default()
            }
        })
        .collect();
    let mounts = r
        .mounts
        .into_iter()
        .map(|m| ps::MountEntry {
            name: m.name,
            source: m.source,
            destination: m.destination,
            driver: m.driver,
        })
        .collect();
    let (state_word, status, exit_code, health) = match state {
        Some(s) => {
            let j = state_json(s);
            (
                s.status.as_str().to_string(),
                super::status::status_text(&j, now),
                s.exit_code,
                super::status::health_word(&j),
            )
        }
        None => (String::new(), String::new(), 0, "none".to_string()),
    };
    Row {
        id: r.id,
        names: vec![r.name],
        image: r.image,
        image_id: r.image_id,
        command,
        created: r.created.div_euclid(1_000_000_000),
        ports,
        labels: r.config.labels.unwrap_or_default(),
        state: state_word,
        status,
        network_mode: r.host_config.network_mode,
        networks: Vec::new(),
        mounts,
        size_rw: None,
        size_root_fs: None,
        exit_code,
        health,
        created_ns: i128::from(r.created),
    }
}

/// Whether `ps` with these arguments shows or filters on anything from the state files: not
/// for `-q` listing every container (`-a`, `-n`, `-l`) with no status, exit or health filter.
fn ps_needs_state(a: &PsArgs) -> bool {
    let every = a.all || a.latest || a.last > 0;
    // A malformed filter: read everything, `select` reports it.
    let by_state = crate::filters::Filters::parse_any(&a.filter).map_or(true, |f| {
        ["status", "exited", "health"].iter().any(|k| f.contains(k))
    });
    !(a.quiet && a.format.is_none() && every && !by_state)
}

/// `berth ps`.
pub fn ps(cli: &Cli, a: &PsArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let now = now();
    let listed = engine.list_ps(PsOptions {
        state: ps_needs_state(a),
    })?;
    let rows: Vec<Row> = listed
        .into_iter()
        .map(|l| row(l.record, l.state.as_ref(), now))
        .collect();
    let mut selected = ps::select(rows, a)?;
    if a.size {
        for r in &mut selected {
            if let Ok(j) = engine.inspect(&r.id, true) {
                r.size_rw = Some(j.size_rw.unwrap_or(0));
                r.size_root_fs = Some(j.size_root_fs.unwrap_or(0));
            }
        }
    }
    let text = ps::render(&selected, a, now)?;
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(0)
}

/// `berth container inspect`.
pub fn container_inspect(cli: &Cli, a: &ContainerInspectArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let mut values = Vec::new();
    let mut status = 0;
    for c in &a.containers {
        match engine.inspect(c, a.size) {
            Ok(j) => values.push(serde_json::to_value(&j)?),
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    volume::print_inspect(values, a.format.as_deref())?;
    Ok(status)
}

/// `berth inspect`: each name as a container, else an image, else a volume (docker's order).
pub fn inspect(cli: &Cli, a: &InspectArgs) -> Result<i32> {
    let typ = a.typ.as_deref().unwrap_or("");
    if !matches!(typ, "" | "container" | "image" | "volume") {
        bail!("\"{typ}\" is not a valid value for --type");
    }
    let engine = super::engine(cli)?;
    let mut values = Vec::new();
    let mut status = 0;
    for name in &a.names {
        let mut found: Option<Value> = None;
        if typ.is_empty() || typ == "container" {
            match engine.inspect(name, a.size) {
                Ok(j) => found = Some(serde_json::to_value(&j)?),
                Err(EngineError::NoSuchContainer(_)) => {}
                Err(e) => {
                    eprintln!("Error: {e}");
                    status = 1;
                    continue;
                }
            }
        }
        if found.is_none() && (typ.is_empty() || typ == "image") {
            let store = engine.images()?;
            if let Ok(id) = store.resolve(name) {
                found = Some(store.inspect(&id)?);
            }
        }
        if found.is_none() && (typ.is_empty() || typ == "volume") {
            if let Ok(v) = engine.volumes()?.get(name) {
                found = Some(serde_json::to_value(&v)?);
            }
        }
        match found {
            Some(v) => values.push(v),
            None => {
                match typ {
                    "container" => eprintln!("Error: No such container: {name}"),
                    "image" => eprintln!("Error: No such image: {name}"),
                    "volume" => eprintln!("Error: No such volume: {name}"),
                    _ => eprintln!("Error: No such object: {name}"),
                }
                status = 1;
            }
        }
    }
    volume::print_inspect(values, a.format.as_deref())?;
    Ok(status)
}

/// `berth logs`.
pub fn logs(cli: &Cli, a: &LogsArgs) -> Result<i32> {
    let o = logs::LogOptions::parse(a, now())?;
    let engine = super::engine(cli)?;
    let (id, path) = engine.log_path(&a.container)?;
    let mut running = || {
        engine
            .state(&id)
            .map(|s| s.status.is_active())
            .unwrap_or(false)
    };
    logs::print(&path, &o, &mut running)?;
    Ok(0)
}

/// `berth top`.
pub fn top(cli: &Cli, a: &TopArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let t = engine.top(&a.container, &a.ps_args.join(" "))?;
    print!("{}", show::render_top(&t.titles, &t.processes));
    Ok(0)
}

/// `berth stats`.
pub fn stats(cli: &Cli, a: &StatsArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    // Named containers must exist (and are resolved once); otherwise the running ones (all
    // with -a), looked up again for each screen as docker does.
    let named: Vec<String> = a
        .containers
        .iter()
        .map(|c| engine.lookup(c).map(|r| r.id))
        .collect::<Result<_, _>>()?;
    let mut sample = || -> Result<Vec<show::StatsSample>> {
        let ids: Vec<String> = if named.is_empty() {
            engine
                .list(ListOptions {
                    all: a.all,
                    size: false,
                })?
                .into_iter()
                .filter(|l| a.all || l.state.status.is_active())
                .map(|l| l.record.id)
                .collect()
        } else {
            named.clone()
        };
        let mut out = Vec::new();
        for id in ids {
            match engine.stats(&id) {
                Ok(s) => out.push(show::sample_from_stats(&s)),
                Err(EngineError::NoSuchContainer(_)) if named.is_empty() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    };
    show::stats_loop(a.no_stream, a.format.as_deref(), a.no_trunc, &mut sample)?;
    Ok(0)
}

/// `berth port`.
pub fn port(cli: &Cli, a: &PortArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let j = engine.inspect(&a.container, false)?;
    let ports = serde_json::to_value(&j.network_settings.ports)?;
    print!(
        "{}",
        show::render_port(&a.container, &ports, a.port.as_deref())?
    );
    Ok(0)
}

/// `berth exec`.
pub fn exec(cli: &Cli, a: &ExecArgs) -> Result<i32> {
    let env = super::options::environment(&a.env_file, &a.env)?;
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
        }
    }
    let engine = super::engine(cli)?;
    let (container, cmd) = a
        .container_and_command
        .split_first()
        .expect("clap requires CONTAINER COMMAND");
    let req = ExecRequest {
        cmd: cmd.to_vec(),
        env,
        user: a.user.clone().unwrap_or_default(),
        workdir: a.workdir.clone().unwrap_or_default(),
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
        // The exec's pty starts at our terminal's size (resizes follow in the relay).
        console_size: if a.tty {
            use std::os::fd::AsFd;
            let (out, inp) = (std::io::stdout(), std::io::stdin());
            super::terminal::client_window_size(out.as_fd(), inp.as_fd())
        } else {
            None
        },
    };
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let _raw = if a.tty && a.interactive && stdin.is_terminal() && !a.detach {
        use std::os::fd::AsFd;
        Some(super::terminal::RawMode::enable(stdin.as_fd())?)
    } else {
        None
    };
    match engine.exec(container, &req) {
        Ok(code) => Ok(code),
        Err(
            e @ (EngineError::NoSuchContainer(_)
            | EngineError::NotRunning(_)
            | EngineError::Paused(_)),
        ) => Err(e.into()),
        Err(e) => {
            let text = e.to_string();
            let code = match berth_engine::shim_proto::start_error_code(&text) {
                125 => 1,
                c => c,
            };
            eprintln!("Error: {text}");
            Ok(code)
        }
    }
}

/// `berth info`.
pub fn info(cli: &Cli, a: &InfoArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let listed = engine.list(ListOptions {
        all: true,
        size: false,
    })?;
    let mut c = super::info::Counts {
        containers: listed.len(),
        ..Default::default()
    };
    for l in &listed {
        match l.state.status.as_str() {
            "running" | "restarting" => c.running += 1,
            "paused" => c.paused += 1,
            _ => c.stopped += 1,
        }
    }
    c.images = engine.images()?.images()?.len();
    let v = super::info::system_info(&c, &cli.globals.root, &cli.globals.storage_driver);
    match &a.format {
        Some(f) => println!("{}", output::render(f, &v)?),
        None => print!("{}", super::info::render(&v)),
    }
    Ok(0)
}

/// `berth system prune`.
pub fn system_prune(cli: &Cli, a: &SystemPruneArgs) -> Result<i32> {
    let f = crate::filters::Filters::parse(&a.filter, &["until", "label", "label!"])?;
    if !a.force {
        let mut warn = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            warn.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            warn.push_str("  - all images without at least one container associated to them\n");
        } else {
            warn.push_str("  - all dangling images\n");
        }
        warn.push_str("  - unused build cache\n\nAre you sure you want to continue?");
        if !output::confirm(&warn)? {
            return Ok(0);
        }
    }
    let engine = super::engine(cli)?;
    let mut total = 0u64;
    let c = super::lifecycle::prune_containers(&engine, &a.filter)?;
    total += c.bytes;
    if !c.ids.is_empty() {
        println!("Deleted Containers:");
        for id in &c.ids {
            println!("{id}");
        }
        println!();
    }
    if a.volumes {
        let users = engine.volume_users()?;
        let (removed, bytes) = volume::prune_volumes(engine.volumes()?, false, &f, &users)?;
        total += bytes;
        if !removed.is_empty() {
            println!("Deleted Volumes:");
            for r in &removed {
                println!("{r}");
            }
            println!();
        }
    }
    let store = engine.images()?;
    let until = f.until(now())?.map(|(s, _)| s);
    let selected = |img: &berth_meta::ImageRecord| {
        let created = img
            .created
            .as_deref()
            .and_then(output::parse_rfc3339)
            .unwrap_or(img.added);
        until.is_none_or(|u| created < u) && f.labels_match(&img.labels)
    };
    let report = store.prune_matching(a.all, &selected)?;
    total += report.reclaimed;
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        for r in &report.removed {
            println!(
                "{}",
                r.to_string()
                    .replacen("Untagged", "untagged", 1)
                    .replacen("Deleted", "deleted", 1)
            );
        }
        println!();
    }
    println!("Total reclaimed space: {}", output::human_size(total));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn quiet_listing_of_everything_reads_no_state() {
        let a = |f: &dyn Fn(&mut PsArgs)| {
            let mut a = PsArgs {
                last: -1,
                ..PsArgs::default()
            };
            f(&mut a);
            ps_needs_state(&a)
        };
        assert!(!a(&|a| {
            a.all = true;
            a.quiet = true;
        }));
        assert!(!a(&|a| {
            a.latest = true;
            a.quiet = true;
            a.filter = vec!["name=x".into()];
        }));
        assert!(a(&|a| a.quiet = true));
        assert!(a(&|a| a.all = true));
        for f in ["status=exited", "Exited=0", "health=none", "bogus"] {
            assert!(
                a(&|a| {
                    a.all = true;
                    a.quiet = true;
                    a.filter = vec![f.into()];
                }),
                "{f}"
            );
        }
        assert!(a(&|a| {
            a.all = true;
            a.quiet = true;
            a.format = Some("{{.Status}}".into());
        }));
    }
}
