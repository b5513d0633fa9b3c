//! OCI `linux.seccomp` -> libseccomp filter -> classic BPF program.
//!
//! Two steps: [`plan`] checks the profile and lowers it to libseccomp's vocabulary (pure Rust,
//! every error names its JSON field); [`build`] feeds the plan to libseccomp and exports the
//! program. Behaviour follows the other OCI runtimes:
//! - syscall names unknown to libseccomp on this machine are skipped;
//! - a rule whose action equals the default action is skipped (libseccomp refuses it, and it
//!   would change nothing);
//! - several conditions on the same argument index become one rule per condition (libseccomp
//!   cannot AND two comparisons of one argument); otherwise all conditions of a rule are ANDed;
//! - `SCMP_CMP_MASKED_EQ` takes the mask from `value` and the expected result from `valueTwo`.

use std::io::{Read, Seek, SeekFrom};

use berth_sys::seccomp::{self as sys, SockFilter};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::enosys;
use crate::error::SeccompError;
use crate::filter::CompiledFilter;
use crate::ranges;

/// JSON path of the profile in a runtime config, used in every message.
pub(crate) const FIELD: &str = "linux.seccomp";

/// The errno returned when an `SCMP_ACT_ERRNO` action has no `errnoRet` (as runc and crun do).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Highest syscall argument index (syscalls take six arguments).
const MAX_ARG_INDEX: usize = 5;

/// A profile lowered to libseccomp's terms, checked, ready to build.
#[derive(Debug)]
pub(crate) struct Plan {
    pub default_action: ScmpAction,
    pub arches: Vec<(usize, ScmpArch)>,
    /// Kernel `SECCOMP_FILTER_FLAG_*` bits.
    pub flags: u32,
    pub rules: Vec<PlannedRule>,
    /// Every syscall name of the profile, skipped rules included: they bound the numbers that
    /// the profile knows about (see [`crate::enosys`]).
    pub all_names: Vec<String>,
    /// Every (argument index, value) the rules compare with: the calls with which a rewritten
    /// program is checked against libseccomp's (see [`crate::ranges`]).
    pub probes: Vec<(usize, u64)>,
}

/// One `syscalls[index]` entry.
#[derive(Debug)]
pub(crate) struct PlannedRule {
    pub index: usize,
    pub names: Vec<String>,
    pub action: ScmpAction,
    /// Each inner list is one libseccomp rule (its comparisons ANDed); the lists are ORed.
    /// One empty list means an unconditional rule.
    pub conditions: Vec<Vec<ScmpArgCompare>>,
}

/// Compiles `seccomp` to a BPF program, without any cache.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<CompiledFilter, SeccompError> {
    let plan = plan(seccomp)?;
    build(&plan)
}

fn errno_value(errno: Option<u32>, field: impl FnOnce() -> String) -> Result<u16, SeccompError> {
    let value = errno.unwrap_or(DEFAULT_ERRNO);
    u16::try_from(value)
        .map_err(|_| SeccompError::invalid(field(), format!("{value} does not fit in 16 bits")))
}

/// Maps an OCI action (and its errnoRet) to libseccomp's. `errnoRet` only matters for ERRNO and
/// TRACE, and is ignored for the other actions as other runtimes do.
fn lower_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: impl FnOnce() -> String,
) -> Result<ScmpAction, SeccompError> {
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(i32::from(errno_value(errno_ret, errno_field)?))
        }
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno_value(errno_ret, errno_field)?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn lower_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn lower_flag(flag: LinuxSeccompFilterFlag) -> u32 {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => sys::FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => sys::FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => sys::FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => sys::FLAG_WAIT_KILLABLE_RECV,
    }
}

