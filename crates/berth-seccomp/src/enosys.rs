//! `ENOSYS` for system calls newer than the profile.
//!
//! A profile that denies by default would answer a system call added to the kernel after the
//! profile was written with `EPERM`. Programs probe new calls and fall back only on `ENOSYS`
//! (glibc does so for `clone3`, `fchmodat2`, `faccessat2`...), so `EPERM` breaks them. The other
//! OCI runtimes therefore make every call numbered above the highest one the profile names
//! return `ENOSYS`; this module builds that check as a short BPF prefix run before libseccomp's
//! program. The prefix never allows anything: it either returns `ENOSYS` or falls through.

use berth_sys::seccomp::SockFilter;
use libseccomp::{ScmpArch, ScmpSyscall};

use crate::simulate::{AUDIT_ARCH_X86_64, RET_ERRNO, X32_SYSCALL_BIT};

/// The highest syscall number the profile names, per calling convention of the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    /// `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// Highest number for the native convention of that audit arch (None: not in the filter).
    pub max: Option<u32>,
    /// For `AUDIT_ARCH_X86_64`: highest x32 number (with the x32 bit), when x32 is in the filter.
    pub max_x32: Option<u32>,
}

/// The audit arch of a libseccomp arch token, and whether it is x32.
pub(crate) fn audit_arch(arch: ScmpArch) -> Option<(u32, bool)> {
    Some(match arch {
        ScmpArch::X8664 => (0xC000_003E, false),
        ScmpArch::X32 => (0xC000_003E, true),
        ScmpArch::X86 => (0x4000_0003, false),
        ScmpArch::Aarch64 => (0xC000_00B7, false),
        ScmpArch::Arm => (0x4000_0028, false),
        ScmpArch::Riscv64 => (0xC000_00F3, false),
        ScmpArch::S390X => (0x8000_0016, false),
        ScmpArch::S390 => (0x0000_0016, false),
        ScmpArch::Ppc64Le => (0xC000_0015, false),
        ScmpArch::Ppc64 => (0x8000_0015, false),
        ScmpArch::Ppc => (0x0000_0014, false),
        ScmpArch::Mips => (0x0000_0008, false),
        ScmpArch::Mipsel => (0x4000_0008, false),
        ScmpArch::Mips64 => (0x8000_0008, false),
        ScmpArch::Mipsel64 => (0xC000_0008, false),
        ScmpArch::Mips64N32 => (0xA000_0008, false),
        ScmpArch::Mipsel64N32 => (0xE000_0008, false),
        _ => return None,
    })
}

