//! The container's root filesystem, set up by the init inside its new mount namespace.
//!
//! Order of calls made by the init (see `init.rs`):
//! 1. [`prepare_rootfs`] — propagation, bind the rootfs onto itself, every `spec.mounts` entry,
//!    `/dev` (default devices, `linux.devices`, symlinks, `/dev/pts` + `/dev/ptmx`).
//! 2. createContainer hooks run (by the init).
//! 3. [`enter_rootfs`] — pivot_root (or the MS_MOVE + chroot fallback with `no_pivot`).
//! 4. console set up (by the init).
//! 5. [`finalize_rootfs`] — sysctls, `readonlyPaths`, `maskedPaths`, read-only root, final propagation.
//!
//! [`set_hostname`] may be called any time the init is in its UTS namespace.
//!
//! Safety: every destination is resolved inside the rootfs with `openat2(RESOLVE_IN_ROOT)` and
//! mounted on through `/proc/self/fd/N`, so a symlink in the image never sends a mount to the host;
//! `proc` and `sysfs` go only on plain directories, and nothing but a few lxcfs-style files may be
//! mounted over `/proc` entries.

mod cgroup;
mod copyup;
mod devices;
mod finalize;
mod idmap;
mod mountinfo;
mod mounts;
mod options;
mod pivot;
mod resolve;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use berth_oci::{Classify, ErrorClass};
use nix::errno::Errno;
use nix::mount::MsFlags;

pub use finalize::validate_sysctls;
use resolve::{clean, Root};

/// How the init wants the rootfs entered.
#[derive(Debug, Clone, Default)]
pub struct RootfsOptions {
    /// Use MS_MOVE + chroot instead of pivot_root (runc's `--no-pivot`, for ramfs roots).
    pub no_pivot: bool,
    /// The absolute bundle directory: relative bind sources are taken relative to it.
    pub bundle: PathBuf,
}

