//! Platforms (`linux/amd64`, `linux/arm64/v8`): what an image runs on, with the aliases the
//! field uses (`x86_64`, `aarch64`, `armhf`...) normalised so that equal platforms compare equal.

use crate::error::{Classify, ErrorClass};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An operating system, CPU architecture and optional CPU variant, with the OCI field names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    /// The operating system, e.g. `linux`.
    pub os: String,
    /// The CPU architecture in Go's names, e.g. `amd64`, `arm64`, `arm`, `386`.
    pub architecture: String,
    /// The CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a string is not a platform specifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The specifier is empty.
    #[error("invalid platform: empty specifier")]
    Empty,
    /// More than `os/arch/variant`.
    #[error("invalid platform {0:?}: expected os/arch or os/arch/variant")]
    TooManyParts(String),
    /// A part is empty or has characters outside `[A-Za-z0-9_.-]`.
    #[error("invalid platform {input:?}: part {part:?} must be non-empty letters, digits, '_', '.' or '-'")]
    BadPart { input: String, part: String },
}

impl Classify for PlatformError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// Operating systems recognised when a specifier has only one part.
const KNOWN_OS: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "android",
    "aix", "plan9",
];

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
        .normalize()
    }

    /// The platform this program runs on, e.g. `linux/amd64` or `linux/arm64/v8`.
    pub fn host() -> Platform {
        use std::env::consts::{ARCH, OS};
        let little = cfg!(target_endian = "little");
        let arch = match ARCH {
            "x86" => "386",
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "powerpc64" if little => "ppc64le",
            "powerpc64" => "ppc64",
            "powerpc" => "ppc",
            "mips64" if little => "mips64le",
            "mips" if little => "mipsle",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform::new(OS, arch, None)
    }

    /// Parses `os/arch[/variant]` and normalises it. A single part is an OS (with this host's
    /// architecture) when it names one, else an architecture (on this host's OS).
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        if s.is_empty() {
            return Err(PlatformError::Empty);
        }
        let parts: Vec<&str> = s.split('/').collect();
        for part in &parts {
            let ok = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(PlatformError::BadPart {
                    input: s.to_string(),
                    part: part.to_string(),
                });
            }
        }
        let host = Platform::host();
        Ok(match parts[..] {
            [one] if KNOWN_OS.contains(&one.to_ascii_lowercase().as_str()) => {
                if one.eq_ignore_ascii_case(&host.os) {
                    host
                } else {
                    Platform::new(one, &host.architecture, None)
                }
            }
            [one] => Platform::new(&host.os, one, None),
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(PlatformError::TooManyParts(s.to_string())),
        })
    }

    /// The canonical spelling: lowercase; `x86_64` -> `amd64` (variant `v1` dropped);
    /// `aarch64` -> `arm64` (variant `v8` when none is given); `armhf` -> `arm/v7`,
    /// `armel` -> `arm/v6`, `arm` without variant -> `arm/v7`; `i386`/`i686` -> `386`;
    /// variants `7`, `8` -> `v7`, `v8`.
    pub fn normalize(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty())
            .map(|v| match v.as_bytes() {
                [b'0'..=b'9', ..] => format!("v{v}"),
                _ => v,
            });
        // "v8.0" and "v8" are the same variant.
        let variant = variant.map(|v| v.strip_suffix(".0").map(str::to_string).unwrap_or(v));
        let (architecture, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant.filter(|v| v != "v1")),
            "i386" | "i486" | "i586" | "i686" | "x86" | "386" => ("386".to_string(), variant),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                Some(variant.unwrap_or_else(|| "v8".to_string())),
            ),
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "armv5l" | "armv5" => ("arm".to_string(), Some("v5".to_string())),
            "armv6l" | "armv6" => ("arm".to_string(), Some("v6".to_string())),
            "armv7l" | "armv7" => ("arm".to_string(), Some("v7".to_string())),
            "armv8l" | "armv8" => ("arm".to_string(), Some("v8".to_string())),
            "arm" => (
                "arm".to_string(),
                Some(variant.unwrap_or_else(|| "v7".to_string())),
            ),
            other => (other.to_string(), variant),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// Whether the two platforms are the same once normalised (`linux/aarch64` matches
    /// `linux/arm64/v8`, `linux/x86_64` matches `linux/amd64`).
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalize() == other.normalize()
    }

    /// How well an image for `candidate` suits a host wanting `self`: `Some(0)` for the same
    /// platform, higher for older variants this one can still run (`arm/v7` runs `arm/v6`,
    /// `amd64/v3` runs `amd64/v2` and plain `amd64`), `None` when it cannot run it.
    pub fn match_rank(&self, candidate: &Platform) -> Option<usize> {
        let want = self.normalize();
        let have = candidate.normalize();
        if want.os != have.os || want.architecture != have.architecture {
            return None;
        }
        if want.variant == have.variant {
            return Some(0);
        }
        let level = |v: &Option<String>| -> Option<u32> {
            match v.as_deref() {
                None if want.architecture == "amd64" => Some(1),
                Some(v) => v.strip_prefix('v')?.parse().ok(),
                None => None,
            }
        };
        let (w, h) = (level(&want.variant)?, level(&have.variant)?);
        let floor = match want.architecture.as_str() {
            "arm" => 5,
            "arm64" => 8,
            "amd64" => 1,
            _ => return None,
        };
        (h >= floor && h < w).then(|| (w - h) as usize)
    }
}

