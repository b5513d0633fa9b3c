//! The only `unsafe` code in Berth: thin, documented wrappers over the system calls that the safe
//! crates (nix, rustix) do not cover or that need care around `fork`/`clone`.
//! Every `unsafe` block carries a `// SAFETY:` line.

pub mod bpf;
pub mod fd;
pub mod mount;
pub mod net;
pub mod process;
pub mod pty;
pub mod sched;
pub mod seccomp;
pub mod timing;
