//! `--rm`: removing the container once it is gone for good, without the CLI.

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

/// Removes exited container `id` through `engine` (its DB row, directories and anonymous
/// volumes, as `docker run --rm` does), calling `released` once its name is free. Should the
/// engine refuse or fail to open, the container's directories are removed so nothing of it keeps
/// holding space; `system check` then drops its row.
pub fn remove_container(
    engine: Result<&Engine, String>,
    paths: &ShimPaths,
    id: &str,
    released: &mut dyn FnMut(),
) -> Result<(), String> {
    let engine_result = engine.and_then(|engine| {
        engine
            .remove_exited(id, released)
            .map_err(|e| e.to_string())
    });
    let Err(why) = engine_result else {
        return Ok(());
    };
    for dir in [&paths.run_dir, &paths.container_dir] {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{why}; then {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "the engine could not remove it ({why}): removed its directories"
    ))
}
