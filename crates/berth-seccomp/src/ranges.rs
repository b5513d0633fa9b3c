//! A shorter program: the per-syscall dispatch rewritten as a search over ranges of numbers.
//!
//! libseccomp compares the call's number with every number that has a rule, one instruction
//! each: Docker's profile becomes ~870 instructions for x86_64 and i386. The kernel translates and
//! JIT-compiles the whole program when the filter is installed, in the container's init right
//! before `execve` (~0.5 ms on a VM). But most numbers come in runs with the same answer (the
//! profile allows nearly everything from `read` to `rseq`), so per arch a binary search over
//! those runs decides them in ~a tenth of the instructions:
//!
//! ```text
//! ENOSYS prefix (crate::enosys) | arch switch | per arch: load nr, search, shared returns | rest
//! ```
//!
//! where "rest" is libseccomp's program for just the syscalls whose answer depends on their
//! arguments (`clone`, `personality`...), entered from their leaves. Which calls those are, and
//! the answer for every other number, comes from running libseccomp's full program in
//! [`crate::simulate`]; the result is then checked against it, call by call, and thrown away on
//! any difference (as it is for filters it does not suit: x32 rules, archs without an audit
//! number, a default action that allows).

use std::collections::{BTreeMap, BTreeSet};

use berth_sys::seccomp::SockFilter;
use libseccomp::{ScmpArch, ScmpSyscall};

use crate::enosys::{self, Limit};
use crate::error::SeccompError;
use crate::simulate::{self, SeccompData, X32_SYSCALL_BIT};

// Classic BPF opcodes used here.
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
/// Offsets of `nr` and `arch` in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;

/// Builds libseccomp's program for the rules on the syscall names that a predicate accepts.
pub(crate) type BuildFor<'a> =
    dyn Fn(&dyn Fn(&str) -> bool) -> Result<Vec<SockFilter>, SeccompError> + 'a;

/// What [`compact`] works from.
pub(crate) struct Input<'a> {
    /// The program as libseccomp and the prefix make it: the reference.
    pub original: &'a [SockFilter],
    /// The filter's architectures (as given to libseccomp).
    pub arches: &'a [ScmpArch],
    /// The `ENOSYS` prefix's limits: every number above them is answered before the dispatch.
    pub limits: &'a [Limit],
    /// (argument index, value) pairs that the rules compare with.
    pub probes: &'a [(usize, u64)],
    /// The syscall names of the rules that have conditions.
    pub conditional_names: &'a BTreeSet<&'a str>,
    /// Builds libseccomp's program for the syscall names accepted by the predicate.
    pub build_conditional: &'a BuildFor<'a>,
}

/// What a number's leaf does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leaf {
    /// Return this `SECCOMP_RET_*` value.
    Return(u32),
    /// Depends on more than the number: jump to libseccomp's program for such calls.
    Rest,
}

/// A run of consecutive numbers with the same leaf; the last run of an arch is open-ended.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: u32,
    leaf: Leaf,
}

/// The rewritten program, or `None` when it would not be shorter or the filter does not suit.
pub(crate) fn compact(input: Input<'_>) -> Result<Option<Vec<SockFilter>>, SeccompError> {
    let Some(plans) = arch_runs(&input) else {
        return Ok(None);
    };
    let conditional: BTreeMap<u32, BTreeSet<u32>> = plans
        .iter()
        .map(|(audit, runs)| (*audit, conditional_numbers(runs)))
        .collect();
    let keep = |name: &str| keeps(name, &input, &conditional);
    // libseccomp may refuse a subset that it took in full (a multiplexed call's conditions
    // without the rules it saw before them): then the filter stays as libseccomp made it.
    let Ok(rest) = (input.build_conditional)(&keep) else {
        return Ok(None);
    };
    let Some(program) = assemble(input.limits, &plans, rest) else {
        return Ok(None);
    };
    if program.len() >= input.original.len() || !same_answers(&input, &program, &conditional) {
        return Ok(None);
    }
    Ok(Some(program))
}

/// Per audit arch, the runs of numbers `0..=max` found by running the original program, then
/// one open run of `Rest` for everything above (which the prefix answers first anyway).
fn arch_runs(input: &Input<'_>) -> Option<Vec<(u32, Vec<Run>)>> {
    let mut plans = Vec::new();
    for &arch in input.arches {
        let (audit, x32) = enosys::audit_arch(arch)?;
        if x32 {
            // x32 rules share x86_64's audit number; not worth a second search here.
            return None;
        }
        let max = input
            .limits
            .iter()
            .find(|l| l.audit_arch == audit)
            .and_then(|l| l.max)?;
        let mut runs: Vec<Run> = Vec::new();
        for nr in 0..=max {
            let data = SeccompData::new(audit, nr, &[]);
            let (action, read_more) = simulate::run_reading(input.original, &data).ok()?;
            let leaf = if read_more {
                Leaf::Rest
            } else {
                Leaf::Return(action)
            };
            // Each conditional number keeps a run of its own: they are few, and it keeps the
            // set of them exact.
            match runs.last() {
                Some(r) if r.leaf == leaf && leaf != Leaf::Rest => {}
                _ => runs.push(Run { first: nr, leaf }),
            }
        }
        runs.push(Run {
            first: max.checked_add(1)?,
            leaf: Leaf::Rest,
        });
        plans.push((audit, runs));
    }
    Some(plans)
}

