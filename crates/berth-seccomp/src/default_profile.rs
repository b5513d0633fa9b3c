//! The default seccomp profile: equal in effect to Docker's default.
//!
//! Everything not listed fails with `EPERM`. Allowed: the ordinary system calls grouped below,
//! a few `personality` personas, `socket` for every family but `AF_VSOCK`, and `clone` without
//! namespace flags. Calls that need a capability are allowed only when the container holds it
//! (e.g. `mount`, `unshare`, `setns` and namespace-creating `clone` with `CAP_SYS_ADMIN`);
//! without `CAP_SYS_ADMIN`, `clone3` fails with `ENOSYS` so that libc falls back to `clone`, whose
//! flags the filter can inspect.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// Files, directories, descriptors and data transfer between them.
const FILES: &[&str] = &[
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "flock",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "lchown",
    "lchown32",
    "link",
    "linkat",
    "_llseek",
    "lseek",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
];

/// Extended attributes.
const XATTRS: &[&str] = &[
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lsetxattr",
    "removexattr",
    "setxattr",
];

/// Waiting for events: poll/select/epoll, eventfd, signalfd, timerfd, inotify, pipes.
const EVENTS: &[&str] = &[
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "fanotify_mark",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "_newselect",
    "pause",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
];

/// Asynchronous I/O, io_uring, ioctl and I/O priorities.
const ASYNC_IO: &[&str] = &[
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
];

/// Address space management.
const MEMORY: &[&str] = &[
    "brk",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
];

/// The process itself and its children: life cycle, limits, self-restriction.
const PROCESS: &[&str] = &[
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "restart_syscall",
    "rseq",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setpgid",
    "setpriority",
    "setrlimit",
    "setsid",
    "sysinfo",
    "tgkill",
    "tkill",
    "ugetrlimit",
    "uname",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
];

/// User and group ids.
const IDS: &[&str] = &[
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getuid",
    "getuid32",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setuid",
    "setuid32",
];

/// Signals.
const SIGNALS: &[&str] = &[
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
];

/// Scheduling and futexes.
const SCHEDULING: &[&str] = &[
    "futex",
    "futex_time64",
    "futex_waitv",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
];

/// Reading clocks, sleeping, timers. (`adjtimex` and `clock_adjtime` only read without
/// CAP_SYS_TIME.)
const TIME: &[&str] = &[
    "adjtimex",
    "alarm",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "times",
];

/// Sockets (`socket` itself has its own rule: no AF_VSOCK).
const NETWORK: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
];

/// System V IPC and POSIX message queues (both namespaced by the IPC namespace).
const IPC: &[&str] = &[
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
];

/// Every group allowed unconditionally.
const ALWAYS_ALLOWED: &[&[&str]] = &[
    FILES, XATTRS, EVENTS, ASYNC_IO, MEMORY, PROCESS, IDS, SIGNALS, SCHEDULING, TIME, NETWORK, IPC,
];

/// Cross-process memory access and tracing: safe from seccomp bypass since Linux 4.8.
const TRACING: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// Allowed when the container holds the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// `personality(2)` values a container may set: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and 0xffffffff (query only).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// `socket(2)` family refused without exception: AF_VSOCK.
const AF_VSOCK: u64 = 40;

/// The clone flags that create namespaces.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// System calls that exist only on some architectures, allowed there.
fn arch_specific() -> &'static [&'static str] {
    if cfg!(target_arch = "x86_64") {
        &["arch_prctl", "modify_ldt"]
    } else if cfg!(target_arch = "x86") {
        &["modify_ldt"]
    } else if cfg!(any(target_arch = "arm", target_arch = "aarch64")) {
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ]
    } else if cfg!(target_arch = "powerpc64") {
        &["swapcontext", "sync_file_range2"]
    } else if cfg!(target_arch = "s390x") {
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ]
    } else if cfg!(target_arch = "riscv64") {
        &["riscv_flush_icache"]
    } else {
        &[]
    }
}

/// The architectures a filter covers on this machine: the native one and those whose binaries
/// it can run.
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else if cfg!(target_arch = "s390x") {
        vec![Arch::ScmpArchS390x, Arch::ScmpArchS390]
    } else if cfg!(target_arch = "riscv64") {
        vec![Arch::ScmpArchRiscv64]
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        vec![Arch::ScmpArchPpc64le]
    } else if cfg!(target_arch = "mips64") {
        vec![
            Arch::ScmpArchMips64,
            Arch::ScmpArchMips,
            Arch::ScmpArchMips64n32,
        ]
    } else {
        Vec::new()
    }
}

/// True when the running kernel is at least `major.minor` (unknown counts as new enough).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return true;
    };
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

fn has_cap(capabilities: &[String], wanted: &str) -> bool {
    let bare = wanted.trim_start_matches("CAP_");
    capabilities.iter().any(|c| {
        let c = c.trim();
        c.eq_ignore_ascii_case(wanted) || c.eq_ignore_ascii_case(bare)
    })
}

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|n| n.to_string()).collect());
    r.set_action(action);
    r
}

fn arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(two) = value_two {
        b = b.value_two(two);
    }
    b.build().expect("every field of a seccomp argument is set")
}

fn allow(names: &[&str]) -> LinuxSyscall {
    rule(names, LinuxSeccompAction::ScmpActAllow)
}

fn allow_if(name: &str, cond: LinuxSeccompArg) -> LinuxSyscall {
    let mut r = allow(&[name]);
    r.set_args(Some(vec![cond]));
    r
}

