//! `berth search`: the `/v1/search` endpoint (Docker Hub's index and registries that offer it).

use crate::error::{DistError, Result};
use crate::registry::{error_of, Body, Registry};
use crate::settings::Settings;
use serde::Deserialize;

/// One search hit.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// Whether it is an official image.
    #[serde(default)]
    pub is_official: bool,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Searches for `term` (`[registry/]term`) and returns up to `limit` results.
pub fn search(settings: &Settings, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    let (host, q) = match term.split_once('/') {
        Some((h, q)) if h.contains('.') || h.contains(':') || h == "localhost" => (h, q),
        _ => ("docker.io", term),
    };
    let reg = if host == "docker.io" {
        Registry::with_credential(settings, "index.docker.io", None)?
    } else {
        Registry::new(settings, host)?
    };
    let url = format!("/v1/search?q={}&n={limit}", encode(q));
    let resp = reg.call("GET", &url, &[], &[], Body::Empty)?;
    match resp.status() {
        200 => {
            let a: Answer = resp.into_json().map_err(|e| DistError::BadDocument {
                what: format!("search answer of {host}"),
                message: e.to_string(),
            })?;
            Ok(a.results.into_iter().take(limit).collect())
        }
        404 | 405 => Err(DistError::Unsupported(format!(
            "registry {host} does not support search (no /v1/search endpoint)"
        ))),
        _ => {
            let (status, code, message) = error_of(resp);
            Err(DistError::Status {
                url: reg.url(&url),
                status,
                code,
                message,
            })
        }
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
