//! A classic-BPF interpreter for seccomp programs: runs a compiled filter on a given syscall in
//! user space and returns the action the kernel would take. For tests and diagnostics
//! (`why does this syscall fail in my container?`), never on the install path.

use berth_sys::seccomp::SockFilter;

/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD`.
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
/// `SECCOMP_RET_TRAP`.
pub const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO` (low 16 bits: the errno).
pub const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE` (low 16 bits: the value for the tracer).
pub const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_LOG`.
pub const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// `AUDIT_ARCH_X86_64` (x32 syscalls use it too, with bit 30 set in the number).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// `AUDIT_ARCH_ARM`.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// `__X32_SYSCALL_BIT`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// What the kernel hands a seccomp filter (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// System call number.
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the calling convention.
    pub arch: u32,
    /// Instruction pointer.
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    /// A call of `nr` on `arch` with `args` (missing ones are zero).
    pub fn new(arch: u32, nr: u32, args: &[u64]) -> Self {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args: all,
        }
    }

    /// The 32-bit word at byte `offset`, as a `BPF_LD|BPF_W|BPF_ABS` load sees it.
    fn word(&self, offset: u32) -> Option<u32> {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        bytes[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let o = offset as usize;
        if o & 3 != 0 || o + 4 > bytes.len() {
            return None;
        }
        Some(u32::from_ne_bytes([
            bytes[o],
            bytes[o + 1],
            bytes[o + 2],
            bytes[o + 3],
        ]))
    }
}

/// Why a program could not be run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    /// An opcode outside classic BPF's seccomp subset.
    #[error("instruction {pc}: unsupported opcode {code:#06x}")]
    Opcode {
        /// Index of the instruction.
        pc: usize,
        /// Its opcode.
        code: u16,
    },
    /// A load outside `struct seccomp_data`, a jump past the end, a division by zero.
    #[error("instruction {pc}: {reason}")]
    Fault {
        /// Index of the instruction.
        pc: usize,
        /// What went wrong.
        reason: &'static str,
    },
}

/// Runs `program` on `data` and returns the `SECCOMP_RET_*` value it produces.
pub fn run(program: &[SockFilter], data: &SeccompData) -> Result<u32, SimulateError> {
    execute(program, data, &mut false)
}

/// Like [`run`], and also says whether the program read more of `data` than the call's number
/// and arch (its arguments or instruction pointer): when it did not, the answer holds for every
/// call of that number.
pub fn run_reading(
    program: &[SockFilter],
    data: &SeccompData,
) -> Result<(u32, bool), SimulateError> {
    let mut read_more = false;
    let action = execute(program, data, &mut read_more)?;
    Ok((action, read_more))
}

/// Offset of `instruction_pointer` in `struct seccomp_data`: loads from here on read more than
/// the number and arch.
const AFTER_NR_AND_ARCH: u32 = 8;

fn execute(
    program: &[SockFilter],
    data: &SeccompData,
    read_more: &mut bool,
) -> Result<u32, SimulateError> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let fault = |pc, reason| SimulateError::Fault { pc, reason };
    loop {
        let insn = program
            .get(pc)
            .ok_or(fault(pc, "ran past the end of the program"))?;
        let k = insn.k;
        let src = if insn.code & 0x08 != 0 { x } else { k };
        let mut next = pc + 1;
        match insn.code & 0x07 {
            // BPF_LD
            0x00 => match insn.code & 0xe0 {
                0x20 => {
                    *read_more |= k >= AFTER_NR_AND_ARCH;
                    a = data.word(k).ok_or(fault(pc, "load outside seccomp_data"))?
                }
                0x00 => a = k,
                0x60 => a = *mem.get(k as usize).ok_or(fault(pc, "bad scratch slot"))?,
                0x80 => a = 64, // BPF_LEN: sizeof(struct seccomp_data)
                _ => {
                    return Err(SimulateError::Opcode {
                        pc,
                        code: insn.code,
                    })
                }
            },
            // BPF_LDX
            0x01 => match insn.code & 0xe0 {
                0x00 => x = k,
                0x60 => x = *mem.get(k as usize).ok_or(fault(pc, "bad scratch slot"))?,
                0x80 => x = 64,
                _ => {
                    return Err(SimulateError::Opcode {
                        pc,
                        code: insn.code,
                    })
                }
            },
            // BPF_ST, BPF_STX
            0x02 => {
                *mem.get_mut(k as usize)
                    .ok_or(fault(pc, "bad scratch slot"))? = a
            }
            0x03 => {
                *mem.get_mut(k as usize)
                    .ok_or(fault(pc, "bad scratch slot"))? = x
            }
            // BPF_ALU
            0x04 => {
                a = match insn.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).ok_or(fault(pc, "division by zero"))?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).ok_or(fault(pc, "division by zero"))?,
                    0xa0 => a ^ src,
                    _ => {
                        return Err(SimulateError::Opcode {
                            pc,
                            code: insn.code,
                        })
                    }
                }
            }
            // BPF_JMP
            0x05 => {
                let op = insn.code & 0xf0;
                if op == 0x00 {
                    next = pc + 1 + k as usize;
                } else {
                    let taken = match op {
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        _ => {
                            return Err(SimulateError::Opcode {
                                pc,
                                code: insn.code,
                            })
                        }
                    };
                    next = pc + 1 + usize::from(if taken { insn.jt } else { insn.jf });
                }
            }
            // BPF_RET
            0x06 => {
                return Ok(match insn.code & 0x18 {
                    0x00 => k,
                    0x10 => a,
                    _ => {
                        return Err(SimulateError::Opcode {
                            pc,
                            code: insn.code,
                        })
                    }
                })
            }
            // BPF_MISC: TAX, TXA
            0x07 => match insn.code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => {
                    return Err(SimulateError::Opcode {
                        pc,
                        code: insn.code,
                    })
                }
            },
            _ => unreachable!("three-bit class"),
        }
        if next <= pc {
            return Err(fault(pc, "backward jump"));
        }
        pc = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    #[test]
    fn runs_a_hand_written_filter() {
        // if nr == 83 { ERRNO(1) } else { ALLOW }
        let prog = [
            insn(0x20, 0, 0, 0),
            insn(0x15, 0, 1, 83),
            insn(0x06, 0, 0, RET_ERRNO | 1),
            insn(0x06, 0, 0, RET_ALLOW),
        ];
        let data = |nr| SeccompData::new(AUDIT_ARCH_X86_64, nr, &[]);
        assert_eq!(run(&prog, &data(83)), Ok(RET_ERRNO | 1));
        assert_eq!(run(&prog, &data(84)), Ok(RET_ALLOW));
    }

    #[test]
    fn reads_argument_halves() {
        // Return the high half of args[1].
        let prog = [insn(0x20, 0, 0, 28), insn(0x16, 0, 0, 0)];
        let data = SeccompData::new(0, 0, &[0, 0x1234_5678_0000_0000]);
        assert_eq!(run(&prog, &data), Ok(0x1234_5678));
    }

    #[test]
    fn faults_are_reported() {
        assert!(run(&[insn(0x20, 0, 0, 2)], &SeccompData::default()).is_err());
        assert!(run(&[insn(0x20, 0, 0, 0)], &SeccompData::default()).is_err());
        assert!(run(&[], &SeccompData::default()).is_err());
    }
}
