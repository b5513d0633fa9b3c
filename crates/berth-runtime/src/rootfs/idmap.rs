//! Idmapped bind mounts (runtime-spec 1.2: a mount's `uidMappings`/`gidMappings`, the `idmap` and
//! `ridmap` options).
//!
//! The steps, for one bind mount:
//! 1. a user namespace carrying the mapping: a child process is cloned into a new user namespace,
//!    its `uid_map`/`gid_map` written, its `ns/user` opened, then it is killed and reaped;
//! 2. `open_tree(OPEN_TREE_CLONE)`: a detached copy of the source (the whole tree for `rbind`);
//! 3. `mount_setattr(MOUNT_ATTR_IDMAP)` on that copy (on every mount of it for `ridmap`);
//! 4. `move_mount` onto the destination, already resolved inside the rootfs.
//!
//! The kernel only idmaps a filesystem for a caller privileged over the filesystem's own user
//! namespace: from inside a container's user namespace the host's filesystems cannot be idmapped,
//! so such containers are refused with a clear error (see [`check_supported`]).

use std::fmt::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_oci::oci_spec::runtime::{LinuxIdMapping, Mount};
use berth_sys::mount as sysm;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::options::MountOptions;
use super::resolve::io_errno;
use super::RootfsError;

/// The id maps of an idmapped mount, as written to `uid_map` and `gid_map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMaps {
    /// The `uid_map` text: one `containerID hostID size` line per mapping.
    pub uid: String,
    /// The `gid_map` text.
    pub gid: String,
}

/// True when the mount asks for an idmapping (by option or by giving mappings).
pub(crate) fn wanted(m: &Mount, opts: &MountOptions) -> bool {
    opts.idmap || m.uid_mappings().is_some() || m.gid_mappings().is_some()
}

fn unsupported(dest: &Path, what: impl Into<String>) -> RootfsError {
    RootfsError::UnsupportedOption {
        destination: dest.to_owned(),
        option: what.into(),
    }
}

/// A failed step of building the idmapped mount, named after the step.
fn step_err<'a>(dest: &'a Path, step: &'a str) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError::Mount {
        destination: dest.to_owned(),
        fstype: format!("idmapped bind ({step})"),
        source,
    }
}

/// Refuses what this runtime cannot idmap: anything but a bind mount, or a process that is not in
/// the initial user namespace (where the host's filesystems can be idmapped).
pub(crate) fn check_supported(dest: &Path, is_bind: bool) -> Result<(), RootfsError> {
    if !is_bind {
        return Err(unsupported(
            dest,
            "idmap (only bind mounts can be idmapped)",
        ));
    }
    let map = std::fs::read_to_string("/proc/self/uid_map")
        .map_err(|e| step_err(dest, "reading /proc/self/uid_map")(io_errno(e)))?;
    if !is_identity_map(&map) {
        return Err(unsupported(
            dest,
            "idmap (not supported in a container with its own user namespace: the runtime \
             cannot idmap the host's filesystems from inside it)",
        ));
    }
    Ok(())
}

/// True when a `uid_map` text is the initial user namespace's identity mapping.
fn is_identity_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|l: &Vec<&str>| !l.is_empty())
        .collect();
    lines == [vec!["0", "0", "4294967295"]]
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    let mut out = String::new();
    for m in maps {
        let _ = writeln!(out, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    out
}

/// The mappings of an idmapped mount: its own `uidMappings` and `gidMappings` (both needed), or
/// else the container's (`container`, from `linux.uidMappings`/`gidMappings`).
pub(crate) fn mount_maps(
    m: &Mount,
    dest: &Path,
    container: Option<(&[LinuxIdMapping], &[LinuxIdMapping])>,
) -> Result<IdMaps, RootfsError> {
    let (uid, gid) = match (m.uid_mappings().as_deref(), m.gid_mappings().as_deref()) {
        (Some(u), Some(g)) => (u, g),
        (Some(_), None) => return Err(unsupported(dest, "uidMappings without gidMappings")),
        (None, Some(_)) => return Err(unsupported(dest, "gidMappings without uidMappings")),
        (None, None) => match container {
            Some(c) if !c.0.is_empty() && !c.1.is_empty() => c,
            _ => {
                return Err(unsupported(
                    dest,
                    "idmap without uidMappings/gidMappings needs the container's user \
                     namespace mappings",
                ))
            }
        },
    };
    if uid.is_empty() || gid.is_empty() {
        return Err(unsupported(
            dest,
            "idmap with empty uidMappings/gidMappings",
        ));
    }
    Ok(IdMaps {
        uid: map_text(uid),
        gid: map_text(gid),
    })
}

/// A child in its own user namespace: killed and reaped when dropped.
struct Holder(sysm::UsernsChild);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0.pid, None);
    }
}

