//! `type: cgroup` mounts.
//!
//! - cgroup v2 host: mount cgroup2 (in a cgroup namespace it shows the container's own subtree);
//!   when the kernel refuses (user namespace without a cgroup namespace), bind the container's own
//!   cgroup directory instead.
//! - cgroup v1 or hybrid host: a tmpfs at the destination holding one directory per hierarchy of
//!   the host. In a cgroup namespace each is a fresh cgroup mount of that hierarchy; otherwise a
//!   bind of the container's own cgroup directory in it. Co-mounted controllers (`cpu,cpuacct`)
//!   get a symlink per controller. `ro` applies to each hierarchy and to the tmpfs.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use super::mountinfo;
use super::mounts::{dest_err, mount_err, remount_bind, Context};
use super::options::MountOptions;
use super::resolve::{fd_path, io_errno, Create};
use super::RootfsError;

/// A cgroup filesystem mounted on the host: the mountinfo entry and the options that name its
/// hierarchy (controllers, `name=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The cgroup path at the mount's root.
    pub root: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Super options naming the hierarchy.
    pub options: Vec<String>,
}

/// The cgroup mounts listed in a mountinfo text.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    mountinfo::parse(text, &["cgroup", "cgroup2"])
        .into_iter()
        .map(|m| {
            let v2 = m.fstype == "cgroup2";
            let options = m
                .super_options
                .into_iter()
                .filter(|o| o != "rw" && o != "ro" && (v2 || !is_v1_flag(o)))
                .collect();
            CgroupMount {
                mountpoint: m.mountpoint,
                root: m.root,
                fstype: m.fstype,
                options,
            }
        })
        .collect()
}

/// v1 super options that do not name a controller or hierarchy.
fn is_v1_flag(o: &str) -> bool {
    matches!(
        o,
        "xattr" | "noprefix" | "clone_children" | "cpuset_v2_mode" | "nsdelegate"
    ) || o.starts_with("release_agent=")
}

/// /proc/self/cgroup: (controllers, path) per line; `""` controllers for the v2 line.
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<(String, PathBuf)> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_id, ctl, path) = (p.next()?, p.next()?, p.next()?);
            Some((ctl.to_owned(), PathBuf::from(path)))
        })
        .collect()
}

impl CgroupMount {
    /// The name of this hierarchy's directory under the container's cgroup tmpfs.
    fn dir_name(&self) -> String {
        self.mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.options.join(","))
    }

    /// This process's cgroup path in this hierarchy, from /proc/self/cgroup entries.
    fn own_path<'a>(&self, entries: &'a [(String, PathBuf)]) -> Option<&'a Path> {
        entries
            .iter()
            .find(|(ctl, _)| {
                if self.fstype == "cgroup2" {
                    ctl.is_empty()
                } else {
                    !ctl.is_empty() && ctl.split(',').all(|c| self.options.iter().any(|o| o == c))
                }
            })
            .map(|(_, p)| p.as_path())
    }

    /// The host directory of this process's cgroup in this hierarchy.
    fn own_dir(&self, entries: &[(String, PathBuf)]) -> Option<PathBuf> {
        let path = self.own_path(entries)?;
        let rel = path.strip_prefix(&self.root).ok()?;
        Some(self.mountpoint.join(rel))
    }
}

fn read(file: &'static str, dest: &Path) -> Result<String, RootfsError> {
    std::fs::read_to_string(file).map_err(|e| RootfsError::CgroupInfo {
        destination: dest.to_owned(),
        file,
        source: io_errno(e),
    })
}

/// True when /sys/fs/cgroup is a cgroup2 filesystem (a unified host).
fn unified_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Mounts a spec `cgroup` entry at `dest`.
pub(crate) fn mount_cgroup(
    ctx: &Context<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    if unified_host() {
        mount_v2(ctx, dest, opts)
    } else {
        mount_v1(ctx, dest, opts)
    }
}

