//! One registry endpoint: the HTTP agent (TLS with custom CAs, or plain http where allowed),
//! authentication (anonymous, basic, bearer tokens cached per scope), retries with backoff,
//! and the distribution API calls the client needs (manifests, blobs, uploads, tags).

use crate::auth::{parse_challenge, Challenge};
use crate::credentials::{self, Credential};
use crate::error::{DistError, Result};
use crate::settings::Settings;
use base64::Engine as _;
use berth_oci::media_types;
use berth_oci::Digest;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest manifest or config accepted (the distribution spec's limit for manifests).
pub const MAX_DOCUMENT: u64 = 4 << 20;
/// Attempts of an idempotent request before giving up.
const ATTEMPTS: u32 = 5;

/// The `Accept` header of manifest requests: OCI and Docker schema 2, images and indexes.
pub fn manifest_accept() -> String {
    [
        media_types::OCI_MANIFEST,
        media_types::OCI_INDEX,
        media_types::DOCKER_MANIFEST,
        media_types::DOCKER_MANIFEST_LIST,
    ]
    .join(", ")
}

/// A request body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (requests with it can be retried).
    Bytes(&'a [u8], &'a str),
    /// A stream of known length (sent once: no retry).
    Reader(Box<dyn Read + Send + 'a>, u64),
}

#[derive(Default)]
struct AuthState {
    basic: bool,
    challenge: Option<Challenge>,
    tokens: HashMap<String, String>,
}

struct Inner {
    host: String,
    base: String,
    agent: ureq::Agent,
    cred: Option<Credential>,
    auth: Mutex<AuthState>,
}

/// A registry endpoint with its credentials; cheap to clone (shared state).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.inner.host)
            .field("base", &self.inner.base)
            .finish()
    }
}

/// What the registry said in an error response (`{"errors":[{"code","message"}]}`).
pub(crate) fn error_of(resp: ureq::Response) -> (u16, String, String) {
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let first = &v["errors"][0];
    let code = first["code"].as_str().unwrap_or("").to_string();
    let mut message = first["message"].as_str().unwrap_or("").to_string();
    if message.is_empty() {
        message = text
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string();
    }
    (status, code, message)
}

