//! Image references (`busybox`, `localhost:5000/a/b:v1`, `x.io/y@sha256:...`) parsed and
//! normalised the way Docker does, so a name means the same image in Berth as in `docker`.
//!
//! The grammar:
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]        host: DNS labels joined by ".", or "[" IPv6 "]"
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*     separator: "." | "_" | "__" | "-"+
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//!
//! Normalisation: the first `/`-separated component is a domain when it contains `.` or `:`,
//! is `localhost`, or has an uppercase letter; otherwise the domain is `docker.io`.
//! `index.docker.io` becomes `docker.io`, and a one-component path on `docker.io` gets `library/`.
//! A reference with neither tag nor digest gets the tag `latest`.

use crate::digest::{Digest, DigestError};
use crate::error::{Classify, ErrorClass};
use std::fmt;
use std::str::FromStr;

/// The registry of names without a domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The older spelling of [`DEFAULT_DOMAIN`], normalised to it.
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of official images on [`DEFAULT_DOMAIN`].
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag given to a reference that has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest a full name (`domain/path`) may be.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The longest a tag may be.
pub const TAG_LENGTH_MAX: usize = 128;

/// A normalised image reference: domain, path, and a tag and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid image reference. Every message names the input.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input is empty.
    #[error("invalid reference format: empty image name")]
    Empty,
    /// The input is a bare 64-hex string, which would be mistaken for an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexId(String),
    /// The repository path has an uppercase letter.
    #[error("invalid reference format: repository name {name:?} must be lowercase (in {input:?})")]
    Uppercase { input: String, name: String },
    /// `domain/path` is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error("invalid reference format: repository name {input:?} is {len} characters long, more than the {NAME_TOTAL_LENGTH_MAX} allowed")]
    NameTooLong { input: String, len: usize },
    /// The domain part is not a host name or address with an optional port.
    #[error("invalid reference format: {domain:?} is not a valid registry domain (in {input:?})")]
    BadDomain { input: String, domain: String },
    /// A path component is empty or has characters outside `[a-z0-9]` and separators.
    #[error("invalid reference format: repository path component {component:?} is invalid (in {input:?}): {why}")]
    BadPath {
        input: String,
        component: String,
        why: &'static str,
    },
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid reference format: tag {tag:?} is invalid (in {input:?}): {why}")]
    BadTag {
        input: String,
        tag: String,
        why: &'static str,
    },
    /// The part after `@` is not a valid digest.
    #[error("invalid reference format: bad digest in {input:?}: {source}")]
    BadDigest {
        input: String,
        #[source]
        source: DigestError,
    },
}

impl Classify for ReferenceError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

impl Reference {
    /// Parses and normalises `s`: `busybox` -> `docker.io/library/busybox:latest`,
    /// `a/b` -> `docker.io/a/b:latest`, `localhost:5000/x` -> `localhost:5000/x:latest`,
    /// `name@sha256:...` keeps the digest and gets no tag.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Like [`Reference::parse`] but adds no default tag: `busybox` has neither tag nor digest.
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ReferenceError::HexId(s.to_string()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::BadDigest {
                        input: s.to_string(),
                        source,
                    })?;
                (rest, Some(digest))
            }
            None => (s, None),
        };
        // A tag follows the last ':' when no '/' comes after it (else the ':' is a port).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|why| ReferenceError::BadTag {
                input: s.to_string(),
                tag: tag.to_string(),
                why,
            })?;
        }
        let (domain, path) = split_domain(name);
        if path.to_ascii_lowercase() != path {
            return Err(ReferenceError::Uppercase {
                input: s.to_string(),
                name: path.to_string(),
            });
        }
        if !domain_is_valid(domain) {
            return Err(ReferenceError::BadDomain {
                input: s.to_string(),
                domain: domain.to_string(),
            });
        }
        for component in path.split('/') {
            check_component(component).map_err(|why| ReferenceError::BadPath {
                input: s.to_string(),
                component: component.to_string(),
                why,
            })?;
        }
        let domain = if domain == LEGACY_DEFAULT_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{path}")
        } else {
            path.to_string()
        };
        let len = domain.len() + 1 + path.len();
        if len > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: s.to_string(),
                len,
            });
        }
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name Docker shows: `busybox`, `a/b`, `localhost:5000/x`. The domain is kept
    /// when dropping it would make the name parse differently (`docker.io/localhost/x`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        let short = match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest,
            _ => &self.path,
        };
        match short.split_once('/') {
            Some((first, _)) if looks_like_domain(first) => self.name(),
            _ => short.to_string(),
        }
    }

    /// The familiar name with the tag and/or digest: `busybox:latest`, `a/b@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// This repository with `tag` (any digest is kept). `tag` should satisfy
    /// [`is_valid_tag`]; use [`Reference::try_with_tag`] for untrusted input.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        }
    }

    /// This repository with `tag`, checked against the tag grammar.
    pub fn try_with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(tag).map_err(|why| ReferenceError::BadTag {
            input: format!("{}:{tag}", self.name()),
            tag: tag.to_string(),
            why,
        })?;
        Ok(self.with_tag(tag))
    }

    /// This repository with `digest` (any tag is kept).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// Appends `:tag` and `@digest` as present.
    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

