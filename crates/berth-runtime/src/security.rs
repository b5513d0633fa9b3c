//! The process's identity and privileges, applied by the init (and by exec'd processes) just before
//! exec: rlimits, oom score, user and groups, umask, capabilities, no_new_privs, I/O priority,
//! scheduler and personality; plus the `$PATH` lookup and the final `execve`.
//!
//! Everything here runs in a freshly cloned, single-threaded child, after `pivot_root`: no threads,
//! few syscalls, no reading of anything outside the container but `/proc/self`.
//!
//! # Order (and why)
//! 1. [`set_rlimits`] — first, while we are still root with every capability: raising a hard limit
//!    needs `CAP_SYS_RESOURCE` (which the bounding set may drop later). Lowering always works.
//! 2. `oom_score_adj` — written by the parent ([`set_oom_score_adj`] is the same write from inside).
//!    Lowering it needs `CAP_SYS_RESOURCE`.
//! 3. [`resolve_executable`] — before waiting for `start`, so that `create` fails early with
//!    "executable file not found in $PATH", as runc does. Run it after the cwd is known.
//! 4. [`drop_bounding_set`] — needs `CAP_SETPCAP` in the effective set, so it comes before the user
//!    switch (which clears the effective set of a non-root user).
//! 5. [`switch_user`] — sets `PR_SET_KEEPCAPS` so the permitted set survives `setresuid` to a
//!    non-zero uid, hands the stdio fds to the new user, then `setgroups`, `setresgid`,
//!    `setresuid` (groups and gid first: they need `CAP_SETGID`, which a non-root uid loses).
//! 6. [`apply_capabilities`] — after the switch, since the switch clears the effective set: sets the
//!    inheritable, effective and permitted sets, then the ambient set (an ambient capability must be
//!    both permitted and inheritable), and clears `PR_SET_KEEPCAPS`.
//! 7. [`set_no_new_privileges`] — then seccomp (berth-seccomp). With `noNewPrivileges: false` the
//!    seccomp filter must be installed *before* [`switch_user`] because loading a filter without
//!    no_new_privs needs `CAP_SYS_ADMIN`; the filter must then allow the syscalls of steps 5 to 8.
//! 8. [`exec`] — `execve`, which returns only on error.
//!
//! `set_io_priority`, `set_scheduler` and `set_personality` (module `scheduling`, exported once
//! berth-sys declares its `sched` module) may come anywhere before step 5: a real-time scheduler
//! or the RT I/O class need `CAP_SYS_NICE` / `CAP_SYS_ADMIN`.
//!
//! Capability names that this kernel does not know (a newer spec on an older kernel) are skipped
//! without error, as runc does; [`unsupported_capabilities`] lists them so that the caller (the
//! parent, where logging is possible) can warn.

mod capabilities;
mod executable;
mod identity;
mod limits;
mod scheduling;

#[cfg(test)]
pub(crate) mod reexec;
#[cfg(test)]
mod scenarios;

use std::path::PathBuf;

use berth_oci::{error::class_of_errno, Classify, ErrorClass};
use nix::errno::Errno;

pub use capabilities::{
    apply_capabilities, drop_bounding_set, parse_capability, unsupported_capabilities,
};
pub use executable::{exec, resolve_executable};
pub use identity::{set_no_new_privileges, switch_user};
pub use limits::{set_oom_score_adj, set_rlimits};
pub use scheduling::{set_io_priority, set_personality, set_scheduler};

