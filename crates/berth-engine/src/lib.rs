//! The container engine: the one service the daemonless CLI and `berth serve` both call.
//!
//! All state lives in berth-meta plus per-container files; operations lock only their container.
//! Containers run under a per-container `berth shim` that outlives the caller.
//!
//! # Module map
//! | module | job |
//! |---|---|
//! | [`engine`] | [`Engine`] (open, lazily opened image/volume stores), container lookup (ID, name, prefix) |
//! | [`paths`] | every per-container path of the on-disk layout |
//! | [`record`] | [`ContainerRecord`]: a container's definition, JSON in the database |
//! | [`state`] | [`StateFile`] (`state.json`): run state written by engine and shim via [`state::update`] |
//! | [`lock`] | per-container operation locks (flock on `<runroot>/locks/<id>.lock`) |
//! | [`create`] | create with undo on failure |
//! | [`lifecycle`] | start (mount, /etc files, spec, shim spawn), stop, kill, restart, pause, unpause, wait |
//! | [`remove`] | rm, rename, container prune |
//! | [`list`] | ps and inspect (no locks) |
//! | [`exec`] | exec in the calling process through berth-runtime |
//! | [`logs`] | reading the json-file log |
//! | [`top`], [`stats`] | processes and cgroup counters |
//! | [`check`] | reconcile run state after a dead shim or a reboot |
//! | [`error`] | [`EngineError`] with docker's texts and error classes |
//! | [`types`] | Docker Engine API shapes (lead) |
//! | [`spec`], [`volumes`] | OCI spec builder with docker's defaults, volumes (lead) |
//! | [`fsops`] | cp, diff, export (lead) |
//! | [`logfile`], [`shim_proto`] | json-file logs, shim spawn and attach protocol (shim helper) |
#![forbid(unsafe_code)]

pub mod check;
pub mod create;
pub mod engine;
pub mod error;
pub mod exec;
pub mod fsops;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod logfile;
pub mod logs;
mod mounting;
pub mod mountpoints;
pub mod paths;
mod process;
pub mod record;
pub mod remove;
pub mod shim_proto;
pub mod spec;
pub mod state;
pub mod stats;
pub mod top;
pub mod types;
pub mod volumes;

pub use check::CheckReport;
pub use create::CreateOptions;
pub use engine::{tidy_database_at, Engine, EngineOptions};
pub use error::{EngineError, Result};
pub use exec::ExecRequest;
pub use lifecycle::{enter_start_namespace, StartOptions, Started, StopOptions, WaitCondition};
pub use list::{ListOptions, Listed};
pub use paths::Paths;
pub use record::ContainerRecord;
pub use remove::RemoveOptions;
pub use state::{StateFile, Status};
