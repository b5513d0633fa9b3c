//! Image commands: images, tag, rmi, save, load, import, history, inspect, prune, bootstrap.

use crate::cli::{
    BootstrapArgs, HistoryArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, PruneArgs, RmiArgs,
    SaveArgs, TagArgs,
};
use crate::filters::Filters;
use crate::output::{self, Column};
use anyhow::{bail, Context, Result};
use berth_image::{ImageStore, ImportOptions, SaveFormat};
use berth_oci::{Digest, Reference};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};

/// One row of `berth images`.
struct ImageRow {
    repository: String,
    tag: String,
    digest: String,
    id: Digest,
    created: Option<i64>,
    created_at: String,
    size: u64,
}

/// `berth images`.
pub fn list(store: &ImageStore, a: &ImagesArgs) -> Result<i32> {
    let filters = Filters::parse(
        &a.filter,
        &["dangling", "label", "reference", "before", "since", "until"],
    )?;
    let dangling = filters.bool_value("dangling")?;
    let before = match filters.last("before") {
        Some(n) => Some(store.image(&store.resolve(n)?)?.added),
        None => None,
    };
    let since = match filters.last("since") {
        Some(n) => Some(store.image(&store.resolve(n)?)?.added),
        None => None,
    };
    let mut references: Vec<String> = filters.values("reference").to_vec();
    if let Some(r) = &a.reference {
        references.push(r.clone());
    }
    let mut rows = Vec::new();
    for img in store.images()? {
        let tags = store.meta().tags_of(&img.id)?;
        let has_children = !store.meta().children(&img.id)?.is_empty();
        if tags.is_empty() && has_children && !a.all {
            continue;
        }
        if let Some(want) = dangling {
            if want != tags.is_empty() {
                continue;
            }
        }
        if !filters.labels_match(&img.labels) {
            continue;
        }
        if before.is_some_and(|b| img.added >= b) || since.is_some_and(|s| img.added <= s) {
            continue;
        }
        let created = img.created.as_deref().and_then(output::parse_rfc3339);
        let created_at = created.map(output::docker_time).unwrap_or_default();
        let digests: Vec<String> = img.repo_digests.clone();
        let mut push = |repository: String, tag: String, digest: String| {
            rows.push(ImageRow {
                repository,
                tag,
                digest,
                id: img.id.clone(),
                created,
                created_at: created_at.clone(),
                size: img.size,
            })
        };
        if tags.is_empty() {
            if references.is_empty() {
                push("<none>".into(), "<none>".into(), digest_of(&digests, None));
            }
            continue;
        }
        for t in tags {
            let r = Reference::parse(&t)?;
            let familiar = r.familiar_name();
            let tag = r.tag().unwrap_or("<none>").to_string();
            if !references.is_empty()
                && !references
                    .iter()
                    .any(|p| crate::filters::reference_matches(p, &familiar, &tag))
            {
                continue;
            }
            push(familiar, tag, digest_of(&digests, Some(&r.name())));
        }
    }
    rows.sort_by(|x, y| {
        y.created
            .cmp(&x.created)
            .then(x.repository.cmp(&y.repository))
    });
    if a.quiet {
        let mut seen = HashSet::new();
        for r in &rows {
            let id = if a.no_trunc {
                r.id.to_string()
            } else {
                short(&r.id)
            };
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "Repository": r.repository,
                "Tag": r.tag,
                "Digest": r.digest,
                "ID": if a.no_trunc { r.id.to_string() } else { short(&r.id) },
                "CreatedSince": r.created.map(output::since).unwrap_or_else(|| "N/A".into()),
                "CreatedAt": r.created_at,
                "Size": output::human_size(r.size),
                "VirtualSize": output::human_size(r.size),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            })
        })
        .collect();
    let mut columns = vec![
        Column::new("Repository", "REPOSITORY"),
        Column::new("Tag", "TAG"),
    ];
    if a.digests {
        columns.push(Column::new("Digest", "DIGEST"));
    }
    columns.extend([
        Column::new("ID", "IMAGE ID"),
        Column::new("CreatedSince", "CREATED"),
        Column::new("Size", "SIZE"),
    ]);
    output::print(&values, a.format.as_deref(), &columns)?;
    Ok(0)
}

fn digest_of(repo_digests: &[String], name: Option<&str>) -> String {
    repo_digests
        .iter()
        .find(|d| name.is_none_or(|n| d.starts_with(&format!("{n}@"))))
        .and_then(|d| d.split_once('@').map(|x| x.1.to_string()))
        .unwrap_or_else(|| "<none>".into())
}

fn short(id: &Digest) -> String {
    berth_image::short_id(id)
}

/// `berth tag`.
pub fn tag(store: &ImageStore, a: &TagArgs) -> Result<i32> {
    store.tag(&a.source, &a.target)?;
    Ok(0)
}

