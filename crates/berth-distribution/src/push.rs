//! `berth push`: blobs the registry lacks (HEAD check), mounted from another repository of the
//! same registry when the image came from one, else uploaded (monolithic PUT when small,
//! chunked PATCHes when large), layers in parallel; then the manifest, byte for byte as stored,
//! with its own media type, so digests stay identical.

use crate::auth::repo_scope;
use crate::error::{DistError, Result};
use crate::progress::{bar, Progress};
use crate::registry::{error_of, Body, Registry};
use crate::settings::Settings;
use berth_image::manifest::{self, Descriptor, ManifestKind};
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blobs up to this size go in one PUT.
const MONOLITHIC_MAX: u64 = 16 << 20;
/// Chunk size of chunked uploads.
const CHUNK: u64 = 64 << 20;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Print only the digest line.
    pub quiet: bool,
    /// Parallel blob uploads.
    pub threads: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            quiet: false,
            threads: 4,
        }
    }
}

struct Ctx<'a> {
    store: &'a ImageStore,
    reg: Registry,
    path: String,
    scopes: Vec<String>,
    mount_from: Vec<String>,
    progress: &'a Progress,
}

/// Pushes image `name` (a local tag) to its registry; returns the manifest digest.
pub fn push(
    store: &ImageStore,
    settings: &Settings,
    name: &str,
    opts: &PushOptions,
    out: Box<dyn Write + Send>,
    out_is_tty: bool,
) -> Result<Digest> {
    let r = Reference::parse(name)?;
    let id = match store.resolve(&r.to_string()) {
        Ok(id) => id,
        Err(berth_image::ImageError::NotFound(_)) => {
            return Err(DistError::InvalidArgument(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let record = store.image(&id)?;
    let manifest_bytes = store.read_blob(&record.manifest_digest)?;
    let m = match manifest::parse_manifest(&manifest_bytes, Some(&record.manifest_media_type)) {
        Ok(ManifestKind::Manifest(m)) => m,
        Ok(ManifestKind::Index(_)) => {
            return Err(DistError::BadDocument {
                what: format!("stored manifest of {name}"),
                message: "is an index".into(),
            })
        }
        Err(e) => {
            return Err(DistError::BadDocument {
                what: format!("stored manifest of {name}"),
                message: e.to_string(),
            })
        }
    };
    let progress = Progress::new(out, out_is_tty, opts.quiet);
    progress.line(&format!(
        "The push refers to repository [{}]",
        r.familiar_name()
    ));
    // Other repositories of the same registry this image came from or is tagged in.
    let mut mount_from: Vec<String> = Vec::new();
    let mut known: Vec<String> = record.repo_digests.clone();
    known.extend(
        store
            .meta()
            .tags_of(&id)
            .map_err(berth_image::ImageError::from)?,
    );
    for k in known {
        if let Ok(other) = Reference::parse(&k) {
            if other.domain() == r.domain()
                && other.path() != r.path()
                && !mount_from.iter().any(|p| p == other.path())
            {
                mount_from.push(other.path().to_string());
            }
        }
    }
    mount_from.truncate(3);
    let mut scopes = vec![repo_scope(r.path(), "pull,push")];
    scopes.extend(mount_from.iter().map(|p| repo_scope(p, "pull")));
    let ctx = Ctx {
        store,
        reg: Registry::new(settings, r.domain())?,
        path: r.path().to_string(),
        scopes,
        mount_from,
        progress: &progress,
    };
    // Layers top first, like docker's display.
    let mut blobs: Vec<Descriptor> = m.layers.iter().rev().cloned().collect();
    for l in &blobs {
        progress.update(&short(&l.digest), "Preparing", false);
    }
    blobs.dedup_by(|a, b| a.digest == b.digest);
    let next = AtomicUsize::new(0);
    let first_err: Mutex<Option<DistError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.threads.clamp(1, 8).min(blobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= blobs.len() || first_err.lock().expect("not poisoned").is_some() {
                    break;
                }
                if let Err(e) = push_blob(&ctx, &blobs[i], true) {
                    first_err.lock().expect("not poisoned").get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().expect("not poisoned") {
        return Err(e);
    }
    push_blob(&ctx, &m.config, false)?;
    let tag = r
        .digest()
        .map(|d| d.to_string())
        .or(r.tag().map(String::from))
        .unwrap_or("latest".into());
    let url = format!("/v2/{}/manifests/{tag}", ctx.path);
    let resp = ctx.reg.call(
        "PUT",
        &url,
        &ctx.scopes,
        &[],
        Body::Bytes(&manifest_bytes, &record.manifest_media_type),
    )?;
    if !(200..300).contains(&resp.status()) {
        let (status, code, message) = error_of(resp);
        return Err(DistError::Status {
            url: ctx.reg.url(&url),
            status,
            code,
            message,
        });
    }
    let digest = record.manifest_digest.clone();
    store
        .meta()
        .add_repo_digests(&id, &[format!("{}@{digest}", r.name())])
        .map_err(berth_image::ImageError::from)?;
    let line = format!("{tag}: digest: {digest} size: {}", manifest_bytes.len());
    if opts.quiet {
        println!("{line}");
    } else {
        progress.line(&line);
    }
    Ok(digest)
}

fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

fn status_err(reg: &Registry, url: &str, resp: ureq::Response) -> DistError {
    let (status, code, message) = error_of(resp);
    DistError::Status {
        url: reg.url(url),
        status,
        code,
        message,
    }
}

/// `url` with `key=value` appended to its query.
fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

fn push_blob(ctx: &Ctx<'_>, desc: &Descriptor, show: bool) -> Result<()> {
    let id = short(&desc.digest);
    let update = |text: &str, transient: bool| {
        if show {
            ctx.progress.update(&id, text, transient)
        }
    };
    let blob_url = format!("/v2/{}/blobs/{}", ctx.path, desc.digest);
    let head = ctx
        .reg
        .call("HEAD", &blob_url, &ctx.scopes, &[], Body::Empty)?;
    if head.status() == 200 {
        update("Layer already exists", false);
        return Ok(());
    }
    let uploads = format!("/v2/{}/blobs/uploads/", ctx.path);
    let mut location = None;
    for from in &ctx.mount_from {
        let url = format!("{uploads}?mount={}&from={from}", desc.digest);
        let resp = ctx.reg.call("POST", &url, &ctx.scopes, &[], Body::Empty)?;
        match resp.status() {
            201 => {
                update(&format!("Mounted from {from}"), false);
                return Ok(());
            }
            202 => {
                location = resp.header("Location").map(String::from);
                break;
            }
            _ => {}
        }
    }
    let mut location = match location {
        Some(l) => l,
        None => {
            let resp = ctx
                .reg
                .call("POST", &uploads, &ctx.scopes, &[], Body::Empty)?;
            if resp.status() != 202 {
                return Err(status_err(&ctx.reg, &uploads, resp));
            }
            resp.header("Location")
                .map(String::from)
                .ok_or_else(|| DistError::BadDocument {
                    what: format!("upload of {}", desc.digest),
                    message: "202 without Location".into(),
                })?
        }
    };
    let path = ctx.store.content().blob_path(&desc.digest);
    let open = || {
        std::fs::File::open(&path).map_err(|source| DistError::Io {
            op: "opening",
            path: path.display().to_string(),
            source,
        })
    };
    update("Pushing", false);
    if desc.size <= MONOLITHIC_MAX {
        let mut data = Vec::with_capacity(desc.size as usize);
        open()?
            .read_to_end(&mut data)
            .map_err(|source| DistError::Io {
                op: "reading",
                path: path.display().to_string(),
                source,
            })?;
        let url = with_query(&location, "digest", &desc.digest.to_string());
        let resp = ctx.reg.call(
            "PUT",
            &url,
            &ctx.scopes,
            &[],
            Body::Bytes(&data, "application/octet-stream"),
        )?;
        if resp.status() != 201 {
            return Err(status_err(&ctx.reg, &url, resp));
        }
        update("Pushed", false);
        return Ok(());
    }
    let mut offset = 0u64;
    while offset < desc.size {
        let len = CHUNK.min(desc.size - offset);
        let mut file = open()?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|source| DistError::Io {
                op: "seeking",
                path: path.display().to_string(),
                source,
            })?;
        let range = format!("{}-{}", offset, offset + len - 1);
        let counted = Counting {
            inner: file.take(len),
            base: offset,
            total: desc.size,
            last: 0,
            update: &update,
        };
        let resp = ctx.reg.call(
            "PATCH",
            &location,
            &ctx.scopes,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            Body::Reader(Box::new(counted), len),
        )?;
        if resp.status() != 202 {
            return Err(status_err(&ctx.reg, &location, resp));
        }
        if let Some(l) = resp.header("Location") {
            location = l.to_string();
        }
        // The registry's Range says what it has: resume from there.
        let got = resp
            .header("Range")
            .and_then(|r| r.rsplit('-').next())
            .and_then(|e| e.parse::<u64>().ok())
            .map(|e| e + 1)
            .unwrap_or(offset + len);
        offset = got;
    }
    let url = with_query(&location, "digest", &desc.digest.to_string());
    let resp = ctx.reg.call("PUT", &url, &ctx.scopes, &[], Body::Empty)?;
    if resp.status() != 201 {
        return Err(status_err(&ctx.reg, &url, resp));
    }
    update("Pushed", false);
    Ok(())
}

/// Counts bytes sent for the progress bar.
struct Counting<'a, R> {
    inner: R,
    base: u64,
    total: u64,
    last: u64,
    update: &'a (dyn Fn(&str, bool) + Sync),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.last += n as u64;
        (self.update)(
            &format!("Pushing {}", bar(self.base + self.last, self.total)),
            true,
        );
        Ok(n)
    }
}
