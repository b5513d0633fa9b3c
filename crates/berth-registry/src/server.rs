//! The HTTP side: accept loop (plain or TLS), authentication, routing and the handlers of the
//! distribution spec's endpoints.

use crate::auth::{AuthResult, Htpasswd};
use crate::body::{self, Body};
use crate::error::{ApiError, Code, RegistryError};
use crate::names::{parse_reference, valid_name, Reference};
use crate::storage::{random_id, Storage};
use crate::ServeOptions;
use berth_content::{ContentError, Writer};
use berth_oci::Digest;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

/// Largest manifest accepted (the spec's suggested 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;
const CHUNK: usize = 1 << 20;
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

type Session = Arc<AsyncMutex<Option<Writer>>>;

/// Shared state of all connections.
pub(crate) struct State {
    pub storage: Storage,
    auth: Option<Htpasswd>,
    sessions: std::sync::Mutex<HashMap<String, Session>>,
}

/// A bound registry server, not yet serving.
pub struct Server {
    rt: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    gc_interval: Option<Duration>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Opens the storage, loads htpasswd and TLS material, and binds the listen address.
    pub fn bind(opts: ServeOptions) -> Result<Server, RegistryError> {
        let storage = Storage::open(&opts.root)?;
        let auth = match &opts.htpasswd {
            Some(p) => Some(Htpasswd::load(p)?),
            None => None,
        };
        let tls = match (&opts.tls_cert, &opts.tls_key) {
            (Some(c), Some(k)) => Some(crate::tls::acceptor(c, k)?),
            (Some(_), None) => {
                return Err(RegistryError::TlsHalf {
                    given: "--tls-cert",
                })
            }
            (None, Some(_)) => return Err(RegistryError::TlsHalf { given: "--tls-key" }),
            (None, None) => None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(RegistryError::Runtime)?;
        let bind_err = |source| RegistryError::Bind {
            addr: opts.addr.clone(),
            source,
        };
        let std_listener = std::net::TcpListener::bind(&opts.addr).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        Ok(Server {
            rt,
            listener,
            addr,
            state: Arc::new(State {
                storage,
                auth,
                sessions: std::sync::Mutex::new(HashMap::new()),
            }),
            tls,
            gc_interval: opts.gc_interval,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends (blocking).
    pub fn run(self) -> Result<(), RegistryError> {
        let Server {
            rt,
            listener,
            addr,
            state,
            tls,
            gc_interval,
        } = self;
        rt.block_on(async move {
            let evict_state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    evict_idle_sessions(&evict_state, Duration::from_secs(600));
                }
            });
            if let Some(every) = gc_interval {
                let root = state.storage.root().to_path_buf();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        let root = root.clone();
                        let _ = tokio::task::spawn_blocking(move || crate::gc::gc(&root)).await;
                    }
                });
            }
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) if is_transient(&e) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(source) => {
                        return Err(RegistryError::Accept {
                            addr: addr.to_string(),
                            source,
                        })
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            if let Ok(s) = acc.accept(stream).await {
                                serve_conn(state, s).await
                            }
                        }
                        None => serve_conn(state, stream).await,
                    }
                });
            }
        })
    }

    /// Serves on a background thread; returns the bound address.
    pub fn spawn(self) -> SocketAddr {
        let addr = self.addr;
        std::thread::spawn(move || self.run());
        addr
    }
}

/// Closes the writers of upload sessions idle for `idle` (their bytes stay in the ingest and a
/// later request resumes them), so that abandoned sessions do not hold descriptors and buffers.
fn evict_idle_sessions(state: &State, idle: Duration) {
    let now = std::time::SystemTime::now();
    let mut map = state.sessions.lock().expect("sessions lock");
    map.retain(|id, session| {
        let age = std::fs::metadata(state.storage.session_path(id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        let stale = !matches!(age, Some(a) if a < idle);
        // A session in use (its lock held) is kept whatever its age.
        !(stale && session.try_lock().is_ok())
    });
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: wait for descriptors to free up
        || e.raw_os_error() == Some(23)
}

async fn serve_conn<S>(state: Arc<State>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
        .await;
}

/// A response builder with the API version header every response carries.
fn resp(status: u16) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
}

fn error_response(e: &ApiError, unauthorized: bool) -> Response<Body> {
    let b = e.body();
    let mut r = resp(e.status())
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, b.len());
    if unauthorized {
        r = r.header("WWW-Authenticate", "Basic realm=\"berth-registry\"");
    }
    r.body(body::full(b)).expect("valid response")
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    if state.auth.is_some() {
        let header = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let st = state.clone();
        let ok = tokio::task::spawn_blocking(move || {
            st.auth.as_ref().map(|a| a.check(header.as_deref()))
        })
        .await
        .ok()
        .flatten();
        if ok != Some(AuthResult::Ok) {
            let e = ApiError::new(Code::Unauthorized, "authentication required");
            return error_response(&e, true);
        }
    }
    match route(state, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e, false),
    }
}

