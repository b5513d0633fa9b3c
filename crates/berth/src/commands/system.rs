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
    output::print(&rows, a.format.as_deref(), &columns)?;
    if a.verbose {
        println!(
            "\nBlobs (content store): {}",
            output::human_size(du.blobs_size)
        );
    }
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
