//! Shared helpers of the integration tests: an in-process server and a small HTTP wrapper.
#![allow(dead_code)]

use berth_oci::Digest;
use berth_registry::{ServeOptions, Server};
use std::io::Read;
use std::path::PathBuf;

/// A server on 127.0.0.1:0 over a temporary root (kept alive by the struct).
pub struct TestServer {
    pub base: String,
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start() -> TestServer {
    start_with(|_| {})
}

pub fn start_with(f: impl FnOnce(&mut ServeOptions)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions {
        addr: "127.0.0.1:0".into(),
        root: dir.path().join("root"),
        ..Default::default()
    };
    f(&mut opts);
    let root = opts.root.clone();
    let addr = Server::bind(opts).unwrap().spawn();
    TestServer {
        base: format!("http://{addr}"),
        root,
        _dir: dir,
    }
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    /// The first error code of a spec error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

fn reduce(r: ureq::Response) -> Resp {
    let status = r.status();
    let headers = r
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = r.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends a request; `headers` as pairs; `body` sent when `Some`.
pub fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut r = agent.request(method, url);
    for (k, v) in headers {
        r = r.set(k, v);
    }
    let res = match body {
        Some(b) => r.send_bytes(b),
        None => r.call(),
    };
    match res {
        Ok(r) => reduce(r),
        Err(ureq::Error::Status(_, r)) => reduce(r),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

pub fn digest(data: &[u8]) -> Digest {
    Digest::sha256_of(data)
}

/// Deterministic test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u32) as u8
                ^ seed
        })
        .collect()
}

/// Monolithic push (POST ?digest=); returns the response.
pub fn push_blob(base: &str, name: &str, blob: &[u8]) -> Resp {
    let d = digest(blob);
    req(
        "POST",
        &format!("{base}/v2/{name}/blobs/uploads/?digest={d}"),
        &[("Content-Type", "application/octet-stream")],
        Some(blob),
    )
}

/// Pushes config + one layer and a manifest tagged `tag`; returns the manifest digest.
pub fn push_image(base: &str, name: &str, tag: &str, seed: u8) -> (Digest, Vec<u8>) {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
    let layer = data(10_000 + seed as usize, seed);
    assert_eq!(push_blob(base, name, config.as_bytes()).status, 201);
    assert_eq!(push_blob(base, name, &layer).status, 201);
    let m = manifest(config.as_bytes(), &[&layer]);
    let r = req(
        "PUT",
        &format!("{base}/v2/{name}/manifests/{tag}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        Some(&m),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    (digest(&m), m)
}

/// An OCI image manifest for a config and layers.
pub fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config).to_string(), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest(l).to_string(), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Whether the content store under `root` holds the blob.
pub fn stored(root: &std::path::Path, d: &Digest) -> bool {
    root.join("blobs/sha256").join(d.hex()).exists()
}
