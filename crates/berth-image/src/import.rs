//! `berth import` (a root filesystem tarball becomes a one-layer image, with Dockerfile-style
//! `--change`s) and images built from a directory (the offline base images).

use crate::error::{ImageError, Result};
use crate::manifest::Descriptor;
use crate::store::{now_unix, rfc3339, ImageStore, NewImage, NewLayer};
use crate::unpack::{self, Worker};
use berth_archive::{Compression, Decoder};
use berth_meta::Lease;
use berth_oci::{media_types, Digest, Platform, Reference};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// What `import` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// The history comment (docker: `-m`); defaults to "Imported from <source>".
    pub message: Option<String>,
    /// Where the tarball came from (`-` for stdin), for the history comment.
    pub source: String,
    /// The tag to give the image.
    pub tag: Option<String>,
}

impl ImageStore {
    /// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer image.
    pub fn import(&self, input: &mut dyn Read, opts: &ImportOptions) -> Result<Digest> {
        let tags = match &opts.tag {
            Some(t) => vec![Reference::parse(t)?.to_string()],
            None => Vec::new(),
        };
        let mut config = base_config();
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        self.with_lease("import", |lease| {
            let (blob, unpacked) = self.ingest_layer(input, &opts.source, lease)?;
            let diff_id = blob.digest.clone();
            finish_config(&mut config, &[diff_id], &comment);
            let img = NewImage {
                config: serde_json::to_vec(&config)
                    .map_err(|e| ImageError::Internal(e.to_string()))?,
                layers: vec![NewLayer {
                    source: opts.source.clone(),
                    blob,
                    unpacked,
                }],
                tags,
                manifest: None,
                parent: None,
                what: format!("import of {}", opts.source),
            };
            self.add_image(img, lease)
        })
    }

    /// Makes an image of directory `dir` (one layer, written deterministically) with `config`
    /// (an image config whose `rootfs.diff_ids` is filled in here) and `tags`.
    pub fn import_dir(&self, dir: &Path, mut config: Value, tags: &[String]) -> Result<Digest> {
        let tags = tags
            .iter()
            .map(|t| Reference::parse(t).map(|r| r.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_lease("import-dir", |lease| {
            let reference = unpack::unique_ref("dir");
            let mut w = self.content.writer(&reference, None)?;
            let written =
                berth_archive::write_layer(dir, &mut w, Compression::None).map_err(|e| {
                    ImageError::Layer {
                        layer: dir.display().to_string(),
                        source: e,
                    }
                })?;
            lease.add_blob(&written.digest)?;
            let digest = w.commit()?;
            config["rootfs"] = json!({"type": "layers", "diff_ids": [written.diff_id.to_string()]});
            let img = NewImage {
                config: serde_json::to_vec(&config)
                    .map_err(|e| ImageError::Internal(e.to_string()))?,
                layers: vec![NewLayer {
                    source: dir.display().to_string(),
                    blob: Descriptor::new(media_types::OCI_LAYER.to_string(), digest, written.size),
                    unpacked: None,
                }],
                tags,
                manifest: None,
                parent: None,
                what: dir.display().to_string(),
            };
            self.add_image(img, lease)
        })
    }

    /// Streams a (maybe compressed) tarball, stored uncompressed as a layer blob and unpacked
    /// in the same pass. Returns the blob and the unpacked copy.
    fn ingest_layer(
        &self,
        input: &mut dyn Read,
        source: &str,
        lease: &Lease,
    ) -> Result<(Descriptor, Option<unpack::Unpacked>)> {
        let read_err = |source_err| ImageError::ArchiveRead {
            context: format!("tarball {source}"),
            source: source_err,
        };
        let mut decoder = Decoder::new(input).map_err(read_err)?;
        let mut worker = if self.snapshots.independent_layers() {
            Some(Worker::start(self, source, false, lease)?)
        } else {
            None
        };
        let reference = unpack::unique_ref("import");
        let mut writer = self.content.writer(&reference, None)?;
        let mut total = 0u64;
        loop {
            let mut chunk = vec![0u8; 1 << 20];
            let n = crate::load::read_full(&mut decoder, &mut chunk).map_err(read_err)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            writer.write_all(&chunk).map_err(|e| ImageError::Io {
                op: "writing layer blob for",
                path: source.into(),
                source: e,
            })?;
            total += n as u64;
            if let Some(w) = &mut worker {
                if !w.send(Arc::new(chunk)) {
                    let w = worker.take().expect("present");
                    w.finish(None)?;
                    return Err(ImageError::Internal(format!(
                        "unpacking {source} stopped early"
                    )));
                }
            }
        }
        if total == 0 {
            drop(writer);
            let _ = self.content.abort(&reference);
            return Err(ImageError::InvalidArgument(format!("{source} is empty")));
        }
        let digest = writer.digest();
        lease.add_blob(&digest)?;
        let digest = writer.commit()?;
        let unpacked = match worker {
            Some(w) => Some(w.finish(Some(digest.clone()))?),
            None => None,
        };
        Ok((
            Descriptor::new(media_types::OCI_LAYER.to_string(), digest, total),
            unpacked,
        ))
    }
}

/// The config an imported image starts from: this host's platform, created now.
fn base_config() -> Value {
    let host = Platform::host();
    let mut v = json!({
        "architecture": host.architecture,
        "os": host.os,
        "created": rfc3339(now_unix()),
        "config": {},
    });
    if let Some(variant) = host.variant {
        v["variant"] = json!(variant);
    }
    v
}

/// Fills in `rootfs` and `history`.
fn finish_config(config: &mut Value, diff_ids: &[Digest], comment: &str) {
    let ids: Vec<String> = diff_ids.iter().map(|d| d.to_string()).collect();
    config["rootfs"] = json!({"type": "layers", "diff_ids": ids});
    config["history"] = json!([{"created": config["created"].clone(), "comment": comment}]);
    config["comment"] = json!(comment);
}

/// Applies one Dockerfile instruction of `--change` to an image config.
pub fn apply_change(config: &mut Value, change: &str) -> Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(|c: char| c.is_whitespace())
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((change, ""));
    let bad = |why: &str| ImageError::InvalidArgument(format!("--change {change:?}: {why}"));
    if rest.is_empty() {
        return Err(bad("the instruction has no arguments"));
    }
    let cfg = config
        .as_object_mut()
        .expect("config is an object")
        .entry("config")
        .or_insert_with(|| json!({}));
    let cfg = cfg
        .as_object_mut()
        .ok_or_else(|| bad("config is not an object"))?;
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            cfg.insert("Cmd".into(), json!(command_form(rest)));
        }
        "ENTRYPOINT" => {
            cfg.insert("Entrypoint".into(), json!(command_form(rest)));
        }
        "ENV" => {
            let pairs = key_values(rest).map_err(|w| bad(&w))?;
            let env = cfg.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| bad("Env is not a list"))?;
            for (k, v) in pairs {
                list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|x| x.0) != Some(k.as_str()));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = key_values(rest).map_err(|w| bad(&w))?;
            let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
            let map = labels.as_object_mut().ok_or_else(|| bad("Labels is not a map"))?;
            for (k, v) in pairs {
                map.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
            let map = ports.as_object_mut().ok_or_else(|| bad("ExposedPorts is not a map"))?;
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid = num
                    .split('-')
                    .all(|n| n.parse::<u16>().map(|v| v > 0).unwrap_or(false));
                if !valid || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(&format!("invalid port {p:?}")));
                }
                map.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            let vols = cfg.entry("Volumes").or_insert_with(|| json!({}));
            let map = vols.as_object_mut().ok_or_else(|| bad("Volumes is not a map"))?;
            let list: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(l) => l,
                Err(_) => rest.split_whitespace().map(str::to_string).collect(),
            };
            for v in list {
                map.insert(v, json!({}));
            }
        }
        "USER" => {
            cfg.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            cfg.insert("WorkingDir".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            cfg.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            let list = cfg.entry("OnBuild").or_insert_with(|| json!([]));
            list.as_array_mut()
                .ok_or_else(|| bad("OnBuild is not a list"))?
                .push(json!(rest));
        }
        other => {
            return Err(bad(&format!(
                "{other} is not supported (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)"
            )))
        }
    }
    Ok(())
}

