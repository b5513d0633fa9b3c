//! Faults: a proxy that cuts a blob download (the pull resumes), a registry serving a blob
//! whose digest is wrong (the pull fails, the store is unchanged), kill -9 of a pull (no
//! partial image, `system check` clean).

use crate::common::{sha256_file, Scratch};
use crate::env::{Client, Registry};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A TCP proxy to `upstream` on a free loopback port. With `cut`, the first blob GET's
/// response is cut after `cut` bytes; with `delay`, responses trickle (4 KiB per `delay`).
struct Proxy {
    port: u16,
    cuts: Arc<AtomicUsize>,
    /// Blob GETs that asked for a Range (a resumed download).
    ranges: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16, cut: Option<usize>, delay: Option<Duration>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicUsize::new(0));
        let ranges = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2, r2) = (Arc::clone(&cuts), Arc::clone(&stop), Arc::clone(&ranges));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let blob = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let blob_w = Arc::clone(&blob);
                let ranges_w = Arc::clone(&r2);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if text.starts_with("GET ") && text.contains("/blobs/sha256:") {
                            blob_w.store(true, Ordering::SeqCst);
                            if text.to_ascii_lowercase().contains("\r\nrange: bytes=") {
                                ranges_w.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let cuts = Arc::clone(&c2);
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut sent_in_blob = 0usize;
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if let Some(d) = delay {
                            std::thread::sleep(d);
                        }
                        if blob.load(Ordering::SeqCst) {
                            sent_in_blob += n;
                            if let Some(limit) = cut {
                                if sent_in_blob > limit
                                    && cuts
                                        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                                        .is_ok()
                                {
                                    let _ = c_out.shutdown(Shutdown::Both);
                                    let _ = s_in.shutdown(Shutdown::Both);
                                    return;
                                }
                            }
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy {
            port,
            cuts,
            ranges,
            stop,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn dropped_connection_mid_blob_resumes() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let direct = format!("{}/cut/bb:v1", reg.host());
    a.busybox_as(&direct);
    a.ok(&["push", &direct]);
    let proxy = Proxy::start(reg.port, Some(200_000), None);
    let via = format!("127.0.0.1:{}/cut/bb:v1", proxy.port);
    let b = Client::new();
    let out = b.ok(&["pull", &via]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        proxy.cuts.load(Ordering::SeqCst),
        1,
        "the proxy cut one download"
    );
    assert_eq!(a.inspect(&direct)["Id"], b.inspect(&via)["Id"]);
    b.store.assert_consistent("after a resumed pull");
}

#[test]
fn kill_9_of_a_pull_leaves_no_partial_image() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let direct = format!("{}/slow/bb:v1", reg.host());
    a.busybox_as(&direct);
    a.ok(&["push", &direct]);
    let proxy = Proxy::start(reg.port, None, Some(Duration::from_millis(10)));
    let via = format!("127.0.0.1:{}/slow/bb:v1", proxy.port);
    let b = Client::new();
    let mut child = b
        .cmd()
        .args(["pull", &via])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    if finished {
        eprintln!("SKIP: the pull finished before it could be killed");
        return;
    }
    assert!(b.ids().is_empty(), "no image after kill -9: {:?}", b.ids());
    b.store.assert_consistent("after kill -9 of a pull");
    // The next pull completes.
    b.ok(&["pull", &direct]);
    assert_eq!(b.ids().len(), 1);
}

/// The partial downloads (`ingest/<key>/data` files, with their sizes) under a store root.
fn ingest_data(root: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && !ft.is_symlink() {
                dirs.push(p);
            } else if ft.is_file()
                && e.file_name() == "data"
                && p.parent()
                    .and_then(|k| k.parent())
                    .and_then(|i| i.file_name())
                    .is_some_and(|n| n == "ingest")
            {
                found.push((p, e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    found
}

#[test]
fn killed_pull_resumes_in_the_next_process() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let direct = format!("{}/resume/bb:v1", reg.host());
    a.busybox_as(&direct);
    a.ok(&["push", &direct]);
    let slow = Proxy::start(reg.port, None, Some(Duration::from_millis(10)));
    let via = format!("127.0.0.1:{}/resume/bb:v1", slow.port);
    let b = Client::new();
    let mut child = b
        .cmd()
        .args(["pull", &via])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill -9 once part of the layer is in the ingest area.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let partial = loop {
        if let Some((_, n)) = ingest_data(&b.store.root)
            .into_iter()
            .find(|(_, n)| *n >= 100_000)
        {
            break Some(n);
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let Some(partial) = partial else {
        eprintln!("SKIP: the pull finished before it could be killed");
        return;
    };
    assert!(b.ids().is_empty(), "no image after kill -9: {:?}", b.ids());
    assert!(
        !ingest_data(&b.store.root).is_empty(),
        "the partial download stays"
    );

    // The next process asks for the rest only and verifies the whole blob.
    let fast = Proxy::start(reg.port, None, None);
    let via2 = format!("127.0.0.1:{}/resume/bb:v1", fast.port);
    let out = b.ok(&["pull", &via2]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        fast.ranges.load(Ordering::SeqCst),
        1,
        "one ranged GET resumed the {partial} bytes already there"
    );
    assert_eq!(a.inspect(&direct)["Id"], b.inspect(&via2)["Id"]);
    assert!(
        ingest_data(&b.store.root).is_empty(),
        "the ingest became a blob"
    );
    b.store.assert_consistent("after a resumed pull");
    b.store.assert_blobs_verify("after a resumed pull");
}

#[test]
fn resumed_ingest_with_wrong_bytes_fails_then_starts_over() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let a = Client::new();
    let direct = format!("{}/garbled/bb:v1", reg.host());
    a.busybox_as(&direct);
    a.ok(&["push", &direct]);
    let slow = Proxy::start(reg.port, None, Some(Duration::from_millis(10)));
    let via = format!("127.0.0.1:{}/garbled/bb:v1", slow.port);
    let b = Client::new();
    let mut child = b
        .cmd()
        .args(["pull", &via])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        if let Some(f) = ingest_data(&b.store.root)
            .into_iter()
            .find(|(_, n)| *n >= 100_000)
        {
            break Some(f);
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let Some((path, _)) = found else {
        eprintln!("SKIP: the pull finished before it could be killed");
        return;
    };
    // Corrupt the partial download: the resumed blob cannot match its digest.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = b.fails(&["pull", &direct]);
    assert!(err.contains("digest"), "{err}");
    assert!(b.ids().is_empty());
    // The bad ingest was discarded: the next pull starts over and succeeds.
    b.ok(&["pull", &direct]);
    assert_eq!(a.inspect(&direct)["Id"], b.inspect(&direct)["Id"]);
    b.store.assert_consistent("after a restarted pull");
}

/// A registry that serves one image whose layer bytes do not match the manifest's digest.
struct Fake {
    port: u16,
}

fn serve_fake(files: Vec<(String, String, Vec<u8>)>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = vec![0u8; 8192];
            let n = conn.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let found = files.iter().find(|(p, _, _)| *p == path);
            let resp = match found {
                Some((_, ct, body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None if path == "/v2/" => {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec()
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = conn.write_all(&resp);
        }
    });
    Fake { port }
}

#[test]
fn wrong_digest_fails_the_pull_and_stores_nothing() {
    let dir = Scratch::new("fake");
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello.txt"), b"hello from a layer\n").unwrap();
    let tar = dir.join("layer.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&content)
        .arg("-cf")
        .arg(&tar)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let layer = std::fs::read(&tar).unwrap();
    let layer_digest = format!("sha256:{}", sha256_file(&tar));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    std::fs::write(dir.join("config"), &config).unwrap();
    let config_digest = format!("sha256:{}", sha256_file(&dir.join("config")));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    // Same size, one byte changed.
    let mut bad = layer.clone();
    bad[600] ^= 0x55;
    let fake = serve_fake(vec![
        (
            "/v2/evil/img/manifests/v1".into(),
            "application/vnd.oci.image.manifest.v1+json".into(),
            manifest.into_bytes(),
        ),
        (
            format!("/v2/evil/img/blobs/{config_digest}"),
            "application/octet-stream".into(),
            config.into_bytes(),
        ),
        (
            format!("/v2/evil/img/blobs/{layer_digest}"),
            "application/octet-stream".into(),
            bad,
        ),
    ]);
    let c = Client::new();
    c.ok(&["image", "bootstrap", "busybox"]);
    let before = c.ids();
    let err = c.fails(&["pull", &format!("127.0.0.1:{}/evil/img:v1", fake.port)]);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(c.ids(), before, "no image added");
    let blobs = crate::common::find_named(&c.store.root.join("blobs"), &layer_digest[7..]);
    assert!(blobs.is_empty(), "the bad blob is not stored: {blobs:?}");
    c.store.assert_consistent("after a wrong digest");
}
