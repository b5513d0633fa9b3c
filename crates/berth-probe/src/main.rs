//! berth-probe: run inside a test container, it reports what the container looks like from inside.
//!
//! Without arguments (or with `report`) it prints ONE JSON object: ids, groups, capability sets,
//! no_new_privs, seccomp mode, hostname/domainname, cwd, umask, every rlimit, open fds, namespaces,
//! mounts, env, oom_score_adj, cgroup membership and the cgroup limits it can see.
//!
//! Subcommands try one thing and print one JSON object (`{"op","arg","ok",...,"errno","error"}`),
//! exit 0 on success and 1 when refused:
//! `write PATH [DATA]`, `fill PATH KIB`, `read PATH`, `open PATH r|w|rw`, `stat PATH`, `ls DIR`,
//! `syscall NAME [ARG]` (getcwd getpid uname mkdir chdir chmod unshare sethostname socket kill
//! setuid mknod chown), `alloc MB`, `spawn N`,
//! `hold-exe PID SECS` and `watch-exe SECS` (CVE-2019-5736: can a runtime's /proc/PID/exe be
//! reopened for writing?). Others: `sleep SECS`, `exit CODE`, `fds`, `ns`,
//! `echo WORDS...` (prints the words to stdout and stderr).
#![forbid(unsafe_code)]

mod cmds;
mod json;
mod report;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: berth-probe [report | write PATH [DATA] | fill PATH KIB | read PATH | open PATH r|w|rw | stat PATH | \
         ls DIR | syscall NAME [ARG] | alloc MB | spawn N | hold-exe PID SECS | watch-exe SECS | sleep SECS | exit CODE | fds | ns | echo ...]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        [] | ["report"] => {
            cmds::print_line(&report::report());
            ExitCode::SUCCESS
        }
        ["fds"] => {
            cmds::print_line(&json::Json::obj().with("fds", report::fds()));
            ExitCode::SUCCESS
        }
        ["ns"] => {
            cmds::print_line(&json::Json::obj().with("namespaces", report::namespaces()));
            ExitCode::SUCCESS
        }
        ["write", path] => cmds::outcome("write", path, cmds::write(path, "probe")),
        ["write", path, data] => cmds::outcome("write", path, cmds::write(path, data)),
        ["fill", path, kib] => match kib.parse::<usize>() {
            Ok(k) => cmds::outcome("fill", path, cmds::fill(path, k)),
            Err(_) => usage(),
        },
        ["read", path] => cmds::outcome("read", path, cmds::read(path)),
        ["open", path, mode] => cmds::outcome("open", path, cmds::open(path, mode)),
        ["stat", path] => cmds::outcome("stat", path, cmds::stat(path)),
        ["ls", path] => cmds::outcome("ls", path, cmds::ls(path)),
        ["syscall", name] => cmds::outcome("syscall", name, cmds::syscall(name, None)),
        ["syscall", name, arg] => cmds::outcome("syscall", name, cmds::syscall(name, Some(arg))),
        ["alloc", mb] => match mb.parse() {
            Ok(n) => cmds::outcome("alloc", mb, cmds::alloc(n)),
            Err(_) => usage(),
        },
        ["spawn", n] => match n.parse::<usize>() {
            Ok(n) => cmds::outcome("spawn", &n.to_string(), cmds::spawn(n)),
            Err(_) => usage(),
        },
        ["hold-exe", pid, secs] => match secs.parse::<f64>() {
            Ok(s) if s >= 0.0 => cmds::outcome("hold-exe", pid, cmds::hold_exe(pid, s)),
            _ => usage(),
        },
        ["watch-exe", secs] => match secs.parse::<f64>() {
            Ok(s) if s >= 0.0 => cmds::outcome("watch-exe", secs, cmds::watch_exe(s)),
            _ => usage(),
        },
        ["sleep", secs] => match secs.parse::<f64>() {
            Ok(s) if s >= 0.0 => {
                std::thread::sleep(std::time::Duration::from_secs_f64(s));
                ExitCode::SUCCESS
            }
            _ => usage(),
        },
        ["exit", code] => match code.parse::<u8>() {
            Ok(c) => ExitCode::from(c),
            Err(_) => usage(),
        },
        ["echo", words @ ..] => {
            let line = words.join(" ");
            println!("{line}");
            eprintln!("{line}");
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
