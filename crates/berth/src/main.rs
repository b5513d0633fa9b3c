//! `berth`: the docker-compatible command line.
#![forbid(unsafe_code)]

fn main() {}
