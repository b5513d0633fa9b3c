//! System commands: df, check, version.

use crate::cli::{CheckArgs, DfArgs};
use crate::output::{self, Column};
use anyhow::Result;
use berth_image::ImageStore;
use serde_json::json;

/// `berth system df`.
pub fn df(store: &ImageStore, a: &DfArgs) -> Result<i32> {
    let du = store.disk_usage()?;
    let pct = |part: u64, whole: u64| (part * 100).checked_div(whole).unwrap_or(0);
    let rows = vec![
        json!({
            "Type": "Images",
            "TotalCount": du.images.to_string(),
            "Active": du.active_images.to_string(),
            "Size": output::human_size(du.images_size),
            "Reclaimable": format!("{} ({}%)", output::human_size(du.reclaimable), pct(du.reclaimable, du.images_size)),
        }),
        json!({"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let columns = [
        Column::new("Type", "TYPE"),
        Column::new("TotalCount", "TOTAL"),
        Column::new("Active", "ACTIVE"),
        Column::new("Size", "SIZE"),
        Column::new("Reclaimable", "RECLAIMABLE"),
    ];
    if !a.verbose {
        output::print(&rows, a.format.as_deref(), &columns)?;
        return Ok(0);
    }
    println!("Images space usage:\n");
    let mut images = Vec::new();
    for u in store.disk_usage_by_image()? {
        let created = u.created.as_deref().and_then(output::parse_rfc3339);
        let mut names: Vec<(String, String)> = u
            .tags
            .iter()
            .filter_map(|t| berth_oci::Reference::parse(t).ok())
            .map(|r| (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()))
            .collect();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in names {
            images.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": berth_image::short_id(&u.id),
                "CreatedSince": created.map(output::since).unwrap_or_else(|| "N/A".into()),
                "Size": output::human_size(u.size),
                "SharedSize": output::human_size(u.shared),
                "UniqueSize": output::human_size(u.size - u.shared.min(u.size)),
                "Containers": u.containers.to_string(),
            }));
        }
    }
    output::print(
        &images,
        None,
        &[
            Column::new("Repository", "REPOSITORY"),
            Column::new("Tag", "TAG"),
            Column::new("ID", "IMAGE ID"),
            Column::new("CreatedSince", "CREATED"),
            Column::new("Size", "SIZE"),
            Column::new("SharedSize", "SHARED SIZE"),
            Column::new("UniqueSize", "UNIQUE SIZE"),
            Column::new("Containers", "CONTAINERS"),
        ],
    )?;
    println!("\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES");
    println!("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE");
    println!("\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED");
    println!(
        "\nContent store (blobs): {}",
        output::human_size(du.blobs_size)
    );
    Ok(0)
}

/// `berth system check [--repair]`: exit status 0 when the store is consistent.
pub fn check(store: &ImageStore, a: &CheckArgs) -> Result<i32> {
    let report = store.check(a.repair)?;
    for p in &report.problems {
        match &p.repaired {
            Some(how) if a.repair => println!("repaired: {}: {how}", p.what),
            _ => println!("problem: {}", p.what),
        }
    }
    if !a.quiet {
        for g in &report.garbage {
            println!("{g}");
        }
        println!(
            "checked {} images, {} layers, {} blobs: {}",
            report.images,
            report.layers,
            report.blobs,
            if report.problems.is_empty() {
                "consistent".to_string()
            } else if a.repair && report.is_clean() {
                format!("{} problems repaired", report.problems.len())
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    let clean = if a.repair {
        report.is_clean()
    } else {
        report.problems.is_empty()
    };
    Ok(if clean { 0 } else { 1 })
}

/// `berth version`.
pub fn version() -> Result<i32> {
    println!("Berth version {}", env!("CARGO_PKG_VERSION"));
    println!(" OS/Arch: {}", berth_oci::Platform::host());
    Ok(0)
}

/// `berth system sync`: makes unsynced loads durable.
pub fn sync(store: &ImageStore) -> Result<i32> {
    store.sync()?;
    Ok(0)
}

/// Starts `berth system sync` for this store, detached: the load has returned, the data reaches
/// the disk meanwhile. Failing to start it only delays durability to the next sync.
pub fn sync_in_background(cli: &crate::cli::Cli) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let _ = std::process::Command::new(exe)
        .arg("--root")
        .arg(&cli.globals.root)
        .arg("--storage-driver")
        .arg(&cli.globals.storage_driver)
        .args(["system", "sync"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
}