/// Computes the limits of `arches` (the filter's architectures, native included) for the
/// syscall `names` of a profile. Names unknown on an arch, and libseccomp's negative
/// pseudo-numbers (multiplexed calls), do not count.
pub(crate) fn limits<'a>(
    arches: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<Limit> {
    let mut out: Vec<Limit> = Vec::new();
    for &arch in arches {
        let Some((audit, x32)) = audit_arch(arch) else {
            continue;
        };
        let max = names
            .clone()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|s| s.as_raw_syscall())
            .filter(|nr| *nr >= 0)
            .map(|nr| nr as u32)
            .max();
        let Some(max) = max else { continue };
        let slot = match out.iter_mut().position(|l| l.audit_arch == audit) {
            Some(i) => &mut out[i],
            None => {
                out.push(Limit {
                    audit_arch: audit,
                    max: None,
                    max_x32: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        if x32 {
            slot.max_x32 = Some(max | X32_SYSCALL_BIT);
        } else {
            slot.max = Some(max);
        }
    }
    out
}

/// Makes every x32 call return `ENOSYS`, as a kernel without the x32 ABI does (for a filter
/// that leaves x32 out of libseccomp's program, which would refuse it as a foreign arch).
pub(crate) fn refuse_x32(limits: &mut [Limit]) {
    for l in limits
        .iter_mut()
        .filter(|l| l.audit_arch == AUDIT_ARCH_X86_64)
    {
        // Every x32 number has the bit set, so is above this.
        l.max_x32 = Some(X32_SYSCALL_BIT - 1);
    }
}

/// Where a jump goes, before offsets are known.
#[derive(Clone, Copy)]
enum To {
    Next,
    Enosys,
    Continue,
    X32(usize),
}

enum Op {
    LoadArch,
    LoadNr,
    JumpIfArch { audit: u32, block: usize },
    Always(To),
    IfGreater { k: u32, then: To, otherwise: To },
    IfAnyBit { k: u32, then: To, otherwise: To },
    X32Label(usize),
    ReturnEnosys,
}

/// The BPF prefix for `limits`; empty when there is nothing to check.
pub(crate) fn prefix(limits: &[Limit]) -> Vec<SockFilter> {
    if limits.is_empty() {
        return Vec::new();
    }
    let mut ops = vec![Op::LoadArch];
    for (block, l) in limits.iter().enumerate() {
        ops.push(Op::JumpIfArch {
            audit: l.audit_arch,
            block,
        });
    }
    ops.push(Op::Always(To::Continue));
    let mut block_starts = Vec::new();
    for (block, l) in limits.iter().enumerate() {
        block_starts.push(ops.len());
        ops.push(Op::LoadNr);
        let native = |ops: &mut Vec<Op>| match l.max {
            Some(k) => ops.push(Op::IfGreater {
                k,
                then: To::Enosys,
                otherwise: To::Continue,
            }),
            None => ops.push(Op::Always(To::Continue)),
        };
        if l.audit_arch == AUDIT_ARCH_X86_64 {
            // x32 calls share the audit arch; their numbers carry the x32 bit.
            ops.push(Op::IfAnyBit {
                k: X32_SYSCALL_BIT,
                then: To::X32(block),
                otherwise: To::Next,
            });
            native(&mut ops);
            ops.push(Op::X32Label(block));
            match l.max_x32 {
                Some(k) => ops.push(Op::IfGreater {
                    k,
                    then: To::Enosys,
                    otherwise: To::Continue,
                }),
                // x32 not in the filter: libseccomp's program refuses it as a foreign arch.
                None => ops.push(Op::Always(To::Continue)),
            }
        } else {
            native(&mut ops);
        }
    }
    ops.push(Op::ReturnEnosys);

    // Positions: labels take no instruction.
    let mut pos = Vec::with_capacity(ops.len());
    let mut n = 0usize;
    for op in &ops {
        pos.push(n);
        if !matches!(op, Op::X32Label(_)) {
            n += 1;
        }
    }
    let enosys = n - 1;
    let cont = n;
    let x32_label = |b: usize| {
        ops.iter()
            .zip(&pos)
            .find(|(op, _)| matches!(op, Op::X32Label(x) if *x == b))
            .map(|(_, p)| *p)
            .expect("label emitted with its jump")
    };
    let target = |to: To, at: usize| -> usize {
        match to {
            To::Next => at + 1,
            To::Enosys => enosys,
            To::Continue => cont,
            To::X32(b) => x32_label(b),
        }
    };
    // Conditional offsets are u8: the prefix is a few instructions per arch, far below 255.
    let rel = |to: usize, at: usize| u8::try_from(to - at - 1).expect("short prefix");
    let mut out = Vec::with_capacity(n);
    for (op, &at) in ops.iter().zip(&pos) {
        let insn = |code, jt, jf, k| SockFilter { code, jt, jf, k };
        match *op {
            Op::LoadArch => out.push(insn(0x20, 0, 0, 4)),
            Op::LoadNr => out.push(insn(0x20, 0, 0, 0)),
            Op::JumpIfArch { audit, block } => {
                let to = pos[block_starts[block]];
                out.push(insn(0x15, rel(to, at), 0, audit));
            }
            Op::Always(to) => {
                let t = target(to, at);
                out.push(insn(0x05, 0, 0, (t - at - 1) as u32));
            }
            Op::IfGreater { k, then, otherwise } => out.push(insn(
                0x25,
                rel(target(then, at), at),
                rel(target(otherwise, at), at),
                k,
            )),
            Op::IfAnyBit { k, then, otherwise } => out.push(insn(
                0x45,
                rel(target(then, at), at),
                rel(target(otherwise, at), at),
                k,
            )),
            Op::X32Label(_) => {}
            Op::ReturnEnosys => out.push(insn(0x06, 0, 0, RET_ERRNO | libc::ENOSYS as u32)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{run, SeccompData, AUDIT_ARCH_I386, RET_ALLOW};

    /// Prefix + a program that allows everything: anything not ENOSYS is "fell through".
    fn eval(limits: &[Limit], arch: u32, nr: u32) -> u32 {
        let mut prog = prefix(limits);
        prog.push(SockFilter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        });
        run(&prog, &SeccompData::new(arch, nr, &[])).unwrap()
    }

    const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

    #[test]
    fn above_the_limit_is_enosys_per_arch() {
        let limits = [
            Limit {
                audit_arch: AUDIT_ARCH_X86_64,
                max: Some(450),
                max_x32: Some(X32_SYSCALL_BIT | 547),
            },
            Limit {
                audit_arch: AUDIT_ARCH_I386,
                max: Some(460),
                max_x32: None,
            },
        ];
        assert_eq!(eval(&limits, AUDIT_ARCH_X86_64, 450), RET_ALLOW);
        assert_eq!(eval(&limits, AUDIT_ARCH_X86_64, 451), ENOSYS);
        assert_eq!(
            eval(&limits, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 500),
            RET_ALLOW
        );
        assert_eq!(
            eval(&limits, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 548),
            ENOSYS
        );
        assert_eq!(eval(&limits, AUDIT_ARCH_I386, 455), RET_ALLOW);
        assert_eq!(eval(&limits, AUDIT_ARCH_I386, 461), ENOSYS);
        // Other arches fall through untouched.
        assert_eq!(eval(&limits, 0xC000_00B7, 9999), RET_ALLOW);
    }

    #[test]
    fn x32_without_x32_in_the_filter_falls_through() {
        let limits = [Limit {
            audit_arch: AUDIT_ARCH_X86_64,
            max: Some(450),
            max_x32: None,
        }];
        // Not ENOSYS: libseccomp's own program decides (it refuses x32 as a foreign arch).
        assert_eq!(
            eval(&limits, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1),
            RET_ALLOW
        );
        assert_eq!(eval(&limits, AUDIT_ARCH_X86_64, 451), ENOSYS);
    }

    #[test]
    fn refused_x32_is_enosys_from_its_first_number() {
        let mut limits = limits(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            ["read", "write", "mkdir"].iter().copied(),
        );
        refuse_x32(&mut limits);
        for nr in [0, 1, 83, 547] {
            assert_eq!(
                eval(&limits, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | nr),
                ENOSYS
            );
        }
        // The native calls and i386 are untouched.
        assert_eq!(eval(&limits, AUDIT_ARCH_X86_64, 83), RET_ALLOW);
        assert_eq!(eval(&limits, AUDIT_ARCH_X86_64, 84), ENOSYS);
        assert_eq!(eval(&limits, AUDIT_ARCH_I386, 39), RET_ALLOW);
    }

    #[test]
    fn limits_come_from_libseccomp_numbers() {
        let names = ["read", "write", "mkdir"];
        let l = limits(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            names.iter().copied(),
        );
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].audit_arch, AUDIT_ARCH_X86_64);
        assert_eq!(l[0].max, Some(83), "mkdir is 83 on x86_64");
        assert_eq!(l[0].max_x32, Some(X32_SYSCALL_BIT | 83));
        assert_eq!(l[1].max, Some(39), "mkdir is 39 on i386");
    }

    #[test]
    fn empty_limits_give_no_prefix() {
        assert!(prefix(&[]).is_empty());
    }
}
