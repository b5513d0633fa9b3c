//! Small cgroupfs file helpers shared by the v1 and v2 drivers. Every error names the file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::CgroupError;

/// Writes `value` to the existing control file `dir/file` (no O_CREAT: a missing file is an
/// error, as on a real cgroupfs where it means the controller is off).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    write_path(&path, value)
}

/// [`write`] for a full path.
pub(crate) fn write_path(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| CgroupError::Write {
            path: path.to_owned(),
            value: value.to_owned(),
            source,
        })
}

/// Writes each `(file, value)` in order, one write(2) per value (a cgroup control file takes one
/// value per write), reusing the open file while consecutive values go to the same file.
pub(crate) fn write_lines(dir: &Path, lines: &[(&str, String)]) -> Result<(), CgroupError> {
    let mut current: Option<(&str, std::fs::File)> = None;
    for (file, value) in lines {
        let path = || dir.join(file);
        let err = |source| CgroupError::Write {
            path: path(),
            value: value.clone(),
            source,
        };
        if !matches!(&current, Some((open, _)) if open == file) {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path())
                .map_err(err)?;
            current = Some((file, f));
        }
        if let Some((_, f)) = current.as_mut() {
            f.write_all(value.as_bytes()).map_err(err)?;
        }
    }
    Ok(())
}

/// Reads `dir/file`.
/// Removes a parent cgroup directory this object created, if it is now unused: one that is gone
/// already, or still has children or processes (another container's), is left alone silently.
pub(crate) fn remove_parent(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(()),
        Err(source) => Err(CgroupError::Remove {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Whether `dir` is Berth's shared default parent, `<mount>/berth` (holding the `/berth/<id>`
/// cgroups). Like docker's `/docker` it stays once made: removing it with the last container
/// cost every next container its re-creation (one mkdir per v1 hierarchy, and the cpuset copy).
pub(crate) fn is_default_parent(mount_point: &Path, dir: &Path) -> bool {
    dir.file_name() == Some(std::ffi::OsStr::new("berth")) && dir.parent() == Some(mount_point)
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Reads `dir/file`, or `None` if it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// Parses one number; `max` (v2's "unlimited") is `u64::MAX`, and so is v1's -1.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64, CgroupError> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: path.to_owned(),
        value: t.to_owned(),
    })
}

/// Reads a single-number file; a missing file reads as 0 (stats of an absent feature).
pub(crate) fn read_u64_or_zero(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    match read_opt(dir, file)? {
        Some(s) => parse_u64(&dir.join(file), &s),
        None => Ok(0),
    }
}

/// The value of `key` in a flat keyed file's text.
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    flat_keyed(text).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Iterates `key value` lines (memory.stat, cpu.stat, memory.events, ...), skipping lines whose
/// value is not a number.
pub(crate) fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let mut it = l.split_whitespace();
        let k = it.next()?;
        let v = it.next()?.parse().ok()?;
        Some((k, v))
    })
}

/// Creates `path` and its missing parents; returns the directories created, outermost first.
/// A directory that appears concurrently (EEXIST) is not ours; a parent that vanishes
/// concurrently (ENOENT, another container's cleanup) makes us start over, a few times.
pub(crate) fn mkdir_p(path: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    // The common case first: the parent exists (Berth's shared parent, another container's).
    match std::fs::create_dir(path) {
        Ok(()) => return Ok(vec![path.to_owned()]),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Vec::new()),
        Err(_) => {}
    }
    let mut attempts = 0;
    'again: loop {
        let mut missing = Vec::new();
        let mut cur = path;
        while !cur.exists() {
            missing.push(cur.to_owned());
            match cur.parent() {
                Some(p) => cur = p,
                None => break,
            }
        }
        let mut created = Vec::new();
        for dir in missing.into_iter().rev() {
            match std::fs::create_dir(&dir) {
                Ok(()) => created.push(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                    continue 'again;
                }
                Err(source) => return Err(CgroupError::Create { path: dir, source }),
            }
        }
        return Ok(created);
    }
}

/// The child cgroups (subdirectories) of `dir`.
pub(crate) fn child_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes the cgroup `dir` and every cgroup below it, deepest first. EBUSY (processes still
/// exiting) is retried for about a second; a directory already gone is fine.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // Usually the cgroup has no children: try that first, without listing the directory (a
    // cgroup directory holds dozens of control files).
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for child in child_dirs(dir) {
        remove_tree(&child)?;
    }
    rmdir_retry(dir)
}

/// `rmdir` with a short retry on EBUSY; ENOENT counts as success.
pub(crate) fn rmdir_retry(dir: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_micros(200);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

/// The pids in `dir/cgroup.procs` and in every cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let Some(text) = read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for child in child_dirs(dir) {
        procs_recursive(&child, out)?;
    }
    Ok(())
}

/// Sends `signal` to every pid; processes that are already gone are skipped.
pub(crate) fn signal_all(pids: &[i32], signal: i32) -> Result<(), CgroupError> {
    let sig = Signal::try_from(signal).map_err(|source| CgroupError::Signal {
        pid: pids.first().copied().unwrap_or(0),
        signal,
        source,
    })?;
    for &pid in pids {
        match kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(source) => {
                return Err(CgroupError::Signal {
                    pid,
                    signal,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Calls `check` with growing pauses (100 µs up to 10 ms) until it says done or `timeout` passes.
/// Returns whether it succeeded.
pub(crate) fn poll_until(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// `a-b,c` cpu/mem list syntax to the numbers it names (for cpuset stats).
pub(crate) fn parse_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.push(v);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_p_reports_what_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/c");
        let made = mkdir_p(&target).unwrap();
        assert_eq!(
            made,
            vec![dir.path().join("a"), dir.path().join("a/b"), target.clone()]
        );
        assert!(mkdir_p(&target).unwrap().is_empty());
        remove_tree(&dir.path().join("a")).unwrap();
        assert!(!dir.path().join("a").exists());
        remove_tree(&dir.path().join("a")).unwrap();
    }

    #[test]
    fn write_needs_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(dir.path(), "memory.max", "1").unwrap_err();
        assert!(err.to_string().contains("memory.max"), "{err}");
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        write(dir.path(), "memory.max", "5").unwrap();
        assert_eq!(read(dir.path(), "memory.max").unwrap(), "5");
    }

    #[test]
    fn write_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a", "b"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let lines = [
            ("a", "1".to_owned()),
            ("a", "2".to_owned()),
            ("b", "3".to_owned()),
        ];
        write_lines(dir.path(), &lines).unwrap();
        assert_eq!(read(dir.path(), "a").unwrap(), "12");
        assert_eq!(read(dir.path(), "b").unwrap(), "3");
        let err = write_lines(dir.path(), &[("c", "4".to_owned())]).unwrap_err();
        assert!(err.to_string().contains("\"4\""), "{err}");
    }

    #[test]
    fn numbers_and_lists() {
        let p = Path::new("/x");
        assert_eq!(parse_u64(p, "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(p, "42\n").unwrap(), 42);
        assert!(parse_u64(p, "x").is_err());
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_list(""), Vec::<u16>::new());
        let kv: Vec<_> = flat_keyed("a 1\nb x\nc 3\n").collect();
        assert_eq!(kv, vec![("a", 1), ("c", 3)]);
    }

    #[test]
    fn procs_recurse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.procs"), "1\n2\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/cgroup.procs"), "3\n").unwrap();
        let mut pids = Vec::new();
        procs_recursive(dir.path(), &mut pids).unwrap();
        pids.sort();
        assert_eq!(pids, vec![1, 2, 3]);
    }
}
