//! Named volumes (driver `local`): `<root>/volumes/<name>/_data` plus `volume.json` beside it.
//!
//! A volume's record is written to a temp file and renamed into place, so a crash leaves either no
//! volume or a whole one (a directory without `volume.json` is ignored and removed by `prune`).
//! Anonymous volumes carry docker's label `com.docker.volume.anonymous`.

use crate::types::{StringMap, Volume};
use berth_oci::{Classify, ErrorClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Docker's label on volumes created for an anonymous `-v /path` or an image VOLUME.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Failures of volume operations.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse { name: String, users: String },
    #[error("volume driver {0:?} is not supported (only \"local\")")]
    Driver(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("volume record {path}: {source}")]
    Record {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Classify for VolumeError {
    fn class(&self) -> ErrorClass {
        match self {
            VolumeError::InvalidName { .. } | VolumeError::Driver(_) => ErrorClass::InvalidArgument,
            VolumeError::NotFound(_) => ErrorClass::NotFound,
            VolumeError::InUse { .. } => ErrorClass::Conflict,
            VolumeError::Io { .. } | VolumeError::Record { .. } => ErrorClass::Internal,
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

/// Docker's volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (at least two characters).
pub fn validate_name(name: &str) -> Result<(), VolumeError> {
    let bad = |reason| VolumeError::InvalidName {
        name: name.into(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return Err(bad("must start with a letter or digit")),
    }
    if name.len() < 2 {
        return Err(bad("must be at least two characters"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(bad("only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    driver: String,
    created_at: String,
    #[serde(default)]
    labels: StringMap,
    #[serde(default)]
    options: StringMap,
}

/// The volume store under `<root>/volumes`.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    /// Opens (creating) `<root>/volumes`.
    pub fn open(root: &Path) -> Result<Volumes, VolumeError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        Ok(Volumes { dir })
    }

    /// The directory a volume's data lives in (what is mounted into containers).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates a volume; an existing one of that name is returned as it is (docker's rule).
    /// `name` None makes an anonymous volume with a random 64-hex name.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: StringMap,
        options: StringMap,
    ) -> Result<Volume, VolumeError> {
        if !driver.is_empty() && driver != "local" {
            return Err(VolumeError::Driver(driver.into()));
        }
        let (name, mut labels) = match name {
            Some(n) => {
                validate_name(n)?;
                (n.to_string(), labels)
            }
            None => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (random_hex(), l)
            }
        };
        if let Ok(v) = self.get(&name) {
            return Ok(v);
        }
        let vdir = self.dir.join(&name);
        let data = vdir.join("_data");
        std::fs::create_dir_all(&data).map_err(io("create", &data))?;
        labels.retain(|k, _| !k.is_empty());
        let rec = Record {
            name: name.clone(),
            driver: "local".into(),
            created_at: berth_oci::time::rfc3339(unix_now()),
            labels,
            options,
        };
        let path = vdir.join("volume.json");
        let tmp = vdir.join(".volume.json.tmp");
        let bytes = serde_json::to_vec_pretty(&rec).expect("a volume record serialises");
        std::fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        Ok(self.view(rec))
    }

    fn view(&self, r: Record) -> Volume {
        Volume {
            mountpoint: self.data_dir(&r.name).display().to_string(),
            name: r.name,
            driver: r.driver,
            created_at: r.created_at,
            labels: Some(r.labels),
            scope: "local".into(),
            options: Some(r.options),
            usage_data: None,
        }
    }

    /// One volume by name.
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        if validate_name(name).is_err() {
            return Err(VolumeError::NotFound(name.into()));
        }
        let path = self.dir.join(name).join("volume.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.into()))
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        let rec: Record = serde_json::from_slice(&bytes)
            .map_err(|source| VolumeError::Record { path, source })?;
        Ok(self.view(rec))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io("read", &self.dir))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for n in names {
            match self.get(&n) {
                Ok(v) => out.push(v),
                Err(VolumeError::NotFound(_)) => {} // a torn create: prune removes it
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes a volume. `users` are the containers using it (refused unless empty).
    pub fn remove(&self, name: &str, users: &[String]) -> Result<(), VolumeError> {
        self.get(name)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.into(),
                users: users.join(", "),
            });
        }
        self.delete_dir(name)
    }

    fn delete_dir(&self, name: &str) -> Result<(), VolumeError> {
        let vdir = self.dir.join(name);
        // Drop the record first: a crash mid-removal leaves an ignored directory, not a volume
        // with half its data.
        let rec = vdir.join("volume.json");
        match std::fs::remove_file(&rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &rec)(e)),
        }
        match std::fs::remove_dir_all(&vdir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &vdir)(e)),
        }
    }

    /// Removes unused volumes (anonymous ones only unless `all`) and torn creates; returns the
    /// names removed and the bytes reclaimed.
    pub fn prune(
        &self,
        in_use: &BTreeSet<String>,
        all: bool,
        keep: impl Fn(&Volume) -> bool,
    ) -> Result<(Vec<String>, u64), VolumeError> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        let entries = std::fs::read_dir(&self.dir).map_err(io("read", &self.dir))?;
        for e in entries.flatten() {
            let Some(name) = e.file_name().into_string().ok() else {
                continue;
            };
            match self.get(&name) {
                Ok(v) => {
                    let anonymous = v
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL));
                    if in_use.contains(&name) || !(all || anonymous) || keep(&v) {
                        continue;
                    }
                    bytes += du(&self.data_dir(&name));
                    self.delete_dir(&name)?;
                    removed.push(name);
                }
                Err(VolumeError::NotFound(_)) if !name.starts_with('.') => {
                    self.delete_dir(&name)?
                }
                Err(_) => {}
            }
        }
        removed.sort();
        Ok((removed, bytes))
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Bytes used under `dir` (not following symlinks).
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// 32 random bytes as hex (docker's ids and anonymous volume names).
pub fn random_hex() -> String {
    let mut buf = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove_prune() {
        let t = tempfile::tempdir().unwrap();
        let v = Volumes::open(t.path()).unwrap();
        let a = v
            .create(
                Some("data"),
                "local",
                Default::default(),
                Default::default(),
            )
            .unwrap();
        assert_eq!(a.scope, "local");
        assert!(Path::new(&a.mountpoint).is_dir());
        std::fs::write(v.data_dir("data").join("f"), b"x").unwrap();
        // Creating again returns the same volume, data intact.
        v.create(Some("data"), "", Default::default(), Default::default())
            .unwrap();
        assert!(v.data_dir("data").join("f").exists());
        let anon = v
            .create(None, "local", Default::default(), Default::default())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(v.list().unwrap().len(), 2);
        assert!(matches!(
            v.remove("data", &["c1".into()]),
            Err(VolumeError::InUse { .. })
        ));
        assert!(matches!(v.get("nope"), Err(VolumeError::NotFound(_))));
        assert!(v
            .create(Some("x"), "", Default::default(), Default::default())
            .is_err());
        assert!(v
            .create(Some("a/b"), "", Default::default(), Default::default())
            .is_err());
        assert!(v
            .create(Some("ok"), "nfs", Default::default(), Default::default())
            .is_err());
        // A torn create (no record) is ignored by list and removed by prune.
        std::fs::create_dir_all(t.path().join("volumes/torn/_data")).unwrap();
        assert_eq!(v.list().unwrap().len(), 2);
        let (removed, _) = v.prune(&BTreeSet::new(), false, |_| false).unwrap();
        assert_eq!(removed, vec![anon.name.clone()]);
        assert!(!t.path().join("volumes/torn").exists());
        let (removed, bytes) = v.prune(&BTreeSet::new(), true, |_| false).unwrap();
        assert_eq!((removed, bytes), (vec!["data".to_string()], 1));
        assert!(v.list().unwrap().is_empty());
    }
}
