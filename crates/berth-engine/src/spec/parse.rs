//! Parsers for the option values both the CLI and the API hand to the engine: `-v`, `--mount`,
//! `--tmpfs`, `--device`, `--ulimit`, `--restart`, signals. Errors name the bad value.

use super::SpecError;
use crate::types::{
    BindOptions, DeviceMapping, Mount, RestartPolicy, TmpfsOptions, Ulimit, VolumeOptions,
};

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// A `-v`/`Binds` entry: `src:dst[:opts]` (absolute src = bind mount, else a named volume), or
/// just `dst` (an anonymous volume; `source` empty).
pub fn parse_bind(spec: &str) -> Result<Mount, SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] if dst.starts_with('/') => (*src, *dst, ""),
        [dst, opts] if dst.starts_with('/') && !opts.starts_with('/') && src_like_opts(opts) => {
            ("", *dst, *opts)
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(invalid(format!("invalid volume specification: '{spec}'"))),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"volume\": invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    if target == "/" {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config: destination can't be '/'"
        )));
    }
    let mut m = Mount {
        target: clean(target),
        source: source.to_string(),
        kind: if source.starts_with('/') {
            "bind"
        } else {
            "volume"
        }
        .into(),
        ..Default::default()
    };
    if m.kind == "volume" && !source.is_empty() {
        crate::volumes::validate_name(source)
            .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
    }
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => m.read_only = true,
            "rw" => m.read_only = false,
            "z" | "Z" => {} // SELinux relabelling: no SELinux here.
            "nocopy" => {
                m.volume_options
                    .get_or_insert_with(VolumeOptions::default)
                    .no_copy = true
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                m.bind_options
                    .get_or_insert_with(BindOptions::default)
                    .propagation = opt.into()
            }
            "consistent" | "cached" | "delegated" => {}
            _ => {
                return Err(invalid(format!(
                    "invalid volume specification: '{spec}': invalid mode: {opt}"
                )))
            }
        }
    }
    if m.source.is_empty() {
        m.kind = "volume".into();
    }
    Ok(m)
}

fn src_like_opts(opts: &str) -> bool {
    opts.split(',').all(|o| {
        matches!(
            o,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "private"
                | "rprivate"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
        )
    })
}

/// `/a//b/` -> `/a/b`.
pub fn clean(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// `--mount type=bind,source=/a,target=/b,readonly` (docker's CSV syntax).
pub fn parse_mount_flag(spec: &str) -> Result<Mount, SpecError> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut tmpfs = TmpfsOptions::default();
    let mut tmpfs_set = false;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| {
            v.map(str::to_string)
                .ok_or_else(|| invalid(format!("invalid field '{field}' must be a key=value pair")))
        };
        match key.as_str() {
            "type" => {
                let v = need(value)?;
                if !matches!(v.as_str(), "bind" | "volume" | "tmpfs") {
                    return Err(invalid(format!("invalid mount type: {v:?}")));
                }
                m.kind = v;
            }
            "source" | "src" => m.source = need(value)?,
            "target" | "destination" | "dst" => m.target = need(value)?,
            "readonly" | "ro" => {
                m.read_only = match value {
                    None | Some("1") | Some("true") => true,
                    Some("0") | Some("false") => false,
                    Some(v) => return Err(invalid(format!("invalid value for {key}: {v}"))),
                }
            }
            "bind-propagation" => {
                m.bind_options
                    .get_or_insert_with(BindOptions::default)
                    .propagation = need(value)?
            }
            "bind-nonrecursive" => {
                m.bind_options
                    .get_or_insert_with(BindOptions::default)
                    .non_recursive = value != Some("false")
            }
            "volume-nocopy" => {
                m.volume_options
                    .get_or_insert_with(VolumeOptions::default)
                    .no_copy = value != Some("false")
            }
            "volume-label" => {
                let v = need(value)?;
                let (k, val) = v.split_once('=').unwrap_or((&v, ""));
                m.volume_options
                    .get_or_insert_with(VolumeOptions::default)
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(k.into(), val.into());
            }
            "volume-driver" | "volume-opt" => {}
            "tmpfs-size" => {
                tmpfs.size_bytes = parse_size(&need(value)?)?;
                tmpfs_set = true;
            }
            "tmpfs-mode" => {
                let v = need(value)?;
                tmpfs.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .map_err(|_| invalid(format!("invalid value for tmpfs-mode: {v}")))?,
                );
                tmpfs_set = true;
            }
            "consistency" => m.consistency = need(value)?,
            _ => return Err(invalid(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    if m.target.is_empty() {
        return Err(invalid("target is required"));
    }
    if !m.target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type {:?}: invalid mount path: '{}' mount path must be absolute",
            m.kind, m.target
        )));
    }
    m.target = clean(&m.target);
    match m.kind.as_str() {
        "bind" if m.source.is_empty() => {
            return Err(invalid(
                "invalid mount config for type \"bind\": field Source must not be empty",
            ))
        }
        "tmpfs" if !m.source.is_empty() => {
            return Err(invalid(
                "invalid mount config for type \"tmpfs\": field Source must not be specified",
            ))
        }
        _ => {}
    }
    if tmpfs_set {
        if m.kind != "tmpfs" {
            return Err(invalid(format!(
                "invalid mount config for type {:?}: tmpfs options given",
                m.kind
            )));
        }
        m.tmpfs_options = Some(tmpfs);
    }
    Ok(m)
}

