//! berth-distribution: the registry client. References, manifests and indexes over the OCI
//! distribution API; anonymous, basic and bearer-token auth with docker's `config.json`
//! credentials; pulls streamed into the image store in one pass (download, digest check,
//! decompression and extraction at once, layers in parallel, resumed with Range after a dropped
//! connection); pushes with the HEAD check, cross-repository mount and chunked uploads; search.
#![forbid(unsafe_code)]

pub mod auth;
pub mod credentials;
pub mod error;
pub mod progress;
pub mod pull;
pub mod push;
pub mod registry;
pub mod search;
pub mod settings;

pub use credentials::{login, logout, Credential};
pub use error::{DistError, Result};
pub use pull::{pull, pull_if_missing, PullOptions, PullOutcome};
pub use push::{push, PushOptions};
pub use registry::Registry;
pub use search::{search, SearchResult};
pub use settings::Settings;