/// The pid of our child `pid` as the mounted `/proc` names it: the init may be in a new pid
/// namespace while `/proc` still shows the host's, so ask the kernel through a pidfd's fdinfo.
fn proc_pid(pid: Pid) -> Result<i32, Errno> {
    let pidfd = berth_sys::process::pidfd_open(pid).map_err(|e| match e {
        berth_sys::process::ProcessError::PidfdOpen { errno, .. } => errno,
        _ => Errno::EINVAL,
    })?;
    let info = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pidfd)
    ))
    .map_err(io_errno)?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|&p| p > 0)
        .ok_or(Errno::ESRCH)
}

/// Step 1: an fd of a new user namespace carrying `maps`.
pub(crate) fn userns_fd(maps: &IdMaps, dest: &Path) -> Result<OwnedFd, RootfsError> {
    let child = Holder(sysm::spawn_userns_child().map_err(step_err(dest, "clone user namespace"))?);
    let pid = proc_pid(child.0.pid).map_err(step_err(dest, "finding the user namespace child"))?;
    let dir = PathBuf::from(format!("/proc/{pid}"));
    std::fs::write(dir.join("uid_map"), &maps.uid)
        .map_err(|e| step_err(dest, "writing uid_map")(io_errno(e)))?;
    std::fs::write(dir.join("gid_map"), &maps.gid)
        .map_err(|e| step_err(dest, "writing gid_map")(io_errno(e)))?;
    let fd = sysm::openat(None, &dir.join("ns/user"), OFlag::O_RDONLY, Mode::empty())
        .map_err(step_err(dest, "opening the user namespace"))?;
    drop(child);
    Ok(fd)
}

