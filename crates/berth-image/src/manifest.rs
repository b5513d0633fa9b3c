//! Image manifests, indexes (manifest lists) and image configs, OCI and Docker schema 2: their
//! JSON types, parsing that names what is wrong, platform selection and chain IDs.
//!
//! Parsing is for reading: the bytes of a stored manifest or config define its digest (the
//! config's is the image ID), so they are kept as they came and never re-serialised for a digest.
//! Unknown config fields are still kept ([`ImageConfig::extra`]) so that nothing is lost when a
//! parsed config is written out again (e.g. by `import` with changes).

use berth_archive::Compression;
use berth_oci::media_types::{self, essence};
use berth_oci::{Classify, Digest, ErrorClass, Platform};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

pub use berth_oci::media_types::{
    is_config, is_index, is_layer, is_manifest, to_docker_media_type, to_oci_media_type,
};

/// Annotations of a descriptor, manifest or index.
pub type Annotations = BTreeMap<String, String>;

/// A reference to a blob: its media type, digest and size, and optional hints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced blob.
    pub media_type: String,
    /// The digest of the referenced blob.
    pub digest: Digest,
    /// The size of the referenced blob in bytes.
    pub size: u64,
    /// Where else the blob can be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Free-form annotations, e.g. `org.opencontainers.image.ref.name` in an OCI layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// The platform of the referenced manifest (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with just media type, digest and size.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
        }
    }
}

/// An image manifest: a config and layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required by Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

impl Manifest {
    /// An OCI manifest (`mediaType` set) for `config` and `layers`.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest::with_media_type(media_types::OCI_MANIFEST, config, layers)
    }

    /// A Docker schema 2 manifest for `config` and `layers`.
    pub fn docker(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest::with_media_type(media_types::DOCKER_MANIFEST, config, layers)
    }

    fn with_media_type(mt: &str, config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(mt.to_string()),
            config,
            layers,
            subject: None,
            annotations: None,
        }
    }
}

/// An index (Docker: manifest list): manifests, usually one per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests (or nested indexes).
    pub manifests: Vec<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

impl Index {
    /// An OCI index (`mediaType` set) listing `manifests`.
    pub fn oci(manifests: Vec<Descriptor>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.to_string()),
            manifests,
            annotations: None,
        }
    }
}

/// A parsed manifest document: an image manifest or an index.
// A short-lived parse result, never stored in bulk: boxing would only add a hop for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest.
    Manifest(Manifest),
    /// An index or manifest list.
    Index(Index),
}

/// An image config (OCI `application/vnd.oci.image.config.v1+json`, Docker's is the same shape
/// with more fields). Unknown fields (`docker_version`, `container_config`, `os.version`...) are
/// kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// The operating system, e.g. `linux`.
    pub os: String,
    /// The CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The defaults for containers made from the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// How each layer was made, bottom first (entries with `empty_layer` made no layer).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
    /// Every other top-level field, as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// The platform the image is for, normalised.
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// The container defaults of an image config, in Docker's PascalCase field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `user[:group]` to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports as `port/proto` keys with empty-object values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// `NAME=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The entrypoint (a string is taken as a one-element list, as Docker does).
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// The default command (a string is taken as a one-element list).
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Option<Vec<String>>,
    /// Volume paths as keys with empty-object values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container, e.g. `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Windows: the command line is already escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// The health check (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Build triggers (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// The shell for shell-form commands (Docker extension).
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
    /// Every other field (`Hostname`, `Image`, `StopTimeout`...), as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A health check, durations in nanoseconds (Docker's encoding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time before a check is considered hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Start-up time during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before the container is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// The layers of an image config: their uncompressed digests (diffIDs), bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub typ: String,
    /// The diffIDs, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> RootFs {
        RootFs {
            typ: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of an image's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The step made no layer (e.g. `ENV`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub empty_layer: bool,
}