fn lower_op(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

/// Checks `seccomp` and lowers it to libseccomp's terms.
pub(crate) fn plan(seccomp: &LinuxSeccomp) -> Result<Plan, SeccompError> {
    let default_action = seccomp.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::invalid(
            format!("{FIELD}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let default = lower_action(default_action, seccomp.default_errno_ret(), || {
        format!("{FIELD}.defaultErrnoRet")
    })?;

    let arches = seccomp
        .architectures()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, a)| (i, lower_arch(*a)))
        .collect();

    let mut flags = seccomp
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | lower_flag(*f));

    let mut rules = Vec::new();
    let mut all_names = Vec::new();
    let mut probes = Vec::new();
    let mut uses_notify = false;
    for (index, call) in seccomp.syscalls().iter().flatten().enumerate() {
        let field = || format!("{FIELD}.syscalls[{index}]");
        let action = lower_action(call.action(), call.errno_ret(), || {
            format!("{}.errnoRet", field())
        })?;
        if call.action() == LinuxSeccompAction::ScmpActNotify {
            if seccomp.listener_path().is_none() {
                return Err(SeccompError::invalid(
                    format!("{}.action", field()),
                    format!("SCMP_ACT_NOTIFY requires {FIELD}.listenerPath"),
                ));
            }
            uses_notify = true;
        }
        all_names.extend(call.names().iter().cloned());
        let args = call.args().as_deref().unwrap_or_default();
        let mut compares = Vec::with_capacity(args.len());
        for (j, arg) in args.iter().enumerate() {
            if arg.index() > MAX_ARG_INDEX {
                return Err(SeccompError::invalid(
                    format!("{}.args[{j}].index", field()),
                    format!(
                        "{} is not a syscall argument index (0..={MAX_ARG_INDEX})",
                        arg.index()
                    ),
                ));
            }
            let (op, datum) = if arg.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                (
                    lower_op(arg.op(), arg.value()),
                    arg.value_two().unwrap_or(0),
                )
            } else {
                (lower_op(arg.op(), 0), arg.value())
            };
            compares.push(ScmpArgCompare::new(arg.index() as u32, op, datum));
            probes.push((arg.index(), arg.value()));
            probes.extend(arg.value_two().map(|v| (arg.index(), v)));
        }
        if action == default {
            // libseccomp rejects such a rule; leaving it out changes nothing.
            continue;
        }
        let conditions = if same_index_twice(args.iter().map(|a| a.index())) {
            compares.into_iter().map(|c| vec![c]).collect()
        } else {
            vec![compares]
        };
        rules.push(PlannedRule {
            index,
            names: call.names().clone(),
            action,
            conditions,
        });
    }

    if uses_notify {
        flags |= sys::FLAG_NEW_LISTENER;
        if flags & sys::FLAG_TSYNC != 0 {
            // With a listener, success returns an fd: TSYNC failures must come back as ESRCH.
            flags |= sys::FLAG_TSYNC_ESRCH;
        }
    } else {
        // The kernel accepts WAIT_KILLABLE_RECV only together with a listener; without
        // SCMP_ACT_NOTIFY rules it has no effect at all.
        flags &= !sys::FLAG_WAIT_KILLABLE_RECV;
    }

    Ok(Plan {
        default_action: default,
        arches,
        flags,
        rules,
        all_names,
        probes,
    })
}

fn same_index_twice(indexes: impl Iterator<Item = usize>) -> bool {
    let mut seen = [false; MAX_ARG_INDEX + 1];
    for i in indexes {
        if std::mem::replace(&mut seen[i], true) {
            return true;
        }
    }
    false
}

/// Builds the libseccomp filter of `plan` and exports its BPF program; for a profile that
/// denies by default, behind the `ENOSYS` prefix and, when [`ranges`] can, with the per-syscall
/// dispatch rewritten as a search over ranges of syscall numbers.
pub(crate) fn build(plan: &Plan) -> Result<CompiledFilter, SeccompError> {
    let deny_by_default = denies_by_default(plan.default_action);
    // On a kernel without the x32 ABI every x32 call fails with ENOSYS before it could do
    // anything: a profile that denies by default needs no rules for it (a third of the program
    // with Docker's profile, and of its cost to install), only the ENOSYS answer in the prefix.
    let x32_unrun = deny_by_default && !berth_sys::seccomp::x32_abi_available();
    let mut program = libseccomp_program(plan, x32_unrun, &|_| true)?;
    if deny_by_default {
        let (arches, limits) = arches_and_limits(plan, x32_unrun);
        let mut full = enosys::prefix(&limits);
        full.append(&mut program);
        program = full;
        let conditional_names = plan
            .rules
            .iter()
            .filter(|r| r.conditions.iter().any(|c| !c.is_empty()))
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        let compacted = ranges::compact(ranges::Input {
            original: &program,
            arches: &arches,
            limits: &limits,
            probes: &plan.probes,
            conditional_names: &conditional_names,
            build_conditional: &|keep| libseccomp_program(plan, x32_unrun, keep),
        })?;
        if let Some(shorter) = compacted {
            program = shorter;
        }
    }
    CompiledFilter::new(program, plan.flags)
}

