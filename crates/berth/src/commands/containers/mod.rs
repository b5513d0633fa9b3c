//! The container verbs: run, create, ps, logs, exec, ... and volumes, `system prune`, `info`.
//!
//! Each submodule has one job: `options` turns flags into Docker's Config/HostConfig, `run` the
//! create/start/attach flows, `attach` + `terminal` the attached session, `lifecycle` the verbs
//! that change a container's state, `query` the ones that read it, `ps`/`status`/`show`/`logs`/
//! `info` docker's output shapes, `volume` the volume verbs, `names` docker-style names.

mod attach;
mod files;
mod info;
mod lifecycle;
mod logs;
#[allow(dead_code)] // The engine names containers itself; kept for `berth serve`'s callers.
mod names;
mod options;
mod ps;
mod query;
mod run;
mod show;
mod status;
mod terminal;
mod volume;

use crate::cli::{Cli, InspectArgs};
use crate::cli_containers::{ContainerCommand, ContainerVerbs, InfoArgs, SystemPruneArgs};
use anyhow::{Context, Result};
use berth_engine::{Engine, EngineOptions};

pub use options::OptionError;

/// Opens the engine over the command line's roots.
pub fn engine(cli: &Cli) -> Result<Engine> {
    let driver = berth_image::Driver::parse(&cli.globals.storage_driver)?;
    Engine::open(EngineOptions {
        root: cli.globals.root.clone(),
        runroot: cli.globals.runroot.clone(),
        driver,
    })
    .map(Engine::shims_stay_children)
    .with_context(|| {
        format!(
            "opening the container store in {}",
            cli.globals.root.display()
        )
    })
}

/// Runs a container verb; returns the exit status.
pub fn run(cli: &Cli, verb: &ContainerVerbs) -> Result<i32> {
    use ContainerCommand as C;
    use ContainerVerbs as V;
    match verb {
        V::Run(a) | V::Container(C::Run(a)) => exit_codes("run", || run::run(cli, a)),
        V::Create(a) | V::Container(C::Create(a)) => exit_codes("create", || run::create(cli, a)),
        V::Start(a) | V::Container(C::Start(a)) => run::start(cli, a),
        V::Attach(a) | V::Container(C::Attach(a)) => run::attach(cli, a),
        V::Stop(a) | V::Container(C::Stop(a)) => usage_125("stop", || lifecycle::stop(cli, a)),
        V::Kill(a) | V::Container(C::Kill(a)) => usage_125("kill", || lifecycle::kill(cli, a)),
        V::Restart(a) | V::Container(C::Restart(a)) => {
            usage_125("restart", || lifecycle::restart(cli, a))
        }
        V::Pause(a) | V::Container(C::Pause(a)) => lifecycle::pause(cli, a),
        V::Unpause(a) | V::Container(C::Unpause(a)) => lifecycle::unpause(cli, a),
        V::Rm(a) | V::Container(C::Rm(a)) => lifecycle::rm(cli, a),
        V::Wait(a) | V::Container(C::Wait(a)) => lifecycle::wait(cli, a),
        V::Rename(a) | V::Container(C::Rename(a)) => lifecycle::rename(cli, a),
        V::Container(C::Prune(a)) => lifecycle::prune(cli, a),
        V::Ps(a) | V::Container(C::Ls(a)) => query::ps(cli, a),
        V::Container(C::Inspect(a)) => query::container_inspect(cli, a),
        V::Logs(a) | V::Container(C::Logs(a)) => query::logs(cli, a),
        V::Exec(a) | V::Container(C::Exec(a)) => usage_125("exec", || query::exec(cli, a)),
        V::Top(a) | V::Container(C::Top(a)) => query::top(cli, a),
        V::Stats(a) | V::Container(C::Stats(a)) => query::stats(cli, a),
        V::Port(a) | V::Container(C::Port(a)) => query::port(cli, a),
        V::Cp(a) | V::Container(C::Cp(a)) => files::cp(cli, a),
        V::Diff(a) | V::Container(C::Diff(a)) => files::diff(cli, a),
        V::Commit(a) | V::Container(C::Commit(a)) => files::commit(cli, a),
        V::Export(a) | V::Container(C::Export(a)) => files::export(cli, a),
        V::Volume(c) => volume::run(cli, c, &|| {
            let e = engine(cli)?;
            Ok(e.volume_users()?)
        }),
        V::Info(a) => info(cli, a),
    }
}

/// `berth inspect`: containers first, then images, then volumes, as docker's `inspect` tries.
pub fn inspect(cli: &Cli, a: &InspectArgs) -> Result<i32> {
    query::inspect(cli, a)
}

/// `berth system prune`.
pub fn system_prune(cli: &Cli, a: &SystemPruneArgs) -> Result<i32> {
    query::system_prune(cli, a)
}

/// `berth info` / `berth system info`.
pub fn info(cli: &Cli, a: &InfoArgs) -> Result<i32> {
    query::info(cli, a)
}

/// `berth system check` for containers: reconciles run state a dead shim or a reboot left
/// untrue (with `repair`); prints what it found; true when nothing is left wrong.
pub fn check(cli: &Cli, repair: bool, quiet: bool) -> Result<bool> {
    let engine = engine(cli)?;
    let r = engine.check(repair)?;
    for f in &r.fixed {
        println!("repaired: {f}");
    }
    for p in &r.problems {
        println!("problem: {p}");
    }
    if !quiet {
        println!(
            "checked containers: {}",
            if r.problems.is_empty() && r.fixed.is_empty() {
                "consistent".to_string()
            } else {
                format!("{} fixed, {} problems", r.fixed.len(), r.problems.len())
            }
        );
    }
    Ok(r.problems.is_empty())
}

/// For `run`/`create`: every error is berth's own (docker's exit 125) unless it carries its own
/// code (126/127 when the command cannot run); printed here, flag errors with docker's hint.
fn exit_codes(verb: &str, f: impl FnOnce() -> Result<i32>) -> Result<i32> {
    match f() {
        Ok(code) => Ok(code),
        Err(e) => {
            if let Some(x) = e.downcast_ref::<run::ExitError>() {
                eprintln!("Error: {}", chain(&x.error));
                return Ok(x.code);
            }
            if e.downcast_ref::<OptionError>().is_some() {
                eprintln!("Error: {e}\nSee 'berth {verb} --help'.");
            } else {
                eprintln!("Error: {}", chain(&e));
            }
            Ok(125)
        }
    }
}

/// Flag errors (docker's parse-time errors) exit 125; other errors go up (exit 1).
fn usage_125(verb: &str, f: impl FnOnce() -> Result<i32>) -> Result<i32> {
    match f() {
        Err(e) if e.downcast_ref::<OptionError>().is_some() => {
            eprintln!("Error: {e}\nSee 'berth {verb} --help'.");
            Ok(125)
        }
        other => other,
    }
}

/// The error and its causes, joined like docker prints them.
fn chain(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}