/// Steps 2 to 4: binds `src` idmapped through `userns` onto `target` (an `O_PATH` fd of the
/// destination inside the rootfs). `rbind` clones the whole tree, `ridmap` idmaps all of it.
pub(crate) fn bind_idmapped(
    src: &Path,
    target: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    userns: BorrowedFd<'_>,
) -> Result<(), RootfsError> {
    let rbind = opts.flags.contains(nix::mount::MsFlags::MS_REC);
    let mut tree_flags = sysm::OPEN_TREE_CLONE | sysm::OPEN_TREE_CLOEXEC;
    if rbind || opts.recursive_idmap {
        tree_flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let tree =
        sysm::open_tree(None, src, tree_flags).map_err(|source| RootfsError::BindSource {
            destination: dest.to_owned(),
            source_path: src.to_owned(),
            source,
        })?;
    let mut attr_flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if opts.recursive_idmap {
        attr_flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    match sysm::mount_setattr_idmap(tree.as_fd(), Path::new(""), attr_flags, userns) {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            return Err(unsupported(
                dest,
                format!(
                    "idmap (the filesystem of {} does not support idmapped mounts)",
                    src.display()
                ),
            ))
        }
        Err(e) => return Err(step_err(dest, "mount_setattr")(e)),
    }
    // The destination fd itself is the target (as `/proc/self/fd/N` is for mount(2)).
    sysm::move_mount(
        tree.as_fd(),
        Path::new(""),
        Some(target),
        Path::new(""),
        sysm::MOVE_MOUNT_F_EMPTY_PATH | sysm::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(step_err(dest, "move_mount"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use serde_json::json;

    use super::super::mounts::{mount_entry, Context};
    use super::super::resolve::Root;
    use super::*;

    fn mount(v: serde_json::Value) -> Mount {
        serde_json::from_value(v).unwrap()
    }

    fn ctx_for<T>(dir: &Path, f: impl FnOnce(&Context<'_>) -> T) -> T {
        let root = Root::open(dir).unwrap();
        let ctx = Context {
            root: &root,
            bundle: dir,
            cgroup_ns: false,
        };
        f(&ctx)
    }

    /// In the child (a private mount namespace, plus the `unshare` flags in `extra`):
    /// `Some(temp dir)`. In the parent: runs the child, checks it passed and that nothing leaked,
    /// returns `None`.
    fn in_child(name: &str, extra: &[&str]) -> Option<PathBuf> {
        let mut args = vec!["-m", "--propagation", "private"];
        args.extend_from_slice(extra);
        crate::rootfs::tests::run_in_child("rootfs::idmap::tests", name, &args)
    }

    /// The mount options of the topmost mount at `path`, from mountinfo.
    fn mount_opts(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let path = path.to_str().unwrap();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[4] == path).then(|| f[5].split(',').map(str::to_owned).collect())
            })
            .next_back()
            .unwrap_or_default()
    }

    fn maps(uid_host: u32, gid_host: u32) -> serde_json::Value {
        json!({
            "uidMappings": [{"containerID": 0, "hostID": uid_host, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": gid_host, "size": 1}],
        })
    }

    fn with_maps(mut base: serde_json::Value, maps: serde_json::Value) -> Mount {
        base.as_object_mut()
            .unwrap()
            .extend(maps.as_object().unwrap().clone());
        mount(base)
    }

    #[test]
    fn idmapped_binds_show_mapped_owners() {
        let Some(dir) = // A new pid namespace under the host's /proc: the holder's pid must be translated.
        in_child("idmapped_binds_show_mapped_owners", &["-p", "-f"]) else {
            return;
        };
        let rootfs = dir.join("rootfs");
        let src = dir.join("src");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("file"), "x").unwrap();
        std::os::unix::fs::chown(src.join("file"), Some(0), Some(0)).unwrap();
        // A submount inside the source: idmapped by ridmap only.
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("inner"), "y").unwrap();
        nix::mount::mount(
            Some(&other),
            &src.join("sub"),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();

        ctx_for(&rootfs, |ctx| {
            // Directory, explicit mappings, read-only.
            let m = with_maps(
                json!({"destination": "/data", "type": "bind", "source": src,
                       "options": ["rbind", "idmap", "ro"]}),
                maps(1000, 2000),
            );
            mount_entry(ctx, &m).unwrap();
            // A single file, mappings without any idmap option.
            let m = with_maps(
                json!({"destination": "/etc/file", "type": "bind",
                       "source": src.join("file"), "options": ["bind"]}),
                maps(1001, 2001),
            );
            mount_entry(ctx, &m).unwrap();
            // ridmap: the submount is idmapped too.
            let m = with_maps(
                json!({"destination": "/rec", "type": "bind", "source": src,
                       "options": ["rbind", "ridmap"]}),
                maps(1002, 2002),
            );
            mount_entry(ctx, &m).unwrap();
        });

        let md = std::fs::metadata(rootfs.join("data/file")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1000, 2000));
        // Not idmapped recursively: the submount keeps its owners.
        let md = std::fs::metadata(rootfs.join("data/sub/inner")).unwrap();
        assert_eq!((md.uid(), md.gid()), (0, 0));
        let opts = mount_opts(&rootfs.join("data"));
        assert!(opts.iter().any(|o| o == "ro"), "{opts:?}");
        assert!(opts.iter().any(|o| o == "idmapped"), "{opts:?}");
        assert!(std::fs::write(rootfs.join("data/new"), "z").is_err());

        let md = std::fs::metadata(rootfs.join("etc/file")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1001, 2001));

        let md = std::fs::metadata(rootfs.join("rec/file")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1002, 2002));
        let md = std::fs::metadata(rootfs.join("rec/sub/inner")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1002, 2002));
        // The source itself is unchanged.
        let md = std::fs::metadata(src.join("file")).unwrap();
        assert_eq!((md.uid(), md.gid()), (0, 0));
    }

    #[test]
    fn filesystems_without_idmap_support_are_named() {
        let Some(dir) = in_child("filesystems_without_idmap_support_are_named", &[]) else {
            return;
        };
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let err = ctx_for(&rootfs, |ctx| {
            let m = with_maps(
                json!({"destination": "/k", "type": "bind", "source": "/sys/kernel",
                       "options": ["bind", "idmap"]}),
                maps(1000, 1000),
            );
            mount_entry(ctx, &m).unwrap_err()
        });
        let text = err.to_string();
        assert!(text.contains("/k"), "{text}");
        assert!(text.contains("does not support idmapped mounts"), "{text}");
    }

    #[test]
    fn refused_inside_a_user_namespace() {
        let Some(dir) = in_child(
            "refused_inside_a_user_namespace",
            &["-U", "--map-root-user"],
        ) else {
            return;
        };
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let err = ctx_for(&rootfs, |ctx| {
            let m = with_maps(
                json!({"destination": "/u", "type": "bind", "source": dir,
                       "options": ["bind", "idmap"]}),
                maps(0, 0),
            );
            mount_entry(ctx, &m).unwrap_err()
        });
        let text = err.to_string();
        assert!(
            text.contains("/u") && text.contains("user namespace"),
            "{text}"
        );
        assert!(!rootfs.join("u").exists());
    }

    #[test]
    fn refusals_name_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            // Only one of the two mappings.
            json!({"destination": "/a", "type": "bind", "source": "/tmp",
                   "options": ["bind"],
                   "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
            // idmap without mappings, and no container user namespace to take them from.
            json!({"destination": "/b", "type": "bind", "source": "/tmp",
                   "options": ["bind", "idmap"]}),
            // Not a bind mount.
            json!({"destination": "/c", "type": "tmpfs", "source": "tmpfs",
                   "options": ["idmap"]}),
        ];
        for (case, dest) in cases.into_iter().zip(["/a", "/b", "/c"]) {
            let err = ctx_for(dir.path(), |ctx| {
                mount_entry(ctx, &mount(case)).unwrap_err()
            });
            assert!(
                matches!(err, RootfsError::UnsupportedOption { .. }),
                "{err}"
            );
            assert!(err.to_string().contains(dest), "{err}");
        }
        // Nothing was created for a refused mount.
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn mappings_come_from_the_mount_or_the_container() {
        let d = Path::new("/d");
        let m = with_maps(
            json!({"destination": "/d", "type": "bind", "source": "/x"}),
            json!({
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10},
                                {"containerID": 10, "hostID": 5000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}],
            }),
        );
        let got = mount_maps(&m, d, None).unwrap();
        assert_eq!(got.uid, "0 1000 10\n10 5000 1\n");
        assert_eq!(got.gid, "0 2000 1\n");

        let plain = mount(json!({"destination": "/d", "type": "bind", "source": "/x",
                                 "options": ["idmap"]}));
        let c: Vec<LinuxIdMapping> =
            serde_json::from_value(json!([{"containerID": 0, "hostID": 100000, "size": 65536}]))
                .unwrap();
        let got = mount_maps(&plain, d, Some((&c, &c))).unwrap();
        assert_eq!(got.uid, "0 100000 65536\n");
        assert!(mount_maps(&plain, d, None).is_err());
        assert!(mount_maps(&plain, d, Some((&[], &[]))).is_err());
    }

    #[test]
    fn identity_map_detection() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0     100000      65536\n"));
        assert!(!is_identity_map(""));
    }
}