/// A size with an optional unit: `64m`, `1g`, `1024`, `10k`, `1.5g` (binary units, as docker's
/// `RAMInBytes`).
pub fn parse_size(s: &str) -> Result<i64, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| invalid(format!("invalid size: '{s}'")))?;
    if n.is_nan() || n < 0.0 {
        return Err(invalid(format!("invalid size: '{s}'")));
    }
    Ok((n * mult as f64) as i64)
}

/// `--tmpfs` options (`rw,size=64m,mode=1777`) -> mount options with docker's defaults
/// (`noexec,nosuid,nodev`) unless overridden.
pub fn parse_tmpfs(options: &str) -> Result<Vec<String>, SpecError> {
    let mut out: Vec<String> = Vec::new();
    let given: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
    for (default, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !given.iter().any(|g| *g == default || *g == opposite) {
            out.push(default.into());
        }
    }
    for g in given {
        match g.split_once('=') {
            Some(("size", v)) => {
                let bytes = parse_size(v)
                    .map_err(|_| invalid(format!("invalid tmpfs option: size={v}")))?;
                out.push(format!("size={bytes}"));
            }
            Some(("mode", v)) => {
                u32::from_str_radix(v, 8)
                    .map_err(|_| invalid(format!("invalid tmpfs option: mode={v}")))?;
                out.push(format!("mode={v}"));
            }
            Some(("uid" | "gid" | "nr_inodes" | "nr_blocks", _)) => out.push(g.into()),
            Some(_) => return Err(invalid(format!("invalid tmpfs option: {g}"))),
            None => match g {
                "ro" | "rw" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" | "atime"
                | "noatime" | "relatime" | "strictatime" | "nodiratime" | "diratime" | "sync"
                | "async" | "dirsync" | "remount" | "mand" | "nomand" | "tmpcopyup"
                | "rprivate" | "private" | "shared" | "rshared" | "slave" | "rslave" => {
                    out.push(g.into())
                }
                _ => return Err(invalid(format!("invalid tmpfs option: {g}"))),
            },
        }
    }
    Ok(out)
}

/// `--device /dev/x[:/dev/y][:rwm]`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping, SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_perm = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perm(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perm(p) => (*h, *c, *p),
        _ => return Err(invalid(format!("invalid device specification: {spec}"))),
    };
    if !host.starts_with('/') || !cont.starts_with('/') {
        return Err(invalid(format!("invalid device specification: {spec}")));
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: cont.into(),
        cgroup_permissions: perms.into(),
    })
}

/// Resource names `--ulimit` accepts, with their `RLIMIT_` names.
const ULIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
];

/// The OCI rlimit type of a `--ulimit` name.
pub fn rlimit_type(name: &str) -> Option<&'static str> {
    ULIMITS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// `--ulimit nofile=1024[:2048]`.