/// Query parameters, percent-decoded.
fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = req.uri().query() {
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(percent_decode(k), percent_decode(v));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::NameInvalid,
            format!("invalid repository name {name:?}"),
        ))
    }
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse()
        .map_err(|e| ApiError::new(Code::DigestInvalid, format!("{e}")))
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let unsupported = || {
        Err(ApiError::new(
            Code::Unsupported,
            format!("{method} {path} is not supported"),
        ))
    };
    if path == "/v2/" || path == "/v2" {
        return Ok(resp(200)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, 2)
            .body(body::full("{}"))
            .expect("valid"));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Err(
            ApiError::new(Code::NameUnknown, format!("no route for {path}")).with_status(404),
        );
    };
    if rest == "_catalog" {
        return match method.clone() {
            Method::GET => catalog(&state, &req),
            _ => unsupported(),
        };
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        check_name(name)?;
        return match method.clone() {
            Method::GET => tags_list(&state, &req, name),
            _ => unsupported(),
        };
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        check_name(name)?;
        let name = name.to_string();
        return match (method.clone(), id.is_empty()) {
            (Method::POST, true) => start_upload(state, req, name).await,
            (Method::PATCH, false) => patch_upload(state, req, name, id.to_string()).await,
            (Method::PUT, false) => put_upload(state, req, name, id.to_string()).await,
            (Method::GET, false) => upload_status(&state, &name, id).await,
            (Method::DELETE, false) => cancel_upload(&state, &name, id).await,
            _ => unsupported(),
        };
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads") {
        check_name(name)?;
        return match method.clone() {
            Method::POST => start_upload(state, req, name.to_string()).await,
            _ => unsupported(),
        };
    }
    if let Some((name, dg)) = rest.rsplit_once("/blobs/") {
        check_name(name)?;
        let d = parse_digest(dg)?;
        return match method.clone() {
            Method::GET => get_blob(state, &req, name, d, true).await,
            Method::HEAD => get_blob(state, &req, name, d, false).await,
            Method::DELETE => delete_blob(&state, name, &d),
            _ => unsupported(),
        };
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        check_name(name)?;
        let reference = parse_reference(r).ok_or_else(|| {
            if r.contains(':') {
                ApiError::new(Code::DigestInvalid, format!("invalid digest {r:?}"))
            } else {
                ApiError::new(Code::TagInvalid, format!("invalid tag {r:?}"))
            }
        })?;
        let name = name.to_string();
        return match method.clone() {
            Method::GET => get_manifest(&state, &name, &reference, true),
            Method::HEAD => get_manifest(&state, &name, &reference, false),
            Method::PUT => put_manifest(state, req, name, reference).await,
            Method::DELETE => delete_manifest(&state, &name, &reference),
            _ => unsupported(),
        };
    }
    if let Some((name, dg)) = rest.rsplit_once("/referrers/") {
        check_name(name)?;
        let d = parse_digest(dg)?;
        return match method.clone() {
            Method::GET => referrers(&state, &req, name, &d),
            _ => unsupported(),
        };
    }
    Err(ApiError::new(Code::NameUnknown, format!("no route for {path}")).with_status(404))
}

// ---------------------------------------------------------------- listings

/// One page of a listing and, when more follow, the `n` and `last` of the next page.
type Page = (Vec<String>, Option<(usize, String)>);

fn paginate(all: Vec<String>, q: &HashMap<String, String>) -> Result<Page, ApiError> {
    let mut items: Vec<String> = match q.get("last") {
        Some(last) if !last.is_empty() => all.into_iter().filter(|t| t > last).collect(),
        _ => all,
    };
    let n = match q.get("n") {
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::new(Code::Unsupported, format!("invalid n={n:?}")).with_status(400)
        })?),
        None => None,
    };
    let mut next = None;
    if let Some(n) = n {
        if items.len() > n {
            items.truncate(n);
            if let Some(l) = items.last() {
                next = Some((n, l.clone()));
            }
        }
    }
    Ok((items, next))
}

