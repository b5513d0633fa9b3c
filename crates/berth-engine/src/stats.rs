//! stats: cgroup counters (berth-cgroups, v1 and v2 alike) in Docker's stats JSON, the fields
//! `docker stats` reads: CPU time with the host's total (for the percentage), memory usage and
//! limit with memory.stat, block I/O bytes, pids.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::Status;
use crate::types::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, Stats, ThrottlingData,
};

/// Host CPU time in nanoseconds (sum of /proc/stat's `cpu` line) and the online CPU count.
fn system_cpu() -> (u64, u32) {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return (0, 1);
    };
    let mut total = 0u64;
    let mut cpus = 0u32;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            // USER_HZ is 100 on every Linux ABI: one tick = 10 ms.
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * 10_000_000;
        } else if line.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus.max(1))
}

/// Docker's stats document from berth-cgroups' counters.
pub fn from_cgroup(s: &berth_cgroups::Stats, id: &str, name: &str) -> Stats {
    let (system, cpus) = system_cpu();
    let unlimited = |v: u64| v == u64::MAX || v >= (1 << 62);
    let host_mem = host_memory();
    let limit = if unlimited(s.memory.usage.limit) || s.memory.usage.limit == 0 {
        host_mem
    } else {
        s.memory.usage.limit
    };
    Stats {
        read: crate::lifecycle::now_rfc3339(),
        preread: crate::list::ZERO_TIME.to_string(),
        id: id.to_string(),
        name: format!("/{name}"),
        pids_stats: PidsStats {
            current: s.pids.current,
            limit: (!unlimited(s.pids.limit) && s.pids.limit != 0).then_some(s.pids.limit),
        },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: Some(
                s.blkio
                    .io_service_bytes_recursive
                    .iter()
                    .map(|e| BlkioEntry {
                        major: e.major,
                        minor: e.minor,
                        op: e.op.to_ascii_lowercase(),
                        value: e.value,
                    })
                    .collect(),
            ),
        },
        num_procs: 0,
        cpu_stats: CpuStats {
            cpu_usage: CpuUsage {
                total_usage: s.cpu.usage.total,
                percpu_usage: (!s.cpu.usage.percpu.is_empty()).then(|| s.cpu.usage.percpu.clone()),
                usage_in_kernelmode: s.cpu.usage.kernel,
                usage_in_usermode: s.cpu.usage.user,
            },
            system_cpu_usage: Some(system),
            online_cpus: Some(cpus),
            throttling_data: ThrottlingData {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
            },
        },
        precpu_stats: CpuStats::default(),
        memory_stats: MemoryStats {
            usage: s.memory.usage.usage,
            max_usage: (s.memory.usage.max > 0).then_some(s.memory.usage.max),
            stats: s.memory.raw.clone(),
            limit,
        },
        networks: None,
    }
}

/// The host's memory in bytes (MemTotal).
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl Engine {
    /// One stats sample of a container (zeros for a stopped one, as docker).
    pub fn stats(&self, reference: &str) -> Result<Stats> {
        let rec = self.lookup(reference)?;
        let st = self.reconciled_state(&rec.id)?;
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Ok(Stats {
                read: crate::list::ZERO_TIME.into(),
                preread: crate::list::ZERO_TIME.into(),
                id: rec.id.clone(),
                name: format!("/{}", rec.name),
                ..Default::default()
            });
        }
        let s = self.runtime().stats(&rec.id).map_err(EngineError::runtime(
            "reading the stats of container",
            &rec.id,
        ))?;
        Ok(from_cgroup(&s, &rec.id, &rec.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_cgroup_counters() {
        let mut s = berth_cgroups::Stats::default();
        s.cpu.usage.total = 5_000;
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = u64::MAX;
        s.pids.current = 3;
        s.pids.limit = 10;
        s.blkio
            .io_service_bytes_recursive
            .push(berth_cgroups::BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 100,
            });
        let d = from_cgroup(&s, "abc", "web");
        assert_eq!(d.name, "/web");
        assert_eq!(d.cpu_stats.cpu_usage.total_usage, 5_000);
        assert!(d.cpu_stats.system_cpu_usage.unwrap() > 0);
        assert_eq!(d.memory_stats.usage, 4096);
        assert_eq!(d.memory_stats.limit, host_memory());
        assert_eq!(d.pids_stats.limit, Some(10));
        let b = &d.blkio_stats.io_service_bytes_recursive.unwrap()[0];
        assert_eq!((b.op.as_str(), b.value), ("read", 100));
    }
}
