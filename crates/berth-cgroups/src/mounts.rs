//! Where the cgroup hierarchies are mounted (`/proc/self/mountinfo`) and which cgroup this process
//! is in (`/proc/self/cgroup`). Both are read at most once per process and cached.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{CgroupError, Layout};

/// The v1 controllers we know by name; anything else in a cgroup mount's options is a mount flag.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The cgroup (inside the hierarchy) shown at the mount point; `/` unless bind-mounted or
    /// inside a cgroup namespace.
    pub root: String,
    /// Its controllers, e.g. `["cpu", "cpuacct"]`, or `["name=systemd"]` for a named hierarchy.
    pub controllers: Vec<String>,
}

impl V1Mount {
    /// True for a hierarchy that has `controller`.
    #[cfg(test)]
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// True for a named hierarchy without controllers (`name=systemd`).
    pub fn is_named_only(&self) -> bool {
        self.controllers.iter().all(|c| c.starts_with("name="))
    }
}

/// The cgroup mounts of a mount table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MountTable {
    /// The v1 hierarchies, one entry per hierarchy (bind mounts of the same one are dropped).
    pub v1: Vec<V1Mount>,
    /// The cgroup2 mount point and its root, preferring `/sys/fs/cgroup`.
    pub v2: Option<(PathBuf, String)>,
}

impl MountTable {
    /// Parses mountinfo text (proc(5) format).
    pub fn parse(text: &str) -> MountTable {
        let mut table = MountTable::default();
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let mut post = post.split(' ');
            let (Some(fstype), Some(_source), Some(superopts)) =
                (post.next(), post.next(), post.next())
            else {
                continue;
            };
            if pre.len() < 5 {
                continue;
            }
            let root = unescape(pre[3]);
            let mount_point = PathBuf::from(unescape(pre[4]));
            match fstype {
                "cgroup2" => {
                    let preferred = mount_point == Path::new("/sys/fs/cgroup");
                    if table.v2.is_none() || preferred {
                        table.v2 = Some((mount_point, root));
                    }
                }
                "cgroup" => {
                    let controllers: Vec<String> = superopts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_owned)
                        .collect();
                    if controllers.is_empty()
                        || table.v1.iter().any(|m| m.controllers == controllers)
                    {
                        continue;
                    }
                    table.v1.push(V1Mount {
                        mount_point,
                        root,
                        controllers,
                    });
                }
                _ => {}
            }
        }
        table
    }

    /// The layout this mount table describes.
    pub fn layout(&self) -> Result<Layout, CgroupError> {
        let v1_controllers = self.v1.iter().any(|m| !m.is_named_only());
        match (v1_controllers, self.v2.is_some()) {
            (true, true) => Ok(Layout::Hybrid),
            (true, false) => Ok(Layout::V1),
            (false, true) => Ok(Layout::V2),
            (false, false) => Err(CgroupError::NoCgroupFs(
                "mountinfo lists no cgroup or cgroup2 mount".into(),
            )),
        }
    }

    /// The v1 hierarchy that has `controller`.
    #[cfg(test)]
    pub fn v1_with(&self, controller: &str) -> Option<&V1Mount> {
        self.v1.iter().find(|m| m.has(controller))
    }

    /// A mount table for a fake v1 tree: every subdirectory of `root` is a hierarchy whose
    /// controllers are its comma-separated name (`cpu,cpuacct`, `memory`, `systemd` is
    /// `name=systemd`). Symlinks to another subdirectory are skipped.
    pub fn fake_v1(root: &Path) -> Result<MountTable, CgroupError> {
        let entries = std::fs::read_dir(root).map_err(|source| CgroupError::Read {
            path: root.to_owned(),
            source,
        })?;
        let mut v1 = Vec::new();
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if !kind.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let controllers: Vec<String> = if name == "systemd" {
                vec!["name=systemd".into()]
            } else {
                name.split(',')
                    .filter(|c| V1_CONTROLLERS.contains(c))
                    .map(str::to_owned)
                    .collect()
            };
            if !controllers.is_empty() {
                v1.push(V1Mount {
                    mount_point: entry.path(),
                    root: "/".into(),
                    controllers,
                });
            }
        }
        if v1.is_empty() {
            return Err(CgroupError::NoCgroupFs(format!(
                "{} has neither cgroup.controllers nor controller directories",
                root.display()
            )));
        }
        v1.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        Ok(MountTable { v1, v2: None })
    }
}

