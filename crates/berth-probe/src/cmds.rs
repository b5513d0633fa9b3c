//! Subcommands that try one thing and report whether the container allowed it.
//!
//! Each prints one JSON object on stdout and exits 0 when the attempt succeeded, 1 when the
//! kernel refused it (the object then carries `errno` and `error`), 2 on bad usage.

use crate::json::Json;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::io::Write;
use std::process::ExitCode;

/// The result of one attempt, printed as JSON with the exit code it implies.
pub fn outcome(what: &str, arg: &str, res: Result<Json, Errno>) -> ExitCode {
    let base = Json::obj().with("op", what).with("arg", arg);
    let (json, code) = match res {
        Ok(extra) => {
            let mut j = base.with("ok", true);
            if let Json::Obj(fields) = extra {
                for (k, v) in fields {
                    j.set(&k, v);
                }
            }
            (j, 0)
        }
        Err(e) => (
            base.with("ok", false)
                .with("errno", e as i32)
                .with("error", format!("{e:?}")),
            1,
        ),
    };
    print_line(&json);
    ExitCode::from(code)
}

/// Prints one JSON line to stdout and flushes it.
pub fn print_line(j: &Json) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", j.render());
    let _ = out.flush();
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio()))
}

fn libc_eio() -> i32 {
    Errno::EIO as i32
}

/// `write PATH [DATA]`: create/truncate PATH and write DATA (default "probe").
pub fn write(path: &str, data: &str) -> Result<Json, Errno> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_errno(&e))?;
    f.write_all(data.as_bytes()).map_err(|e| io_errno(&e))?;
    Ok(Json::obj())
}

/// `read PATH`: the file's contents.
pub fn read(path: &str) -> Result<Json, Errno> {
    let data = std::fs::read(path).map_err(|e| io_errno(&e))?;
    Ok(Json::obj().with("data", String::from_utf8_lossy(&data).into_owned()))
}

/// `open PATH r|w|rw`: only opens (for files such as /proc/<pid>/exe that must not open).
pub fn open(path: &str, mode: &str) -> Result<Json, Errno> {
    let flags = match mode {
        "w" => OFlag::O_WRONLY,
        "rw" => OFlag::O_RDWR,
        _ => OFlag::O_RDONLY,
    };
    let fd = nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())?;
    let _ = nix::unistd::close(fd);
    Ok(Json::obj())
}