/// A failure while applying the process's identity and privileges, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// `setrlimit` failed; EPERM means raising the hard limit without `CAP_SYS_RESOURCE`.
    #[error("setting {resource} to soft {soft} hard {hard}: {errno}{}", rlimit_hint(*errno))]
    Rlimit {
        /// The spec name of the limit, e.g. `RLIMIT_NOFILE`.
        resource: String,
        /// The requested soft limit.
        soft: u64,
        /// The requested hard limit.
        hard: u64,
        /// What the kernel said.
        errno: Errno,
    },
    /// Writing `/proc/self/oom_score_adj` failed.
    #[error("writing {value} to /proc/self/oom_score_adj: {source}")]
    OomScoreAdj {
        /// The value written.
        value: i32,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading or dropping a capability of the bounding set failed.
    #[error("dropping {cap} from the bounding set: {reason}")]
    BoundingSet {
        /// The capability, e.g. `CAP_SYS_ADMIN`.
        cap: String,
        /// What failed (the caps crate reports errors as text).
        reason: String,
    },
    /// Setting one of the effective, permitted or inheritable sets failed.
    #[error("setting the {set} capability set to [{caps}]: {reason}")]
    CapabilitySet {
        /// `effective`, `permitted` or `inheritable`.
        set: &'static str,
        /// The requested capabilities, comma separated.
        caps: String,
        /// What failed.
        reason: String,
    },
    /// Clearing or raising an ambient capability failed.
    #[error("setting ambient capability {cap}: {reason} (an ambient capability must also be permitted and inheritable)")]
    Ambient {
        /// The capability, or `all` for the clear.
        cap: String,
        /// What failed.
        reason: String,
    },
    /// `prctl(PR_SET_KEEPCAPS)` failed.
    #[error("setting PR_SET_KEEPCAPS to {value}: {errno}")]
    KeepCaps {
        /// The value set.
        value: bool,
        /// What the kernel said.
        errno: Errno,
    },
    /// `setgroups` failed.
    #[error("setting additional groups {gids:?}: {errno}")]
    SetGroups {
        /// The requested additional gids.
        gids: Vec<u32>,
        /// What the kernel said.
        errno: Errno,
    },
    /// `setresgid` failed.
    #[error("setting gid {gid}: {errno}")]
    SetGid {
        /// The requested gid.
        gid: u32,
        /// What the kernel said.
        errno: Errno,
    },
    /// `setresuid` failed.
    #[error("setting uid {uid}: {errno}")]
    SetUid {
        /// The requested uid.
        uid: u32,
        /// What the kernel said.
        errno: Errno,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("setting no_new_privs: {0}")]
    NoNewPrivs(Errno),
    /// `ioprio_set` failed or the priority is out of range.
    #[error("setting I/O priority class {class} level {priority}: {reason}")]
    IoPriority {
        /// The spec class, e.g. `IOPRIO_CLASS_BE`.
        class: String,
        /// The requested level (0..=7).
        priority: i64,
        /// What failed.
        reason: String,
    },
    /// `sched_setattr` failed or the scheduler settings are invalid.
    #[error("setting scheduler policy {policy}: {reason}")]
    Scheduler {
        /// The spec policy, e.g. `SCHED_FIFO`.
        policy: String,
        /// What failed.
        reason: String,
    },
    /// `personality` failed or an unknown flag was given.
    #[error("setting personality {domain}: {reason}")]
    Personality {
        /// The spec domain, `LINUX` or `LINUX32`.
        domain: String,
        /// What failed.
        reason: String,
    },
    /// The program was not found in `$PATH` (or does not exist at the given path).
    #[error("exec: \"{program}\": executable file not found in $PATH")]
    ExecutableNotFound {
        /// `args[0]` as given.
        program: String,
    },
    /// The program exists but is not an executable regular file.
    #[error("exec: \"{}\": permission denied", path.display())]
    NotExecutable {
        /// The path found.
        path: PathBuf,
    },
    /// Looking at a candidate executable failed for another reason than "does not exist".
    #[error("exec: \"{}\": {source}", path.display())]
    ExecutableStat {
        /// The path looked at.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An argument, environment entry or path contains a NUL byte.
    #[error("{what} contains a NUL byte: {value:?}")]
    NulByte {
        /// Which input (`argument`, `path`).
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// `execve` failed.
    #[error("exec {path:?}: {errno}")]
    Exec {
        /// The program path.
        path: String,
        /// What the kernel said.
        errno: Errno,
    },
}

fn rlimit_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::EPERM => " (raising a hard limit needs CAP_SYS_RESOURCE)",
        Errno::EINVAL => " (the soft limit must not exceed the hard limit)",
        _ => "",
    }
}

impl Classify for SecurityError {
    fn class(&self) -> ErrorClass {
        match self {
            SecurityError::Rlimit { errno, .. }
            | SecurityError::KeepCaps { errno, .. }
            | SecurityError::SetGroups { errno, .. }
            | SecurityError::SetGid { errno, .. }
            | SecurityError::SetUid { errno, .. }
            | SecurityError::NoNewPrivs(errno) => class_of_errno(*errno as i32),
            SecurityError::Exec { errno, .. } => match errno {
                Errno::ENOENT => ErrorClass::NotFound,
                Errno::EACCES | Errno::EPERM => ErrorClass::PermissionDenied,
                _ => ErrorClass::FailedPrecondition,
            },
            SecurityError::OomScoreAdj { source, .. }
            | SecurityError::ExecutableStat { source, .. } => source
                .raw_os_error()
                .map_or(ErrorClass::Internal, class_of_errno),
            SecurityError::BoundingSet { .. }
            | SecurityError::CapabilitySet { .. }
            | SecurityError::Ambient { .. } => ErrorClass::PermissionDenied,
            SecurityError::IoPriority { .. }
            | SecurityError::Scheduler { .. }
            | SecurityError::Personality { .. } => ErrorClass::FailedPrecondition,
            SecurityError::ExecutableNotFound { .. } => ErrorClass::NotFound,
            SecurityError::NotExecutable { .. } => ErrorClass::PermissionDenied,
            SecurityError::NulByte { .. } => ErrorClass::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_eperm_message_names_limit_and_capability() {
        let err = SecurityError::Rlimit {
            resource: "RLIMIT_NOFILE".into(),
            soft: 30000,
            hard: 30000,
            errno: Errno::EPERM,
        };
        let msg = err.to_string();
        assert!(msg.contains("RLIMIT_NOFILE"), "{msg}");
        assert!(msg.contains("CAP_SYS_RESOURCE"), "{msg}");
        assert_eq!(err.class(), ErrorClass::PermissionDenied);
    }

    #[test]
    fn exec_errors_read_like_runc() {
        let err = SecurityError::ExecutableNotFound {
            program: "nope".into(),
        };
        assert_eq!(
            err.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(err.class(), ErrorClass::NotFound);
        let err = SecurityError::NotExecutable {
            path: "/etc/passwd".into(),
        };
        assert_eq!(err.to_string(), "exec: \"/etc/passwd\": permission denied");
    }
}
