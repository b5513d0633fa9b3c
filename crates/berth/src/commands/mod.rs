//! Runs a parsed command line.

mod containers;
pub(crate) mod images;
mod mount;
mod registry;
mod system;

use crate::cli::{Cli, Command, ImageCommand, SystemCommand};
use anyhow::{Context, Result};
use berth_image::{Driver, ImageStore};

/// Runs `cli`; returns the exit status.
pub fn run(cli: Cli) -> Result<i32> {
    let store = || open_store(&cli);
    match &cli.command {
        Command::Containers(v) => containers::run(&cli, v),
        Command::Registry(v) => registry::run(&cli, v),
        Command::Image(ImageCommand::Pull(a)) => registry::pull(&cli, a),
        Command::Image(ImageCommand::Push(a)) => registry::push(&cli, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&store()?, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&store()?, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&store()?, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => images::save(&store()?, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => {
            let code = images::load(&store()?, a)?;
            system::sync_in_background(&cli);
            Ok(code)
        }
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            images::import(&store()?, a)
        }
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            images::history(&store()?, a)
        }
        Command::Inspect(a) => containers::inspect(&cli, a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&store()?, a),
        Command::Image(ImageCommand::Prune(a)) => images::prune(&store()?, a),
        Command::Image(ImageCommand::Bootstrap(a)) => images::bootstrap(&store()?, a),
        Command::Image(ImageCommand::Mount(a)) => {
            mount::mount_image(&store()?, &cli.globals.runroot, a)
        }
        Command::Image(ImageCommand::Unmount(a)) => {
            mount::unmount_image(&store()?, &cli.globals.runroot, a)
        }
        Command::System(SystemCommand::Df(a)) => system::df(&store()?, a),
        Command::System(SystemCommand::Check(a)) => {
            // Containers first (reconcile run state), then the image store.
            let containers_ok = containers::check(&cli, a.repair, a.quiet)?;
            let code = system::check(&store()?, a)?;
            Ok(if containers_ok { code } else { 1 })
        }
        Command::System(SystemCommand::Sync) => system::sync(&store()?),
        Command::System(SystemCommand::Prune(a)) => containers::system_prune(&cli, a),
        Command::System(SystemCommand::Info(a)) => containers::info(&cli, a),
        Command::Version => system::version(),
    }
}

pub(crate) fn open_store(cli: &Cli) -> Result<ImageStore> {
    let driver = Driver::parse(&cli.globals.storage_driver)?;
    ImageStore::open_with(&cli.globals.root, driver)
        .with_context(|| format!("opening the image store at {}", cli.globals.root.display()))
}
