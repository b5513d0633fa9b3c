//! The five capability sets of `process.capabilities`, applied with the `caps` crate.
//!
//! A missing set in the spec means the empty set. (When `process.capabilities` itself is absent
//! the caller should not call these functions at all: the process keeps what it has.)

use berth_oci::oci_spec::runtime::{Capabilities, Capability as SpecCapability, LinuxCapabilities};
use caps::{CapSet, Capability, CapsHashSet};

use super::identity::clear_keepcaps;
use super::SecurityError;

/// Parses a capability name as the spec and runc accept it: `CAP_SYS_ADMIN`, `SYS_ADMIN`, any case.
/// Returns `None` for a name that no kernel known to the `caps` crate has.
pub fn parse_capability(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    format!("CAP_{bare}").parse().ok()
}

/// The `caps` crate's capability for a spec capability (`None` if the crate does not know it).
fn from_spec(cap: &SpecCapability) -> Option<Capability> {
    // The spec enum displays as `SYS_ADMIN`; parse_capability adds the prefix.
    parse_capability(&cap.to_string())
}

/// Whether the running kernel knows `cap` (`PR_CAPBSET_READ` fails with EINVAL above
/// `cap_last_cap`). Needs no /proc.
fn kernel_supports(cap: Capability) -> bool {
    caps::has_cap(None, CapSet::Bounding, cap).is_ok()
}

/// Converts one spec set, leaving out what this kernel (or the caps crate) does not know.
fn to_set(set: Option<&Capabilities>) -> CapsHashSet {
    set.into_iter()
        .flatten()
        .filter_map(from_spec)
        .filter(|c| kernel_supports(*c))
        .collect()
}

fn names(set: &CapsHashSet) -> String {
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v.join(",")
}

/// The names in `caps` (any of the five sets) that the running kernel does not support. These are
/// skipped silently by [`drop_bounding_set`] and [`apply_capabilities`], as runc does; the caller
/// may log them as a warning.
pub fn unsupported_capabilities(caps: &LinuxCapabilities) -> Vec<String> {
    let sets = [
        caps.bounding(),
        caps.effective(),
        caps.inheritable(),
        caps.permitted(),
        caps.ambient(),
    ];
    let mut out: Vec<String> = sets
        .into_iter()
        .flatten()
        .flatten()
        .filter(|c| !from_spec(c).is_some_and(kernel_supports))
        .map(|c| format!("CAP_{c}"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Drops from the bounding set every capability that is not in `caps.bounding`. Needs
/// `CAP_SETPCAP` in the effective set, so call it before [`super::switch_user`].
pub fn drop_bounding_set(caps: &LinuxCapabilities) -> Result<(), SecurityError> {
    let keep = to_set(caps.bounding().as_ref());
    for cap in caps::all() {
        if keep.contains(&cap) {
            continue;
        }
        // Err: the kernel does not know this capability; Ok(false): already dropped.
        if let Ok(true) = caps::has_cap(None, CapSet::Bounding, cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| SecurityError::BoundingSet {
                cap: cap.to_string(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(())
}

/// Sets the inheritable, effective, permitted and ambient sets to those of `caps`, then clears
/// `PR_SET_KEEPCAPS`. Call after [`super::switch_user`].
///
/// Order matters: the inheritable set first (a new inheritable capability must be in the old
/// permitted set), then effective (must stay within the current permitted set), then permitted
/// (the effective set must be within it), and the ambient set last (each ambient capability must
/// be both permitted and inheritable, which the error message says).
pub fn apply_capabilities(caps: &LinuxCapabilities) -> Result<(), SecurityError> {
    let base_sets = [
        ("inheritable", CapSet::Inheritable, caps.inheritable()),
        ("effective", CapSet::Effective, caps.effective()),
        ("permitted", CapSet::Permitted, caps.permitted()),
    ];
    for (name, set, wanted) in base_sets {
        let wanted = to_set(wanted.as_ref());
        caps::set(None, set, &wanted).map_err(|e| SecurityError::CapabilitySet {
            set: name,
            caps: names(&wanted),
            reason: e.to_string(),
        })?;
    }
    let ambient = to_set(caps.ambient().as_ref());
    // Kernels before 4.3 have no ambient set: nothing to clear, and raising is impossible.
    if caps::runtime::ambient_set_supported().is_ok() {
        caps::clear(None, CapSet::Ambient).map_err(|e| SecurityError::Ambient {
            cap: "all".into(),
            reason: e.to_string(),
        })?;
        for cap in &ambient {
            caps::raise(None, CapSet::Ambient, *cap).map_err(|e| SecurityError::Ambient {
                cap: cap.to_string(),
                reason: e.to_string(),
            })?;
        }
    } else if !ambient.is_empty() {
        return Err(SecurityError::Ambient {
            cap: names(&ambient),
            reason: "this kernel has no ambient capability set".into(),
        });
    }
    clear_keepcaps()
}

/// The bit mask of a set, as `/proc/<pid>/status` shows it in hex (`CapEff:` ...).
#[cfg(test)]
pub(crate) fn mask_of<'a>(set: impl IntoIterator<Item = &'a Capability>) -> u64 {
    set.into_iter().fold(0, |m, c| m | c.bitmask())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_every_spelling() {
        for name in ["CAP_SYS_ADMIN", "SYS_ADMIN", "cap_sys_admin", "sys_admin"] {
            assert_eq!(
                parse_capability(name),
                Some(Capability::CAP_SYS_ADMIN),
                "{name}"
            );
        }
        assert_eq!(parse_capability("CAP_NOT_A_CAP"), None);
        assert_eq!(parse_capability(""), None);
    }

    #[test]
    fn every_spec_capability_maps_onto_the_caps_crate() {
        for cap in caps::all() {
            let json = format!("\"{cap}\"");
            let spec: SpecCapability = serde_json::from_str(&json).unwrap();
            assert_eq!(from_spec(&spec), Some(cap), "{cap}");
        }
    }

    #[test]
    fn masks_match_proc_status_bits() {
        let set = [Capability::CAP_CHOWN, Capability::CAP_NET_BIND_SERVICE];
        assert_eq!(mask_of(&set), 0x401);
    }

    #[test]
    fn kernel_knows_the_classic_capabilities() {
        assert!(kernel_supports(Capability::CAP_CHOWN));
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN"],"effective":["CAP_KILL"],"ambient":["CAP_KILL"]}"#,
        )
        .unwrap();
        assert!(unsupported_capabilities(&caps).is_empty());
    }
}
