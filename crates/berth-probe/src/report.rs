//! The default report: everything a process can see of its container, as one JSON object.

use crate::json::Json;
use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
use std::fs;

/// Builds the whole report.
pub fn report() -> Json {
    // Open the fd directory first so the listing fd is known and excluded.
    let fds = fds();
    let status = proc_status();
    let field = |name: &str| status_field(&status, name);
    let ids = |name: &str| -> Vec<i64> {
        field(name)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    let uids = ids("Uid");
    let gids = ids("Gid");
    let uts = nix::sys::utsname::uname().ok();
    Json::obj()
        .with("pid", i64::from(nix::unistd::getpid().as_raw()))
        .with("ppid", i64::from(nix::unistd::getppid().as_raw()))
        .with("uid", uids.first().copied())
        .with("euid", uids.get(1).copied())
        .with("suid", uids.get(2).copied())
        .with("fsuid", uids.get(3).copied())
        .with("gid", gids.first().copied())
        .with("egid", gids.get(1).copied())
        .with("sgid", gids.get(2).copied())
        .with("fsgid", gids.get(3).copied())
        .with("groups", ids("Groups"))
        .with(
            "caps",
            Json::obj()
                .with("inheritable", field("CapInh"))
                .with("permitted", field("CapPrm"))
                .with("effective", field("CapEff"))
                .with("bounding", field("CapBnd"))
                .with("ambient", field("CapAmb")),
        )
        .with(
            "no_new_privs",
            field("NoNewPrivs").and_then(|v| v.parse::<i64>().ok()),
        )
        .with(
            "seccomp",
            field("Seccomp").and_then(|v| v.parse::<i64>().ok()),
        )
        .with(
            "seccomp_filters",
            field("Seccomp_filters").and_then(|v| v.parse::<i64>().ok()),
        )
        .with("umask", field("Umask"))
        .with(
            "hostname",
            uts.as_ref()
                .map(|u| u.nodename().to_string_lossy().into_owned()),
        )
        .with(
            "domainname",
            uts.as_ref()
                .map(|u| u.domainname().to_string_lossy().into_owned()),
        )
        .with(
            "cwd",
            std::env::current_dir()
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        )
        .with(
            "machine",
            uts.as_ref()
                .map(|u| u.machine().to_string_lossy().into_owned()),
        )
        .with("sched", sched())
        .with("rlimits", rlimits())
        .with("fds", fds)
        .with("tty", tty())
        .with("namespaces", namespaces())
        .with("mounts", mounts())
        .with(
            "env",
            std::env::vars_os()
                .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
                .collect::<Vec<_>>(),
        )
        .with(
            "oom_score_adj",
            read_trim("/proc/self/oom_score_adj").and_then(|v| v.parse::<i64>().ok()),
        )
        .with("cgroups", cgroups())
        .with("cgroup_limits", cgroup_limits())
}

/// Scheduling as /proc/self/stat shows it: `{"policy": n, "nice": n, "priority": n}`
/// (policy 0 OTHER, 1 FIFO, 2 RR, 3 BATCH, 5 IDLE).
fn sched() -> Json {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised comm; field 3 (state) is index 0 here.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
    Json::obj()
        .with("priority", num(15))
        .with("nice", num(16))
        .with("policy", num(38))
}

/// Reads a file, trimming trailing whitespace; None when unreadable.
pub fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn proc_status() -> String {
    fs::read_to_string("/proc/self/status").unwrap_or_default()
}

fn status_field(status: &str, name: &str) -> Option<String> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim().to_string())
    })
}

const RLIMITS: &[(&str, Resource)] = &[
    ("RLIMIT_AS", Resource::RLIMIT_AS),
    ("RLIMIT_CORE", Resource::RLIMIT_CORE),
    ("RLIMIT_CPU", Resource::RLIMIT_CPU),
    ("RLIMIT_DATA", Resource::RLIMIT_DATA),
    ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", Resource::RLIMIT_NICE),
    ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
    ("RLIMIT_RSS", Resource::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", Resource::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", Resource::RLIMIT_STACK),
];

fn limit_value(v: u64) -> Json {
    if v == RLIM_INFINITY {
        Json::Int(-1)
    } else {
        Json::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Every rlimit, `{"RLIMIT_X": {"soft": n, "hard": n}}`, unlimited as -1.
fn rlimits() -> Json {
    let mut out = Json::obj();
    for (name, res) in RLIMITS {
        match getrlimit(*res) {
            Ok((soft, hard)) => out.set(
                name,
                Json::obj()
                    .with("soft", limit_value(soft))
                    .with("hard", limit_value(hard)),
            ),
            Err(e) => out.set(name, Json::obj().with("error", format!("{e:?}"))),
        }
    }
    out
}

/// Open fds `[{"fd": n, "target": "..."}]`, without the fd used to list the directory.
pub fn fds() -> Json {
    let mut out = Vec::new();
    // read_dir holds one fd open while iterating; its target is the /proc/<pid>/fd directory.
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Json::Arr(out);
    };
    let mut entries: Vec<(i64, String)> = Vec::new();
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i64>().ok())
        else {
            continue;
        };
        let Ok(target) = fs::read_link(entry.path()) else {
            // The listing fd is closed by the time we look at it in some kernels.
            continue;
        };
        entries.push((fd, target.to_string_lossy().into_owned()));
    }
    let self_dir = format!("/proc/{}/fd", nix::unistd::getpid());
    entries.sort();
    for (fd, target) in entries {
        if target == self_dir {
            continue;
        }
        out.push(Json::obj().with("fd", fd).with("target", target));
    }
    Json::Arr(out)
}

