//! Linux security modules: the AppArmor profile a container's process runs under, and what happens
//! to SELinux labels. AppArmor profiles are applied (on exec) where AppArmor is enabled; on hosts
//! without it a requested profile is reported and ignored, as no profile can be enforced there.
//! SELinux labels are ignored with a warning where SELinux is disabled and refused where it is
//! enabled, since Berth cannot yet apply them: a silently dropped label would weaken confinement.

use crate::error::{Result, RuntimeError};
use oci_spec::runtime::Spec;
use std::path::Path;

/// Whether the running kernel enforces AppArmor.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Whether SELinux is enabled on the host.
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Checks the config's LSM settings at `create`, before anything is set up: errors for what
/// cannot be honoured safely, warnings (on stderr) for what is meaningless on this host.
pub fn check(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    if let Some(profile) = process
        .and_then(|p| p.apparmor_profile().as_deref())
        .filter(|p| !p.is_empty())
    {
        if !apparmor_enabled() {
            eprintln!("warning: process.apparmorProfile {profile:?} ignored: AppArmor is not enabled on this host");
        }
    }
    let labels = [
        (
            "process.selinuxLabel",
            process.and_then(|p| p.selinux_label().as_deref()),
        ),
        (
            "linux.mountLabel",
            spec.linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref()),
        ),
    ];
    for (field, label) in labels {
        let Some(label) = label.filter(|l| !l.is_empty()) else {
            continue;
        };
        if selinux_enabled() {
            return Err(RuntimeError::InvalidArgument(format!(
                "config.json: field `{field}`: SELinux label {label:?} cannot be applied (SELinux labels are not supported yet)"
            )));
        }
        eprintln!("warning: {field} {label:?} ignored: SELinux is not enabled on this host");
    }
    Ok(())
}

/// Makes the coming execve switch to the config's AppArmor profile (where AppArmor is enabled).
/// Called in the init while the host's /proc is still reachable.
pub fn apply_apparmor(spec: &Spec) -> Result<()> {
    let Some(profile) = spec
        .process()
        .as_ref()
        .and_then(|p| p.apparmor_profile().as_deref())
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    if !apparmor_enabled() {
        return Ok(());
    }
    let attr = [
        "/proc/thread-self/attr/apparmor/exec",
        "/proc/thread-self/attr/exec",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("/proc/thread-self/attr/exec");
    std::fs::write(attr, format!("exec {profile}"))
        .map_err(|e| RuntimeError::io(format!("{attr} (AppArmor profile {profile:?})"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn labels_on_a_host_without_selinux_are_ignored() {
        if selinux_enabled() {
            eprintln!("skipped: this host runs SELinux");
            return;
        }
        let s = spec(
            r#"{"ociVersion":"1.2.0","process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0},
            "selinuxLabel":"system_u:system_r:container_t:s0"},"linux":{"mountLabel":"system_u:object_r:container_file_t:s0"}}"#,
        );
        check(&s).unwrap();
    }

    #[test]
    fn no_profile_is_a_no_op() {
        let s = spec(
            r#"{"ociVersion":"1.2.0","process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        check(&s).unwrap();
        apply_apparmor(&s).unwrap();
    }
}
