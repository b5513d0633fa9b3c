//! Images without a registry: base images Berth builds on the spot, offline.
//!
//! - hello-world: `/hello`, a tiny static program Berth writes itself ([`hello_elf`]).
//! - busybox: a static busybox binary from the host (Debian's `busybox-static` installs it at
//!   `/bin/busybox`), a symlink per applet, and a minimal `/etc`.
//!
//! Each builder fills an empty directory and returns the image config (with `rootfs.diff_ids`
//! left empty: the import of the directory fills it). Builds are reproducible: every entry is
//! owned by 0:0 (when run as root), has a fixed mode and the fixed time [`FIXED_MTIME`], and the
//! config's `created` is [`FIXED_CREATED`], so the same inputs give the same image ID anywhere.

mod busybox;
mod elf;
mod error;
mod hello;
mod tree;

pub use busybox::{busybox_rootfs, DEFAULT_BUSYBOX};
pub use error::BootstrapError;
pub use hello::{hello_elf, HELLO_MESSAGE};
pub use tree::{FIXED_CREATED, FIXED_MTIME};

use crate::manifest::{ContainerConfig, History, ImageConfig, RootFs};
use berth_oci::Platform;
use std::path::Path;

/// `PATH` of both bootstrap images (Docker's default).
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Fills the empty (or missing) directory `dir` with the hello-world image for this host's
/// architecture: just `/hello` (0755). Returns its config (`Cmd ["/hello"]`).
pub fn hello_world_rootfs(dir: &Path) -> Result<ImageConfig, BootstrapError> {
    hello_world_rootfs_for(dir, std::env::consts::ARCH)
}

/// [`hello_world_rootfs`] for another architecture (`amd64`/`x86_64` or `arm64`/`aarch64`).
pub fn hello_world_rootfs_for(dir: &Path, arch: &str) -> Result<ImageConfig, BootstrapError> {
    let program = hello_elf(arch).ok_or_else(|| BootstrapError::UnsupportedArch {
        arch: arch.to_string(),
    })?;
    tree::prepare_empty_dir(dir)?;
    tree::write_file(&dir.join("hello"), &program, 0o755)?;
    tree::normalize(dir)?;
    Ok(image_config(
        Platform::new("linux", arch, None),
        vec!["/hello".to_string()],
        "berth image bootstrap hello-world",
        "/hello: Berth's own static hello-world program".to_string(),
    ))
}

/// The config of a one-layer bootstrap image.
fn image_config(
    platform: Platform,
    cmd: Vec<String>,
    created_by: &str,
    comment: String,
) -> ImageConfig {
    ImageConfig {
        created: Some(FIXED_CREATED.to_string()),
        architecture: platform.architecture,
        os: platform.os,
        variant: platform.variant,
        config: Some(ContainerConfig {
            env: Some(vec![DEFAULT_PATH_ENV.to_string()]),
            cmd: Some(cmd),
            ..ContainerConfig::default()
        }),
        rootfs: RootFs::default(),
        history: vec![History {
            created: Some(FIXED_CREATED.to_string()),
            created_by: Some(created_by.to_string()),
            comment: Some(comment),
            ..History::default()
        }],
        ..ImageConfig::default()
    }
}

#[cfg(test)]
mod tests;