/// Why a manifest, index or config is rejected. Messages name the field or type at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes are not JSON.
    #[error("invalid {what}: not valid JSON: {source}")]
    NotJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an object.
    #[error("expected a JSON object, found {0}")]
    NotObject(&'static str),
    /// A Docker schema 1 manifest.
    #[error("schema 1 manifests are not supported ({0}); re-push or convert the image with a current tool")]
    Schema1(String),
    /// `schemaVersion` is not 2.
    #[error("unsupported {kind} schemaVersion {found} (expected 2)")]
    SchemaVersion { kind: &'static str, found: u32 },
    /// The media type names something that is not a manifest or an index (a layer, a config).
    #[error("media type {0:?} is not a manifest or an index")]
    NotAManifest(String),
    /// The media type it was referenced by and the document's own disagree.
    #[error("the document's mediaType {document:?} does not match the media type {declared:?} it was referenced with")]
    MediaTypeMismatch { declared: String, document: String },
    /// No media type, and the shape does not say either.
    #[error("cannot tell a manifest from an index: the document has neither \"layers\" nor \"manifests\"")]
    UnknownShape,
    /// No media type, and the document has the fields of both.
    #[error("ambiguous document: it has both \"layers\" (manifest) and \"manifests\" (index)")]
    AmbiguousShape,
    /// A field is missing, has the wrong type or an invalid value.
    #[error("invalid {what}{}: {source}", at_path(.path))]
    Field {
        what: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// `rootfs.type` is not `layers`.
    #[error("invalid image config: rootfs.type is {0:?}, expected \"layers\"")]
    RootFsType(String),
}

fn at_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!(": field `{path}`")
    }
}

impl Classify for ManifestError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Index,
}

impl Kind {
    fn of(mt: &str) -> Result<Option<Kind>, ManifestError> {
        if media_types::is_schema1(mt) {
            return Err(ManifestError::Schema1(format!("media type {mt}")));
        }
        if is_manifest(mt) {
            Ok(Some(Kind::Manifest))
        } else if is_index(mt) {
            Ok(Some(Kind::Index))
        } else if is_layer(mt) || is_config(mt) || essence(mt) == media_types::OCI_EMPTY {
            Err(ManifestError::NotAManifest(mt.to_string()))
        } else {
            // application/json, octet-stream, an unknown vendor type: go by the document.
            Ok(None)
        }
    }
}

/// Parses a manifest or an index. The kind comes from `media_type` (what it was referenced
/// with), else the document's `mediaType`, else its shape (`layers` vs `manifests`). Schema 1
/// manifests, schema versions other than 2 and conflicting media types are rejected.
pub fn parse_manifest(
    bytes: &[u8],
    media_type: Option<&str>,
) -> Result<ManifestKind, ManifestError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|source| ManifestError::NotJson {
        what: "manifest or index",
        source,
    })?;
    let obj = value
        .as_object()
        .ok_or(ManifestError::NotObject(json_type(&value)))?;
    if obj.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(ManifestError::Schema1("schemaVersion 1".into()));
    }
    let declared = media_type.filter(|m| !essence(m).is_empty());
    let document = obj.get("mediaType").and_then(Value::as_str);
    let declared_kind = declared.map(Kind::of).transpose()?.flatten();
    let document_kind = document.map(Kind::of).transpose()?.flatten();
    if let (Some(d), Some(k)) = (declared_kind, document_kind) {
        if d != k {
            return Err(ManifestError::MediaTypeMismatch {
                declared: declared.unwrap_or_default().to_string(),
                document: document.unwrap_or_default().to_string(),
            });
        }
    }
    let kind = match declared_kind.or(document_kind) {
        Some(k) => k,
        None => match (obj.contains_key("layers"), obj.contains_key("manifests")) {
            (true, true) => return Err(ManifestError::AmbiguousShape),
            (true, false) => Kind::Manifest,
            (false, true) => Kind::Index,
            (false, false) if obj.contains_key("config") => Kind::Manifest,
            (false, false) => return Err(ManifestError::UnknownShape),
        },
    };
    match kind {
        Kind::Manifest => {
            let m: Manifest = typed(bytes, "manifest")?;
            check_schema_version("manifest", m.schema_version)?;
            Ok(ManifestKind::Manifest(m))
        }
        Kind::Index => {
            let i: Index = typed(bytes, "index")?;
            check_schema_version("index", i.schema_version)?;
            Ok(ManifestKind::Index(i))
        }
    }
}

