//! Resource usage of a cgroup, shaped like the `data` object of `runc events --stats`
//! (runc's `types/events.go`): same JSON field names, and zero values omitted where runc omits
//! them (`omitempty`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Everything `events --stats` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// cpuset configuration.
    pub cpuset: CpuSet,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Process count.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Huge page usage by page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (not collected: always empty).
    pub intel_rdt: IntelRdt,
    /// Network interfaces (not collected by the cgroup layer: always null).
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
    /// Pressure stall information (v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Total CPU time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Kernel-mode time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// User-mode time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel-mode time.
    pub kernel: u64,
    /// User-mode time.
    pub user: u64,
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total throttled time, nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// cpuset settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSet {
    /// CPUs the group may use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// cpuset.cpu_exclusive (v1).
    pub cpu_exclusive: u64,
    /// Memory nodes the group may use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// cpuset.mem_hardwall (v1).
    pub mem_hardwall: u64,
    /// cpuset.mem_exclusive (v1).
    pub mem_exclusive: u64,
    /// cpuset.memory_migrate (v1).
    pub memory_migrate: u64,
    /// cpuset.memory_spread_page (v1).
    pub memory_spread_page: u64,
    /// cpuset.memory_spread_slab (v1).
    pub memory_spread_slab: u64,
    /// cpuset.memory_pressure (v1).
    pub memory_pressure: u64,
    /// cpuset.sched_load_balance (v1).
    pub sched_load_balance: u64,
    /// cpuset.sched_relax_domain_level (v1).
    pub sched_relax_domain_level: i64,
}

/// One memory counter group (usage, swap, kernel, kernel TCP).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    /// Limit in bytes (`u64::MAX` when unlimited).
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Page cache bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap (as v1's memsw; on v2 the swap counters plus memory).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every counter of memory.stat.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    /// Pressure stall information (v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
    /// memory.events counters (v2; v1 fills `oom_kill` from memory.oom_control).
    pub event_count: MemoryEventCount,
}

/// Counters of memory.events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEventCount {
    /// Times usage went over memory.low.
    #[serde(skip_serializing_if = "is_zero")]
    pub low: u64,
    /// Times usage went over memory.high.
    #[serde(skip_serializing_if = "is_zero")]
    pub high: u64,
    /// Times usage hit memory.max.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// OOM situations.
    #[serde(skip_serializing_if = "is_zero")]
    pub oom: u64,
    /// Processes killed by the OOM killer.
    #[serde(skip_serializing_if = "is_zero")]
    pub oom_kill: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// pids.max (`u64::MAX` when unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One blkio counter for one device and operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Queued operations (CFQ only).
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Service time (CFQ only).
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Wait time (CFQ only).
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Merged operations (CFQ only).
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Disk time (CFQ only).
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors (CFQ only).
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
    /// Pressure stall information (v2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Huge page usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocation failures.
    pub failcnt: u64,
}

/// Intel RDT statistics (not collected).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntelRdt {}

/// A network interface's counters (Go field names, as runc prints them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
}

/// One line of a `*.pressure` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiData {
    /// 10-second average, percent.
    pub avg10: f64,
    /// 60-second average, percent.
    pub avg60: f64,
    /// 300-second average, percent.
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total: u64,
}

/// A `*.pressure` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiStats {
    /// Some tasks stalled.
    pub some: PsiData,
    /// All tasks stalled.
    pub full: PsiData,
}

impl PsiStats {
    /// Parses `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` / `full ...` lines.
    pub(crate) fn parse(text: &str) -> PsiStats {
        let mut psi = PsiStats::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let data = match fields.next() {
                Some("some") => &mut psi.some,
                Some("full") => &mut psi.full,
                _ => continue,
            };
            for f in fields {
                match f.split_once('=') {
                    Some(("avg10", v)) => data.avg10 = v.parse().unwrap_or(0.0),
                    Some(("avg60", v)) => data.avg60 = v.parse().unwrap_or(0.0),
                    Some(("avg300", v)) => data.avg300 = v.parse().unwrap_or(0.0),
                    Some(("total", v)) => data.total = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        psi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_match_runc_events() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.throttling.throttled_periods = 2;
        s.memory.usage.limit = 10;
        s.memory.kernel_tcp.failcnt = 1;
        s.blkio.io_service_bytes_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 4096,
        });
        s.pids.current = 1;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpu"]["usage"]["total"], 5);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(v["cpu"]["usage"].get("percpu").is_none());
        assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
        assert!(v["cpu"]["throttling"].get("periods").is_none());
        assert_eq!(v["memory"]["usage"]["limit"], 10);
        assert_eq!(v["memory"]["kernelTCP"]["failcnt"], 1);
        assert!(v["memory"]["event_count"].is_object());
        assert_eq!(v["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
        assert!(v["blkio"].get("ioServicedRecursive").is_none());
        assert_eq!(v["pids"]["current"], 1);
        assert!(v["hugetlb"].is_object());
        assert!(v["intel_rdt"].is_object());
        assert!(v["network_interfaces"].is_null());
        assert!(v["cpuset"].get("cpu_exclusive").is_some());
        let back: Stats = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn psi_parse() {
        let p = PsiStats::parse(
            "some avg10=1.50 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.25 avg300=0.00 total=7\n",
        );
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total, 123);
        assert_eq!(p.full.avg60, 0.25);
    }
}
