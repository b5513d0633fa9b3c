//! The registry verbs: pull, push, login, logout, search, and `registry serve`.

use crate::cli::Cli;
use crate::cli_registry::{
    GcArgs, LoginArgs, PullArgs, PushArgs, RegistryCommand, RegistryVerbs, SearchArgs, ServeArgs,
};
use anyhow::{bail, Context, Result};
use berth_distribution::{PullOptions, PushOptions, Settings};
use std::io::{BufRead, IsTerminal, Write};

/// Runs a registry verb; returns the exit status.
pub fn run(cli: &Cli, verb: &RegistryVerbs) -> Result<i32> {
    match verb {
        RegistryVerbs::Pull(a) => pull(cli, a),
        RegistryVerbs::Push(a) => push(cli, a),
        RegistryVerbs::Login(a) => login(a),
        RegistryVerbs::Logout(a) => {
            let msg = berth_distribution::logout(&Settings::load()?, a.server.as_deref())?;
            println!("{msg}");
            Ok(0)
        }
        RegistryVerbs::Search(a) => search(a),
        RegistryVerbs::Registry(RegistryCommand::Serve(a)) => serve(cli, a),
        RegistryVerbs::Registry(RegistryCommand::Gc(a)) => gc(cli, a),
    }
}

/// `berth pull` and `berth image pull`.
pub(super) fn pull(cli: &Cli, a: &PullArgs) -> Result<i32> {
    let store = super::open_store(cli)?;
    let settings = Settings::load()?;
    let platform = a
        .platform
        .as_deref()
        .map(berth_oci::Platform::parse)
        .transpose()
        .context("--platform")?;
    let opts = PullOptions {
        platform,
        all_tags: a.all_tags,
        quiet: a.quiet,
        ..PullOptions::default()
    };
    let tty = std::io::stdout().is_terminal();
    let result = berth_distribution::pull(
        &store,
        &settings,
        &a.name,
        &opts,
        Box::new(std::io::stdout()),
        tty,
    );
    super::system::sync_in_background(cli);
    result?;
    Ok(0)
}

/// `berth push` and `berth image push`.
pub(super) fn push(cli: &Cli, a: &PushArgs) -> Result<i32> {
    let store = super::open_store(cli)?;
    let settings = Settings::load()?;
    let opts = PushOptions {
        quiet: a.quiet,
        ..PushOptions::default()
    };
    let tty = std::io::stdout().is_terminal();
    let names: Vec<String> = if a.all_tags {
        let r = berth_oci::Reference::parse(&a.name)?;
        let mut tags: Vec<String> = store
            .meta()
            .tags()?
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| berth_oci::Reference::parse(t).is_ok_and(|x| x.name() == r.name()))
            .collect();
        tags.sort();
        if tags.is_empty() {
            bail!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            );
        }
        tags
    } else {
        vec![a.name.clone()]
    };
    for n in names {
        berth_distribution::push(
            &store,
            &settings,
            &n,
            &opts,
            Box::new(std::io::stdout()),
            tty,
        )?;
    }
    Ok(0)
}

fn prompt(label: &str, hide: bool) -> Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let hidden = hide && stdin.is_terminal();
    let saved = if hidden {
        let t = nix::sys::termios::tcgetattr(&stdin)?;
        let mut quiet = t.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)?;
        Some(t)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn login(a: &LoginArgs) -> Result<i32> {
    let settings = Settings::load()?;
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if a.password_stdin => bail!("Must provide --username with --password-stdin"),
        None => prompt("Username: ", false)?,
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().lock().read_line(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt("Password: ", true)?
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    let msg = berth_distribution::login(&settings, a.server.as_deref(), &username, &password)?;
    println!("{msg}");
    Ok(0)
}

fn search(a: &SearchArgs) -> Result<i32> {
    let settings = Settings::load()?;
    let results = berth_distribution::search(&settings, &a.term, a.limit)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<35}{:<50}{:<8}OFFICIAL",
        "NAME", "DESCRIPTION", "STARS"
    )?;
    for r in results {
        let mut desc = r.description.replace('\n', " ");
        if !a.no_trunc && desc.chars().count() > 45 {
            desc = desc.chars().take(44).collect::<String>() + "…";
        }
        writeln!(
            out,
            "{:<35}{:<50}{:<8}{}",
            r.name,
            desc,
            r.star_count,
            if r.is_official { "[OK]" } else { "" }
        )?;
    }
    Ok(0)
}

/// The registry's default storage root (the global `--root` default is the image store's).
const REGISTRY_ROOT: &str = "/var/lib/berth-registry";

/// The registry's storage root: the global `--root` when given, else [`REGISTRY_ROOT`].
fn registry_root(cli: &Cli) -> std::path::PathBuf {
    if cli.globals.root == std::path::Path::new("/var/lib/berth") {
        std::path::PathBuf::from(REGISTRY_ROOT)
    } else {
        cli.globals.root.clone()
    }
}

/// `berth registry gc`: docker-registry's `garbage-collect`, but safe while the server runs.
fn gc(cli: &Cli, a: &GcArgs) -> Result<i32> {
    let root = registry_root(cli);
    if !root.join("repositories").is_dir() {
        bail!("{}: not a registry storage root", root.display());
    }
    let report = berth_registry::gc_with(
        &root,
        &berth_registry::GcOptions {
            grace: std::time::Duration::from_secs(a.grace),
            dry_run: a.dry_run,
            ..Default::default()
        },
    )
    .with_context(|| format!("garbage collection of {}", root.display()))?;
    let mut out = std::io::stdout().lock();
    let verb = if a.dry_run {
        "blob eligible for deletion"
    } else {
        "deleted blob"
    };
    for d in &report.deleted {
        writeln!(out, "{verb}: {d}")?;
    }
    writeln!(
        out,
        "{} blobs {}, {} bytes {}, {} kept, {} stale upload sessions {}",
        report.blobs_deleted,
        if a.dry_run { "eligible" } else { "deleted" },
        report.bytes_freed,
        if a.dry_run { "to free" } else { "freed" },
        report.blobs_kept,
        report.uploads_removed,
        if a.dry_run { "to remove" } else { "removed" },
    )?;
    Ok(0)
}

fn serve(cli: &Cli, a: &ServeArgs) -> Result<i32> {
    let root = registry_root(cli);
    berth_registry::serve(berth_registry::ServeOptions {
        addr: a.addr.clone(),
        root,
        htpasswd: a.htpasswd.clone(),
        tls_cert: a.tls_cert.clone(),
        tls_key: a.tls_key.clone(),
        gc_interval: a.gc_interval.map(std::time::Duration::from_secs),
    })?;
    Ok(0)
}
