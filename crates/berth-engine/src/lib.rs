//! The container engine: the one service the daemonless CLI and `berth serve` both call.
//!
//! All state lives in berth-meta plus per-container files; operations lock only their container.
//! Containers run under a per-container `berth shim` that outlives the caller.
#![forbid(unsafe_code)]

pub mod fsops;
pub mod logfile;
pub mod shim_proto;
pub mod spec;
pub mod types;
pub mod volumes;