/// Parses an image config; errors name the JSON path of the bad field (`rootfs.diff_ids[1]`).
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfig, ManifestError> {
    let config: ImageConfig = typed(bytes, "image config")?;
    if config.rootfs.typ != "layers" {
        return Err(ManifestError::RootFsType(config.rootfs.typ));
    }
    Ok(config)
}

/// The entry of `index` to use on platform `want`: an exact match first, else the closest older
/// variant it can run (`arm/v7` runs `arm/v6`), else the first entry without a platform. Entries
/// that are not manifests or indexes are skipped; ties go to the earlier entry.
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| is_manifest(&d.media_type) || is_index(&d.media_type))
        .filter_map(|d| match &d.platform {
            Some(p) => want.match_rank(p).map(|rank| (rank, d)),
            None => Some((usize::MAX, d)),
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
}

/// The chain IDs of a layer stack (OCI image spec): the first is the first diffID, each next one
/// is the sha256 of `"<previous chain ID> <diffID>"`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chains: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chains.last() {
            None => diff_id.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {diff_id}").as_bytes()),
        };
        chains.push(next);
    }
    chains
}

/// The compression a layer media type declares; `None` when `media_type` is not a layer type.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    use media_types::*;
    match essence(media_type) {
        OCI_LAYER | OCI_LAYER_NONDISTRIBUTABLE | DOCKER_LAYER | DOCKER_FOREIGN_LAYER => {
            Some(Compression::None)
        }
        OCI_LAYER_GZIP
        | OCI_LAYER_NONDISTRIBUTABLE_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
        OCI_LAYER_ZSTD | OCI_LAYER_NONDISTRIBUTABLE_ZSTD | DOCKER_LAYER_ZSTD => {
            Some(Compression::Zstd)
        }
        _ => None,
    }
}

fn check_schema_version(kind: &'static str, found: u32) -> Result<(), ManifestError> {
    match found {
        2 => Ok(()),
        1 => Err(ManifestError::Schema1("schemaVersion 1".into())),
        _ => Err(ManifestError::SchemaVersion { kind, found }),
    }
}

/// Deserialises `bytes` as `T`, naming the JSON path of a failure.
fn typed<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, ManifestError> {
    let error = |path: String, source: serde_json::Error| {
        if source.is_syntax() || source.is_eof() {
            ManifestError::NotJson { what, source }
        } else {
            ManifestError::Field { what, path, source }
        }
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| error(e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| error(String::new(), e))?;
    Ok(value)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `null` reads as the type's default (Go writes nil slices as `null`).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings, where a single string counts as a one-element list (Docker's `StrSlice`).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![s.to_string()]))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::media_types::*;
    use serde_json::json;

    /// A manifest written by `podman save --format oci-archive` (no mediaType field), byte-exact.
    const PODMAN_MANIFEST: &str = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:78a7018a1541c10b0638159c55d3eb2c57ba532183914f8db79627a0061dca65","size":487},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:39865099843ecff1c0ee695e77ef825c1e14bf27b14be6ed7bcd4a14b8fcad21","size":157}]}"#;
    const PODMAN_MANIFEST_DIGEST: &str =
        "sha256:2aef9fd9a2f8ce370330739c957bacbe8c467a4ea067512bf326404823c3aca9";
    /// The config of that image (`podman import -c 'ENV A=b' -c 'CMD ["/hello"]' ...`), byte-exact.
    const PODMAN_CONFIG: &str = r#"{"created":"2026-11-26T18:58:26.016175481Z","architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":{}},"Env":["A=b"],"Cmd":["/hello"],"Labels":{"x":"y"}},"rootfs":{"type":"layers","diff_ids":["sha256:a2e03ff2e30c38f5d6486dd42528c7bf6eadff569381f2864a0eab029d03fea7"]},"history":[{"created":"2026-11-26T18:58:26.016175481Z","created_by":"/bin/sh -c #(nop) ADD file:a2e03ff2e30c38f5d6486dd42528c7bf6eadff569381f2864a0eab029d03fea7 in /","comment":"imported from tarball"}]}"#;
    const PODMAN_CONFIG_DIGEST: &str =
        "sha256:78a7018a1541c10b0638159c55d3eb2c57ba532183914f8db79627a0061dca65";

    /// A Docker schema 2 manifest as a registry serves it (pretty-printed, 3-space indent).
    const DOCKER_MANIFEST_JSON: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": "sha256:75b28b301258c561f22899ba499b40ea5bf69a1afd583c77bb4315626a09dc9a"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2591575,
         "digest": "sha256:6445239817336dd6cd2d1cb2dc89ff94c39f96c59a7da2fcf89f2d26bf5cb3f0"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 10,
         "digest": "sha256:2aef9fd9a2f8ce370330739c957bacbe8c467a4ea067512bf326404823c3aca9",
         "urls": ["https://example.com/layer.tar.gz"]
      }
   ]
}"#;

    /// A Docker config with the fields Docker and BuildKit add beyond the OCI ones.
    const DOCKER_CONFIG_JSON: &str = r##"{"architecture":"arm64","variant":"v8","os":"linux","os.version":"6.1","os.features":["x"],
