//! Device access rules: the v1 `devices.allow`/`devices.deny` lines and the v2 BPF program.
//!
//! Semantics (those of the v1 device controller, which the program reproduces): rules apply in
//! order and a later rule overrides an earlier one, per access bit. The program therefore scans
//! the rules from last to first and keeps the set of requested access bits not decided yet: a
//! matching allow rule decides its bits as allowed (all decided -> allow), a matching deny rule
//! that covers an undecided bit denies. Bits no rule decides get the default (deny on v2, like
//! runc; a wildcard rule makes the default unreachable anyway).

use berth_oci::oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use berth_sys::bpf::BpfInsn;

use crate::CgroupError;

/// Access bits as the kernel passes them to a device program (`BPF_DEVCG_ACC_*`).
pub(crate) const ACC_MKNOD: u8 = 1;
/// Read access.
pub(crate) const ACC_READ: u8 = 2;
/// Write access.
pub(crate) const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device types as the kernel passes them (`BPF_DEVCG_DEV_*`).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// What a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `a`: every device.
    All,
    /// `b`: block devices.
    Block,
    /// `c` (or `u`): character devices.
    Char,
}

/// One normalised device rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// `None` is the `*` wildcard.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u8,
}

impl Rule {
    /// Normalises an OCI rule; `None` for a rule the device controller cannot express
    /// (type `p`, FIFOs are not controlled).
    pub fn from_oci(r: &LinuxDeviceCgroup) -> Result<Option<Rule>, CgroupError> {
        let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => Kind::All,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::P => return Ok(None),
        };
        let number = |n: Option<i64>| -> Result<Option<u32>, CgroupError> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => u32::try_from(n)
                    .map(Some)
                    .map_err(|_| CgroupError::InvalidResource {
                        what: "devices",
                        reason: format!("device number {n} out of range"),
                    }),
            }
        };
        let access = match r.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(a) => {
                let mut bits = 0;
                for ch in a.chars() {
                    bits |= match ch {
                        'r' => ACC_READ,
                        'w' => ACC_WRITE,
                        'm' => ACC_MKNOD,
                        _ => {
                            return Err(CgroupError::InvalidResource {
                                what: "devices",
                                reason: format!("access {a:?} is not made of r, w and m"),
                            })
                        }
                    };
                }
                bits
            }
        };
        Ok(Some(Rule {
            allow: r.allow(),
            kind,
            major: number(r.major())?,
            minor: number(r.minor())?,
            access,
        }))
    }

    /// Normalises a list of OCI rules, dropping the inexpressible ones.
    pub fn from_oci_list(list: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            if let Some(rule) = Rule::from_oci(r)? {
                out.push(rule);
            }
        }
        Ok(out)
    }

    /// True if this rule matches every device.
    fn is_wildcard(&self) -> bool {
        self.kind == Kind::All && self.major.is_none() && self.minor.is_none()
    }

    /// The v1 line (`c 1:3 rwm`) and the file it goes to.
    pub fn v1_line(&self) -> (&'static str, String) {
        let file = if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        let kind = match self.kind {
            Kind::All => 'a',
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let mut acc = String::with_capacity(3);
        for (bit, ch) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(ch);
            }
        }
        (
            file,
            format!("{kind} {}:{} {acc}", num(self.major), num(self.minor)),
        )
    }
}

// eBPF opcodes used by the generated programs.
const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

// Registers: r1 = context, r2 = type, r3 = access, r4 = major, r5 = minor,
// r6 = requested bits not decided yet, r7 = scratch, r0 = verdict.
fn ret(verdict: i32) -> [BpfInsn; 2] {
    [
        BpfInsn::new(ALU64_MOV_K, 0, 0, 0, verdict),
        BpfInsn::new(JMP_EXIT, 0, 0, 0, 0),
    ]
}

