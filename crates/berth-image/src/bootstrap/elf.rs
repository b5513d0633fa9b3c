//! Just enough of the ELF format (System V ABI, "ELF-64 Object File Format") to write the
//! hello-world program and to check that a given binary is a static executable and for which CPU.

/// `e_machine` of x86-64.
pub(crate) const EM_X86_64: u16 = 62;
/// `e_machine` of AArch64.
pub(crate) const EM_AARCH64: u16 = 183;
/// Program header type of a loadable segment.
pub(crate) const PT_LOAD: u32 = 1;
/// Program header type naming the dynamic loader.
pub(crate) const PT_INTERP: u32 = 3;
/// Program header type whose flags give the stack's permissions.
pub(crate) const PT_GNU_STACK: u32 = 0x6474_e551;
/// Size of an ELF64 file header.
pub(crate) const EHDR64_SIZE: usize = 64;
/// Size of an ELF64 program header.
pub(crate) const PHDR64_SIZE: usize = 56;

/// What Berth needs to know about an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfInfo {
    /// ELFCLASS64 (else 32-bit).
    pub is_64: bool,
    /// ELFDATA2LSB (else big-endian).
    pub little_endian: bool,
    /// `e_type` (2 = executable, 3 = shared object / PIE).
    pub e_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_entry`.
    pub entry: u64,
    /// `(p_type, p_flags, p_offset, p_vaddr, p_filesz)` of each program header.
    pub segments: Vec<(u32, u32, u64, u64, u64)>,
    /// The dynamic loader named by `PT_INTERP`, if any: a dynamically linked program.
    pub interp: Option<String>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&self, off: u64) -> Option<[u8; N]> {
        let off = usize::try_from(off).ok()?;
        self.bytes.get(off..off.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, off: u64) -> Option<u16> {
        let b = self.take::<2>(off)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, off: u64) -> Option<u32> {
        let b = self.take::<4>(off)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(&self, off: u64) -> Option<u64> {
        let b = self.take::<8>(off)?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// A 32-bit or 64-bit address-sized field.
    fn addr(&self, off: u64, is_64: bool) -> Option<u64> {
        if is_64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }
}

/// Parses the file header and program headers of an ELF file; `None` when `bytes` is not a
/// well-formed ELF file.
pub(crate) fn parse(bytes: &[u8]) -> Option<ElfInfo> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let is_64 = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match bytes.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let r = Reader { bytes, little };
    let e_type = r.u16(16)?;
    let machine = r.u16(18)?;
    let entry = r.addr(24, is_64)?;
    // Offsets of e_phoff, e_phentsize, e_phnum differ between the two classes.
    let (phoff, phentsize, phnum) = if is_64 {
        (r.u64(32)?, r.u16(54)?, r.u16(56)?)
    } else {
        (u64::from(r.u32(28)?), r.u16(42)?, r.u16(44)?)
    };
    let mut segments = Vec::with_capacity(usize::from(phnum));
    let mut interp = None;
    for i in 0..u64::from(phnum) {
        let ph = phoff.checked_add(i.checked_mul(u64::from(phentsize))?)?;
        // ELF64: type, flags, offset, vaddr, paddr, filesz; ELF32: type, offset, vaddr, paddr,
        // filesz, memsz, flags.
        let seg = if is_64 {
            (
                r.u32(ph)?,
                r.u32(ph + 4)?,
                r.u64(ph + 8)?,
                r.u64(ph + 16)?,
                r.u64(ph + 32)?,
            )
        } else {
            (
                r.u32(ph)?,
                r.u32(ph + 24)?,
                u64::from(r.u32(ph + 4)?),
                u64::from(r.u32(ph + 8)?),
                u64::from(r.u32(ph + 16)?),
            )
        };
        if seg.0 == PT_INTERP {
            let start = usize::try_from(seg.2).ok()?;
            let end = start.checked_add(usize::try_from(seg.4).ok()?)?;
            let raw = bytes.get(start..end)?;
            let raw = raw.split(|&c| c == 0).next().unwrap_or_default();
            interp = Some(String::from_utf8_lossy(raw).into_owned());
        }
        segments.push(seg);
    }
    Some(ElfInfo {
        is_64,
        little_endian: little,
        e_type,
        machine,
        entry,
        segments,
        interp,
    })
}

/// The Go architecture name (as in image configs) of an ELF machine, before normalisation.
pub(crate) fn go_arch(info: &ElfInfo) -> Option<&'static str> {
    Some(match (info.machine, info.is_64, info.little_endian) {
        (EM_X86_64, true, _) => "amd64",
        (3, false, _) => "386",
        (EM_AARCH64, true, _) => "arm64",
        (40, false, true) => "arm",
        (243, true, _) => "riscv64",
        (21, true, true) => "ppc64le",
        (21, true, false) => "ppc64",
        (22, true, _) => "s390x",
        (258, true, _) => "loong64",
        (8, false, true) => "mipsle",
        (8, false, false) => "mips",
        (8, true, true) => "mips64le",
        (8, true, false) => "mips64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_truncated() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(parse(b"\x7fELF\x02\x01\x01"), None);
    }

    #[test]
    fn reads_a_static_host_binary() {
        // Debian's busybox-static, when installed: static, so no PT_INTERP.
        let Ok(bytes) = std::fs::read("/bin/busybox") else {
            eprintln!("skip: no /bin/busybox");
            return;
        };
        let info = parse(&bytes).expect("busybox is ELF");
        if info.interp.is_none() {
            assert!(info.segments.iter().any(|s| s.0 == PT_LOAD));
        }
    }

    #[test]
    fn reads_a_dynamic_host_binary() {
        let bytes = std::fs::read("/bin/ls").expect("read /bin/ls");
        let info = parse(&bytes).expect("ls is ELF");
        let interp = info.interp.expect("ls is dynamically linked");
        assert!(interp.starts_with('/') && interp.contains("ld"), "{interp}");
        let host = berth_oci::Platform::host();
        assert_eq!(
            go_arch(&parse(&bytes).unwrap()),
            Some(host.architecture.as_str())
        );
    }
}
