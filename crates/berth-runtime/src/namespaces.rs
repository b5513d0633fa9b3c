//! Which namespaces a container gets: created new by clone/unshare, or joined by path.

use crate::error::{Result, RuntimeError};
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The clone flag of a namespace type.
pub fn flag_of(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The /proc/<pid>/ns file name of a namespace flag.
pub fn proc_name(flag: CloneFlags) -> &'static str {
    match flag {
        f if f == CloneFlags::CLONE_NEWNS => "mnt",
        f if f == CloneFlags::CLONE_NEWCGROUP => "cgroup",
        f if f == CloneFlags::CLONE_NEWUTS => "uts",
        f if f == CloneFlags::CLONE_NEWIPC => "ipc",
        f if f == CloneFlags::CLONE_NEWUSER => "user",
        f if f == CloneFlags::CLONE_NEWPID => "pid",
        f if f == CloneFlags::CLONE_NEWNET => "net",
        _ => "time",
    }
}

/// Makes a new network namespace, with its loopback interface up, and returns it without entering
/// it (the calling thread stays in its own): a container that asks for a new network namespace
/// can be given this one (see [`crate::CreateOptions::network_namespace`]), so that the kernel's
/// millisecond of work to make it is done ahead, off the path of the container's start.
pub fn fresh_network_namespace() -> Result<OwnedFd> {
    let ours = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| RuntimeError::io(Path::new("/proc/thread-self/ns/net"), e))?;
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| RuntimeError::sys("unshare a network namespace", e))?;
    let fresh = std::fs::File::open("/proc/thread-self/ns/net");
    let loopback = crate::loopback::bring_up();
    // Back first, whatever happened.
    setns(&ours, CloneFlags::CLONE_NEWNET)
        .map_err(|e| RuntimeError::sys("returning to the network namespace", e))?;
    let fresh = fresh.map_err(|e| RuntimeError::io(Path::new("/proc/thread-self/ns/net"), e))?;
    loopback?;
    Ok(fresh.into())
}

/// A namespace to join: its flag, an open fd of the namespace file, and the path for messages.
#[derive(Debug)]
pub struct Join {
    pub flag: CloneFlags,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// The namespace plan of a container.
#[derive(Debug)]
pub struct Plan {
    /// Namespaces to create (CLONE_NEW* bits), cgroup included.
    pub new: CloneFlags,
    /// Namespaces to join, user namespace first.
    pub joins: Vec<Join>,
}

impl Plan {
    /// Builds the plan from `linux.namespaces`, opening every namespace path now (in the runtime's
    /// mount namespace) so that the child never resolves a host path.
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            joins: Vec::new(),
        };
        let namespaces = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in namespaces {
            let flag = flag_of(ns.typ());
            match ns.path() {
                None => plan.new |= flag,
                Some(path) => {
                    let fd = std::fs::File::open(path).map_err(|e| {
                        RuntimeError::InvalidArgument(format!(
                            "namespace path {}: {e}",
                            path.display()
                        ))
                    })?;
                    plan.joins.push(Join {
                        flag,
                        fd: fd.into(),
                        path: path.clone(),
                    });
                }
            }
        }
        plan.joins
            .sort_by_key(|j| j.flag != CloneFlags::CLONE_NEWUSER);
        Ok(plan)
    }

    /// Whether the container gets a user namespace of its own.
    pub fn new_user(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWUSER)
    }

    /// Whether the container has a mount namespace other than the runtime's.
    pub fn has_mount_ns(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWNS)
            || self.joins.iter().any(|j| j.flag == CloneFlags::CLONE_NEWNS)
    }

    /// Whether the init needs an extra fork to land in its pid namespace.
    pub fn pid_fork_needed(&self) -> bool {
        self.joins
            .iter()
            .any(|j| j.flag == CloneFlags::CLONE_NEWPID)
            || (!self.joins.is_empty() && self.new.contains(CloneFlags::CLONE_NEWPID))
    }
}

/// Writes the uid/gid maps of the user namespace of `pid` (from outside, as root).
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    for (file, text) in [("uid_map", uid), ("gid_map", gid)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text.as_bytes()).map_err(|e| RuntimeError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn inode_of(path: &str) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    /// The namespace made ahead is new, and the calling thread is still in its own.
    #[test]
    fn fresh_network_namespace_is_new_and_not_entered() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: making a network namespace needs root");
            return;
        }
        let before = inode_of("/proc/thread-self/ns/net");
        let fresh = fresh_network_namespace().unwrap();
        let fresh_ino = std::fs::File::from(fresh).metadata().unwrap().ino();
        assert_eq!(inode_of("/proc/thread-self/ns/net"), before);
        assert_ne!(fresh_ino, before);
    }

    /// Its loopback interface is up: 127.0.0.1 can be bound and a datagram goes round.
    #[test]
    fn fresh_network_namespace_has_loopback_up() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: making a network namespace needs root");
            return;
        }
        let fresh = fresh_network_namespace().unwrap();
        // A thread of its own enters it (and dies with it).
        std::thread::spawn(move || {
            setns(&fresh, CloneFlags::CLONE_NEWNET).unwrap();
            let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("127.0.0.1 in the namespace");
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 8];
            b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            assert_eq!(b.recv(&mut buf).unwrap(), 4);
            // Bringing it up again changes nothing.
            crate::loopback::bring_up().unwrap();
        })
        .join()
        .unwrap();
    }
}
