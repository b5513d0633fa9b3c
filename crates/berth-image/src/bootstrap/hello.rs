//! Berth's own hello-world program: a minimal static ELF64 executable written byte by byte, so
//! that a machine with no compiler, no registry and no network can still run a real image.
//!
//! The file is: the ELF header (64 bytes), two program headers (56 bytes each: one `PT_LOAD`
//! mapping the whole file read+execute at 0x400000, one `PT_GNU_STACK` asking for a
//! non-executable stack), the machine code (entry point right after the headers), the message.
//! The code is `write(1, message, len)` then `exit_group(0)`: two system calls, nothing else.

use super::elf::{EHDR64_SIZE, EM_AARCH64, EM_X86_64, PHDR64_SIZE, PT_GNU_STACK, PT_LOAD};

/// What `/hello` prints.
pub const HELLO_MESSAGE: &str = "\
Hello from Berth!

This greeting was printed by /hello, a program of a few hundred bytes that
Berth wrote out itself, instruction by instruction: no compiler, no registry
and no network were needed to make this image.

When you see it from a container, Berth has unpacked the image into a
copy-on-write filesystem, started /hello in fresh namespaces and passed its
output back to your terminal.
";

/// Where the file is mapped (page-aligned for 4 KiB and 64 KiB pages alike).
const BASE_VADDR: u64 = 0x40_0000;
/// The ELF header and the two program headers; the code starts right after them.
const HEADERS_SIZE: usize = EHDR64_SIZE + 2 * PHDR64_SIZE;

/// Linux system call numbers.
const X86_64_SYS_WRITE: u32 = 1;
const X86_64_SYS_EXIT_GROUP: u32 = 231;
const AARCH64_SYS_WRITE: u32 = 64;
const AARCH64_SYS_EXIT_GROUP: u32 = 94;

/// The hello-world program for `arch` (`x86_64`/`amd64` or `aarch64`/`arm64`), `None` for
/// other architectures. The output is the same on every machine.
pub fn hello_elf(arch: &str) -> Option<Vec<u8>> {
    let msg = HELLO_MESSAGE.as_bytes();
    let len = u32::try_from(msg.len()).ok()?;
    let entry = BASE_VADDR + HEADERS_SIZE as u64;
    let (machine, align, code) = match arch {
        "x86_64" | "amd64" => {
            let msg_addr = entry + X86_64_CODE_LEN as u64;
            (EM_X86_64, 0x1000, x86_64_code(msg_addr, len)?)
        }
        "aarch64" | "arm64" => {
            let msg_addr = entry + AARCH64_CODE_LEN as u64;
            (EM_AARCH64, 0x1_0000, aarch64_code(entry, msg_addr, len)?)
        }
        _ => return None,
    };
    let total = (HEADERS_SIZE + code.len() + msg.len()) as u64;

    let mut out = Vec::with_capacity(total as usize);
    // ---- ELF header (ELF64, little-endian) ----
    out.extend_from_slice(b"\x7fELF"); // EI_MAG0..3
    out.push(2); // EI_CLASS = ELFCLASS64
    out.push(1); // EI_DATA = ELFDATA2LSB
    out.push(1); // EI_VERSION = EV_CURRENT
    out.push(0); // EI_OSABI = ELFOSABI_SYSV
    out.extend_from_slice(&[0; 8]); // EI_ABIVERSION + padding up to 16 bytes
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
    out.extend_from_slice(&machine.to_le_bytes()); // e_machine
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version = EV_CURRENT
    out.extend_from_slice(&entry.to_le_bytes()); // e_entry
    out.extend_from_slice(&(EHDR64_SIZE as u64).to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no section headers
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&(EHDR64_SIZE as u16).to_le_bytes()); // e_ehsize
    out.extend_from_slice(&(PHDR64_SIZE as u16).to_le_bytes()); // e_phentsize
    out.extend_from_slice(&2u16.to_le_bytes()); // e_phnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx = SHN_UNDEF
    debug_assert_eq!(out.len(), EHDR64_SIZE);
    // ---- PT_LOAD: the whole file, read + execute ----
    push_phdr(&mut out, PT_LOAD, 0b101, 0, BASE_VADDR, total, align);
    // ---- PT_GNU_STACK: read + write, not executable ----
    push_phdr(&mut out, PT_GNU_STACK, 0b110, 0, 0, 0, 16);
    debug_assert_eq!(out.len(), HEADERS_SIZE);
    out.extend_from_slice(&code);
    out.extend_from_slice(msg);
    debug_assert_eq!(out.len() as u64, total);
    Some(out)
}

