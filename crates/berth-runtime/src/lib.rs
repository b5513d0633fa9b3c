//! The OCI runtime library.
#![forbid(unsafe_code)]
