//! `create`: image -> merged config -> name -> id -> mounts (volumes) -> database row ->
//! writable snapshot -> container directory with `state.json`.
//!
//! Each step pushes its undo on an [`Undo`] stack; a failure runs them in reverse order, so
//! nothing is left half-created. The database row goes in before the snapshot is prepared, so
//! garbage collection (which keeps every snapshot a container row names) never sees the new
//! snapshot unreferenced; a reader (`ps`) that sees the row before the state file treats the
//! container as `created`.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::{validate_name, ContainerRecord};
use crate::state::{self, StateFile};
use crate::types::{CreateBody, CreateResponse};
use crate::volumes::ANONYMOUS_LABEL;
use berth_image::layer_key;
use berth_meta::{ContainerRow, MetaError};

/// What `create` needs besides the Engine API body.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--name` (docker allows a leading `/`); `None`: a random docker-style name.
    pub name: Option<String>,
    /// The `POST /containers/create` body: `Config` with `HostConfig` inside.
    pub body: CreateBody,
}

/// Undo steps, run in reverse order unless [`Undo::commit`] is called.
#[derive(Default)]
pub(crate) struct Undo<'a> {
    steps: Vec<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Undo<'a> {
    pub(crate) fn push(&mut self, f: impl FnOnce() + 'a) {
        self.steps.push(Box::new(f));
    }

    pub(crate) fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        while let Some(f) = self.steps.pop() {
            f();
        }
    }
}

/// The writable snapshot key of container `id`.
pub fn snapshot_key(id: &str) -> String {
    format!("container-{id}")
}