fn conditional_numbers(runs: &[Run]) -> BTreeSet<u32> {
    let open = runs.len() - 1;
    runs[..open]
        .iter()
        .filter(|r| r.leaf == Leaf::Rest)
        .map(|r| r.first)
        .collect()
}

/// The calls through which i386 and others reach several system calls.
const MULTIPLEXERS: [&str; 2] = ["socketcall", "ipc"];

/// Whether libseccomp's program for the conditional calls needs the rules of `name`: it has
/// rules with conditions, or it is one of those calls on some arch. When a multiplexer
/// (`socketcall`, `ipc`) is conditional, every rule may be behind it: all are kept.
fn keeps(name: &str, input: &Input<'_>, conditional: &BTreeMap<u32, BTreeSet<u32>>) -> bool {
    let number = |name: &str, arch: ScmpArch| {
        let nr = ScmpSyscall::from_name_by_arch(name, arch)
            .ok()?
            .as_raw_syscall();
        u32::try_from(nr).ok()
    };
    let is_conditional = |name: &str| {
        input.arches.iter().any(|&arch| {
            let numbers = enosys::audit_arch(arch).and_then(|(a, _)| conditional.get(&a));
            numbers
                .zip(number(name, arch))
                .is_some_and(|(c, nr)| c.contains(&nr))
        })
    };
    // The multiplexers' own rules are kept too: libseccomp builds the rules of the calls
    // behind them (on i386, `socket` through `socketcall`) on top of those.
    MULTIPLEXERS.contains(&name)
        || input.conditional_names.contains(name)
        || is_conditional(name)
        || MULTIPLEXERS.into_iter().any(is_conditional)
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Lays the program out; `None` when a jump would not fit in its 8 bits.
fn assemble(
    limits: &[Limit],
    plans: &[(u32, Vec<Run>)],
    rest: Vec<SockFilter>,
) -> Option<Vec<SockFilter>> {
    let mut out = enosys::prefix(limits);
    // Jumps to the start of `rest`, patched once it is placed: indexes of `ja` instructions.
    let mut to_rest = Vec::new();
    // Arch switch: `jeq arch` over a `ja` to that arch's block (blocks are far apart).
    out.push(insn(LD_W_ABS, 0, 0, ARCH));
    let mut to_block = Vec::new();
    for (audit, _) in plans {
        out.push(insn(JMP_JEQ_K, 0, 1, *audit));
        to_block.push(out.len());
        out.push(insn(JMP_JA, 0, 0, 0));
    }
    // Any other arch: libseccomp's program refuses it as the original does.
    to_rest.push(out.len());
    out.push(insn(JMP_JA, 0, 0, 0));
    for ((_, runs), ja) in plans.iter().zip(to_block) {
        out[ja].k = u32::try_from(out.len() - ja - 1).ok()?;
        block(runs, &mut out, &mut to_rest)?;
    }
    let rest_start = out.len();
    for ja in to_rest {
        out[ja].k = u32::try_from(rest_start - ja - 1).ok()?;
    }
    out.extend(rest);
    Some(out)
}

/// A jump of a search node to a leaf, patched once the leaves are placed.
struct LeafJump {
    at: usize,
    taken: bool,
    leaf: Leaf,
}

/// One arch's block: load the number, search the runs (at least two: [`arch_runs`] ends each
/// arch with an open one), then each distinct leaf once.
fn block(runs: &[Run], out: &mut Vec<SockFilter>, to_rest: &mut Vec<usize>) -> Option<()> {
    out.push(insn(LD_W_ABS, 0, 0, NR));
    let mut jumps = Vec::new();
    search(runs, out, &mut jumps)?;
    let leaves: BTreeSet<Leaf> = runs.iter().map(|r| r.leaf).collect();
    let mut placed = BTreeMap::new();
    for leaf in leaves {
        placed.insert(leaf, out.len());
        match leaf {
            Leaf::Return(action) => out.push(insn(RET_K, 0, 0, action)),
            Leaf::Rest => {
                to_rest.push(out.len());
                out.push(insn(JMP_JA, 0, 0, 0));
            }
        }
    }
    for j in jumps {
        set_branch(&mut out[j.at], j.taken, placed[&j.leaf] - j.at - 1)?;
    }
    Some(())
}

/// Emits a balanced search over `runs` (at least two) in pre-order: `jge first-of-right-half`,
/// the left half, the right half.
fn search(runs: &[Run], out: &mut Vec<SockFilter>, jumps: &mut Vec<LeafJump>) -> Option<()> {
    let (left, right) = runs.split_at(runs.len() / 2);
    let at = out.len();
    out.push(insn(JMP_JGE_K, 0, 0, right[0].first));
    branch(left, at, false, out, jumps)?;
    branch(right, at, true, out, jumps)
}

/// The `taken` (or not) branch of the node at `at`: a jump to the leaf of a single run, patched
/// later, or the search over `half`, laid out from here.
fn branch(
    half: &[Run],
    at: usize,
    taken: bool,
    out: &mut Vec<SockFilter>,
    jumps: &mut Vec<LeafJump>,
) -> Option<()> {
    if let [single] = half {
        jumps.push(LeafJump {
            at,
            taken,
            leaf: single.leaf,
        });
        return Some(());
    }
    let offset = out.len() - at - 1;
    set_branch(&mut out[at], taken, offset)?;
    search(half, out, jumps)
}

/// Points a conditional jump's `taken` (or not) branch `offset` instructions ahead; `None` when
/// that is beyond its 8 bits.
fn set_branch(node: &mut SockFilter, taken: bool, offset: usize) -> Option<()> {
    let offset = u8::try_from(offset).ok()?;
    if taken {
        node.jt = offset;
    } else {
        node.jf = offset;
    }
    Some(())
}

/// Runs both programs on every number up to past each arch's limit, on x32 and foreign-arch
/// numbers, and on the conditional calls with the profile's argument values around them.
fn same_answers(
    input: &Input<'_>,
    program: &[SockFilter],
    conditional: &BTreeMap<u32, BTreeSet<u32>>,
) -> bool {
    let same = |data: &SeccompData| {
        matches!(
            (simulate::run(input.original, data), simulate::run(program, data)),
            (Ok(a), Ok(b)) if a == b
        )
    };
    let mut arg_sets: Vec<[u64; 6]> = vec![[0; 6], [u64::MAX; 6]];
    // Multiplexed calls (`socketcall`, `ipc`) choose by their first argument.
    for call in 0..32 {
        arg_sets.push([call, 0, 0, 0, 0, 0]);
    }
    for &(index, value) in input.probes {
        for v in [value, value.wrapping_add(1), value.wrapping_sub(1), !value] {
            let mut args = [0u64; 6];
            args[index.min(5)] = v;
            arg_sets.push(args);
        }
    }
    let foreign = [0u32, 0x4000_0028, 0xC000_00B7, 0xC000_003E, 0x4000_0003]
        .into_iter()
        .filter(|a| !conditional.contains_key(a));
    for audit in conditional.keys().copied().chain(foreign) {
        let max = input
            .limits
            .iter()
            .find(|l| l.audit_arch == audit)
            .and_then(|l| l.max)
            .unwrap_or(0);
        let extra = [
            X32_SYSCALL_BIT,
            X32_SYSCALL_BIT | 1,
            X32_SYSCALL_BIT | max,
            u32::MAX,
        ];
        for nr in (0..=max.saturating_add(3)).chain(extra) {
            let args: &[[u64; 6]] = if conditional.get(&audit).is_some_and(|c| c.contains(&nr)) {
                &arg_sets
            } else {
                &arg_sets[..2]
            };
            for a in args {
                let mut data = SeccompData::new(audit, nr, a);
                data.instruction_pointer = 0x7f00_0000_1000;
                if !same(&data) {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{arches_and_limits, compile, libseccomp_program, plan};
    use crate::names::parse_profile;
    use crate::simulate::{RET_ALLOW, RET_ERRNO};

    fn plain(json: &str) -> (Vec<SockFilter>, Vec<SockFilter>) {
        let p = plan(&parse_profile(json.as_bytes(), "t").unwrap()).unwrap();
        let compacted = compile(&parse_profile(json.as_bytes(), "t").unwrap()).unwrap();
        let unrolled = libseccomp_program(&p, false, &|_| true).unwrap();
        (compacted.program().to_vec(), unrolled)
    }

    #[test]
    fn docker_profile_shrinks_and_answers_the_same() {
        for caps in [
            crate::DOCKER_DEFAULT_CAPS
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            vec!["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()],
            vec![],
        ] {
            let profile = crate::default_profile(&caps);
            let filter = compile(&profile).unwrap();
            let unrolled = libseccomp_program(&plan(&profile).unwrap(), false, &|_| true).unwrap();
            assert!(
                filter.program().len() * 3 < unrolled.len(),
                "{} vs {} instructions",
                filter.program().len(),
                unrolled.len()
            );
            // Spot checks through the public simulator.
            let call = |nr: u32, args: &[u64]| {
                filter
                    .simulate(&SeccompData::new(0xC000_003E, nr, args))
                    .unwrap()
            };
            assert_eq!(call(0, &[]), RET_ALLOW, "read");
            let mount = call(165, &[]);
            if caps.iter().any(|c| c == "CAP_SYS_ADMIN") {
                assert_eq!(mount, RET_ALLOW, "mount with CAP_SYS_ADMIN");
            } else {
                assert_eq!(mount & 0xffff_0000, RET_ERRNO, "mount");
            }
            // personality(0) allowed, personality(0xdead) refused.
            assert_eq!(call(135, &[0]), RET_ALLOW);
            assert_eq!(call(135, &[0xdead]) & 0xffff_0000, RET_ERRNO);
        }
    }

    #[test]
    fn conditional_rules_keep_their_arguments() {
        let (compacted, unrolled) = plain(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
               "syscalls":[
                 {"names":["read","write","openat","close"],"action":"SCMP_ACT_ALLOW"},
                 {"names":["socket"],"action":"SCMP_ACT_ALLOW",
                  "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
                 {"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
                  "args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(!compacted.is_empty() && !unrolled.is_empty());
        let f = |nr, args: &[u64]| {
            simulate::run(&compacted, &SeccompData::new(0xC000_003E, nr, args)).unwrap()
        };
        assert_eq!(f(0, &[]), RET_ALLOW);
        assert_eq!(f(3, &[]), RET_ALLOW);
        assert_eq!(f(41, &[1]), RET_ALLOW, "socket(AF_UNIX)");
        assert_eq!(f(41, &[2]) & 0xffff_0000, RET_ERRNO, "socket(AF_INET)");
        assert_eq!(f(62, &[0, 9]), RET_ERRNO | 1, "kill(_, SIGKILL)");
        assert_eq!(f(62, &[0, 15]) & 0xffff, libc::EPERM as u32);
    }

    #[test]
    fn search_covers_every_run_boundary() {
        // Runs alternating at every number: the deepest search.
        let runs: Vec<Run> = (0..40)
            .map(|i| Run {
                first: i,
                leaf: if i == 39 {
                    Leaf::Rest
                } else {
                    Leaf::Return(i % 3)
                },
            })
            .collect();
        let mut out = Vec::new();
        let mut to_rest = Vec::new();
        block(&runs, &mut out, &mut to_rest).unwrap();
        // Make the `Rest` jump land on a distinctive return.
        for ja in &to_rest {
            out[*ja].k = u32::try_from(out.len() - ja - 1).unwrap();
        }
        out.push(insn(RET_K, 0, 0, 0xabcd));
        for nr in 0..45u32 {
            let want = if nr >= 39 { 0xabcd } else { nr % 3 };
            let got = simulate::run(&out, &SeccompData::new(0, nr, &[])).unwrap();
            assert_eq!(got, want, "nr {nr}");
        }
    }

    #[test]
    fn multiplexed_calls_with_conditions_compile_as_before() {
        // Podman's profile: socket() refused for audit sockets, by argument, on every arch
        // (on i386 libseccomp filters socket through socketcall).
        let json = r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[
              {"names":["read","write","socketcall","close"],"action":"SCMP_ACT_ALLOW"},
              {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
               "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},
                       {"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
              {"names":["socket"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":2,"value":9,"op":"SCMP_CMP_NE"}]},
              {"names":["socket"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":16,"op":"SCMP_CMP_NE"}]}]}"#;
        let (compacted, unrolled) = plain(json);
        assert!(!unrolled.is_empty());
        for (arch, nr) in [(0xC000_003E, 41), (0x4000_0003, 359), (0x4000_0003, 102)] {
            for args in [[16u64, 3, 9], [16, 3, 0], [2, 1, 9], [2, 1, 0], [1, 0, 0]] {
                let data = SeccompData::new(arch, nr, &args);
                let p = plan(&parse_profile(json.as_bytes(), "t").unwrap()).unwrap();
                let reference = {
                    let x32_unrun = !berth_sys::seccomp::x32_abi_available();
                    let mut full = enosys::prefix(&arches_and_limits(&p, x32_unrun).1);
                    full.extend(libseccomp_program(&p, x32_unrun, &|_| true).unwrap());
                    full
                };
                assert_eq!(
                    simulate::run(&compacted, &data).unwrap(),
                    simulate::run(&reference, &data).unwrap(),
                    "arch {arch:#x} nr {nr} args {args:?}"
                );
            }
        }
    }

    #[test]
    fn allow_by_default_is_left_alone() {
        let (compacted, unrolled) = plain(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
               "syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(compacted, unrolled);
    }
}
