//! The busybox base image: a static busybox from the host, one symlink per applet pointing at
//! `/bin/busybox`, a minimal `/etc` (passwd, group) and the usual empty directories.

use super::{elf, image_config, tree, BootstrapError};
use crate::manifest::ImageConfig;
use berth_oci::Platform;
use sha2::{Digest as _, Sha256};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where Debian's `busybox-static` package installs its binary.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";

/// Where the binary lives inside the image; every applet link points here.
const BUSYBOX_IN_IMAGE: &str = "/bin/busybox";

/// Directories of the image and their modes (parents before children).
const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("root", 0o700),
    ("tmp", 0o1777),
    ("var", 0o755),
    ("proc", 0o755),
    ("sys", 0o755),
    ("dev", 0o755),
];

const ETC_PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

const ETC_GROUP: &str = "\
root:x:0:
nobody:x:65534:
";

/// Fills the empty (or missing) directory `dir` with a busybox image made from the static
/// busybox binary at `busybox` (see [`DEFAULT_BUSYBOX`]). The image's architecture is the
/// binary's. Returns its config (`Cmd ["sh"]`, `PATH` set).
///
/// The binary must be a static ELF executable (no `PT_INTERP`): a dynamic one would not run in
/// the image without its libraries. Its applets are listed by running it (`--list-full`, else
/// `--list` into `/bin`), so it must be runnable on this host.
pub fn busybox_rootfs(dir: &Path, busybox: &Path) -> Result<ImageConfig, BootstrapError> {
    let bytes = std::fs::read(busybox).map_err(|source| BootstrapError::ReadBusybox {
        path: busybox.to_path_buf(),
        source,
    })?;
    let info = elf::parse(&bytes).ok_or_else(|| BootstrapError::NotElf {
        path: busybox.to_path_buf(),
    })?;
    if let Some(interp) = info.interp.clone() {
        return Err(BootstrapError::NotStatic {
            path: busybox.to_path_buf(),
            interp,
        });
    }
    let arch = elf::go_arch(&info).ok_or(BootstrapError::UnknownMachine {
        path: busybox.to_path_buf(),
        machine: info.machine,
    })?;

    tree::prepare_empty_dir(dir)?;
    for (rel, mode) in DIRS {
        tree::make_dir(&dir.join(rel), *mode)?;
    }
    let bin = dir.join("bin/busybox");
    tree::write_file(&bin, &bytes, 0o755)?;
    tree::write_file(&dir.join("etc/passwd"), ETC_PASSWD.as_bytes(), 0o644)?;
    tree::write_file(&dir.join("etc/group"), ETC_GROUP.as_bytes(), 0o644)?;

    for applet in applets(&bin)? {
        let link = dir.join(&applet);
        if link.symlink_metadata().is_ok() {
            continue; // listed twice, or a path we made (bin/busybox itself)
        }
        if let Some(parent) = applet.parent() {
            tree::make_dirs(dir, parent)?;
        }
        tree::symlink(Path::new(BUSYBOX_IN_IMAGE), &link)?;
    }
    tree::normalize(dir)?;

    let version = version(&bin);
    let comment = format!(
        "{} static binary sha256:{:x}",
        version.as_deref().unwrap_or("busybox"),
        Sha256::digest(&bytes)
    );
    Ok(image_config(
        Platform::new("linux", arch, None),
        vec!["sh".to_string()],
        "berth image bootstrap busybox",
        comment,
    ))
}

/// The applet paths (relative to the root) of the busybox at `bin`: `--list-full` gives
/// `usr/bin/env`-like paths; a build without it gets its `--list` names in `bin/`. Top-level
/// names (`linuxrc`, for an initramfs) are left out.
fn applets(bin: &Path) -> Result<Vec<PathBuf>, BootstrapError> {
    let full = run(bin, "--list-full")?;
    let (out, in_bin) = if full.status.success() && !full.stdout.is_empty() {
        (full, false)
    } else {
        let list = run(bin, "--list")?;
        if !list.status.success() || list.stdout.is_empty() {
            return Err(BootstrapError::BusyboxFailed {
                path: bin.to_path_buf(),
                arg: "--list",
                status: list.status.to_string(),
                stderr: String::from_utf8_lossy(&list.stderr).trim().to_string(),
            });
        }
        (list, true)
    };
    let mut paths = Vec::new();
    for line in out.stdout.split(|&c| c == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let rel = if in_bin {
            Path::new("bin").join(OsStr::from_bytes(line))
        } else {
            PathBuf::from(OsStr::from_bytes(line))
        };
        let bad = || BootstrapError::BadApplet {
            path: bin.to_path_buf(),
            applet: String::from_utf8_lossy(line).into_owned(),
        };
        if line.contains(&0) || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad());
        }
        if in_bin && rel.components().count() != 2 {
            return Err(bad());
        }
        if rel.components().count() < 2 {
            continue;
        }
        paths.push(rel);
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The first line of `busybox --help` (`BusyBox v1.35.0 (...) multi-call binary.`), if it runs.
fn version(bin: &Path) -> Option<String> {
    let out = run(bin, "--help").ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    let v = first.strip_suffix(" multi-call binary.").unwrap_or(first);
    v.starts_with("BusyBox").then(|| v.to_string())
}

/// Runs `bin arg` with an empty environment. The binary was just written: while another
/// thread's fork still holds a writable fd to it, exec fails with ETXTBSY, so retry a while.
fn run(bin: &Path, arg: &'static str) -> Result<Output, BootstrapError> {
    let mut tries = 0;
    loop {
        let res = Command::new(bin)
            .arg(arg)
            .env_clear()
            .stdin(Stdio::null())
            .output();
        match res {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(source) => {
                return Err(BootstrapError::RunBusybox {
                    path: bin.to_path_buf(),
                    arg,
                    source,
                })
            }
            Ok(out) => return Ok(out),
        }
    }
}
