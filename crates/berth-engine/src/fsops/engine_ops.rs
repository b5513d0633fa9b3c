//! `cp`, `diff`, `export` and `commit` on a container by name or ID: the running container's
//! mounted root, or (stopped) its snapshot mounted for the operation and unmounted after.

use super::{copy, diff, FsError};
use crate::engine::Engine;
use crate::mounting;
use crate::record::ContainerRecord;
use crate::types::Change;
use berth_image::{layer_key, CommitOptions};
use berth_oci::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

impl Engine {
    /// Runs `f` on container `reference`'s mounted root filesystem.
    fn with_rootfs<T>(
        &self,
        reference: &str,
        f: impl FnOnce(&ContainerRecord, &Path) -> Result<T, FsError>,
    ) -> Result<T, FsError> {
        let rec = self.lookup(reference)?;
        let _lock = crate::lock::lock(self.paths(), &rec.id)?;
        if let Some(view) = self.running_rootfs(&rec.id) {
            return f(&rec, &view);
        }
        let target = self.paths().rootfs(&rec.id);
        // Mounted for this operation only: in a namespace of our own when we can, so that even
        // a killed `cp` leaves no mount behind.
        mounting::enter_private_namespace()?;
        let snaps_dir = self.paths().snapshots_dir(self.driver.name());
        mounting::mount_rootfs(
            self.paths(),
            &rec.id,
            self.snapshotter()?.as_ref(),
            &rec.snapshot_key,
            &snaps_dir,
            mounting::MountMode::default(),
        )?;
        let out = f(&rec, &target);
        // Still stopped (we hold the lock): release the temporary mount.
        mounting::unmount_rootfs(self.paths(), &rec.id)?;
        out
    }

    /// Where the rootfs of container `id` is mounted and reachable from here, if it is (see
    /// [`mounting::rootfs_view`]).
    pub(crate) fn running_rootfs(&self, id: &str) -> Option<PathBuf> {
        let st = crate::state::load(self.paths(), id).ok()?;
        let alive = crate::state::shim_alive(self.paths(), id, &st);
        mounting::rootfs_view(self.paths(), id, if alive { st.shim_pid } else { 0 })
    }

    /// `docker cp <container>:<path> -`: `path` as a tar stream.
    pub fn copy_from(
        &self,
        reference: &str,
        path: &str,
        out: &mut dyn Write,
    ) -> Result<copy::PathStat, FsError> {
        self.with_rootfs(reference, |_, root| {
            copy::copy_from_container(root, path, out)
        })
    }

    /// Stat of a path in the container (`HEAD /containers/{id}/archive`).
    pub fn stat_path(&self, reference: &str, path: &str) -> Result<copy::PathStat, FsError> {
        self.with_rootfs(reference, |_, root| copy::stat(root, path))
    }

    /// `docker cp - <container>:<dir>`: extracts a tar stream into directory `dir`.
    pub fn copy_into(
        &self,
        reference: &str,
        dir: &str,
        input: &mut dyn Read,
    ) -> Result<(), FsError> {
        self.with_rootfs(reference, |_, root| {
            copy::copy_into_container(root, dir, input)
        })
    }

    /// `docker export`.
    pub fn export(&self, reference: &str, out: &mut dyn Write) -> Result<(), FsError> {
        self.with_rootfs(reference, |_, root| copy::export(root, out))
    }

    /// The writable layer and the image's layer directories of a container.
    fn layers_of(&self, rec: &ContainerRecord) -> Result<(PathBuf, Vec<PathBuf>), FsError> {
        let images = self.images()?;
        let snaps = images.snapshotter();
        let upper = snaps
            .layer_dir(&rec.snapshot_key)
            .map_err(|e| FsError::Invalid(format!("container {}: {e}", rec.id)))?;
        let image_id: Digest = rec
            .image_id
            .parse()
            .map_err(|_| FsError::Invalid(format!("container {}: bad image id", rec.id)))?;
        let mut lowers = Vec::new();
        if let Ok(image) = images.image(&image_id) {
            for chain in &image.layers {
                if let Ok(dir) = snaps.layer_dir(&layer_key(chain)) {
                    lowers.push(dir);
                }
            }
        }
        Ok((upper, lowers))
    }

    /// `docker diff`: changes against the image (overlay driver: the upper dir's entries).
    pub fn diff(&self, reference: &str) -> Result<Vec<Change>, FsError> {
        let rec = self.lookup(reference)?;
        let (upper, lowers) = self.layers_of(&rec)?;
        diff::changes(&upper, &lowers)
    }

    /// `docker commit`: a new image from the container's changes, on top of its image. `opts`'s
    /// `container_config` defaults to the container's config when null. Pauses a running
    /// container for the copy when `pause` (docker's default).
    pub fn commit(
        &self,
        reference: &str,
        mut opts: CommitOptions,
        pause: bool,
    ) -> Result<Digest, FsError> {
        let rec = self.lookup(reference)?;
        if opts.container_config.is_null() {
            opts.container_config =
                serde_json::to_value(&rec.config).map_err(|e| FsError::Invalid(e.to_string()))?;
        }
        if opts.created_by.is_empty() {
            opts.created_by = std::iter::once(rec.path.clone())
                .chain(rec.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
        }
        let (upper, _) = self.layers_of(&rec)?;
        let paused = pause && self.pause(&rec.id).is_ok();
        let parent: Digest = rec
            .image_id
            .parse()
            .map_err(|_| FsError::Invalid(format!("container {}: bad image id", rec.id)))?;
        let result = self
            .images()?
            .commit_layer(&parent, &upper, &opts)
            .map_err(|e| FsError::Invalid(e.to_string()));
        if paused {
            let _ = self.unpause(&rec.id);
        }
        result
    }
}
