//! `berth pull`: resolve a reference on its registry (mirrors first for docker.io), pick the
//! platform's manifest from an index, fetch and check the config, then stream the layers into
//! the image store (`ImageStore::pull`: parallel, one pass, nothing recorded until all matched).

use crate::auth::repo_scope;
use crate::error::{DistError, Result};
use crate::progress::{bar, Progress};
use crate::registry::{BlobReader, Registry};
use crate::settings::Settings;
use berth_image::manifest::{self, Descriptor, ManifestKind};
use berth_image::{ImageStore, LayerSource, PullEvent, PullSpec};
use berth_oci::{Digest, Platform, Reference};
use std::io::{IsTerminal, Read, Write};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to select from an index (default: the host's).
    pub platform: Option<Platform>,
    /// Pull every tag of the repository.
    pub all_tags: bool,
    /// Print only the reference at the end.
    pub quiet: bool,
    /// Parallel layer downloads.
    pub threads: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            all_tags: false,
            quiet: false,
            threads: 4,
        }
    }
}

/// What one pulled reference gave.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The image ID.
    pub id: Digest,
    /// The full reference pulled.
    pub reference: String,
    /// The digest of the manifest (or index) the reference names.
    pub digest: Digest,
    /// Whether the image was already there.
    pub up_to_date: bool,
}

struct Source {
    reg: Registry,
    path: String,
    scopes: Vec<String>,
}

impl LayerSource for Source {
    fn open(&self, desc: &Descriptor, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(
            BlobReader::new(
                self.reg.clone(),
                &self.path,
                desc.digest.clone(),
                desc.size,
                self.scopes.clone(),
            )
            .starting_at(offset),
        ))
    }
}

/// The 12-hex short form of a digest.
fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

/// Whether the user gave neither tag nor digest.
fn has_no_tag(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    !last.contains(':') && !name.contains('@')
}

