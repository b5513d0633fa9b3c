//! A minimal reader of /proc/self/mountinfo: only the fields the rootfs code needs.

use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The path inside the filesystem at the mount's root.
    pub root: PathBuf,
    /// The filesystem type.
    pub fstype: String,
    /// The per-superblock options.
    pub super_options: Vec<String>,
}

/// Decodes mountinfo's octal escapes (`\040` for space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts of the given filesystem types, in mountinfo order (parents before children).
pub(crate) fn parse(text: &str, types: &[&str]) -> Vec<MountEntry> {
    parse_filtered(text, |t| types.contains(&t))
}

/// Every mount, in mountinfo order.
pub(crate) fn parse_all(text: &str) -> Vec<MountEntry> {
    parse_filtered(text, |_| true)
}

fn parse_filtered(text: &str, keep: impl Fn(&str) -> bool) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_source), Some(superopts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        if !keep(fstype) {
            continue;
        }
        let l: Vec<&str> = left.split(' ').collect();
        if l.len() < 5 {
            continue;
        }
        out.push(MountEntry {
            mountpoint: PathBuf::from(unescape(l[4])),
            root: PathBuf::from(unescape(l[3])),
            fstype: fstype.to_owned(),
            super_options: superopts.split(',').map(str::to_owned).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_and_filters() {
        let text = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime shared:5 - sysfs sysfs rw
35 27 0:31 /a\\040b /with\\040space rw - cgroup cgroup rw,pids
";
        let m = parse(text, &["proc", "cgroup"]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mountpoint, Path::new("/proc"));
        assert_eq!(m[1].mountpoint, Path::new("/with space"));
        assert_eq!(m[1].root, Path::new("/a b"));
        assert_eq!(m[1].super_options, vec!["rw", "pids"]);
        assert_eq!(parse(text, &["sysfs"])[0].fstype, "sysfs");
    }
}
