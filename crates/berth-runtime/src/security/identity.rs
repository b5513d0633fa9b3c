//! Who the process is: uid, gid, additional groups, umask, and the no_new_privs bit.

use berth_oci::oci_spec::runtime::User;
use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::stat::{fstat, makedev, umask, Mode, SFlag};
use nix::unistd::{fchown, setgroups, setresgid, setresuid, Gid, Uid};

use super::SecurityError;

/// Becomes `user`: keeps the permitted capabilities across the uid change (`PR_SET_KEEPCAPS`, so
/// that [`super::apply_capabilities`] can still set them), gives the stdio fds to the new user,
/// sets the additional groups (replacing the inherited ones, even with an empty list), then
/// `setresgid` and `setresuid` to the same value for real, effective and saved ids, and finally the
/// umask if the spec has one (otherwise the inherited umask stays, as with runc).
///
/// `setgroups_allowed` is false inside a user namespace whose `/proc/<pid>/setgroups` says `deny`
/// (an unprivileged user namespace): the group list is then left alone, as runc does.
///
/// Call after [`super::drop_bounding_set`] and before [`super::apply_capabilities`].
pub fn switch_user(user: &User, setgroups_allowed: bool) -> Result<(), SecurityError> {
    let (uid, gid) = (user.uid(), user.gid());
    prctl::set_keepcaps(true).map_err(|errno| SecurityError::KeepCaps { value: true, errno })?;
    give_stdio_to(uid);
    if setgroups_allowed {
        let gids: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
        let groups: Vec<Gid> = gids.iter().copied().map(Gid::from_raw).collect();
        setgroups(&groups).map_err(|errno| SecurityError::SetGroups { gids, errno })?;
    }
    let g = Gid::from_raw(gid);
    setresgid(g, g, g).map_err(|errno| SecurityError::SetGid { gid, errno })?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).map_err(|errno| SecurityError::SetUid { uid, errno })?;
    if let Some(mask) = user.umask() {
        umask(Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// Makes fds 0, 1 and 2 owned by `uid` so that the process can reopen them through
/// `/proc/self/fd/N` (`echo hi > /dev/stdout` on a pipe or on the console pty). Best effort, as in
/// runc: /dev/null is left alone, and failures (a uid not mapped in a user namespace, a read-only
/// file, a closed fd) are ignored.
fn give_stdio_to(uid: u32) {
    let dev_null = makedev(1, 3);
    for fd in 0..=2 {
        let Ok(stat) = fstat(fd) else { continue };
        let is_char = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
        if stat.st_uid == uid || (is_char && stat.st_rdev == dev_null) {
            continue;
        }
        let _ = fchown(fd, Some(Uid::from_raw(uid)), None);
    }
}

/// Sets `PR_SET_NO_NEW_PRIVS`: from now on `execve` cannot grant privileges (setuid bits and file
/// capabilities are ignored), and a seccomp filter may be loaded without `CAP_SYS_ADMIN`.
pub fn set_no_new_privileges() -> Result<(), SecurityError> {
    prctl::set_no_new_privs().map_err(SecurityError::NoNewPrivs)
}

/// Clears `PR_SET_KEEPCAPS` (after the capability sets are final).
pub(crate) fn clear_keepcaps() -> Result<(), SecurityError> {
    prctl::set_keepcaps(false).map_err(|errno: Errno| SecurityError::KeepCaps {
        value: false,
        errno,
    })
}