/// A failed rootfs step; every variant names the path (or key) involved.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// `linux.rootfsPropagation` holds an unknown value.
    #[error("invalid rootfsPropagation {0:?}")]
    InvalidPropagation(String),
    /// Changing the propagation of `/` (or of the rootfs) failed.
    #[error("setting propagation {flags:?} on {path}: {source}")]
    RootPropagation {
        path: PathBuf,
        flags: MsFlags,
        source: Errno,
    },
    /// Bind-mounting the rootfs onto itself failed.
    #[error("bind-mounting rootfs {rootfs} onto itself: {source}")]
    BindRootfs { rootfs: PathBuf, source: Errno },
    /// The rootfs directory cannot be opened.
    #[error("opening rootfs {rootfs}: {source}")]
    OpenRootfs { rootfs: PathBuf, source: Errno },
    /// A mount destination cannot be resolved or created inside the rootfs.
    #[error("resolving mount destination {destination} inside the rootfs: {source}")]
    Destination { destination: PathBuf, source: Errno },
    /// A mount's options ask for something Berth does not do.
    #[error("mount {destination}: unsupported option {option:?}")]
    UnsupportedOption {
        destination: PathBuf,
        option: String,
    },
    /// A bind mount has no source, or the source cannot be inspected.
    #[error("mount {destination}: bind source {source_path}: {source}")]
    BindSource {
        destination: PathBuf,
        source_path: PathBuf,
        source: Errno,
    },
    /// proc or sysfs asked to go on a symlink.
    #[error("refusing to mount {fstype} on {destination}: the destination is a symlink")]
    DestinationSymlink {
        destination: PathBuf,
        fstype: String,
    },
    /// proc or sysfs asked to go on something other than a directory.
    #[error("refusing to mount {fstype} on {destination}: the destination is not a directory")]
    NotADirectory {
        destination: PathBuf,
        fstype: String,
    },
    /// A mount over `/proc` or one of its entries that is not allowed.
    #[error("refusing to mount on {destination}: {reason}")]
    ProcMount {
        destination: PathBuf,
        reason: &'static str,
    },
    /// mount(2) itself failed.
    #[error("mounting {fstype} on {destination}: {source}")]
    Mount {
        destination: PathBuf,
        fstype: String,
        source: Errno,
    },
    /// Remounting (to apply ro, nosuid, ... to a bind mount) failed.
    #[error("remounting {destination} with {flags:?}: {source}")]
    Remount {
        destination: PathBuf,
        flags: MsFlags,
        source: Errno,
    },
    /// Setting a mount's propagation failed.
    #[error("setting propagation {flags:?} on {destination}: {source}")]
    Propagation {
        destination: PathBuf,
        flags: MsFlags,
        source: Errno,
    },
    /// mount_setattr for recursive attributes (rro, rnosuid, ...) failed.
    #[error("setting recursive mount attributes on {destination}: {source}")]
    MountAttr { destination: PathBuf, source: Errno },
    /// Copying a directory's contents into its new tmpfs (`tmpcopyup`) failed.
    #[error("tmpcopyup of {destination}: {source}")]
    TmpCopyUp { destination: PathBuf, source: Errno },
    /// Reading the process's cgroup membership or the host's cgroup mounts failed.
    #[error("mount {destination}: reading cgroup information from {file}: {source}")]
    CgroupInfo {
        destination: PathBuf,
        file: &'static str,
        source: Errno,
    },
    /// Creating a device node (or its bind-mount fallback) failed.
    #[error("creating device {path}: {source}")]
    Device { path: PathBuf, source: Errno },
    /// A device in `linux.devices` has an unusable type or path.
    #[error("device {path}: {reason}")]
    InvalidDevice { path: PathBuf, reason: &'static str },
    /// Creating a `/dev` symlink (fd, stdin, ptmx, ...) failed.
    #[error("creating symlink {path}: {source}")]
    DevSymlink { path: PathBuf, source: Errno },
    /// A step of pivot_root failed.
    #[error("pivot_root into {rootfs}: {step}: {source}")]
    PivotRoot {
        rootfs: PathBuf,
        step: &'static str,
        source: Errno,
    },
    /// A step of the MS_MOVE + chroot fallback failed.
    #[error("moving {rootfs} to / (no pivot): {step}: {source}")]
    MoveRoot {
        rootfs: PathBuf,
        step: &'static str,
        source: Errno,
    },
    /// A sysctl key that is not a plain name below /proc/sys.
    #[error("invalid sysctl key {0:?}")]
    InvalidSysctl(String),
    /// A sysctl that would change the host: its namespace is not the container's own.
    #[error("sysctl {key} needs a private {namespace} namespace")]
    SysctlNamespace {
        key: String,
        namespace: &'static str,
    },
    /// Writing a sysctl failed.
    #[error("setting sysctl {key} = {value:?}: {source}")]
    Sysctl {
        key: String,
        value: String,
        source: Errno,
    },
    /// Masking a path failed.
    #[error("masking {path}: {source}")]
    MaskPath { path: PathBuf, source: Errno },
    /// Making a path read-only failed.
    #[error("making {path} read-only: {source}")]
    ReadonlyPath { path: PathBuf, source: Errno },
    /// Remounting the root read-only failed.
    #[error("remounting / read-only: {0}")]
    ReadonlyRoot(Errno),
    /// A hostname or domainname asked for without a UTS namespace of the container's own.
    #[error("cannot set {what} {value:?} without a private UTS namespace")]
    NoUtsNamespace { what: &'static str, value: String },
    /// sethostname failed.
    #[error("setting hostname {name:?}: {source}")]
    Hostname { name: String, source: Errno },
    /// setdomainname failed.
    #[error("setting domainname {name:?}: {source}")]
    Domainname { name: String, source: Errno },
}

impl Classify for RootfsError {
    fn class(&self) -> ErrorClass {
        use RootfsError::*;
        match self {
            InvalidPropagation(_)
            | UnsupportedOption { .. }
            | DestinationSymlink { .. }
            | NotADirectory { .. }
            | ProcMount { .. }
            | InvalidDevice { .. }
            | InvalidSysctl(_)
            | SysctlNamespace { .. }
            | NoUtsNamespace { .. } => ErrorClass::InvalidArgument,
            BindSource { source, .. } if *source == Errno::ENOENT => ErrorClass::NotFound,
            BindSource { .. } => ErrorClass::InvalidArgument,
            RootPropagation { source, .. }
            | BindRootfs { source, .. }
            | OpenRootfs { source, .. }
            | Destination { source, .. }
            | Mount { source, .. }
            | Remount { source, .. }
            | Propagation { source, .. }
            | MountAttr { source, .. }
            | TmpCopyUp { source, .. }
            | CgroupInfo { source, .. }
            | Device { source, .. }
            | DevSymlink { source, .. }
            | PivotRoot { source, .. }
            | MoveRoot { source, .. }
            | Sysctl { source, .. }
            | MaskPath { source, .. }
            | ReadonlyPath { source, .. }
            | ReadonlyRoot(source)
            | Hostname { source, .. }
            | Domainname { source, .. } => berth_oci::error::class_of_errno(*source as i32),
        }
    }
}

/// The propagation flags `linux.rootfsPropagation` asks for, if any.
fn rootfs_propagation(spec: &Spec) -> Result<Option<MsFlags>, RootfsError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(None);
    };
    if p.is_empty() {
        return Ok(None);
    }
    options::propagation_option(&p)
        .map(Some)
        .ok_or(RootfsError::InvalidPropagation(p))
}

