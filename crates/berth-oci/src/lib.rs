//! Berth's shared vocabulary: OCI spec types, digests, the runtime config loader and the error classes
//! that every crate maps its errors onto.
#![forbid(unsafe_code)]

pub mod digest;
pub mod error;
pub mod media_types;
pub mod platform;
pub mod reference;
pub mod spec;
pub mod time;

pub use digest::Digest;
pub use error::{Classify, ErrorClass};
pub use oci_spec;
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
