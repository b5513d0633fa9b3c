//! End-to-end tests of the container verbs on the real kernel (run as root:
//! `cargo test -p berth --test containers`). Every test has its own `--root`/`--runroot` in a
//! scratch dir with the bootstrapped busybox image; `common::Berth`'s drop removes containers,
//! kills leftovers, removes their cgroups and unmounts, even when the test fails.

mod bad_input;
mod common;
mod effects;
mod interactive;
mod pull;
mod survival;
mod verbs;