pub fn parse_ulimit(spec: &str) -> Result<Ulimit, SpecError> {
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| invalid(format!("invalid ulimit argument: {spec}")))?;
    if rlimit_type(name).is_none() {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| invalid(format!("invalid ulimit argument: {spec}")))
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard && hard >= 0 {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart_policy(spec: &str) -> Result<RestartPolicy, SpecError> {
    let (name, count) = match spec.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (spec, None),
    };
    let maximum_retry_count = match (name, count) {
        ("" | "no" | "always" | "unless-stopped", None) => 0,
        ("on-failure", None) => 0,
        ("on-failure", Some(c)) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid(format!("invalid restart policy format: maximum retry count must be an integer: {c}")))?,
        ("always" | "unless-stopped" | "no", Some(_)) => {
            return Err(invalid(format!(
                "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
            )))
        }
        _ => return Err(invalid(format!("invalid restart policy format: unknown policy '{name}'"))),
    };
    Ok(RestartPolicy {
        name: name.into(),
        maximum_retry_count,
    })
}

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// A signal by name (`TERM`, `SIGTERM`, `sigkill`, `RTMIN+3`) or number.
pub fn parse_signal(s: &str) -> Result<i32, SpecError> {
    let bad = || invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(n, _)| *n == name) {
        return Ok(*n);
    }
    let rt = |base: i32, rest: &str| -> Result<i32, SpecError> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| bad())?
        };
        let n = base + off;
        if (34..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(34, rest.strip_prefix('+').unwrap_or(rest));
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(64, rest);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds() {
        let m = parse_bind("/src:/dst:ro").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/src", "/dst", true)
        );
        let m = parse_bind("data:/data").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("volume", "data"));
        let m = parse_bind("/anon").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.target.as_str()),
            ("volume", "", "/anon")
        );
        let m = parse_bind("/anon:ro").unwrap();
        assert!(m.read_only && m.source.is_empty());
        assert!(parse_bind("/a:rel").is_err());
        assert!(parse_bind("/a:/b:bogus")
            .unwrap_err()
            .to_string()
            .contains("invalid mode: bogus"));
        assert!(parse_bind("/a:/").is_err());
        assert!(parse_bind("a:b:c:d").is_err());
        assert!(parse_bind("bad name!:/x").is_err());
    }

    #[test]
    fn mount_flag() {
        let m = parse_mount_flag("type=bind,src=/a,dst=/b,readonly").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/a", "/b", true)
        );
        let m = parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (1 << 20, Some(0o1770)));
        let m = parse_mount_flag("target=/v").unwrap();
        assert_eq!(m.kind, "volume");
        assert!(parse_mount_flag("type=bind,target=/x").is_err());
        assert!(parse_mount_flag("type=nfs,target=/x").is_err());
        assert!(parse_mount_flag("type=bind,src=/a").is_err());
        assert!(parse_mount_flag("type=bind,src=/a,dst=rel").is_err());
        assert!(parse_mount_flag("bogus=1,target=/x").is_err());
    }

    #[test]
    fn sizes_and_tmpfs() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("12x").is_err());
        assert_eq!(parse_tmpfs("").unwrap(), vec!["noexec", "nosuid", "nodev"]);
        assert_eq!(
            parse_tmpfs("exec,size=1m").unwrap(),
            vec!["nosuid", "nodev", "exec", "size=1048576"]
        );
        assert!(parse_tmpfs("size=zz").is_err());
        assert!(parse_tmpfs("weird").is_err());
    }

    #[test]
    fn devices_ulimits_restart_signals() {
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/a:/dev/b:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/b", "r")
        );
        let d = parse_device("/dev/a:rw").unwrap();
        assert_eq!(d.path_in_container, "/dev/a");
        assert!(parse_device("dev/a").is_err());
        let u = parse_ulimit("nofile=10:20").unwrap();
        assert_eq!((u.soft, u.hard), (10, 20));
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, 5);
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_ulimit("nofile=20:10").is_err());
        assert!(parse_ulimit("nofile").is_err());
        assert_eq!(
            parse_restart_policy("on-failure:3")
                .unwrap()
                .maximum_retry_count,
            3
        );
        assert_eq!(
            parse_restart_policy("unless-stopped").unwrap().name,
            "unless-stopped"
        );
        assert!(parse_restart_policy("always:3").is_err());
        assert!(parse_restart_policy("sometimes").is_err());
        assert!(parse_restart_policy("on-failure:x").is_err());
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