/// Pulls `name` (or, with `all_tags`, every tag of its repository) into `store`, printing
/// docker's progress to `out` (redrawn in place when `out_is_tty`).
pub fn pull(
    store: &ImageStore,
    settings: &Settings,
    name: &str,
    opts: &PullOptions,
    out: Box<dyn Write + Send>,
    out_is_tty: bool,
) -> Result<Vec<PullOutcome>> {
    let r = Reference::parse(name)?;
    let progress = Progress::new(out, out_is_tty, opts.quiet);
    let endpoints = Registry::endpoints(settings, r.domain())?;
    let scopes = vec![repo_scope(r.path(), "pull")];
    let mut refs = Vec::new();
    if opts.all_tags {
        if !has_no_tag(name) {
            return Err(DistError::InvalidArgument(
                "tag can't be used with --all-tags/-a".into(),
            ));
        }
        let tags = endpoints
            .last()
            .expect("the registry itself")
            .tags(r.path(), &scopes)?;
        for t in tags {
            refs.push(r.try_with_tag(&t)?);
        }
    } else {
        if has_no_tag(name) {
            progress.line("Using default tag: latest");
        }
        refs.push(r);
    }
    let mut outcomes = Vec::new();
    for r in refs {
        let mut last_err = None;
        let mut done = None;
        for reg in &endpoints {
            match pull_one(store, reg, &r, &scopes, opts, &progress) {
                Ok(o) => {
                    done = Some(o);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        match done {
            Some(o) => outcomes.push(o),
            None => return Err(last_err.expect("one endpoint at least")),
        }
    }
    if opts.all_tags {
        progress.line(&r_name(&outcomes));
    }
    Ok(outcomes)
}

fn r_name(outcomes: &[PullOutcome]) -> String {
    outcomes
        .first()
        .and_then(|o| Reference::parse(&o.reference).ok())
        .map(|r| r.name())
        .unwrap_or_default()
}

fn pull_one(
    store: &ImageStore,
    reg: &Registry,
    r: &Reference,
    scopes: &[String],
    opts: &PullOptions,
    progress: &Progress,
) -> Result<PullOutcome> {
    let display = r.familiar();
    let path = r.path();
    let reference = match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let (mut bytes, mut media_type, top_digest) =
        reg.get_manifest(path, &reference, scopes, &display)?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut depth = 0;
    let mut from_index = false;
    let manifest = loop {
        let kind = manifest::parse_manifest(&bytes, Some(&media_type)).map_err(|e| {
            DistError::BadDocument {
                what: format!("manifest of {display}"),
                message: e.to_string(),
            }
        })?;
        match kind {
            ManifestKind::Manifest(m) => break m,
            ManifestKind::Index(index) => {
                depth += 1;
                from_index = true;
                let desc = manifest::select_platform(&index, &platform)
                    .filter(|_| depth < 4)
                    .ok_or_else(|| DistError::NoPlatform {
                        reference: display.clone(),
                        platform: platform.to_string(),
                    })?;
                let (b, mt, _) =
                    reg.get_manifest(path, &desc.digest.to_string(), scopes, &display)?;
                bytes = b;
                media_type = if mt.is_empty() {
                    desc.media_type.clone()
                } else {
                    mt
                };
            }
        }
    };
    if media_type.is_empty() {
        media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| berth_oci::media_types::OCI_MANIFEST.to_string());
    }
    if !manifest::is_config(&manifest.config.media_type) {
        return Err(DistError::BadDocument {
            what: format!("manifest of {display}"),
            message: format!(
                "config media type {:?} is not an image config (not a container image)",
                manifest.config.media_type
            ),
        });
    }
    let tags: Vec<String> = r.tag().map(|_| vec![r.to_string()]).unwrap_or_default();
    let repo_digest = format!("{}@{}", r.name(), top_digest);
    let shown = if r.digest().is_some() {
        reference.clone()
    } else {
        r.tag().unwrap_or("latest").to_string()
    };
    // Already here: only the tag and repo digest are new.
    if store.meta().image(&manifest.config.digest)?.is_some() {
        let id = manifest.config.digest.clone();
        check_platform(opts, from_index, &store.read_blob(&id)?, &display)?;
        for t in &tags {
            store
                .meta()
                .tag(t, &id)
                .map_err(berth_image::ImageError::from)?;
        }
        store
            .meta()
            .add_repo_digests(&id, &[repo_digest])
            .map_err(berth_image::ImageError::from)?;
        progress.line(&format!("{shown}: Pulling from {}", familiar_path(r)));
        progress.line(&format!("Digest: {top_digest}"));
        progress.line(&format!("Status: Image is up to date for {display}"));
        if !opts.quiet {
            progress.line(&r.to_string());
        } else {
            progress_quiet(&r.to_string());
        }
        return Ok(PullOutcome {
            id,
            reference: r.to_string(),
            digest: top_digest,
            up_to_date: true,
        });
    }
    progress.line(&format!("{shown}: Pulling from {}", familiar_path(r)));
    if manifest.config.size > crate::registry::MAX_DOCUMENT {
        return Err(DistError::BadDocument {
            what: format!("config of {display}"),
            message: format!("{} bytes is too large", manifest.config.size),
        });
    }
    let config = reg.get_small_blob(path, &manifest.config.digest, scopes)?;
    check_platform(opts, from_index, &config, &display)?;
    let ids: Vec<String> = manifest.layers.iter().map(|l| short(&l.digest)).collect();
    let on_event = |ev: PullEvent| match ev {
        PullEvent::Exists { index, .. } => progress.update(&ids[index], "Already exists", false),
        PullEvent::Waiting { index, .. } => progress.update(&ids[index], "Pulling fs layer", false),
        PullEvent::Downloading {
            index, done, total, ..
        } => progress.update(
            &ids[index],
            &format!("Downloading {}", bar(done, total)),
            true,
        ),
        PullEvent::Verified { index, .. } => {
            progress.update(&ids[index], "Download complete", false)
        }
        PullEvent::Complete { index, .. } => progress.update(&ids[index], "Pull complete", false),
    };
    let source = Source {
        reg: reg.clone(),
        path: path.to_string(),
        scopes: scopes.to_vec(),
    };
    let spec = PullSpec {
        manifest: bytes,
        manifest_media_type: media_type,
        config,
        tags,
        repo_digests: vec![repo_digest],
        what: display.clone(),
    };
    let id = store.pull(spec, &source, opts.threads, &on_event)?;
    progress.line(&format!("Digest: {top_digest}"));
    progress.line(&format!("Status: Downloaded newer image for {display}"));
    if opts.quiet {
        progress_quiet(&r.to_string());
    } else {
        progress.line(&r.to_string());
    }
    Ok(PullOutcome {
        id,
        reference: r.to_string(),
        digest: top_digest,
        up_to_date: false,
    })
}

/// A single-platform image (not chosen from an index) must still be the platform asked for.
fn check_platform(
    opts: &PullOptions,
    from_index: bool,
    config: &[u8],
    display: &str,
) -> Result<()> {
    let Some(want) = &opts.platform else {
        return Ok(());
    };
    if from_index {
        return Ok(());
    }
    if let Ok(c) = manifest::parse_config(config) {
        let have = c.platform();
        if want.match_rank(&have).is_none() {
            return Err(DistError::NoPlatform {
                reference: format!("{display} (the image is {have})"),
                platform: want.to_string(),
            });
        }
    }
    Ok(())
}

fn progress_quiet(s: &str) {
    println!("{s}");
}

/// `library/busybox` for docker.io, the full name elsewhere (docker's "Pulling from").
fn familiar_path(r: &Reference) -> String {
    if r.domain() == "docker.io" {
        r.path().to_string()
    } else {
        r.name()
    }
}

/// For `run`: the image ID of `name`, pulled first (progress on stderr) when it is not in the
/// store. `Ok(id)` of the local image when it is there.
pub fn pull_if_missing(store: &ImageStore, name: &str) -> Result<Digest> {
    match store.resolve(name) {
        Ok(id) => return Ok(id),
        Err(berth_image::ImageError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let r = Reference::parse(name)?;
    let err = std::io::stderr();
    let tty = err.is_terminal();
    let _ = writeln!(
        std::io::stderr(),
        "Unable to find image '{}' locally",
        r.familiar()
    );
    let settings = Settings::load()?;
    let outcomes = pull(
        store,
        &settings,
        name,
        &PullOptions {
            quiet: false,
            ..PullOptions::default()
        },
        Box::new(err),
        tty,
    )?;
    Ok(outcomes[0].id.clone())
}
