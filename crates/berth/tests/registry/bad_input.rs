//! Bad input: unknown tags and repositories, malformed names, missing local images, a registry
//! without search, nothing listening.

use crate::env::{free_port, Client, Registry};

#[test]
fn unknown_tag_and_repository() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let c = Client::new();
    let name = format!("{}/known/bb:v1", reg.host());
    c.busybox_as(&name);
    c.ok(&["push", &name]);
    let err = c.fails(&["pull", &format!("{}/known/bb:nope", reg.host())]);
    assert!(err.contains("manifest unknown"), "{err}");
    let err = c.fails(&["pull", &format!("{}/unknown/repo:v1", reg.host())]);
    assert!(
        err.contains("manifest unknown") || err.contains("does not exist"),
        "{err}"
    );
    let err = c.fails(&[
        "pull",
        &format!("{}/known/bb@sha256:{}", reg.host(), "0".repeat(64)),
    ]);
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "{err}"
    );
    let err = c.fails(&["pull", "UPPER/Case::x"]);
    assert!(err.contains("invalid reference format"), "{err}");
    let err = c.fails(&["push", &format!("{}/known/none:v1", reg.host())]);
    assert!(err.contains("does not exist locally"), "{err}");
    let err = c.fails(&["search", &format!("{}/bb", reg.host())]);
    assert!(err.contains("does not support search"), "{err}");
    let err = c.fails(&["pull", "--all-tags", &name]);
    assert!(err.contains("all-tags"), "{err}");
}

#[test]
fn nothing_listening() {
    let c = Client::new();
    let port = free_port();
    let err = c.fails(&["pull", &format!("127.0.0.1:{port}/x/y:z")]);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(c.ids().is_empty());
    let err = c.fails(&["login", "-u", "a", "-p", "b", &format!("127.0.0.1:{port}")]);
    assert!(err.contains("127.0.0.1"), "{err}");
}

#[test]
fn registry_serve_parses() {
    let c = Client::new();
    let out = c.ok(&["registry", "serve", "--help"]);
    assert!(out.contains("--addr"), "{out}");
}
