//! [`ContainerRecord`]: what a container is (fixed at create, changed only by `rename`), stored
//! as JSON in the `config` column of berth-meta's `containers` table.

use crate::error::{EngineError, Result};
use crate::types::{Config, HostConfig, MountPoint};
use serde::{Deserialize, Serialize};

/// A container's definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    /// Unix nanoseconds.
    pub created: i64,
    /// The image as the user named it (`busybox`, `sha256:...`).
    pub image: String,
    /// The image's ID (`sha256:<hex>`).
    pub image_id: String,
    /// The user's config merged with the image's (ENV, CMD, ENTRYPOINT, WORKDIR, USER...).
    pub config: Config,
    pub host_config: HostConfig,
    /// The process: `path` is args[0] of entrypoint + cmd (docker's `Path`), `args` the rest.
    pub path: String,
    pub args: Vec<String>,
    /// The writable snapshot (berth-snapshot key).
    pub snapshot_key: String,
    /// Mounts resolved at create (anonymous volumes keep their names).
    pub mounts: Vec<MountPoint>,
    /// The container's hostname.
    pub hostname: String,
    /// The snapshot driver (`overlay` or `copy`).
    pub driver: String,
    /// `linux`.
    pub platform: String,
}

impl ContainerRecord {
    /// The record as stored in the database.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| EngineError::Corrupt {
            what: format!("record of container {}", self.id),
            reason: e.to_string(),
        })
    }

    /// Parses a stored record.
    pub fn from_json(id: &str, text: &str) -> Result<ContainerRecord> {
        serde_json::from_str(text).map_err(|e| EngineError::Corrupt {
            what: format!("record of container {id}"),
            reason: e.to_string(),
        })
    }

    /// The first 12 hex digits of the ID.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Names of the named volumes the container uses.
    pub fn volume_names(&self) -> impl Iterator<Item = &str> {
        self.mounts
            .iter()
            .filter(|m| m.kind == "volume" && !m.name.is_empty())
            .map(|m| m.name.as_str())
    }
}

/// Checks a container name by docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is
/// allowed and dropped); returns the name without it.
pub fn validate_name(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        }
        _ => false,
    };
    if !ok {
        return Err(EngineError::InvalidName(name.to_string()));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert_eq!(validate_name("a.b_c").unwrap(), "a.b_c");
        for bad in ["", "a", "-x", "_x", "x y", "x/y", "/"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn record_round_trips() {
        let r = ContainerRecord {
            id: "ab".repeat(32),
            name: "web".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            ..Default::default()
        };
        let back = ContainerRecord::from_json(&r.id, &r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.short_id(), "abababababab");
    }
}
