//! OCI seccomp -> BPF, the default profile, a cache of compiled filters.
#![forbid(unsafe_code)]
