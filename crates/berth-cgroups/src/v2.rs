//! The cgroup v2 driver: one directory in the unified hierarchy.

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_oci::oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use berth_sys::bpf::{self, BpfInsn};

use crate::devices::{self, Rule};
use crate::fsutil::{self, read_opt, read_u64_or_zero, write};
use crate::path::on_disk;
use crate::stats::{BlkioEntry, Hugetlb, PsiStats, Stats};
use crate::v1::{page_size, pids_value, rdma_line};
use crate::{Cgroup, CgroupError};

/// How long freeze/thaw may take before we give up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Installs a device program on a cgroup directory (a seam: fake trees cannot run BPF).
pub(crate) type DeviceAttach = fn(&Path, &[BpfInsn]) -> Result<(), CgroupError>;

/// A container's cgroup in a cgroup2 hierarchy.
#[derive(Debug)]
pub(crate) struct V2 {
    mount_point: PathBuf,
    dir: PathBuf,
    /// Directories created by this object, outermost first.
    created: Mutex<Vec<PathBuf>>,
    attach: DeviceAttach,
}

impl V2 {
    /// The cgroup `cgroup` (a path inside the hierarchy) of the cgroup2 mount at `mount_point`
    /// whose root is `mount_root`.
    pub fn new(mount_point: &Path, mount_root: &str, cgroup: &str) -> V2 {
        V2 {
            mount_point: mount_point.to_owned(),
            dir: on_disk(mount_point, mount_root, cgroup),
            created: Mutex::new(Vec::new()),
            attach: attach_device_program,
        }
    }

    /// Replaces the device-program installer (tests on fake trees).
    #[cfg(test)]
    pub fn with_attach(mut self, attach: DeviceAttach) -> V2 {
        self.attach = attach;
        self
    }

