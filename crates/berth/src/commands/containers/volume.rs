//! `berth volume create|ls|inspect|rm|prune` over the engine's local volume store.

use crate::cli::Cli;
use crate::cli_containers::{
    VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::filters::Filters;
use crate::output::{self, Column};
use anyhow::{bail, Context, Result};
use berth_engine::types::{StringMap, Volume};
use berth_engine::volumes::{VolumeError, Volumes};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Which containers use which volume (volume name -> container names).
pub type Users = BTreeMap<String, Vec<String>>;

/// Runs a volume verb; `users` says which containers use each volume.
pub fn run(cli: &Cli, cmd: &VolumeCommand, users: &dyn Fn() -> Result<Users>) -> Result<i32> {
    let store = Volumes::open(&cli.globals.root)
        .with_context(|| format!("opening the volume store in {}", cli.globals.root.display()))?;
    match cmd {
        VolumeCommand::Create(a) => create(&store, a),
        VolumeCommand::Ls(a) => list(&store, a, &users()?),
        VolumeCommand::Inspect(a) => inspect(&store, a),
        VolumeCommand::Rm(a) => remove(&store, a, &users()?),
        VolumeCommand::Prune(a) => prune(&store, a, &users()?),
    }
}

fn key_values(values: &[String], flag: &str) -> Result<StringMap> {
    let mut m = StringMap::new();
    for v in values {
        match v.split_once('=') {
            Some((k, val)) => m.insert(k.to_string(), val.to_string()),
            None if flag == "--label" => m.insert(v.clone(), String::new()),
            None => bail!(
                "invalid argument {v:?} for \"{flag}\" flag: invalid key value pair format: {v}"
            ),
        };
    }
    Ok(m)
}

fn create(store: &Volumes, a: &VolumeCreateArgs) -> Result<i32> {
    let v = store.create(
        a.name.as_deref(),
        &a.driver,
        key_values(&a.label, "--label")?,
        key_values(&a.opt, "-o, --opt")?,
    )?;
    println!("{}", v.name);
    Ok(0)
}

fn labels_of(v: &Volume) -> BTreeMap<String, String> {
    v.labels.clone().unwrap_or_default()
}

fn list(store: &Volumes, a: &VolumeLsArgs, users: &Users) -> Result<i32> {
    let f = Filters::parse(&a.filter, &["dangling", "driver", "label", "name"])?;
    let dangling = f.bool_value("dangling")?;
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for v in store.list()? {
        let used = users.get(&v.name).is_some_and(|u| !u.is_empty());
        if dangling.is_some_and(|d| d == used) {
            continue;
        }
        if f.contains("driver") && !f.values("driver").contains(&v.driver) {
            continue;
        }
        if f.contains("name") && !f.values("name").iter().any(|n| v.name.contains(n.as_str())) {
            continue;
        }
        if !f.labels_match(&labels_of(&v)) {
            continue;
        }
        names.push(v.name.clone());
        rows.push(json!({
            "Name": v.name,
            "Driver": v.driver,
            "Scope": v.scope,
            "Mountpoint": v.mountpoint,
            "CreatedAt": v.created_at,
            "Labels": labels_of(&v).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            "Links": users.get(&v.name).map(|u| u.len().to_string()).unwrap_or_else(|| "0".into()),
            "Size": "N/A",
        }));
    }
    if a.quiet && a.format.is_none() {
        for n in names {
            println!("{n}");
        }
        return Ok(0);
    }
    output::print(
        &rows,
        a.format.as_deref(),
        &[
            Column::new("Driver", "DRIVER"),
            Column::new("Name", "VOLUME NAME"),
        ],
    )?;
    Ok(0)
}

fn inspect(store: &Volumes, a: &VolumeInspectArgs) -> Result<i32> {
    let mut values = Vec::new();
    let mut status = 0;
    for n in &a.names {
        match store.get(n) {
            Ok(v) => values.push(serde_json::to_value(&v)?),
            Err(VolumeError::NotFound(_)) => {
                eprintln!("Error: No such volume: {n}");
                status = 1;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    print_inspect(values, a.format.as_deref())?;
    Ok(status)
}

/// Prints inspect results: a JSON array, or each through `-f`.
pub fn print_inspect(values: Vec<Value>, format: Option<&str>) -> Result<()> {
    match format {
        Some(f) => {
            for v in &values {
                println!("{}", output::render(f, v)?);
            }
        }
        None => println!("{}", output::inspect_json(values)),
    }
    Ok(())
}

fn remove(store: &Volumes, a: &VolumeRmArgs, users: &Users) -> Result<i32> {
    let mut status = 0;
    for n in &a.names {
        let u = users.get(n).cloned().unwrap_or_default();
        match store.remove(n, &u) {
            Ok(()) => println!("{n}"),
            Err(VolumeError::NotFound(_)) if a.force => {}
            Err(VolumeError::NotFound(_)) => {
                eprintln!("Error: No such volume: {n}");
                status = 1;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}

fn prune(store: &Volumes, a: &VolumePruneArgs, users: &Users) -> Result<i32> {
    let f = Filters::parse(&a.filter, &["label", "label!", "all"])?;
    let all = a.all || f.bool_value("all")?.unwrap_or(false);
    if !a.force {
        let what = if all {
            "all local volumes not used by at least one container"
        } else {
            "anonymous local volumes not used by at least one container"
        };
        if !output::confirm(&format!(
            "WARNING! This will remove {what}.\nAre you sure you want to continue?"
        ))? {
            return Ok(0);
        }
    }
    let (removed, bytes) = prune_volumes(store, all, &f, users)?;
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for r in &removed {
            println!("{r}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", output::human_size(bytes));
    Ok(0)
}

/// Removes unused volumes matching `f` (anonymous only unless `all`).
pub fn prune_volumes(
    store: &Volumes,
    all: bool,
    f: &Filters,
    users: &Users,
) -> Result<(Vec<String>, u64)> {
    let in_use: BTreeSet<String> = users
        .iter()
        .filter(|(_, u)| !u.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    let mut label_f = Filters::new();
    for l in f.values("label") {
        label_f.add("label", l);
    }
    let negated: Vec<String> = f.values("label!").to_vec();
    let keep = |v: &Volume| {
        let labels = labels_of(v);
        if !label_f.labels_match(&labels) {
            return true;
        }
        negated.iter().any(|n| {
            let (k, val) = n
                .split_once('=')
                .map_or((n.as_str(), None), |(k, v)| (k, Some(v)));
            labels
                .get(k)
                .is_some_and(|have| val.is_none_or(|want| want == have))
        })
    };
    Ok(store.prune(&in_use, all, keep)?)
}