/// True when the spec gives the container a namespace of this type (new or joined).
fn has_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ))
}

fn set_propagation(path: &Path, flags: MsFlags) -> Result<(), RootfsError> {
    nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|source| {
        RootfsError::RootPropagation {
            path: path.to_owned(),
            flags,
            source,
        }
    })
}

/// Makes the mount that holds `rootfs` (the one with the longest mount point above it) private.
fn private_parent_mount(rootfs: &Path) -> Result<(), RootfsError> {
    let err = |source| RootfsError::RootPropagation {
        path: rootfs.to_owned(),
        flags: MsFlags::MS_PRIVATE,
        source,
    };
    let real = std::fs::canonicalize(rootfs).map_err(|e| err(resolve::io_errno(e)))?;
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| err(resolve::io_errno(e)))?;
    let parent = mountinfo::parse_all(&info)
        .into_iter()
        .filter(|m| real.starts_with(&m.mountpoint))
        .max_by_key(|m| m.mountpoint.as_os_str().len())
        .map(|m| m.mountpoint)
        .unwrap_or_else(|| PathBuf::from("/"));
    set_propagation(&parent, MsFlags::MS_PRIVATE)
}

/// Step 1, inside the new mount namespace: set the propagation of `/` (`rootfsPropagation`, by
/// default rslave so nothing reaches the host), bind the rootfs onto itself, mount every
/// `spec.mounts` entry in order at its destination resolved inside the rootfs, then populate
/// `/dev` (unless the spec bind-mounts `/dev`).
pub fn prepare_rootfs(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    prepare_rootfs_with(spec, rootfs, opts, || Ok(()))
}

