//! berth-meta: the SQLite (WAL) metadata store of images, tags, layers, container references and
//! leases, with schema migrations and mark-and-sweep garbage collection of blobs and snapshots.
#![forbid(unsafe_code)]
