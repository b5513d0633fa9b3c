//! After the pivot: sysctls, `readonlyPaths`, `maskedPaths`, a read-only `/dev` when asked, the
//! read-only root, and `rootfsPropagation` applied once more to the new `/`.
//!
//! Paths are resolved inside the (new) root with `openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`
//! and mounted on through `/proc/self/fd/N` when the container has a /proc.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::{LinuxNamespaceType, Spec};
use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, Mode, SFlag};

use super::mounts::{is_bind, remount_bind};
use super::resolve::{clean, fd_path, io_errno, Root};
use super::RootfsError;

/// Turns a sysctl key (`net.ipv4.ip_forward`) into its path below /proc/sys, refusing keys that
/// are empty or absolute.
pub(crate) fn sysctl_path(key: &str) -> Result<PathBuf, RootfsError> {
    let rel = key.replace('.', "/");
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == ".." || c == ".");
    if bad {
        return Err(RootfsError::InvalidSysctl(key.to_owned()));
    }
    Ok(PathBuf::from(rel))
}

/// The namespace a sysctl belongs to, or `None` when it is not namespaced (it would change the
/// whole host).
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = key.replace('/', ".");
    if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Checks every `linux.sysctl` key: a plain name, of a namespace the container has its own of.
/// Cheap and side-effect free: callers may run it before creating anything.
pub fn validate_sysctls(spec: &Spec) -> Result<(), RootfsError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for key in map.keys() {
        sysctl_path(key)?;
        let ns = sysctl_namespace(key);
        if !ns.is_some_and(|ns| super::has_namespace(spec, ns)) {
            return Err(RootfsError::SysctlNamespace {
                key: key.clone(),
                namespace: match ns {
                    Some(LinuxNamespaceType::Ipc) => "ipc",
                    Some(LinuxNamespaceType::Network) => "network",
                    Some(_) => "uts",
                    None => "(none: not namespaced)",
                },
            });
        }
    }
    Ok(())
}

fn sysctls(spec: &Spec) -> Result<(), RootfsError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if map.is_empty() {
        return Ok(());
    }
    validate_sysctls(spec)?;
    let mut dir: Option<OwnedFd> = None;
    for (key, value) in map {
        let rel = sysctl_path(key)?;
        let err = |source| RootfsError::Sysctl {
            key: key.clone(),
            value: value.clone(),
            source,
        };
        if dir.is_none() {
            dir = Some(
                berth_sys::mount::openat(
                    None,
                    Path::new("/proc/sys"),
                    OFlag::O_PATH | OFlag::O_DIRECTORY,
                    Mode::empty(),
                )
                .map_err(err)?,
            );
        }
        let Some(d) = dir.as_ref() else { continue };
        let fd = berth_sys::mount::openat2(
            d.as_fd(),
            &rel,
            OFlag::O_WRONLY,
            Mode::empty(),
            ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
        )
        .map_err(err)?;
        std::fs::File::from(fd)
            .write_all(value.as_bytes())
            .map_err(|e| err(io_errno(e)))?;
    }
    Ok(())
}

/// Where to mount for an fd: its /proc/self/fd path when /proc is there, else the plain path
/// (after the pivot, a plain path cannot leave the container's root).
struct Targets {
    proc_fd: bool,
}

impl Targets {
    fn of(&self, fd: &OwnedFd, path: &Path) -> PathBuf {
        if self.proc_fd {
            fd_path(fd.as_fd())
        } else {
            path.to_owned()
        }
    }
}

/// Remounts read-only, keeping the mount's other flags (nosuid, nodev, noexec, atime).
fn remount_ro(target: &Path) -> Result<(), Errno> {
    let current = nix::sys::statvfs::statvfs(target)?.flags();
    use nix::sys::statvfs::FsFlags;
    let mut flags = MsFlags::MS_RDONLY;
    for (sf, mf) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(sf) {
            flags |= mf;
        }
    }
    remount_bind(target, flags)
}

fn readonly_path(root: &Root, t: &Targets, path: &Path) -> Result<(), RootfsError> {
    let err = |source| RootfsError::ReadonlyPath {
        path: path.to_owned(),
        source,
    };
    let fd = match root.open_path(path) {
        Err(Errno::ENOENT) => return Ok(()),
        r => r.map_err(err)?,
    };
    let target = t.of(&fd, path);
    nix::mount::mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(err)?;
    drop(fd);
    // Open again: the new mount now covers the old fd's place.
    let fd = root.open_path(path).map_err(err)?;
    remount_ro(&t.of(&fd, path)).map_err(err)
}