    /// Enables, in every ancestor's `cgroup.subtree_control`, the controllers it has, so the
    /// container's directory gets them all (runc does the same). A controller the kernel refuses
    /// to enable is left off; asking for its limits fails later with a clear error.
    fn enable_controllers(&self) -> Result<(), CgroupError> {
        let Ok(rel) = self.dir.strip_prefix(&self.mount_point) else {
            return Ok(());
        };
        let mut level = self.mount_point.clone();
        let mut available: Vec<String> = Vec::new();
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(text) = read_opt(&level, "cgroup.controllers")? {
                available = text.split_whitespace().map(str::to_owned).collect();
            }
            let enabled = read_opt(&level, "cgroup.subtree_control")?.unwrap_or_default();
            let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
            let missing: Vec<&String> = available
                .iter()
                .filter(|c| !enabled.contains(c.as_str()))
                .collect();
            if !missing.is_empty() {
                let all = missing
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                if write(&level, "cgroup.subtree_control", &all).is_err() {
                    for c in &missing {
                        let _ = write(&level, "cgroup.subtree_control", &format!("+{c}"));
                    }
                }
            }
            if i + 1 < parts.len() {
                level.push(part);
            }
        }
        Ok(())
    }

    /// The controllers enabled for the container's directory.
    fn controllers(&self) -> Result<BTreeSet<String>, CgroupError> {
        let text = read_opt(&self.dir, "cgroup.controllers")?.unwrap_or_default();
        Ok(text.split_whitespace().map(str::to_owned).collect())
    }

    fn apply_memory(&self, m: &LinuxMemory, have: &Need<'_>) -> Result<(), CgroupError> {
        let limit = m.limit().filter(|v| *v != 0);
        let swap = m.swap().filter(|v| *v != 0);
        let reservation = m.reservation().filter(|v| *v != 0);
        if limit.is_none() && swap.is_none() && reservation.is_none() {
            return Ok(()); // kernel, kernelTCP, swappiness, disableOOMKiller: no v2 equivalent
        }
        have.need("memory", "memory")?;
        let dir = &self.dir;
        if let Some(l) = limit {
            write(dir, "memory.max", &max_or(l))?;
        }
        if let Some(s) = swap_max(limit, swap)? {
            if s == "max" && !dir.join("memory.swap.max").exists() {
                // No swap accounting: "unlimited" is already the truth.
            } else {
                write(dir, "memory.swap.max", &s)?;
            }
        }
        if let Some(r) = reservation {
            write(dir, "memory.low", &max_or(r))?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu, have: &Need<'_>) -> Result<(), CgroupError> {
        let dir = &self.dir;
        if c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
        {
            return Err(CgroupError::Unsupported {
                what: "cpu.realtimeRuntime/realtimePeriod",
                version: "v2",
            });
        }
        let shares = c.shares().filter(|v| *v != 0);
        let quota = c.quota().filter(|v| *v != 0);
        let period = c.period().filter(|v| *v != 0);
        if shares.is_some() || quota.is_some() || period.is_some() || c.burst().is_some() {
            have.need("cpu", "cpu")?;
        }
        if let Some(s) = shares {
            write(dir, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if quota.is_some() || period.is_some() {
            let mut value = match quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_owned(),
            };
            if let Some(p) = period {
                value.push_str(&format!(" {p}"));
            }
            write(dir, "cpu.max", &value)?;
        }
        if let Some(b) = c.burst() {
            write(dir, "cpu.max.burst", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write(dir, "cpu.idle", &i.to_string())?;
        }
        let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = c.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            have.need("cpuset", "cpu.cpus/cpu.mems")?;
        }
        if let Some(v) = cpus {
            write(dir, "cpuset.cpus", v)?;
        }
        if let Some(v) = mems {
            write(dir, "cpuset.mems", v)?;
        }
        Ok(())
    }

    fn apply_io(&self, b: &LinuxBlockIo, have: &Need<'_>) -> Result<(), CgroupError> {
        let dir = &self.dir;
        let weight = b.weight().filter(|v| *v != 0);
        let devices = b.weight_device().as_deref().unwrap_or_default();
        let throttles = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        let any_throttle = throttles
            .iter()
            .any(|(_, t)| t.as_ref().is_some_and(|t| !t.is_empty()));
        let any_device_weight = devices.iter().any(|d| d.weight().is_some());
        if weight.is_none() && !any_device_weight && !any_throttle {
            return Ok(()); // leafWeight has no v2 equivalent
        }
        have.need("io", "blockIO")?;
        // BFQ takes blkio's 10..1000 scale as is; io.weight wants 1..10000.
        let bfq = dir.join("io.bfq.weight").exists();
        let (file, convert): (&str, fn(u16) -> u64) = if bfq {
            ("io.bfq.weight", u64::from)
        } else {
            ("io.weight", blkio_weight_to_io)
        };
        if let Some(w) = weight {
            write(dir, file, &format!("default {}", convert(w)))?;
        }
        for d in devices {
            if let Some(w) = d.weight() {
                write(
                    dir,
                    file,
                    &format!("{}:{} {}", d.major(), d.minor(), convert(w)),
                )?;
            }
        }
        for (key, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                let line = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                write(dir, "io.max", &line)?;
            }
        }
        Ok(())
    }

    fn apply_unified(
        &self,
        unified: &std::collections::HashMap<String, String>,
    ) -> Result<(), CgroupError> {
        // Sorted, so the writes happen in a stable order.
        let sorted: std::collections::BTreeMap<_, _> = unified.iter().collect();
        for (key, value) in sorted {
            if key.is_empty() || key.contains('/') || key.starts_with('.') {
                return Err(CgroupError::InvalidResource {
                    what: "unified",
                    reason: format!("{key:?} is not a cgroup file name"),
                });
            }
            if !self.dir.join(key).exists() {
                let controller = key.split('.').next().unwrap_or(key);
                return Err(CgroupError::InvalidResource {
                    what: "unified",
                    reason: format!(
                        "{key}: no such file in {} (is the {controller} controller enabled?)",
                        self.dir.display()
                    ),
                });
            }
            write(&self.dir, key, value)?;
        }
        Ok(())
    }

    fn events_frozen(&self) -> Result<Option<bool>, CgroupError> {
        let Some(text) = read_opt(&self.dir, "cgroup.events")? else {
            return Ok(None);
        };
        let frozen = fsutil::flat_keyed(&text)
            .find(|(k, _)| *k == "frozen")
            .map(|(_, v)| v == 1);
        Ok(frozen)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        if !self.dir.join("cgroup.freeze").exists() {
            return Err(CgroupError::ControllerMissing {
                controller: "freezer (cgroup.freeze, Linux 5.2+)",
                what: if frozen { "pause" } else { "resume" },
            });
        }
        write(&self.dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let done = fsutil::poll_until(FREEZE_TIMEOUT, || {
            Ok(self.events_frozen()?.unwrap_or(frozen) == frozen)
        })?;
        if done {
            return Ok(());
        }
        if frozen {
            let _ = write(&self.dir, "cgroup.freeze", "0");
        }
        Err(CgroupError::FreezeTimeout {
            path: self.dir.join("cgroup.events"),
            state: if frozen { "frozen 1" } else { "frozen 0" },
        })
    }
}

/// Checks that a controller is enabled for the container's directory.
struct Need<'a>(&'a BTreeSet<String>);

