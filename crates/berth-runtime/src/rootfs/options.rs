//! Parsing of a spec mount's `options` into mount(2) flags, propagation changes, recursive
//! attributes (`mount_setattr`), runtime extensions and the data string passed to the filesystem.

use berth_sys::mount as sysm;
use nix::mount::MsFlags;

/// `MS_NOSYMFOLLOW` (Linux 5.10); nix 0.29 has no name for it.
const MS_NOSYMFOLLOW: u64 = libc::MS_NOSYMFOLLOW;

/// A spec mount's options, sorted by what consumes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for mount(2) (including `MS_BIND`/`MS_REC` for bind and rbind).
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// `mount_setattr` attributes to set recursively (`rro`, `rnosuid`, ...).
    pub rec_attr_set: u64,
    /// `mount_setattr` attributes to clear recursively.
    pub rec_attr_clr: u64,
    /// `tmpcopyup`: copy the directory's previous contents into the new tmpfs.
    pub tmpcopyup: bool,
    /// `idmap` or `ridmap` was requested.
    pub idmap: bool,
    /// `ridmap`: the idmapping applies to every mount of the bound tree, not just its top.
    pub recursive_idmap: bool,
    /// Everything else, comma-joined: handed to the filesystem as mount data.
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            rec_attr_set: 0,
            rec_attr_clr: 0,
            tmpcopyup: false,
            idmap: false,
            recursive_idmap: false,
            data: String::new(),
        }
    }
}

impl MountOptions {
    /// The per-mount flags a bind mount needs applied by a later remount (`ro`, `nosuid`, atime...),
    /// or `None` when the plain bind already gives what was asked.
    pub fn bind_remount_flags(&self) -> Option<MsFlags> {
        let extra = self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        (!extra.is_empty()).then_some(extra)
    }

    /// True when the data options already set the mode of the filesystem's root (`mode=`).
    pub fn has_mode(&self) -> bool {
        self.data.split(',').any(|o| o.starts_with("mode="))
    }

    /// The data string, or `None` when empty.
    pub fn data(&self) -> Option<&str> {
        (!self.data.is_empty()).then_some(self.data.as_str())
    }
}

/// One flag option: set (`true`) or clear (`false`) the given flag.
fn flag_option(name: &str) -> Option<(bool, MsFlags)> {
    let f = |bits: u64| MsFlags::from_bits_retain(bits as libc::c_ulong);
    Some(match name {
        "defaults" => (true, MsFlags::empty()),
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "iversion" => (true, MsFlags::MS_I_VERSION),
        "noiversion" => (false, MsFlags::MS_I_VERSION),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "nosymfollow" => (true, f(MS_NOSYMFOLLOW)),
        "symfollow" => (false, f(MS_NOSYMFOLLOW)),
        "bind" => (true, MsFlags::MS_BIND),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        _ => return None,
    })
}

/// A propagation option, as the flags given to mount(2).
pub(crate) fn propagation_option(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// A recursive attribute option: (attributes to set, attributes to clear).
fn recursive_option(name: &str) -> Option<(u64, u64)> {
    let atime = sysm::MOUNT_ATTR_ATIME_MASK;
    Some(match name {
        "rro" => (sysm::MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, sysm::MOUNT_ATTR_RDONLY),
        "rnosuid" => (sysm::MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, sysm::MOUNT_ATTR_NOSUID),
        "rnodev" => (sysm::MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, sysm::MOUNT_ATTR_NODEV),
        "rnoexec" => (sysm::MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, sysm::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (sysm::MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, sysm::MOUNT_ATTR_NODIRATIME),
        "rnoatime" => (sysm::MOUNT_ATTR_NOATIME, atime),
        "rstrictatime" => (sysm::MOUNT_ATTR_STRICTATIME, atime),
        // The kernel's default atime mode is relatime; "atime"-style negations return to it.
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => {
            (sysm::MOUNT_ATTR_RELATIME, atime)
        }
        "rnosymfollow" => (sysm::MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, sysm::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Sorts the options of one spec mount. Unknown options become filesystem data, in order.
pub(crate) fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some((set, flag)) = flag_option(opt) {
            if set {
                out.flags |= flag;
            } else {
                out.flags &= !flag;
            }
        } else if let Some(p) = propagation_option(opt) {
            out.propagation.push(p);
        } else if let Some((set, clr)) = recursive_option(opt) {
            out.rec_attr_set = (out.rec_attr_set & !clr) | set;
            out.rec_attr_clr = (out.rec_attr_clr & !set) | clr;
        } else if opt == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if opt == "idmap" || opt == "ridmap" {
            out.idmap = true;
            out.recursive_idmap = opt == "ridmap";
        } else if !opt.is_empty() {
            data.push(opt);
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data_are_separated() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.has_mode());
        assert!(!o.flags.contains(MsFlags::MS_BIND));
    }

    #[test]
    fn later_options_win() {
        assert_eq!(p(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(p(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
        assert_eq!(p(&["noexec", "exec", "atime"]).flags, MsFlags::empty());
    }

    #[test]
    fn bind_and_remount_flags() {
        let o = p(&["rbind", "ro", "rprivate"]);
        assert!(o.flags.contains(MsFlags::MS_BIND));
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.bind_remount_flags(), Some(MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(p(&["bind"]).bind_remount_flags(), None);
    }

    #[test]
    fn devpts_data_is_kept_in_order() {
        let o = p(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.rec_attr_set,
            sysm::MOUNT_ATTR_RDONLY | sysm::MOUNT_ATTR_NOSUID | sysm::MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_attr_clr, sysm::MOUNT_ATTR_ATIME_MASK);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.rec_attr_set, 0);
        assert_eq!(o.rec_attr_clr, sysm::MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn extensions() {
        let o = p(&["tmpcopyup", "idmap"]);
        assert!(o.tmpcopyup && o.idmap && !o.recursive_idmap);
        assert_eq!(o.data(), None);
    }

    #[test]
    fn idmap_options() {
        let o = p(&["rbind", "ridmap", "ro"]);
        assert!(o.idmap && o.recursive_idmap);
        assert_eq!(o.data(), None);
        assert_eq!(o.bind_remount_flags(), Some(MsFlags::MS_RDONLY));
        // The last of the two decides whether the idmapping is recursive.
        let o = p(&["ridmap", "idmap"]);
        assert!(o.idmap && !o.recursive_idmap);
        assert!(!p(&["bind"]).idmap);
    }
}
