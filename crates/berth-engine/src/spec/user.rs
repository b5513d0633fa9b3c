//! `-u user[:group]` -> uid, gid and supplementary groups, read from the rootfs's /etc/passwd and
//! /etc/group (resolved inside the rootfs), as docker does.

use super::rootfs::resolve;
use super::SpecError;
use std::path::Path;

/// The resolved identity of the container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional: Vec<u32>,
}

fn read_db(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    let Ok(Some(p)) = resolve(rootfs, file) else {
        return Vec::new();
    };
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`...) plus `--group-add` entries.
pub fn resolve_user(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<Ids, SpecError> {
    let passwd = read_db(rootfs, "/etc/passwd");
    let groups = read_db(rootfs, "/etc/group");
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .iter()
        .find(|e| e.first().map(String::as_str) == Some(user))
        .or_else(|| {
            passwd
                .iter()
                .find(|e| e.get(2).map(String::as_str) == Some(user))
        });
    let (uid, mut gid, name) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (
            e.get(2).and_then(|s| s.parse().ok()).unwrap_or(0),
            e.get(3).and_then(|s| s.parse().ok()).unwrap_or(0),
            e.first().cloned(),
        ),
        (None, Ok(n)) => (n, 0, None),
        (None, Err(_)) => return Err(SpecError::NoSuchUser { user: user.into() }),
    };
    let group_id = |g: &str| -> Result<u32, SpecError> {
        if let Some(e) = groups
            .iter()
            .find(|e| e.first().map(String::as_str) == Some(g))
        {
            return Ok(e.get(2).and_then(|s| s.parse().ok()).unwrap_or(0));
        }
        g.parse()
            .map_err(|_| SpecError::NoSuchGroup { group: g.into() })
    };
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = group_id(g)?;
    }
    let mut additional = Vec::new();
    if let (Some(name), None) = (&name, group) {
        for e in &groups {
            let members = e.get(3).map(String::as_str).unwrap_or("");
            if members.split(',').any(|m| m == name) {
                if let Some(id) = e.get(2).and_then(|s| s.parse::<u32>().ok()) {
                    if id != gid && !additional.contains(&id) {
                        additional.push(id);
                    }
                }
            }
        }
    }
    for g in group_add {
        let id = group_id(g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(Ids {
        uid,
        gid,
        additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            r.join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        )
        .unwrap();
        let ids = resolve_user(r, "", &[]).unwrap();
        assert_eq!((ids.uid, ids.gid), (0, 0));
        let ids = resolve_user(r, "www", &[]).unwrap();
        assert_eq!(
            (ids.uid, ids.gid, ids.additional.clone()),
            (33, 33, vec![50])
        );
        let ids = resolve_user(r, "1000:staff", &["www".into()]).unwrap();
        assert_eq!((ids.uid, ids.gid, ids.additional), (1000, 50, vec![33]));
        assert!(matches!(
            resolve_user(r, "nobody", &[]),
            Err(SpecError::NoSuchUser { .. })
        ));
        assert!(matches!(
            resolve_user(r, "0:nogroup", &[]),
            Err(SpecError::NoSuchGroup { .. })
        ));
        let ids = resolve_user(r, "7:8", &[]).unwrap();
        assert_eq!((ids.uid, ids.gid), (7, 8));
    }
}