"config":{"Hostname":"","Domainname":"","User":"nobody","AttachStdin":false,"Tty":false,"Env":["PATH=/usr/bin:/bin"],
"Cmd":"/bin/sh -c true","Image":"sha256:1234","Volumes":{"/data":{}},"WorkingDir":"/srv","Entrypoint":null,"OnBuild":null,
"Labels":{"maintainer":"me","org.opencontainers.image.version":"1.0"},"ExposedPorts":{"80/tcp":{},"53/udp":{}},"StopSignal":"SIGQUIT",
"StopTimeout":7,"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3},"Shell":["/bin/ash","-c"]},
"container":"3f6a06a3a5b1","container_config":{"Hostname":"3f6a06a3a5b1","Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"]},
"created":"2023-07-18T23:19:33.655005962Z","docker_version":"20.10.23","author":"someone",
"history":[{"created":"2023-07-18T23:19:33.538571854Z","created_by":"/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / "},
{"created":"2023-07-18T23:19:33.655005962Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],
"rootfs":{"type":"layers","diff_ids":["sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f"]},
"moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ=="}"##;

    fn d(name: &str) -> Digest {
        Digest::sha256_of(name.as_bytes())
    }

    fn manifest(kind: ManifestKind) -> Manifest {
        match kind {
            ManifestKind::Manifest(m) => m,
            ManifestKind::Index(i) => panic!("expected a manifest, got index {i:?}"),
        }
    }

    fn index(kind: ManifestKind) -> Index {
        match kind {
            ManifestKind::Index(i) => i,
            ManifestKind::Manifest(m) => panic!("expected an index, got manifest {m:?}"),
        }
    }

    #[test]
    fn fixtures_are_byte_exact() {
        assert_eq!(
            Digest::sha256_of(PODMAN_MANIFEST.as_bytes()).to_string(),
            PODMAN_MANIFEST_DIGEST
        );
        assert_eq!(
            Digest::sha256_of(PODMAN_CONFIG.as_bytes()).to_string(),
            PODMAN_CONFIG_DIGEST
        );
    }

    #[test]
    fn parses_a_docker_schema2_manifest() {
        for declared in [
            None,
            Some(DOCKER_MANIFEST),
            Some("application/octet-stream"),
        ] {
            let m = manifest(parse_manifest(DOCKER_MANIFEST_JSON.as_bytes(), declared).unwrap());
            assert_eq!(m.schema_version, 2);
            assert_eq!(m.media_type.as_deref(), Some(DOCKER_MANIFEST));
            assert_eq!(m.config.media_type, DOCKER_CONFIG);
            assert_eq!(m.config.size, 1457);
            assert_eq!(m.config.digest, d("busybox-config"));
            assert_eq!(m.layers.len(), 2);
            assert_eq!(m.layers[0].digest, d("busybox-layer"));
            assert_eq!(m.layers[0].size, 2591575);
            assert_eq!(
                layer_compression(&m.layers[0].media_type),
                Some(Compression::Gzip)
            );
            assert_eq!(
                m.layers[1].urls.as_deref(),
                Some(&["https://example.com/layer.tar.gz".to_string()][..])
            );
            assert_eq!(
                to_oci_media_type(&m.layers[1].media_type),
                OCI_LAYER_NONDISTRIBUTABLE_GZIP
            );
        }
    }

    #[test]
    fn parses_a_podman_oci_manifest_by_shape() {
        for declared in [None, Some(OCI_MANIFEST)] {
            let m = manifest(parse_manifest(PODMAN_MANIFEST.as_bytes(), declared).unwrap());
            assert_eq!(m.media_type, None);
            assert_eq!(m.config.digest.to_string(), PODMAN_CONFIG_DIGEST);
            assert_eq!(m.config.size, PODMAN_CONFIG.len() as u64);
            assert_eq!(m.layers.len(), 1);
            assert_eq!(m.layers[0].media_type, OCI_LAYER_GZIP);
            assert!(m.layers[0].annotations.is_none() && m.subject.is_none());
        }
    }

    #[test]
    fn serialises_a_new_manifest_in_oci_form() {
        let m = Manifest::oci(
            Descriptor::new(OCI_CONFIG, d("c"), 2),
            vec![Descriptor::new(OCI_LAYER, d("l"), 3)],
        );
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":2}},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"{}","size":3}}]}}"#,
                d("c"),
                d("l")
            )
        );
        let back = manifest(parse_manifest(json.as_bytes(), None).unwrap());
        assert_eq!(back, m);
        let docker = Manifest::docker(m.config.clone(), m.layers.clone());
        assert_eq!(docker.media_type.as_deref(), Some(DOCKER_MANIFEST));
        let i = Index::oci(vec![Descriptor::new(OCI_MANIFEST, d("m"), 5)]);
        let i_json = serde_json::to_vec(&i).unwrap();
        assert_eq!(index(parse_manifest(&i_json, None).unwrap()), i);
    }

    fn platform_entry(name: &str, os: &str, arch: &str, variant: Option<&str>) -> Value {
        let mut p = json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        json!({"mediaType": DOCKER_MANIFEST, "digest": d(name).to_string(), "size": 525, "platform": p})
    }

    /// A manifest list like the official images': several platforms plus an attestation.
    fn multi_platform_index() -> Vec<u8> {
        let mut manifests = vec![
            platform_entry("amd64", "linux", "amd64", None),
            platform_entry("arm-v5", "linux", "arm", Some("v5")),
            platform_entry("arm-v6", "linux", "arm", Some("v6")),
            platform_entry("arm-v7", "linux", "arm", Some("v7")),
            platform_entry("arm64-v8", "linux", "arm64", Some("v8")),
            platform_entry("386", "linux", "386", None),
            platform_entry("ppc64le", "linux", "ppc64le", None),
            platform_entry("windows", "windows", "amd64", None),
        ];
        manifests.push(json!({
            "mediaType": OCI_MANIFEST, "digest": d("attestation").to_string(), "size": 839,
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}
        }));
        serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": manifests
        }))
        .unwrap()
    }

    #[test]
    fn selects_the_platform_from_an_index() {
        let bytes = multi_platform_index();
        let idx = index(parse_manifest(&bytes, Some(DOCKER_MANIFEST_LIST)).unwrap());
        assert_eq!(idx.manifests.len(), 9);
        let cases = [
            ("linux/amd64", Some("amd64")),
            ("linux/x86_64", Some("amd64")),
            ("linux/amd64/v3", Some("amd64")),
            ("linux/arm64", Some("arm64-v8")),
            ("linux/arm64/v8", Some("arm64-v8")),
            ("linux/aarch64", Some("arm64-v8")),
            ("linux/arm/v7", Some("arm-v7")),
            ("linux/armhf", Some("arm-v7")),
            ("linux/arm/v6", Some("arm-v6")),
            ("linux/armel", Some("arm-v6")),
            ("linux/arm/v8", Some("arm-v7")),
            ("linux/386", Some("386")),
            ("windows/amd64", Some("windows")),
            ("linux/s390x", None),
            ("linux/riscv64", None),
        ];
        for (want, expect) in cases {
            let want_p = Platform::parse(want).unwrap();
            let got = select_platform(&idx, &want_p).map(|desc| desc.digest.clone());
            assert_eq!(got, expect.map(d), "{want}");
        }
        // The host finds its entry (this test runs on one of the listed platforms).
        let host = Platform::host();
        if ["amd64", "arm64"].contains(&host.architecture.as_str()) {
            assert!(select_platform(&idx, &host).is_some());
        }
    }

    #[test]
    fn index_entries_without_platform_are_the_fallback() {
        let bytes = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d("any").to_string(), "size": 1},
            platform_entry("arm64", "linux", "arm64", None),
            {"mediaType": OCI_LAYER, "digest": d("layer").to_string(), "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]}))
        .unwrap();
        let idx = index(parse_manifest(&bytes, None).unwrap());
        let pick = |p: &str| {
            select_platform(&idx, &Platform::parse(p).unwrap())
                .unwrap()
                .digest
                .clone()
        };
        assert_eq!(pick("linux/arm64"), d("arm64"));
        // The amd64 entry is a layer, not a manifest: the platform-less manifest is used.
        assert_eq!(pick("linux/amd64"), d("any"));
        let empty = Index::oci(Vec::new());
        assert!(select_platform(&empty, &Platform::host()).is_none());
    }

    #[test]
    fn parses_the_podman_config() {
        let c = parse_config(PODMAN_CONFIG.as_bytes()).unwrap();
        assert_eq!(c.created.as_deref(), Some("2026-11-26T18:58:26.016175481Z"));
        assert_eq!((c.architecture.as_str(), c.os.as_str()), ("amd64", "linux"));
        assert_eq!(c.platform().to_string(), "linux/amd64");
        let cc = c.config.as_ref().unwrap();
        assert_eq!(cc.env.as_deref(), Some(&["A=b".to_string()][..]));
        assert_eq!(cc.cmd.as_deref(), Some(&["/hello".to_string()][..]));
        assert_eq!(cc.labels.as_ref().unwrap()["x"], "y");
        assert!(cc.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert!(cc.extra.is_empty() && c.extra.is_empty());
        assert_eq!(c.rootfs.typ, "layers");
        assert_eq!(
            c.rootfs.diff_ids,
            [
                "sha256:a2e03ff2e30c38f5d6486dd42528c7bf6eadff569381f2864a0eab029d03fea7"
                    .parse::<Digest>()
                    .unwrap()
            ]
        );
        assert_eq!(c.history.len(), 1);
        assert_eq!(
            c.history[0].comment.as_deref(),
            Some("imported from tarball")
        );
        assert!(!c.history[0].empty_layer);
    }

    /// `v` without object members whose value is null (Go's nil maps and slices).
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            other => other,
        }
    }

    #[test]
    fn docker_config_keeps_unknown_fields() {
        let c = parse_config(DOCKER_CONFIG_JSON.as_bytes()).unwrap();
        assert_eq!(c.platform().to_string(), "linux/arm64/v8");
        assert_eq!(c.author.as_deref(), Some("someone"));
        assert_eq!(c.extra["docker_version"], "20.10.23");
        assert_eq!(c.extra["os.version"], "6.1");
        assert_eq!(c.extra["container_config"]["Hostname"], "3f6a06a3a5b1");
        assert!(c.extra.contains_key("moby.buildkit.buildinfo.v1"));
        let cc = c.config.as_ref().unwrap();
        assert_eq!(cc.user.as_deref(), Some("nobody"));
        // Docker accepts a string Cmd: it is a one-element list.
        assert_eq!(
            cc.cmd.as_deref(),
            Some(&["/bin/sh -c true".to_string()][..])
        );
        assert_eq!(cc.entrypoint, None);
        assert_eq!(cc.working_dir.as_deref(), Some("/srv"));
        assert_eq!(cc.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(cc.shell.as_ref().unwrap().len(), 2);
        assert!(cc.volumes.as_ref().unwrap().contains_key("/data"));
        let hc = cc.healthcheck.as_ref().unwrap();
        assert_eq!(
            (hc.interval, hc.retries, hc.timeout),
            (Some(30_000_000_000), Some(3), None)
        );
        assert_eq!(cc.extra["StopTimeout"], 7);
        assert_eq!(cc.extra["Hostname"], "");
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        // Everything but the nulls and the string-form Cmd comes back out unchanged.
        let mut original: Value = serde_json::from_str(DOCKER_CONFIG_JSON).unwrap();
        original["config"]["Cmd"] = json!(["/bin/sh -c true"]);
        assert_eq!(serde_json::to_value(&c).unwrap(), without_nulls(original));
    }

    #[test]
    fn go_nulls_read_as_empty() {
        let c = parse_config(
            br#"{"architecture":"amd64","os":"linux","config":null,"history":null,
                "rootfs":{"type":"layers","diff_ids":null}}"#,
        )
        .unwrap();
        assert!(c.config.is_none() && c.history.is_empty() && c.rootfs.diff_ids.is_empty());
        let default = ImageConfig::default();
        assert_eq!(default.rootfs.typ, "layers");
    }

    #[test]
    fn chain_ids_follow_the_oci_formula() {
        // Computed in the shell:
        //   c1=$(printf '%s %s' $d0 $d1 | sha256sum); c2=$(printf '%s %s' sha256:$c1 $d2 | sha256sum)
        // with d0, d1, d2 the sha256 of "a", "b", "c".
        let diff_ids = [d("a"), d("b"), d("c")];
        let want = [
            "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
            "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676",
            "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106",
        ];
        let got: Vec<String> = chain_ids(&diff_ids)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want);
        assert!(chain_ids(&[]).is_empty());
        assert_eq!(chain_ids(&diff_ids[..1]), vec![d("a")]);
    }

    #[test]
    fn layer_compression_by_media_type() {
        let cases = [
            (OCI_LAYER, Some(Compression::None)),
            (OCI_LAYER_GZIP, Some(Compression::Gzip)),
            (OCI_LAYER_ZSTD, Some(Compression::Zstd)),
            (OCI_LAYER_NONDISTRIBUTABLE_GZIP, Some(Compression::Gzip)),
            (DOCKER_LAYER, Some(Compression::None)),
            (DOCKER_LAYER_GZIP, Some(Compression::Gzip)),
            (DOCKER_LAYER_ZSTD, Some(Compression::Zstd)),
            (DOCKER_FOREIGN_LAYER, Some(Compression::None)),
            (DOCKER_FOREIGN_LAYER_GZIP, Some(Compression::Gzip)),
            (OCI_CONFIG, None),
            (DOCKER_MANIFEST, None),
            ("application/octet-stream", None),
        ];
        for (mt, want) in cases {
            assert_eq!(layer_compression(mt), want, "{mt}");
            assert_eq!(want.is_some(), is_layer(mt), "{mt}");
        }
    }

    #[test]
    fn malformed_manifests_name_the_problem() {
        let good: Value = serde_json::from_str(DOCKER_MANIFEST_JSON).unwrap();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::to_vec(&v).unwrap()
        };
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (b"".to_vec(), None, "invalid manifest or index: not valid JSON"),
            (b"{\"schemaVersion\":2".to_vec(), None, "not valid JSON"),
            (format!("{DOCKER_MANIFEST_JSON}x").into_bytes(), None, "not valid JSON"),
            (b"[1]".to_vec(), None, "expected a JSON object, found an array"),
            (
                br#"{"schemaVersion":1,"name":"library/busybox","tag":"latest","architecture":"amd64","fsLayers":[],"history":[]}"#.to_vec(),
                None,
                "schema 1 manifests are not supported",
            ),
            (b"{}".to_vec(), Some(DOCKER_MANIFEST_SCHEMA1_SIGNED), "schema 1 manifests are not supported"),
            (
                with(&|v| v["mediaType"] = json!(DOCKER_MANIFEST_SCHEMA1)),
                None,
                "schema 1 manifests are not supported",
            ),
            (with(&|v| v["schemaVersion"] = json!(3)), None, "unsupported manifest schemaVersion 3"),
            (with(&|v| v["layers"][1]["digest"] = json!("sha256:abc")), None, "field `layers[1].digest`"),
            (with(&|v| v["layers"][1]["digest"] = json!("sha256:abc")), None, "\"sha256:abc\""),
            (with(&|v| v["config"]["size"] = json!(-1)), None, "field `config.size`"),
            (with(&|v| v["layers"][0]["mediaType"] = json!(7)), None, "field `layers[0].mediaType`"),
            (with(&|v| { v.as_object_mut().unwrap().remove("config"); }), None, "missing field `config`"),
            (with(&|v| { v.as_object_mut().unwrap().remove("schemaVersion"); }), None, "missing field `schemaVersion`"),
            (DOCKER_MANIFEST_JSON.as_bytes().to_vec(), Some(OCI_INDEX), "does not match the media type"),
            (DOCKER_MANIFEST_JSON.as_bytes().to_vec(), Some(OCI_LAYER_GZIP), "is not a manifest or an index"),
            (PODMAN_MANIFEST.as_bytes().to_vec(), Some(DOCKER_MANIFEST_LIST), "missing field `manifests`"),
            (br#"{"schemaVersion":2}"#.to_vec(), None, "neither \"layers\" nor \"manifests\""),
            (br#"{"schemaVersion":2,"layers":[],"manifests":[]}"#.to_vec(), None, "ambiguous"),
            (br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:x"}]}"#.to_vec(), None, "invalid index: field `manifests[0]"),
        ];
        for (bytes, declared, want) in cases {
            let input = String::from_utf8_lossy(&bytes).into_owned();
            let e = match parse_manifest(&bytes, declared) {
                Ok(k) => panic!("{input:?} ({declared:?}) parsed: {k:?}"),
                Err(e) => e,
            };
            assert!(
                e.to_string().contains(want),
                "{input:?} ({declared:?}): {e:?} -> {e} lacks {want:?}"
            );
            assert_eq!(e.class(), ErrorClass::InvalidArgument);
        }
    }

    #[test]
    fn malformed_configs_name_the_field() {
        let good: Value = serde_json::from_str(PODMAN_CONFIG).unwrap();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::to_vec(&v).unwrap()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"nope".to_vec(), "invalid image config: not valid JSON"),
            (
                with(&|v| {
                    v.as_object_mut().unwrap().remove("rootfs");
                }),
                "missing field `rootfs`",
            ),
            (
                with(&|v| {
                    v.as_object_mut().unwrap().remove("os");
                }),
                "missing field `os`",
            ),
            (
                with(&|v| v["rootfs"]["diff_ids"] = json!([d("a").to_string(), "sha256:zz"])),
                "field `rootfs.diff_ids[1]`",
            ),
            (
                with(&|v| v["rootfs"]["type"] = json!("layers+base")),
                "rootfs.type is \"layers+base\"",
            ),
            (
                with(&|v| v["architecture"] = json!(64)),
                "field `architecture`",
            ),
            (
                with(&|v| v["config"]["Env"] = json!("A=b")),
                "field `config.Env`",
            ),
            (
                with(&|v| v["config"]["Cmd"] = json!(3)),
                "field `config.Cmd`",
            ),
            (
                with(&|v| v["config"]["Labels"] = json!({"a": 1})),
                "field `config.Labels.a`",
            ),
            (
                with(&|v| v["history"][0]["empty_layer"] = json!("yes")),
                "field `history[0].empty_layer`",
            ),
            (
                format!("{PODMAN_CONFIG} {{}}").into_bytes(),
                "not valid JSON: trailing characters",
            ),
        ];
        for (bytes, want) in cases {
            let input = String::from_utf8_lossy(&bytes).into_owned();
            let e = match parse_config(&bytes) {
                Ok(c) => panic!("{input:?} parsed: {c:?}"),
                Err(e) => e,
            };
            assert!(
                e.to_string().contains(want),
                "{input:?}: {e} lacks {want:?}"
            );
        }
    }
}
