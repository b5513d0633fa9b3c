//! `berth`: the docker-compatible command line.
#![forbid(unsafe_code)]

mod cli;
mod cli_containers;
mod cli_fast;
mod cli_registry;
mod commands;
mod filters;
mod format;
mod output;
mod table;
mod units;

use clap::Parser;

fn main() {
    berth_sys::timing::mark("main");
    // `berth shim <id> ...`: the per-container monitor, dispatched before any parsing.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "shim") {
        let args: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(berth_shim::main_from_args(&args));
    }
    let parsed = match cli_fast::try_parse(&args) {
        Some(cli) => Ok(cli),
        None => cli::Cli::try_parse_from(&args),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 125, as docker's CLI does; --help and --version exit 0.
            std::process::exit(if e.use_stderr() { 125 } else { 0 });
        }
    };
    berth_sys::timing::mark("parsed");
    let code = match commands::run(cli) {
        Ok(code) => code,
        // A reader that went away (`berth images | head -1`) is not an error worth printing:
        // exit as a process killed by SIGPIPE would, quietly.
        Err(e) if broken_pipe(&e) => 141,
        Err(e) => {
            eprintln!("Error: {}", chain(&e));
            1
        }
    };
    berth_sys::timing::mark("exit");
    std::process::exit(code);
}

/// Whether `e` comes from writing to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
