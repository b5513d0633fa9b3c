//! ps and inspect: one database query plus one state-file read per container, no locks.
//!
//! A container whose state says running but whose shim is gone is reconciled on the way
//! ([`Engine::reconcile`]), so `ps` never shows a dead container as up.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use crate::state::{self, StateFile, Status};
use crate::types::{
    ContainerJson, ContainerState, ContainerSummary, GraphDriver, MountPoint, NetworkSettings,
    Port, StringMap, SummaryHostConfig, SummaryNetworkSettings,
};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `ps` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// `-a`: stopped containers too.
    pub all: bool,
    /// `-s`: compute sizes (slow: walks each writable layer).
    pub size: bool,
}

/// One listed container.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: ContainerRecord,
    pub state: StateFile,
    /// `-s`: bytes in the writable layer.
    pub size_rw: Option<i64>,
}

/// Reads container `id`'s state file into `buf` (cleared first) and parses it.
fn read_state(
    dirs: &ListDirs,
    paths: &crate::paths::Paths,
    id: &str,
    buf: &mut Vec<u8>,
) -> Result<StateFile> {
    use std::io::Read;
    let path = paths.state_file(id);
    buf.clear();
    // Through `take`: `File::read_to_end` would first stat the file for a size hint.
    state::open_in(dirs.containers.as_ref(), &path, &format!("{id}/state.json"))
        .and_then(|f| f.take(u64::MAX).read_to_end(buf))
        .map_err(|e| EngineError::io("reading", &path)(e))?;
    state::parse(id, buf)
}

/// The directories a listing opens every container's files from: each path is walked once,
/// not once per container (with 1000 containers the walks were a tenth of `ps`).
pub(crate) struct ListDirs {
    /// `<root>/containers`.
    containers: Option<std::fs::File>,
    /// `<runroot>/containers`.
    run: Option<std::fs::File>,
}

impl ListDirs {
    fn open(paths: &crate::paths::Paths) -> ListDirs {
        ListDirs {
            containers: std::fs::File::open(paths.containers_dir()).ok(),
            run: std::fs::File::open(paths.run_containers_dir()).ok(),
        }
    }
}

/// Go's zero time, what docker shows for a time that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time_or_zero(s: &str) -> String {
    if s.is_empty() {
        ZERO_TIME.to_string()
    } else {
        s.to_string()
    }
}

/// The part of a [`ContainerRecord`] that `ps` shows or filters on, parsed from the same JSON
/// without the rest (env, the whole host config, ...): deserializing the full record was most
/// of a listing's cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PsRecord {
    /// 64 hex digits.
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    /// Unix nanoseconds.
    pub created: i64,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:<hex>`.
    pub image_id: String,
    /// The process: args[0] and the rest.
    pub path: String,
    pub args: Vec<String>,
    pub config: PsConfig,
    pub host_config: PsHostConfig,
    pub mounts: Vec<MountPoint>,
}

/// [`PsRecord`]'s part of the container's `Config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PsConfig {
    /// `80/tcp` and the like (the set's values are empty objects).
    pub exposed_ports: Option<BTreeMap<String, IgnoredAny>>,
    pub labels: Option<StringMap>,
}

/// [`PsRecord`]'s part of the container's `HostConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PsHostConfig {
    pub network_mode: String,
}

impl PsRecord {
    /// Parses the fields `ps` needs from a stored record (the rest is skipped unread).
    pub fn from_json(id: &str, text: &str) -> Result<PsRecord> {
        serde_json::from_str(text).map_err(|e| EngineError::Corrupt {
            what: format!("record of container {id}"),
            reason: e.to_string(),
        })
    }

    /// The exposed ports' keys (`80/tcp`), in order.
    pub fn exposed_ports(&self) -> impl Iterator<Item = &str> {
        self.config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys())
            .map(String::as_str)
    }
}

/// One container as `ps` lists it.
#[derive(Debug, Clone)]
pub struct PsListed {
    pub record: PsRecord,
    /// `None` when not asked for ([`PsOptions::state`] false).
    pub state: Option<StateFile>,
}

/// [`Engine::list_ps`] options.
#[derive(Debug, Clone, Copy, Default)]
pub struct PsOptions {
    /// Read (and reconcile) each container's state file; `ps -aq` without a status filter
    /// needs none.
    pub state: bool,
}

