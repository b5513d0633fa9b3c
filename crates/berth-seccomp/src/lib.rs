//! OCI seccomp -> BPF, the default profile, a cache of compiled filters.
//!
//! The runtime compiles in the parent, before cloning ([`compile_cached`] costs one file read and
//! one hash on a hit), and the child calls [`CompiledFilter::install`] right before `execve`:
//! one system call, no allocation, no libseccomp.
//!
//! - [`compile`] / [`compile_cached`]: `linux.seccomp` -> [`CompiledFilter`];
//! - [`default_profile`] / [`default_profile_json`]: Docker's default, as our own data;
//! - [`parse_profile`]: JSON -> profile with errors naming the field and value;
//! - [`simulate`]: run a compiled filter on a syscall in user space (tests, diagnostics);
//! - [`notify`]: handing the notification fd of `SCMP_ACT_NOTIFY` rules to the agent.
#![forbid(unsafe_code)]

mod cache;
mod compile;
mod default_profile;
mod enosys;
mod error;
mod filter;
pub mod names;
pub mod notify;
mod ranges;
pub mod simulate;

pub use cache::{
    cache_key, compile_cached, compile_cached_status, entry_path, warm_up, CacheStatus,
};
pub use compile::compile;
pub use default_profile::{default_profile, default_profile_json, DOCKER_DEFAULT_CAPS};
pub use error::SeccompError;
pub use filter::CompiledFilter;
pub use names::parse_profile;
