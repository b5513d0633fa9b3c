//! Capability names to bits, to compare with the hex sets of /proc/self/status.

const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Bit mask of the named capabilities.
pub fn mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| {
        let i = NAMES
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m | (1u64 << i)
    })
}

/// Names of the bits set in `m`.
pub fn names(m: u64) -> Vec<&'static str> {
    (0..64)
        .filter(|i| m & (1u64 << i) != 0)
        .map(|i| NAMES.get(i).copied().unwrap_or("CAP_UNKNOWN"))
        .collect()
}

/// Parses a /proc/self/status capability hex string.
pub fn parse(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("bad cap hex {hex:?}: {e}"))
}

/// The probe's set `which` (inheritable, permitted, effective, bounding, ambient) as a mask.
pub fn of(report: &serde_json::Value, which: &str) -> u64 {
    parse(
        report["caps"][which]
            .as_str()
            .unwrap_or_else(|| panic!("no caps.{which} in {report}")),
    )
}

/// Every capability the running kernel knows (from /proc/sys/kernel/cap_last_cap).
pub fn all_known() -> Vec<&'static str> {
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    NAMES.iter().take(last + 1).copied().collect()
}
