//! Compiled filters cached on disk by digest, so that the runtime compiles a profile once.
//!
//! Key: SHA-256 of a format tag, the libseccomp version, the native architecture (and whether
//! the kernel runs x32, which decides whether x32 rules are compiled) and the
//! canonical JSON of the profile (serde's serialisation of the typed profile: fields in a fixed
//! order, absent options left out). Entry: `<dir>/<hex>.bpf` holding
//! [`CompiledFilter::to_bytes`], written to a temporary file, fsynced, renamed into place, and the
//! directory fsynced. An entry that fails its checks is recompiled and replaced.
//!
//! The cache is trusted: an entry is installed as it is. The directory must be writable by root
//! only (it is created with mode 0700).

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::compile::compile;
use crate::error::SeccompError;
use crate::filter::CompiledFilter;

/// Changes whenever the cache key or the entry format changes.
const KEY_TAG: &str = "berth-seccomp/cache/v3";

/// What [`compile_cached_status`] found in the cache.
#[derive(Debug)]
pub enum CacheStatus {
    /// A valid entry was used; nothing was compiled.
    Hit,
    /// No entry: the profile was compiled and stored.
    Miss,
    /// The entry failed its checks: the profile was recompiled and the entry replaced.
    Replaced {
        /// Why the old entry was refused.
        reason: String,
    },
    /// The profile was compiled but could not be stored (read-only or full disk...). The filter
    /// is still good.
    NotStored(SeccompError),
}

/// The cache key of `seccomp` on this machine (hex SHA-256).
pub fn cache_key(seccomp: &LinuxSeccomp) -> Result<String, SeccompError> {
    let json = serde_json::to_vec(seccomp).map_err(|e| {
        SeccompError::invalid(crate::compile::FIELD, format!("cannot serialise: {e}"))
    })?;
    let mut h = Sha256::new();
    h.update(KEY_TAG.as_bytes());
    h.update([0]);
    h.update(environment().as_bytes());
    h.update([0]);
    h.update(&json);
    Ok(hex(&h.finalize()))
}

/// Computes what the cache key takes from the environment now (once per process), so that a
/// later lookup need not: for a caller with idle time before it.
pub fn warm_up() {
    let _ = environment();
}

/// libseccomp version, native architecture and x32 support, computed once per process.
fn environment() -> &'static str {
    static ENV: OnceLock<String> = OnceLock::new();
    ENV.get_or_init(|| {
        let version = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_else(|_| "unknown".into());
        format!(
            "libseccomp {version}; arch {}; x32 {}; crate {}",
            std::env::consts::ARCH,
            berth_sys::seccomp::x32_abi_available(),
            env!("CARGO_PKG_VERSION")
        )
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The file that holds the entry of `key` in `cache_dir`.
pub fn entry_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("{key}.bpf"))
}

/// Compiles `seccomp`, or takes its filter from `cache_dir`. A failure to store the result is not
/// an error (the filter is returned); use [`compile_cached_status`] to see it.
pub fn compile_cached(
    seccomp: &LinuxSeccomp,
    cache_dir: &Path,
) -> Result<CompiledFilter, SeccompError> {
    compile_cached_status(seccomp, cache_dir).map(|(filter, _)| filter)
}

/// [`compile_cached`], also telling whether the cache was used.
pub fn compile_cached_status(
    seccomp: &LinuxSeccomp,
    cache_dir: &Path,
) -> Result<(CompiledFilter, CacheStatus), SeccompError> {
    let key = cache_key(seccomp)?;
    let path = entry_path(cache_dir, &key);
    let replaced = match fs::read(&path) {
        Ok(bytes) => match CompiledFilter::from_bytes(&bytes) {
            Ok(filter) => return Ok((filter, CacheStatus::Hit)),
            Err(e) => Some(e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("cannot read {}: {e}", path.display())),
    };
    let filter = compile(seccomp)?;
    let status = match store(cache_dir, &path, &filter.to_bytes()) {
        Err(e) => CacheStatus::NotStored(e),
        Ok(()) => match replaced {
            Some(reason) => CacheStatus::Replaced { reason },
            None => CacheStatus::Miss,
        },
    };
    Ok((filter, status))
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), SeccompError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let err = |path: &Path, step| {
        let path = path.to_path_buf();
        move |source| SeccompError::Cache { path, step, source }
    };
    // Whoever can write here can weaken every container's filter: keep it root's alone.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err(dir, "create the directory"))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}.bpf",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp).map_err(err(&tmp, "create"))?;
        file.write_all(bytes).map_err(err(&tmp, "write"))?;
        file.sync_all().map_err(err(&tmp, "fsync"))?;
        fs::rename(&tmp, path).map_err(err(path, "rename into place"))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err(dir, "fsync the directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::parse_profile;

    fn small() -> LinuxSeccomp {
        parse_profile(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
            "linux.seccomp",
        )
        .unwrap()
    }

    #[test]
    fn miss_then_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("seccomp");
        let (first, status) = compile_cached_status(&small(), &cache).unwrap();
        assert!(matches!(status, CacheStatus::Miss), "{status:?}");
        let (second, status) = compile_cached_status(&small(), &cache).unwrap();
        assert!(matches!(status, CacheStatus::Hit), "{status:?}");
        assert_eq!(first, second);
        assert_eq!(first, compile(&small()).unwrap());
        // Only the entry is left: no temporary file.
        let names: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn corrupt_or_short_entry_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = cache_key(&small()).unwrap();
        let path = entry_path(dir.path(), &key);
        let good = compile(&small()).unwrap();
        let full = good.to_bytes();
        let mut flipped = full.clone();
        flipped[20] ^= 1;
        for bad in [
            Vec::new(),
            full[..10].to_vec(),
            full[..full.len() - 1].to_vec(),
            flipped,
        ] {
            fs::write(&path, &bad).unwrap();
            let (filter, status) = compile_cached_status(&small(), dir.path()).unwrap();
            assert!(matches!(status, CacheStatus::Replaced { .. }), "{status:?}");
            assert_eq!(filter, good);
            assert_eq!(fs::read(&path).unwrap(), full, "entry rewritten");
        }
    }

    #[test]
    fn different_profiles_have_different_keys() {
        let mut other = small();
        other.set_default_errno_ret(Some(2));
        assert_ne!(cache_key(&small()).unwrap(), cache_key(&other).unwrap());
        assert_eq!(cache_key(&small()).unwrap(), cache_key(&small()).unwrap());
    }

    #[test]
    fn unwritable_cache_still_returns_the_filter() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the cache directory should be.
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, b"x").unwrap();
        let (filter, status) = compile_cached_status(&small(), &blocker.join("sub")).unwrap();
        assert!(matches!(status, CacheStatus::NotStored(_)), "{status:?}");
        assert_eq!(filter, compile(&small()).unwrap());
    }
}
