//! `--rm`: removing the container once it is gone for good, without the CLI (the monitor calls
//! [`Engine::remove_exited`] on the engine opened here).

use berth_engine::shim_proto::ShimPaths;
use berth_engine::{Engine, EngineOptions};
use std::path::Path;

/// Opens the engine the removal will go through. The monitor of an `--rm` container opens it
/// while the container runs, so the removal does not wait for the database.
pub fn open_engine(root: &Path, runroot: &Path, driver: &str) -> Result<Engine, String> {
    let driver = if driver.is_empty() { "overlay" } else { driver };
    let driver = berth_image::Driver::parse(driver).map_err(|e| e.to_string())?;
    Engine::open(EngineOptions {
        root: root.to_path_buf(),
        runroot: runroot.to_path_buf(),
        driver,
    })
    .map_err(|e| e.to_string())
}

/// Removes the container's directories (when the engine could not remove the container).
pub fn remove_dirs(paths: &ShimPaths) -> Result<(), String> {
    for dir in [&paths.run_dir, &paths.container_dir] {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Ok(())
}
