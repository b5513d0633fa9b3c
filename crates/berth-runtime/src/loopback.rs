//! The loopback interface of a network namespace the runtime makes: a new namespace's `lo`
//! starts down, and a container expects `127.0.0.1` to answer (docker, podman and runc all bring
//! it up; nothing in the container can without CAP_NET_ADMIN).

use crate::error::{Result, RuntimeError};

/// Brings `lo` up in the calling thread's network namespace.
pub fn bring_up() -> Result<()> {
    berth_sys::net::loopback_up()
        .map_err(|e| RuntimeError::sys("bring up the loopback interface", e))
}