/// `berth rmi`: removes each image, reporting errors per image like docker.
pub fn remove(store: &ImageStore, a: &RmiArgs) -> Result<i32> {
    let mut status = 0;
    for name in &a.images {
        match store.remove(name, a.force) {
            Ok(actions) => {
                for act in actions {
                    println!("{act}");
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `berth save`.
pub fn save(store: &ImageStore, a: &SaveArgs) -> Result<i32> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => SaveFormat::DockerArchive,
        "oci-archive" | "oci" => SaveFormat::OciArchive,
        other => bail!("unknown archive format {other:?} (use docker-archive or oci-archive)"),
    };
    match &a.output {
        Some(path) => {
            // Write beside the target and rename, so a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            store.save_to_file(&a.images, format, tmp.as_file_mut())?;
            tmp.persist(path)
                .with_context(|| format!("renaming the archive to {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut lock = stdout.lock();
            store.save(&a.images, format, &mut lock)?;
            lock.flush().context("writing to stdout")?;
        }
    }
    Ok(0)
}

/// `berth load`.
pub fn load(store: &ImageStore, a: &LoadArgs) -> Result<i32> {
    let mut input: Box<dyn Read> = match &a.input {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let quiet = a.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            println!("{line}");
        }
    };
    let loaded = store.load(&mut input, &mut progress)?;
    for img in loaded {
        if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for t in img.tags {
            let shown = Reference::parse(&t).map(|r| r.familiar()).unwrap_or(t);
            println!("Loaded image: {shown}");
        }
    }
    Ok(0)
}

/// `berth import`.
pub fn import(store: &ImageStore, a: &ImportArgs) -> Result<i32> {
    if let Some(p) = &a.platform {
        let want = berth_oci::Platform::parse(p)?;
        if !want.matches(&berth_oci::Platform::host()) {
            bail!(
                "importing for platform {want} is not supported on this {} host",
                berth_oci::Platform::host()
            );
        }
    }
    let opts = ImportOptions {
        changes: a.change.clone(),
        message: a.message.clone(),
        source: a.file.clone(),
        tag: a.reference.clone(),
    };
    let id = if a.file == "-" {
        store.import(&mut std::io::stdin().lock(), &opts)?
    } else {
        let mut f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        store.import(&mut f, &opts)?
    };
    println!("{id}");
    Ok(0)
}

/// `berth history`.
pub fn history(store: &ImageStore, a: &HistoryArgs) -> Result<i32> {
    let id = store.resolve(&a.image)?;
    let rows = store.history(&id)?;
    if a.quiet {
        for r in &rows {
            println!(
                "{}",
                if a.no_trunc {
                    r.id.clone()
                } else {
                    trunc_id(&r.id)
                }
            );
        }
        return Ok(0);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let created = r.created.as_deref().and_then(output::parse_rfc3339);
            let created_by = if a.no_trunc {
                r.created_by.clone()
            } else {
                output::truncate(&r.created_by, 45)
            };
            json!({
                "ID": if a.no_trunc { r.id.clone() } else { trunc_id(&r.id) },
                "CreatedSince": match (created, a.human) {
                    (Some(t), true) => output::since(t),
                    (Some(t), false) => output::docker_time(t),
                    (None, _) => "N/A".into(),
                },
                "CreatedAt": created.map(output::docker_time).unwrap_or_default(),
                "CreatedBy": created_by,
                "Size": if a.human { output::human_size(r.size) } else { r.size.to_string() },
                "Comment": r.comment,
            })
        })
        .collect();
    let columns = [
        Column::new("ID", "IMAGE"),
        Column::new("CreatedSince", "CREATED"),
        Column::new("CreatedBy", "CREATED BY"),
        Column::new("Size", "SIZE"),
        Column::new("Comment", "COMMENT"),
    ];
    output::print(&values, a.format.as_deref(), &columns)?;
    Ok(0)
}

fn trunc_id(id: &str) -> String {
    match id.strip_prefix("sha256:") {
        Some(hex) => hex[..12.min(hex.len())].to_string(),
        None => id.to_string(),
    }
}

/// `berth inspect` / `berth image inspect`.
pub fn inspect(store: &ImageStore, a: &InspectArgs) -> Result<i32> {
    if let Some(t) = &a.typ {
        if t != "image" {
            bail!("unknown object type {t:?}: this version inspects images");
        }
    }
    let mut values = Vec::new();
    let mut status = 0;
    for name in &a.names {
        match store.resolve(name).and_then(|id| store.inspect(&id)) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    match &a.format {
        Some(f) => {
            for v in &values {
                println!("{}", output::render(f, v)?);
            }
        }
        None => println!("{}", output::inspect_json(values)),
    }
    Ok(status)
}

/// `berth image prune`.
pub fn prune(store: &ImageStore, a: &PruneArgs) -> Result<i32> {
    let filters = Filters::parse(&a.filter, &["until", "label"])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let until = filters.until(now)?.map(|(secs, _)| secs);
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        if !output::confirm(&format!(
            "WARNING! This will remove {what}.\nAre you sure you want to continue?"
        ))? {
            return Ok(0);
        }
    }
    let selected = |img: &berth_meta::ImageRecord| {
        let created = img
            .created
            .as_deref()
            .and_then(output::parse_rfc3339)
            .unwrap_or(img.added);
        until.is_none_or(|u| created < u) && filters.labels_match(&img.labels)
    };
    let report = store.prune_matching(a.all, &selected)?;
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        for r in &report.removed {
            println!(
                "{}",
                r.to_string()
                    .replacen("Untagged", "untagged", 1)
                    .replacen("Deleted", "deleted", 1)
            );
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        output::human_size(report.reclaimed)
    );
    Ok(0)
}

/// `berth image bootstrap`: the offline images.
pub fn bootstrap(store: &ImageStore, a: &BootstrapArgs) -> Result<i32> {
    let (busybox, hello) = match a.which.as_str() {
        "all" => (true, true),
        "busybox" => (true, false),
        "hello-world" | "hello" => (false, true),
        other => bail!("unknown built-in image {other:?} (busybox, hello-world or all)"),
    };
    if busybox {
        let id = store.bootstrap_busybox(&a.busybox)?;
        println!("busybox:latest {id}");
    }
    if hello {
        let id = store.bootstrap_hello()?;
        println!("hello-world:latest {id}");
    }
    Ok(0)
}
