//! The cgroup v1 driver: one directory per mounted hierarchy (also used on hybrid hosts).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_oci::oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources,
};

use crate::devices::Rule;
use crate::fsutil::{self, read, read_opt, read_u64_or_zero, write};
use crate::mounts::{OwnCgroups, V1Mount};
use crate::path::{on_disk, Target};
use crate::stats::{BlkioEntry, Hugetlb, MemoryEntry, Stats};
use crate::{Cgroup, CgroupError};

/// How long freeze/thaw may take before we give up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// The container's directory in one hierarchy.
#[derive(Debug)]
struct Hier {
    controllers: Vec<String>,
    mount_point: PathBuf,
    dir: PathBuf,
}

/// A container's cgroup on a v1 (or hybrid) host.
#[derive(Debug)]
pub(crate) struct V1 {
    hiers: Vec<Hier>,
    /// Directories created by this object, outermost first (removed again by `destroy`).
    created: Mutex<Vec<PathBuf>>,
}

impl V1 {
    /// Places `target` in every mounted hierarchy; relative targets go below `own`'s cgroup of
    /// that hierarchy (or the hierarchy root when `own` is `None`).
    pub fn new(mounts: &[V1Mount], target: &Target, own: Option<&OwnCgroups>) -> V1 {
        let hiers = mounts
            .iter()
            .map(|m| {
                let own_path = own.and_then(|o| o.v1_path(&m.controllers));
                let cgroup = target.in_hierarchy(own_path);
                Hier {
                    controllers: m.controllers.clone(),
                    mount_point: m.mount_point.clone(),
                    dir: on_disk(&m.mount_point, &m.root, &cgroup),
                }
            })
            .collect();
        V1 {
            hiers,
            created: Mutex::new(Vec::new()),
        }
    }

    /// The directory in the hierarchy that has `controller`.
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.hiers
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// Like [`V1::dir`], but a missing controller is an error naming it and the spec field.
    fn need(&self, controller: &'static str, what: &'static str) -> Result<&Path, CgroupError> {
        self.dir(controller)
            .ok_or(CgroupError::ControllerMissing { controller, what })
    }

