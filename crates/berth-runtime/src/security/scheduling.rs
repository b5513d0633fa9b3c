//! runtime-spec 1.2 process attributes: `process.ioPriority`, `process.scheduler` and
//! `linux.personality`. Each is validated first so that a bad value is reported by name rather
//! than as a bare EINVAL.

use berth_oci::oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Scheduler,
};
use berth_sys::sched::{self as sys, SchedAttr};

use super::SecurityError;

/// Sets the I/O priority (`ioprio_set`). The RT class needs `CAP_SYS_ADMIN`; the level must be
/// 0 (highest) ..= 7 (lowest).
pub fn set_io_priority(prio: &LinuxIOPriority) -> Result<(), SecurityError> {
    let fail = |reason: String| SecurityError::IoPriority {
        class: prio.class().to_string(),
        priority: prio.priority(),
        reason,
    };
    let class = match prio.class() {
        IOPriorityClass::IoprioClassRt => sys::IOPRIO_CLASS_RT,
        IOPriorityClass::IoprioClassBe => sys::IOPRIO_CLASS_BE,
        IOPriorityClass::IoprioClassIdle => sys::IOPRIO_CLASS_IDLE,
    };
    let level = i32::try_from(prio.priority())
        .ok()
        .filter(|l| (0..=7).contains(l))
        .ok_or_else(|| fail("the level must be between 0 and 7".into()))?;
    sys::set_io_priority(class, level).map_err(|e| fail(e.to_string()))
}

fn policy_number(policy: LinuxSchedulerPolicy) -> Option<u32> {
    Some(match policy {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => return None,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    })
}

fn flag_bit(flag: LinuxSchedulerFlag) -> u64 {
    let bit = match flag {
        LinuxSchedulerFlag::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
        LinuxSchedulerFlag::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
        LinuxSchedulerFlag::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
        LinuxSchedulerFlag::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
    };
    bit as u64
}

/// Builds the kernel's `sched_attr` for `sched`, checking the ranges the spec gives.
pub(crate) fn sched_attr(sched: &Scheduler) -> Result<SchedAttr, String> {
    let policy = *sched.policy();
    let number = policy_number(policy).ok_or("SCHED_ISO is not implemented by Linux")?;
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let priority = sched.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(format!("priority {priority} must be between 1 and 99"));
    }
    if !realtime && priority != 0 {
        return Err(format!(
            "priority {priority} is only for SCHED_FIFO and SCHED_RR"
        ));
    }
    let nice = sched.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(format!("nice {nice} must be between -20 and 19"));
    }
    let deadline = policy == LinuxSchedulerPolicy::SchedDeadline;
    let (runtime, dl, period) = (
        sched.runtime().unwrap_or(0),
        sched.deadline().unwrap_or(0),
        sched.period().unwrap_or(0),
    );
    if !deadline && (runtime, dl, period) != (0, 0, 0) {
        return Err("runtime, deadline and period are only for SCHED_DEADLINE".into());
    }
    Ok(SchedAttr {
        sched_policy: number,
        sched_flags: sched.flags().iter().flatten().map(|f| flag_bit(*f)).sum(),
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: runtime,
        sched_deadline: dl,
        sched_period: period,
        ..SchedAttr::default()
    })
}

/// Sets the scheduling policy and attributes (`sched_setattr`). Real-time policies and negative
/// nice values need `CAP_SYS_NICE`.
pub fn set_scheduler(sched: &Scheduler) -> Result<(), SecurityError> {
    let fail = |reason: String| SecurityError::Scheduler {
        policy: sched.policy().to_string(),
        reason,
    };
    let attr = sched_attr(sched).map_err(fail)?;
    sys::sched_setattr(&attr).map_err(|e| fail(e.to_string()))
}

