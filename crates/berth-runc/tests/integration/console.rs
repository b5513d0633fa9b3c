//! process.terminal with --console-socket: the runtime sends the pty master over the socket.

use crate::common::console::{read_master, ConsoleSocket};
use crate::common::*;
use crate::require_root;
use serde_json::json;
use std::time::Duration;

#[test]
fn terminal_via_console_socket() {
    require_root!();
    let mut b = Bundle::new("console");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 40, "width": 132});
    b.args(&["/bin/sh", "-c", "/probe; busybox stty size"]);
    let sock = ConsoleSocket::listen(&b.dir.join("console.sock"));
    let s = sock.path.to_string_lossy().into_owned();
    b.create_with(&["--console-socket", &s]).expect_ok();
    let (master, _name) = sock
        .recv(Duration::from_secs(20))
        .expect("console master fd");
    b.start().expect_ok();
    let text = read_master(&master, Duration::from_secs(20), |t| t.contains("40 132"));
    let r = last_json(text.lines().find(|l| l.contains("\"caps\"")).unwrap_or(""))
        .unwrap_or_else(|| panic!("no probe report on the terminal: {text:?}"));
    assert_eq!(
        r["tty"],
        json!({"0": true, "1": true, "2": true}),
        "stdio are the terminal: {}",
        r["tty"]
    );
    let fd0 = r["fds"][0]["target"].as_str().unwrap_or("");
    assert!(
        fd0.starts_with("/dev/pts/"),
        "stdin is a pts of the container's devpts: {fd0}"
    );
    assert!(
        text.contains("40 132"),
        "consoleSize applied (stty size): {:?}",
        text.lines().last()
    );
    b.wait_status("stopped");
}

#[test]
fn terminal_without_console_socket_is_refused_for_create() {
    require_root!();
    let mut b = Bundle::new("noconsole");
    b.config["process"]["terminal"] = json!(true);
    let out = b.create();
    assert!(
        !out.ok(),
        "terminal: true needs --console-socket for create: {out}"
    );
    let _ = b.rt(&["delete", "-f", &b.id]);
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

#[test]
fn exec_tty_via_console_socket() {
    require_root!();
    let mut b = Bundle::new("exectty");
    b.start_sleeper();
    let sock = ConsoleSocket::listen(&b.dir.join("exec-console.sock"));
    let s = sock.path.to_string_lossy().into_owned();
    let out = b.spawn_to_files(&[
        "exec",
        "-d",
        "--tty",
        "--console-socket",
        &s,
        &b.id,
        "/probe",
    ]);
    out.expect_ok();
    let (master, _) = sock
        .recv(Duration::from_secs(20))
        .expect("console master fd for exec");
    let text = read_master(&master, Duration::from_secs(20), |t| {
        t.contains("\"cgroup_limits\"")
    });
    let r = last_json(&text)
        .unwrap_or_else(|| panic!("no probe report on the exec terminal: {text:?}"));
    assert_eq!(
        r["tty"],
        json!({"0": true, "1": true, "2": true}),
        "{}",
        r["tty"]
    );
}