fn mask_path(root: &Root, t: &Targets, path: &Path) -> Result<(), RootfsError> {
    let err = |source| RootfsError::MaskPath {
        path: path.to_owned(),
        source,
    };
    let fd = match root.open_path(path) {
        Err(Errno::ENOENT) => return Ok(()),
        r => r.map_err(err)?,
    };
    let st = fstat(fd.as_raw_fd()).map_err(err)?;
    let target = t.of(&fd, path);
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        nix::mount::mount(
            Some("/dev/null"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    }
    .map_err(err)
}

/// Runs step 5 (see the module doc). `propagation` is the parsed `rootfsPropagation`.
pub(crate) fn finalize(spec: &Spec, propagation: Option<MsFlags>) -> Result<(), RootfsError> {
    sysctls(spec)?;
    let linux = spec.linux().as_ref();
    let readonly = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    let dev_ro = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| {
            clean(m.destination()) == Path::new("/dev")
                && !is_bind(m)
                && m.options()
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .rev()
                    .find(|o| *o == "ro" || *o == "rw")
                    .is_some_and(|o| o == "ro")
        });
    if !readonly.is_empty() || !masked.is_empty() || dev_ro {
        let root = Root::open(Path::new("/")).map_err(|source| RootfsError::OpenRootfs {
            rootfs: PathBuf::from("/"),
            source,
        })?;
        let t = Targets {
            proc_fd: Path::new("/proc/self/fd").is_dir(),
        };
        for p in readonly {
            readonly_path(&root, &t, &clean(Path::new(p)))?;
        }
        for p in masked {
            mask_path(&root, &t, &clean(Path::new(p)))?;
        }
        if dev_ro {
            let dev = Path::new("/dev");
            let err = |source| RootfsError::Remount {
                destination: dev.to_owned(),
                flags: MsFlags::MS_RDONLY,
                source,
            };
            let fd = root.open_path(dev).map_err(err)?;
            remount_ro(&t.of(&fd, dev)).map_err(err)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_ro(Path::new("/")).map_err(RootfsError::ReadonlyRoot)?;
    }
    if let Some(p) = propagation {
        nix::mount::mount(None::<&str>, "/", None::<&str>, p, None::<&str>).map_err(|source| {
            RootfsError::RootPropagation {
                path: PathBuf::from("/"),
                flags: p,
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            Path::new("net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("kernel/shm_rmid_forced").unwrap(),
            Path::new("kernel/shm_rmid_forced")
        );
        for bad in [
            "",
            "/etc/passwd",
            "kernel..x",
            ".kernel",
            "kernel.",
            "a/../../b",
        ] {
            let e = sysctl_path(bad).unwrap_err();
            assert!(matches!(e, RootfsError::InvalidSysctl(_)), "{bad}");
        }
    }

    #[test]
    fn sysctls_need_their_namespace() {
        let spec = |ns: &[&str], key: &str| -> Spec {
            let ns: Vec<_> = ns.iter().map(|t| serde_json::json!({"type": t})).collect();
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.2.0",
                "linux": {"namespaces": ns, "sysctl": {key: "1"}}
            }))
            .unwrap()
        };
        assert!(validate_sysctls(&spec(&["network"], "net.ipv4.ip_forward")).is_ok());
        assert!(validate_sysctls(&spec(&["ipc"], "kernel.shm_rmid_forced")).is_ok());
        assert!(validate_sysctls(&spec(&["ipc"], "fs.mqueue.msg_max")).is_ok());
        assert!(validate_sysctls(&spec(&["uts"], "kernel.domainname")).is_ok());
        let e = validate_sysctls(&spec(&["ipc", "uts"], "net.ipv4.ip_forward")).unwrap_err();
        assert!(e.to_string().contains("net.ipv4.ip_forward"), "{e}");
        assert!(e.to_string().contains("network"), "{e}");
        let e = validate_sysctls(&spec(&["network"], "vm.swappiness")).unwrap_err();
        assert!(e.to_string().contains("vm.swappiness"), "{e}");
    }
}
