//! Bad input: a clear message, a non-zero exit, and nothing left behind (no state dir, no
//! cgroup, no mount, no process).

use crate::common::*;
use crate::require_root;
use serde_json::json;

#[track_caller]
fn assert_clean(b: &Bundle) {
    let left = b.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Runs `create` (the command that validates the config) and checks the failure.
#[track_caller]
fn expect_create_error(b: &Bundle, needles: &[&str]) -> Out {
    let bs = b.bundle.to_string_lossy().into_owned();
    let out = b.rt(&["create", "--bundle", &bs, &b.id]);
    assert!(!out.ok(), "create must fail: {out}");
    let msg = format!("{}{}", out.stderr, out.stdout);
    assert!(
        needles.iter().any(|n| msg.contains(n)),
        "the error should name one of {needles:?}: {out}"
    );
    assert_clean(b);
    out
}

fn write_raw_config(b: &Bundle, text: &str) {
    std::fs::write(b.bundle.join("config.json"), text).unwrap();
}

#[test]
fn malformed_config_field_type_names_the_field() {
    require_root!();
    let mut b = Bundle::new("badfield");
    b.config["process"]["user"]["uid"] = json!("root");
    let text = serde_json::to_string_pretty(&b.config).unwrap();
    write_raw_config(&b, &text);
    expect_create_error(&b, &["uid"]);
}

#[test]
fn malformed_config_args_not_a_list_names_the_field() {
    require_root!();
    let mut b = Bundle::new("badargs");
    b.config["process"]["args"] = json!("/probe");
    let text = serde_json::to_string_pretty(&b.config).unwrap();
    write_raw_config(&b, &text);
    expect_create_error(&b, &["args"]);
}

#[test]
fn malformed_config_bad_namespace_type() {
    require_root!();
    let mut b = Bundle::new("badns");
    b.config["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "bogus"}, {"type": "mount"}]);
    let text = serde_json::to_string_pretty(&b.config).unwrap();
    write_raw_config(&b, &text);
    expect_create_error(&b, &["bogus", "namespace"]);
}

#[test]
fn config_not_json_is_reported() {
    require_root!();
    let b = Bundle::new("notjson");
    write_raw_config(&b, "{\"ociVersion\": \"1.0.2\", \"process\": ");
    expect_create_error(
        &b,
        &["config.json", "JSON", "json", "EOF", "unexpected end"],
    );
}

#[test]
fn missing_bundle_is_reported() {
    require_root!();
    let b = Bundle::new("nobundle");
    let missing = b.dir.join("no-such-bundle");
    let out = b.rt(&["create", "--bundle", &missing.to_string_lossy(), &b.id]);
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr.contains("no-such-bundle"),
        "the error should name the bundle path: {out}"
    );
    assert_clean(&b);
}

#[test]
fn missing_rootfs_is_reported() {
    require_root!();
    let mut b = Bundle::new("norootfs");
    b.config["root"]["path"] = json!("no-such-rootfs");
    b.write_config();
    expect_create_error(&b, &["no-such-rootfs"]);
}

#[test]
fn unknown_id_is_reported() {
    require_root!();
    let b = Bundle::new("unknownid");
    for cmd in [
        vec!["state", "no-such-container"],
        vec!["start", "no-such-container"],
        vec!["kill", "no-such-container", "KILL"],
        vec!["delete", "no-such-container"],
        vec!["pause", "no-such-container"],
        vec!["ps", "no-such-container"],
        vec!["exec", "no-such-container", "/probe"],
    ] {
        let out = b.rt(&cmd);
        assert!(!out.ok(), "{cmd:?} must fail: {out}");
        assert!(
            out.stderr.contains("no-such-container")
                || out.stderr.contains("does not exist")
                || out.stderr.contains("not found"),
            "{cmd:?}: the error should name the id: {out}"
        );
    }
    assert!(!b.state_root.join("no-such-container").exists());
}

#[test]
fn taken_id_is_refused_and_first_container_survives() {
    require_root!();
    let mut a = Bundle::new("takenid");
    a.start_sleeper();
    let bs = a.bundle.to_string_lossy().into_owned();
    let out = a.rt(&["create", "--bundle", &bs, &a.id]);
    assert!(
        !out.ok(),
        "a second create with the same id must fail: {out}"
    );
    assert!(
        out.stderr.contains(&a.id) || out.stderr.contains("exist"),
        "the error should say the id is taken: {out}"
    );
    assert_eq!(a.status(), "running", "the first container is untouched");
}

#[test]
fn invalid_id_is_refused() {
    require_root!();
    let b = Bundle::new("badid");
    let bs = b.bundle.to_string_lossy().into_owned();
    for id in ["../escape", "a/b", ""] {
        let out = b.rt(&["create", "--bundle", &bs, id]);
        assert!(!out.ok(), "id {id:?} must be refused: {out}");
    }
    assert!(
        !b.dir.join("escape").exists(),
        "state written outside --root"
    );
    assert_clean(&b);
}

#[test]
fn failing_start_of_missing_executable_leaves_nothing_after_delete() {
    require_root!();
    let mut b = Bundle::new("badexe");
    b.args(&["/does-not-exist"]);
    let out = b.create();
    if out.ok() {
        // runc resolves the executable at create; a runtime may also fail at start.
        let st = b.start();
        assert!(!st.ok(), "start of a missing executable must fail: {st}");
        let _ = b.rt(&["delete", "-f", &b.id]);
    } else {
        assert!(
            out.stderr.contains("/does-not-exist"),
            "error names the executable: {out}"
        );
    }
    assert_clean(&b);
}

#[test]
fn unknown_flag_and_command_fail() {
    let b = Bundle::new("badflag");
    let out = b.rt(&["no-such-command"]);
    assert!(!out.ok(), "{out}");
    let out = b.rt(&["create", "--no-such-flag", "x"]);
    assert!(!out.ok(), "{out}");
}
