//! `cp`, `diff`, `commit`, `export`: the engine's file operations with docker's argument shapes.

use super::engine;
use crate::cli::Cli;
use crate::cli_containers::{CommitArgs, CpArgs, ExportArgs, OneContainer};
use anyhow::{bail, Context, Result};
use berth_archive::{apply_layer, ApplyOptions, Whiteouts};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// `CONTAINER:PATH` -> (container, path); a host path (absolute, `./x`, or without `:`) -> None.
fn split_container(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

fn extract_opts() -> ApplyOptions {
    ApplyOptions {
        diff_id: false,
        ..ApplyOptions::with_whiteouts(Whiteouts::Delete)
    }
}

/// `berth cp`.
pub fn cp(cli: &Cli, a: &CpArgs) -> Result<i32> {
    let e = engine(cli)?;
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some((c, path)), None) if a.dest == "-" => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            e.copy_from(c, path, &mut out)?;
            out.flush()?;
        }
        (Some((c, path)), None) => {
            // Through a temp file, then a safe extraction next to (or into) the destination.
            let mut tmp = tempfile::tempfile().context("creating a temp file")?;
            let st = e.copy_from(c, path, &mut tmp)?;
            tmp.rewind()?;
            let dest = PathBuf::from(&a.dest);
            if dest.is_dir() {
                apply_layer(&mut tmp, &dest, &extract_opts())
                    .with_context(|| format!("copying into {}", dest.display()))?;
            } else {
                let parent = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    bail!("destination directory {} does not exist", parent.display());
                }
                let staging = tempfile::tempdir_in(parent).context("creating a staging dir")?;
                apply_layer(&mut tmp, staging.path(), &extract_opts())
                    .with_context(|| format!("copying to {}", dest.display()))?;
                let name = if path.ends_with("/.") {
                    "."
                } else {
                    st.name.as_str()
                };
                let from = staging.path().join(name);
                if name == "." {
                    std::fs::rename(staging.path(), &dest)
                        .with_context(|| format!("moving into {}", dest.display()))?;
                    std::mem::forget(staging);
                } else {
                    std::fs::rename(&from, &dest)
                        .with_context(|| format!("moving into {}", dest.display()))?;
                }
            }
        }
        (None, Some((c, path))) if a.src == "-" => {
            let stdin = std::io::stdin();
            e.copy_into(c, path, &mut stdin.lock())?;
        }
        (None, Some((c, path))) => {
            let src = PathBuf::from(&a.src);
            let md = std::fs::symlink_metadata(&src)
                .with_context(|| format!("lstat {}", src.display()))?;
            // Into an existing directory under the source's name, else as the destination's name.
            let (dir, name) = match e.stat_path(c, path) {
                Ok(st) if st.mode & (1 << 31) != 0 => (
                    path.to_string(),
                    src.file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_else(|| ".".into()),
                ),
                _ => {
                    let trimmed = path.trim_end_matches('/');
                    let (d, n) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
                    (
                        if d.is_empty() {
                            "/".to_string()
                        } else {
                            d.to_string()
                        },
                        n.to_string(),
                    )
                }
            };
            let mut tmp = tempfile::tempfile().context("creating a temp file")?;
            {
                let mut b = tar::Builder::new(&mut tmp);
                b.follow_symlinks(false);
                if md.is_dir() {
                    b.append_dir_all(&name, &src)?;
                } else {
                    b.append_path_with_name(&src, &name)?;
                }
                b.finish()?;
            }
            tmp.rewind()?;
            e.copy_into(c, &dir, &mut tmp)?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(0)
}

/// `berth diff`.
pub fn diff(cli: &Cli, a: &OneContainer) -> Result<i32> {
    let e = engine(cli)?;
    for c in e.diff(&a.container)? {
        let k = match c.kind {
            0 => 'C',
            1 => 'A',
            _ => 'D',
        };
        println!("{k} {}", c.path);
    }
    Ok(0)
}

/// `berth commit`.
pub fn commit(cli: &Cli, a: &CommitArgs) -> Result<i32> {
    let e = engine(cli)?;
    let opts = berth_image::CommitOptions {
        container_config: serde_json::Value::Null,
        changes: a.change.clone(),
        author: a.author.clone(),
        comment: a.message.clone(),
        created_by: String::new(),
        tag: a.reference.clone(),
    };
    let id = e.commit(&a.container, opts, a.pause)?;
    println!("{id}");
    Ok(0)
}

/// `berth export`.
pub fn export(cli: &Cli, a: &ExportArgs) -> Result<i32> {
    let e = engine(cli)?;
    match &a.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a temp file in {}", dir.display()))?;
            e.export(&a.container, tmp.as_file_mut())?;
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            e.export(&a.container, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}