/// Whether `tag` satisfies the tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    check_tag(tag).is_ok()
}

/// Splits a name (no tag or digest) into domain and path, by Docker's rule.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if looks_like_domain(first) => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    }
}

/// Whether a first path component is taken as a registry domain.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.to_ascii_lowercase() != first
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err("it is empty"),
        _ if tag.len() > TAG_LENGTH_MAX => Err("it is longer than 128 characters"),
        [first, ..] if !word(*first) => Err("it must start with a letter, digit or '_'"),
        [_, rest @ ..] if !rest.iter().all(|&b| word(b) || b == b'.' || b == b'-') => {
            Err("only letters, digits, '_', '.' and '-' are allowed")
        }
        _ => Ok(()),
    }
}

/// Checks one path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn check_component(c: &str) -> Result<(), &'static str> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return Err("it is empty");
    }
    if !bytes
        .iter()
        .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("only lowercase letters, digits, '.', '_' and '-' are allowed");
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("it must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err("separators must be '.', '_', '__' or dashes");
        }
    }
    Ok(())
}

/// Whether `domain` is `host[:port]`, host being DNS labels joined by dots or `[ipv6]`.
fn domain_is_valid(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("[v6]", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host == "[v6]" {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

// Digests travel in JSON (descriptors, configs) as their string form. The impls live here, beside
// the other string-form identifier, so that digest.rs stays free of serde.
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// (input, domain, path, tag, digest?) for inputs that parse.
    fn good_cases() -> Vec<(String, &'static str, String, Option<&'static str>, bool)> {
        let d = format!("sha256:{HEX}");
        vec![
            ("busybox".into(), "docker.io", "library/busybox".into(), Some("latest"), false),
            ("busybox:1.36".into(), "docker.io", "library/busybox".into(), Some("1.36"), false),
            ("docker.io/busybox".into(), "docker.io", "library/busybox".into(), Some("latest"), false),
            ("index.docker.io/library/busybox".into(), "docker.io", "library/busybox".into(), Some("latest"), false),
            ("index.docker.io/busybox".into(), "docker.io", "library/busybox".into(), Some("latest"), false),
            ("docker.io/library/busybox:latest".into(), "docker.io", "library/busybox".into(), Some("latest"), false),
            ("a/b".into(), "docker.io", "a/b".into(), Some("latest"), false),
            ("a/b/c:v1".into(), "docker.io", "a/b/c".into(), Some("v1"), false),
            ("localhost/foo".into(), "localhost", "foo".into(), Some("latest"), false),
            ("localhost:5000/foo:tag".into(), "localhost:5000", "foo".into(), Some("tag"), false),
            ("localhost:5000/a/b:v1".into(), "localhost:5000", "a/b".into(), Some("v1"), false),
            ("foo:5000".into(), "docker.io", "library/foo".into(), Some("5000"), false),
            ("localhost:5000".into(), "docker.io", "library/localhost".into(), Some("5000"), false),
            ("localhost".into(), "docker.io", "library/localhost".into(), Some("latest"), false),
            (format!("a.b/c@{d}"), "a.b", "c".into(), None, true),
            (format!("busybox@{d}"), "docker.io", "library/busybox".into(), None, true),
            (format!("busybox:1.36@{d}"), "docker.io", "library/busybox".into(), Some("1.36"), true),
            (format!("x.io:443/y/z:t@{d}"), "x.io:443", "y/z".into(), Some("t"), true),
            ("quay.io/podman/hello".into(), "quay.io", "podman/hello".into(), Some("latest"), false),
            ("x.io/y".into(), "x.io", "y".into(), Some("latest"), false),
            ("Foo.io/bar".into(), "Foo.io", "bar".into(), Some("latest"), false),
            ("UPPER/bar".into(), "UPPER", "bar".into(), Some("latest"), false),
            ("[::1]:5000/foo".into(), "[::1]:5000", "foo".into(), Some("latest"), false),
            ("[fe80::1]/foo:v".into(), "[fe80::1]", "foo".into(), Some("v"), false),
            ("127.0.0.1:5000/a".into(), "127.0.0.1:5000", "a".into(), Some("latest"), false),
            ("a-b.c_d__e.f--g".into(), "docker.io", "library/a-b.c_d__e.f--g".into(), Some("latest"), false),
            ("foo:_under.Score-1".into(), "docker.io", "library/foo".into(), Some("_under.Score-1"), false),
            (format!("foo:{}", "t".repeat(128)), "docker.io", "library/foo".into(), Some("tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"), false),
            ("docker.io/a/b".into(), "docker.io", "a/b".into(), Some("latest"), false),
            ("my-registry.local:5000/ns/img:1.0".into(), "my-registry.local:5000", "ns/img".into(), Some("1.0"), false),
        ]
    }

    #[test]
    fn parses_and_normalises() {
        for (input, domain, path, tag, has_digest) in good_cases() {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.domain(), domain, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().is_some(), has_digest, "{input}");
            // The full form and the familiar form both parse back to the same reference.
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r, "{input}");
            assert_eq!(Reference::parse(&r.familiar()).unwrap(), r, "{input}");
        }
    }

    #[test]
    fn displays_full_and_familiar_forms() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, String, &str, String)> = vec![
            // (input, Display, familiar_name, familiar)
            (
                "busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox",
                "busybox:latest".into(),
            ),
            (
                "a/b".into(),
                "docker.io/a/b:latest".into(),
                "a/b",
                "a/b:latest".into(),
            ),
            (
                "library/a/b".into(),
                "docker.io/library/a/b:latest".into(),
                "library/a/b",
                "library/a/b:latest".into(),
            ),
            (
                "localhost:5000/x".into(),
                "localhost:5000/x:latest".into(),
                "localhost:5000/x",
                "localhost:5000/x:latest".into(),
            ),
            (
                "localhost/foo".into(),
                "localhost/foo:latest".into(),
                "localhost/foo",
                "localhost/foo:latest".into(),
            ),
            (
                format!("busybox@{d}"),
                format!("docker.io/library/busybox@{d}"),
                "busybox",
                format!("busybox@{d}"),
            ),
            (
                format!("a.b/c:t@{d}"),
                format!("a.b/c:t@{d}"),
                "a.b/c",
                format!("a.b/c:t@{d}"),
            ),
            // Dropping docker.io would turn the first component into a domain: it is kept.
            (
                "docker.io/foo.bar/baz".into(),
                "docker.io/foo.bar/baz:latest".into(),
                "docker.io/foo.bar/baz",
                "docker.io/foo.bar/baz:latest".into(),
            ),
            (
                "docker.io/localhost/x".into(),
                "docker.io/localhost/x:latest".into(),
                "docker.io/localhost/x",
                "docker.io/localhost/x:latest".into(),
            ),
        ];
        for (input, full, fam_name, fam) in cases {
            let r = Reference::parse(&input).unwrap();
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar_name(), fam_name, "{input}");
            assert_eq!(r.familiar(), fam, "{input}");
            assert_eq!(r.name(), format!("{}/{}", r.domain(), r.path()), "{input}");
            assert!(full.starts_with(&r.name()), "{input}");
        }
    }

    #[test]
    fn rejects_bad_references() {
        let long_path = format!("a/{}", "b".repeat(250));
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            (
                "Busybox".into(),
                r#"repository name "Busybox" must be lowercase"#,
            ),
            (
                "docker.io/Busybox".into(),
                r#"repository name "Busybox" must be lowercase"#,
            ),
            (
                "localhost:5000/Foo".into(),
                r#"repository name "Foo" must be lowercase"#,
            ),
            (
                "a/B:tag".into(),
                r#"repository name "a/B" must be lowercase"#,
            ),
            (HEX.into(), "cannot specify 64-byte hexadecimal strings"),
            ("busybox:".into(), r#"tag "" is invalid"#),
            ("busybox:-x".into(), r#"tag "-x" is invalid"#),
            ("busybox:a+b".into(), r#"tag "a+b" is invalid"#),
            (format!("busybox:{}", "t".repeat(129)), "longer than 128"),
            ("busybox@sha256:abc".into(), "bad digest"),
            ("busybox@".into(), "bad digest"),
            ("busybox@md5:00".into(), "unsupported algorithm"),
            ("a//b".into(), r#"component "" is invalid"#),
            ("a/".into(), r#"component "" is invalid"#),
            ("/a".into(), r#"component "" is invalid"#),
            ("-a".into(), r#"component "-a" is invalid"#),
            ("a_".into(), r#"component "a_" is invalid"#),
            ("a___b".into(), r#"component "a___b" is invalid"#),
            ("a._b".into(), r#"component "a._b" is invalid"#),
            ("a..b".into(), r#"component "a..b" is invalid"#),
            ("a b".into(), r#"component "a b" is invalid"#),
            ("x.io/a$b".into(), r#"component "a$b" is invalid"#),
            (
                "-x.io/a".into(),
                r#""-x.io" is not a valid registry domain"#,
            ),
            (
                "x.io:port/a".into(),
                r#""x.io:port" is not a valid registry domain"#,
            ),
            (
                "x..io/a".into(),
                r#""x..io" is not a valid registry domain"#,
            ),
            (
                "[zz]:5000/a".into(),
                r#""[zz]:5000" is not a valid registry domain"#,
            ),
            ("[zz]/a".into(), r#"component "[zz]" is invalid"#),
            (
                "x.io:/a".into(),
                r#""x.io:" is not a valid registry domain"#,
            ),
            ("[::1/a".into(), "not a valid registry domain"),
            (format!("x.io/{long_path}"), "more than the 255 allowed"),
        ];
        for (input, want) in cases {
            let e = match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => e,
            };
            let msg = e.to_string();
            assert!(msg.contains(want), "{input:?}: {msg:?} lacks {want:?}");
            assert_eq!(e.class(), ErrorClass::InvalidArgument);
        }
    }

    #[test]
    fn name_length_limit_counts_the_normalised_name() {
        // "docker.io/library/" + 237 = 255: allowed; one more is not.
        let ok = "a".repeat(255 - "docker.io/library/".len());
        assert!(Reference::parse(&ok).is_ok());
        let too_long = format!("{ok}a");
        let e = Reference::parse(&too_long).unwrap_err();
        assert!(
            matches!(e, ReferenceError::NameTooLong { len: 256, .. }),
            "{e}"
        );
    }

    #[test]
    fn default_tag_only_without_tag_or_digest() {
        let d = format!("sha256:{HEX}");
        assert_eq!(Reference::parse_named("busybox").unwrap().tag(), None);
        assert_eq!(Reference::parse("busybox").unwrap().tag(), Some("latest"));
        assert_eq!(
            Reference::parse(&format!("busybox@{d}")).unwrap().tag(),
            None
        );
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("localhost:5000/a/b:v1").unwrap();
        assert_eq!(r.with_tag("v2").to_string(), "localhost:5000/a/b:v2");
        assert!(r.try_with_tag("bad tag").is_err());
        assert_eq!(r.try_with_tag("v3").unwrap().tag(), Some("v3"));
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(
            r.with_digest(d.clone()).to_string(),
            format!("localhost:5000/a/b:v1@{d}")
        );
        assert!(is_valid_tag("v1.0_rc-1"));
        assert!(!is_valid_tag(".v1"));
    }

    #[test]
    fn serde_as_string_and_from_str() {
        let r: Reference = "busybox:1".parse().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#""docker.io/library/busybox:1""#);
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        let err = serde_json::from_str::<Reference>(r#""Bad""#).unwrap_err();
        assert!(err.to_string().contains("must be lowercase"), "{err}");
    }

    #[test]
    fn digest_serde_as_string() {
        let d = Digest::sha256_of(b"");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{HEX}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let err = serde_json::from_str::<Digest>(r#""sha256:abc""#).unwrap_err();
        assert!(err.to_string().contains("expected 64"), "{err}");
    }
}