fn mount_v2(ctx: &Context<'_>, dest: &Path, opts: &MountOptions) -> Result<(), RootfsError> {
    let fd = ctx.root.ensure(dest, Create::Dir).map_err(dest_err(dest))?;
    let target = fd_path(fd.as_fd());
    let flags = opts.flags - MsFlags::MS_BIND - MsFlags::MS_REC;
    let r = nix::mount::mount(
        Some("cgroup2"),
        &target,
        Some("cgroup2"),
        flags,
        opts.data(),
    );
    match r {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) | Err(Errno::EBUSY) if !ctx.cgroup_ns => {
            let entries = parse_proc_cgroup(&read("/proc/self/cgroup", dest)?);
            let own = entries
                .iter()
                .find(|(c, _)| c.is_empty())
                .map(|(_, p)| p.strip_prefix("/").unwrap_or(p).to_owned())
                .unwrap_or_default();
            let src = Path::new("/sys/fs/cgroup").join(own);
            nix::mount::mount(
                Some(&src),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(mount_err(dest, "cgroup2"))?;
            drop(fd);
            let fd = ctx.root.open_path(dest).map_err(dest_err(dest))?;
            let rflags = flags - MsFlags::MS_REMOUNT;
            if !rflags.is_empty() {
                remount_bind(&fd_path(fd.as_fd()), rflags).map_err(|source| {
                    RootfsError::Remount {
                        destination: dest.to_owned(),
                        flags: rflags,
                        source,
                    }
                })?;
            }
            Ok(())
        }
        Err(e) => Err(mount_err(dest, "cgroup2")(e)),
    }
}

