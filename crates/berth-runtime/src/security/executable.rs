//! Finding the program (`$PATH` lookup as `execvp` does it) and the final `execve`.

use std::ffi::{CStr, CString};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::execve;

use super::SecurityError;

/// `$PATH` used when the process's environment has none: the usual container default.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a candidate path turned out to be.
enum Candidate {
    Executable,
    NotExecutable,
    Missing,
}

fn check(path: &Path) -> Result<Candidate, SecurityError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
            Ok(Candidate::Executable)
        }
        Ok(_) => Ok(Candidate::NotExecutable),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            Ok(Candidate::Missing)
        }
        Err(source) => Err(SecurityError::ExecutableStat {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn to_cstring(path: &Path) -> Result<CString, SecurityError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SecurityError::NulByte {
        what: "path",
        value: path.display().to_string(),
    })
}

/// Finds the program to exec for `args0`, in the filesystem as the caller sees it (inside the
/// container, after `pivot_root`), as `execvp` would:
/// - a name with a `/` is taken as a path (relative to `cwd`);
/// - otherwise each entry of `env_path` (the process's `PATH`, [`DEFAULT_PATH`] when `None`) is
///   tried in order; an empty entry or a relative one is taken relative to `cwd`.
///
/// A candidate counts when it is a regular file with an execute bit. Errors read like runc's:
/// `exec: "<name>": executable file not found in $PATH`, or `exec: "<path>": permission denied`
/// when only non-executable files (or a directory) were found. Called before waiting for `start`
/// so that `create` fails early. Returns an absolute path when `cwd` is absolute.
pub fn resolve_executable(
    args0: &str,
    env_path: Option<&str>,
    cwd: &Path,
) -> Result<CString, SecurityError> {
    let not_found = || SecurityError::ExecutableNotFound {
        program: args0.to_string(),
    };
    if args0.is_empty() {
        return Err(not_found());
    }
    if args0.contains('/') {
        let path = cwd.join(args0);
        return match check(&path)? {
            Candidate::Executable => to_cstring(&path),
            Candidate::NotExecutable => Err(SecurityError::NotExecutable { path }),
            Candidate::Missing => Err(not_found()),
        };
    }
    let mut denied: Option<PathBuf> = None;
    for dir in env_path.unwrap_or(DEFAULT_PATH).split(':') {
        let path = cwd.join(dir).join(args0);
        match check(&path)? {
            Candidate::Executable => return to_cstring(&path),
            Candidate::NotExecutable => {
                denied.get_or_insert(path);
            }
            Candidate::Missing => {}
        }
    }
    Err(match denied {
        Some(path) => SecurityError::NotExecutable { path },
        None => not_found(),
    })
}

/// Replaces the process with `path` (`execve`). Returns only on failure, with the error naming the
/// path. `args[0]` is the argv[0] the program sees; `env` entries are `KEY=value`.
pub fn exec(path: &CStr, args: &[CString], env: &[CString]) -> SecurityError {
    let errno = match execve(path, args, env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    SecurityError::Exec {
        path: path.to_string_lossy().into_owned(),
        errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for sub in ["bin", "sbin", "subdir"] {
                fs::create_dir(dir.path().join(sub)).unwrap();
            }
            Self::file(&dir.path().join("bin/tool"), 0o755);
            Self::file(&dir.path().join("sbin/tool"), 0o755);
            Self::file(&dir.path().join("bin/data"), 0o644);
            Self::file(&dir.path().join("sbin/data"), 0o755);
            Self::file(&dir.path().join("bin/plain"), 0o644);
            fs::create_dir(dir.path().join("bin/adir")).unwrap();
            Self { dir }
        }

        fn file(path: &Path, mode: u32) {
            fs::write(path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }

        fn path(&self) -> String {
            let root = self.dir.path().display();
            format!("{root}/bin:{root}/sbin")
        }

        fn resolve(&self, name: &str) -> Result<CString, SecurityError> {
            resolve_executable(name, Some(&self.path()), self.dir.path())
        }
    }

    #[test]
    fn first_match_in_path_wins() {
        let t = Tree::new();
        let got = t.resolve("tool").unwrap();
        assert_eq!(
            got.to_str().unwrap(),
            t.dir.path().join("bin/tool").to_str().unwrap()
        );
    }

    #[test]
    fn non_executable_is_skipped_for_a_later_match() {
        let t = Tree::new();
        let got = t.resolve("data").unwrap();
        assert!(got.to_str().unwrap().ends_with("sbin/data"), "{got:?}");
    }

    #[test]
    fn not_found_names_the_program() {
        let t = Tree::new();
        let err = t.resolve("missing").unwrap_err();
        assert!(matches!(err, SecurityError::ExecutableNotFound { .. }));
        assert_eq!(
            err.to_string(),
            "exec: \"missing\": executable file not found in $PATH"
        );
    }

    #[test]
    fn only_non_executable_found_is_permission_denied() {
        let t = Tree::new();
        let err = t.resolve("plain").unwrap_err();
        assert!(err.to_string().ends_with("permission denied"), "{err}");
        // A directory in PATH is not a program either.
        let err = t.resolve("adir").unwrap_err();
        assert!(matches!(err, SecurityError::NotExecutable { .. }), "{err}");
    }

    #[test]
    fn paths_with_a_slash_skip_the_search() {
        let t = Tree::new();
        let got = t.resolve("./bin/tool").unwrap();
        assert!(got.to_str().unwrap().ends_with("bin/tool"));
        assert!(matches!(
            t.resolve("bin/plain").unwrap_err(),
            SecurityError::NotExecutable { .. }
        ));
        assert!(matches!(
            t.resolve("/nonexistent/x").unwrap_err(),
            SecurityError::ExecutableNotFound { .. }
        ));
        assert!(matches!(
            t.resolve("subdir").unwrap_err(),
            SecurityError::ExecutableNotFound { .. }
        ));
        assert!(matches!(
            t.resolve("./subdir").unwrap_err(),
            SecurityError::NotExecutable { .. }
        ));
    }

    #[test]
    fn empty_path_entry_means_cwd() {
        let t = Tree::new();
        let got =
            resolve_executable("tool", Some(":/nonexistent"), &t.dir.path().join("bin")).unwrap();
        assert!(got.to_str().unwrap().ends_with("bin/tool"));
    }

    #[test]
    fn default_path_finds_sh() {
        let got = resolve_executable("sh", None, Path::new("/")).unwrap();
        assert!(got.to_str().unwrap().ends_with("/sh"));
    }

    #[test]
    fn exec_failure_names_the_path() {
        let path = CString::new("/nonexistent/prog").unwrap();
        let err = exec(&path, std::slice::from_ref(&path), &[]);
        assert!(err.to_string().contains("/nonexistent/prog"), "{err}");
    }
}
