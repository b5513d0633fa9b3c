//! Integration tests of the berth-runc binary: each test runs a container whose process is the
//! static probe (crates/berth-probe) and asserts what the probe saw from inside.
//!
//! Runtime under test: `$BERTH_TEST_RUNTIME` (e.g. /usr/sbin/runc), else this package's
//! berth-runc. Most tests need root and skip with a message otherwise.

mod common;

mod bad_input;
mod cgroups;
mod console;
mod exec;
mod hooks;
mod interop;
mod lifecycle;
mod namespaces;
mod orchestrators;
mod process;
mod rootfs;
mod seccomp;
mod security;
