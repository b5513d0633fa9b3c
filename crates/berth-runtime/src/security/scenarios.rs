//! Real-kernel tests of the security steps, each in a re-executed child (see [`super::reexec`]).

use std::ffi::CString;
use std::io::Write;

use berth_oci::oci_spec::runtime::{LinuxCapabilities, PosixRlimit, User};
use caps::{CapSet, Capability};
use nix::sys::resource::{getrlimit, Resource};
use nix::unistd::{getgroups, Gid};

use super::capabilities::mask_of;
use super::reexec::{self, expect_success, is_root, status_field};
use super::*;

const ENTRY: &str = "security::scenarios::child_entry";

/// The child side: does nothing in a normal test run.
#[test]
fn child_entry() {
    let Some(scenario) = reexec::scenario() else {
        return;
    };
    match scenario.as_str() {
        "rlimits" => child_rlimits(),
        "oom" => child_oom(),
        "user_caps" => child_user_caps(),
        "nnp" => child_nnp(),
        "ambient_not_inheritable" => child_ambient_not_inheritable(),
        "root_default_caps" => child_root_default_caps(),
        "setgroups_denied" => child_setgroups_denied(),
        other => panic!("unknown scenario {other}"),
    }
}

fn thread_status() -> String {
    std::fs::read_to_string("/proc/thread-self/status").unwrap()
}

fn rlimit(json: &str) -> PosixRlimit {
    serde_json::from_str(json).unwrap()
}

fn child_rlimits() {
    set_rlimits(&[rlimit(
        r#"{"type":"RLIMIT_NOFILE","soft":1024,"hard":1024}"#,
    )])
    .unwrap();
    assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (1024, 1024));
    let raise = set_rlimits(&[rlimit(
        r#"{"type":"RLIMIT_NOFILE","soft":1025,"hard":1025}"#,
    )]);
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_RESOURCE).unwrap() {
        raise.unwrap();
    } else {
        let msg = raise.unwrap_err().to_string();
        assert!(
            msg.contains("RLIMIT_NOFILE") && msg.contains("EPERM"),
            "{msg}"
        );
        println!("RAISE-ERROR {msg}");
    }
    let bad = set_rlimits(&[rlimit(r#"{"type":"RLIMIT_CORE","soft":10,"hard":5}"#)]);
    let msg = bad.unwrap_err().to_string();
    assert!(
        msg.contains("RLIMIT_CORE") && msg.contains("EINVAL"),
        "{msg}"
    );
    println!("RLIMITS-OK");
}

fn child_oom() {
    set_oom_score_adj(500).unwrap();
    let got = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    assert_eq!(got.trim(), "500");
    println!("OOM-OK");
}

fn small_caps() -> LinuxCapabilities {
    serde_json::from_str(
        r#"{
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
        }"#,
    )
    .unwrap()
}

const SMALL_MASK: u64 = 0x401; // CHOWN (0) | NET_BIND_SERVICE (10)
const BOUNDING_MASK: u64 = 0x421; // + KILL (5)

fn hex(mask: u64) -> String {
    format!("{mask:016x}")
}

fn child_user_caps() {
    let caps = small_caps();
    let user: User =
        serde_json::from_str(r#"{"uid":1000,"gid":1000,"additionalGids":[1001,1002],"umask":23}"#)
            .unwrap();
    drop_bounding_set(&caps).unwrap();
    switch_user(&user, true).unwrap();
    apply_capabilities(&caps).unwrap();

    let status = thread_status();
    assert_eq!(status_field(&status, "Uid"), Some("1000\t1000\t1000\t1000"));
    assert_eq!(status_field(&status, "Gid"), Some("1000\t1000\t1000\t1000"));
    assert_eq!(status_field(&status, "Groups"), Some("1001 1002"));
    let groups = getgroups().unwrap();
    assert_eq!(groups, vec![Gid::from_raw(1001), Gid::from_raw(1002)]);
    for key in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            status_field(&status, key),
            Some(hex(SMALL_MASK).as_str()),
            "{key}"
        );
    }
    assert_eq!(
        status_field(&status, "CapBnd"),
        Some(hex(BOUNDING_MASK).as_str())
    );
    let expected = [Capability::CAP_CHOWN, Capability::CAP_NET_BIND_SERVICE];
    assert_eq!(mask_of(&expected), SMALL_MASK);
    assert!(
        !nix::sys::prctl::get_keepcaps().unwrap(),
        "keepcaps cleared"
    );
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    assert_eq!(old.bits(), 0o027);
    println!("BEFORE-EXEC-OK");
    std::io::stdout().flush().unwrap();

    // After exec a non-root process keeps exactly its ambient set.
    let path = CString::new("/bin/busybox").unwrap();
    let args = [
        CString::new("cat").unwrap(),
        CString::new("/proc/self/status").unwrap(),
    ];
    let err = exec(&path, &args, &[]);
    panic!("exec failed: {err}");
}

fn child_nnp() {
    set_no_new_privileges().unwrap();
    assert_eq!(status_field(&thread_status(), "NoNewPrivs"), Some("1"));
    println!("NNP-OK");
}