fn json_response(v: serde_json::Value, link: Option<String>) -> Response<Body> {
    let b = v.to_string();
    let mut r = resp(200)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, b.len());
    if let Some(l) = link {
        r = r.header("Link", l);
    }
    r.body(body::full(b)).expect("valid")
}

fn tags_list(
    state: &State,
    req: &Request<Incoming>,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let tags = state
        .storage
        .tags(name)
        .ok_or_else(|| ApiError::new(Code::NameUnknown, format!("repository {name} not known")))?;
    let (tags, next) = paginate(tags, &query(req))?;
    let link =
        next.map(|(n, last)| format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\""));
    Ok(json_response(
        serde_json::json!({"name": name, "tags": tags}),
        link,
    ))
}

fn catalog(state: &State, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (repos, next) = paginate(state.storage.catalog(), &query(req))?;
    let link = next.map(|(n, last)| format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\""));
    Ok(json_response(
        serde_json::json!({ "repositories": repos }),
        link,
    ))
}

// ---------------------------------------------------------------- blobs

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes.
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (start, end)
    };
    if start > end || start >= size {
        return None;
    }
    Some((start, end))
}

async fn get_blob(
    state: Arc<State>,
    req: &Request<Incoming>,
    name: &str,
    d: Digest,
    with_body: bool,
) -> Result<Response<Body>, ApiError> {
    let unknown = || ApiError::new(Code::BlobUnknown, format!("blob {d} unknown to {name}"));
    if !state.storage.blob_linked(name, &d) {
        return Err(unknown());
    }
    let stored = state.storage.resolve(&d).ok_or_else(unknown)?;
    let size = state
        .storage
        .content
        .info(&stored)
        .map_err(|_| unknown())?
        .size;
    let range = match req.headers().get(hyper::header::RANGE) {
        Some(h) => {
            let r = h.to_str().ok().and_then(|h| parse_range(h, size));
            match r {
                Some(r) => Some(r),
                None => {
                    return Ok(resp(416)
                        .header("Content-Range", format!("bytes */{size}"))
                        .header(CONTENT_TYPE, "application/json")
                        .body(body::full(
                            ApiError::new(Code::RangeInvalid, "range not satisfiable").body(),
                        ))
                        .expect("valid"))
                }
            }
        }
        None => None,
    };
    let (start, len, status) = match range {
        Some((a, b)) => (a, b - a + 1, 206),
        None => (0, size, 200),
    };
    let mut r = resp(status)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .header("Docker-Content-Digest", d.to_string())
        .header("Accept-Ranges", "bytes")
        .header("ETag", format!("\"{d}\""));
    if status == 206 {
        r = r.header(
            "Content-Range",
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if !with_body || len == 0 {
        return Ok(r.body(body::empty()).expect("valid"));
    }
    let mut file = state.storage.content.read(&stored).map_err(|_| unknown())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        if start > 0 {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        let mut left = len;
        while left > 0 {
            // read_to_end fills spare capacity without zeroing it first.
            let want = (CHUNK as u64).min(left);
            let mut buf = Vec::with_capacity(want as usize);
            match (&mut file).take(want).read_to_end(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::ErrorKind::UnexpectedEof.into()));
                    return;
                }
                Ok(n) => {
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Ok(r.body(body::channel(rx, len)).expect("valid"))
}

fn delete_blob(state: &State, name: &str, d: &Digest) -> Result<Response<Body>, ApiError> {
    match state.storage.unlink_blob(name, d) {
        Ok(true) => Ok(resp(202)
            .header(CONTENT_LENGTH, 0)
            .body(body::empty())
            .expect("valid")),
        Ok(false) => Err(ApiError::new(
            Code::BlobUnknown,
            format!("blob {d} unknown to {name}"),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

// ---------------------------------------------------------------- uploads

fn ingest_ref(id: &str) -> String {
    format!("registry-upload-{id}")
}

fn blob_created(name: &str, d: &Digest) -> Response<Body> {
    resp(201)
        .header("Location", format!("/v2/{name}/blobs/{d}"))
        .header("Docker-Content-Digest", d.to_string())
        .header(CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid")
}

fn upload_accepted(status: u16, name: &str, id: &str, offset: u64) -> Response<Body> {
    resp(status)
        .header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
        .header("Range", format!("0-{}", offset.saturating_sub(1)))
        .header("Docker-Upload-UUID", id)
        .header(CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid")
}

fn content_error(e: ContentError, d: Option<&Digest>) -> ApiError {
    match e {
        ContentError::DigestMismatch { .. }
        | ContentError::SizeMismatch { .. }
        | ContentError::ExpectedConflict { .. }
        | ContentError::UnsupportedAlgorithm { .. } => ApiError::new(
            Code::DigestInvalid,
            match d {
                Some(d) => format!("upload does not match digest {d}: {e}"),
                None => e.to_string(),
            },
        ),
        other => ApiError::internal(other),
    }
}

/// Streams a request body into `w` on a blocking thread; returns the writer and the outcome.
async fn stream_into(mut body: Incoming, w: Writer) -> (Writer, Result<(), ApiError>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let mut w = w;
        let mut err = None;
        while let Some(chunk) = rx.blocking_recv() {
            if err.is_none() {
                if let Err(e) = w.write_all(&chunk) {
                    err = Some(e);
                }
            }
        }
        if err.is_none() {
            if let Err(e) = w.flush() {
                err = Some(e);
            }
        }
        (w, err)
    });
    let mut body_err = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    if tx.send(data).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                body_err = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let (w, err) = writer.await.expect("writer thread");
    let res = match (body_err, err) {
        (_, Some(e)) => Err(ApiError::internal(format!("writing upload: {e}"))),
        (Some(e), None) => Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("reading request body: {e}"),
        )),
        (None, None) => Ok(()),
    };
    (w, res)
}

/// Commits `w` against `d` and links the blob into `name`, under the shared GC lock.
async fn commit_and_link(
    state: &Arc<State>,
    w: Writer,
    name: &str,
    d: Digest,
) -> Result<(), ApiError> {
    let st = state.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let _lock = st.storage.gc_lock(false).map_err(ApiError::internal)?;
        let size = w.offset();
        let reference = w.reference().to_string();
        if d.algorithm() != "sha256" {
            return commit_other_algorithm(&st, w, &name, &d);
        }
        match w.commit_expecting(d.clone(), size) {
            Ok(_) => {}
            Err(e) => {
                // Nothing of a failed upload stays behind.
                let _ = st.storage.content.abort(&reference);
                return Err(content_error(e, Some(&d)));
            }
        }
        st.storage
            .link_blob(&name, &d)
            .map_err(|e| ApiError::internal(format!("linking {d} into {name}: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Commits an upload announced under a non-sha256 digest (sha512): the content store keeps it
/// under its sha256; the bytes are re-read to check the announced digest before the alias and the
/// link are written (nothing new stays stored on a mismatch).
fn commit_other_algorithm(st: &State, w: Writer, name: &str, d: &Digest) -> Result<(), ApiError> {
    let reference = w.reference().to_string();
    let existed = st.storage.content.exists(&w.digest()).unwrap_or(false);
    let stored = w.commit().map_err(|e| {
        let _ = st.storage.content.abort(&reference);
        content_error(e, Some(d))
    })?;
    let actual = other_digest_of(st, &stored, d.algorithm()).map_err(ApiError::internal)?;
    if actual.as_deref() != Some(d.hex()) {
        if !existed {
            let _ = st.storage.content.delete(&stored);
        }
        return Err(ApiError::new(
            Code::DigestInvalid,
            format!("upload does not match digest {d}"),
        ));
    }
    st.storage
        .set_alias(d, &stored)
        .and_then(|_| st.storage.link_blob(name, d))
        .map_err(|e| ApiError::internal(format!("linking {d} into {name}: {e}")))
}

/// The hex digest of a stored blob under `algorithm` (`None` if the algorithm is unknown).
fn other_digest_of(
    st: &State,
    stored: &Digest,
    algorithm: &str,
) -> std::io::Result<Option<String>> {
    use sha2::Digest as _;
    if algorithm != "sha512" {
        return Ok(None);
    }
    let mut f = st
        .storage
        .content
        .read(stored)
        .map_err(std::io::Error::other)?;
    let mut h = sha2::Sha512::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Some(berth_oci::digest::hex_lower(&h.finalize())))
}

async fn open_writer(state: &Arc<State>, reference: String) -> Result<Writer, ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.storage.content.writer(&reference, None))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

async fn start_upload(
    state: Arc<State>,
    req: Request<Incoming>,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req);
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        if let (Ok(d), true) = (mount.parse::<Digest>(), valid_name(from)) {
            if state.storage.blob_linked(from, &d) {
                let st = state.clone();
                let n = name.clone();
                let d2 = d.clone();
                let linked = tokio::task::spawn_blocking(move || {
                    let _lock = st.storage.gc_lock(false).ok()?;
                    if !st.storage.content_exists(&d2) {
                        return None;
                    }
                    st.storage.link_blob(&n, &d2).ok()
                })
                .await
                .ok()
                .flatten();
                if linked.is_some() {
                    return Ok(blob_created(&name, &d));
                }
            }
        }
    }
    if let Some(dg) = q.get("digest") {
        let d = parse_digest(dg)?;
        let w = open_writer(&state, format!("registry-post-{}", random_id())).await?;
        let reference = w.reference().to_string();
        let (w, res) = stream_into(req.into_body(), w).await;
        if let Err(e) = res {
            drop(w);
            let _ = state.storage.content.abort(&reference);
            return Err(e);
        }
        commit_and_link(&state, w, &name, d.clone()).await?;
        return Ok(blob_created(&name, &d));
    }
    let id = random_id();
    state
        .storage
        .write_file(&state.storage.session_path(&id), name.as_bytes())
        .map_err(ApiError::internal)?;
    Ok(upload_accepted(202, &name, &id, 0))
}

/// Finds the session `id` of repository `name` (also one started before a restart).
fn session(state: &State, name: &str, id: &str) -> Result<Session, ApiError> {
    let unknown = || ApiError::new(Code::BlobUploadUnknown, format!("upload {id} unknown"));
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    match std::fs::read_to_string(state.storage.session_path(id)) {
        Ok(owner) if owner == name => {}
        _ => return Err(unknown()),
    }
    let mut map = state.sessions.lock().expect("sessions lock");
    Ok(map
        .entry(id.to_string())
        .or_insert_with(|| Arc::new(AsyncMutex::new(None)))
        .clone())
}

fn end_session(state: &State, id: &str) {
    state.sessions.lock().expect("sessions lock").remove(id);
    let _ = std::fs::remove_file(state.storage.session_path(id));
}

async fn take_writer(
    state: &Arc<State>,
    slot: &mut Option<Writer>,
    id: &str,
) -> Result<Writer, ApiError> {
    match slot.take() {
        Some(w) => Ok(w),
        None => open_writer(state, ingest_ref(id)).await,
    }
}

/// Checks a `Content-Range: a-b` header against the session's offset.
fn check_content_range(
    req: &Request<Incoming>,
    offset: u64,
    name: &str,
    id: &str,
) -> Result<(), ApiError> {
    let Some(h) = req.headers().get(hyper::header::CONTENT_RANGE) else {
        return Ok(());
    };
    let s = h.to_str().unwrap_or("");
    let s = s
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches(['=', ' ']);
    let parsed = s.split('/').next().and_then(|r| {
        let (a, b) = r.split_once('-')?;
        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
    });
    let bad = || {
        ApiError::new(
            Code::RangeInvalid,
            format!("Content-Range {s:?} does not continue upload {id} of {name} at {offset}"),
        )
    };
    match parsed {
        Some((a, b)) if a == offset && b >= a => {
            if let Some(len) = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            {
                if len != b - a + 1 {
                    return Err(bad());
                }
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}

fn touch_session(state: &State, id: &str) {
    if let Ok(f) = std::fs::File::open(state.storage.session_path(id)) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

async fn patch_upload(
    state: Arc<State>,
    req: Request<Incoming>,
    name: String,
    id: String,
) -> Result<Response<Body>, ApiError> {
    let s = session(&state, &name, &id)?;
    let mut slot = s.lock().await;
    let w = take_writer(&state, &mut slot, &id).await?;
    if let Err(e) = check_content_range(&req, w.offset(), &name, &id) {
        let offset = w.offset();
        *slot = Some(w);
        return Ok(resp(416)
            .header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
            .header("Range", format!("0-{}", offset.saturating_sub(1)))
            .header(CONTENT_TYPE, "application/json")
            .body(body::full(e.body()))
            .expect("valid"));
    }
    touch_session(&state, &id);
    let (w, res) = stream_into(req.into_body(), w).await;
    let offset = w.offset();
    *slot = Some(w);
    res?;
    Ok(upload_accepted(202, &name, &id, offset))
}

async fn put_upload(
    state: Arc<State>,
    req: Request<Incoming>,
    name: String,
    id: String,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req);
    let d = match q.get("digest").map(|d| parse_digest(d)) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(ApiError::new(
                Code::DigestInvalid,
                "PUT of an upload needs ?digest=",
            ))
        }
    };
    let s = session(&state, &name, &id)?;
    let mut slot = s.lock().await;
    let w = take_writer(&state, &mut slot, &id).await?;
    if let Err(e) = check_content_range(&req, w.offset(), &name, &id) {
        *slot = Some(w);
        return Err(e);
    }
    let (w, res) = stream_into(req.into_body(), w).await;
    if let Err(e) = res {
        *slot = Some(w);
        return Err(e);
    }
    let result = commit_and_link(&state, w, &name, d.clone()).await;
    end_session(&state, &id);
    result?;
    Ok(blob_created(&name, &d))
}

async fn upload_status(
    state: &Arc<State>,
    name: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let s = session(state, name, id)?;
    let mut slot = s.lock().await;
    let w = take_writer(state, &mut slot, id).await?;
    let offset = w.offset();
    *slot = Some(w);
    Ok(upload_accepted(204, name, id, offset))
}

async fn cancel_upload(
    state: &Arc<State>,
    name: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let s = session(state, name, id)?;
    let mut slot = s.lock().await;
    drop(slot.take());
    let _ = state.storage.content.abort(&ingest_ref(id));
    end_session(state, id);
    Ok(resp(204)
        .header(CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid"))
}

// ---------------------------------------------------------------- manifests

fn resolve(state: &State, name: &str, r: &Reference) -> Result<(Digest, String), ApiError> {
    let unknown = || {
        ApiError::new(
            Code::ManifestUnknown,
            format!("manifest {r:?} unknown to {name}"),
        )
    };
    let d = match r {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(t) => state.storage.tag(name, t).ok_or_else(unknown)?,
    };
    let mt = state
        .storage
        .manifest_media_type(name, &d)
        .ok_or_else(unknown)?;
    Ok((d, mt))
}

fn get_manifest(
    state: &State,
    name: &str,
    r: &Reference,
    with_body: bool,
) -> Result<Response<Body>, ApiError> {
    let (d, mt) = resolve(state, name, r)?;
    let read = || -> std::io::Result<Vec<u8>> {
        let stored = state
            .storage
            .resolve(&d)
            .ok_or_else(|| std::io::Error::other(format!("{d} has no stored content")))?;
        let mut f = state
            .storage
            .content
            .read(&stored)
            .map_err(std::io::Error::other)?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)?;
        Ok(v)
    };
    let data = read().map_err(ApiError::internal)?;
    let r = resp(200)
        .header(CONTENT_TYPE, mt)
        .header(CONTENT_LENGTH, data.len())
        .header("Docker-Content-Digest", d.to_string())
        .header("ETag", format!("\"{d}\""));
    Ok(if with_body {
        r.body(body::full(data)).expect("valid")
    } else {
        r.body(body::empty()).expect("valid")
    })
}

/// Digests a manifest references that must already be in the repository.
struct Refs {
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    subject: Option<Digest>,
}

fn descriptor_digest(v: &serde_json::Value) -> Result<Option<Digest>, ApiError> {
    if v.get("urls")
        .and_then(|u| u.as_array())
        .is_some_and(|u| !u.is_empty())
    {
        return Ok(None); // foreign layer: fetched from its URLs, not from us
    }
    let d = v
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| ApiError::new(Code::ManifestInvalid, "descriptor without a digest"))?;
    d.parse()
        .map(Some)
        .map_err(|e| ApiError::new(Code::ManifestInvalid, format!("descriptor digest: {e}")))
}

fn manifest_refs(v: &serde_json::Value) -> Result<Refs, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::new(Code::ManifestInvalid, "manifest is not a JSON object"))?;
    let mut refs = Refs {
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: None,
    };
    if let Some(ms) = obj.get("manifests") {
        let ms = ms
            .as_array()
            .ok_or_else(|| ApiError::new(Code::ManifestInvalid, "manifests is not an array"))?;
        for m in ms {
            refs.manifests.extend(descriptor_digest(m)?);
        }
    } else {
        if let Some(c) = obj.get("config") {
            refs.blobs.extend(descriptor_digest(c)?);
        }
        if let Some(ls) = obj.get("layers") {
            let ls = ls
                .as_array()
                .ok_or_else(|| ApiError::new(Code::ManifestInvalid, "layers is not an array"))?;
            for l in ls {
                refs.blobs.extend(descriptor_digest(l)?);
            }
        }
    }
    if let Some(s) = obj.get("subject") {
        refs.subject = descriptor_digest(s)?;
    }
    Ok(refs)
}

async fn read_limited(req: Request<Incoming>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_big = || {
        ApiError::new(
            Code::SizeInvalid,
            format!("manifest larger than {limit} bytes"),
        )
        .with_status(413)
    };
    // An oversized body is still read (and dropped, up to 16x the limit) so that the client
    // gets the error response instead of a broken pipe.
    let mut body = req.into_body();
    let mut out = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let f = frame
            .map_err(|e| ApiError::new(Code::ManifestInvalid, format!("reading manifest: {e}")))?;
        if let Ok(d) = f.into_data() {
            seen += d.len();
            if seen > limit {
                out = Vec::new();
                if seen > 16 * limit {
                    break;
                }
                continue;
            }
            out.extend_from_slice(&d);
        }
    }
    if seen > limit {
        return Err(too_big());
    }
    Ok(out)
}

async fn put_manifest(
    state: Arc<State>,
    req: Request<Incoming>,
    name: String,
    reference: Reference,
) -> Result<Response<Body>, ApiError> {
    let header_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
    let data = read_limited(req, MAX_MANIFEST).await?;
    let v: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| ApiError::new(Code::ManifestInvalid, format!("manifest JSON: {e}")))?;
    let media_type = match header_type.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::new(Code::ManifestInvalid, "no Content-Type and no mediaType")
            })?,
    };
    let stored = Digest::sha256_of(&data);
    let d = match &reference {
        Reference::Digest(want) => {
            let actual = match want.algorithm() {
                "sha256" => stored.clone(),
                "sha512" => {
                    use sha2::Digest as _;
                    let hex = berth_oci::digest::hex_lower(&sha2::Sha512::digest(&data));
                    format!("sha512:{hex}")
                        .parse()
                        .map_err(ApiError::internal)?
                }
                other => {
                    return Err(ApiError::new(
                        Code::DigestInvalid,
                        format!("unsupported digest algorithm {other}"),
                    ))
                }
            };
            if &actual != want {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("manifest digest is {actual}, not {want}"),
                ));
            }
            actual
        }
        Reference::Tag(_) => stored.clone(),
    };
    let refs = manifest_refs(&v)?;
    for b in &refs.blobs {
        if !state.storage.blob_linked(&name, b) {
            return Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("blob {b} referenced by the manifest is not in {name}"),
            ));
        }
    }
    for m in &refs.manifests {
        if state.storage.manifest_media_type(&name, m).is_none() {
            return Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("manifest {m} referenced by the index is not in {name}"),
            ));
        }
    }
    let descriptor = refs.subject.as_ref().map(|_| {
        let mut desc = serde_json::json!({
            "mediaType": media_type,
            "digest": d.to_string(),
            "size": data.len(),
        });
        let artifact_type = v
            .get("artifactType")
            .and_then(|a| a.as_str())
            .or_else(|| v.get("config")?.get("mediaType")?.as_str());
        if let Some(at) = artifact_type {
            desc["artifactType"] = at.into();
        }
        if let Some(a) = v.get("annotations") {
            desc["annotations"] = a.clone();
        }
        desc.to_string()
    });
    let st = state.clone();
    let (n, d2, mt, subject) = (
        name.clone(),
        d.clone(),
        media_type.clone(),
        refs.subject.clone(),
    );
    let tag = match &reference {
        Reference::Tag(t) => Some(t.clone()),
        Reference::Digest(_) => None,
    };
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let _lock = st.storage.gc_lock(false).map_err(ApiError::internal)?;
        if !st.storage.content.exists(&stored).unwrap_or(false) {
            let mut w = st
                .storage
                .content
                .writer(&format!("registry-manifest-{}", random_id()), None)
                .map_err(ApiError::internal)?;
            w.write_all(&data).map_err(ApiError::internal)?;
            w.commit_expecting(stored.clone(), data.len() as u64)
                .map_err(|e| content_error(e, Some(&stored)))?;
        }
        if d2 != stored {
            st.storage
                .set_alias(&d2, &stored)
                .map_err(ApiError::internal)?;
        }
        st.storage
            .link_manifest(&n, &d2, &mt)
            .map_err(ApiError::internal)?;
        if let (Some(s), Some(desc)) = (&subject, &descriptor) {
            st.storage
                .add_referrer(&n, s, &d2, desc.as_bytes())
                .map_err(ApiError::internal)?;
        }
        if let Some(t) = &tag {
            st.storage.set_tag(&n, t, &d2).map_err(ApiError::internal)?;
        }
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    let mut r = resp(201)
        .header("Location", format!("/v2/{name}/manifests/{d}"))
        .header("Docker-Content-Digest", d.to_string())
        .header(CONTENT_LENGTH, 0);
    if let Some(s) = &refs.subject {
        r = r.header("OCI-Subject", s.to_string());
    }
    Ok(r.body(body::empty()).expect("valid"))
}