fn tls_config(settings: &Settings, host: &str) -> Result<Option<Arc<rustls::ClientConfig>>> {
    let files = settings.ca_files(host);
    if files.is_empty() {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ];
    let mut all: Vec<std::path::PathBuf> = system.iter().map(Into::into).collect();
    all.extend(files.iter().cloned());
    for path in &all {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        let certs = rustls_pemfile::certs(&mut &data[..])
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| DistError::Config {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DistError::Config {
            path: files[0].display().to_string(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

fn agent(tls: Option<Arc<rustls::ClientConfig>>) -> ureq::Agent {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .max_idle_connections_per_host(16)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = tls {
        b = b.tls_config(t);
    }
    b.build()
}

impl Registry {
    /// The registry of reference domain `host` with the credentials stored for it.
    pub fn new(settings: &Settings, host: &str) -> Result<Registry> {
        let cred = credentials::get(&settings.docker_config, host)?;
        Registry::with_credential(settings, host, cred)
    }

    /// The registry of `host` with explicit credentials.
    pub fn with_credential(
        settings: &Settings,
        host: &str,
        cred: Option<Credential>,
    ) -> Result<Registry> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let agent = agent(tls_config(settings, api_host)?);
        let mut base = format!("https://{api_host}");
        if settings.is_insecure(host) {
            // Like docker: https first, plain http when https cannot be spoken.
            let probe = agent
                .get(&format!("{base}/v2/"))
                .timeout(Duration::from_secs(5))
                .call();
            if let Err(ureq::Error::Transport(_)) = probe {
                base = format!("http://{api_host}");
            }
        }
        Ok(Registry::at(host, base, agent, cred))
    }

    fn at(host: &str, base: String, agent: ureq::Agent, cred: Option<Credential>) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                host: host.to_string(),
                base,
                agent,
                cred,
                auth: Mutex::new(AuthState::default()),
            }),
        }
    }

    /// The endpoints to pull from for `host`: mirrors first (docker.io only), then the registry.
    pub fn endpoints(settings: &Settings, host: &str) -> Result<Vec<Registry>> {
        let mut out = Vec::new();
        if host == "docker.io" {
            for m in &settings.mirrors {
                let base = m.trim_end_matches('/').to_string();
                let mhost = base
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .to_string();
                let cred = credentials::get(&settings.docker_config, &mhost)?;
                out.push(Registry::at(
                    &mhost,
                    base,
                    agent(tls_config(settings, &mhost)?),
                    cred,
                ));
            }
        }
        out.push(Registry::new(settings, host)?);
        Ok(out)
    }

    /// The reference domain this registry serves.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The base URL (`https://host`).
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// An absolute URL for `path_or_url` (a `Location` header may be relative).
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.inner.base, path_or_url)
        }
    }

    fn auth_header(&self, scopes: &[String]) -> Option<String> {
        let st = self.inner.auth.lock().expect("not poisoned");
        if let Some(tok) = st.tokens.get(&scopes.join(" ")) {
            return Some(format!("Bearer {tok}"));
        }
        if st.basic {
            if let Some(Credential::Basic { username, password }) = &self.inner.cred {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                return Some(format!("Basic {b}"));
            }
        }
        None
    }

    /// Sends a request, authenticating on a 401 and retrying transient failures. Returns the
    /// response whatever its status, except a 401 that credentials could not answer.
    pub fn call(
        &self,
        method: &str,
        url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        mut body: Body<'_>,
    ) -> Result<ureq::Response> {
        let url = self.url(url);
        let mut authed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.inner.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.auth_header(scopes) {
                req = req.set("Authorization", &a);
            }
            let retryable = !matches!(body, Body::Reader(..));
            let result = match std::mem::replace(&mut body, Body::Empty) {
                Body::Empty => {
                    if method == "PUT" || method == "POST" || method == "PATCH" {
                        req.set("Content-Length", "0").send_bytes(&[])
                    } else {
                        req.call()
                    }
                }
                Body::Bytes(b, ct) => {
                    body = Body::Bytes(b, ct);
                    req.set("Content-Type", ct).send_bytes(b)
                }
                Body::Reader(r, len) => req.set("Content-Length", &len.to_string()).send(r),
            };
            let resp = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    if retryable && attempt < ATTEMPTS && !unreachable(&t) {
                        backoff(attempt);
                        continue;
                    }
                    return Err(DistError::Transport {
                        url,
                        message: transport_message(&t),
                    });
                }
            };
            let status = resp.status();
            if status == 401 && !authed && retryable {
                authed = true;
                let challenge = resp
                    .header("WWW-Authenticate")
                    .and_then(parse_challenge)
                    .ok_or_else(|| DistError::Unauthorized {
                        registry: self.inner.host.clone(),
                        message: "401 without a usable WWW-Authenticate challenge".into(),
                    })?;
                self.authenticate(&challenge, scopes)?;
                continue;
            }
            if status == 401 {
                let (_, _, message) = error_of(resp);
                return Err(DistError::Unauthorized {
                    registry: self.inner.host.clone(),
                    message: if message.is_empty() {
                        "authentication required".into()
                    } else {
                        message
                    },
                });
            }
            if retryable
                && matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
                && attempt < ATTEMPTS
            {
                backoff(attempt);
                continue;
            }
            return Ok(resp);
        }
    }

    /// Answers `challenge`: marks basic auth on, or fetches a token for `scopes`.
    fn authenticate(&self, challenge: &Challenge, scopes: &[String]) -> Result<()> {
        match challenge {
            Challenge::Basic => {
                if self.inner.cred.is_none() {
                    return Err(DistError::Unauthorized {
                        registry: self.inner.host.clone(),
                        message: "authentication required (no credentials stored: berth login)"
                            .into(),
                    });
                }
                let mut st = self.inner.auth.lock().expect("not poisoned");
                st.basic = true;
                st.challenge = Some(challenge.clone());
                Ok(())
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut wanted: Vec<String> = scopes.to_vec();
                if wanted.is_empty() {
                    wanted.extend(scope.clone());
                }
                let token = self.fetch_token(realm, service.as_deref(), &wanted)?;
                let mut st = self.inner.auth.lock().expect("not poisoned");
                st.challenge = Some(challenge.clone());
                st.tokens.insert(scopes.join(" "), token);
                Ok(())
            }
        }
    }

    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let unauthorized = |message: String| DistError::Unauthorized {
            registry: self.inner.host.clone(),
            message,
        };
        let result = match &self.inner.cred {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", "berth"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let joined = scopes.join(" ");
                if !scopes.is_empty() {
                    form.push(("scope", &joined));
                }
                self.inner.agent.post(realm).send_form(&form)
            }
            other => {
                let mut req = self.inner.agent.get(realm);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                for s in scopes {
                    req = req.query("scope", s);
                }
                if let Some(Credential::Basic { username, password }) = other {
                    let b = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    req = req.set("Authorization", &format!("Basic {b}"));
                }
                req.call()
            }
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, r)) => {
                let (_, _, m) = error_of(r);
                return Err(unauthorized(format!(
                    "incorrect username or password ({m})"
                )));
            }
            Err(ureq::Error::Status(_, r)) => {
                let (s, _, m) = error_of(r);
                return Err(unauthorized(format!("token endpoint {realm}: {s} {m}")));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(DistError::Transport {
                    url: realm.into(),
                    message: transport_message(&t),
                })
            }
        };
        let v: serde_json::Value = resp
            .into_json()
            .map_err(|e| unauthorized(format!("token endpoint {realm}: {e}")))?;
        v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .map(String::from)
            .ok_or_else(|| unauthorized(format!("token endpoint {realm} returned no token")))
    }

    /// `GET /v2/` with the credentials: succeeds when they are accepted.
    pub fn check_login(&self) -> Result<()> {
        let resp = self.call("GET", "/v2/", &[], &[], Body::Empty)?;
        match resp.status() {
            200..=299 => Ok(()),
            s => {
                let (_, code, message) = error_of(resp);
                Err(DistError::Status {
                    url: self.url("/v2/"),
                    status: s,
                    code,
                    message,
                })
            }
        }
    }

    /// Fetches a manifest or index by tag or digest: `(bytes, media type, digest)`. The digest
    /// is computed from the bytes (and checked when `reference` is a digest).
    pub fn get_manifest(
        &self,
        path: &str,
        reference: &str,
        scopes: &[String],
        display: &str,
    ) -> Result<(Vec<u8>, String, Digest)> {
        let url = format!("/v2/{path}/manifests/{reference}");
        let accept = manifest_accept();
        let resp = self.call("GET", &url, scopes, &[("Accept", &accept)], Body::Empty)?;
        match resp.status() {
            200 => {}
            404 => {
                let (_, code, message) = error_of(resp);
                if code == "NAME_UNKNOWN" {
                    return Err(DistError::Denied {
                        repository: display.into(),
                        message,
                    });
                }
                return Err(DistError::ManifestUnknown {
                    reference: display.into(),
                    message,
                });
            }
            403 => {
                let (_, _, message) = error_of(resp);
                return Err(DistError::Denied {
                    repository: display.into(),
                    message,
                });
            }
            s => {
                let (_, code, message) = error_of(resp);
                return Err(DistError::Status {
                    url: self.url(&url),
                    status: s,
                    code,
                    message,
                });
            }
        }
        let media_type = resp
            .header("Content-Type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| DistError::Transport {
                url: self.url(&url),
                message: e.to_string(),
            })?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(DistError::BadDocument {
                what: format!("manifest {display}"),
                message: format!("larger than {MAX_DOCUMENT} bytes"),
            });
        }
        let digest = Digest::sha256_of(&bytes);
        if let Ok(want) = reference.parse::<Digest>() {
            if want != digest {
                return Err(DistError::DigestMismatch {
                    what: format!("manifest {display}"),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        Ok((bytes, media_type, digest))
    }

    /// Fetches a small blob (a config) whole, checking its digest.
    pub fn get_small_blob(
        &self,
        path: &str,
        digest: &Digest,
        scopes: &[String],
    ) -> Result<Vec<u8>> {
        let mut r = BlobReader::new(
            self.clone(),
            path,
            digest.clone(),
            u64::MAX,
            scopes.to_vec(),
        );
        let mut bytes = Vec::new();
        (&mut r)
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| DistError::Transport {
                url: self.url(&format!("/v2/{path}/blobs/{digest}")),
                message: e.to_string(),
            })?;
        let actual = Digest::sha256_of(&bytes);
        if actual != *digest {
            return Err(DistError::DigestMismatch {
                what: format!("blob {digest} of {path}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// The tags of repository `path`, following `Link` pagination.
    pub fn tags(&self, path: &str, scopes: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut url = format!("/v2/{path}/tags/list");
        loop {
            let resp = self.call("GET", &url, scopes, &[], Body::Empty)?;
            if resp.status() != 200 {
                let (status, code, message) = error_of(resp);
                if status == 404 {
                    return Err(DistError::Denied {
                        repository: path.into(),
                        message,
                    });
                }
                return Err(DistError::Status {
                    url: self.url(&url),
                    status,
                    code,
                    message,
                });
            }
            let link = resp.header("Link").map(String::from);
            let v: serde_json::Value = resp.into_json().map_err(|e| DistError::BadDocument {
                what: format!("tags of {path}"),
                message: e.to_string(),
            })?;
            if let Some(tags) = v["tags"].as_array() {
                out.extend(tags.iter().filter_map(|t| t.as_str().map(String::from)));
            }
            match link.and_then(|l| {
                let start = l.find('<')? + 1;
                let end = l.find('>')?;
                Some(l[start..end].to_string())
            }) {
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(out)
    }
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(200u64 << attempt.min(6)));
}

/// A blob download that resumes with `Range` after a dropped connection or a stall, and
/// retries with backoff; the bytes it yields are the blob from its start.
pub struct BlobReader {
    reg: Registry,
    path: String,
    digest: Digest,
    size: u64,
    scopes: Vec<String>,
    offset: u64,
    inner: Option<Box<dyn Read + Send + Sync>>,
    failures: u32,
}

impl BlobReader {
    /// A reader over blob `digest` of repository `path` (`size`: u64::MAX when unknown).
    pub fn new(reg: Registry, path: &str, digest: Digest, size: u64, scopes: Vec<String>) -> Self {
        BlobReader {
            reg,
            path: path.into(),
            digest,
            size,
            scopes,
            offset: 0,
            inner: None,
            failures: 0,
        }
    }

    /// The same reader, its first byte at `offset` of the blob (a Range request resumes a
    /// download an earlier process left part of).
    pub fn starting_at(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    fn open(&mut self) -> std::io::Result<()> {
        let url = format!("/v2/{}/blobs/{}", self.path, self.digest);
        let range = format!("bytes={}-", self.offset);
        let headers: Vec<(&str, &str)> = if self.offset > 0 {
            vec![("Range", &range)]
        } else {
            vec![]
        };
        let resp = self
            .reg
            .call("GET", &url, &self.scopes, &headers, Body::Empty)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionAborted, e))?;
        match resp.status() {
            206 if self.offset > 0 => {
                self.inner = Some(resp.into_reader());
            }
            200 => {
                let mut r = resp.into_reader();
                if self.offset > 0 {
                    // No range support: skip what we have.
                    std::io::copy(&mut (&mut r).take(self.offset), &mut std::io::sink())?;
                }
                self.inner = Some(r);
            }
            s => {
                let (_, code, message) = error_of(resp);
                return Err(std::io::Error::other(format!(
                    "GET {}: {s} {code} {message}",
                    self.reg.url(&url)
                )));
            }
        }
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.inner.is_none() {
                match self.open() {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Other => return Err(e),
                    Err(e) => {
                        self.failures += 1;
                        if self.failures > ATTEMPTS {
                            return Err(e);
                        }
                        backoff(self.failures);
                        continue;
                    }
                }
            }
            let r = self.inner.as_mut().expect("opened");
            match r.read(buf) {
                Ok(0) if self.size != u64::MAX && self.offset < self.size => {
                    // The connection ended early: resume.
                    self.inner = None;
                    self.failures += 1;
                    if self.failures > ATTEMPTS {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "blob {}: connection closed at {} of {} bytes",
                                self.digest, self.offset, self.size
                            ),
                        ));
                    }
                    backoff(self.failures);
                }
                Ok(n) => {
                    self.offset += n as u64;
                    if n > 0 {
                        self.failures = 0;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.inner = None;
                    self.failures += 1;
                    if self.failures > ATTEMPTS {
                        return Err(e);
                    }
                    backoff(self.failures);
                }
            }
        }
    }
}

/// A registry that cannot be reached at all (no such host, nothing listening): retrying only
/// delays the error, as docker does not either.
fn unreachable(t: &ureq::Transport) -> bool {
    matches!(
        t.kind(),
        ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed
    )
}

/// The transport error without the URL (the error names it already).
fn transport_message(t: &ureq::Transport) -> String {
    let mut m = t.kind().to_string();
    if let Some(detail) = t.message() {
        m.push_str(": ");
        m.push_str(detail);
    }
    if let Some(source) = std::error::Error::source(t) {
        m.push_str(": ");
        m.push_str(&source.to_string());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A registry whose `/v2/` wants a bearer token that `/token` gives for `u:p`.
    fn token_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut buf = vec![0u8; 8192];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let good_basic = base64::engine::general_purpose::STANDARD.encode("u:p");
                let resp = if req.starts_with("GET /token?") {
                    if req.contains(&format!("Basic {good_basic}"))
                        && req.contains("service=test")
                        && req.contains("scope=repository%3Aa%2Fb%3Apull")
                    {
                        "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"token\":\"tok42\"}".to_string()
                    } else {
                        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                    }
                } else if req.contains("Authorization: Bearer tok42") {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                        .to_string()
                } else {
                    format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\",scope=\"repository:a/b:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                };
                let _ = c.write_all(resp.as_bytes());
            }
        });
        port
    }

    fn reg(port: u16, user: &str, pass: &str) -> Registry {
        Registry::at(
            "test",
            format!("http://127.0.0.1:{port}"),
            agent(None),
            Some(Credential::Basic {
                username: user.into(),
                password: pass.into(),
            }),
        )
    }

    #[test]
    fn bearer_token_flow_and_cache() {
        let port = token_server();
        let r = reg(port, "u", "p");
        let scopes = vec![crate::auth::repo_scope("a/b", "pull")];
        let resp = r.call("GET", "/v2/", &scopes, &[], Body::Empty).unwrap();
        assert_eq!(resp.status(), 200);
        // The token is cached for the scope: no second token request needed.
        assert!(r.auth_header(&scopes).unwrap().contains("tok42"));
        let bad = reg(port, "u", "wrong");
        let err = bad
            .call("GET", "/v2/", &scopes, &[], Body::Empty)
            .unwrap_err();
        assert!(matches!(err, DistError::Unauthorized { .. }), "{err}");
    }
}
