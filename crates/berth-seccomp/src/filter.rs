//! [`CompiledFilter`]: a BPF program plus its install flags, serialisable for the cache and
//! installable in a freshly cloned child.

use std::os::fd::OwnedFd;

use berth_sys::seccomp::{self as sys, SockFilter};
use sha2::{Digest, Sha256};

use crate::error::SeccompError;

/// First bytes of a serialised filter: name and format version.
const MAGIC: &[u8; 8] = b"BSECBPF1";
/// Magic, flags (u32), instruction count (u32).
const HEADER_LEN: usize = 16;
/// SHA-256 of everything before it.
const TRAILER_LEN: usize = 32;

/// A compiled seccomp filter: the classic BPF program (`struct sock_filter` array) and the
/// `SECCOMP_FILTER_FLAG_*` bits to install it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledFilter {
    program: Vec<SockFilter>,
    flags: u32,
}

impl CompiledFilter {
    /// Wraps a program; fails if it is empty or longer than the kernel accepts.
    pub fn new(program: Vec<SockFilter>, flags: u32) -> Result<Self, SeccompError> {
        if program.is_empty() || program.len() > sys::MAX_INSTRUCTIONS {
            return Err(SeccompError::Export {
                reason: format!(
                    "the program has {} instructions, the kernel takes 1..={}",
                    program.len(),
                    sys::MAX_INSTRUCTIONS
                ),
            });
        }
        if flags & !sys::KNOWN_FLAGS != 0 {
            return Err(SeccompError::Export {
                reason: format!("unknown filter flags {flags:#x}"),
            });
        }
        Ok(CompiledFilter { program, flags })
    }

    /// The BPF instructions.
    pub fn program(&self) -> &[SockFilter] {
        &self.program
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits passed to `seccomp(2)`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// True when the filter holds `SCMP_ACT_NOTIFY` rules: install it with
    /// [`install_with_listener`](Self::install_with_listener).
    pub fn needs_listener(&self) -> bool {
        self.flags & sys::FLAG_NEW_LISTENER != 0
    }

    /// Runs the filter on `data` in user space and returns the `SECCOMP_RET_*` action the
    /// kernel would take (see [`crate::simulate`]).
    pub fn simulate(
        &self,
        data: &crate::simulate::SeccompData,
    ) -> Result<u32, crate::simulate::SimulateError> {
        crate::simulate::run(&self.program, data)
    }

    /// Serialises the filter: magic, flags, count, instructions (little-endian), SHA-256.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_LEN + self.program.len() * sys::INSTRUCTION_SIZE + TRAILER_LEN,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.flags.to_le_bytes());
        // Fits: at most MAX_INSTRUCTIONS (checked in `new`).
        out.extend_from_slice(&(self.program.len() as u32).to_le_bytes());
        for insn in &self.program {
            out.extend_from_slice(&insn.code.to_le_bytes());
            out.push(insn.jt);
            out.push(insn.jf);
            out.extend_from_slice(&insn.k.to_le_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads bytes written by [`to_bytes`](Self::to_bytes), checking every part: a short,
    /// truncated or altered input is an error, never a wrong filter.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SeccompError> {
        let corrupt = |reason| SeccompError::Corrupt { reason };
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt("shorter than header and checksum"));
        }
        if &bytes[..8] != MAGIC {
            return Err(corrupt("bad magic or format version"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - TRAILER_LEN);
        if Sha256::digest(body).as_slice() != sum {
            return Err(corrupt("checksum mismatch"));
        }
        let flags = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
        let count = u32::from_le_bytes(body[12..16].try_into().expect("4 bytes")) as usize;
        let insns = &body[HEADER_LEN..];
        if insns.len() != count * sys::INSTRUCTION_SIZE {
            return Err(corrupt("instruction count does not match the length"));
        }
        let program = insns
            .chunks_exact(sys::INSTRUCTION_SIZE)
            .map(|c| SockFilter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        CompiledFilter::new(program, flags).map_err(|_| corrupt("bad program length or flags"))
    }

    /// Installs the filter on the calling thread (on every thread with `SECCOMP_FILTER_FLAG_TSYNC`).
    ///
    /// One system call, no allocation, no libseccomp: safe to call in a freshly cloned child right
    /// before `execve`. The thread must have `no_new_privs` set or hold `CAP_SYS_ADMIN`.
    /// A filter with `SCMP_ACT_NOTIFY` rules is refused with [`SeccompError::ListenerRequired`].
    pub fn install(&self) -> Result<(), SeccompError> {
        if self.needs_listener() {
            return Err(SeccompError::ListenerRequired);
        }
        sys::install_filter(&self.program, self.flags)?;
        Ok(())
    }

    /// Like [`install`](Self::install), and returns the seccomp user-notification fd when the
    /// filter has `SCMP_ACT_NOTIFY` rules. The caller hands it to the agent listening on
    /// `linux.seccomp.listenerPath` (see [`crate::notify`]).
    pub fn install_with_listener(&self) -> Result<Option<OwnedFd>, SeccompError> {
        Ok(sys::install_filter(&self.program, self.flags)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CompiledFilter {
        let program = vec![
            SockFilter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 4,
            },
            SockFilter {
                code: 0x15,
                jt: 1,
                jf: 0,
                k: 0xc000_003e,
            },
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0x7fff_0000,
            },
        ];
        CompiledFilter::new(program, sys::FLAG_LOG).unwrap()
    }

    #[test]
    fn bytes_round_trip() {
        let f = sample();
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN + 3 * 8 + TRAILER_LEN);
        assert_eq!(CompiledFilter::from_bytes(&bytes).unwrap(), f);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                CompiledFilter::from_bytes(&bytes[..len]).is_err(),
                "accepted {len} bytes"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let bytes = sample().to_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                CompiledFilter::from_bytes(&bad).is_err(),
                "accepted a flip at {i}"
            );
        }
    }

    #[test]
    fn empty_program_is_refused() {
        assert!(CompiledFilter::new(Vec::new(), 0).is_err());
        assert!(CompiledFilter::new(vec![SockFilter::default()], 1 << 30).is_err());
    }
}