/// [`prepare_rootfs`], calling `before_cgroup_mounts` once before the first mount of type
/// `cgroup` (or after the others when there is none). The init uses it to wait for its cgroup to
/// be joined only when the cgroup mounts need it, so that the parent's cgroup setup and the rest
/// of the rootfs work run in parallel: a `cgroup` mount that no later spec mount nests with
/// (by destination) is made after all the others for that reason.
pub fn prepare_rootfs_with<E: From<RootfsError>>(
    spec: &Spec,
    rootfs: &Path,
    opts: &RootfsOptions,
    before_cgroup_mounts: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    let mut before_cgroup_mounts = Some(before_cgroup_mounts);
    let propagation = rootfs_propagation(spec)?;
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    let shared = propagation.is_some_and(|p| p.contains(MsFlags::MS_SHARED));
    match propagation {
        // Shared is asked for to let mounts travel between host and container: keep the peers.
        Some(p) if shared => set_propagation(Path::new("/"), p)?,
        // An unbindable "/" would forbid binding the rootfs: applied after the pivot only.
        Some(p) if p.contains(MsFlags::MS_UNBINDABLE) => set_propagation(Path::new("/"), slave)?,
        // Anything else: first cut every mount off from the host, then apply what was asked.
        Some(p) => {
            set_propagation(Path::new("/"), slave)?;
            if p != slave {
                set_propagation(Path::new("/"), p)?;
            }
        }
        None => set_propagation(Path::new("/"), slave)?,
    }

    if shared {
        // pivot_root refuses a new root whose parent mount is shared, and a bind under a shared
        // parent would show up on the host: make just that parent mount private (as runc does).
        private_parent_mount(rootfs)?;
    }
    nix::mount::mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|source| RootfsError::BindRootfs {
        rootfs: rootfs.to_owned(),
        source,
    })?;

    let root = Root::open(rootfs).map_err(|source| RootfsError::OpenRootfs {
        rootfs: rootfs.to_owned(),
        source,
    })?;
    let ctx = mounts::Context {
        root: &root,
        bundle: &opts.bundle,
        cgroup_ns: has_namespace(spec, LinuxNamespaceType::Cgroup),
    };
    let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut wait_for_cgroup = || -> Result<(), E> {
        if let Some(wait) = before_cgroup_mounts.take() {
            berth_sys::timing::mark("init waits for cgroup");
            wait()?;
            berth_sys::timing::mark("init cgroup waited");
        }
        Ok(())
    };
    // The cgroup mounts need the cgroup, which the parent may still be making: those that no
    // later mount nests with go last, so the mounts after them in the spec are done meanwhile.
    let mut deferred = Vec::new();
    for (i, m) in spec_mounts.iter().enumerate() {
        if is_cgroup(m) {
            if nests_with_none(m, &spec_mounts[i + 1..]) {
                deferred.push(m);
                continue;
            }
            wait_for_cgroup()?;
        }
        mounts::mount_entry(&ctx, m)?;
    }
    wait_for_cgroup()?;
    for m in deferred {
        mounts::mount_entry(&ctx, m)?;
    }
    berth_sys::timing::mark("init spec mounts done");
    if !spec_mounts
        .iter()
        .any(|m| clean(m.destination()) == Path::new("/dev") && mounts::is_bind(m))
    {
        devices::setup_dev(&root, spec)?;
    }
    Ok(())
}

fn is_cgroup(m: &Mount) -> bool {
    m.typ().as_deref() == Some("cgroup")
}

/// Whether no mount of `later` is at, above or below the destination of `m` (so the order
/// between them does not matter).
fn nests_with_none(m: &Mount, later: &[Mount]) -> bool {
    let dest = clean(m.destination());
    later.iter().all(|l| {
        let d = clean(l.destination());
        !d.starts_with(&dest) && !dest.starts_with(&d)
    })
}

/// Step 3: make the prepared rootfs the process's root: pivot_root with the old root detached
/// (or, with `no_pivot`, MS_MOVE onto `/` and chroot), then chdir("/").
pub fn enter_rootfs(rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    if opts.no_pivot {
        pivot::move_root(rootfs)
    } else {
        pivot::pivot_root(rootfs)
    }
}

/// Step 5, after [`enter_rootfs`]: sysctls, `readonlyPaths`, `maskedPaths`, a read-only `/dev`
/// when its spec mount says `ro`, the read-only root, and `rootfsPropagation` applied again.
pub fn finalize_rootfs(spec: &Spec) -> Result<(), RootfsError> {
    finalize::finalize(spec, rootfs_propagation(spec)?)
}

/// Sets `hostname` and `domainname` of the spec (empty or absent values are left alone).
/// Refuses to when the container shares the host's UTS namespace.
pub fn set_hostname(spec: &Spec) -> Result<(), RootfsError> {
    let hostname = spec.hostname().as_deref().filter(|h| !h.is_empty());
    let domainname = spec.domainname().as_deref().filter(|d| !d.is_empty());
    if hostname.is_none() && domainname.is_none() {
        return Ok(());
    }
    if !has_namespace(spec, LinuxNamespaceType::Uts) {
        let (what, value) = match hostname {
            Some(h) => ("hostname", h),
            None => ("domainname", domainname.unwrap_or_default()),
        };
        return Err(RootfsError::NoUtsNamespace {
            what,
            value: value.to_owned(),
        });
    }
    if let Some(name) = hostname {
        nix::unistd::sethostname(name).map_err(|source| RootfsError::Hostname {
            name: name.to_owned(),
            source,
        })?;
    }
    if let Some(name) = domainname {
        berth_sys::mount::setdomainname(name).map_err(|source| RootfsError::Domainname {
            name: name.to_owned(),
            source,
        })?;
    }
    Ok(())
}