impl Engine {
    /// Every container, newest first, with only what `ps` shows (see [`PsRecord`]).
    pub fn list_ps(&self, o: PsOptions) -> Result<Vec<PsListed>> {
        let rows = self.meta.container_rows()?;
        let mut out = Vec::with_capacity(rows.len());
        let mut buf = Vec::with_capacity(1024);
        let dirs = ListDirs::open(&self.paths);
        for row in rows {
            let state = if o.state {
                Some(self.listed_state(&dirs, &row.id, &mut buf))
            } else {
                None
            };
            out.push(PsListed {
                record: PsRecord::from_json(&row.id, &row.config)?,
                state,
            });
        }
        Ok(out)
    }

    /// Container `id`'s state for a listing (its files opened from `dirs`): read into `buf`,
    /// reconciled when its shim is gone; a missing file (mid-create or mid-removal) is
    /// `created`, an unreadable one `dead`.
    fn listed_state(&self, dirs: &ListDirs, id: &str, buf: &mut Vec<u8>) -> StateFile {
        let st = match read_state(dirs, &self.paths, id, buf) {
            Ok(s) => s,
            Err(EngineError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                StateFile::default()
            }
            Err(_) => StateFile {
                status: Status::Dead,
                ..Default::default()
            },
        };
        if st.status.is_active() && !state::shim_alive_in(dirs.run.as_ref(), &self.paths, id, &st) {
            let _ = self.reconcile(id);
            return state::load(&self.paths, id).unwrap_or(st);
        }
        st
    }
}

impl Engine {
    /// The containers, newest first.
    pub fn list(&self, o: ListOptions) -> Result<Vec<Listed>> {
        let rows = self.meta.container_rows()?;
        let mut out = Vec::with_capacity(rows.len());
        // One buffer for every state file: open + read, no stat, no allocation per file.
        let mut buf = Vec::with_capacity(1024);
        let dirs = ListDirs::open(&self.paths);
        for row in rows {
            let st = self.listed_state(&dirs, &row.id, &mut buf);
            if !o.all && !st.status.is_active() {
                continue;
            }
            let record = ContainerRecord::from_json(&row.id, &row.config)?;
            let size_rw = o.size.then(|| self.size_rw(&record)).flatten();
            out.push(Listed {
                record,
                state: st,
                size_rw,
            });
        }
        Ok(out)
    }

    fn size_rw(&self, rec: &ContainerRecord) -> Option<i64> {
        let images = self.images().ok()?;
        let dir = images.snapshotter().layer_dir(&rec.snapshot_key).ok()?;
        Some(crate::volumes::du(&dir) as i64)
    }

    /// `ps` rows (Engine API `ContainerSummary`), newest first.
    pub fn list_summaries(&self, o: ListOptions) -> Result<Vec<ContainerSummary>> {
        let now = crate::logfile::now_ns();
        Ok(self.list(o)?.iter().map(|l| l.summary(now)).collect())
    }

    /// docker inspect's document; `size` adds SizeRw/SizeRootFs.
    pub fn inspect(&self, reference: &str, size: bool) -> Result<ContainerJson> {
        let row = self.lookup_row(reference)?;
        let record = ContainerRecord::from_json(&row.id, &row.config)?;
        let st = match self.reconciled_state(&row.id) {
            Ok(s) => s,
            Err(EngineError::NoSuchContainer(_)) => StateFile::default(),
            Err(e) => return Err(e),
        };
        let size_rw = size.then(|| self.size_rw(&record)).flatten();
        let mut j = Listed {
            record,
            state: st,
            size_rw,
        }
        .inspect(self);
        if size {
            // Docker's SizeRootFs: every file the container sees, its image's layers
            // included (`ps -s`'s "virtual" size). An image since removed counts as empty.
            j.size_root_fs = Some(j.size_rw.unwrap_or(0) + self.image_size(&j.image));
        }
        Ok(j)
    }

    /// The unpacked size of image `id` (`sha256:...`); 0 when it is not stored.
    fn image_size(&self, id: &str) -> i64 {
        id.parse::<berth_oci::Digest>()
            .ok()
            .and_then(|d| self.meta.image(&d).ok().flatten())
            .map_or(0, |img| img.size as i64)
    }
}

