//! `berth image mount` / `unmount` (as podman has them): a read-only view of an image's layers
//! mounted under the run root, for bundles and for looking inside an image.

use crate::cli::MountArgs;
use anyhow::{bail, Context, Result};
use berth_image::{layer_key, ImageStore};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

fn view_key(id: &berth_oci::Digest) -> String {
    format!("mount-{}", id.hex())
}

fn target(runroot: &Path, id: &berth_oci::Digest) -> PathBuf {
    runroot.join("image-mounts").join(id.hex())
}

/// Mounts the image read-only and prints where.
pub fn mount_image(store: &ImageStore, runroot: &Path, a: &MountArgs) -> Result<i32> {
    for name in &a.images {
        let id = store.resolve(name)?;
        let rec = store.image(&id)?;
        let target = target(runroot, &id);
        if is_mountpoint(&target)? {
            println!("{}", target.display());
            continue;
        }
        let Some(top) = rec.layers.last() else {
            bail!("image {name} has no layers to mount");
        };
        let snaps = store.snapshotter();
        let key = view_key(&id);
        // Recorded like a container's use of the image: GC keeps the view, rmi refuses.
        store.meta().put_container_ref(&berth_meta::ContainerRef {
            id: key.clone(),
            name: key.clone(),
            image_id: id.clone(),
            snapshot_key: Some(key.clone()),
        })?;
        let mounts = match snaps.mounts(&key) {
            Ok(m) => m,
            Err(_) => snaps.view(&key, Some(&layer_key(top)))?,
        };
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        let m = &mounts[0];
        let result = if m.typ == "bind" {
            mount(
                Some(m.source.as_str()),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .and_then(|_| {
                mount(
                    None::<&str>,
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
            })
        } else {
            // Relative lowerdirs (deep images) resolve from the snapshot directory.
            let here = std::env::current_dir().context("reading the working directory")?;
            let dir = store.root().join(store.driver().name()).join("snapshots");
            std::env::set_current_dir(&dir)
                .with_context(|| format!("entering {}", dir.display()))?;
            let r = mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::MS_RDONLY,
                Some(m.options.join(",").as_str()),
            );
            std::env::set_current_dir(here).context("restoring the working directory")?;
            r
        };
        if let Err(e) = result {
            let _ = std::fs::remove_dir(&target);
            let _ = snaps.remove(&key);
            let _ = store.meta().delete_container_ref(&key);
            bail!("mounting image {name} at {}: {e}", target.display());
        }
        println!("{}", target.display());
    }
    Ok(0)
}

/// Unmounts what `mount_image` mounted and drops its view.
pub fn unmount_image(store: &ImageStore, runroot: &Path, a: &MountArgs) -> Result<i32> {
    for name in &a.images {
        let id = store.resolve(name)?;
        let target = target(runroot, &id);
        if is_mountpoint(&target)? {
            umount2(&target, MntFlags::MNT_DETACH)
                .with_context(|| format!("unmounting {}", target.display()))?;
        }
        let _ = std::fs::remove_dir(&target);
        let key = view_key(&id);
        if store.snapshotter().stat(&key).is_ok() {
            store.snapshotter().remove(&key)?;
        }
        store.meta().delete_container_ref(&key)?;
        println!("{}", id.hex());
    }
    Ok(0)
}

/// Whether `path` is a mount point (listed in this process's mountinfo).
fn is_mountpoint(path: &Path) -> Result<bool> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let want = path.to_string_lossy();
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want))
}
