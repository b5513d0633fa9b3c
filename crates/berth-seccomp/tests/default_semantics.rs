//! The compiled default profile, run in the user-space BPF interpreter on x86_64 calling
//! conventions (native, i386, x32): what each kind of call gets back.
#![cfg(target_arch = "x86_64")]

use berth_seccomp::simulate::{
    SeccompData, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, RET_ALLOW, RET_ERRNO,
    X32_SYSCALL_BIT,
};
use berth_seccomp::{compile, default_profile, CompiledFilter, DOCKER_DEFAULT_CAPS};

const EPERM: u32 = RET_ERRNO | 1;
const ENOSYS: u32 = RET_ERRNO | 38;

// x86_64 numbers.
const READ: u32 = 0;
const MKDIR: u32 = 83;
const CLONE: u32 = 56;
const PERSONALITY: u32 = 135;
const SOCKET: u32 = 41;
const UNSHARE: u32 = 272;
const MOUNT: u32 = 165;
const KEXEC_LOAD: u32 = 246;
const CHROOT: u32 = 161;
const PTRACE: u32 = 101;
const CLONE3: u32 = 435;
// i386 numbers.
const I386_MKDIR: u32 = 39;
const I386_CLONE: u32 = 120;
const I386_UNSHARE: u32 = 310;

fn filter(caps: &[&str]) -> CompiledFilter {
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    compile(&default_profile(&caps)).unwrap()
}

fn docker() -> CompiledFilter {
    filter(DOCKER_DEFAULT_CAPS)
}

fn ret(f: &CompiledFilter, arch: u32, nr: u32, args: &[u64]) -> u32 {
    f.simulate(&SeccompData::new(arch, nr, args)).unwrap()
}

fn x86_64(f: &CompiledFilter, nr: u32, args: &[u64]) -> u32 {
    ret(f, AUDIT_ARCH_X86_64, nr, args)
}

const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
const FORK_FLAGS: u64 = 0x0120_0011; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
const THREAD_FLAGS: u64 = 0x003d_0f00;

#[test]
fn ordinary_calls_are_allowed() {
    let f = docker();
    assert_eq!(x86_64(&f, READ, &[]), RET_ALLOW);
    assert_eq!(x86_64(&f, MKDIR, &[]), RET_ALLOW);
    assert_eq!(
        x86_64(&f, PTRACE, &[]),
        RET_ALLOW,
        "ptrace allowed on kernels >= 4.8"
    );
    assert_eq!(
        x86_64(&f, CHROOT, &[]),
        RET_ALLOW,
        "CAP_SYS_CHROOT is a Docker default"
    );
}

#[test]
fn clone_with_namespace_flags_is_eperm_without_cap_sys_admin() {
    let f = docker();
    assert_eq!(x86_64(&f, CLONE, &[FORK_FLAGS]), RET_ALLOW);
    assert_eq!(x86_64(&f, CLONE, &[THREAD_FLAGS]), RET_ALLOW);
    for ns in [CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET] {
        assert_eq!(x86_64(&f, CLONE, &[FORK_FLAGS | ns]), EPERM, "{ns:#x}");
    }
    assert_eq!(
        x86_64(&f, CLONE3, &[]),
        ENOSYS,
        "clone3 -> ENOSYS so libc falls back"
    );
    assert_eq!(x86_64(&f, UNSHARE, &[CLONE_NEWNS]), EPERM);
    assert_eq!(x86_64(&f, MOUNT, &[]), EPERM);
    // The same through the i386 convention.
    assert_eq!(
        ret(&f, AUDIT_ARCH_I386, I386_CLONE, &[FORK_FLAGS]),
        RET_ALLOW
    );
    assert_eq!(
        ret(&f, AUDIT_ARCH_I386, I386_CLONE, &[CLONE_NEWUSER]),
        EPERM
    );
    assert_eq!(ret(&f, AUDIT_ARCH_I386, I386_UNSHARE, &[]), EPERM);
    assert_eq!(ret(&f, AUDIT_ARCH_I386, I386_MKDIR, &[]), RET_ALLOW);
}

#[test]
fn cap_sys_admin_lifts_the_namespace_restrictions() {
    let f = filter(&["CAP_SYS_ADMIN"]);
    assert_eq!(x86_64(&f, CLONE, &[FORK_FLAGS | CLONE_NEWUSER]), RET_ALLOW);
    assert_eq!(x86_64(&f, CLONE3, &[]), RET_ALLOW);
    assert_eq!(x86_64(&f, UNSHARE, &[CLONE_NEWNS]), RET_ALLOW);
    assert_eq!(x86_64(&f, MOUNT, &[]), RET_ALLOW);
}

#[test]
fn personality_and_socket_arguments() {
    let f = docker();
    for p in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(x86_64(&f, PERSONALITY, &[p]), RET_ALLOW, "{p:#x}");
    }
    assert_eq!(
        x86_64(&f, PERSONALITY, &[0x0040_0000]),
        EPERM,
        "READ_IMPLIES_EXEC"
    );
    assert_eq!(x86_64(&f, SOCKET, &[2]), RET_ALLOW, "AF_INET");
    assert_eq!(x86_64(&f, SOCKET, &[40]), EPERM, "AF_VSOCK");
}

#[test]
fn unlisted_calls_are_eperm_and_newer_calls_enosys() {
    let f = docker();
    assert_eq!(x86_64(&f, KEXEC_LOAD, &[]), EPERM);
    assert_eq!(x86_64(&f, 1000, &[]), ENOSYS);
    assert_eq!(ret(&f, AUDIT_ARCH_I386, 1000, &[]), ENOSYS);
    // x32 is allowed as x86_64 is, on a kernel that runs it; otherwise the kernel's own answer.
    let x32_mkdir = if berth_sys::seccomp::x32_abi_available() {
        RET_ALLOW
    } else {
        ENOSYS
    };
    assert_eq!(
        ret(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | MKDIR, &[]),
        x32_mkdir,
        "x32 mkdir"
    );
    assert_eq!(
        ret(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1000, &[]),
        ENOSYS
    );
    // A foreign calling convention is refused outright (libseccomp's bad-arch action).
    assert_ne!(ret(&f, AUDIT_ARCH_AARCH64, 63, &[]), RET_ALLOW);
}
