//! `stop`, `kill`, `restart`, `pause`, `unpause`, `rm`, `wait`, `rename`, `container prune`:
//! each container in turn, its reference printed on success, errors reported per container
//! (exit 1 at the end), as docker does.

use super::options::OptionError;
use crate::cli::Cli;
use crate::cli_containers::{
    ContainerPruneArgs, ContainersArgs, KillArgs, RenameArgs, RmArgs, StopArgs,
};
use crate::filters::Filters;
use crate::output;
use anyhow::Result;
use berth_engine::{Engine, RemoveOptions, StopOptions, WaitCondition};

/// Runs `op` on each container; prints the reference on success, `Error: ...` on failure.
fn each(containers: &[String], mut op: impl FnMut(&str) -> Result<()>) -> i32 {
    let mut status = 0;
    for c in containers {
        match op(c) {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                status = 1;
            }
        }
    }
    status
}

fn stop_options(a: &StopArgs) -> Result<StopOptions> {
    let timeout = match &a.time {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| OptionError::InvalidArgument {
            value: t.clone(),
            flag: "-t, --time",
            reason: format!("strconv.ParseInt: parsing \"{t}\": invalid syntax"),
        })?),
    };
    Ok(StopOptions {
        timeout,
        signal: a.signal.clone(),
    })
}

/// `berth stop`.
pub fn stop(cli: &Cli, a: &StopArgs) -> Result<i32> {
    let o = stop_options(a)?;
    let engine = super::engine(cli)?;
    Ok(each(&a.containers, |c| {
        engine.stop(c, &o)?;
        Ok(())
    }))
}

/// `berth restart`.
pub fn restart(cli: &Cli, a: &StopArgs) -> Result<i32> {
    let o = stop_options(a)?;
    let engine = super::engine(cli)?;
    Ok(each(&a.containers, |c| {
        engine.restart(c, &o)?;
        Ok(())
    }))
}

/// `berth kill`.
pub fn kill(cli: &Cli, a: &KillArgs) -> Result<i32> {
    berth_engine::spec::parse_signal(&a.signal).map_err(|e| OptionError::Invalid(e.to_string()))?;
    let engine = super::engine(cli)?;
    Ok(each(&a.containers, |c| {
        engine.kill(c, Some(&a.signal))?;
        Ok(())
    }))
}

/// `berth pause`.
pub fn pause(cli: &Cli, a: &ContainersArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    Ok(each(&a.containers, |c| {
        engine.pause(c)?;
        Ok(())
    }))
}

/// `berth unpause`.
pub fn unpause(cli: &Cli, a: &ContainersArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    Ok(each(&a.containers, |c| {
        engine.unpause(c)?;
        Ok(())
    }))
}

/// `berth rm`.
pub fn rm(cli: &Cli, a: &RmArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let o = RemoveOptions {
        force: a.force,
        volumes: a.volumes,
    };
    let mut status = 0;
    for c in &a.containers {
        match engine.remove(c, o) {
            Ok(_) => println!("{c}"),
            // docker rm -f of a missing container is quiet and succeeds.
            Err(berth_engine::EngineError::NoSuchContainer(_)) if a.force => {}
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `berth wait`: each container's exit code.
pub fn wait(cli: &Cli, a: &ContainersArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let mut status = 0;
    for c in &a.containers {
        match engine.wait(c, WaitCondition::NotRunning) {
            Ok(r) => println!("{}", r.status_code),
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `berth rename`.
pub fn rename(cli: &Cli, a: &RenameArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    if a.new_name.trim().is_empty() {
        anyhow::bail!("Neither old nor new names may be empty");
    }
    engine.rename(&a.container, &a.new_name)?;
    Ok(0)
}

/// What `container prune` removed.
pub struct Pruned {
    pub ids: Vec<String>,
    pub bytes: u64,
}

/// Removes stopped containers matching `until=`/`label=` filters.
pub fn prune_containers(engine: &Engine, filters: &[String]) -> Result<Pruned> {
    let f = Filters::parse(filters, &["until", "label", "label!"])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let until_ns = f.until(now)?.map(|(s, n)| s * 1_000_000_000 + i64::from(n));
    let mut labels: Vec<String> = f
        .values("label")
        .iter()
        .map(|l| format!("label={l}"))
        .collect();
    labels.extend(f.values("label!").iter().map(|l| format!("label!={l}")));
    let r = engine.prune(&labels, until_ns)?;
    Ok(Pruned {
        ids: r.containers_deleted.unwrap_or_default(),
        bytes: r.space_reclaimed,
    })
}

/// `berth container prune`.
pub fn prune(cli: &Cli, a: &ContainerPruneArgs) -> Result<i32> {
    Filters::parse(&a.filter, &["until", "label", "label!"])?;
    if !a.force
        && !output::confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(0);
    }
    let engine = super::engine(cli)?;
    let p = prune_containers(&engine, &a.filter)?;
    if !p.ids.is_empty() {
        println!("Deleted Containers:");
        for id in &p.ids {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", output::human_size(p.bytes));
    Ok(0)
}