/// Decodes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroups, from `/proc/self/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OwnCgroups {
    /// v1 lines: the hierarchy's controllers and the path.
    pub v1: Vec<(Vec<String>, String)>,
    /// The `0::` line.
    pub unified: Option<String>,
}

impl OwnCgroups {
    /// Parses `/proc/<pid>/cgroup` text.
    pub fn parse(text: &str) -> OwnCgroups {
        let mut own = OwnCgroups::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if id == "0" && ctrls.is_empty() {
                own.unified = Some(path.to_owned());
            } else {
                own.v1.push((
                    ctrls.split(',').map(str::to_owned).collect(),
                    path.to_owned(),
                ));
            }
        }
        own
    }

    /// Our path in the v1 hierarchy with these controllers (matched on any shared controller).
    pub fn v1_path(&self, controllers: &[String]) -> Option<&str> {
        self.v1
            .iter()
            .find(|(c, _)| c.iter().any(|x| controllers.contains(x)))
            .map(|(_, p)| p.as_str())
    }
}

/// What this process sees of the cgroup world, read once.
#[derive(Debug)]
pub(crate) struct System {
    pub mounts: MountTable,
    pub own: OwnCgroups,
    pub layout: Layout,
}

/// The cached [`System`], read on first use.
pub(crate) fn system() -> Result<&'static System, CgroupError> {
    static CELL: OnceLock<System> = OnceLock::new();
    if let Some(s) = CELL.get() {
        return Ok(s);
    }
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|source| CgroupError::ReadProc {
            path: path.into(),
            source,
        })
    };
    let mounts = MountTable::parse(&read("/proc/self/mountinfo")?);
    let layout = mounts.layout()?;
    let own = OwnCgroups::parse(&read("/proc/self/cgroup")?);
    Ok(CELL.get_or_init(|| System {
        mounts,
        own,
        layout,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:32 /sub /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_table() {
        let t = MountTable::parse(HYBRID);
        assert_eq!(t.layout().unwrap(), Layout::Hybrid);
        assert_eq!(t.v1.len(), 4, "{t:?}");
        assert_eq!(
            t.v1_with("memory").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert!(t.v1_with("cpuacct").unwrap().has("cpuacct"));
        assert!(t.v1.iter().any(|m| m.is_named_only()));
        assert_eq!(
            t.v2.as_ref().unwrap().0,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn combined_cpu_cpuacct_v1() {
        let t = MountTable::parse(
            "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        assert_eq!(t.layout().unwrap(), Layout::V1);
        assert_eq!(t.v1_with("cpu"), t.v1_with("cpuacct"));
    }

    #[test]
    fn pure_v2_with_named_systemd() {
        let t = MountTable::parse(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n\
             2 1 0:2 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
        );
        assert_eq!(t.layout().unwrap(), Layout::V2);
        assert!(MountTable::parse("").layout().is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }

    #[test]
    fn own_cgroups() {
        let own = OwnCgroups::parse("4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/u\n");
        assert_eq!(own.unified.as_deref(), Some("/u"));
        assert_eq!(own.v1_path(&["memory".into()]), Some("/process_api/x"));
        assert_eq!(own.v1_path(&["cpuacct".into()]), Some("/a"));
        assert_eq!(own.v1_path(&["pids".into()]), None);
    }

    #[test]
    fn fake_v1_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cpu,cpuacct")).unwrap();
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        std::fs::create_dir(dir.path().join("systemd")).unwrap();
        std::fs::create_dir(dir.path().join("unified")).unwrap();
        let t = MountTable::fake_v1(dir.path()).unwrap();
        assert_eq!(t.v1.len(), 3);
        assert!(t.v1_with("cpuacct").unwrap().has("cpu"));
        assert!(MountTable::fake_v1(&dir.path().join("memory")).is_err());
    }
}
