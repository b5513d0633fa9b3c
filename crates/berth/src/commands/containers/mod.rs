//! The container verbs: run, create, ps, logs, exec, ... and volumes, `system prune`, `info`.
//!
//! Each submodule has one job: `options` turns flags into Docker's Config/HostConfig, `names`
//! makes random names, `status` and `ps` the listing, the others one verb family each.

#[allow(dead_code)]
mod attach;
#[allow(dead_code)]
mod info;
#[allow(dead_code)]
mod logs;
#[allow(dead_code)] // Used once the engine takes a name from the CLI.
mod names;
mod options;
#[allow(dead_code)] // Wired to the engine as it lands.
mod ps;
#[allow(dead_code)]
mod show;
#[allow(dead_code)]
mod status;
#[allow(dead_code)]
mod terminal;
mod volume;

use crate::cli::{Cli, InspectArgs};
use crate::cli_containers::{ContainerCommand, ContainerVerbs, InfoArgs, SystemPruneArgs};
use anyhow::{bail, Result};

pub use options::OptionError;

/// Runs a container verb; returns the exit status.
pub fn run(cli: &Cli, verb: &ContainerVerbs) -> Result<i32> {
    use ContainerCommand as C;
    use ContainerVerbs as V;
    match verb {
        V::Run(a) | V::Container(C::Run(a)) => usage_errors_exit_125("run", || {
            let mode = if a.detach {
                options::Mode::RunDetached
            } else {
                options::Mode::RunForeground
            };
            let req = options::build(&a.opts, mode)?;
            let _types = options::to_types(&req, &a.opts)?;
            pending("run")
        }),
        V::Create(a) | V::Container(C::Create(a)) => usage_errors_exit_125("create", || {
            let req = options::build(&a.opts, options::Mode::Create)?;
            let _types = options::to_types(&req, &a.opts)?;
            pending("create")
        }),
        V::Start(_) | V::Container(C::Start(_)) => pending("start"),
        V::Stop(_) | V::Container(C::Stop(_)) => pending("stop"),
        V::Kill(_) | V::Container(C::Kill(_)) => pending("kill"),
        V::Restart(_) | V::Container(C::Restart(_)) => pending("restart"),
        V::Pause(_) | V::Container(C::Pause(_)) => pending("pause"),
        V::Unpause(_) | V::Container(C::Unpause(_)) => pending("unpause"),
        V::Rm(_) | V::Container(C::Rm(_)) => pending("rm"),
        V::Ps(_) | V::Container(C::Ls(_)) => pending("ps"),
        V::Logs(_) | V::Container(C::Logs(_)) => pending("logs"),
        V::Exec(_) | V::Container(C::Exec(_)) => pending("exec"),
        V::Attach(_) | V::Container(C::Attach(_)) => pending("attach"),
        V::Wait(_) | V::Container(C::Wait(_)) => pending("wait"),
        V::Container(C::Inspect(_)) => pending("container inspect"),
        V::Top(_) | V::Container(C::Top(_)) => pending("top"),
        V::Stats(_) | V::Container(C::Stats(_)) => pending("stats"),
        V::Port(_) | V::Container(C::Port(_)) => pending("port"),
        V::Rename(_) | V::Container(C::Rename(_)) => pending("rename"),
        V::Cp(_) | V::Container(C::Cp(_)) => pending("cp"),
        V::Diff(_) | V::Container(C::Diff(_)) => pending("diff"),
        V::Commit(_) | V::Container(C::Commit(_)) => pending("commit"),
        V::Export(_) | V::Container(C::Export(_)) => pending("export"),
        V::Container(C::Prune(_)) => pending("container prune"),
        V::Volume(c) => volume::run(cli, c, &|| volume_users(cli)),
        V::Info(a) => info(cli, a),
    }
}

/// `berth inspect`: containers first, then images, as docker's `inspect` tries both.
pub fn inspect(cli: &Cli, a: &InspectArgs) -> Result<i32> {
    let _ = cli;
    match a.typ.as_deref() {
        None | Some("image") => {
            let store = super::open_store(cli)?;
            super::images::inspect(&store, a)
        }
        Some("container") | Some("volume") => pending("inspect"),
        Some(t) => bail!("\"{t}\" is not a valid value for --type"),
    }
}

/// `berth system prune`.
pub fn system_prune(_cli: &Cli, _a: &SystemPruneArgs) -> Result<i32> {
    pending("system prune")
}

/// `berth info` / `berth system info`.
pub fn info(_cli: &Cli, _a: &InfoArgs) -> Result<i32> {
    pending("info")
}

/// Which containers use each volume. No container exists before the engine's create lands.
fn volume_users(_cli: &Cli) -> Result<volume::Users> {
    Ok(volume::Users::new())
}

fn pending(verb: &str) -> Result<i32> {
    bail!("berth {verb}: not available in this build yet")
}

/// Runs `f`; any error is berth's own (docker's `run`/`create` exit 125), printed here with
/// docker's usage hint for flag errors.
fn usage_errors_exit_125(verb: &str, f: impl FnOnce() -> Result<i32>) -> Result<i32> {
    match f() {
        Ok(code) => Ok(code),
        Err(e) => {
            if e.downcast_ref::<OptionError>().is_some() {
                eprintln!("Error: {e}\nSee 'berth {verb} --help'.");
            } else {
                eprintln!("Error: {}", chain(&e));
            }
            Ok(125)
        }
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
