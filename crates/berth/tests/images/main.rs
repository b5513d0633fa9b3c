//! Integration tests of the `berth` image commands (run as root: `cargo test -p berth --test images`).
//! Every test uses its own `--root` under a scratch dir that is removed (mounts first) on drop;
//! fixtures are built offline by `fixtures.py`; podman, skopeo, umoci run against private stores
//! and are skipped with a message when missing.

mod bad_input;
mod cli;
mod common;
mod crash;
mod interop;
