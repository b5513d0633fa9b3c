//! Integration tests of the registry client (`berth pull/push/login/logout/search`) against
//! Debian's `docker-registry` (distribution 2.8) on a free loopback port, with and without
//! htpasswd auth, plus fault injection (a proxy that cuts blobs, a registry serving a wrong
//! digest, kill -9 of a pull). Run as root: `cargo test -p berth --test registry`.
//! Tests skip with a message when docker-registry (or skopeo, htpasswd) is missing.

#[allow(dead_code)]
#[path = "../images/common/mod.rs"]
mod common;
mod env;

mod bad_input;
mod faults;
mod gc;
mod round_trip;