/// The exec form (`["a","b"]`) as is, the shell form wrapped in `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(list) => list,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), rest.into()],
    }
}

/// `K=V K2="v 2"` (or the legacy `K V...`) as pairs.
fn key_values(rest: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if !words[0].contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Splits on whitespace outside quotes, removing the quotes (and backslash escapes).
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') if quote != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {s:?}"));
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("nothing to set".into());
    }
    Ok(words)
}

/// The config map of `config`.
#[cfg(test)]
fn container_config(config: &Value) -> Option<&serde_json::Map<String, Value>> {
    config.get("config")?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_docker() {
        let mut c = base_config();
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT /bin/run --fast").unwrap();
        apply_change(&mut c, r#"ENV A=b C="d e""#).unwrap();
        apply_change(&mut c, "ENV A x y").unwrap();
        apply_change(&mut c, "label com.x=1 y=\"two words\"").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "USER 1000:1000").unwrap();
        apply_change(&mut c, r#"VOLUME ["/data"]"#).unwrap();
        let cfg = container_config(&c).unwrap();
        assert_eq!(cfg["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(
            cfg["Entrypoint"],
            json!(["/bin/sh", "-c", "/bin/run --fast"])
        );
        assert_eq!(cfg["Env"], json!(["C=d e", "A=x y"]));
        assert_eq!(cfg["Labels"], json!({"com.x": "1", "y": "two words"}));
        assert_eq!(cfg["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(cfg["WorkingDir"], json!("/srv"));
        assert_eq!(cfg["User"], json!("1000:1000"));
        assert_eq!(cfg["Volumes"], json!({"/data": {}}));
    }

    #[test]
    fn bad_changes_name_the_problem() {
        let mut c = base_config();
        let e = apply_change(&mut c, "RUN make").unwrap_err().to_string();
        assert!(e.contains("RUN is not supported"), "{e}");
        let e = apply_change(&mut c, "EXPOSE 99999")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid port"), "{e}");
        let e = apply_change(&mut c, "CMD").unwrap_err().to_string();
        assert!(e.contains("no arguments"), "{e}");
        let e = apply_change(&mut c, "ENV A=\"x").unwrap_err().to_string();
        assert!(e.contains("unterminated quote"), "{e}");
    }
}
