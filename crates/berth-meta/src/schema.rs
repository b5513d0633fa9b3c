//! The database schema as an ordered list of migration steps.
//!
//! Step `i` (0-based) brings the schema from version `i` to `i + 1`; `PRAGMA user_version` holds
//! the version reached. Each step runs in its own `BEGIN IMMEDIATE` transaction together with the
//! version bump, so a crash leaves the database at a version boundary. Never edit a released
//! step: append a new one.

/// Migration steps, oldest first. The schema version is `MIGRATIONS.len()`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: images, tags, layers, blob references, container references, leases.
    r#"
    CREATE TABLE images (
        id                  TEXT PRIMARY KEY,          -- config digest, sha256:<hex>
        manifest_digest     TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        created             TEXT,
        added               INTEGER NOT NULL,          -- unix seconds
        size                INTEGER NOT NULL,          -- sum of unpacked layer sizes
        parent              TEXT,
        repo_digests        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
        labels              TEXT NOT NULL DEFAULT '{}'  -- JSON object of strings
    );
    CREATE INDEX images_parent ON images(parent);

    -- The layer chain of an image, bottom first (position 0).
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        chain_id TEXT NOT NULL,
        PRIMARY KEY (image_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX image_layers_chain ON image_layers(chain_id);

    -- Every blob an image needs (manifest, config, layer blobs, extras): GC roots.
    CREATE TABLE image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest   TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    ) WITHOUT ROWID;
    CREATE INDEX image_blobs_digest ON image_blobs(digest);

    CREATE TABLE layers (
        chain_id        TEXT PRIMARY KEY,
        diff_id         TEXT NOT NULL,
        parent          TEXT,
        blob_digest     TEXT NOT NULL,
        blob_size       INTEGER NOT NULL,
        blob_media_type TEXT NOT NULL,
        snapshot_key    TEXT NOT NULL,
        unpacked_size   INTEGER NOT NULL,
        file_count      INTEGER NOT NULL
    );
    CREATE INDEX layers_snapshot ON layers(snapshot_key);

    -- Fully normalised names (docker.io/library/busybox:latest).
    CREATE TABLE tags (
        name     TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX tags_image ON tags(image_id);

    -- Containers, as far as images and GC care (issue 4 extends this table).
    CREATE TABLE containers (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        image_id     TEXT NOT NULL,               -- no foreign key: `rmi -f` may remove the image
        snapshot_key TEXT
    );
    CREATE INDEX containers_image ON containers(image_id);

    -- A lease protects resources being written from GC while its owner process lives.
    -- The owner is (boot_id, pid, start_time) so that a reused pid is not mistaken for it.
    CREATE TABLE leases (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        purpose    TEXT NOT NULL,
        boot_id    TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        start_time INTEGER NOT NULL,               -- /proc/<pid>/stat field 22, clock ticks
        created    INTEGER NOT NULL                -- unix seconds
    );
    CREATE TABLE lease_resources (
        lease_id INTEGER NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('blob', 'snapshot')),
        name     TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, name)
    ) WITHOUT ROWID;
    CREATE INDEX lease_resources_name ON lease_resources(kind, name);

    -- Resources a running GC has decided to delete and is deleting. A lease cannot take such a
    -- resource until GC is done with it (or its GC process is gone), which closes the race between
    -- GC's last check and its delete.
    CREATE TABLE gc_doomed (
        kind       TEXT NOT NULL CHECK (kind IN ('blob', 'snapshot')),
        name       TEXT NOT NULL,
        boot_id    TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    "#,
    // 2: writes published without fsync (see `Meta::begin_unsynced`).
    r#"
    CREATE TABLE unsynced (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        boot_id TEXT NOT NULL,
        created INTEGER NOT NULL            -- unix seconds
    );
    "#,
    // 3: containers proper (issue 4): creation time, the image name as given, and the engine's
    // container record (JSON). Rows without `config` are other users' references (an
    // `image mount` view), not containers.
    r#"
    ALTER TABLE containers ADD COLUMN created INTEGER;   -- unix nanoseconds
    ALTER TABLE containers ADD COLUMN image TEXT;        -- the image name the user gave
    ALTER TABLE containers ADD COLUMN config TEXT;       -- JSON of berth_engine's ContainerRecord
    "#,
    // 4: listings walk this index newest first instead of sorting every record (with 1000
    // containers the sort copied ~2 MB of records on each `ps`).
    r#"
    CREATE INDEX containers_created ON containers(created DESC, id);
    "#,
];

/// The schema version this build knows.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}
