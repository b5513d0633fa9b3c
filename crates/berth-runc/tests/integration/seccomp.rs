//! linux.seccomp: mode 2, denied syscalls, errnoRet, argument conditions, architectures.

use crate::common::*;
use crate::require_root;
use serde_json::json;

fn seccomp_bundle(name: &str, syscalls: serde_json::Value) -> Bundle {
    let mut b = Bundle::new(name);
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    });
    b
}

/// Runs `/probe syscall NAME [ARG]` and returns its JSON.
fn try_syscall(b: &mut Bundle, name: &str, arg: Option<&str>) -> serde_json::Value {
    let mut args = vec!["/probe", "syscall", name];
    args.extend(arg);
    b.args(&args);
    let out = b.run();
    out.json()
}

#[test]
fn seccomp_mode_2_and_denied_syscall_gets_eperm() {
    require_root!();
    let mut b = seccomp_bundle(
        "seccomp",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]),
    );
    let r = b.probe();
    assert_eq!(r["seccomp"], 2, "Seccomp mode");
    assert!(
        r["seccomp_filters"].as_i64().unwrap_or(0) >= 1,
        "Seccomp_filters: {}",
        r["seccomp_filters"]
    );
    let denied = try_syscall(&mut b, "mkdir", None);
    assert_eq!(
        denied["error"], "EPERM",
        "mkdir under SCMP_ACT_ERRNO without errnoRet: {denied}"
    );
    let allowed = try_syscall(&mut b, "getcwd", None);
    assert_eq!(allowed["ok"], true, "getcwd is not filtered: {allowed}");
}

#[test]
fn seccomp_errno_ret_is_honoured() {
    require_root!();
    let mut b = seccomp_bundle(
        "seccompret",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]),
    );
    let r = try_syscall(&mut b, "mkdir", None);
    assert_eq!(r["errno"], 95, "errnoRet 95 (EOPNOTSUPP): {r}");
}

#[test]
fn seccomp_argument_condition() {
    require_root!();
    // Deny socket(AF_INET, ...) only; AF_UNIX sockets still work.
    let mut b = seccomp_bundle(
        "seccompargs",
        json!([{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]),
    );
    let inet = try_syscall(&mut b, "socket", Some("inet"));
    assert_eq!(inet["error"], "EPERM", "socket(AF_INET) denied: {inet}");
    let unix = try_syscall(&mut b, "socket", Some("unix"));
    assert_eq!(unix["ok"], true, "socket(AF_UNIX) allowed: {unix}");
}

#[test]
fn seccomp_default_errno_with_allow_list() {
    require_root!();
    // Everything the probe and the runtime's last steps need is allowed; uname is not.
    let mut b = Bundle::new("seccompdeny");
    let mut allow: Vec<&str> = vec![
        "read",
        "write",
        "close",
        "fstat",
        "newfstatat",
        "statx",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "pread64",
        "readv",
        "writev",
        "access",
        "pipe",
        "pipe2",
        "sched_yield",
        "madvise",
        "dup",
        "dup2",
        "dup3",
        "nanosleep",
        "clock_nanosleep",
        "getpid",
        "exit",
        "exit_group",
        "fcntl",
        "getcwd",
        "chdir",
        "fchdir",
        "readlink",
        "readlinkat",
        "getuid",
        "getgid",
        "geteuid",
        "getegid",
        "getppid",
        "getgroups",
        "getresuid",
        "getresgid",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getrlimit",
        "getrandom",
        "open",
        "openat",
        "openat2",
        "getdents64",
        "futex",
        "sigaltstack",
        "execve",
        "execveat",
        "capget",
        "capset",
        "prctl",
        "setgroups",
        "setuid",
        "setgid",
        "setresuid",
        "setresgid",
        "umask",
        "poll",
        "ppoll",
        "epoll_wait",
        "epoll_pwait",
        "sched_getaffinity",
        "gettid",
        "tgkill",
        "clone",
        "clone3",
        "wait4",
        "mremap",
        "seccomp",
        "setsid",
        "fchown",
        "fsync",
        "close_range",
        "faccessat",
        "faccessat2",
        "stat",
        "lstat",
        "socket",
        "connect",
        "sendmsg",
        "recvmsg",
        "sendto",
        "recvfrom",
        "getsockopt",
        "setsockopt",
        "fstatfs",
        "statfs",
        "epoll_create1",
        "epoll_ctl",
        "epoll_pwait2",
        "eventfd2",
        "getpgrp",
        "tkill",
        "mincore",
        "sched_setaffinity",
        "sigreturn",
        "kill",
        "getdents",
        "mlock",
    ];
    allow.sort();
    allow.dedup();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    });
    let r = try_syscall(&mut b, "uname", None);
    assert_eq!(
        r["errno"], 38,
        "uname is not on the allow list, defaultErrnoRet 38: {r}"
    );
}

#[test]
fn seccomp_kill_action_kills() {
    require_root!();
    let mut b = seccomp_bundle(
        "seccompkill",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]),
    );
    b.config["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]);
    b.args(&["/probe", "syscall", "mkdir"]);
    let out = b.run();
    assert_eq!(out.code(), 128 + 31, "SIGSYS kills the process: {out}");
}

#[test]
fn seccomp_log_default_and_flags() {
    require_root!();
    if runtime_is_runc_1_1() {
        crate::skip!("runc 1.1 refuses seccomp flags");
    }
    // Log-only default with the LOG flag: everything still works, the filter is installed.
    let mut b = Bundle::new("seccomplog");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_LOG",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]
    });
    let r = b.probe();
    assert_eq!(r["seccomp"], 2, "filter installed");
    let ok = try_syscall(&mut b, "mkdir", Some("/tmp/x"));
    assert!(
        ok["ok"] == true || ok["error"] == "EROFS",
        "SCMP_ACT_LOG does not deny: {ok}"
    );
}

#[test]
fn seccomp_kill_process_and_masked_eq() {
    require_root!();
    // unshare(CLONE_NEWUTS) only (flags & CLONE_NEWUTS == CLONE_NEWUTS) kills the process.
    let mut b = seccomp_bundle(
        "seccompmasked",
        json!([{"names": ["unshare"], "action": "SCMP_ACT_KILL_PROCESS",
                "args": [{"index": 0, "value": 0x0400_0000u64, "valueTwo": 0x0400_0000u64, "op": "SCMP_CMP_MASKED_EQ"}]}]),
    );
    b.config["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]);
    b.args(&["/probe", "syscall", "unshare", "uts"]);
    let out = b.run();
    assert_eq!(
        out.code(),
        128 + 31,
        "SIGSYS kills the whole process: {out}"
    );
    // unshare(CLONE_NEWIPC) does not match the mask: it reaches the kernel (EPERM without
    // CAP_SYS_ADMIN, but not a kill).
    let r = try_syscall(&mut b, "unshare", Some("ipc"));
    assert_eq!(r["error"], "EPERM", "{r}");
}