/// The default profile for a container holding `capabilities` (names like `CAP_SYS_ADMIN`; the
/// `CAP_` prefix and case do not matter). Docker evaluates it against the bounding set.
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    let mut rules = Vec::new();
    let always: Vec<&str> = ALWAYS_ALLOWED
        .iter()
        .flat_map(|g| g.iter().copied())
        .collect();
    rules.push(allow(&always));
    if kernel_at_least(4, 8) {
        rules.push(allow(TRACING));
    }
    rules.push(allow_if(
        "socket",
        arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK, None),
    ));
    for persona in PERSONAS {
        rules.push(allow_if(
            "personality",
            arg(0, LinuxSeccompOperator::ScmpCmpEq, *persona, None),
        ));
    }
    let specific = arch_specific();
    if !specific.is_empty() {
        rules.push(allow(specific));
    }
    for (cap, names) in BY_CAPABILITY {
        if has_cap(capabilities, cap) {
            rules.push(allow(names));
        }
    }
    if !has_cap(capabilities, "CAP_SYS_ADMIN") {
        // s390 passes the clone flags as the second argument.
        let flags_arg = if cfg!(target_arch = "s390x") { 1 } else { 0 };
        rules.push(allow_if(
            "clone",
            arg(
                flags_arg,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
                NAMESPACE_FLAGS,
                Some(0),
            ),
        ));
        // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc fall
        // back to clone.
        let mut clone3 = rule(&["clone3"], LinuxSeccompAction::ScmpActErrno);
        clone3.set_errno_ret(Some(libc::ENOSYS as u32));
        rules.push(clone3);
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(libc::EPERM as u32));
    let arches = architectures();
    profile.set_architectures((!arches.is_empty()).then_some(arches));
    profile.set_syscalls(Some(rules));
    profile
}

/// The default profile with Docker's default capability set, serialised as OCI JSON.
pub fn default_profile_json() -> String {
    let caps: Vec<String> = DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    serde_json::to_string_pretty(&default_profile(&caps)).expect("a profile always serialises")
}

/// Docker's default capability set, which [`default_profile_json`] assumes.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    fn rules_for<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn denies_with_eperm_by_default() {
        let p = default_profile(&[]);
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                p.architectures().as_deref(),
                Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
            );
        }
    }

    #[test]
    fn no_name_twice_in_the_base_list() {
        let mut seen = BTreeSet::new();
        for name in ALWAYS_ALLOWED.iter().flat_map(|g| g.iter()) {
            assert!(seen.insert(*name), "{name} listed twice");
        }
        assert_eq!(
            seen.len(),
            349,
            "Docker's base allow list has 349 names (+ socket)"
        );
    }

    #[test]
    fn clone_is_restricted_without_cap_sys_admin() {
        let p = default_profile(&caps(DOCKER_DEFAULT_CAPS));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().as_ref().expect("clone has a condition");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value_two(), Some(0));
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        for name in ["unshare", "setns", "mount", "umount2", "bpf", "sethostname"] {
            assert!(rules_for(&p, name).is_empty(), "{name} allowed");
        }
    }

    #[test]
    fn cap_sys_admin_lifts_the_clone_restriction() {
        let p = default_profile(&caps(&["CAP_SYS_ADMIN"]));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args().is_none(), "clone unconditional");
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActAllow);
        for name in ["unshare", "setns", "mount", "umount2"] {
            assert_eq!(rules_for(&p, name).len(), 1, "{name}");
        }
        // Prefix and case do not matter.
        assert_eq!(default_profile(&caps(&["sys_admin"])), p);
    }

    #[test]
    fn capability_groups() {
        let none = default_profile(&[]);
        for (cap, names) in BY_CAPABILITY {
            let with = default_profile(&caps(&[cap]));
            for name in *names {
                assert!(
                    rules_for(&with, name)
                        .iter()
                        .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow
                            && r.args().is_none()),
                    "{cap} should allow {name}"
                );
                if !TRACING.contains(name) {
                    assert!(
                        !rules_for(&none, name)
                            .iter()
                            .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow
                                && r.args().is_none()),
                        "{name} allowed without {cap}"
                    );
                }
            }
        }
    }

    #[test]
    fn personality_and_socket_conditions() {
        let p = default_profile(&[]);
        let personas: Vec<u64> = rules_for(&p, "personality")
            .iter()
            .map(|r| r.args().as_ref().unwrap()[0].value())
            .collect();
        assert_eq!(personas, PERSONAS);
        let socket = rules_for(&p, "socket");
        assert_eq!(socket.len(), 1);
        let a = socket[0].args().as_ref().unwrap()[0];
        assert_eq!(
            (a.index(), a.op(), a.value()),
            (0, LinuxSeccompOperator::ScmpCmpNe, 40)
        );
    }

    #[test]
    fn json_round_trips() {
        let json = default_profile_json();
        let back = crate::names::parse_profile(json.as_bytes(), "linux.seccomp").unwrap();
        assert_eq!(back, default_profile(&caps(DOCKER_DEFAULT_CAPS)));
        assert!(json.contains("\"SCMP_ACT_ERRNO\""));
    }

    #[test]
    fn compiles_with_no_caps_and_with_every_cap() {
        crate::compile(&default_profile(&[])).unwrap();
        let all: Vec<String> = BY_CAPABILITY.iter().map(|(c, _)| c.to_string()).collect();
        crate::compile(&default_profile(&all)).unwrap();
        crate::compile(&default_profile(&caps(DOCKER_DEFAULT_CAPS))).unwrap();
    }
}