impl Listed {
    /// Docker's `State` object.
    pub fn container_state(&self) -> ContainerState {
        let s = &self.state;
        let running = matches!(s.status, Status::Running | Status::Paused);
        ContainerState {
            status: s.status.as_str().to_string(),
            running,
            paused: s.status == Status::Paused,
            restarting: s.status == Status::Restarting,
            oom_killed: s.oom_killed,
            dead: s.status == Status::Dead,
            pid: if running { s.pid as i64 } else { 0 },
            exit_code: s.exit_code,
            error: s.error.clone(),
            started_at: time_or_zero(&s.started_at),
            finished_at: time_or_zero(&s.finished_at),
            health: s.health.clone(),
        }
    }

    /// The `docker inspect` document.
    pub fn inspect(&self, engine: &Engine) -> ContainerJson {
        let r = &self.record;
        let p = engine.paths();
        let mut data = crate::types::StringMap::new();
        if let Ok(images) = engine.images() {
            if let Ok(dir) = images.snapshotter().layer_dir(&r.snapshot_key) {
                data.insert("UpperDir".into(), dir.display().to_string());
                if let Some(parent) = dir.parent() {
                    data.insert("WorkDir".into(), parent.join("work").display().to_string());
                }
            }
        }
        data.insert("MergedDir".into(), p.rootfs(&r.id).display().to_string());
        let mut ports = std::collections::BTreeMap::new();
        for k in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            ports.insert(k.clone(), None);
        }
        let mut networks = std::collections::BTreeMap::new();
        let mode = network_name(&r.host_config.network_mode);
        if !mode.starts_with("container:") {
            networks.insert(mode.clone(), serde_json::json!({}));
        }
        ContainerJson {
            id: r.id.clone(),
            created: crate::logfile::format_time(r.created as i128),
            path: r.path.clone(),
            args: r.args.clone(),
            state: self.container_state(),
            image: r.image_id.clone(),
            resolv_conf_path: p.resolv_conf(&r.id).display().to_string(),
            hostname_path: p.hostname_file(&r.id).display().to_string(),
            hosts_path: p.hosts_file(&r.id).display().to_string(),
            log_path: if r.host_config.log_config.kind == "none" {
                String::new()
            } else {
                p.log_file(&r.id).display().to_string()
            },
            name: format!("/{}", r.name),
            restart_count: self.state.restart_count,
            driver: r.driver.clone(),
            platform: r.platform.clone(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: r.host_config.clone(),
            graph_driver: GraphDriver {
                name: if r.driver == "overlay" {
                    "overlay2".into()
                } else {
                    r.driver.clone()
                },
                data,
            },
            size_rw: self.size_rw,
            size_root_fs: None,
            mounts: r.mounts.clone(),
            config: r.config.clone(),
            network_settings: NetworkSettings {
                sandbox_key: if self.state.status.is_active() && self.state.pid > 0 {
                    format!("/proc/{}/ns/net", self.state.pid)
                } else {
                    String::new()
                },
                ports,
                networks,
                ..Default::default()
            },
        }
    }

    /// The `ps` row; `now_ns` for the human status text.
    pub fn summary(&self, now_ns: i128) -> ContainerSummary {
        let r = &self.record;
        let mut command = r.path.clone();
        for a in &r.args {
            command.push(' ');
            if a.contains(' ') {
                command.push_str(&format!("'{a}'"));
            } else {
                command.push_str(a);
            }
        }
        let mut ports = Vec::new();
        for k in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            let (num, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            if let Ok(n) = num.parse() {
                ports.push(Port {
                    private_port: n,
                    kind: proto.to_string(),
                    ..Default::default()
                });
            }
        }
        let mut networks = std::collections::BTreeMap::new();
        let mode = network_name(&r.host_config.network_mode);
        if !mode.starts_with("container:") {
            networks.insert(mode.clone(), serde_json::json!({}));
        }
        ContainerSummary {
            id: r.id.clone(),
            names: vec![format!("/{}", r.name)],
            image: r.image.clone(),
            image_id: r.image_id.clone(),
            command,
            created: r.created / 1_000_000_000,
            ports,
            size_rw: self.size_rw,
            size_root_fs: None,
            labels: r.config.labels.clone().unwrap_or_default(),
            state: self.state.status.as_str().to_string(),
            status: status_text(&self.state, now_ns),
            host_config: SummaryHostConfig { network_mode: mode },
            network_settings: SummaryNetworkSettings { networks },
            mounts: r.mounts.clone(),
        }
    }
}

fn network_name(mode: &str) -> String {
    match mode {
        "" | "default" => "bridge".into(),
        m => m.to_string(),
    }
}

