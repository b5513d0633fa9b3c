//! `/dev`: the default devices every container gets, `linux.devices`, the `/dev/fd`-style
//! symlinks and `/dev/ptmx -> pts/ptmx`. Device nodes are made with mknod; where the kernel
//! refuses (a user namespace), the host's node is bind-mounted onto an empty file instead.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use super::resolve::{clean, fd_path, Create, Root};
use super::RootfsError;

/// The devices the runtime spec says every container has (path, major, minor), mode 0666.
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Symlinks made in `/dev` (name, target).
const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Device {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The defaults (unless the spec lists the same path) followed by `linux.devices`.
fn device_list(spec: &Spec) -> Result<Vec<Device>, RootfsError> {
    let listed = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    let mut out: Vec<Device> = DEFAULT_DEVICES
        .iter()
        .filter(|(p, _, _)| !listed.iter().any(|d| clean(d.path()) == Path::new(p)))
        .map(|&(p, major, minor)| Device {
            path: PathBuf::from(p),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in listed {
        let path = clean(d.path());
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::InvalidDevice {
                    path,
                    reason: "type \"a\" is not a device node type",
                })
            }
        };
        if path == Path::new("/") {
            return Err(RootfsError::InvalidDevice {
                path,
                reason: "a device needs a path",
            });
        }
        let (major, minor) = (d.major(), d.minor());
        if kind != SFlag::S_IFIFO && (major < 0 || minor < 0) {
            return Err(RootfsError::InvalidDevice {
                path,
                reason: "negative major or minor number",
            });
        }
        out.push(Device {
            path,
            kind,
            major: major.max(0) as u64,
            minor: minor.max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Populates `/dev` inside the rootfs.
pub(crate) fn setup_dev(root: &Root, spec: &Spec) -> Result<(), RootfsError> {
    let devices = device_list(spec)?;
    let dev = root
        .ensure(Path::new("/dev"), Create::Dir)
        .map_err(|source| RootfsError::Device {
            path: PathBuf::from("/dev"),
            source,
        })?;
    // The modes asked for are exact: no umask.
    let old = umask(Mode::empty());
    // In a user namespace mknod is refused: bind the host's nodes instead (as runc does).
    let mut bind = super::has_namespace(spec, LinuxNamespaceType::User);
    let r = devices
        .iter()
        .try_for_each(|d| create_device(root, dev.as_fd(), d, &mut bind));
    umask(old);
    r?;
    dev_symlinks(dev.as_fd())
}

fn create_device(
    root: &Root,
    dev: BorrowedFd<'_>,
    d: &Device,
    bind: &mut bool,
) -> Result<(), RootfsError> {
    let err = |source| RootfsError::Device {
        path: d.path.clone(),
        source,
    };
    let parent = d.path.parent().unwrap_or(Path::new("/"));
    let name = d.path.file_name().ok_or_else(|| err(Errno::EINVAL))?;
    let owned: OwnedFd;
    let pfd = if parent == Path::new("/dev") {
        dev
    } else {
        owned = root.ensure(parent, Create::Dir).map_err(err)?;
        owned.as_fd()
    };
    if !*bind {
        let perm = Mode::from_bits_truncate(d.mode);
        match mknodat(
            Some(pfd.as_raw_fd()),
            name,
            d.kind,
            perm,
            makedev(d.major, d.minor),
        ) {
            Ok(()) => {
                if d.uid != 0 || d.gid != 0 {
                    fchownat(
                        Some(pfd.as_raw_fd()),
                        name,
                        Some(Uid::from_raw(d.uid)),
                        Some(Gid::from_raw(d.gid)),
                        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(err)?;
                }
                return Ok(());
            }
            Err(Errno::EEXIST) => return Ok(()),
            // Refused: in a user namespace the spec does not mention (a rootless engine's),
            // bind the host's nodes from now on; anywhere else it is an error (the device
            // cgroup must allow mknod).
            Err(Errno::EPERM) if in_user_namespace() => *bind = true,
            Err(e) => return Err(err(e)),
        }
    }
    bind_device(pfd, Path::new(name), &d.path).map_err(err)
}

/// True when this process runs in a user namespace other than the initial one.
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
        let f: Vec<&str> = m.split_whitespace().collect();
        f != ["0", "0", "4294967295"]
    })
}

/// Bind-mounts the host's node at `host` onto an (empty, created) file `name` in `dir`.
fn bind_device(dir: BorrowedFd<'_>, name: &Path, host: &Path) -> Result<(), Errno> {
    match berth_sys::mount::openat(
        Some(dir),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let fd = berth_sys::mount::openat(
        Some(dir),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    let st = fstat(fd.as_raw_fd())?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
        return Err(Errno::ELOOP);
    }
    nix::mount::mount(
        Some(host),
        &fd_path(fd.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// `/dev/fd`, `/dev/std{in,out,err}`, `/dev/core` (when the host has /proc/kcore) and
/// `/dev/ptmx -> pts/ptmx`.
fn dev_symlinks(dev: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let d = Some(dev.as_raw_fd());
    let link = |name: &str, target: &str| match symlinkat(target, d, name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(RootfsError::DevSymlink {
            path: Path::new("/dev").join(name),
            source,
        }),
    };
    for (name, target) in DEV_SYMLINKS {
        link(name, target)?;
    }
    if Path::new("/proc/kcore").exists() {
        link("core", "/proc/kcore")?;
    }
    match unlinkat(d, "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(RootfsError::DevSymlink {
                path: PathBuf::from("/dev/ptmx"),
                source,
            })
        }
    }
    link("ptmx", "pts/ptmx")
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::oci_spec::runtime::{LinuxBuilder, LinuxDeviceBuilder, SpecBuilder};

    #[test]
    fn defaults_then_spec_devices() {
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .uid(1000u32)
            .build()
            .unwrap();
        let spec = SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .devices(vec![null, fuse])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let list = device_list(&spec).unwrap();
        assert_eq!(list.len(), 7);
        assert_eq!(
            list.iter()
                .filter(|d| d.path == Path::new("/dev/null"))
                .count(),
            1
        );
        let null = list
            .iter()
            .find(|d| d.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = list.last().unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.mode, fuse.uid),
            (10, 229, 0o666, 1000)
        );
    }

    #[test]
    fn type_a_is_refused() {
        let all = LinuxDeviceBuilder::default()
            .path("/dev/x")
            .typ(LinuxDeviceType::A)
            .build()
            .unwrap();
        let spec = SpecBuilder::default()
            .linux(LinuxBuilder::default().devices(vec![all]).build().unwrap())
            .build()
            .unwrap();
        let e = device_list(&spec).unwrap_err();
        assert!(e.to_string().contains("/dev/x"), "{e}");
    }
}