fn child_ambient_not_inheritable() {
    let caps: LinuxCapabilities = serde_json::from_str(
        r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_CHOWN","CAP_KILL"],
            "permitted":["CAP_CHOWN","CAP_KILL"],"inheritable":["CAP_CHOWN"],"ambient":["CAP_KILL"]}"#,
    )
    .unwrap();
    drop_bounding_set(&caps).unwrap();
    apply_capabilities(&caps).unwrap();
    assert_eq!(
        status_field(&thread_status(), "CapAmb"),
        Some("0000000000000000")
    );
    println!("AMBIENT-SKIPPED");
}

/// Docker's default capability set.
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];
const DOCKER_MASK: u64 = 0xa804_25fb;

fn child_root_default_caps() {
    let list = serde_json::to_string(&DOCKER_CAPS).unwrap();
    let caps: LinuxCapabilities = serde_json::from_str(&format!(
        r#"{{"bounding":{list},"effective":{list},"permitted":{list}}}"#
    ))
    .unwrap();
    let user: User = serde_json::from_str(r#"{"uid":0,"gid":0}"#).unwrap();
    drop_bounding_set(&caps).unwrap();
    switch_user(&user, true).unwrap();
    apply_capabilities(&caps).unwrap();
    let status = thread_status();
    assert_eq!(status_field(&status, "Groups"), Some(""));
    assert_eq!(status_field(&status, "CapInh"), Some(hex(0).as_str()));
    println!("BEFORE-EXEC-OK");
    std::io::stdout().flush().unwrap();
    // Root after exec: permitted = bounding, effective = permitted.
    let path = CString::new("/bin/busybox").unwrap();
    let args = [
        CString::new("cat").unwrap(),
        CString::new("/proc/self/status").unwrap(),
    ];
    let err = exec(&path, &args, &[]);
    panic!("exec failed: {err}");
}

fn child_setgroups_denied() {
    let before = getgroups().unwrap();
    let user: User = serde_json::from_str(r#"{"uid":0,"gid":0,"additionalGids":[1234]}"#).unwrap();
    switch_user(&user, false).unwrap();
    assert_eq!(
        getgroups().unwrap(),
        before,
        "groups untouched when setgroups is denied"
    );
    println!("SETGROUPS-DENIED-OK");
}

fn run(test: &str, scenario: &str) -> Option<String> {
    if !is_root(test) {
        return None;
    }
    let out = reexec::run(ENTRY, scenario, |_| {});
    Some(expect_success(scenario, &out))
}

#[test]
fn rlimits_are_set_and_raising_names_the_limit() {
    if let Some(out) = run("rlimits", "rlimits") {
        assert!(out.contains("RLIMITS-OK"), "{out}");
    }
}

#[test]
fn oom_score_adj_is_written() {
    if let Some(out) = run("oom", "oom") {
        assert!(out.contains("OOM-OK"), "{out}");
    }
}

#[test]
fn user_groups_and_capabilities_survive_exec() {
    let Some(out) = run("user_caps", "user_caps") else {
        return;
    };
    let (before, after) = out
        .split_once("BEFORE-EXEC-OK")
        .unwrap_or_else(|| panic!("no marker in {out}"));
    assert!(!before.contains("panicked"), "{out}");
    assert_eq!(
        status_field(after, "Uid"),
        Some("1000\t1000\t1000\t1000"),
        "{after}"
    );
    assert_eq!(status_field(after, "Groups"), Some("1001 1002"), "{after}");
    for key in ["CapPrm", "CapEff", "CapAmb", "CapInh"] {
        assert_eq!(
            status_field(after, key),
            Some(hex(SMALL_MASK).as_str()),
            "{key}: {after}"
        );
    }
    assert_eq!(
        status_field(after, "CapBnd"),
        Some(hex(BOUNDING_MASK).as_str()),
        "{after}"
    );
}

#[test]
fn no_new_privs_is_set() {
    if let Some(out) = run("nnp", "nnp") {
        assert!(out.contains("NNP-OK"), "{out}");
    }
}

#[test]
fn ambient_without_inheritable_is_skipped() {
    if let Some(out) = run("ambient", "ambient_not_inheritable") {
        assert!(out.contains("AMBIENT-SKIPPED"), "{out}");
    }
}

#[test]
fn root_with_the_default_set_keeps_it_across_exec() {
    let Some(out) = run("root_default_caps", "root_default_caps") else {
        return;
    };
    let (_, after) = out
        .split_once("BEFORE-EXEC-OK")
        .unwrap_or_else(|| panic!("no marker in {out}"));
    assert_eq!(status_field(after, "Uid"), Some("0\t0\t0\t0"), "{after}");
    for key in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(
            status_field(after, key),
            Some(hex(DOCKER_MASK).as_str()),
            "{key}: {after}"
        );
    }
    assert_eq!(
        status_field(after, "CapAmb"),
        Some(hex(0).as_str()),
        "{after}"
    );
}

#[test]
fn setgroups_denied_leaves_groups_alone() {
    if let Some(out) = run("setgroups", "setgroups_denied") {
        assert!(out.contains("SETGROUPS-DENIED-OK"), "{out}");
    }
}