/// Appends one ELF64 program header (`p_flags`: 4 = R, 2 = W, 1 = X).
fn push_phdr(
    out: &mut Vec<u8>,
    typ: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    size: u64,
    align: u64,
) {
    out.extend_from_slice(&typ.to_le_bytes()); // p_type
    out.extend_from_slice(&flags.to_le_bytes()); // p_flags
    out.extend_from_slice(&offset.to_le_bytes()); // p_offset
    out.extend_from_slice(&vaddr.to_le_bytes()); // p_vaddr
    out.extend_from_slice(&vaddr.to_le_bytes()); // p_paddr
    out.extend_from_slice(&size.to_le_bytes()); // p_filesz
    out.extend_from_slice(&size.to_le_bytes()); // p_memsz
    out.extend_from_slice(&align.to_le_bytes()); // p_align
}

const X86_64_CODE_LEN: usize = 31;

/// x86-64: the Linux system call ABI takes the number in eax/rax and arguments in rdi, rsi, rdx;
/// writing a 32-bit register zero-extends into the 64-bit one, so 32-bit moves suffice (the
/// message lies below 4 GiB).
fn x86_64_code(msg_addr: u64, len: u32) -> Option<Vec<u8>> {
    let msg_addr = u32::try_from(msg_addr).ok()?;
    let mut c = Vec::with_capacity(X86_64_CODE_LEN);
    // mov edi, 1          B8+r id, r = 7 (edi): BF imm32      -- fd = stdout
    c.push(0xBF);
    c.extend_from_slice(&1u32.to_le_bytes());
    // mov esi, msg_addr   B8+r id, r = 6 (esi): BE imm32      -- buf
    c.push(0xBE);
    c.extend_from_slice(&msg_addr.to_le_bytes());
    // mov edx, len        B8+r id, r = 2 (edx): BA imm32      -- count
    c.push(0xBA);
    c.extend_from_slice(&len.to_le_bytes());
    // mov eax, 1          B8+r id, r = 0 (eax): B8 imm32      -- write(2)
    c.push(0xB8);
    c.extend_from_slice(&X86_64_SYS_WRITE.to_le_bytes());
    // syscall             0F 05
    c.extend_from_slice(&[0x0F, 0x05]);
    // xor edi, edi        31 /r, ModRM 11 111 111 = FF        -- status = 0
    c.extend_from_slice(&[0x31, 0xFF]);
    // mov eax, 231        B8 imm32                            -- exit_group(2)
    c.push(0xB8);
    c.extend_from_slice(&X86_64_SYS_EXIT_GROUP.to_le_bytes());
    // syscall             0F 05 (does not return)
    c.extend_from_slice(&[0x0F, 0x05]);
    debug_assert_eq!(c.len(), X86_64_CODE_LEN);
    Some(c)
}

const AARCH64_CODE_LEN: usize = 8 * 4;

/// `MOVZ Xd, #imm16` (64-bit, no shift): sf=1 opc=10 100101 hw=00 imm16 Rd
/// = 0xD2800000 | imm16 << 5 | Rd.
fn movz_x(rd: u32, imm16: u32) -> Option<u32> {
    (imm16 <= 0xFFFF && rd < 31).then_some(0xD280_0000 | (imm16 << 5) | rd)
}

/// `ADR Xd, pc + offset`: op=0 immlo(2 bits, 30:29) 10000 immhi(19 bits, 23:5) Rd
/// = 0x10000000 | immlo << 29 | immhi << 5 | Rd, offset a signed 21-bit byte count.
fn adr_x(rd: u32, offset: i64) -> Option<u32> {
    if !(-(1 << 20)..(1 << 20)).contains(&offset) || rd >= 31 {
        return None;
    }
    let imm = (offset as u32) & 0x1F_FFFF;
    Some(0x1000_0000 | ((imm & 0b11) << 29) | ((imm >> 2) << 5) | rd)
}

/// `SVC #0`: 11010100 000 imm16=0 000 01 = 0xD4000001. The Linux system call ABI takes the
/// number in x8 and arguments in x0, x1, x2.
const AARCH64_SVC_0: u32 = 0xD400_0001;

