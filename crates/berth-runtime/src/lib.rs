//! The OCI runtime library: create, start, state, kill, delete, exec, pause/resume, ps, events.
//!
//! Process model: the caller (the single-threaded `berth-runc` or `berth shim`) clones the container's
//! init directly into its new namespaces; the init sets up the rootfs and the process's identity, then
//! blocks on a fifo until `start` and execs the user's program. The runtime binary is never re-executed,
//! so a container start costs one clone.
#![forbid(unsafe_code)]

pub mod console;
pub mod container;
pub mod devices_policy;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod init;
pub mod loopback;
pub mod lsm;
pub mod namespaces;
pub mod rootfs;
pub mod security;
pub mod signals;
pub mod state;
pub mod sync;
pub mod terminal;

pub use container::{CreateOptions, Created, ExecPending, Runtime};
pub use error::{Result, RuntimeError};
pub use exec::ExecOptions;
pub use state::{OciState, Status};

/// Reads now, once per process, the host facts a create looks up (cgroup mounts, what the
/// seccomp cache key takes from the kernel and libseccomp): for a caller with idle time before
/// its first create.
pub fn warm_up() {
    berth_cgroups::warm_up();
    berth_seccomp::warm_up();
}