fn mount_v1(ctx: &Context<'_>, dest: &Path, opts: &MountOptions) -> Result<(), RootfsError> {
    let mounts = parse_mountinfo(&read("/proc/self/mountinfo", dest)?);
    let entries = parse_proc_cgroup(&read("/proc/self/cgroup", dest)?);
    let flags = opts.flags - MsFlags::MS_BIND - MsFlags::MS_REC - MsFlags::MS_REMOUNT;

    let fd = ctx.root.ensure(dest, Create::Dir).map_err(dest_err(dest))?;
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(
        Some("tmpfs"),
        &fd_path(fd.as_fd()),
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .map_err(mount_err(dest, "tmpfs"))?;
    drop(fd);
    let tmpfs = ctx.root.open_path(dest).map_err(dest_err(dest))?;

    let mut done: Vec<String> = Vec::new();
    // The hierarchies bound (not in a cgroup namespace): their flags are applied at the end.
    let mut bound: Vec<String> = Vec::new();
    for m in &mounts {
        let name = m.dir_name();
        // The cgroup2 "unified" mount of a hybrid host is left out, as runc does: the container's
        // limits live in the v1 hierarchies.
        if done.contains(&name)
            || m.fstype == "cgroup2"
            || m.mountpoint.parent() != Some(Path::new("/sys/fs/cgroup"))
        {
            continue;
        }
        let sub = dest.join(&name);
        // Only the hierarchies this process belongs to; in a cgroup namespace the paths are
        // relative to the namespace and only membership matters.
        let src = if ctx.cgroup_ns {
            if m.own_path(&entries).is_none() {
                continue;
            }
            PathBuf::new()
        } else {
            let Some(src) = m.own_dir(&entries) else {
                continue;
            };
            src
        };
        done.push(name.clone());
        match nix::sys::stat::mkdirat(
            Some(tmpfs.as_raw_fd()),
            name.as_str(),
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(dest_err(&sub)(e)),
        }
        let subfd = berth_sys::mount::openat(
            Some(tmpfs.as_fd()),
            Path::new(&name),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(dest_err(&sub))?;
        let target = fd_path(subfd.as_fd());
        if ctx.cgroup_ns {
            // v1: the options name the hierarchy. v2 has one hierarchy, and its host options
            // (nsdelegate, ...) may only be set from the initial namespaces.
            let data = m.options.join(",");
            let data = (m.fstype == "cgroup" && !data.is_empty()).then_some(data.as_str());
            nix::mount::mount(
                Some("cgroup"),
                &target,
                Some(m.fstype.as_str()),
                flags,
                data,
            )
            .map_err(mount_err(&sub, &m.fstype))?;
        } else {
            nix::mount::mount(
                Some(&src),
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(mount_err(&sub, "bind"))?;
            bound.push(name.clone());
        }
        // Co-mounted controllers: one symlink per controller to the shared directory.
        if name.contains(',') {
            for ctl in name.split(',').filter(|c| !c.starts_with("name=")) {
                match nix::unistd::symlinkat(name.as_str(), Some(tmpfs.as_raw_fd()), ctl) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(source) => {
                        return Err(RootfsError::DevSymlink {
                            path: dest.join(ctl),
                            source,
                        })
                    }
                }
            }
        }
    }
    // The flags go on the binds and the tmpfs in one recursive call (some µs instead of a
    // remount per hierarchy); kernels before 5.12 get the remounts.
    if let Some(attrs) = mount_attrs(flags).filter(|a| *a != 0) {
        let all = libc::AT_EMPTY_PATH as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
        if berth_sys::mount::mount_setattr(tmpfs.as_fd(), Path::new(""), all, attrs, 0, 0).is_ok() {
            return Ok(());
        }
    }
    if !flags.is_empty() {
        for name in &bound {
            let fresh = berth_sys::mount::openat(
                Some(tmpfs.as_fd()),
                Path::new(name),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )
            .map_err(dest_err(&dest.join(name)))?;
            remount_bind(&fd_path(fresh.as_fd()), flags).map_err(|source| {
                RootfsError::Remount {
                    destination: dest.join(name),
                    flags,
                    source,
                }
            })?;
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(&fd_path(tmpfs.as_fd()), tmpfs_flags | MsFlags::MS_RDONLY).map_err(
            |source| RootfsError::Remount {
                destination: dest.to_owned(),
                flags: tmpfs_flags | MsFlags::MS_RDONLY,
                source,
            },
        )?;
    }
    Ok(())
}

/// The `MOUNT_ATTR_*` bits for `flags`; `None` when it holds one they cannot express.
fn mount_attrs(flags: MsFlags) -> Option<u64> {
    use berth_sys::mount::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID};
    let mut attrs = 0;
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, berth_sys::mount::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    ] {
        if flags.contains(flag) {
            attrs |= attr;
        }
    }
    let known = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    (flags - known).is_empty().then_some(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 /outer /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
35 27 0:31 / /with\\040space rw - cgroup cgroup rw,pids
";

    const PROC_CGROUP: &str = "\
4:memory:/outer/c1
3:cpu,cpuacct:/c1
2:name=systemd:/user.slice
1:pids:/
0::/c1
";

    #[test]
    fn parses_cgroup_mounts() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].fstype, "cgroup2");
        assert_eq!(m[1].options, vec!["name=systemd"]);
        assert_eq!(m[2].options, vec!["cpu", "cpuacct"]);
        assert_eq!(m[2].dir_name(), "cpu,cpuacct");
        assert_eq!(m[4].mountpoint, Path::new("/with space"));
    }

    #[test]
    fn finds_own_cgroup_dirs() {
        let m = parse_mountinfo(MOUNTINFO);
        let e = parse_proc_cgroup(PROC_CGROUP);
        assert_eq!(
            m[0].own_dir(&e).unwrap(),
            Path::new("/sys/fs/cgroup/unified/c1")
        );
        assert_eq!(
            m[1].own_dir(&e).unwrap(),
            Path::new("/sys/fs/cgroup/systemd/user.slice")
        );
        assert_eq!(
            m[2].own_dir(&e).unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/c1")
        );
        // The mount's root is stripped from the process's path.
        assert_eq!(
            m[3].own_dir(&e).unwrap(),
            Path::new("/sys/fs/cgroup/memory/c1")
        );
    }
}