/// The architectures of libseccomp's program for `plan` (native first; x32 left out when
/// `x32_unrun`) and the limits of its `ENOSYS` prefix (which then refuses x32 itself).
pub(crate) fn arches_and_limits(
    plan: &Plan,
    x32_unrun: bool,
) -> (Vec<ScmpArch>, Vec<enosys::Limit>) {
    let native = ScmpArch::native();
    let mut arches = vec![native];
    for (_, a) in &plan.arches {
        let a = if *a == ScmpArch::Native { native } else { *a };
        if !arches.contains(&a) {
            arches.push(a);
        }
    }
    let mut limits = enosys::limits(&arches, plan.all_names.iter().map(String::as_str));
    if x32_unrun && arches.contains(&ScmpArch::X32) {
        enosys::refuse_x32(&mut limits);
        arches.retain(|a| *a != ScmpArch::X32);
    }
    (arches, limits)
}

/// libseccomp's program for the rules of `plan` on the syscall names that `keep` accepts
/// (x32 left out when `skip_x32`).
pub(crate) fn libseccomp_program(
    plan: &Plan,
    skip_x32: bool,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<SockFilter>, SeccompError> {
    let lib_err = |field: String, step: String| {
        move |source| SeccompError::Libseccomp {
            field,
            step,
            source,
        }
    };
    let mut ctx = ScmpFilterContext::new(plan.default_action).map_err(lib_err(
        format!("{FIELD}.defaultAction"),
        "create a filter".into(),
    ))?;
    // A balanced binary tree of syscall numbers: fewer instructions run per syscall with large
    // allow lists. Older libseccomp without it still produces a correct (linear) filter.
    let _ = ctx.set_ctl_optimize(2);
    for (i, arch) in &plan.arches {
        if skip_x32 && *arch == ScmpArch::X32 {
            continue;
        }
        ctx.add_arch(*arch).map_err(lib_err(
            format!("{FIELD}.architectures[{i}]"),
            format!("add architecture {arch:?}"),
        ))?;
    }
    for rule in &plan.rules {
        for name in rule.names.iter().filter(|n| keep(n)) {
            let Ok(syscall) = libseccomp::ScmpSyscall::from_name(name) else {
                // Unknown to libseccomp on this architecture: skipped, like other runtimes.
                continue;
            };
            for conditions in &rule.conditions {
                ctx.add_rule_conditional(rule.action, syscall, conditions)
                    .map_err(lib_err(
                        format!("{FIELD}.syscalls[{}]", rule.index),
                        format!("add a rule for {name:?}"),
                    ))?;
            }
        }
    }
    export(&ctx)
}

/// True when unlisted calls are refused: then calls newer than the profile get `ENOSYS`.
fn denies_by_default(action: ScmpAction) -> bool {
    matches!(
        action,
        ScmpAction::Errno(_) | ScmpAction::KillThread | ScmpAction::KillProcess | ScmpAction::Trap
    )
}

/// Exports the BPF program of `ctx` through an in-memory file (libseccomp 2.5 writes to an fd).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<SockFilter>, SeccompError> {
    let export_err = |reason: String| SeccompError::Export { reason };
    let fd = nix::sys::memfd::memfd_create(
        c"berth-seccomp-bpf",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| export_err(format!("memfd_create: {e}")))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|e| export_err(format!("seccomp_export_bpf: {e}")))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| export_err(format!("seek: {e}")))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| export_err(format!("read: {e}")))?;
    if bytes.len() % sys::INSTRUCTION_SIZE != 0 {
        return Err(export_err(format!(
            "{} bytes is not a whole number of instructions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(sys::INSTRUCTION_SIZE)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::parse_profile;

    fn profile(json: &str) -> LinuxSeccomp {
        parse_profile(json.as_bytes(), FIELD).unwrap()
    }

    #[test]
    fn compiles_a_small_profile() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        );
        let f = compile(&p).unwrap();
        assert!(!f.program().is_empty());
        assert_eq!(f.flags(), 0);
        // The last instruction of any seccomp program is a return.
        assert_eq!(f.program().last().unwrap().code & 0x07, 0x06);
    }

    #[test]
    fn default_errno_over_16_bits_is_named() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#);
        let err = compile(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.defaultErrnoRet: 70000 does not fit in 16 bits"
        );
    }

    #[test]
    fn rule_errno_over_16_bits_is_named() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["read"],"action":"SCMP_ACT_ALLOW"},
              {"names":["kill"],"action":"SCMP_ACT_TRACE","errnoRet":65536}]}"#,
        );
        let err = compile(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.syscalls[1].errnoRet: 65536 does not fit in 16 bits"
        );
    }

    #[test]
    fn arg_index_out_of_range_is_named() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[
                 {"index":0,"value":1,"op":"SCMP_CMP_EQ"},
                 {"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let err = compile(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.syscalls[0].args[1].index: 6 is not a syscall argument index (0..=5)"
        );
    }

    #[test]
    fn notify_needs_a_listener_path() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["read"],"action":"SCMP_ACT_LOG"},
              {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        let err = compile(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath"
        );
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[
              {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        let f = compile(&p).unwrap();
        assert!(f.needs_listener());
        assert!(matches!(f.install(), Err(SeccompError::ListenerRequired)));
    }

    #[test]
    fn notify_as_default_action_is_refused() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#);
        let err = compile(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
        );
    }

    #[test]
    fn unknown_syscalls_are_skipped() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
              {"names":["read","no_such_syscall_xyz","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        compile(&p).unwrap();
    }

    #[test]
    fn rule_equal_to_default_action_is_skipped() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
              {"names":["read"],"action":"SCMP_ACT_ALLOW"},
              {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
              {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
              {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":2}]}"#,
        );
        let plan = plan(&p).unwrap();
        let kept: Vec<usize> = plan.rules.iter().map(|r| r.index).collect();
        assert_eq!(kept, vec![0, 3]);
        compile(&p).unwrap();
    }

    #[test]
    fn same_syscall_several_rules_and_same_index_conditions() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
              {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
              {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
              {"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[
                 {"index":1,"value":9,"op":"SCMP_CMP_NE"},
                 {"index":1,"value":15,"op":"SCMP_CMP_NE"}]},
              {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
                 {"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"},
                 {"index":2,"value":0,"op":"SCMP_CMP_GE"}]}]}"#,
        );
        let plan = plan(&p).unwrap();
        assert_eq!(
            plan.rules[2].conditions.len(),
            2,
            "same index -> one rule each"
        );
        assert_eq!(
            plan.rules[3].conditions.len(),
            1,
            "distinct indexes -> ANDed"
        );
        assert_eq!(plan.rules[3].conditions[0].len(), 2);
        compile(&p).unwrap();
    }

    #[test]
    fn every_action_and_operator_compiles() {
        let actions = [
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_LOG",
        ];
        let ops = [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ",
        ];
        let names = [
            "getpid", "getppid", "getuid", "getgid", "geteuid", "getegid", "gettid",
        ];
        let mut rules = Vec::new();
        for (i, action) in actions.iter().enumerate() {
            rules.push(format!(
                r#"{{"names":["{}"],"action":"{action}","errnoRet":{}}}"#,
                names[i],
                i + 1
            ));
        }
        for (i, op) in ops.iter().enumerate() {
            rules.push(format!(
                r#"{{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","args":[{{"index":1,"value":{},"valueTwo":{},"op":"{op}"}}]}}"#,
                100 + i,
                i
            ));
        }
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
               "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
               "syscalls":[{}]}}"#,
            rules.join(",")
        );
        let f = compile(&profile(&json)).unwrap();
        assert_eq!(
            f.flags(),
            sys::FLAG_LOG | sys::FLAG_SPEC_ALLOW | sys::FLAG_TSYNC,
            "WAIT_KILLABLE_RECV dropped without a listener"
        );
    }

    #[test]
    fn every_default_action_compiles() {
        for (name, _) in crate::names::ACTIONS {
            if *name == "SCMP_ACT_NOTIFY" {
                continue;
            }
            let p = profile(&format!(
                r#"{{"defaultAction":"{name}","syscalls":[{{"names":["read"],"action":"SCMP_ACT_ALLOW"}}]}}"#
            ));
            compile(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
              {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
                 {"index":0,"value":240,"valueTwo":16,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        let plan = plan(&p).unwrap();
        assert_eq!(
            plan.rules[0].conditions[0][0],
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(240), 16)
        );
    }
}
