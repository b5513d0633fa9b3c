//! Validation of repository names, tags and digests with the distribution spec's grammars.

use berth_oci::Digest;

/// Whether `name` matches
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` (at most 255 bytes).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    if b.is_empty() || b.len() > 128 {
        return false;
    }
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    word(b[0]) && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag such as `latest`.
    Tag(String),
    /// A content digest.
    Digest(Digest),
}

/// Parses a manifest reference: anything with a `:` must be a digest, otherwise a tag.
pub fn parse_reference(r: &str) -> Option<Reference> {
    if r.contains(':') {
        r.parse().ok().map(Reference::Digest)
    } else if valid_tag(r) {
        Some(Reference::Tag(r.to_string()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a._b", "a b", "a:b", "_a",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("_v1.0-rc"));
        assert!(valid_tag(&"a".repeat(128)));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag(".a"));
        assert!(!valid_tag("-a"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(""));
    }

    #[test]
    fn references() {
        assert_eq!(parse_reference("v1"), Some(Reference::Tag("v1".into())));
        assert!(matches!(
            parse_reference(&format!("sha256:{}", "a".repeat(64))),
            Some(Reference::Digest(_))
        ));
        assert_eq!(parse_reference("sha256:zz"), None);
        assert_eq!(parse_reference("bad tag"), None);
    }
}
