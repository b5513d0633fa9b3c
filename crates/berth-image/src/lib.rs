//! berth-image: images over the content store, the snapshotter and the metadata store: manifests,
//! configs and indexes (OCI and Docker schema 2), load/save (docker-archive and OCI layout),
//! import, tag, remove, prune, history, inspect and the store check.
#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod manifest;
