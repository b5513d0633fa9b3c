//! berth-runc: runc's command line over berth-runtime, so containerd, Podman and dockerd can use it.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod default_spec;
mod log;

use clap::Parser;

fn main() {
    // Nothing in a container may reach this process's memory or /proc/<pid>/exe through ptrace-like
    // access while it works inside the container's namespaces (CVE-2019-5736 class); execve of the
    // container's program restores the flag for that program.
    let _ = nix::sys::prctl::set_dumpable(false);
    let cli = cli::Cli::parse();
    let logger = log::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug);
    match commands::dispatch(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.error(&error_chain(&e));
            std::process::exit(1);
        }
    }
}

/// The error and its causes, each cause shown only if the text so far does not already contain it
/// (library errors often repeat their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}
