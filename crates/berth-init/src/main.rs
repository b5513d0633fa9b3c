//! berth-init: pid 1 for `--init` containers (being written).
#![forbid(unsafe_code)]

fn main() {}