    /// The hierarchy used to list processes: any will do, these are the cheapest to read.
    fn procs_dir(&self) -> Option<&Path> {
        ["pids", "freezer", "devices", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.hiers.first().map(|h| h.dir.as_path()))
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<(), CgroupError> {
        let limit = m.limit().filter(|v| *v != 0);
        let swap = m.swap().filter(|v| *v != 0);
        let reservation = m.reservation().filter(|v| *v != 0);
        let anything = limit.is_some()
            || swap.is_some()
            || reservation.is_some()
            || m.kernel().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true);
        if !anything {
            return Ok(());
        }
        let dir = self.need("memory", "memory")?;
        // Without swap accounting there is no memsw file: the swap limit cannot apply.
        let swap = swap.filter(|_| dir.join("memory.memsw.limit_in_bytes").exists());
        match (limit, swap) {
            (Some(l), Some(s)) => {
                // memsw must never be below the memory limit: raise memsw first when growing.
                if let Err(e) = write(dir, "memory.limit_in_bytes", &l.to_string()) {
                    if !is_errno(&e, libc::EINVAL) {
                        return Err(e);
                    }
                    write(dir, "memory.memsw.limit_in_bytes", &s.to_string())?;
                    write(dir, "memory.limit_in_bytes", &l.to_string())?;
                } else {
                    write(dir, "memory.memsw.limit_in_bytes", &s.to_string())?;
                }
            }
            (Some(l), None) => write(dir, "memory.limit_in_bytes", &l.to_string())?,
            (None, Some(s)) => write(dir, "memory.memsw.limit_in_bytes", &s.to_string())?,
            (None, None) => {}
        }
        if let Some(r) = reservation {
            write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
        }
        // Kernel memory limits are deprecated and refused by recent kernels; like runc we treat
        // them as best effort.
        if let Some(k) = m.kernel() {
            let _ = write(dir, "memory.kmem.limit_in_bytes", &k.to_string());
        }
        if let Some(k) = m.kernel_tcp() {
            let _ = write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string());
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(CgroupError::InvalidResource {
                    what: "memory.swappiness",
                    reason: format!("{s} is above 100"),
                });
            }
            write(dir, "memory.swappiness", &s.to_string())?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(dir, "memory.oom_control", "1")?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<(), CgroupError> {
        let shares = c.shares().filter(|v| *v != 0);
        let period = c.period().filter(|v| *v != 0);
        let quota = c.quota().filter(|v| *v != 0);
        let rt_period = c.realtime_period().filter(|v| *v != 0);
        let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
        if shares.is_some()
            || period.is_some()
            || quota.is_some()
            || rt_period.is_some()
            || rt_runtime.is_some()
            || c.burst().is_some()
            || c.idle().is_some()
        {
            let dir = self.need("cpu", "cpu")?;
            if let Some(s) = shares {
                write(dir, "cpu.shares", &s.to_string())?;
            }
            match (period, quota) {
                (Some(p), Some(q)) => {
                    // A period change can be refused under the current quota: then quota first.
                    if write(dir, "cpu.cfs_period_us", &p.to_string()).is_err() {
                        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                        write(dir, "cpu.cfs_period_us", &p.to_string())?;
                    } else {
                        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                    }
                }
                (Some(p), None) => write(dir, "cpu.cfs_period_us", &p.to_string())?,
                (None, Some(q)) => write(dir, "cpu.cfs_quota_us", &q.to_string())?,
                (None, None) => {}
            }
            if let Some(b) = c.burst() {
                write(dir, "cpu.cfs_burst_us", &b.to_string())?;
            }
            if let Some(p) = rt_period {
                write(dir, "cpu.rt_period_us", &p.to_string())?;
            }
            if let Some(r) = rt_runtime {
                write(dir, "cpu.rt_runtime_us", &r.to_string())?;
            }
            if let Some(i) = c.idle() {
                write(dir, "cpu.idle", &i.to_string())?;
            }
        }
        let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = c.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            let dir = self.need("cpuset", "cpu.cpus/cpu.mems")?;
            if let Some(v) = cpus {
                write(dir, "cpuset.cpus", v)?;
            }
            if let Some(v) = mems {
                write(dir, "cpuset.mems", v)?;
            }
        }
        Ok(())
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<(), CgroupError> {
        let weight = b.weight().filter(|v| *v != 0);
        let leaf = b.leaf_weight().filter(|v| *v != 0);
        let devices = b.weight_device().as_deref().unwrap_or_default();
        let throttles = [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ];
        let any_throttle = throttles
            .iter()
            .any(|(_, t)| t.as_ref().is_some_and(|t| !t.is_empty()));
        if weight.is_none() && leaf.is_none() && devices.is_empty() && !any_throttle {
            return Ok(());
        }
        let dir = self.need("blkio", "blockIO")?;
        // CFQ's blkio.weight, else BFQ's blkio.bfq.weight (same 10..1000 scale).
        let weight_file = |name: &'static str| -> Result<&'static str, CgroupError> {
            if dir.join(format!("blkio.{name}")).exists() {
                Ok(match name {
                    "weight" => "blkio.weight",
                    _ => "blkio.weight_device",
                })
            } else if dir.join(format!("blkio.bfq.{name}")).exists() {
                Ok(match name {
                    "weight" => "blkio.bfq.weight",
                    _ => "blkio.bfq.weight_device",
                })
            } else {
                Err(CgroupError::ControllerMissing {
                    controller: "blkio proportional weight (CFQ or BFQ I/O scheduler)",
                    what: "blockIO.weight",
                })
            }
        };
        if let Some(w) = weight {
            write(dir, weight_file("weight")?, &w.to_string())?;
        }
        if let Some(w) = leaf {
            write(dir, "blkio.leaf_weight", &w.to_string())?;
        }
        for d in devices {
            if let Some(w) = d.weight() {
                let line = format!("{}:{} {w}", d.major(), d.minor());
                write(dir, weight_file("weight_device")?, &line)?;
            }
            if let Some(w) = d.leaf_weight() {
                let line = format!("{}:{} {w}", d.major(), d.minor());
                write(dir, "blkio.leaf_weight_device", &line)?;
            }
        }
        for (file, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                write(
                    dir,
                    file,
                    &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                )?;
            }
        }
        Ok(())
    }

    fn apply_network(&self, n: &LinuxNetwork) -> Result<(), CgroupError> {
        if let Some(id) = n.class_id() {
            let dir = self.need("net_cls", "network.classID")?;
            write(dir, "net_cls.classid", &id.to_string())?;
        }
        let prios = n.priorities().as_deref().unwrap_or_default();
        if !prios.is_empty() {
            let dir = self.need("net_prio", "network.priorities")?;
            for p in prios {
                write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        Ok(())
    }

    /// Gives a cpuset cgroup with empty cpus/mems its parent's (a new v1 cpuset cgroup starts
    /// empty and refuses tasks), walking up as far as needed.
    fn fill_cpuset(dir: &Path, mount_point: &Path) -> Result<(), CgroupError> {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            Self::inherit(dir, mount_point, file)?;
        }
        Ok(())
    }

    fn inherit(dir: &Path, mount_point: &Path, file: &str) -> Result<String, CgroupError> {
        let current = read(dir, file)?;
        if !current.trim().is_empty() || dir == mount_point {
            return Ok(current);
        }
        let Some(parent) = dir.parent() else {
            return Ok(current);
        };
        let value = Self::inherit(parent, mount_point, file)?;
        write(dir, file, value.trim())?;
        Ok(value)
    }

    fn freezer_state(dir: &Path) -> Result<String, CgroupError> {
        Ok(read(dir, "freezer.state")?.trim().to_owned())
    }

    /// True once the cgroup directories are gone (container deleted or never created).
    fn gone(&self) -> bool {
        !matches!(self.procs_dir(), Some(d) if d.exists())
    }
}