fn file_type(mode: u32) -> &'static str {
    match mode & nix::libc::S_IFMT {
        nix::libc::S_IFREG => "file",
        nix::libc::S_IFDIR => "dir",
        nix::libc::S_IFLNK => "symlink",
        nix::libc::S_IFCHR => "char",
        nix::libc::S_IFBLK => "block",
        nix::libc::S_IFIFO => "fifo",
        nix::libc::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

/// `stat PATH`: lstat of PATH (type, mode, owner, device numbers, size).
pub fn stat(path: &str) -> Result<Json, Errno> {
    let st = nix::sys::stat::lstat(path)?;
    let mut j = Json::obj()
        .with("type", file_type(st.st_mode))
        .with("mode", format!("{:04o}", st.st_mode & 0o7777))
        .with("uid", st.st_uid)
        .with("gid", st.st_gid)
        .with("size", st.st_size)
        .with("dev", format!("{}", st.st_dev))
        .with("ino", format!("{}", st.st_ino))
        .with(
            "major",
            i64::try_from(nix::sys::stat::major(st.st_rdev)).unwrap_or(-1),
        )
        .with(
            "minor",
            i64::try_from(nix::sys::stat::minor(st.st_rdev)).unwrap_or(-1),
        );
    if file_type(st.st_mode) == "symlink" {
        let t = std::fs::read_link(path).map_err(|e| io_errno(&e))?;
        j.set("target", t.to_string_lossy().into_owned());
    }
    Ok(j)
}

/// `ls DIR`: sorted entry names.
pub fn ls(path: &str) -> Result<Json, Errno> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| io_errno(&e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(Json::obj().with("entries", names))
}

/// `syscall NAME [ARG]`: one syscall chosen to show seccomp's or a capability's effect.
pub fn syscall(name: &str, arg: Option<&str>) -> Result<Json, Errno> {
    use nix::sched::{unshare, CloneFlags};
    match name {
        "getcwd" => {
            nix::unistd::getcwd().map(|p| Json::obj().with("cwd", p.to_string_lossy().into_owned()))
        }
        "getpid" => Ok(Json::obj().with("pid", nix::unistd::getpid().as_raw())),
        "uname" => nix::sys::utsname::uname()
            .map(|u| Json::obj().with("nodename", u.nodename().to_string_lossy().into_owned())),
        "mkdir" => {
            let p = arg.map_or_else(
                || format!("/tmp/probe-mkdir-{}", nix::unistd::getpid()),
                String::from,
            );
            nix::unistd::mkdir(p.as_str(), Mode::from_bits_truncate(0o755))?;
            let _ = std::fs::remove_dir(&p);
            Ok(Json::obj().with("path", p))
        }
        "chdir" => nix::unistd::chdir(arg.unwrap_or("/")).map(|()| Json::obj()),
        "chmod" => nix::sys::stat::fchmodat(
            None,
            arg.unwrap_or("/"),
            Mode::from_bits_truncate(0o755),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map(|()| Json::obj()),
        "unshare" => {
            let flags = match arg.unwrap_or("uts") {
                "mnt" => CloneFlags::CLONE_NEWNS,
                "net" => CloneFlags::CLONE_NEWNET,
                "ipc" => CloneFlags::CLONE_NEWIPC,
                "user" => CloneFlags::CLONE_NEWUSER,
                "pid" => CloneFlags::CLONE_NEWPID,
                "cgroup" => CloneFlags::CLONE_NEWCGROUP,
                _ => CloneFlags::CLONE_NEWUTS,
            };
            unshare(flags).map(|()| Json::obj())
        }
        "sethostname" => nix::unistd::sethostname(arg.unwrap_or("probe")).map(|()| Json::obj()),
        "socket" => {
            use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
            let fam = match arg.unwrap_or("inet") {
                "unix" => AddressFamily::Unix,
                "inet6" => AddressFamily::Inet6,
                _ => AddressFamily::Inet,
            };
            socket(fam, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map(|_fd| Json::obj())
        }
        "kill" => nix::sys::signal::kill(nix::unistd::getpid(), None).map(|()| Json::obj()),
        "setuid" => {
            let uid = arg.and_then(|a| a.parse().ok()).unwrap_or(0);
            nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map(|()| Json::obj())
        }
        "mknod" => {
            let p = arg.unwrap_or("/tmp/probe-null");
            nix::sys::stat::mknod(
                p,
                nix::sys::stat::SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(1, 3),
            )?;
            let _ = std::fs::remove_file(p);
            Ok(Json::obj())
        }
        "chown" => {
            let p = arg.unwrap_or("/");
            nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(0)), None).map(|()| Json::obj())
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `alloc MB`: allocates and touches MB MiB, one page at a time (exceeding a memory limit
/// gets the process OOM-killed), printing the MiB reached to stderr every 8 MiB.
pub fn alloc(mb: usize) -> Result<Json, Errno> {
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(mb);
    for i in 0..mb {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        chunks.push(chunk);
        if i % 8 == 7 {
            eprintln!("alloc {}", i + 1);
        }
    }
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    Ok(Json::obj().with("mib", i64::try_from(total >> 20).unwrap_or(-1)))
}

/// `spawn N`: starts N children (`sleep 30` of this binary), reports how many started,
/// then kills and reaps them.
pub fn spawn(n: usize) -> Result<Json, Errno> {
    let mut children = Vec::new();
    let mut failure = None;
    for _ in 0..n {
        match std::process::Command::new("/proc/self/exe")
            .args(["sleep", "30"])
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                failure = Some(io_errno(&e));
                break;
            }
        }
    }
    let spawned = children.len();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let mut j = Json::obj()
        .with("requested", i64::try_from(n).unwrap_or(-1))
        .with("spawned", i64::try_from(spawned).unwrap_or(-1));
    if let Some(e) = failure {
        j.set("spawn_errno", e as i32);
        j.set("spawn_error", format!("{e:?}"));
    }
    Ok(j)
}

/// `hold-exe PID SECS`: the CVE-2019-5736 move. Opens `/proc/PID/exe` with O_PATH (allowed),
/// then for SECS seconds keeps trying to reopen that fd for writing through `/proc/self/fd/N`
/// (what an attacker does once the runtime binary stops running). Never writes a byte: a
/// successful open is the finding. Reports the link target, whether the open for writing ever
/// succeeded, and the last errno seen.
pub fn hold_exe(pid: &str, secs: f64) -> Result<Json, Errno> {
    let link = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&link)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fd = nix::fcntl::open(
        link.as_str(),
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let reopen = format!("/proc/self/fd/{fd}");
    let held_target = std::fs::read_link(&reopen)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let mut attempts = 0i64;
    let mut last = None;
    let mut opened = false;
    while std::time::Instant::now() < deadline {
        attempts += 1;
        match nix::fcntl::open(
            reopen.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(w) => {
                let _ = nix::unistd::close(w);
                opened = true;
                break;
            }
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = nix::unistd::close(fd);
    Ok(Json::obj()
        .with("target", target)
        .with("held_target", held_target)
        .with("attempts", attempts)
        .with("opened_for_write", opened)
        .with("last_error", last.map(|e| format!("{e:?}"))))
}

/// `fill PATH KIB`: writes KIB KiB of zeros to PATH (ENOSPC shows a size limit).
pub fn fill(path: &str, kib: usize) -> Result<Json, Errno> {
    let mut f = std::fs::File::create(path).map_err(|e| io_errno(&e))?;
    let block = [0u8; 1024];
    for _ in 0..kib {
        f.write_all(&block).map_err(|e| io_errno(&e))?;
    }
    f.sync_all().map_err(|e| io_errno(&e))?;
    Ok(Json::obj().with("kib", i64::try_from(kib).unwrap_or(-1)))
}

/// `watch-exe SECS`: the CVE-2019-5736 watcher. For SECS seconds, scans /proc for processes
/// whose executable is not a file of the container (not /probe, not under /bin), holds an O_PATH
/// fd to each such `/proc/<pid>/exe`, and keeps trying to reopen every held fd for writing
/// (which works once the binary is no longer executed, when nothing protects it). Never writes.
/// Reports each held target and whether it could be opened for writing.
pub fn watch_exe(secs: f64) -> Result<Json, Errno> {
    struct Held {
        pid: i64,
        target: String,
        fd: std::os::fd::RawFd,
        opened: bool,
        last: Option<Errno>,
    }
    let me = nix::unistd::getpid().as_raw();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let mut held: Vec<Held> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while std::time::Instant::now() < deadline {
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
                    continue;
                };
                if pid == i64::from(me) || seen.contains(&pid) {
                    continue;
                }
                let link = format!("/proc/{pid}/exe");
                let Ok(target) = std::fs::read_link(&link) else {
                    continue;
                };
                let target = target.to_string_lossy().into_owned();
                seen.insert(pid);
                if target == "/probe" || target.starts_with("/bin/") {
                    continue;
                }
                if let Ok(fd) = nix::fcntl::open(
                    link.as_str(),
                    OFlag::O_PATH | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    held.push(Held {
                        pid,
                        target,
                        fd,
                        opened: false,
                        last: None,
                    });
                }
            }
        }
        for h in held.iter_mut().filter(|h| !h.opened) {
            let path = format!("/proc/self/fd/{}", h.fd);
            match nix::fcntl::open(
                path.as_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(w) => {
                    let _ = nix::unistd::close(w);
                    h.opened = true;
                }
                Err(e) => h.last = Some(e),
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let report: Vec<Json> = held
        .iter()
        .map(|h| {
            let _ = nix::unistd::close(h.fd);
            Json::obj()
                .with("pid", h.pid)
                .with("target", h.target.clone())
                .with("opened_for_write", h.opened)
                .with("last_error", h.last.map(|e| format!("{e:?}")))
        })
        .collect();
    Ok(Json::obj().with("held", Json::Arr(report)))
}