fn delete_manifest(
    state: &State,
    name: &str,
    reference: &Reference,
) -> Result<Response<Body>, ApiError> {
    let unknown = || {
        ApiError::new(
            Code::ManifestUnknown,
            format!("manifest {reference:?} unknown to {name}"),
        )
    };
    let accepted = || {
        resp(202)
            .header(CONTENT_LENGTH, 0)
            .body(body::empty())
            .expect("valid")
    };
    match reference {
        Reference::Tag(t) => {
            if state
                .storage
                .remove_tag(name, t)
                .map_err(ApiError::internal)?
            {
                Ok(accepted())
            } else {
                Err(unknown())
            }
        }
        Reference::Digest(d) => {
            if state.storage.manifest_media_type(name, d).is_none() {
                return Err(unknown());
            }
            let stored = state.storage.resolve(d);
            if let Some(Ok(mut f)) = stored.map(|s| state.storage.content.read(&s)) {
                let mut data = Vec::new();
                if f.read_to_end(&mut data).is_ok() {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
                        if let Ok(Refs {
                            subject: Some(s), ..
                        }) = manifest_refs(&v)
                        {
                            state.storage.remove_referrer(name, &s, d);
                        }
                    }
                }
            }
            state
                .storage
                .unlink_manifest(name, d)
                .map_err(ApiError::internal)?;
            for t in state.storage.tags(name).unwrap_or_default() {
                if state.storage.tag(name, &t).as_ref() == Some(d) {
                    let _ = state.storage.remove_tag(name, &t);
                }
            }
            Ok(accepted())
        }
    }
}