/// True if `e` wraps the OS error `errno`.
fn is_errno(e: &CgroupError, errno: i32) -> bool {
    match e {
        CgroupError::Write { source, .. } | CgroupError::Read { source, .. } => {
            source.raw_os_error() == Some(errno)
        }
        _ => false,
    }
}

impl Cgroup for V1 {
    fn create(&self) -> Result<(), CgroupError> {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for h in &self.hiers {
            created.extend(fsutil::mkdir_p(&h.dir)?);
            if h.controllers.iter().any(|c| c == "cpuset") {
                Self::fill_cpuset(&h.dir, &h.mount_point)?;
            }
        }
        Ok(())
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::Unsupported {
                what: "linux.resources.unified",
                version: "v1",
            });
        }
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                let dir = self.need("pids", "pids.limit")?;
                write(dir, "pids.max", &pids_value(p.limit()))?;
            }
        }
        if let Some(b) = r.block_io() {
            self.apply_blkio(b)?;
        }
        let huge = r.hugepage_limits().as_deref().unwrap_or_default();
        if !huge.is_empty() {
            let dir = self.need("hugetlb", "hugepageLimits")?;
            for h in huge {
                let size = page_size(h.page_size())?;
                write(
                    dir,
                    &format!("hugetlb.{size}.limit_in_bytes"),
                    &h.limit().to_string(),
                )?;
            }
        }
        if let Some(n) = r.network() {
            self.apply_network(n)?;
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            let dir = self.need("rdma", "rdma")?;
            for (dev, lim) in rdma {
                write(dir, "rdma.max", &rdma_line(dev, lim))?;
            }
        }
        let rules = Rule::from_oci_list(r.devices().as_deref().unwrap_or_default())?;
        if !rules.is_empty() {
            let dir = self.need("devices", "devices")?;
            let lines: Vec<_> = rules.iter().map(|r| r.v1_line()).collect();
            fsutil::write_lines(dir, &lines)?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for h in &self.hiers {
            write(&h.dir, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    fn self_join(&self) -> Result<Option<crate::SelfJoin>, CgroupError> {
        crate::SelfJoin::open(self.hiers.iter().map(|h| h.dir.as_path())).map(Some)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.need("freezer", "pause (freezer)")?;
        write(dir, "freezer.state", "FROZEN")?;
        let mut polls = 0u32;
        let done = fsutil::poll_until(FREEZE_TIMEOUT, || {
            polls += 1;
            if Self::freezer_state(dir)? == "FROZEN" {
                return Ok(true);
            }
            // Tasks forked meanwhile can keep the group FREEZING: ask again now and then.
            if polls == 8 {
                polls = 0;
                write(dir, "freezer.state", "FROZEN")?;
            }
            Ok(false)
        })?;
        if done {
            Ok(())
        } else {
            let _ = write(dir, "freezer.state", "THAWED");
            Err(CgroupError::FreezeTimeout {
                path: dir.join("freezer.state"),
                state: "FROZEN",
            })
        }
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.need("freezer", "resume (freezer)")?;
        write(dir, "freezer.state", "THAWED")?;
        if fsutil::poll_until(FREEZE_TIMEOUT, || Ok(Self::freezer_state(dir)? == "THAWED"))? {
            Ok(())
        } else {
            Err(CgroupError::FreezeTimeout {
                path: dir.join("freezer.state"),
                state: "THAWED",
            })
        }
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.dir("freezer") {
            Some(dir) => Ok(read_opt(dir, "freezer.state")?.is_some_and(|s| s.trim() == "FROZEN")),
            None => Ok(false),
        }
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        if let Some(dir) = self.procs_dir() {
            fsutil::procs_recursive(dir, &mut out)?;
        }
        Ok(out)
    }

    fn oom_kills(&self) -> Result<u64, CgroupError> {
        let Some(dir) = self.dir("memory") else {
            return Ok(0);
        };
        Ok(read_opt(dir, "memory.oom_control")?
            .and_then(|t| fsutil::keyed_value(&t, "oom_kill"))
            .unwrap_or(0))
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(dir) = self.dir("cpuacct") {
            cpuacct_stats(dir, &mut s)?;
        }
        if let Some(dir) = self.dir("cpu") {
            if let Some(text) = read_opt(dir, "cpu.stat")? {
                for (k, v) in fsutil::flat_keyed(&text) {
                    match k {
                        "nr_periods" => s.cpu.throttling.periods = v,
                        "nr_throttled" => s.cpu.throttling.throttled_periods = v,
                        "throttled_time" => s.cpu.throttling.throttled_time = v,
                        _ => {}
                    }
                }
            }
        }
        if let Some(dir) = self.dir("cpuset") {
            cpuset_stats(dir, &mut s)?;
        }
        if let Some(dir) = self.dir("memory") {
            memory_stats(dir, &mut s)?;
        }
        if let Some(dir) = self.dir("pids") {
            s.pids.current = read_u64_or_zero(dir, "pids.current")?;
            s.pids.limit = read_u64_or_zero(dir, "pids.max")?;
        }
        if let Some(dir) = self.dir("blkio") {
            blkio_stats(dir, &mut s)?;
        }
        if let Some(dir) = self.dir("hugetlb") {
            for size in hugetlb_sizes(dir) {
                let f = |n: &str| read_u64_or_zero(dir, &format!("hugetlb.{size}.{n}"));
                let entry = Hugetlb {
                    usage: f("usage_in_bytes")?,
                    max: f("max_usage_in_bytes")?,
                    failcnt: f("failcnt")?,
                };
                s.hugetlb.insert(size, entry);
            }
        }
        Ok(s)
    }

    fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if self.gone() {
            return Ok(());
        }
        // An empty cgroup (the usual case when a stopped container is deleted) needs no
        // freeze/thaw round: nothing is left that could fork.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let freeze = self.dir("freezer").is_some() && !self.is_frozen()?;
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
        for h in &self.hiers {
            if h.dir == h.mount_point {
                continue; // never the hierarchy root
            }
            if let Err(e) = fsutil::remove_tree(&h.dir) {
                first_err.get_or_insert(e);
            }
        }
        // Parents we made ourselves, innermost first, but for the shared default parent; one
        // still in use (another container below it) stays.
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for dir in created.iter().rev() {
            if self
                .hiers
                .iter()
                .any(|h| &h.dir == dir || fsutil::is_default_parent(&h.mount_point, dir))
            {
                continue;
            }
            if let Err(e) = fsutil::remove_parent(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.hiers.iter().map(|h| h.dir.clone()).collect()
    }
}

/// `pids.max` text for an OCI pids limit (negative: unlimited).
pub(crate) fn pids_value(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// Validates a hugepage size (`2MB`) for use in a file name.
pub(crate) fn page_size(size: &str) -> Result<&str, CgroupError> {
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CgroupError::InvalidResource {
            what: "hugepageLimits.pageSize",
            reason: format!("{size:?} is not a page size like 2MB"),
        });
    }
    Ok(size)
}

/// An `rdma.max` line.
pub(crate) fn rdma_line(dev: &str, lim: &berth_oci::oci_spec::runtime::LinuxRdma) -> String {
    let mut line = dev.to_owned();
    if let Some(h) = lim.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = lim.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    line
}

/// Page sizes with hugetlb files in `dir` (`hugetlb.2MB.limit_in_bytes` -> `2MB`).
fn hugetlb_sizes(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name
                .strip_prefix("hugetlb.")?
                .strip_suffix(".limit_in_bytes")?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect();
    sizes.sort();
    sizes
}

/// Nanoseconds per USER_HZ tick (cpuacct.stat counts ticks).
fn ns_per_tick() -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|v| *v > 0)
        .unwrap_or(100) as u64;
    1_000_000_000 / hz
}