/// Docker's human STATUS text (`Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`).
pub fn status_text(s: &StateFile, now_ns: i128) -> String {
    let since = |t: &str| -> String {
        let then = crate::logfile::parse_time(t).unwrap_or(now_ns);
        human_duration(Duration::from_nanos((now_ns - then).max(0) as u64))
    };
    match s.status {
        Status::Running | Status::Paused => {
            let up = since(&s.started_at);
            if s.status == Status::Paused {
                return format!("Up {up} (Paused)");
            }
            match s.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => format!("Up {up} (health: starting)"),
                Some(h) if !h.is_empty() && h != "none" => format!("Up {up} ({h})"),
                _ => format!("Up {up}"),
            }
        }
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if s.finished_at.is_empty() {
                return "Created".into();
            }
            format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
        }
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        0 => "Less than a second".into(),
        1..=59 => plural(secs, "second"),
        60..=119 => "About a minute".into(),
        120..=3599 => plural(secs / 60, "minute"),
        3600..=7199 => "About an hour".into(),
        _ => {
            let hours = secs / 3600;
            if hours < 48 {
                plural(hours, "hour")
            } else if hours < 24 * 7 * 2 {
                plural(hours / 24, "day")
            } else if hours < 24 * 30 * 2 {
                plural(hours / 24 / 7, "week")
            } else if hours < 24 * 365 * 2 {
                plural(hours / 24 / 30, "month")
            } else {
                plural(hours / 24 / 365, "year")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_docker() {
        let h = |s| human_duration(Duration::from_secs(s));
        assert_eq!(h(0), "Less than a second");
        assert_eq!(h(1), "1 second");
        assert_eq!(h(59), "59 seconds");
        assert_eq!(h(60), "About a minute");
        assert_eq!(h(180), "3 minutes");
        assert_eq!(h(3600), "About an hour");
        assert_eq!(h(3 * 3600), "3 hours");
        assert_eq!(h(3 * 86400), "3 days");
    }

    #[test]
    fn ps_record_is_the_records_part() {
        let mut r = ContainerRecord {
            id: "ab".repeat(32),
            name: "web".into(),
            created: 1_700_000_000_123_456_789,
            image: "busybox".into(),
            image_id: format!("sha256:{}", "cd".repeat(32)),
            path: "sh".into(),
            args: vec!["-c".into(), "echo \"a b\"".into()],
            mounts: vec![MountPoint {
                kind: "volume".into(),
                name: "data".into(),
                destination: "/data".into(),
                driver: "local".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        r.config.env = Some(vec!["A=1".into()]);
        r.config.exposed_ports = Some(
            [("80/tcp".to_string(), Default::default())]
                .into_iter()
                .collect(),
        );
        r.config.labels = Some([("app".to_string(), "x\ty".to_string())].into());
        r.host_config.network_mode = "none".into();
        let p = PsRecord::from_json(&r.id, &r.to_json().unwrap()).unwrap();
        assert_eq!(
            (p.id.as_str(), p.name.as_str(), p.created),
            (r.id.as_str(), r.name.as_str(), r.created)
        );
        assert_eq!((&p.image, &p.image_id), (&r.image, &r.image_id));
        assert_eq!((&p.path, &p.args, &p.mounts), (&r.path, &r.args, &r.mounts));
        assert_eq!(p.exposed_ports().collect::<Vec<_>>(), ["80/tcp"]);
        assert_eq!(p.config.labels, r.config.labels);
        assert_eq!(p.host_config.network_mode, "none");
        let empty = PsRecord::from_json("x", "{}").unwrap();
        assert_eq!(empty.exposed_ports().count(), 0);
        assert!(PsRecord::from_json("x", "{").is_err());
    }

    #[test]
    fn status_texts() {
        let now = 1_000_000_000_000_000_000i128;
        let t = |ns: i128| crate::logfile::format_time(ns);
        let mut s = StateFile::default();
        assert_eq!(status_text(&s, now), "Created");
        s.status = Status::Running;
        s.started_at = t(now - 3_000_000_000);
        assert_eq!(status_text(&s, now), "Up 3 seconds");
        s.status = Status::Exited;
        s.exit_code = 2;
        s.finished_at = t(now - 120_000_000_000);
        assert_eq!(status_text(&s, now), "Exited (2) 2 minutes ago");
    }
}
