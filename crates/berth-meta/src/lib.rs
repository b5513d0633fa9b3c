//! berth-meta: the SQLite (WAL) metadata store of images, tags, layers, container references and
//! leases, with schema migrations and mark-and-sweep garbage collection of blobs and snapshots.
//!
//! One file, `<root>/berth.db`, opened by [`Meta::open`]. Any number of `berth` processes may
//! use it at once (WAL mode, `BEGIN IMMEDIATE` writes, 30 s busy timeout). The schema is
//! versioned with `PRAGMA user_version` and migrated on open.
//!
//! Modules: [`Meta`] (db) with images and tags, layers, container references and [`Lease`]s;
//! [`gc`] collects what nothing refers to.
#![forbid(unsafe_code)]

mod containers;
mod db;
pub mod error;
pub mod gc;
mod images;
mod layers;
mod lease;
mod process;
mod records;
mod schema;
mod unsynced;

#[cfg(test)]
mod concurrency_tests;
#[cfg(test)]
mod tests;

pub use containers::{ContainerLookup, ContainerRow};
pub use db::{wal_size, Durability, Meta};
pub use error::{MetaError, Result};
pub use lease::{Lease, LeaseInfo};
pub use process::Owner;
pub use records::{ContainerRef, ImageRecord, LayerRecord};
pub use unsynced::Unsynced;
