//! Credentials as docker keeps them in `config.json`: `auths` (base64 `user:password`, or an
//! `identitytoken`), `credsStore` and `credHelpers` (`docker-credential-<name>` programs taking
//! the server on stdin). `berth login` verifies then stores; `berth logout` erases.

use crate::error::{DistError, Result};
use crate::registry::Registry;
use crate::settings::Settings;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or personal access token).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken { username: String, token: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken { username, .. } => write!(f, "IdentityToken({username})"),
        }
    }
}

/// The key docker uses in `config.json` for `host`.
pub fn config_key(host: &str) -> String {
    if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        host.to_string()
    }
}

fn read_config(path: &Path) -> Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(DistError::Config {
                path: path.display().to_string(),
                message: "not a JSON object".into(),
            }),
            Err(e) => Err(DistError::Config {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(DistError::Io {
            op: "reading",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The helper program configured for `host`, if any.
fn helper_for(cfg: &Map<String, Value>, host: &str) -> Option<String> {
    let key = config_key(host);
    cfg.get("credHelpers")
        .and_then(|h| h.get(host).or_else(|| h.get(&key)))
        .and_then(Value::as_str)
        .or_else(|| cfg.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin; returns stdout.
fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<(bool, Vec<u8>)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DistError::Credentials(format!("running {program} {verb}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DistError::Credentials(format!("waiting for {program} {verb}: {e}")))?;
    let mut text = out.stdout;
    if !out.status.success() {
        text.extend_from_slice(&out.stderr);
    }
    Ok((out.status.success(), text))
}

/// The credentials stored for `host`, if any.
pub fn get(config: &Path, host: &str) -> Result<Option<Credential>> {
    let cfg = read_config(config)?;
    let key = config_key(host);
    if let Some(helper) = helper_for(&cfg, host) {
        let (ok, out) = run_helper(&helper, "get", key.as_bytes())?;
        if !ok {
            // "credentials not found in native keychain" is not an error: anonymous.
            return Ok(None);
        }
        let v: Value = serde_json::from_slice(&out).map_err(|e| {
            DistError::Credentials(format!("docker-credential-{helper} get: bad output: {e}"))
        })?;
        let username = v["Username"].as_str().unwrap_or_default().to_string();
        let secret = v["Secret"].as_str().unwrap_or_default().to_string();
        if secret.is_empty() {
            return Ok(None);
        }
        return Ok(Some(if username == "<token>" {
            Credential::IdentityToken {
                username,
                token: secret,
            }
        } else {
            Credential::Basic {
                username,
                password: secret,
            }
        }));
    }
    let Some(auths) = cfg.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = [
        key.clone(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ]
    .iter()
    .find_map(|k| auths.get(k))
    .cloned();
    let Some(entry) = entry else {
        return Ok(None);
    };
    let (mut username, mut password) = (String::new(), String::new());
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.trim().is_empty())
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| DistError::Credentials(format!("auths[{key:?}].auth: {e}")))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (u, p) = text.split_once(':').ok_or_else(|| {
            DistError::Credentials(format!(
                "auths[{key:?}].auth is not base64 of user:password"
            ))
        })?;
        username = u.to_string();
        password = p.to_string();
    }
    if let Some(tok) = entry.get("identitytoken").and_then(Value::as_str) {
        if !tok.is_empty() {
            return Ok(Some(Credential::IdentityToken {
                username,
                token: tok.to_string(),
            }));
        }
    }
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential::Basic { username, password }))
}

/// Writes `cfg` to `path` atomically (temp file, 0600, rename).
fn write_config(path: &Path, cfg: &Map<String, Value>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |op| {
        let path = path.display().to_string();
        move |source| DistError::Io { op, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating a temp file for"))?;
    let mut text =
        serde_json::to_vec_pretty(cfg).map_err(|e| DistError::Credentials(e.to_string()))?;
    text.push(b'\n');
    tmp.write_all(&text).map_err(io("writing"))?;
    tmp.as_file().sync_all().map_err(io("syncing"))?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(io("setting the mode of"))?;
    tmp.persist(path).map_err(|e| DistError::Io {
        op: "replacing",
        path: path.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// Stores `cred` for `host`: through the configured helper, else base64 in `auths`.
pub fn store(config: &Path, host: &str, username: &str, password: &str) -> Result<()> {
    let mut cfg = read_config(config)?;
    let key = config_key(host);
    if let Some(helper) = helper_for(&cfg, host) {
        let input = json!({"ServerURL": key, "Username": username, "Secret": password});
        let (ok, out) = run_helper(&helper, "store", input.to_string().as_bytes())?;
        if !ok {
            return Err(DistError::Credentials(format!(
                "docker-credential-{helper} store: {}",
                String::from_utf8_lossy(&out).trim()
            )));
        }
        return Ok(());
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .expect("object")
        .insert(key, json!({ "auth": auth }));
    write_config(config, &cfg)
}

/// Erases the credentials of `host`; returns whether there were any.
pub fn erase(config: &Path, host: &str) -> Result<bool> {
    let mut cfg = read_config(config)?;
    let key = config_key(host);
    if let Some(helper) = helper_for(&cfg, host) {
        let (ok, _) = run_helper(&helper, "erase", key.as_bytes())?;
        return Ok(ok);
    }
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|a| a.remove(&key).is_some() | a.remove(&format!("https://{host}")).is_some())
        .unwrap_or(false);
    if removed {
        write_config(config, &cfg)?;
    }
    Ok(removed)
}

/// The registry host a `login`/`logout` argument names (none: docker.io).
pub fn server_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        s => s.to_string(),
    }
}

/// `berth login`: checks the credentials against the registry's `/v2/`, then stores them.
/// Returns docker's message.
pub fn login(
    settings: &Settings,
    server: Option<&str>,
    username: &str,
    password: &str,
) -> Result<String> {
    let host = server_host(server);
    let cred = Credential::Basic {
        username: username.into(),
        password: password.into(),
    };
    let registry = Registry::with_credential(settings, &host, Some(cred))?;
    registry.check_login()?;
    store(&settings.docker_config, &host, username, password)?;
    Ok("Login Succeeded".into())
}

/// `berth logout`: erases the stored credentials. Returns docker's message.
pub fn logout(settings: &Settings, server: Option<&str>) -> Result<String> {
    let host = server_host(server);
    let key = config_key(&host);
    if erase(&settings.docker_config, &host)? {
        Ok(format!("Removing login credentials for {key}"))
    } else {
        Ok(format!("Not logged in to {key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_get_erase_in_auths() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(&p, r#"{"experimental":"enabled"}"#).unwrap();
        store(&p, "reg:5000", "u", "p:w").unwrap();
        assert_eq!(
            get(&p, "reg:5000").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p:w".into()
            })
        );
        let mode = std::fs::metadata(&p).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("experimental"));
        assert!(erase(&p, "reg:5000").unwrap());
        assert_eq!(get(&p, "reg:5000").unwrap(), None);
        assert!(!erase(&p, "reg:5000").unwrap());
    }

    #[test]
    fn docker_io_key_and_identity_token() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"","identitytoken":"tok"}}}"#,
        )
        .unwrap();
        assert!(matches!(
            get(&p, "docker.io").unwrap(),
            Some(Credential::IdentityToken { .. })
        ));
        assert_eq!(
            server_host(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(server_host(Some("localhost:5000")), "localhost:5000");
    }

    #[test]
    fn helper_program_is_used() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("docker-credential-fake");
        std::fs::write(
            &bin,
            "#!/bin/sh\nread s\necho '{\"ServerURL\":\"'$s'\",\"Username\":\"hu\",\"Secret\":\"hs\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let p = t.path().join("config.json");
        std::fs::write(&p, r#"{"credHelpers":{"reg.example":"fake"}}"#).unwrap();
        let path = format!("{}:{}", t.path().display(), std::env::var("PATH").unwrap());
        // Only this test changes PATH in this test binary.
        std::env::set_var("PATH", path);
        assert_eq!(
            get(&p, "reg.example").unwrap(),
            Some(Credential::Basic {
                username: "hu".into(),
                password: "hs".into()
            })
        );
        assert_eq!(get(&p, "other").unwrap(), None);
    }
}