fn referrers(
    state: &State,
    req: &Request<Incoming>,
    name: &str,
    subject: &Digest,
) -> Result<Response<Body>, ApiError> {
    let q = query(req);
    let mut list = state.storage.referrers(name, subject);
    let filter = q.get("artifactType").filter(|a| !a.is_empty());
    if let Some(at) = filter {
        list.retain(|d| d.get("artifactType").and_then(|a| a.as_str()) == Some(at.as_str()));
    }
    let b = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": list,
    })
    .to_string();
    let mut r = resp(200)
        .header(CONTENT_TYPE, OCI_INDEX)
        .header(CONTENT_LENGTH, b.len());
    if filter.is_some() {
        r = r.header(
            "OCI-Filters-Applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r.body(body::full(b)).expect("valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-1", 100), None);
        assert_eq!(parse_range("bytes=a-b", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
    }

    #[test]
    fn decode() {
        assert_eq!(percent_decode("sha256%3Aab"), "sha256:ab");
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn refs_of_manifests() {
        let v = serde_json::json!({
            "config": {"digest": format!("sha256:{}", "a".repeat(64))},
            "layers": [{"digest": format!("sha256:{}", "b".repeat(64))},
                       {"digest": "sha256:zz", "urls": ["http://x"]}],
            "subject": {"digest": format!("sha256:{}", "c".repeat(64))},
        });
        let r = manifest_refs(&v).unwrap();
        assert_eq!(r.blobs.len(), 2);
        assert!(r.subject.is_some());
        assert!(manifest_refs(&serde_json::json!([])).is_err());
        let bad = serde_json::json!({"layers": [{"digest": "nope"}]});
        assert!(manifest_refs(&bad).is_err());
    }
}
