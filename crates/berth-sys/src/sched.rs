//! Process attributes that nix does not wrap: the I/O priority (`ioprio_set`), the scheduling
//! policy (`sched_setattr`) and the execution domain (`personality`). All act on the calling
//! thread / process only.

use nix::errno::Errno;

/// `IOPRIO_WHO_PROCESS`: the `which` argument of `ioprio_set` for one process (0 = the caller).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// The class sits above the 13 bits of class data in an I/O priority value.
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// I/O scheduling class: real time (needs `CAP_SYS_ADMIN`).
pub const IOPRIO_CLASS_RT: i32 = 1;
/// I/O scheduling class: best effort (the default).
pub const IOPRIO_CLASS_BE: i32 = 2;
/// I/O scheduling class: idle.
pub const IOPRIO_CLASS_IDLE: i32 = 3;

/// Sets the calling process's I/O priority to `class` (one of `IOPRIO_CLASS_*`) and `level`
/// (0 highest ..= 7 lowest).
pub fn set_io_priority(class: i32, level: i32) -> Result<(), Errno> {
    let prio = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: ioprio_set takes three integers by value and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    Errno::result(ret).map(drop)
}

/// Reads the calling process's I/O priority as `(class, level)`.
pub fn io_priority() -> Result<(i32, i32), Errno> {
    // SAFETY: ioprio_get takes two integers by value and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    let prio = Errno::result(ret)? as i32;
    Ok((
        prio >> IOPRIO_CLASS_SHIFT,
        prio & ((1 << IOPRIO_CLASS_SHIFT) - 1),
    ))
}

/// The kernel's `struct sched_attr` (version 1, 56 bytes, with the utilisation clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    /// Size of this structure; set by [`sched_setattr`].
    pub size: u32,
    /// `SCHED_OTHER` (0), `SCHED_FIFO` (1), `SCHED_RR` (2), `SCHED_BATCH` (3), `SCHED_IDLE` (5),
    /// `SCHED_DEADLINE` (6).
    pub sched_policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub sched_flags: u64,
    /// Nice value for `SCHED_OTHER` and `SCHED_BATCH` (-20..=19).
    pub sched_nice: i32,
    /// Static priority for `SCHED_FIFO` and `SCHED_RR` (1..=99), else 0.
    pub sched_priority: u32,
    /// `SCHED_DEADLINE` runtime, in nanoseconds.
    pub sched_runtime: u64,
    /// `SCHED_DEADLINE` deadline, in nanoseconds.
    pub sched_deadline: u64,
    /// `SCHED_DEADLINE` period, in nanoseconds.
    pub sched_period: u64,
    /// Utilisation clamp minimum (with `SCHED_FLAG_UTIL_CLAMP_MIN`).
    pub sched_util_min: u32,
    /// Utilisation clamp maximum (with `SCHED_FLAG_UTIL_CLAMP_MAX`).
    pub sched_util_max: u32,
}

/// Sets the calling thread's scheduling policy and attributes (`sched_setattr(0, attr, 0)`).
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the pointer is to a live, initialised `struct sched_attr` whose `size` field says
    // how many bytes the kernel may read; pid 0 is the caller, flags must be 0.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(ret).map(drop)
}

/// Reads the calling thread's scheduling attributes (`sched_getattr`).
pub fn sched_getattr() -> Result<SchedAttr, Errno> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as libc::c_uint;
    // SAFETY: the pointer is to a live `struct sched_attr` of `size` bytes that the kernel fills;
    // pid 0 is the caller, flags must be 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            size,
            0,
        )
    };
    Errno::result(ret)?;
    Ok(attr)
}

/// `PER_LINUX`: the standard execution domain.
pub const PER_LINUX: u64 = 0x0000;
/// `PER_LINUX32`: 32-bit `uname -m` and address-space limits.
pub const PER_LINUX32: u64 = 0x0008;

/// Sets the calling process's execution domain; returns the previous persona.
pub fn set_personality(persona: u64) -> Result<u64, Errno> {
    // SAFETY: personality takes an integer by value and touches no memory of ours.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    Errno::result(ret).map(|old| old as u64)
}

/// Reads the calling process's persona (`personality(0xffffffff)`).
pub fn personality() -> Result<u64, Errno> {
    // SAFETY: 0xffffffff is the documented query value; no memory is touched.
    let ret = unsafe { libc::personality(0xffff_ffff) };
    Errno::result(ret).map(|p| p as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn reads_work_without_privileges() {
        let attr = sched_getattr().unwrap();
        assert_eq!(attr.size, 56);
        let (class, _) = io_priority().unwrap();
        assert!((0..=3).contains(&class));
        assert_eq!(personality().unwrap() & 0xff, PER_LINUX);
    }
}
