//! logs: the container's json-file log through [`crate::logfile`].

use crate::engine::Engine;
use crate::error::Result;
use crate::logfile::{LogEntry, ReadOptions};
use std::path::PathBuf;

impl Engine {
    /// The log file of a container (for the CLI's own reader), after lookup.
    pub fn log_path(&self, reference: &str) -> Result<(String, PathBuf)> {
        let rec = self.lookup(reference)?;
        let path = self.paths.log_file(&rec.id);
        Ok((rec.id, path))
    }

    /// Calls `f` with each selected entry; with `follow`, keeps reading until the container
    /// stops or `f` returns false.
    pub fn logs(
        &self,
        reference: &str,
        opts: &ReadOptions,
        follow: bool,
        f: &mut dyn FnMut(&LogEntry) -> bool,
    ) -> Result<()> {
        let (id, path) = self.log_path(reference)?;
        if !follow {
            crate::logfile::read(&path, opts, f)?;
            return Ok(());
        }
        let paths = self.paths.clone();
        let mut running = move || {
            crate::state::load(&paths, &id)
                .map(|s| s.status.is_active())
                .unwrap_or(false)
        };
        crate::logfile::follow(
            &path,
            opts,
            std::time::Duration::from_millis(100),
            &mut running,
            f,
        )?;
        Ok(())
    }
}
