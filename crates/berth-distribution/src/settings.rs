//! Registry settings: insecure (plain http) registries, mirrors for docker.io, where custom CAs
//! and the credentials file live.
//!
//! Read from `/etc/berth/registries.json` (or `$BERTH_REGISTRIES_CONFIG`):
//! `{"insecure-registries": ["host:port", ...], "registry-mirrors": ["https://mirror", ...]}`
//! (the keys of docker's daemon.json), plus `$BERTH_INSECURE_REGISTRIES` (comma-separated).
//! `localhost`, `127.0.0.0/8` and `::1` may use plain http without configuration, like docker.

use crate::error::{DistError, Result};
use serde::Deserialize;
use std::path::PathBuf;

/// The default settings file.
pub const DEFAULT_CONFIG: &str = "/etc/berth/registries.json";

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Hosts (`host[:port]`) that may be reached over plain http.
    pub insecure: Vec<String>,
    /// Mirrors tried before docker.io, as base URLs.
    pub mirrors: Vec<String>,
    /// Directories holding `<host>/ca.crt` (docker's certs.d convention).
    pub certs_dirs: Vec<PathBuf>,
    /// docker's `config.json` (credentials).
    pub docker_config: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default, rename = "insecure-registries")]
    insecure: Vec<String>,
    #[serde(default, rename = "registry-mirrors")]
    mirrors: Vec<String>,
}

impl Settings {
    /// Settings from the environment and the settings file (missing file: defaults).
    pub fn load() -> Result<Settings> {
        let path = std::env::var("BERTH_REGISTRIES_CONFIG").unwrap_or(DEFAULT_CONFIG.into());
        let file: File = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| DistError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(DistError::Io {
                    op: "reading",
                    path,
                    source,
                })
            }
        };
        let mut insecure = file.insecure;
        if let Ok(extra) = std::env::var("BERTH_INSECURE_REGISTRIES") {
            insecure.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        Ok(Settings {
            insecure,
            mirrors: file.mirrors,
            certs_dirs: vec![
                PathBuf::from("/etc/berth/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            docker_config: docker_config_path(),
        })
    }

    /// Whether `host` may be reached over plain http.
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = host_without_port(host);
        bare == "localhost"
            || bare.starts_with("127.")
            || bare == "[::1]"
            || bare == "::1"
            || self
                .insecure
                .iter()
                .any(|h| h == host || h.as_str() == bare)
    }

    /// The custom CA files for `host`: every `*.crt` of `<certs dir>/<host>/`.
    pub fn ca_files(&self, host: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in &self.certs_dirs {
            let Ok(entries) = std::fs::read_dir(dir.join(host)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "crt") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

/// `host` without its `:port`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map(|h| &host[..h.len() + 1])
            .unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    if let Ok(dir) = std::env::var("DOCKER_CONFIG") {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_and_others_are_not() {
        let s = Settings {
            insecure: vec!["reg.lan:5000".into()],
            ..Settings::default()
        };
        assert!(s.is_insecure("localhost:5000"));
        assert!(s.is_insecure("127.0.0.1:41234"));
        assert!(s.is_insecure("reg.lan:5000"));
        assert!(!s.is_insecure("reg.lan:5001"));
        assert!(!s.is_insecure("docker.io"));
        assert_eq!(host_without_port("[::1]:5000"), "[::1]");
    }
}
