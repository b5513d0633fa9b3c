//! Raw `seccomp(2)`: installing a compiled BPF program on the calling thread (or, with
//! `FLAG_TSYNC`, on every thread of the process).
//!
//! The filter is built elsewhere (berth-seccomp, through libseccomp) and arrives here as a slice of
//! [`SockFilter`] instructions. [`install_filter`] allocates nothing and takes no lock, so it may be
//! called in a child freshly cloned from a multi-threaded parent, right before `execve`.
//!
//! The kernel accepts a filter only from a thread that has `no_new_privs` set or holds
//! `CAP_SYS_ADMIN` in its user namespace; otherwise the call fails with `EACCES`.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `SECCOMP_FILTER_FLAG_TSYNC`: apply the filter to every thread of the process.
pub const FLAG_TSYNC: u32 = 1 << 0;
/// `SECCOMP_FILTER_FLAG_LOG`: log every action but `SECCOMP_RET_ALLOW`.
pub const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: keep Speculative Store Bypass mitigation off.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a user-notification fd for `SECCOMP_RET_USER_NOTIF`.
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`: report a TSYNC failure as `ESRCH` instead of a thread id
/// (needed when TSYNC is combined with NEW_LISTENER, whose success value is an fd).
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: a notified task waits killably (Linux 5.19).
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Every flag that [`install_filter`] passes on to the kernel.
pub const KNOWN_FLAGS: u32 = FLAG_TSYNC
    | FLAG_LOG
    | FLAG_SPEC_ALLOW
    | FLAG_NEW_LISTENER
    | FLAG_TSYNC_ESRCH
    | FLAG_WAIT_KILLABLE_RECV;

/// The kernel's limit on the length of one classic BPF program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// One classic BPF instruction, laid out exactly as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if the condition is true.
    pub jt: u8,
    /// Jump offset if the condition is false.
    pub jf: u8,
    /// Generic operand.
    pub k: u32,
}

/// Size in bytes of one [`SockFilter`] (8).
pub const INSTRUCTION_SIZE: usize = std::mem::size_of::<SockFilter>();

// The layout must match the kernel's so that a pointer to our array can be handed over as is.
const _: () =
    assert!(std::mem::size_of::<SockFilter>() == std::mem::size_of::<libc::sock_filter>());
const _: () =
    assert!(std::mem::align_of::<SockFilter>() == std::mem::align_of::<libc::sock_filter>());

/// Why [`install_filter`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The program is empty or longer than [`MAX_INSTRUCTIONS`].
    #[error("seccomp program has {len} instructions (must be 1..={MAX_INSTRUCTIONS})")]
    BadLength {
        /// Number of instructions given.
        len: usize,
    },
    /// `flags` holds bits this module does not know.
    #[error("unknown seccomp filter flags {flags:#x}")]
    UnknownFlags {
        /// The unknown bits.
        flags: u32,
    },
    /// The kernel refused the filter.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags={flags:#x}) failed: {errno}")]
    Kernel {
        /// Flags that were passed.
        flags: u32,
        /// The error the kernel returned.
        errno: Errno,
    },
    /// With `FLAG_TSYNC`, another thread of the process could not be synchronised.
    #[error("seccomp TSYNC failed: thread {tid} could not be synchronised")]
    Tsync {
        /// The thread that could not take the filter.
        tid: i64,
    },
}

/// Installs `program` with `SECCOMP_SET_MODE_FILTER` and `flags` (a combination of the `FLAG_*`
/// constants). Returns the user-notification fd when `flags` holds [`FLAG_NEW_LISTENER`], `None`
/// otherwise.
///
/// Async-signal-safe: no allocation, no lock, a single system call.
pub fn install_filter(program: &[SockFilter], flags: u32) -> Result<Option<OwnedFd>, InstallError> {
    if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
        return Err(InstallError::BadLength { len: program.len() });
    }
    if flags & !KNOWN_FLAGS != 0 {
        return Err(InstallError::UnknownFlags {
            flags: flags & !KNOWN_FLAGS,
        });
    }
    let prog = libc::sock_fprog {
        // Fits: checked against MAX_INSTRUCTIONS (4096) above.
        len: program.len() as u16,
        // The kernel only reads through this pointer; `SockFilter` has the layout of
        // `sock_filter` (checked at compile time above).
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) reads `prog` and the `prog.len` instructions it
    // points to, both of which live for the whole call (borrowed from the caller's slice, whose
    // length was checked above). It writes no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            std::ptr::addr_of!(prog),
        )
    };
    if ret < 0 {
        return Err(InstallError::Kernel {
            flags,
            errno: Errno::last(),
        });
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        let fd = ret as libc::c_int;
        // SAFETY: with NEW_LISTENER, a non-negative return value is a new fd that the kernel just
        // opened for us and that nothing else owns; we take its ownership exactly once.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        return Ok(Some(owned));
    }
    if ret > 0 {
        // TSYNC without TSYNC_ESRCH reports the thread that failed to synchronise.
        return Err(InstallError::Tsync { tid: ret });
    }
    Ok(None)
}

/// The seccomp mode of the calling thread as `prctl(PR_GET_SECCOMP)` reports it: 0 disabled,
/// 2 filter. (A thread in strict mode, 1, is killed by this very call.)
pub fn current_mode() -> Result<i32, Errno> {
    // SAFETY: PR_GET_SECCOMP takes no pointer argument and only returns an integer.
    let ret = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Whether the kernel runs x32 system calls (`CONFIG_X86_X32_ABI`, off in most distribution
/// kernels; always false off x86_64). Probed once per process with an x32 `getpid`, which such a
/// kernel answers with `ENOSYS`. Under a seccomp filter the probe itself could be refused by a
/// kill, so a filtered process does not probe and answers true (the cautious answer: rules for
/// x32 are kept).
pub fn x32_abi_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if !cfg!(target_arch = "x86_64") {
            return false;
        }
        if current_mode() != Ok(0) {
            return true;
        }
        const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
        // SAFETY: getpid takes no arguments and cannot fail; with the x32 bit it either runs
        // as x32 getpid or returns -ENOSYS.
        let ret = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
        !(ret < 0 && Errno::last() == Errno::ENOSYS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_oversized_programs() {
        assert_eq!(
            install_filter(&[], 0).unwrap_err(),
            InstallError::BadLength { len: 0 }
        );
        let big = vec![SockFilter::default(); MAX_INSTRUCTIONS + 1];
        assert_eq!(
            install_filter(&big, 0).unwrap_err(),
            InstallError::BadLength {
                len: MAX_INSTRUCTIONS + 1
            }
        );
    }

    #[test]
    fn rejects_unknown_flags() {
        let ret_allow = SockFilter {
            code: 0x06, // BPF_RET | BPF_K
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        };
        assert_eq!(
            install_filter(&[ret_allow], 1 << 20).unwrap_err(),
            InstallError::UnknownFlags { flags: 1 << 20 }
        );
    }

    /// The answer matches the kernel's configuration where it can be read.
    #[test]
    fn x32_probe_matches_the_kernel_config() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let Ok(config) = std::fs::read_to_string(format!("/boot/config-{}", release.trim())) else {
            eprintln!("skipped: no /boot/config of the running kernel to compare with");
            return;
        };
        if current_mode() != Ok(0) {
            eprintln!("skipped: this test runs under a seccomp filter");
            return;
        }
        let configured = config.lines().any(|l| l == "CONFIG_X86_X32_ABI=y");
        assert_eq!(x32_abi_available(), configured);
    }

    #[test]
    fn current_mode_of_test_thread_is_not_strict() {
        let mode = current_mode().unwrap();
        assert!(mode == 0 || mode == 2, "mode {mode}");
    }
}
