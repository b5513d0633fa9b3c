//! Normalisation of tar entry paths: relative, no `.` and no `..`.

use std::path::{Component, Path, PathBuf};

/// Why a path is unsafe to extract.
pub(crate) type PathProblem = &'static str;

/// Normalises an entry path (or hardlink target): a leading `/` and `.` components are dropped,
/// any `..` component is refused. The empty result means the extraction root itself.
pub(crate) fn normalise(path: &Path) -> Result<PathBuf, PathProblem> {
    let mut out = PathBuf::with_capacity(path.as_os_str().len());
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("has a '..' component"),
            Component::Prefix(_) => return Err("has a platform prefix"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(normalise(Path::new("./a/b/")).unwrap(), Path::new("a/b"));
        assert_eq!(
            normalise(Path::new("/etc/passwd")).unwrap(),
            Path::new("etc/passwd")
        );
        assert_eq!(normalise(Path::new("a/./b")).unwrap(), Path::new("a/b"));
        assert_eq!(normalise(Path::new("./")).unwrap(), Path::new(""));
        assert!(normalise(Path::new("a/../b")).is_err());
        assert!(normalise(Path::new("../x")).is_err());
        assert!(normalise(Path::new("/..")).is_err());
    }
}
