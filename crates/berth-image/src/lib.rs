//! berth-image: images over the content store, the snapshotter and the metadata store: manifests,
//! configs and indexes (OCI and Docker schema 2), load/save (docker-archive and OCI layout),
//! import, tag, remove, prune, history, inspect and the store check.
#![forbid(unsafe_code)]

pub mod bootstrap;
mod check;
mod commit;
pub mod error;
pub mod history;
mod import;
pub mod inspect;
mod load;
pub mod manifest;
mod pull;
mod remove;
pub mod save;
mod store;
mod unpack;
mod views;
pub use check::{CheckReport, DiskUsage, ImageUsage, Problem};
pub use commit::CommitOptions;
pub use error::{ImageError, Result};
pub use import::{apply_change, ImportOptions};
pub use load::LoadedImage;
pub use pull::{LayerSource, PullEvent, PullSpec};
pub use remove::{short_id, PruneReport, Removed};
pub use save::SaveFormat;
pub use store::{layer_key, open_snapshotter, rfc3339, Driver, ImageStore};
pub use unpack::{dir_usage, DirUsage};
