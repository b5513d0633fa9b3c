//! Parsing the everyday verbs without building the whole command tree.
//!
//! clap's derive builds every subcommand with all its flags before it looks at the arguments:
//! a thousand `Arg`s (`run` and `create` alone bring ~100 each, twice over with `container run`),
//! 2–3 ms of every `berth` command on this VM (a whole `berth ps` of 100 containers: 9 ms). Here the
//! verb is read from the arguments first and parsed against a tree holding only the global
//! options and that one verb, built from the same derived definitions. Anything that does not
//! parse cleanly (a usage error, `--help`, a verb not listed) goes to the full parser instead,
//! so errors and help read exactly as before; a clean parse is the same either way (the test
//! below compares the two).

use crate::cli::{Cli, Command, Globals};
use crate::cli_containers::{self as c, ContainerVerbs as V};
use crate::cli_registry::{self as r, RegistryVerbs as R};
use clap::{Args, FromArgMatches};
use std::ffi::OsString;

/// The verb's arguments parsed against a tree with just the globals and `verb`; `None` when
/// that does not give a clean result.
fn parse_verb<A: Args + FromArgMatches>(
    argv: &[OsString],
    verb: &'static str,
    wrap: fn(A) -> Command,
) -> Option<Cli> {
    let tree = Globals::augment_args(clap::Command::new("berth"))
        .disable_help_subcommand(true)
        .subcommand(A::augment_args(clap::Command::new(verb)));
    let matches = tree.try_get_matches_from(argv).ok()?;
    let globals = Globals::from_arg_matches(&matches).ok()?;
    let (name, sub) = matches.subcommand()?;
    if name != verb {
        return None;
    }
    let args = A::from_arg_matches(sub).ok()?;
    Some(Cli {
        globals,
        command: wrap(args),
    })
}

/// The first argument that is not a global option (nor its value): the verb. (The globals all
/// take a value: `--root DIR` or `--root=DIR`.)
fn verb_of(argv: &[OsString]) -> Option<&str> {
    let globals = Globals::augment_args(clap::Command::new("berth"));
    let is_global = |flag: &str| {
        globals.get_arguments().any(|a| {
            a.get_long()
                .is_some_and(|l| flag.strip_prefix("--") == Some(l))
        })
    };
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        let a = a.to_str()?;
        match a.split_once('=') {
            Some((flag, _)) if is_global(flag) => i += 1,
            None if is_global(a) => i += 2,
            _ if a.starts_with('-') => return None,
            _ => return Some(a),
        }
    }
    None
}

/// Parses `argv` for the verbs listed here; `None` sends the caller to the full parser.
pub fn try_parse(argv: &[OsString]) -> Option<Cli> {
    match verb_of(argv)? {
        "run" => parse_verb(argv, "run", |a| Command::Containers(V::Run(a))),
        "create" => parse_verb(argv, "create", |a| Command::Containers(V::Create(a))),
        "start" => parse_verb(argv, "start", |a| Command::Containers(V::Start(a))),
        "stop" => parse_verb(argv, "stop", |a| Command::Containers(V::Stop(a))),
        "kill" => parse_verb(argv, "kill", |a| Command::Containers(V::Kill(a))),
        "restart" => parse_verb(argv, "restart", |a| Command::Containers(V::Restart(a))),
        "pause" => parse_verb(argv, "pause", |a| Command::Containers(V::Pause(a))),
        "unpause" => parse_verb(argv, "unpause", |a| Command::Containers(V::Unpause(a))),
        "rm" => parse_verb(argv, "rm", |a| Command::Containers(V::Rm(a))),
        "ps" => parse_verb(argv, "ps", |a| Command::Containers(V::Ps(a))),
        "logs" => parse_verb(argv, "logs", |a| Command::Containers(V::Logs(a))),
        "exec" => parse_verb(argv, "exec", |a| Command::Containers(V::Exec(a))),
        "attach" => parse_verb(argv, "attach", |a| Command::Containers(V::Attach(a))),
        "wait" => parse_verb(argv, "wait", |a| Command::Containers(V::Wait(a))),
        "top" => parse_verb(argv, "top", |a| Command::Containers(V::Top(a))),
        "stats" => parse_verb(argv, "stats", |a| Command::Containers(V::Stats(a))),
        "port" => parse_verb(argv, "port", |a| Command::Containers(V::Port(a))),
        "rename" => parse_verb(argv, "rename", |a| Command::Containers(V::Rename(a))),
        "cp" => parse_verb(argv, "cp", |a| Command::Containers(V::Cp(a))),
        "diff" => parse_verb(argv, "diff", |a| Command::Containers(V::Diff(a))),
        "commit" => parse_verb(argv, "commit", |a| Command::Containers(V::Commit(a))),
        "export" => parse_verb(argv, "export", |a| Command::Containers(V::Export(a))),
        "info" => parse_verb::<c::InfoArgs>(argv, "info", |a| Command::Containers(V::Info(a))),
        "pull" => parse_verb::<r::PullArgs>(argv, "pull", |a| Command::Registry(R::Pull(a))),
        "push" => parse_verb::<r::PushArgs>(argv, "push", |a| Command::Registry(R::Push(a))),
        "images" => parse_verb(argv, "images", Command::Images),
        "inspect" => parse_verb(argv, "inspect", Command::Inspect),
        "tag" => parse_verb(argv, "tag", Command::Tag),
        "rmi" => parse_verb(argv, "rmi", Command::Rmi),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    /// Every verb of the table, with flags: the fast parse equals the full one.
    #[test]
    fn fast_parse_equals_full_parse() {
        let cases = [
            "berth run --rm --network none busybox true",
            "berth --root /r --runroot=/rr run -d -it -h box -m 12m --name x -e A=1 -v /a:/b busybox sh -c echo",
            "berth run busybox ls --help -l",
            "berth run --sig-proxy=false -p 8080:80 --restart on-failure:3 busybox",
            "berth create --name c --read-only --cap-drop ALL busybox",
            "berth start -a -i c",
            "berth stop -t 3 a b",
            "berth kill -s HUP a",
            "berth restart a",
            "berth pause a",
            "berth unpause a",
            "berth rm -f -v a b",
            "berth ps -a -q --no-trunc --filter status=exited --format {{.ID}}",
            "berth logs -f --tail 3 -t a",
            "berth exec -it -u 1 -w /tmp -e X=1 a sh -c true",
            "berth attach --detach-keys ctrl-x a",
            "berth wait a b",
            "berth top a -o pid",
            "berth stats --no-stream a",
            "berth port a 80/tcp",
            "berth rename a b",
            "berth cp a:/etc/hostname /tmp/h",
            "berth diff a",
            "berth commit -m msg -a me a img:1",
            "berth export -o /tmp/a.tar a",
            "berth info",
            "berth pull -q busybox",
            "berth push busybox",
            "berth images -a --digests",
            "berth inspect a b",
            "berth tag a b",
            "berth rmi -f a",
        ];
        for case in cases {
            let v = argv(case);
            let fast = try_parse(&v).unwrap_or_else(|| panic!("no fast parse for {case:?}"));
            let full = Cli::try_parse_from(&v).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{case}");
        }
    }

    /// Errors, help and verbs not in the table are left to the full parser.
    #[test]
    fn unclean_parses_fall_back() {
        for case in [
            "berth run",
            "berth run --help",
            "berth ps --bogus",
            "berth --version",
            "berth container ls",
            "berth system df",
            "berth",
            "berth --root",
        ] {
            assert!(try_parse(&argv(case)).is_none(), "{case}");
        }
    }
}
