//! File-descriptor hygiene before exec: no host fd may reach the container.

use nix::errno::Errno;

/// Marks every fd from `first` up as close-on-exec (close_range with CLOSE_RANGE_CLOEXEC), so that
/// only the fds below `first` survive the coming execve.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags on fds of this process; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Kernels before 5.11, or a seccomp profile without close_range: walk /proc/self/fd.
        Errno::ENOSYS | Errno::EPERM | Errno::EINVAL => cloexec_by_listing(first),
        e => Err(e),
    }
}

/// [`cloexec_from`] without close_range: sets FD_CLOEXEC on each listed fd.
fn cloexec_by_listing(first: u32) -> Result<(), Errno> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd: &i32| *fd >= first as i32)
        .collect();
    for fd in fds {
        match nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            Ok(_) | Err(Errno::EBADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes ownership of `fd`, a descriptor that a nix call just returned to the caller.
///
/// The caller must not use or close `fd` elsewhere afterwards; passing a descriptor owned by
/// something else leads to a double close (which is why callers only pass fresh descriptors).
pub fn owned(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: by this function's contract `fd` is open and owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Starts writeback of the dirty pages of `fd` in `[offset, offset + len)` without waiting for
/// it (sync_file_range SYNC_FILE_RANGE_WRITE), so that a later fsync finds little left to write.
pub fn start_writeback(
    fd: std::os::fd::BorrowedFd<'_>,
    offset: u64,
    len: u64,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only schedules I/O for an fd this process holds open (borrowed for
    // the call); no memory is passed.
    let ret = unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn marks_high_fds_cloexec() {
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let raw = f.as_raw_fd();
        // Clear CLOEXEC first (std opens with it), then set it again through close_range.
        nix::fcntl::fcntl(
            raw,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        cloexec_from(raw as u32).unwrap();
        let flags = nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }
}
