//! Basic authentication against an htpasswd file of bcrypt entries.

use crate::error::RegistryError;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

/// Users and their bcrypt hashes, plus a cache of credentials already verified (bcrypt costs
/// tens of milliseconds per check; clients send the header on every request).
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// The outcome of checking an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthResult {
    /// Credentials are valid.
    Ok,
    /// No or wrong credentials.
    Denied,
}

impl Htpasswd {
    /// Reads `user:hash` lines (`#` comments and blank lines ignored); only bcrypt hashes.
    pub fn load(path: &Path) -> Result<Htpasswd, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::HtpasswdRead {
            path: path.into(),
            source,
        })?;
        Htpasswd::parse(&text, path)
    }

    /// Parses the file's text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Htpasswd, RegistryError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| RegistryError::HtpasswdLine {
                path: path.into(),
                line: i + 1,
                reason: reason.into(),
            };
            let (user, hash) = line.split_once(':').ok_or_else(|| err("no ':'"))?;
            if !(hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
                return Err(err("only bcrypt entries are supported (htpasswd -B)"));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an `Authorization: Basic ...` header value (blocking: runs bcrypt).
    pub fn check(&self, header: Option<&str>) -> AuthResult {
        let Some(h) = header else {
            return AuthResult::Denied;
        };
        let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        else {
            return AuthResult::Denied;
        };
        let key: [u8; 32] = Sha256::digest(b64.trim().as_bytes()).into();
        if self
            .verified
            .lock()
            .map(|v| v.contains(&key))
            .unwrap_or(false)
        {
            return AuthResult::Ok;
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return AuthResult::Denied;
        };
        let Ok(text) = String::from_utf8(raw) else {
            return AuthResult::Denied;
        };
        let Some((user, pass)) = text.split_once(':') else {
            return AuthResult::Denied;
        };
        let Some(hash) = self.users.get(user) else {
            return AuthResult::Denied;
        };
        if bcrypt::verify(pass, hash).unwrap_or(false) {
            if let Ok(mut v) = self.verified.lock() {
                v.insert(key);
            }
            AuthResult::Ok
        } else {
            AuthResult::Denied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_entries() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let h = Htpasswd::parse(&format!("# c\nalice:{hash}\n"), Path::new("x")).unwrap();
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(h.check(Some(&enc("alice:secret"))), AuthResult::Ok);
        assert_eq!(h.check(Some(&enc("alice:secret"))), AuthResult::Ok);
        assert_eq!(h.check(Some(&enc("alice:wrong"))), AuthResult::Denied);
        assert_eq!(h.check(Some(&enc("bob:secret"))), AuthResult::Denied);
        assert_eq!(h.check(None), AuthResult::Denied);
        assert!(Htpasswd::parse("a:{SHA}xx", Path::new("x")).is_err());
    }
}