/// Sets the execution domain (`linux.personality`): `LINUX` or `LINUX32`. The spec defines no
/// flags yet, so any flag is refused.
pub fn set_personality(personality: &LinuxPersonality) -> Result<(), SecurityError> {
    let fail = |reason: String| SecurityError::Personality {
        domain: personality.domain().to_string(),
        reason,
    };
    if let Some(flag) = personality.flags().iter().flatten().next() {
        return Err(fail(format!("unknown flag {flag:?}")));
    }
    let persona = match personality.domain() {
        LinuxPersonalityDomain::PerLinux => sys::PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => sys::PER_LINUX32,
    };
    sys::set_personality(persona)
        .map(drop)
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn builds_attributes_per_policy() {
        let a = sched_attr(&sched(r#"{"policy":"SCHED_BATCH","nice":5}"#)).unwrap();
        assert_eq!((a.sched_policy, a.sched_nice), (3, 5));
        let a = sched_attr(&sched(
            r#"{"policy":"SCHED_FIFO","priority":10,"flags":["SCHED_RESET_ON_FORK"]}"#,
        ))
        .unwrap();
        assert_eq!(
            (a.sched_policy, a.sched_priority, a.sched_flags),
            (1, 10, 1)
        );
        let a = sched_attr(&sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":10000000,"deadline":20000000,"period":30000000}"#,
        ))
        .unwrap();
        assert_eq!(a.sched_policy, 6);
        assert_eq!(a.sched_period, 30_000_000);
    }

    #[test]
    fn refuses_out_of_range_values() {
        for bad in [
            r#"{"policy":"SCHED_FIFO"}"#,
            r#"{"policy":"SCHED_RR","priority":100}"#,
            r#"{"policy":"SCHED_OTHER","priority":1}"#,
            r#"{"policy":"SCHED_OTHER","nice":20}"#,
            r#"{"policy":"SCHED_OTHER","runtime":5}"#,
            r#"{"policy":"SCHED_ISO"}"#,
        ] {
            assert!(sched_attr(&sched(bad)).is_err(), "{bad}");
        }
        let err = set_scheduler(&sched(r#"{"policy":"SCHED_OTHER","nice":-21}"#)).unwrap_err();
        assert!(err.to_string().contains("SCHED_OTHER"), "{err}");
    }

    #[test]
    fn io_priority_level_is_checked_and_named() {
        let prio: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#).unwrap();
        let msg = set_io_priority(&prio).unwrap_err().to_string();
        assert!(
            msg.contains("IOPRIO_CLASS_BE") && msg.contains("level 8"),
            "{msg}"
        );
    }

    #[test]
    fn personality_flags_are_refused() {
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain":"LINUX","flags":["FOO"]}"#).unwrap();
        assert!(set_personality(&p).is_err());
    }

    /// Real effects, in a re-executed child (these attributes stick to the process).
    #[test]
    fn child_entry() {
        let Some(scenario) = crate::security::reexec::scenario() else {
            return;
        };
        assert_eq!(scenario, "scheduling");
        let prio: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#).unwrap();
        set_io_priority(&prio).unwrap();
        assert_eq!(sys::io_priority().unwrap(), (sys::IOPRIO_CLASS_IDLE, 0));
        let prio: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#).unwrap();
        set_io_priority(&prio).unwrap();
        assert_eq!(sys::io_priority().unwrap(), (sys::IOPRIO_CLASS_BE, 6));
        set_scheduler(&sched(r#"{"policy":"SCHED_BATCH","nice":7}"#)).unwrap();
        let attr = sys::sched_getattr().unwrap();
        assert_eq!((attr.sched_policy, attr.sched_nice), (3, 7));
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
        set_personality(&p).unwrap();
        assert_eq!(sys::personality().unwrap() & 0xff, sys::PER_LINUX32);
        println!("SCHEDULING-OK");
    }

    #[test]
    fn io_priority_scheduler_and_personality_take_effect() {
        let out = crate::security::reexec::run(
            "security::scheduling::tests::child_entry",
            "scheduling",
            |_| {},
        );
        let stdout = crate::security::reexec::expect_success("scheduling", &out);
        assert!(stdout.contains("SCHEDULING-OK"), "{stdout}");
    }
}
