//! `docker image inspect`'s JSON shape (Engine API `ImageInspect`, API 1.44+: no `Container`,
//! `ContainerConfig` or `VirtualSize`) built from an image's record and config.
//!
//! Keys are inserted in Docker's order; they keep it when serde_json's `preserve_order` feature
//! is on (otherwise a `Value` object sorts them).

use crate::manifest::{ContainerConfig, ImageConfig};
use berth_meta::ImageRecord;
use berth_oci::Reference;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Docker's `LastTagTime` for an image it never tagged itself (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The storage driver name that gets overlay's `GraphDriver.Data` (lower/upper/merged/work).
const OVERLAY: [&str; 2] = ["overlay", "overlay2"];

/// Docker's image inspect object for the image `rec` with `config`.
///
/// `tags` are full references (shown in familiar form, `busybox:latest`); `driver` is the
/// storage driver's name and `layer_dirs` the image's unpacked layer directories, **top layer
/// first**. For an overlay driver `GraphDriver.Data` has `UpperDir` (top layer), `LowerDir`
/// (the others, `:`-separated, absent for one layer) and, as Docker shows them for images,
/// `MergedDir`/`WorkDir` beside the top layer's directory (they need not exist); other drivers
/// get `null` data, like Docker's vfs.
pub fn docker_inspect(
    rec: &ImageRecord,
    config: &ImageConfig,
    tags: &[String],
    driver: &str,
    layer_dirs: &[PathBuf],
) -> Value {
    let extra_str = |k: &str| {
        config
            .extra
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut o = Map::new();
    o.insert("Id".into(), json!(rec.id.to_string()));
    o.insert("RepoTags".into(), json!(familiar_all(tags)));
    o.insert("RepoDigests".into(), json!(familiar_all(&rec.repo_digests)));
    o.insert(
        "Parent".into(),
        json!(rec
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()),
    );
    o.insert("Comment".into(), json!(extra_str("comment")));
    if let Some(created) = &config.created {
        o.insert("Created".into(), json!(created));
    }
    o.insert("DockerVersion".into(), json!(extra_str("docker_version")));
    o.insert(
        "Author".into(),
        json!(config.author.clone().unwrap_or_default()),
    );
    o.insert(
        "Config".into(),
        container_config(
            config
                .config
                .as_ref()
                .unwrap_or(&ContainerConfig::default()),
        ),
    );
    o.insert("Architecture".into(), json!(config.architecture));
    if let Some(v) = &config.variant {
        o.insert("Variant".into(), json!(v));
    }
    o.insert("Os".into(), json!(config.os));
    let os_version = extra_str("os.version");
    if !os_version.is_empty() {
        o.insert("OsVersion".into(), json!(os_version));
    }
    o.insert("Size".into(), json!(rec.size));
    o.insert("GraphDriver".into(), graph_driver(driver, layer_dirs));
    let mut rootfs = Map::new();
    rootfs.insert("Type".into(), json!(config.rootfs.typ));
    if !config.rootfs.diff_ids.is_empty() {
        let layers: Vec<String> = config
            .rootfs
            .diff_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        rootfs.insert("Layers".into(), json!(layers));
    }
    o.insert("RootFS".into(), Value::Object(rootfs));
    o.insert("Metadata".into(), json!({ "LastTagTime": ZERO_TIME }));
    Value::Object(o)
}

/// `busybox:latest` / `busybox@sha256:...` for each reference (kept as is if it does not parse).
fn familiar_all(refs: &[String]) -> Vec<String> {
    refs.iter()
        .map(|r| Reference::parse(r).map_or_else(|_| r.clone(), |r| r.familiar()))
        .collect()
}

/// `GraphDriver`: `{"Data": ..., "Name": driver}`.
fn graph_driver(driver: &str, layer_dirs: &[PathBuf]) -> Value {
    let data = match layer_dirs.split_first() {
        Some((top, lower)) if OVERLAY.contains(&driver) => {
            let mut d = Map::new();
            if !lower.is_empty() {
                let joined: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
                d.insert("LowerDir".into(), json!(joined.join(":")));
            }
            let base = top.parent().unwrap_or(Path::new("/"));
            d.insert("MergedDir".into(), json!(base.join("merged")));
            d.insert("UpperDir".into(), json!(top));
            d.insert("WorkDir".into(), json!(base.join("work")));
            Value::Object(d)
        }
        _ => Value::Null,
    };
    json!({ "Data": data, "Name": driver })
}

/// Docker's `container.Config` of an image: every non-omitempty field present (empty string,
/// false or null), the omitempty ones only when set.
fn container_config(c: &ContainerConfig) -> Value {
    let s = |k: &str| json!(c.extra.get(k).and_then(Value::as_str).unwrap_or_default());
    let b = |k: &str| json!(c.extra.get(k).and_then(Value::as_bool).unwrap_or(false));
    let mut o = Map::new();
    o.insert("Hostname".into(), s("Hostname"));
    o.insert("Domainname".into(), s("Domainname"));
    o.insert("User".into(), json!(c.user.clone().unwrap_or_default()));
    o.insert("AttachStdin".into(), b("AttachStdin"));
    o.insert("AttachStdout".into(), b("AttachStdout"));
    o.insert("AttachStderr".into(), b("AttachStderr"));
    if let Some(p) = c.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        o.insert("ExposedPorts".into(), json!(p));
    }
    o.insert("Tty".into(), b("Tty"));
    o.insert("OpenStdin".into(), b("OpenStdin"));
    o.insert("StdinOnce".into(), b("StdinOnce"));
    o.insert("Env".into(), json!(c.env));
    o.insert("Cmd".into(), json!(c.cmd));
    if let Some(h) = &c.healthcheck {
        o.insert("Healthcheck".into(), json!(h));
    }
    if c.args_escaped == Some(true) {
        o.insert("ArgsEscaped".into(), json!(true));
    }
    o.insert("Image".into(), s("Image"));
    o.insert("Volumes".into(), json!(c.volumes));
    o.insert(
        "WorkingDir".into(),
        json!(c.working_dir.clone().unwrap_or_default()),
    );
    o.insert("Entrypoint".into(), json!(c.entrypoint));
    if c.extra.get("NetworkDisabled").and_then(Value::as_bool) == Some(true) {
        o.insert("NetworkDisabled".into(), json!(true));
    }
    if let Some(m) = c.extra.get("MacAddress").filter(|v| v.as_str() != Some("")) {
        o.insert("MacAddress".into(), m.clone());
    }
    o.insert("OnBuild".into(), json!(c.on_build));
    o.insert("Labels".into(), json!(c.labels));
    if let Some(sig) = c.stop_signal.as_ref().filter(|s| !s.is_empty()) {
        o.insert("StopSignal".into(), json!(sig));
    }
    if let Some(t) = c.extra.get("StopTimeout").filter(|v| !v.is_null()) {
        o.insert("StopTimeout".into(), t.clone());
    }
    if let Some(sh) = c.shell.as_ref().filter(|s| !s.is_empty()) {
        o.insert("Shell".into(), json!(sh));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_config;
    use berth_oci::Digest;
    use std::collections::BTreeMap;

    const CONFIG: &str = r#"{
        "architecture": "amd64", "os": "linux", "variant": "v2",
        "created": "2024-03-01T12:00:00.5Z", "author": "me", "docker_version": "24.0.7",
        "comment": "Imported from -",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"a": "b"},
                   "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT", "Hostname": "h"},
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "sha256:2222222222222222222222222222222222222222222222222222222222222222"]},
        "history": [{"created_by": "x"}]
    }"#;

    fn record(config: &[u8]) -> ImageRecord {
        ImageRecord {
            id: Digest::sha256_of(config),
            manifest_digest: Digest::sha256_of(b"manifest"),
            manifest_media_type: berth_oci::media_types::OCI_MANIFEST.into(),
            created: Some("2024-03-01T12:00:00.5Z".into()),
            added: 1_700_000_000,
            size: 4242,
            parent: None,
            layers: vec![],
            repo_digests: vec![format!(
                "docker.io/library/busybox@{}",
                Digest::sha256_of(b"manifest")
            )],
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn docker_shape() {
        let config = parse_config(CONFIG.as_bytes()).unwrap();
        let rec = record(CONFIG.as_bytes());
        let dirs = [
            PathBuf::from("/r/overlay/snapshots/2/fs"),
            PathBuf::from("/r/overlay/snapshots/1/fs"),
        ];
        let v = docker_inspect(
            &rec,
            &config,
            &[
                "docker.io/library/busybox:latest".into(),
                "localhost:5000/a/b:v1".into(),
            ],
            "overlay",
            &dirs,
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Variant",
            "Os",
            "Size",
            "GraphDriver",
            "RootFS",
            "Metadata",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["Id"], json!(rec.id.to_string()));
        assert_eq!(
            v["RepoTags"],
            json!(["busybox:latest", "localhost:5000/a/b:v1"])
        );
        assert_eq!(
            v["RepoDigests"],
            json!([format!("busybox@{}", Digest::sha256_of(b"manifest"))])
        );
        assert_eq!(v["Parent"], "");
        assert_eq!(v["Comment"], "Imported from -");
        assert_eq!(v["Created"], "2024-03-01T12:00:00.5Z");
        assert_eq!(v["DockerVersion"], "24.0.7");
        assert_eq!(v["Author"], "me");
        assert_eq!(v["Variant"], "v2");
        assert_eq!(v["Size"], 4242);
        assert_eq!(
            v["GraphDriver"],
            json!({"Name": "overlay", "Data": {
                "LowerDir": "/r/overlay/snapshots/1/fs",
                "UpperDir": "/r/overlay/snapshots/2/fs",
                "MergedDir": "/r/overlay/snapshots/2/merged",
                "WorkDir": "/r/overlay/snapshots/2/work"}})
        );
        assert_eq!(v["RootFS"]["Type"], "layers");
        assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 2);
        assert_eq!(v["Metadata"], json!({"LastTagTime": ZERO_TIME}));
        let c = &v["Config"];
        assert_eq!(
            c,
            &json!({
                "Hostname": "h", "Domainname": "", "User": "", "AttachStdin": false,
                "AttachStdout": false, "AttachStderr": false, "ExposedPorts": {"80/tcp": {}},
                "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": ["PATH=/bin"],
                "Cmd": ["sh"], "Image": "", "Volumes": null, "WorkingDir": "",
                "Entrypoint": null, "OnBuild": null, "Labels": {"a": "b"}, "StopSignal": "SIGQUIT"
            })
        );
    }

    #[test]
    fn minimal_config_and_other_driver() {
        let raw =
            br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config = parse_config(raw).unwrap();
        let rec = record(raw);
        let v = docker_inspect(&rec, &config, &[], "copy", &[PathBuf::from("/x/fs")]);
        assert!(v.get("Created").is_none());
        assert!(v.get("Variant").is_none());
        assert_eq!(v["RepoTags"], json!([]));
        assert_eq!(v["GraphDriver"], json!({"Name": "copy", "Data": null}));
        assert_eq!(v["Config"]["Env"], Value::Null);
        assert_eq!(v["Config"]["User"], "");
        assert_eq!(v["RootFS"], json!({"Type": "layers"}));
        // One overlay layer: no LowerDir.
        let v = docker_inspect(&rec, &config, &[], "overlay", &[PathBuf::from("/x/1/fs")]);
        assert!(v["GraphDriver"]["Data"].get("LowerDir").is_none());
        assert_eq!(v["GraphDriver"]["Data"]["UpperDir"], "/x/1/fs");
    }
}