/// Builds a `BPF_PROG_TYPE_CGROUP_DEVICE` program enforcing `rules` (see the module doc).
pub(crate) fn program(rules: &[Rule], default_allow: bool) -> Vec<BpfInsn> {
    let mut insns = vec![
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
        BpfInsn::new(LDX_MEM_W, 2, 1, 0, 0),
        BpfInsn::new(ALU64_AND_K, 2, 0, 0, 0xffff),
        BpfInsn::new(LDX_MEM_W, 3, 1, 0, 0),
        BpfInsn::new(ALU64_RSH_K, 3, 0, 0, 16),
        BpfInsn::new(LDX_MEM_W, 4, 1, 4, 0),
        BpfInsn::new(LDX_MEM_W, 5, 1, 8, 0),
        BpfInsn::new(ALU64_MOV_X, 6, 3, 0, 0),
    ];
    for rule in rules.iter().rev() {
        // The action when the rule matches.
        let mut body: Vec<BpfInsn> = Vec::with_capacity(5);
        match (rule.allow, rule.access == ACC_ALL) {
            (true, true) => body.extend(ret(1)),
            (false, true) => body.extend(ret(0)),
            (true, false) => {
                body.push(BpfInsn::new(ALU64_AND_K, 6, 0, 0, !i32::from(rule.access)));
                body.push(BpfInsn::new(JMP_JNE_K, 6, 0, 2, 0));
                body.extend(ret(1));
            }
            (false, false) => {
                body.push(BpfInsn::new(ALU64_MOV_X, 7, 6, 0, 0));
                body.push(BpfInsn::new(ALU64_AND_K, 7, 0, 0, i32::from(rule.access)));
                body.push(BpfInsn::new(JMP_JEQ_K, 7, 0, 2, 0));
                body.extend(ret(0));
            }
        }
        // The tests, each jumping past the rest of the block when it fails.
        let mut tests: Vec<(u8, i32)> = Vec::with_capacity(3);
        match rule.kind {
            Kind::All => {}
            Kind::Block => tests.push((2, DEV_BLOCK)),
            Kind::Char => tests.push((2, DEV_CHAR)),
        }
        if let Some(m) = rule.major {
            tests.push((4, m as i32));
        }
        if let Some(m) = rule.minor {
            tests.push((5, m as i32));
        }
        let n = tests.len();
        for (i, (reg, value)) in tests.into_iter().enumerate() {
            let skip = (n - i - 1 + body.len()) as i16;
            insns.push(BpfInsn::new(JMP_JNE_K, reg, 0, skip, value));
        }
        insns.extend(body);
        if rule.is_wildcard() && rule.access == ACC_ALL {
            // Matches everything and decides everything: earlier rules are unreachable.
            return insns;
        }
    }
    insns.extend(ret(i32::from(default_allow)));
    insns
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use berth_oci::oci_spec::runtime::LinuxDeviceCgroupBuilder;

    /// A tiny interpreter for exactly the instructions [`program`] emits.
    pub(crate) fn run(prog: &[BpfInsn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (d, s) = (i.dst() as usize, i.src() as usize);
            let imm = i64::from(i.imm) as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1);
                    r[d] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU64_AND_K => r[d] &= imm,
                ALU64_RSH_K => r[d] >>= imm,
                ALU64_MOV_K => r[d] = imm,
                ALU64_MOV_X => r[d] = r[s],
                JMP_JEQ_K => {
                    if r[d] == imm {
                        pc += i.off as usize;
                    }
                }
                JMP_JNE_K => {
                    if r[d] != imm {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(acc);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;
    const CHR: u32 = DEV_CHAR as u32;
    const BLK: u32 = DEV_BLOCK as u32;

    #[test]
    fn default_docker_like_rules() {
        use LinuxDeviceType::*;
        let rules = Rule::from_oci_list(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(1), Some(3), "rwm"),
            rule(true, C, Some(1), Some(5), "rwm"),
            rule(true, C, None, None, "m"),
            rule(true, B, None, None, "m"),
            rule(true, C, Some(136), None, "rwm"),
            rule(false, C, Some(1), Some(5), "w"),
        ])
        .unwrap();
        let p = program(&rules, false);
        assert_eq!(run(&p, CHR, R | W, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, CHR, R | W, 1, 4), 0, "an unlisted char device");
        assert_eq!(run(&p, CHR, M, 10, 200), 1, "mknod of any char device");
        assert_eq!(run(&p, BLK, M, 8, 0), 1, "mknod of any block device");
        assert_eq!(run(&p, BLK, R, 8, 0), 0, "reading a block device");
        assert_eq!(run(&p, CHR, R | W, 136, 7), 1, "any pty");
        assert_eq!(run(&p, CHR, R, 1, 5), 1, "/dev/zero read");
        assert_eq!(
            run(&p, CHR, R | W, 1, 5),
            0,
            "/dev/zero write denied by the last rule"
        );
        assert_eq!(
            run(&p, CHR, R | M, 1, 4),
            0,
            "read of an unlisted device, with mknod"
        );
    }

    #[test]
    fn access_bits_combine_across_rules() {
        use LinuxDeviceType::*;
        let rules = Rule::from_oci_list(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(1), Some(3), "r"),
            rule(true, C, Some(1), Some(3), "w"),
        ])
        .unwrap();
        let p = program(&rules, false);
        assert_eq!(run(&p, CHR, R | W, 1, 3), 1);
        assert_eq!(run(&p, CHR, R | W | M, 1, 3), 0);
    }

    #[test]
    fn wildcards_and_defaults() {
        use LinuxDeviceType::*;
        let allow_all = Rule::from_oci_list(&[rule(true, A, None, None, "rwm")]).unwrap();
        let p = program(&allow_all, false);
        assert_eq!(p.len(), 9, "prologue + return 1");
        assert_eq!(run(&p, BLK, R | W | M, 8, 1), 1);

        let deny_some = Rule::from_oci_list(&[rule(false, B, Some(8), None, "w")]).unwrap();
        let p = program(&deny_some, true);
        assert_eq!(run(&p, BLK, W, 8, 1), 0);
        assert_eq!(run(&p, BLK, R, 8, 1), 1);
        assert_eq!(run(&p, CHR, W, 8, 1), 1);
        assert_eq!(run(&program(&[], false), CHR, R, 1, 3), 0);
        assert_eq!(run(&program(&[], true), CHR, R, 1, 3), 1);
    }

    #[test]
    fn v1_lines_and_normalisation() {
        use LinuxDeviceType::*;
        let r = Rule::from_oci(&rule(true, C, Some(1), Some(3), "mwr"))
            .unwrap()
            .unwrap();
        assert_eq!(r.v1_line(), ("devices.allow", "c 1:3 rwm".to_owned()));
        let r = Rule::from_oci(&rule(false, A, None, None, "rwm"))
            .unwrap()
            .unwrap();
        assert_eq!(r.v1_line(), ("devices.deny", "a *:* rwm".to_owned()));
        let r = Rule::from_oci(&rule(true, U, Some(-1), Some(2), ""))
            .unwrap()
            .unwrap();
        assert_eq!(r.v1_line(), ("devices.allow", "c *:2 rwm".to_owned()));
        assert!(Rule::from_oci(&rule(true, P, None, None, "r"))
            .unwrap()
            .is_none());
        assert!(Rule::from_oci(&rule(true, C, None, None, "x")).is_err());
    }
}