impl Need<'_> {
    fn need(&self, controller: &'static str, what: &'static str) -> Result<(), CgroupError> {
        if self.0.contains(controller) {
            Ok(())
        } else {
            Err(CgroupError::ControllerMissing { controller, what })
        }
    }
}

/// `-1` (or any negative) is `max`.
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// OCI's swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, CgroupError> {
    let Some(swap) = swap else { return Ok(None) };
    if swap < 0 {
        return Ok(Some("max".into()));
    }
    match limit {
        Some(l) if l > 0 => {
            if swap < l {
                return Err(CgroupError::InvalidResource {
                    what: "memory.swap",
                    reason: format!("memory+swap {swap} is below the memory limit {l}"),
                });
            }
            Ok(Some((swap - l).to_string()))
        }
        _ => Err(CgroupError::InvalidResource {
            what: "memory.swap",
            reason: "a swap limit needs a memory limit on cgroup v2".into(),
        }),
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000): `1 + ((shares - 2) * 9999) / 262142`.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub(crate) fn blkio_weight_to_io(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

/// Loads the program and attaches it to `dir`, then detaches the programs that were there
/// before (an update replaces the filter without a window where none applies).
fn attach_device_program(dir: &Path, insns: &[BpfInsn]) -> Result<(), CgroupError> {
    let err = |source| CgroupError::DeviceProgram {
        path: dir.to_owned(),
        source,
    };
    // std opens with O_CLOEXEC; O_RDONLY on a directory is what BPF_PROG_ATTACH wants.
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::OpenDir {
        path: dir.to_owned(),
        source,
    })?;
    let old = bpf::query_cgroup_device(cgroup.as_fd()).map_err(err)?;
    let prog =
        bpf::load_cgroup_device_program(insns, c"Apache-2.0", "berth_devices").map_err(err)?;
    bpf::attach_cgroup_device(prog.as_fd(), cgroup.as_fd(), bpf::BPF_F_ALLOW_MULTI).map_err(err)?;
    for id in old {
        match bpf::program_fd_by_id(id) {
            Ok(fd) => match bpf::detach_cgroup_device(fd.as_fd(), cgroup.as_fd()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(err(e)),
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

impl Cgroup for V2 {
    fn create(&self) -> Result<(), CgroupError> {
        let made = fsutil::mkdir_p(&self.dir)?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(made);
        self.enable_controllers()
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let controllers = self.controllers()?;
        let have = Need(&controllers);
        if let Some(m) = r.memory() {
            self.apply_memory(m, &have)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c, &have)?;
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                have.need("pids", "pids.limit")?;
                write(&self.dir, "pids.max", &pids_value(p.limit()))?;
            }
        }
        if let Some(b) = r.block_io() {
            self.apply_io(b, &have)?;
        }
        let huge = r.hugepage_limits().as_deref().unwrap_or_default();
        if !huge.is_empty() {
            have.need("hugetlb", "hugepageLimits")?;
            for h in huge {
                let size = page_size(h.page_size())?;
                let value = max_or(h.limit());
                write(&self.dir, &format!("hugetlb.{size}.max"), &value)?;
                let rsvd = format!("hugetlb.{size}.rsvd.max");
                if self.dir.join(&rsvd).exists() {
                    write(&self.dir, &rsvd, &value)?;
                }
            }
        }
        if let Some(n) = r.network() {
            if n.class_id().is_some() {
                return Err(CgroupError::ControllerMissing {
                    controller: "net_cls (absent on cgroup v2)",
                    what: "network.classID",
                });
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(CgroupError::ControllerMissing {
                    controller: "net_prio (absent on cgroup v2)",
                    what: "network.priorities",
                });
            }
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            have.need("rdma", "rdma")?;
            for (dev, lim) in rdma {
                write(&self.dir, "rdma.max", &rdma_line(dev, lim))?;
            }
        }
        let rules = Rule::from_oci_list(r.devices().as_deref().unwrap_or_default())?;
        if !rules.is_empty() {
            let insns = devices::program(&rules, false);
            (self.attach)(&self.dir, &insns)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            self.apply_unified(u)?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        if let Some(f) = self.events_frozen()? {
            return Ok(f);
        }
        Ok(read_opt(&self.dir, "cgroup.freeze")?.is_some_and(|t| t.trim() == "1"))
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut out)?;
        Ok(out)
    }

    fn oom_kills(&self) -> Result<u64, CgroupError> {
        Ok(read_opt(&self.dir, "memory.events")?
            .and_then(|t| fsutil::keyed_value(&t, "oom_kill"))
            .unwrap_or(0))
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let dir = &self.dir;
        let mut s = Stats::default();
        if let Some(t) = read_opt(dir, "cpu.stat")? {
            for (k, v) in fsutil::flat_keyed(&t) {
                match k {
                    "usage_usec" => s.cpu.usage.total = v * 1000,
                    "user_usec" => s.cpu.usage.user = v * 1000,
                    "system_usec" => s.cpu.usage.kernel = v * 1000,
                    "nr_periods" => s.cpu.throttling.periods = v,
                    "nr_throttled" => s.cpu.throttling.throttled_periods = v,
                    "throttled_usec" => s.cpu.throttling.throttled_time = v * 1000,
                    _ => {}
                }
            }
        }
        s.cpu.psi = read_opt(dir, "cpu.pressure")?.map(|t| PsiStats::parse(&t));
        if let Some(t) = read_opt(dir, "cpuset.cpus.effective")? {
            s.cpuset.cpus = fsutil::parse_list(&t);
        }
        if let Some(t) = read_opt(dir, "cpuset.mems.effective")? {
            s.cpuset.mems = fsutil::parse_list(&t);
        }
        if let Some(t) = read_opt(dir, "memory.stat")? {
            for (k, v) in fsutil::flat_keyed(&t) {
                s.memory.raw.insert(k.to_owned(), v);
            }
            s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
        }
        if dir.join("memory.current").exists() {
            let m = &mut s.memory;
            m.usage.usage = read_u64_or_zero(dir, "memory.current")?;
            m.usage.limit = read_u64_or_zero(dir, "memory.max")?;
            m.usage.max = read_u64_or_zero(dir, "memory.peak")?;
            if let Some(t) = read_opt(dir, "memory.events")? {
                for (k, v) in fsutil::flat_keyed(&t) {
                    match k {
                        "low" => m.event_count.low = v,
                        "high" => m.event_count.high = v,
                        "max" => m.event_count.max = v,
                        "oom" => m.event_count.oom = v,
                        "oom_kill" => m.event_count.oom_kill = v,
                        _ => {}
                    }
                }
                m.usage.failcnt = m.event_count.max;
            }
            // Reported like v1's memsw: memory plus swap.
            if dir.join("memory.swap.current").exists() {
                let swap = read_u64_or_zero(dir, "memory.swap.current")?;
                let swap_max = read_u64_or_zero(dir, "memory.swap.max")?;
                m.swap.usage = swap.saturating_add(m.usage.usage);
                m.swap.limit = swap_max.saturating_add(m.usage.limit);
                m.swap.max = read_u64_or_zero(dir, "memory.swap.peak")?.saturating_add(m.usage.max);
            }
        }
        s.memory.psi = read_opt(dir, "memory.pressure")?.map(|t| PsiStats::parse(&t));
        if dir.join("pids.current").exists() {
            s.pids.current = read_u64_or_zero(dir, "pids.current")?;
            s.pids.limit = read_u64_or_zero(dir, "pids.max")?;
        }
        if let Some(t) = read_opt(dir, "io.stat")? {
            let (bytes, ios) = parse_io_stat(&t);
            s.blkio.io_service_bytes_recursive = bytes;
            s.blkio.io_serviced_recursive = ios;
        }
        s.blkio.psi = read_opt(dir, "io.pressure")?.map(|t| PsiStats::parse(&t));
        for size in hugetlb_sizes(dir) {
            let f = |n: &str| read_u64_or_zero(dir, &format!("hugetlb.{size}.{n}"));
            let failcnt = read_opt(dir, &format!("hugetlb.{size}.events"))?
                .and_then(|t| {
                    fsutil::flat_keyed(&t)
                        .find(|(k, _)| *k == "max")
                        .map(|(_, v)| v)
                })
                .unwrap_or(0);
            let entry = Hugetlb {
                usage: f("current")?,
                max: 0,
                failcnt,
            };
            s.hugetlb.insert(size, entry);
        }
        Ok(s)
    }

    fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if !self.dir.exists() {
            return Ok(()); // deleted already: nothing left to signal
        }
        if signal == libc::SIGKILL && self.dir.join("cgroup.kill").exists() {
            return write(&self.dir, "cgroup.kill", "1");
        }
        // An empty cgroup needs no freeze/thaw round: nothing is left that could fork.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let freeze = self.dir.join("cgroup.freeze").exists() && !self.is_frozen()?;
        if freeze {
            self.freeze()?;
        }
        let result = self.pids().and_then(|p| fsutil::signal_all(&p, signal));
        if freeze {
            self.thaw()?;
        }
        result
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        if self.dir != self.mount_point {
            if let Err(e) = fsutil::remove_tree(&self.dir) {
                first_err = Some(e);
            }
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        let ours =
            |d: &&PathBuf| **d != self.dir && !fsutil::is_default_parent(&self.mount_point, d);
        for dir in created.iter().rev().filter(ours) {
            if let Err(e) = fsutil::remove_parent(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }
}

/// Page sizes with hugetlb files in a v2 directory (`hugetlb.2MB.max` -> `2MB`).
fn hugetlb_sizes(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(".current")?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect();
    sizes.sort();
    sizes
}

/// io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`) to runc's blkio entries:
/// (bytes, operations), with ops `Read` and `Write`.
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
        assert_eq!(blkio_weight_to_io(500), 1 + (490 * 9999) / 990);
        assert_eq!(
            swap_max(Some(100), Some(300)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(
            swap_max(Some(100), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_max(Some(100), None).unwrap(), None);
        assert!(swap_max(Some(100), Some(50)).is_err());
        assert!(swap_max(None, Some(50)).is_err());
        assert_eq!(max_or(-1), "max");
    }

    /// A fake cgroup2 root with the files the kernel would show.
    fn fake_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::write(
            p.join("cgroup.controllers"),
            "cpuset cpu io memory pids rdma\n",
        )
        .unwrap();
        std::fs::write(p.join("cgroup.subtree_control"), "cpu\n").unwrap();
        std::fs::write(p.join("cgroup.procs"), "").unwrap();
        root
    }

    /// What the kernel would create in a new cgroup: its control files.
    fn fake_leaf(dir: &Path, controllers: &str) {
        std::fs::write(dir.join("cgroup.controllers"), controllers).unwrap();
        for f in [
            "cgroup.procs",
            "cgroup.freeze",
            "cgroup.kill",
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "memory.high",
            "cpu.weight",
            "cpu.max",
            "cpu.max.burst",
            "cpu.idle",
            "cpuset.cpus",
            "cpuset.mems",
            "pids.max",
            "io.weight",
            "io.max",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
    }

    static ATTACHED: Mutex<Vec<(PathBuf, Vec<BpfInsn>)>> = Mutex::new(Vec::new());

    fn record_attach(dir: &Path, insns: &[BpfInsn]) -> Result<(), CgroupError> {
        ATTACHED
            .lock()
            .unwrap()
            .push((dir.to_owned(), insns.to_vec()));
        Ok(())
    }

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn file(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn open_picks_v2_for_a_root_with_cgroup_controllers() {
        let root = fake_root();
        let cg = crate::open(&crate::CgroupConfig {
            path: "",
            container_id: "abc",
            systemd: false,
            root: Some(root.path()),
        })
        .unwrap();
        assert_eq!(cg.paths(), vec![root.path().join("berth/abc")]);
    }

    #[test]
    fn create_enables_controllers_in_parents() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/berth/c1");
        cg.create().unwrap();
        assert!(root.path().join("berth/c1").is_dir());
        // "cpu" was on already; the rest are added in one write.
        assert_eq!(
            file(root.path(), "cgroup.subtree_control"),
            "+cpuset +io +memory +pids +rdma"
        );
        assert_eq!(
            *cg.created.lock().unwrap(),
            vec![root.path().join("berth"), root.path().join("berth/c1")]
        );
    }

    /// Two containers share `/berth`: it stays when both are gone (as docker's `/docker`
    /// does), while a parent made for one container's nested path goes with it.
    #[test]
    fn the_shared_default_parent_stays_and_own_parents_go() {
        let root = fake_root();
        let a = V2::new(root.path(), "/", "/berth/a");
        a.create().unwrap();
        let b = V2::new(root.path(), "/", "/berth/b");
        b.create().unwrap();
        let c = V2::new(root.path(), "/", "/nested/c");
        c.create().unwrap();
        // A fake cgroupfs does not refuse rmdir of a dir with files: empty the leaves first.
        for leaf in ["berth/a", "berth/b", "nested/c"] {
            for f in std::fs::read_dir(root.path().join(leaf)).unwrap() {
                std::fs::remove_file(f.unwrap().path()).unwrap();
            }
        }
        a.destroy().unwrap();
        b.destroy().unwrap();
        c.destroy().unwrap();
        assert!(root.path().join("berth").is_dir(), "/berth removed");
        assert!(!root.path().join("berth/a").exists());
        assert!(!root.path().join("nested").exists(), "/nested left behind");
    }

    #[test]
    fn resources_are_written_to_v2_files() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/c2").with_attach(record_attach);
        cg.create().unwrap();
        let dir = root.path().join("c2");
        fake_leaf(&dir, "cpuset cpu io memory pids\n");
        let r = resources(
            r#"{
            "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800,
                       "kernel": 1, "swappiness": 10, "disableOOMKiller": true},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                    "idle": 1, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": 64},
            "blockIO": {"weight": 500,
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
            "devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
            "unified": {"memory.high": "90000000"}
        }"#,
        );
        cg.apply_resources(&r).unwrap();
        assert_eq!(file(&dir, "memory.max"), "104857600");
        assert_eq!(file(&dir, "memory.swap.max"), "104857600");
        assert_eq!(file(&dir, "memory.low"), "52428800");
        assert_eq!(file(&dir, "memory.high"), "90000000");
        assert_eq!(file(&dir, "cpu.weight"), "39");
        assert_eq!(file(&dir, "cpu.max"), "50000 100000");
        assert_eq!(file(&dir, "cpu.max.burst"), "1000");
        assert_eq!(file(&dir, "cpu.idle"), "1");
        assert_eq!(file(&dir, "cpuset.cpus"), "0-1");
        assert_eq!(file(&dir, "cpuset.mems"), "0");
        assert_eq!(file(&dir, "pids.max"), "64");
        // Plain files keep only the last of several writes.
        assert_eq!(
            file(&dir, "io.weight"),
            format!("8:0 {}", blkio_weight_to_io(300))
        );
        assert_eq!(file(&dir, "io.max"), "8:16 wiops=100");
        let attached = ATTACHED.lock().unwrap();
        let (_, prog) = attached
            .iter()
            .find(|(d, _)| *d == dir)
            .expect("device program");
        assert_eq!(crate::devices::tests::run(prog, 2, 6, 1, 3), 1);
        assert_eq!(crate::devices::tests::run(prog, 2, 6, 1, 5), 0);
    }

    #[test]
    fn quota_only_and_unlimited_values() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/c3");
        cg.create().unwrap();
        let dir = root.path().join("c3");
        fake_leaf(&dir, "cpu memory pids\n");
        cg.apply_resources(&resources(
            r#"{"cpu": {"quota": -1}, "memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}}"#,
        ))
        .unwrap();
        assert_eq!(file(&dir, "cpu.max"), "max");
        assert_eq!(file(&dir, "memory.max"), "max");
        assert_eq!(file(&dir, "memory.swap.max"), "max");
        assert_eq!(file(&dir, "pids.max"), "max");
        cg.apply_resources(&resources(r#"{"cpu": {"period": 250000}}"#))
            .unwrap();
        assert_eq!(file(&dir, "cpu.max"), "max 250000");
    }

    #[test]
    fn missing_controllers_and_unsupported_fields_are_named() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/c4");
        cg.create().unwrap();
        let dir = root.path().join("c4");
        fake_leaf(&dir, "cpu memory\n");
        let err = cg
            .apply_resources(&resources(
                r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1048576}]}"#,
            ))
            .unwrap_err();
        assert!(err.to_string().contains("hugetlb"), "{err}");
        let err = cg
            .apply_resources(&resources(r#"{"pids": {"limit": 5}}"#))
            .unwrap_err();
        assert!(err.to_string().contains("pids"), "{err}");
        let err = cg
            .apply_resources(&resources(r#"{"network": {"classID": 5}}"#))
            .unwrap_err();
        assert!(err.to_string().contains("net_cls"), "{err}");
        let err = cg
            .apply_resources(&resources(r#"{"cpu": {"realtimeRuntime": 5}}"#))
            .unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported { .. }), "{err}");
        let err = cg
            .apply_resources(&resources(r#"{"unified": {"../x": "1"}}"#))
            .unwrap_err();
        assert!(matches!(err, CgroupError::InvalidResource { .. }), "{err}");
        // Nothing asked: nothing needed.
        cg.apply_resources(&resources("{}")).unwrap();
    }

    #[test]
    fn freeze_thaw_kill_and_pids_on_a_fake_tree() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/c5");
        cg.create().unwrap();
        let dir = root.path().join("c5");
        fake_leaf(&dir, "pids\n");
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        cg.freeze().unwrap();
        assert_eq!(file(&dir, "cgroup.freeze"), "1");
        assert!(cg.is_frozen().unwrap());
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        cg.thaw().unwrap();
        assert_eq!(file(&dir, "cgroup.freeze"), "0");
        assert!(!cg.is_frozen().unwrap());
        cg.kill_all(libc::SIGKILL).unwrap();
        assert_eq!(file(&dir, "cgroup.kill"), "1");
        cg.add_process(4242).unwrap();
        assert_eq!(file(&dir, "cgroup.procs"), "4242");
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/cgroup.procs"), "7\n").unwrap();
        let mut pids = cg.pids().unwrap();
        pids.sort();
        assert_eq!(pids, vec![7, 4242]);
    }

    #[test]
    fn stats_from_v2_files() {
        let root = fake_root();
        let cg = V2::new(root.path(), "/", "/c6");
        cg.create().unwrap();
        let dir = root.path().join("c6");
        let w = |f: &str, v: &str| std::fs::write(dir.join(f), v).unwrap();
        w("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 2\nthrottled_usec 5\n");
        w("memory.current", "4096\n");
        w("memory.max", "max\n");
        w("memory.peak", "8192\n");
        w("memory.stat", "anon 100\nfile 200\n");
        w("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
        w("memory.swap.current", "0\n");
        w("memory.swap.max", "1000\n");
        w("pids.current", "3\n");
        w("pids.max", "64\n");
        w(
            "io.stat",
            "254:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        w(
            "memory.pressure",
            "some avg10=0.50 avg60=0.00 avg300=0.00 total=9\n",
        );
        w("hugetlb.2MB.current", "0\n");
        let s = cg.stats().unwrap();
        assert_eq!(s.cpu.usage.total, 10_000);
        assert_eq!(s.cpu.usage.user, 6_000);
        assert_eq!(s.cpu.usage.kernel, 4_000);
        assert_eq!(s.cpu.throttling.throttled_periods, 2);
        assert_eq!(s.cpu.throttling.throttled_time, 5_000);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.usage.max, 8192);
        assert_eq!(s.memory.usage.failcnt, 4);
        assert_eq!(s.memory.cache, 200);
        assert_eq!(s.memory.event_count.oom_kill, 1);
        assert_eq!(cg.oom_kills().unwrap(), 1);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(s.memory.psi.as_ref().unwrap().some.total, 9);
        assert_eq!(s.pids.current, 3);
        assert_eq!(s.pids.limit, 64);
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
        assert!(s.hugetlb.contains_key("2MB"));
    }

    #[test]
    fn io_stat() {
        let (b, i) = parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].op, "Write");
        assert_eq!(b[1].value, 20);
        assert_eq!(i[0].value, 1);
    }
}