impl fmt::Display for Platform {
    /// `os/arch` or `os/arch/variant`, e.g. `linux/amd64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn parses_and_normalises() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/x86-64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/aarch64", "linux/arm64/v8"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/arm64/8", "linux/arm64/v8"),
            ("linux/arm64/v8.0", "linux/arm64/v8"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/7", "linux/arm/v7"),
            ("linux/arm/v6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/armv7l", "linux/arm/v7"),
            ("linux/i386", "linux/386"),
            ("linux/i686", "linux/386"),
            ("linux/ppc64le", "linux/ppc64le"),
            ("linux/s390x", "linux/s390x"),
            ("linux/riscv64", "linux/riscv64"),
            ("windows/amd64", "windows/amd64"),
            ("macos/arm64", "darwin/arm64/v8"),
        ];
        for (input, want) in cases {
            let got = Platform::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want, "{input}");
            assert_eq!(input.parse::<Platform>().unwrap(), got);
        }
    }

    #[test]
    fn single_part_specifiers_fill_in_from_the_host() {
        let host = Platform::host();
        assert_eq!(
            Platform::parse("linux").unwrap().architecture,
            host.architecture
        );
        assert_eq!(Platform::parse("windows").unwrap().os, "windows");
        let arch_only = Platform::parse("arm64").unwrap();
        assert_eq!(arch_only.os, host.os);
        assert_eq!(arch_only.to_string(), format!("{}/arm64/v8", host.os));
    }

    #[test]
    fn rejects_bad_specifiers() {
        let cases = [
            ("", "empty"),
            ("linux/", r#"part """#),
            ("/amd64", r#"part """#),
            ("linux/amd 64", r#"part "amd 64""#),
            ("linux/arm/v7/x", "expected os/arch or os/arch/variant"),
        ];
        for (input, want) in cases {
            let e = Platform::parse(input).unwrap_err();
            assert!(e.to_string().contains(want), "{input:?}: {e}");
            assert_eq!(e.class(), ErrorClass::InvalidArgument);
        }
    }

    #[test]
    fn host_is_normalised() {
        let host = Platform::host();
        assert_eq!(host, host.normalize());
        assert_eq!(host.os, std::env::consts::OS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(host.to_string(), "linux/amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(host.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn matches_after_normalisation() {
        let yes = [
            (p("linux", "amd64", None), p("linux", "x86_64", None)),
            (p("linux", "amd64", None), p("linux", "amd64", Some("v1"))),
            (p("linux", "arm64", None), p("linux", "aarch64", Some("v8"))),
            (p("linux", "arm64", Some("v8")), p("linux", "arm64", None)),
            (p("linux", "arm", None), p("linux", "arm", Some("v7"))),
            (p("linux", "arm", Some("7")), p("linux", "armhf", None)),
            (p("LINUX", "AMD64", None), p("linux", "amd64", None)),
        ];
        for (a, b) in &yes {
            assert!(a.matches(b), "{a} vs {b}");
            assert!(b.matches(a), "{b} vs {a}");
        }
        let no = [
            (p("linux", "amd64", None), p("linux", "arm64", None)),
            (p("linux", "amd64", None), p("windows", "amd64", None)),
            (p("linux", "arm", Some("v7")), p("linux", "arm", Some("v6"))),
            (p("linux", "arm64", None), p("linux", "arm", Some("v8"))),
            (p("linux", "amd64", None), p("linux", "amd64", Some("v2"))),
        ];
        for (a, b) in &no {
            assert!(!a.matches(b), "{a} vs {b}");
        }
    }

    #[test]
    fn match_rank_prefers_exact_then_older_variants() {
        let arm7 = p("linux", "arm", Some("v7"));
        assert_eq!(arm7.match_rank(&p("linux", "arm", None)), Some(0));
        assert_eq!(arm7.match_rank(&p("linux", "arm", Some("v6"))), Some(1));
        assert_eq!(arm7.match_rank(&p("linux", "arm", Some("v5"))), Some(2));
        assert_eq!(arm7.match_rank(&p("linux", "arm", Some("v8"))), None);
        let amd64_v3 = p("linux", "amd64", Some("v3"));
        assert_eq!(amd64_v3.match_rank(&p("linux", "amd64", None)), Some(2));
        assert_eq!(
            amd64_v3.match_rank(&p("linux", "amd64", Some("v2"))),
            Some(1)
        );
        let amd64 = p("linux", "amd64", None);
        assert_eq!(amd64.match_rank(&p("linux", "amd64", Some("v2"))), None);
        assert_eq!(amd64.match_rank(&p("linux", "arm64", None)), None);
        let arm64 = p("linux", "arm64", None);
        assert_eq!(
            arm64.match_rank(&p("linux", "aarch64", Some("v8"))),
            Some(0)
        );
        assert_eq!(p("linux", "arm64", Some("v9")).match_rank(&arm64), Some(1));
        assert_eq!(
            p("linux", "riscv64", None).match_rank(&p("linux", "riscv64", Some("x"))),
            None
        );
    }

    #[test]
    fn serde_uses_oci_field_names() {
        let plat = p("linux", "arm64", Some("v8"));
        let json = serde_json::to_string(&plat).unwrap();
        assert_eq!(
            json,
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#
        );
        let back: Platform =
            serde_json::from_str(r#"{"architecture":"amd64","os":"linux","os.version":"x"}"#)
                .unwrap();
        assert_eq!(back, p("linux", "amd64", None));
        assert_eq!(back.to_string(), "linux/amd64");
    }
}