/// Unix nanoseconds now.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Engine {
    /// Creates a container. Errors: `No such image: X`, docker's name conflict text, a bad
    /// option (InvalidArgument).
    pub fn create(&self, o: CreateOptions) -> Result<CreateResponse> {
        let CreateBody {
            mut config,
            host_config,
            ..
        } = o.body;
        let name = match &o.name {
            Some(n) if !n.is_empty() => validate_name(n)?,
            _ => self.random_name()?,
        };
        if let berth_meta::ContainerLookup::Found(other) = self.meta.lookup_container(&name)? {
            if other.name == name {
                return Err(EngineError::NameInUse { name, id: other.id });
            }
        }
        check_host_config(&host_config)?;
        berth_sys::timing::mark("create: name free");

        // The image and its config.
        let images = self.images()?;
        let image_name = config.image.clone();
        let image_id = images.resolve(&image_name).map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => EngineError::NoSuchImage(image_name.clone()),
            other => other.into(),
        })?;
        let image = images.image(&image_id)?;
        let blob = images.read_blob(&image_id)?;
        let image_config: serde_json::Value =
            serde_json::from_slice(&blob).map_err(|e| EngineError::Corrupt {
                what: format!("config of image {image_id}"),
                reason: e.to_string(),
            })?;
        crate::spec::merge_image_config(&mut config, &image_config["config"]);
        let process = crate::spec::process_args(&config, false)?;
        berth_sys::timing::mark("create: image config read");

        let id = crate::volumes::random_hex();
        // Held until the container is whole: `system check` tells an interrupted create (row
        // without state, lock free) from one in progress.
        let _creating = crate::lock::lock(&self.paths, &id)?;
        let hostname = crate::spec::hostname_of(&id, &config);
        let key = snapshot_key(&id);
        let mut undo = Undo::default();

        // Volumes and mounts (creates named and anonymous volumes).
        let volumes = self.volumes()?;
        // Listed only when some mount may make one (a listing reads every volume's record).
        let may_make_volumes = host_config.binds.as_ref().is_some_and(|b| !b.is_empty())
            || host_config.mounts.as_ref().is_some_and(|m| !m.is_empty())
            || config.volumes.as_ref().is_some_and(|v| !v.is_empty());
        let existing: std::collections::BTreeSet<String> = if may_make_volumes {
            volumes.list()?.into_iter().map(|v| v.name).collect()
        } else {
            Default::default()
        };
        let mounts = crate::spec::plan_mounts(&config, &host_config, volumes)?;
        for m in &mounts {
            if m.kind == "volume" && !existing.contains(&m.name) {
                let name = m.name.clone();
                undo.push(move || {
                    let _ = volumes.remove(&name, &[]);
                });
            }
        }

        let record = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: now_ns(),
            image: image_name.clone(),
            image_id: image_id.to_string(),
            path: process[0].clone(),
            args: process[1..].to_vec(),
            config,
            host_config,
            snapshot_key: key.clone(),
            mounts,
            hostname,
            driver: self.driver.name().to_string(),
            platform: "linux".into(),
        };
        let row = ContainerRow {
            id: id.clone(),
            name: name.clone(),
            image_id: image_id.clone(),
            snapshot_key: Some(key.clone()),
            created: record.created,
            image: image_name,
            config: record.to_json()?,
        };
        self.meta.insert_container(&row).map_err(|e| match e {
            MetaError::ContainerNameInUse { name, other } => {
                EngineError::NameInUse { name, id: other }
            }
            e => e.into(),
        })?;
        undo.push(|| {
            let _ = self.meta.delete_container_ref(&id);
        });
        berth_sys::timing::mark("create: row inserted");

        // The writable layer on the image's top layer.
        let parent = image.layers.last().map(layer_key);
        let snaps = images.snapshotter();
        snaps
            .prepare(&key, parent.as_deref())
            .map_err(|source| EngineError::Snapshot {
                key: key.clone(),
                source,
            })?;
        undo.push(|| {
            let _ = snaps.remove(&key);
        });
        berth_sys::timing::mark("create: snapshot prepared");

        // The container directory and its state.
        let dir = self.paths.container_dir(&id);
        std::fs::create_dir(&dir).map_err(EngineError::io("creating", &dir))?;
        let undo_dir = dir.clone();
        undo.push(move || {
            let _ = std::fs::remove_dir_all(&undo_dir);
        });
        state::save(&self.paths, &id, &StateFile::created())?;
        undo.commit();
        Ok(CreateResponse {
            id,
            warnings: Vec::new(),
        })
    }

    /// A free docker-style random name (`adjective_surname`, a digit added on collision).
    fn random_name(&self) -> Result<String> {
        const LEFT: &[&str] = &[
            "admiring", "bold", "brave", "calm", "clever", "eager", "focused", "gallant", "happy",
            "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "sharp", "stoic",
            "vibrant", "zealous",
        ];
        const RIGHT: &[&str] = &[
            "babbage", "curie", "darwin", "einstein", "fermi", "galileo", "hopper", "kepler",
            "lovelace", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "tesla",
            "thompson", "turing", "wozniak", "yonath",
        ];
        let hex = crate::volumes::random_hex();
        let bytes = hex.as_bytes();
        for attempt in 0..10usize {
            let l = LEFT[(bytes[attempt] as usize * 7 + bytes[attempt + 10] as usize) % LEFT.len()];
            let r = RIGHT
                [(bytes[attempt + 20] as usize * 7 + bytes[attempt + 30] as usize) % RIGHT.len()];
            let name = if attempt == 0 {
                format!("{l}_{r}")
            } else {
                format!("{l}_{r}{attempt}")
            };
            if matches!(
                self.meta.lookup_container(&name)?,
                berth_meta::ContainerLookup::NotFound
            ) {
                return Ok(name);
            }
        }
        Ok(format!("berth_{}", &hex[..12]))
    }
}

/// Checks the parts of a host config that would only fail at start.
fn check_host_config(h: &crate::types::HostConfig) -> Result<()> {
    crate::spec::capabilities(h)?;
    match h.log_config.kind.as_str() {
        "" | "json-file" => {
            crate::logfile::RotateOptions::from_opts(&h.log_config.config)?;
        }
        "none" => {}
        other => {
            return Err(EngineError::Invalid(format!(
                "logging driver \"{other}\" is not supported (use json-file or none)"
            )))
        }
    }
    let mode = h.network_mode.as_str();
    if !(mode.is_empty()
        || mode == "none"
        || mode == "host"
        || mode == "default"
        || mode == "bridge"
        || mode.starts_with("container:"))
    {
        return Err(EngineError::Invalid(format!(
            "network {mode} not found (berth supports none, host and container:<name>)"
        )));
    }
    Ok(())
}

/// Whether volume `v` is anonymous (made for one container, removed with `rm -v`/`--rm`).
pub(crate) fn is_anonymous(v: &crate::types::Volume) -> bool {
    v.labels
        .as_ref()
        .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
}
