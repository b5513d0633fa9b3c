//! Resource limits (`process.rlimits`) and the OOM score adjustment (`process.oomScoreAdj`).

use berth_oci::oci_spec::runtime::{PosixRlimit, PosixRlimitType};
use nix::sys::resource::{setrlimit, Resource};

use super::SecurityError;

/// Maps a spec rlimit type onto the kernel resource.
pub(crate) fn resource_of(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Sets every limit of `rlimits` on the calling process, in order.
///
/// Lowering always works; raising a hard limit needs `CAP_SYS_RESOURCE`, so call this before the
/// bounding set is dropped. The error names the limit (`RLIMIT_NOFILE`...) and, for EPERM, says
/// that the capability is missing.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), SecurityError> {
    for rlimit in rlimits {
        let (soft, hard) = (rlimit.soft(), rlimit.hard());
        setrlimit(resource_of(rlimit.typ()), soft, hard).map_err(|errno| {
            SecurityError::Rlimit {
                resource: rlimit.typ().to_string(),
                soft,
                hard,
                errno,
            }
        })?;
    }
    Ok(())
}

/// Writes `value` (-1000..=1000) to `/proc/self/oom_score_adj`. Lowering it needs
/// `CAP_SYS_RESOURCE`. The runtime normally writes it from the parent before the process runs;
/// this is the same write done from inside (e.g. for `exec`).
pub fn set_oom_score_adj(value: i32) -> Result<(), SecurityError> {
    std::fs::write("/proc/self/oom_score_adj", value.to_string())
        .map_err(|source| SecurityError::OomScoreAdj { value, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_names_match_the_spec() {
        assert_eq!(PosixRlimitType::RlimitNofile.to_string(), "RLIMIT_NOFILE");
        assert_eq!(PosixRlimitType::RlimitRttime.to_string(), "RLIMIT_RTTIME");
        assert_eq!(
            resource_of(PosixRlimitType::RlimitNofile),
            Resource::RLIMIT_NOFILE
        );
    }

    #[test]
    fn empty_list_is_a_no_op() {
        set_rlimits(&[]).unwrap();
    }
}
