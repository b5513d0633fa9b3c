//! The spelling of seccomp names in OCI JSON (`SCMP_ACT_*`, `SCMP_ARCH_*`, `SCMP_CMP_*`,
//! `SECCOMP_FILTER_FLAG_*`), and a profile parser whose errors name the JSON path and the value.
//!
//! The typed `oci_spec` structures reject an unknown name with a generic serde message; parsing
//! through [`parse_profile`] first checks every name and reports, for example,
//! `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde_json::Value;

use crate::error::SeccompError;

/// Every action name of the runtime spec.
pub const ACTIONS: &[(&str, LinuxSeccompAction)] = &[
    ("SCMP_ACT_KILL", LinuxSeccompAction::ScmpActKill),
    (
        "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActKillProcess,
    ),
    (
        "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillThread,
    ),
    ("SCMP_ACT_TRAP", LinuxSeccompAction::ScmpActTrap),
    ("SCMP_ACT_ERRNO", LinuxSeccompAction::ScmpActErrno),
    ("SCMP_ACT_TRACE", LinuxSeccompAction::ScmpActTrace),
    ("SCMP_ACT_ALLOW", LinuxSeccompAction::ScmpActAllow),
    ("SCMP_ACT_LOG", LinuxSeccompAction::ScmpActLog),
    ("SCMP_ACT_NOTIFY", LinuxSeccompAction::ScmpActNotify),
];

/// Every architecture name of the runtime spec.
pub const ARCHES: &[(&str, Arch)] = &[
    ("SCMP_ARCH_NATIVE", Arch::ScmpArchNative),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm),
    ("SCMP_ARCH_AARCH64", Arch::ScmpArchAarch64),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64),
    ("SCMP_ARCH_MIPS64N32", Arch::ScmpArchMips64n32),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel),
    ("SCMP_ARCH_MIPSEL64", Arch::ScmpArchMipsel64),
    ("SCMP_ARCH_MIPSEL64N32", Arch::ScmpArchMipsel64n32),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64),
    ("SCMP_ARCH_PPC64LE", Arch::ScmpArchPpc64le),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc),
    ("SCMP_ARCH_PARISC64", Arch::ScmpArchParisc64),
    ("SCMP_ARCH_RISCV64", Arch::ScmpArchRiscv64),
    ("SCMP_ARCH_LOONGARCH64", Arch::ScmpArchLoongarch64),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb),
];

/// Every argument comparison operator of the runtime spec.
pub const OPERATORS: &[(&str, LinuxSeccompOperator)] = &[
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
];

/// Every filter flag of the runtime spec.
pub const FLAGS: &[(&str, LinuxSeccompFilterFlag)] = &[
    (
        "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    ),
    (
        "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ),
];

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// The JSON spelling of an action, e.g. `SCMP_ACT_ERRNO`.
pub fn action_name(action: LinuxSeccompAction) -> &'static str {
    name_of(ACTIONS, action)
}

/// The JSON spelling of an architecture, e.g. `SCMP_ARCH_X86_64`.
pub fn arch_name(arch: Arch) -> &'static str {
    name_of(ARCHES, arch)
}

/// Parses a seccomp profile in OCI form (the value of `linux.seccomp`). `field` is the JSON path
/// of the profile used in messages, normally `linux.seccomp`.
pub fn parse_profile(json: &[u8], field: &str) -> Result<LinuxSeccomp, SeccompError> {
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| SeccompError::invalid(field, format!("not valid JSON: {e}")))?;
    check_names(&value, field)?;
    serde_path_to_error::deserialize::<_, LinuxSeccomp>(&value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            field.to_string()
        } else {
            format!("{field}.{path}")
        };
        SeccompError::invalid(at, e.into_inner().to_string())
    })
}

/// Checks every enumerated name in a profile held as untyped JSON, so that an unknown one is
/// reported with its path and value. Other shape errors are left to the typed parser.
pub fn check_names(profile: &Value, field: &str) -> Result<(), SeccompError> {
    check_one(profile.get("defaultAction"), ACTIONS, "action", || {
        format!("{field}.defaultAction")
    })?;
    for (i, arch) in array(profile.get("architectures")) {
        check_one(Some(arch), ARCHES, "architecture", || {
            format!("{field}.architectures[{i}]")
        })?;
    }
    for (i, flag) in array(profile.get("flags")) {
        check_one(Some(flag), FLAGS, "flag", || format!("{field}.flags[{i}]"))?;
    }
    for (i, rule) in array(profile.get("syscalls")) {
        check_one(rule.get("action"), ACTIONS, "action", || {
            format!("{field}.syscalls[{i}].action")
        })?;
        for (j, arg) in array(rule.get("args")) {
            check_one(arg.get("op"), OPERATORS, "operator", || {
                format!("{field}.syscalls[{i}].args[{j}].op")
            })?;
        }
    }
    Ok(())
}

fn array(value: Option<&Value>) -> impl Iterator<Item = (usize, &Value)> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn check_one<T>(
    value: Option<&Value>,
    table: &[(&str, T)],
    what: &str,
    field: impl FnOnce() -> String,
) -> Result<(), SeccompError> {
    match value {
        Some(Value::String(s)) if table.iter().any(|(n, _)| n == s) => Ok(()),
        Some(Value::String(s)) => Err(SeccompError::invalid(
            field(),
            format!("unknown {what} {s:?}"),
        )),
        // Absent or not a string: the typed parser reports it with its own words.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_through_serde() {
        for (name, action) in ACTIONS {
            let parsed: LinuxSeccompAction = serde_json::from_value(Value::from(*name)).unwrap();
            assert_eq!(parsed, *action, "{name}");
        }
        for (name, arch) in ARCHES {
            let parsed: Arch = serde_json::from_value(Value::from(*name)).unwrap();
            assert_eq!(parsed, *arch, "{name}");
        }
        for (name, op) in OPERATORS {
            let parsed: LinuxSeccompOperator = serde_json::from_value(Value::from(*name)).unwrap();
            assert_eq!(parsed, *op, "{name}");
        }
        for (name, flag) in FLAGS {
            let parsed: LinuxSeccompFilterFlag =
                serde_json::from_value(Value::from(*name)).unwrap();
            assert_eq!(parsed, *flag, "{name}");
        }
    }

    #[test]
    fn unknown_action_names_the_rule_index() {
        let json = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_ALLOW"},
            {"names":["open"],"action":"SCMP_ACT_ALLOW"},
            {"names":["close"],"action":"SCMP_ACT_FOO"}]}"#;
        let err = parse_profile(json, "linux.seccomp").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO""#
        );
    }

    #[test]
    fn unknown_default_action_arch_flag_and_op_are_named() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"defaultAction":"SCMP_ACT_NOPE"}"#,
                r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#,
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_Z80"]}"#,
                r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80""#,
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#,
                r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FAST""#,
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_ALMOST"}]}]}"#,
                r#"linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_ALMOST""#,
            ),
        ];
        for (json, want) in cases {
            let err = parse_profile(json.as_bytes(), "linux.seccomp").unwrap_err();
            assert_eq!(err.to_string(), *want);
        }
    }

    #[test]
    fn type_errors_name_the_path() {
        let json = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":"x"}]}"#;
        let err = parse_profile(json, "linux.seccomp").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("linux.seccomp.syscalls[0].errnoRet: "),
            "{err}"
        );
    }

    #[test]
    fn valid_profile_parses() {
        let json = br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64"],"flags":["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let profile = parse_profile(json, "linux.seccomp").unwrap();
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(profile.default_errno_ret(), Some(1));
    }
}