/// AArch64 (instructions are 32-bit little-endian words).
fn aarch64_code(entry: u64, msg_addr: u64, len: u32) -> Option<Vec<u8>> {
    // ADR is the second instruction: its pc is entry + 4.
    let adr_offset = i64::try_from(msg_addr).ok()? - i64::try_from(entry + 4).ok()?;
    let words = [
        movz_x(0, 1)?,                      // movz x0, #1        -- fd = stdout
        adr_x(1, adr_offset)?,              // adr  x1, message   -- buf
        movz_x(2, len)?,                    // movz x2, #len      -- count
        movz_x(8, AARCH64_SYS_WRITE)?,      // movz x8, #64       -- write(2)
        AARCH64_SVC_0,                      // svc  #0
        movz_x(0, 0)?,                      // movz x0, #0        -- status = 0
        movz_x(8, AARCH64_SYS_EXIT_GROUP)?, // movz x8, #94      -- exit_group(2)
        AARCH64_SVC_0,                      // svc  #0 (does not return)
    ];
    let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    debug_assert_eq!(code.len(), AARCH64_CODE_LEN);
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::super::elf::{self, ElfInfo};
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::{Command, Output};

    /// Runs `prog` (freshly written: retries while another thread's fork still holds a writable
    /// fd to it, which makes exec fail with ETXTBSY).
    fn run(cmd: &mut Command) -> Output {
        for _ in 0..100 {
            match cmd.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                r => return r.expect("run program"),
            }
        }
        panic!("program stayed busy (ETXTBSY)");
    }

    fn write_exec(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join("hello");
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn check_structure(bytes: &[u8], machine: u16) -> ElfInfo {
        let info = elf::parse(bytes).expect("valid ELF");
        assert!(info.is_64 && info.little_endian);
        assert_eq!(info.e_type, 2, "ET_EXEC");
        assert_eq!(info.machine, machine);
        assert_eq!(info.interp, None, "static");
        assert_eq!(info.entry, BASE_VADDR + HEADERS_SIZE as u64);
        let loads: Vec<_> = info.segments.iter().filter(|s| s.0 == PT_LOAD).collect();
        assert_eq!(loads.len(), 1);
        let (_, flags, offset, vaddr, filesz) = *loads[0];
        assert_eq!(flags, 0b101, "R+X");
        assert_eq!((offset, vaddr, filesz), (0, BASE_VADDR, bytes.len() as u64));
        assert_eq!(vaddr % 0x1_0000, 0);
        let stack = info.segments.iter().find(|s| s.0 == PT_GNU_STACK).unwrap();
        assert_eq!(stack.1 & 1, 0, "stack not executable");
        assert!(bytes.ends_with(HELLO_MESSAGE.as_bytes()));
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        info
    }

    #[test]
    fn unknown_arch_has_no_program() {
        assert_eq!(hello_elf("riscv64"), None);
        assert_eq!(hello_elf(""), None);
    }

    #[test]
    fn aliases_give_the_same_bytes() {
        assert_eq!(hello_elf("amd64"), hello_elf("x86_64"));
        assert_eq!(hello_elf("arm64"), hello_elf("aarch64"));
        assert_ne!(hello_elf("arm64"), hello_elf("amd64"));
    }

    #[test]
    fn x86_64_structure_and_run() {
        let bytes = hello_elf("amd64").unwrap();
        check_structure(&bytes, EM_X86_64);
        // The message address in `mov esi, imm32` points at the message.
        let at = HEADERS_SIZE + 6;
        let addr = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        let off = (addr - BASE_VADDR) as usize;
        assert_eq!(&bytes[off..], HELLO_MESSAGE.as_bytes());
        if std::env::consts::ARCH != "x86_64" {
            eprintln!("skip running: host is not x86_64");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let prog = write_exec(tmp.path(), &bytes);
        let out = run(&mut Command::new(&prog));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO_MESSAGE);
        assert!(out.stderr.is_empty());
    }

    #[test]
    fn aarch64_structure_and_run_if_possible() {
        let bytes = hello_elf("arm64").unwrap();
        check_structure(&bytes, EM_AARCH64);
        // Decode the ADR (second instruction) and check it points at the message.
        let at = HEADERS_SIZE + 4;
        let w = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(w & 0x9F00_0000, 0x1000_0000, "ADR opcode");
        assert_eq!(w & 0x1F, 1, "ADR x1");
        let imm = ((w >> 5) & 0x7_FFFF) << 2 | ((w >> 29) & 0b11);
        let target = (at as u64) + imm as u64;
        assert_eq!(&bytes[target as usize..], HELLO_MESSAGE.as_bytes());
        let emulator = ["qemu-aarch64", "qemu-aarch64-static"]
            .into_iter()
            .find(|q| {
                Command::new(q)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        let native = std::env::consts::ARCH == "aarch64";
        if emulator.is_none() && !native {
            eprintln!("skip running the arm64 program: no qemu-aarch64 here");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let prog = write_exec(tmp.path(), &bytes);
        let mut cmd = match emulator {
            Some(q) if !native => {
                let mut c = Command::new(q);
                c.arg(&prog);
                c
            }
            _ => Command::new(&prog),
        };
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO_MESSAGE);
    }

    #[test]
    fn adr_and_movz_encodings() {
        // Known encodings (checked against the ARM ARM): movz x0, #1 = d2800020;
        // movz x8, #64 = d2800808; adr x1, #+28 = 100000e1; adr x1, #-4 = 10ffffe1.
        assert_eq!(movz_x(0, 1), Some(0xD280_0020));
        assert_eq!(movz_x(8, 64), Some(0xD280_0808));
        assert_eq!(adr_x(1, 28), Some(0x1000_00E1));
        assert_eq!(adr_x(1, -4), Some(0x10FF_FFE1));
        assert_eq!(movz_x(0, 0x1_0000), None);
        assert_eq!(adr_x(1, 1 << 20), None);
    }
}