fn cpuacct_stats(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    s.cpu.usage.total = read_u64_or_zero(dir, "cpuacct.usage")?;
    if let Some(t) = read_opt(dir, "cpuacct.usage_percpu")? {
        s.cpu.usage.percpu = t
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    // cpuacct.usage_all: "cpu user system" per line, nanoseconds.
    if let Some(t) = read_opt(dir, "cpuacct.usage_all")? {
        for line in t.lines().skip(1) {
            let mut f = line.split_whitespace().skip(1);
            if let (Some(Ok(u)), Some(Ok(k))) = (f.next().map(str::parse), f.next().map(str::parse))
            {
                s.cpu.usage.percpu_user.push(u);
                s.cpu.usage.percpu_kernel.push(k);
            }
        }
    }
    if let Some(t) = read_opt(dir, "cpuacct.stat")? {
        let tick = ns_per_tick();
        for (k, v) in fsutil::flat_keyed(&t) {
            match k {
                "user" => s.cpu.usage.user = v * tick,
                "system" => s.cpu.usage.kernel = v * tick,
                _ => {}
            }
        }
    }
    Ok(())
}

fn cpuset_stats(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(t) = read_opt(dir, "cpuset.cpus")? {
        s.cpuset.cpus = fsutil::parse_list(&t);
    }
    if let Some(t) = read_opt(dir, "cpuset.mems")? {
        s.cpuset.mems = fsutil::parse_list(&t);
    }
    let c = &mut s.cpuset;
    for (file, field) in [
        ("cpuset.cpu_exclusive", &mut c.cpu_exclusive),
        ("cpuset.mem_hardwall", &mut c.mem_hardwall),
        ("cpuset.mem_exclusive", &mut c.mem_exclusive),
        ("cpuset.memory_migrate", &mut c.memory_migrate),
        ("cpuset.memory_spread_page", &mut c.memory_spread_page),
        ("cpuset.memory_spread_slab", &mut c.memory_spread_slab),
        ("cpuset.memory_pressure", &mut c.memory_pressure),
        ("cpuset.sched_load_balance", &mut c.sched_load_balance),
    ] {
        *field = read_u64_or_zero(dir, file)?;
    }
    if let Some(t) = read_opt(dir, "cpuset.sched_relax_domain_level")? {
        c.sched_relax_domain_level = t.trim().parse().unwrap_or(0);
    }
    Ok(())
}

fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let f = |n: &str| read_u64_or_zero(dir, &format!("{prefix}.{n}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

fn memory_stats(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(t) = read_opt(dir, "memory.stat")? {
        for (k, v) in fsutil::flat_keyed(&t) {
            s.memory.raw.insert(k.to_owned(), v);
        }
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    }
    s.memory.usage = memory_entry(dir, "memory")?;
    s.memory.swap = memory_entry(dir, "memory.memsw")?;
    s.memory.kernel = memory_entry(dir, "memory.kmem")?;
    s.memory.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?;
    if let Some(t) = read_opt(dir, "memory.oom_control")? {
        for (k, v) in fsutil::flat_keyed(&t) {
            if k == "oom_kill" {
                s.memory.event_count.oom_kill = v;
            }
        }
    }
    Ok(())
}

/// Parses a v1 blkio recursive file: `8:0 Read 4096` lines and a final `Total N`.
pub(crate) fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_owned(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn blkio_stats(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    // CFQ files if present, else BFQ, else the throttle layer (always there).
    let prefix = if dir.join("blkio.io_service_bytes_recursive").exists() {
        "blkio."
    } else if dir.join("blkio.bfq.io_service_bytes_recursive").exists() {
        "blkio.bfq."
    } else {
        "blkio.throttle."
    };
    let b = &mut s.blkio;
    for (name, field) in [
        (
            "io_service_bytes_recursive",
            &mut b.io_service_bytes_recursive,
        ),
        ("io_serviced_recursive", &mut b.io_serviced_recursive),
        ("io_queued_recursive", &mut b.io_queued_recursive),
        (
            "io_service_time_recursive",
            &mut b.io_service_time_recursive,
        ),
        ("io_wait_time_recursive", &mut b.io_wait_time_recursive),
        ("io_merged_recursive", &mut b.io_merged_recursive),
        ("time_recursive", &mut b.io_time_recursive),
        ("sectors_recursive", &mut b.sectors_recursive),
    ] {
        if let Some(t) = read_opt(dir, &format!("{prefix}{name}"))? {
            *field = parse_blkio(&t);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kills_read_from_oom_control_on_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("memory")).unwrap();
        let cg = crate::open(&crate::CgroupConfig {
            path: "/oomx",
            container_id: "c",
            systemd: false,
            root: Some(root.path()),
        })
        .unwrap();
        cg.create().unwrap();
        let dir = root.path().join("memory/oomx");
        assert_eq!(cg.oom_kills().unwrap(), 0, "no file yet");
        std::fs::write(
            dir.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills().unwrap(), 3);
    }

    #[test]
    fn combined_cpu_cpuacct_hierarchy_on_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        for h in ["cpu,cpuacct", "memory"] {
            std::fs::create_dir(root.path().join(h)).unwrap();
        }
        let cg = crate::open(&crate::CgroupConfig {
            path: "/x",
            container_id: "c",
            systemd: false,
            root: Some(root.path()),
        })
        .unwrap();
        let cpu = root.path().join("cpu,cpuacct/x");
        assert_eq!(cg.paths(), vec![cpu.clone(), root.path().join("memory/x")]);
        cg.create().unwrap();
        for f in ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"] {
            std::fs::write(cpu.join(f), "").unwrap();
        }
        std::fs::write(cpu.join("cpuacct.usage"), "1234\n").unwrap();
        std::fs::write(
            cpu.join("cpu.stat"),
            "nr_periods 2\nnr_throttled 1\nthrottled_time 9\n",
        )
        .unwrap();
        let r: LinuxResources =
            serde_json::from_str(r#"{"cpu": {"shares": 256, "quota": 5000, "period": 10000}}"#)
                .unwrap();
        cg.apply_resources(&r).unwrap();
        assert_eq!(
            std::fs::read_to_string(cpu.join("cpu.shares")).unwrap(),
            "256"
        );
        assert_eq!(
            std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap(),
            "5000"
        );
        let s = cg.stats().unwrap();
        assert_eq!(s.cpu.usage.total, 1234);
        assert_eq!(s.cpu.throttling.throttled_time, 9);
        let r: LinuxResources = serde_json::from_str(r#"{"pids": {"limit": 3}}"#).unwrap();
        let err = cg.apply_resources(&r).unwrap_err();
        assert!(err.to_string().contains("pids"), "{err}");
        let r: LinuxResources = serde_json::from_str(r#"{"unified": {"a.b": "1"}}"#).unwrap();
        assert!(matches!(
            cg.apply_resources(&r),
            Err(CgroupError::Unsupported { .. })
        ));
    }

    #[test]
    fn blkio_lines() {
        let e = parse_blkio("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].op, "Read");
        assert_eq!(e[0].value, 4096);
        assert_eq!(pids_value(-1), "max");
        assert_eq!(pids_value(7), "7");
        assert!(page_size("2MB").is_ok());
        assert!(page_size("../x").is_err());
    }
}
