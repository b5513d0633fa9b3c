//! Process attributes that nix does not wrap: the I/O priority (`ioprio_set`), the scheduling
//! policy (`sched_setattr`) and the execution domain (`personality`), which act on the calling
//! thread / process only; and CPU placement hints for a parent and the child it starts
//! ([`ForkSpread`], [`separate_from`]).

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

/// The caller's CPU affinity, kept across a fork so that the new child can be started on
/// another CPU than its parent and then get the inherited affinity back.
///
/// The kernel often queues a forked child on its parent's CPU, and a parent that keeps working
/// (the runtime makes the cgroup while the init mounts its rootfs) then holds it off until it
/// sleeps or the next scheduler tick moves it: a millisecond or more of the two steps that were
/// meant to overlap. Moving the child to the other CPUs right after the fork (a queued task just
/// changes run queues) and letting it restore its own mask first thing avoids that.
#[derive(Debug, Clone)]
pub struct ForkSpread {
    inherited: nix::sched::CpuSet,
}

impl ForkSpread {
    /// Reads the caller's affinity; call before the fork. `None` when it cannot be read.
    pub fn before_fork() -> Option<ForkSpread> {
        let inherited = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
        Some(ForkSpread { inherited })
    }

    /// In the parent: lets `child` run anywhere the parent may but on the CPU the parent runs
    /// on now. Does nothing when that leaves no CPU. Best effort: a failure costs only time.
    pub fn move_child(&self, child: nix::unistd::Pid) {
        let Ok(here) = nix::sched::sched_getcpu() else {
            return;
        };
        if let Some(elsewhere) = without(self.inherited, here) {
            let _ = nix::sched::sched_setaffinity(child, &elsewhere);
        }
    }

    /// In the child, first thing: gives it back the affinity it inherited.
    pub fn restore_in_child(&self) {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.inherited);
    }
}

/// Makes sure the caller and its just-started `child` (which may have exec'd: it cannot be
/// asked to restore an affinity) do not wait for the same CPU: [`step_off_cpu`] with the CPU
/// the child is queued on (`/proc/<pid>/stat`). Best effort, as [`ForkSpread`].
pub fn separate_from(child: nix::unistd::Pid) {
    let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok();
    if let Some(cpu) = stat.as_deref().and_then(processor) {
        step_off_cpu(cpu);
    }
}

/// The CPU a process last ran or is queued on, from its `/proc/<pid>/stat` text (field 39).
pub fn processor(stat: &str) -> Option<usize> {
    crate::process::stat_field(stat, 39)?.parse().ok()
}

/// When the caller runs on `cpu`, where a process it keeps working beside is queued: moves
/// itself to its other CPUs and takes its own affinity back at once (a running task changes
/// CPUs through the kernel's migration thread: some µs). Best effort.
pub fn step_off_cpu(cpu: usize) {
    let me = nix::unistd::Pid::from_raw(0);
    if nix::sched::sched_getcpu().ok() != Some(cpu) {
        return;
    }
    let Ok(mine) = nix::sched::sched_getaffinity(me) else {
        return;
    };
    let Some(elsewhere) = without(mine, cpu) else {
        return;
    };
    if nix::sched::sched_setaffinity(me, &elsewhere).is_ok() {
        let _ = nix::sched::sched_setaffinity(me, &mine);
    }
}

/// `set` without `cpu`; `None` when nothing is left.
fn without(mut set: nix::sched::CpuSet, cpu: usize) -> Option<nix::sched::CpuSet> {
    set.unset(cpu).ok()?;
    (0..nix::sched::CpuSet::count())
        .any(|c| set.is_set(c).unwrap_or(false))
        .then_some(set)
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

    #[test]
    fn without_removes_one_cpu_and_refuses_to_leave_none() {
        let mut two = nix::sched::CpuSet::new();
        two.set(0).unwrap();
        two.set(3).unwrap();
        let left = without(two, 0).unwrap();
        assert!(!left.is_set(0).unwrap() && left.is_set(3).unwrap());
        assert!(without(left, 3).is_none());
        // A CPU not in the set: the set as it was.
        assert_eq!(without(two, 1), Some(two));
    }

    #[test]
    fn processor_reads_the_cpu_field() {
        let me = nix::unistd::Pid::this();
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let cpu = processor(&stat).unwrap();
        let allowed = nix::sched::sched_getaffinity(me).unwrap();
        assert!(
            allowed.is_set(cpu).unwrap(),
            "cpu {cpu} is not in our affinity"
        );
    }

    #[test]
    fn separate_from_keeps_the_affinity() {
        let me = nix::unistd::Pid::from_raw(0);
        let before = nix::sched::sched_getaffinity(me).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        separate_from(nix::unistd::Pid::from_raw(child.id() as i32));
        assert_eq!(nix::sched::sched_getaffinity(me).unwrap(), before);
        child.wait().unwrap();
    }

    #[test]
    fn fork_spread_moves_the_child_and_the_child_gets_its_mask_back() {
        let me = nix::unistd::Pid::from_raw(0);
        let inherited = nix::sched::sched_getaffinity(me).unwrap();
        let cpus = (0..nix::sched::CpuSet::count())
            .filter(|&c| inherited.is_set(c).unwrap())
            .count();
        let spread = ForkSpread::before_fork().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes async-signal-safe calls (sched_*, read, _exit).
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(w);
                // Wait until the parent has moved us, then report through the exit code.
                let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut [0u8; 1]);
                let moved = nix::sched::sched_getaffinity(me).unwrap();
                spread.restore_in_child();
                let back = nix::sched::sched_getaffinity(me).unwrap() == inherited;
                let code = if !back {
                    3
                } else if cpus > 1 && moved == inherited {
                    4
                } else {
                    0
                };
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(r);
                spread.move_child(child);
                drop(w);
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
