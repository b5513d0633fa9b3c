//! From `linux.cgroupsPath` to a cgroup path inside a hierarchy and to a directory on disk.
//!
//! Rules (runc's, except for the empty path):
//! - `--systemd-cgroup`: the path is `slice:prefix:name`; without a systemd bus it becomes the
//!   absolute path `<slice expanded into nested dirs>/<prefix>-<name>.scope`
//!   (`a-b.slice` is `/a.slice/a-b.slice`). An empty path means `system.slice:berth:<id>`.
//! - An absolute path is relative to the root of each hierarchy.
//! - A relative path is relative to this process's own cgroup in that hierarchy
//!   (`/proc/self/cgroup`), per v1 controller or the unified line for v2.
//! - An empty path means `/berth/<container id>`: absolute, so it never nests below the
//!   runtime's own cgroup (which on v2 could hold processes and then refuse controllers).

use std::path::{Component, Path, PathBuf};

use crate::{CgroupConfig, CgroupError};

/// Where the container's cgroup goes, before it is placed in a particular hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/a/b`: from the hierarchy root.
    Absolute(String),
    /// `a/b`: below this process's own cgroup.
    Relative(String),
}

impl Target {
    /// The cgroup path inside a hierarchy, given our own cgroup there (`/` if unknown).
    pub fn in_hierarchy(&self, own: Option<&str>) -> String {
        match self {
            Target::Absolute(p) => p.clone(),
            Target::Relative(rel) => {
                let own = own.unwrap_or("/").trim_end_matches('/');
                format!("{own}/{rel}")
            }
        }
    }
}

/// Turns the configuration into a [`Target`].
pub(crate) fn target(config: &CgroupConfig<'_>) -> Result<Target, CgroupError> {
    let invalid = |reason| CgroupError::InvalidPath {
        path: config.path.to_owned(),
        reason,
    };
    if config.container_id.is_empty() && config.path.is_empty() {
        return Err(invalid("empty path and empty container id"));
    }
    if config.path.is_empty() && config.container_id.contains('/') {
        return Err(invalid("the container id contains '/'"));
    }
    if config.systemd {
        let spec = if config.path.is_empty() {
            format!("system.slice:berth:{}", config.container_id)
        } else {
            config.path.to_owned()
        };
        return systemd_path(&spec).map(Target::Absolute).map_err(invalid);
    }
    let raw = if config.path.is_empty() {
        format!("/berth/{}", config.container_id)
    } else {
        config.path.to_owned()
    };
    let clean = clean(&raw).map_err(invalid)?;
    if clean.is_empty() {
        Err(invalid(
            "names the root cgroup, which a container may not own",
        ))
    } else if raw.starts_with('/') {
        Ok(Target::Absolute(format!("/{clean}")))
    } else {
        Ok(Target::Relative(clean))
    }
}

/// Joins the normal components of `path` with `/`; rejects `..`.
fn clean(path: &str) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or("not UTF-8")?),
            Component::ParentDir => return Err("'..' is not allowed"),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(parts.join("/"))
}

/// Expands systemd's `slice:prefix:name` into the cgroup path systemd would use.
pub fn systemd_path(spec: &str) -> Result<String, &'static str> {
    let mut parts = spec.split(':');
    let (Some(slice), Some(prefix), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("systemd cgroups path must be \"slice:prefix:name\"");
    };
    if [slice, prefix, name].iter().any(|p| p.contains('/')) {
        return Err("systemd cgroups path parts must not contain '/'");
    }
    if name.is_empty() {
        return Err("systemd cgroups path has an empty name");
    }
    let mut path = expand_slice(if slice.is_empty() {
        "system.slice"
    } else {
        slice
    })?;
    let unit = if name.ends_with(".slice") {
        name.to_owned()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    if path != "/" {
        path.push('/');
    }
    path.push_str(&unit);
    Ok(path)
}

/// `a-b-c.slice` -> `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` -> `/`.
fn expand_slice(slice: &str) -> Result<String, &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("systemd slice must end in \".slice\"");
    };
    if stem == "-" {
        return Ok("/".into());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err("malformed systemd slice name");
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// The directory of `cgroup` (a path inside the hierarchy) under a mount whose root is
/// `mount_root`. A cgroup outside the mounted subtree is placed below the mount point as is.
pub(crate) fn on_disk(mount_point: &Path, mount_root: &str, cgroup: &str) -> PathBuf {
    let rel = if mount_root == "/" {
        cgroup
    } else {
        match cgroup.strip_prefix(mount_root) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => cgroup,
        }
    };
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount_point.to_owned()
    } else {
        mount_point.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg<'a>(path: &'a str, systemd: bool) -> CgroupConfig<'a> {
        CgroupConfig {
            path,
            container_id: "c1",
            systemd,
            root: None,
        }
    }

    #[test]
    fn plain_paths() {
        assert_eq!(
            target(&cfg("", false)).unwrap(),
            Target::Absolute("/berth/c1".into())
        );
        assert_eq!(
            target(&cfg("/a//b/", false)).unwrap(),
            Target::Absolute("/a/b".into())
        );
        assert_eq!(
            target(&cfg("a/./b", false)).unwrap(),
            Target::Relative("a/b".into())
        );
        assert!(target(&cfg("/a/../b", false)).is_err());
        assert!(target(&cfg(".", false)).is_err());
        assert!(target(&cfg("/", false)).is_err());
    }

    #[test]
    fn relative_in_hierarchy() {
        let t = Target::Relative("x".into());
        assert_eq!(t.in_hierarchy(Some("/process_api/1")), "/process_api/1/x");
        assert_eq!(t.in_hierarchy(Some("/")), "/x");
        assert_eq!(t.in_hierarchy(None), "/x");
        assert_eq!(Target::Absolute("/y".into()).in_hierarchy(Some("/z")), "/y");
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            systemd_path("system.slice:docker:abc").unwrap(),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(
            systemd_path("user-1000.slice:p:n").unwrap(),
            "/user.slice/user-1000.slice/p-n.scope"
        );
        assert_eq!(
            systemd_path("a-b-c.slice::n").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice/n.scope"
        );
        assert_eq!(systemd_path("-.slice:p:n").unwrap(), "/p-n.scope");
        assert_eq!(systemd_path(":p:n").unwrap(), "/system.slice/p-n.scope");
        assert_eq!(
            systemd_path("machine.slice:p:sub.slice").unwrap(),
            "/machine.slice/sub.slice"
        );
        assert!(systemd_path("a:b").is_err());
        assert!(systemd_path("bad:p:n").is_err());
        assert!(systemd_path("a--b.slice:p:n").is_err());
        assert_eq!(
            target(&cfg("", true)).unwrap(),
            Target::Absolute("/system.slice/berth-c1.scope".into())
        );
    }

    #[test]
    fn disk_placement() {
        let mp = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(on_disk(mp, "/", "/a/b"), mp.join("a/b"));
        assert_eq!(on_disk(mp, "/docker/x", "/docker/x/a"), mp.join("a"));
        assert_eq!(on_disk(mp, "/docker/x", "/docker/x"), mp.to_owned());
        assert_eq!(on_disk(mp, "/docker/x", "/other"), mp.join("other"));
    }
}
