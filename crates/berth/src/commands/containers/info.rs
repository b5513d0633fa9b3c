//! `berth info`: docker's system information (the Engine API `SystemInfo` fields that apply to a
//! daemonless engine), as text or through `-f`.

use serde_json::{json, Value};

/// What `info` reports that only the caller knows.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub containers: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
    pub images: usize,
}

/// The `SystemInfo` JSON (the subset Berth fills in).
pub fn system_info(c: &Counts, root: &std::path::Path, storage_driver: &str) -> Value {
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    json!({
        "ID": "",
        "Containers": c.containers,
        "ContainersRunning": c.running,
        "ContainersPaused": c.paused,
        "ContainersStopped": c.stopped,
        "Images": c.images,
        "Driver": storage_driver,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "KernelVersion": field(|u| u.release()),
        "OperatingSystem": os,
        "OSType": "linux",
        "Architecture": field(|u| u.machine()),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem,
        "Name": field(|u| u.nodename()),
        "DockerRootDir": root.display().to_string(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "DefaultRuntime": "berth",
        "Runtimes": {"berth": {"path": "berth-runtime (in-process)"}},
        "InitBinary": "berth-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Plugins": {"Volume": ["local"], "Network": ["host", "none"], "Log": ["json-file"]},
    })
}

/// Docker's text layout of `info` (server part).
pub fn render(info: &Value) -> String {
    let s = |k: &str| match &info[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let mut out = String::new();
    out.push_str("Client:\n");
    out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    out.push_str(" Context:    default\n\n");
    out.push_str("Server:\n");
    out.push_str(&format!(" Containers: {}\n", s("Containers")));
    out.push_str(&format!("  Running: {}\n", s("ContainersRunning")));
    out.push_str(&format!("  Paused: {}\n", s("ContainersPaused")));
    out.push_str(&format!("  Stopped: {}\n", s("ContainersStopped")));
    out.push_str(&format!(" Images: {}\n", s("Images")));
    out.push_str(&format!(" Server Version: {}\n", s("ServerVersion")));
    out.push_str(&format!(" Storage Driver: {}\n", s("Driver")));
    out.push_str(&format!(" Logging Driver: {}\n", s("LoggingDriver")));
    out.push_str(&format!(" Cgroup Driver: {}\n", s("CgroupDriver")));
    out.push_str(&format!(" Cgroup Version: {}\n", s("CgroupVersion")));
    out.push_str(" Plugins:\n  Volume: local\n  Network: host none\n  Log: json-file\n");
    out.push_str(&format!(" Default Runtime: {}\n", s("DefaultRuntime")));
    out.push_str(&format!(" Init Binary: {}\n", s("InitBinary")));
    out.push_str(" Security Options:\n  seccomp\n   Profile: builtin\n");
    out.push_str(&format!(" Kernel Version: {}\n", s("KernelVersion")));
    out.push_str(&format!(" Operating System: {}\n", s("OperatingSystem")));
    out.push_str(&format!(" OSType: {}\n", s("OSType")));
    out.push_str(&format!(" Architecture: {}\n", s("Architecture")));
    out.push_str(&format!(" CPUs: {}\n", s("NCPU")));
    out.push_str(&format!(
        " Total Memory: {}\n",
        crate::units::bytes_size(info["MemTotal"].as_f64().unwrap_or(0.0))
    ));
    out.push_str(&format!(" Name: {}\n", s("Name")));
    out.push_str(&format!(" Docker Root Dir: {}\n", s("DockerRootDir")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_and_fields() {
        let c = Counts {
            containers: 3,
            running: 1,
            paused: 0,
            stopped: 2,
            images: 1,
        };
        let v = system_info(&c, std::path::Path::new("/var/lib/berth"), "overlay");
        assert_eq!(v["Containers"], 3);
        let text = render(&v);
        assert!(text.contains(" Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n"));
        assert!(text.contains(" Images: 1\n"));
        assert!(text.contains(" Docker Root Dir: /var/lib/berth\n"));
        assert!(text.contains(" Storage Driver: overlay\n"));
    }
}