fn tty() -> Json {
    let mut out = Json::obj();
    for fd in 0..3 {
        out.set(&fd.to_string(), nix::unistd::isatty(fd).unwrap_or(false));
    }
    out
}

/// `{"mnt": "mnt:[4026531840]", ...}` for every entry of /proc/self/ns.
pub fn namespaces() -> Json {
    let mut out = Json::obj();
    let mut names: Vec<String> = fs::read_dir("/proc/self/ns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let target = fs::read_link(format!("/proc/self/ns/{name}"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        out.set(&name, target);
    }
    out
}

/// Parses one line of /proc/self/mountinfo.
pub fn parse_mountinfo_line(line: &str) -> Option<Json> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if l.len() < 6 || r.len() < 3 {
        return None;
    }
    let optional: Vec<String> = l[6..].iter().map(|s| s.to_string()).collect();
    Some(
        Json::obj()
            .with("mount_point", unescape(l[4]))
            .with("root", unescape(l[3]))
            .with("fs_type", r[0])
            .with("source", unescape(r[1]))
            .with("options", l[5])
            .with("super_options", r[2])
            .with("propagation", optional),
    )
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(d) = octal {
            let v =
                u16::from(d[0] - b'0') * 64 + u16::from(d[1] - b'0') * 8 + u16::from(d[2] - b'0');
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts() -> Json {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    Json::Arr(text.lines().filter_map(parse_mountinfo_line).collect())
}

/// Lines of /proc/self/cgroup as `[{"id": "4", "controllers": "memory", "path": "/x"}]`.
fn cgroup_lines() -> Vec<(String, String, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            Some((
                it.next()?.to_string(),
                it.next()?.to_string(),
                it.next()?.to_string(),
            ))
        })
        .collect()
}

fn cgroups() -> Json {
    Json::Arr(
        cgroup_lines()
            .into_iter()
            .map(|(id, ctl, path)| {
                Json::obj()
                    .with("id", id)
                    .with("controllers", ctl)
                    .with("path", path)
            })
            .collect(),
    )
}

/// Limit files, each `{"file": {"path": where it was read, "value": raw text}}`.
///
/// In v1 each file is looked for in its controller's mount, at the mount root (a private cgroup
/// mount or a cgroup namespace) and then under the path from /proc/self/cgroup; in v2 at
/// /sys/fs/cgroup and under the unified path.
fn cgroup_limits() -> Json {
    const FILES: &[(&str, &str)] = &[
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("", "memory.max"),
        ("", "memory.swap.max"),
        ("", "memory.low"),
        ("pids", "pids.max"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.shares"),
        ("", "cpu.max"),
        ("", "cpu.weight"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
        ("blkio", "blkio.weight"),
        ("", "io.weight"),
        ("", "pids.max"),
    ];
    let lines = cgroup_lines();
    let mut out = Json::obj();
    let mut seen = std::collections::HashSet::new();
    for (ctl, file) in FILES {
        if seen.contains(file) {
            continue;
        }
        let mut candidates = Vec::new();
        if ctl.is_empty() {
            candidates.push(format!("/sys/fs/cgroup/{file}"));
            for (id, _, path) in &lines {
                if id == "0" {
                    candidates.push(format!("/sys/fs/cgroup{}/{file}", trim_root(path)));
                }
            }
        } else {
            // cpu may be mounted as "cpu,cpuacct" or alone.
            for dir in [
                format!("/sys/fs/cgroup/{ctl}"),
                format!("/sys/fs/cgroup/{ctl},cpuacct"),
            ] {
                candidates.push(format!("{dir}/{file}"));
                for (_, ctls, path) in &lines {
                    if ctls.split(',').any(|c| c == *ctl) {
                        candidates.push(format!("{dir}{}/{file}", trim_root(path)));
                    }
                }
            }
        }
        // Prefer the deepest existing candidate: it is this process's own cgroup.
        let found = candidates
            .iter()
            .rev()
            .find_map(|p| read_trim(p).map(|v| (p.clone(), v)));
        if let Some((path, value)) = found {
            seen.insert(*file);
            out.set(file, Json::obj().with("path", path).with("value", value));
        }
    }
    out
}

fn trim_root(path: &str) -> &str {
    if path == "/" {
        ""
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_optional_fields() {
        let line = "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue";
        let j = parse_mountinfo_line(line).unwrap().render();
        assert!(j.contains(r#""mount_point":"/mnt 2""#), "{j}");
        assert!(j.contains(r#""fs_type":"ext3""#), "{j}");
        assert!(
            j.contains(r#""propagation":["master:1","shared:2"]"#),
            "{j}"
        );
        assert!(j.contains(r#""options":"rw,noatime""#), "{j}");
    }

    #[test]
    fn finds_status_fields() {
        let s = "Name:\tx\nUmask:\t0022\nCapEff:\t00000000a80425fb\n";
        assert_eq!(status_field(s, "Umask").as_deref(), Some("0022"));
        assert_eq!(
            status_field(s, "CapEff").as_deref(),
            Some("00000000a80425fb")
        );
        assert_eq!(status_field(s, "Nope"), None);
    }

    #[test]
    fn report_is_one_json_object() {
        let r = report().render();
        assert!(r.starts_with('{') && r.ends_with('}'));
        assert!(r.contains("\"rlimits\""));
        assert!(r.contains("\"policy\":0"), "{r}");
    }
}
