//! Every route of the distribution API against an in-process server, with the spec's error codes.

mod common;
use common::*;

#[test]
fn base_endpoint() {
    let s = start();
    let r = req("GET", &format!("{}/v2/", s.base), &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
}

#[test]
fn monolithic_blob_get_head_range() {
    let s = start();
    let blob = data(100_000, 1);
    let d = digest(&blob);
    let r = push_blob(&s.base, "a/b", &blob);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Location"), Some(&*format!("/v2/a/b/blobs/{d}")));
    assert_eq!(r.header("Docker-Content-Digest"), Some(&*d.to_string()));
    let url = format!("{}/v2/a/b/blobs/{d}", s.base);
    let r = req("HEAD", &url, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    let r = req("GET", &url, &[], None);
    assert_eq!(r.body, blob);
    let r = req("GET", &url, &[("Range", "bytes=10-19")], None);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &blob[10..20]);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/100000"));
    let r = req("GET", &url, &[("Range", "bytes=99990-")], None);
    assert_eq!(r.body, &blob[99990..]);
    for bad in ["bytes=100000-", "bytes=5-1", "bytes=x-y", "lines=1-2"] {
        let r = req("GET", &url, &[("Range", bad)], None);
        assert_eq!(r.status, 416, "{bad}");
    }
    // Unknown blob, invalid digest, blob not visible in another repository.
    let other = digest(b"nope");
    let r = req(
        "GET",
        &format!("{}/v2/a/b/blobs/{other}", s.base),
        &[],
        None,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    let r = req(
        "GET",
        &format!("{}/v2/a/b/blobs/sha256:xyz", s.base),
        &[],
        None,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = req("HEAD", &format!("{}/v2/other/blobs/{d}", s.base), &[], None);
    assert_eq!(r.status, 404);
}

#[test]
fn chunked_and_streamed_uploads() {
    let s = start();
    let blob = data(30, 2);
    let d = digest(&blob);
    let r = req(
        "POST",
        &format!("{}/v2/c/blobs/uploads/", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 202);
    let loc = format!("{}{}", s.base, r.header("Location").unwrap());
    let r = req(
        "PATCH",
        &loc,
        &[("Content-Range", "0-9")],
        Some(&blob[..10]),
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.header("Range"), Some("0-9"));
    let r = req("GET", &loc, &[], None);
    assert_eq!((r.status, r.header("Range")), (204, Some("0-9")));
    // Out of order chunk.
    let r = req(
        "PATCH",
        &loc,
        &[("Content-Range", "20-29")],
        Some(&blob[20..]),
    );
    assert_eq!(r.status, 416);
    let r = req(
        "PATCH",
        &loc,
        &[("Content-Range", "10-19")],
        Some(&blob[10..20]),
    );
    assert_eq!(r.status, 202);
    // Streamed (no Content-Range) final part, then PUT with no body.
    let r = req("PATCH", &loc, &[], Some(&blob[20..]));
    assert_eq!((r.status, r.header("Range")), (202, Some("0-29")));
    let r = req("PUT", &format!("{loc}?digest={d}"), &[], Some(b""));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = req("GET", &format!("{}/v2/c/blobs/{d}", s.base), &[], None);
    assert_eq!(r.body, blob);
    // The session is gone.
    let r = req("GET", &loc, &[], None);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    // POST then PUT with the whole body.
    let r = req(
        "POST",
        &format!("{}/v2/c/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = format!("{}{}", s.base, r.header("Location").unwrap());
    let b2 = data(5000, 3);
    let r = req(
        "PUT",
        &format!("{loc}?digest={}", digest(&b2)),
        &[],
        Some(&b2),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn digest_mismatch_stores_nothing() {
    let s = start();
    let blob = data(1000, 4);
    let wrong = digest(b"something else");
    let r = req(
        "POST",
        &format!("{}/v2/d/blobs/uploads/?digest={wrong}", s.base),
        &[],
        Some(&blob),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = req(
        "POST",
        &format!("{}/v2/d/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = format!("{}{}", s.base, r.header("Location").unwrap());
    req("PATCH", &loc, &[], Some(&blob));
    let r = req("PUT", &format!("{loc}?digest={wrong}"), &[], Some(b""));
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert!(!stored(&s.root, &digest(&blob)));
    assert!(!stored(&s.root, &wrong));
    assert_eq!(std::fs::read_dir(s.root.join("ingest")).unwrap().count(), 0);
    let r = req("PUT", &format!("{loc}?digest=sha256:bad"), &[], Some(b""));
    assert_eq!(r.status, 400);
}

#[test]
fn cancel_upload_and_delete_blob() {
    let s = start();
    let r = req(
        "POST",
        &format!("{}/v2/e/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = format!("{}{}", s.base, r.header("Location").unwrap());
    req("PATCH", &loc, &[], Some(b"abc"));
    assert_eq!(req("DELETE", &loc, &[], None).status, 204);
    assert_eq!(req("GET", &loc, &[], None).status, 404);
    assert_eq!(req("DELETE", &loc, &[], None).status, 404);
    let blob = data(10, 5);
    let d = digest(&blob);
    push_blob(&s.base, "e", &blob);
    let url = format!("{}/v2/e/blobs/{d}", s.base);
    assert_eq!(req("DELETE", &url, &[], None).status, 202);
    let r = req("DELETE", &url, &[], None);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    assert_eq!(req("HEAD", &url, &[], None).status, 404);
}

#[test]
fn cross_repository_mount() {
    let s = start();
    let blob = data(2000, 6);
    let d = digest(&blob);
    push_blob(&s.base, "src/repo", &blob);
    let r = req(
        "POST",
        &format!("{}/v2/dst/blobs/uploads/?mount={d}&from=src/repo", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Location"), Some(&*format!("/v2/dst/blobs/{d}")));
    assert_eq!(
        req("HEAD", &format!("{}/v2/dst/blobs/{d}", s.base), &[], None).status,
        200
    );
    // Not in the source repository: an ordinary session.
    let r = req(
        "POST",
        &format!("{}/v2/dst2/blobs/uploads/?mount={d}&from=elsewhere", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 202);
    assert!(r.header("Location").unwrap().contains("/blobs/uploads/"));
}

#[test]
fn manifests_tags_catalog() {
    let s = start();
    let (d1, m1) = push_image(&s.base, "lib/img", "v1", 7);
    let (d2, _) = push_image(&s.base, "lib/img", "v2", 8);
    push_image(&s.base, "other", "latest", 9);
    for reference in ["v1".to_string(), d1.to_string()] {
        let url = format!("{}/v2/lib/img/manifests/{reference}", s.base);
        let r = req("GET", &url, &[], None);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, m1);
        assert_eq!(
            r.header("Content-Type"),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(r.header("Docker-Content-Digest"), Some(&*d1.to_string()));
        let r = req("HEAD", &url, &[], None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Length"), Some(&*m1.len().to_string()));
    }
    let r = req(
        "GET",
        &format!("{}/v2/lib/img/tags/list", s.base),
        &[],
        None,
    );
    assert_eq!(r.json()["tags"], serde_json::json!(["v1", "v2"]));
    let r = req(
        "GET",
        &format!("{}/v2/lib/img/tags/list?n=1", s.base),
        &[],
        None,
    );
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
    assert!(r.header("Link").unwrap().contains("last=v1"));
    let r = req(
        "GET",
        &format!("{}/v2/lib/img/tags/list?n=1&last=v1", s.base),
        &[],
        None,
    );
    assert_eq!(r.json()["tags"], serde_json::json!(["v2"]));
    let r = req("GET", &format!("{}/v2/nope/tags/list", s.base), &[], None);
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
    let r = req("GET", &format!("{}/v2/_catalog", s.base), &[], None);
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["lib/img", "other"])
    );
    let r = req("GET", &format!("{}/v2/_catalog?n=1", s.base), &[], None);
    assert_eq!(r.json()["repositories"], serde_json::json!(["lib/img"]));
    assert!(r.header("Link").is_some());
    // Delete a tag, then a manifest by digest (its tags go with it).
    let r = req(
        "DELETE",
        &format!("{}/v2/lib/img/manifests/v1", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        req(
            "GET",
            &format!("{}/v2/lib/img/manifests/v1", s.base),
            &[],
            None
        )
        .status,
        404
    );
    let url = format!("{}/v2/lib/img/manifests/{d2}", s.base);
    assert_eq!(req("DELETE", &url, &[], None).status, 202);
    let r = req("GET", &url, &[], None);
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    let r = req(
        "GET",
        &format!("{}/v2/lib/img/tags/list", s.base),
        &[],
        None,
    );
    assert_eq!(r.json()["tags"], serde_json::json!([]));
}

#[test]
fn manifest_errors() {
    let s = start();
    let url = |name: &str, r: &str| format!("{}/v2/{name}/manifests/{r}", s.base);
    let ct = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    let m = manifest(b"{}", &[b"layer"]);
    let r = req("PUT", &url("m", "v1"), &ct, Some(&m));
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    let r = req("PUT", &url("m", "v1"), &ct, Some(b"{not json"));
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    let big = vec![b' '; berth_registry::MAX_MANIFEST + 1];
    let r = req("PUT", &url("m", "v1"), &ct, Some(&big));
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
    let r = req("PUT", &url("Bad_Name", "v1"), &ct, Some(b"{}"));
    assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"));
    let r = req("GET", &url("a//b", "v1"), &[], None);
    assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"));
    let r = req("PUT", &url("m", ".bad"), &ct, Some(b"{}"));
    assert_eq!((r.status, r.code().as_str()), (400, "TAG_INVALID"));
    let wrong = digest(b"x");
    let r = req("PUT", &url("m", &wrong.to_string()), &ct, Some(b"{}"));
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = req("GET", &url("m", "missing"), &[], None);
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    // An index whose child manifest is missing.
    let idx = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": wrong.to_string(), "size": 1}]});
    let r = req(
        "PUT",
        &url("m", "idx"),
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        Some(idx.to_string().as_bytes()),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
}

#[test]
fn index_and_docker_media_types() {
    let s = start();
    let (d, m) = push_image(&s.base, "multi", "amd64", 10);
    let idx = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": d.to_string(), "size": m.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}]});
    let ct = "application/vnd.docker.distribution.manifest.list.v2+json";
    let r = req(
        "PUT",
        &format!("{}/v2/multi/manifests/latest", s.base),
        &[("Content-Type", ct)],
        Some(idx.to_string().as_bytes()),
    );
    assert_eq!(r.status, 201);
    let r = req(
        "GET",
        &format!("{}/v2/multi/manifests/latest", s.base),
        &[],
        None,
    );
    assert_eq!(r.header("Content-Type"), Some(ct));
}

#[test]
fn referrers_api() {
    let s = start();
    let (subject, m) = push_image(&s.base, "r", "v1", 11);
    let empty = b"{}";
    assert_eq!(push_blob(&s.base, "r", empty).status, 201);
    let art = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": digest(empty).to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": digest(empty).to_string(), "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": subject.to_string(), "size": m.len()},
        "annotations": {"k": "v"}});
    let body = art.to_string();
    let ad = digest(body.as_bytes());
    let r = req(
        "PUT",
        &format!("{}/v2/r/manifests/{ad}", s.base),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("OCI-Subject"), Some(&*subject.to_string()));
    let url = format!("{}/v2/r/referrers/{subject}", s.base);
    let r = req("GET", &url, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let v = r.json();
    assert_eq!(v["manifests"][0]["digest"], ad.to_string());
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    let r = req(
        "GET",
        &format!("{url}?artifactType=application/vnd.example.sbom"),
        &[],
        None,
    );
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    let r = req("GET", &format!("{url}?artifactType=other"), &[], None);
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 0);
    // Deleting the referrer removes it from the list.
    req(
        "DELETE",
        &format!("{}/v2/r/manifests/{ad}", s.base),
        &[],
        None,
    );
    let r = req("GET", &url, &[], None);
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 0);
    let r = req(
        "GET",
        &format!("{}/v2/r/referrers/sha256:zz", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&file, format!("alice:{hash}\n")).unwrap();
    let s = start_with(|o| o.htpasswd = Some(file.clone()));
    let url = format!("{}/v2/", s.base);
    let r = req("GET", &url, &[], None);
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"berth-registry\"")
    );
    use base64::Engine as _;
    let enc = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let r = req("GET", &url, &[("Authorization", &enc("alice:wrong"))], None);
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    let r = req(
        "GET",
        &url,
        &[("Authorization", &enc("alice:s3cret"))],
        None,
    );
    assert_eq!(r.status, 200);
    let r = req(
        "GET",
        &format!("{}/v2/_catalog", s.base),
        &[("Authorization", &enc("alice:s3cret"))],
        None,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn sha512_blobs_and_manifests() {
    use sha2::Digest as _;
    let s = start();
    let sha512 = |b: &[u8]| -> berth_oci::Digest {
        format!(
            "sha512:{}",
            berth_oci::digest::hex_lower(&sha2::Sha512::digest(b))
        )
        .parse()
        .unwrap()
    };
    let blob = data(70_000, 20);
    let d = sha512(&blob);
    let r = req(
        "POST",
        &format!("{}/v2/s/blobs/uploads/?digest={d}", s.base),
        &[],
        Some(&blob),
    );
    assert_eq!(r.status, 201);
    let r = req("GET", &format!("{}/v2/s/blobs/{d}", s.base), &[], None);
    assert_eq!(
        (r.status, r.header("Docker-Content-Digest")),
        (200, Some(&*d.to_string()))
    );
    assert_eq!(r.body, blob);
    // A wrong sha512 stores nothing.
    let other = data(1000, 21);
    let r = req(
        "POST",
        &format!("{}/v2/s/blobs/uploads/?digest={d}", s.base),
        &[],
        Some(&other),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert!(!stored(&s.root, &digest(&other)));
    // A manifest pushed by its sha512 digest.
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/octet-stream", "digest": d.to_string(), "size": blob.len()},
        "layers": []}))
    .unwrap();
    let md = sha512(&m);
    let url = format!("{}/v2/s/manifests/{md}", s.base);
    let r = req(
        "PUT",
        &url,
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        Some(&m),
    );
    assert_eq!(r.status, 201);
    let r = req("GET", &url, &[], None);
    assert_eq!(r.body, m);
    let root = s.root.clone();
    berth_registry::gc_with(
        &root,
        &berth_registry::GcOptions {
            grace: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(req("GET", &url, &[], None).body, m);
    assert_eq!(
        req("GET", &format!("{}/v2/s/blobs/{d}", s.base), &[], None).body,
        blob
    );
}
