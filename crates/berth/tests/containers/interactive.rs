//! The interactive verbs through a real pseudo-terminal held by the test: `run -it` (raw mode on
//! the client's terminal, restored after; window-size changes passed on), `attach` with the
//! ctrl-p ctrl-q detach keys, `exec -it`, and `start -a -i`.

use crate::common::*;
use crate::need_root;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A command running on the slave side of a pty whose master the test reads and writes.
struct Terminal {
    master: File,
    slave: PathBuf,
    child: Child,
    /// Everything read from the master so far.
    seen: String,
}

impl Terminal {
    /// Starts `cmd` with stdin, stdout and stderr on a new pty of `rows` x `cols`.
    fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
            .expect("the pty slave's path");
        cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave));
        let child = cmd.spawn().expect("spawning on the pty");
        // The command holds the slave's last copies here: dropped, the master reads EIO once
        // the child and its descendants have closed theirs.
        drop(cmd);
        Terminal {
            master: File::from(pty.master),
            slave,
            child,
            seen: String::new(),
        }
    }

    /// Reads until the output holds `needle` (panics with the output after `max`); returns
    /// the output from `needle` on.
    fn expect(&mut self, needle: &str, max: Duration) -> String {
        let start = Instant::now();
        while !self.seen.contains(needle) {
            let left = max.saturating_sub(start.elapsed());
            assert!(
                !left.is_zero(),
                "no {needle:?} within {max:?}; the terminal showed:\n{}",
                self.seen
            );
            let wait = PollTimeout::try_from(left.as_millis().min(1000) as i32).unwrap();
            assert!(
                self.read_some(wait),
                "the terminal closed before {needle:?}; it showed:\n{}",
                self.seen
            );
        }
        let at = self.seen.find(needle).unwrap();
        self.seen[at..].to_string()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("writing to the pty");
    }

    /// `stty ARGS` on the client's side of the terminal.
    fn stty(&self, args: &[&str]) -> String {
        let out = Command::new("stty")
            .arg("-F")
            .arg(&self.slave)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe("stty", &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for the command's exit (up to `max`, then kills it and fails); its exit code.
    fn wait(&mut self, max: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > max {
                let _ = self.child.kill();
                panic!(
                    "the command did not exit within {max:?}; the terminal showed:\n{}",
                    self.seen
                );
            }
            // Drain the output meanwhile: a full pty buffer would block the writer. (A closed
            // terminal is no news here: the exit follows.)
            if !self.read_some(PollTimeout::from(50u8)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Waits up to `wait` for output and adds what came to `seen`; false once the terminal is
    /// closed (every slave side gone).
    fn read_some(&mut self, wait: PollTimeout) -> bool {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, wait).unwrap_or(0) == 0 {
            return true;
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `stty -a` output shows `flag` set (`icanon`) rather than cleared (`-icanon`).
fn flag_set(stty_all: &str, flag: &str) -> bool {
    stty_all.split_whitespace().any(|w| w == flag)
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn run_it_is_raw_and_passes_window_size_changes_on() {
    need_root!();
    if !have("stty") {
        crate::skip!("stty (coreutils) is missing");
    }
    let b = Berth::new();
    let mut cmd = b.cmd();
    cmd.args([
        "run",
        "-it",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
    ])
    .arg("stty size; echo READY; read x; stty size; echo DONE");
    let mut t = Terminal::spawn(cmd, 30, 100);
    let first = t.expect("READY", WAIT);
    assert!(t.seen.contains("30 100"), "starting size: {}", t.seen);
    assert!(!first.contains("DONE"));
    // The client's terminal is raw while the session runs: no line editing, no local echo.
    let during = t.stty(&["-a"]);
    assert!(
        !flag_set(&during, "icanon") && !flag_set(&during, "echo") && !flag_set(&during, "isig"),
        "client terminal not raw: {during}"
    );
    // A window change: the terminal's new size, then SIGWINCH to the client as the kernel
    // sends it to a terminal's foreground process.
    t.stty(&["rows", "40", "cols", "120"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.child.id() as i32),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    // The size travels client → shim → container pty: give it time before the next `stty`.
    std::thread::sleep(Duration::from_millis(500));
    t.send(b"\r");
    let rest = t.expect("DONE", WAIT);
    let after = &t.seen[t.seen.find("READY").unwrap()..];
    assert!(after.contains("40 120"), "size after the change: {after}");
    assert!(rest.contains("DONE"));
    assert_eq!(t.wait(WAIT), 0, "{}", t.seen);
    // And the client's terminal is as it was.
    let restored = t.stty(&["-a"]);
    assert!(
        flag_set(&restored, "icanon") && flag_set(&restored, "echo"),
        "client terminal not restored: {restored}"
    );
}

/// A detached `run -d -it` shell named after `prefix`; its name.
fn background_shell(b: &Berth, prefix: &str) -> String {
    let name = unique(prefix);
    b.ok(&[
        "run",
        "-d",
        "-it",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sh",
    ]);
    name
}

/// `berth attach ARGS` on a new 24x80 terminal.
fn attach(b: &Berth, args: &[&str]) -> Terminal {
    let mut cmd = b.cmd();
    cmd.arg("attach").args(args);
    Terminal::spawn(cmd, 24, 80)
}

#[test]
fn attach_and_detach_with_ctrl_p_ctrl_q() {
    need_root!();
    let b = Berth::new();
    let name = background_shell(&b, "attach");
    let mut t = attach(&b, &[&name]);
    // The shell's own prompt may have gone out before the attach: give it a command instead.
    t.send(b"echo attached-$((40+2))\r");
    t.expect("attached-42", WAIT);
    t.send(b"\x10\x11");
    assert_eq!(t.wait(WAIT), 0, "attach after ctrl-p ctrl-q: {}", t.seen);
    assert_eq!(b.field(&name, "{{.State.Running}}"), "true");
    // Attached again, the same shell answers; typing `exit` ends it and the attach with it.
    let mut t = attach(&b, &[&name]);
    t.send(b"echo again-$((1+1)); exit 3\r");
    t.expect("again-2", WAIT);
    assert_eq!(t.wait(WAIT), 3, "{}", t.seen);
    b.wait_field(&name, "{{.State.Status}}", "exited", WAIT);
    // Other detach keys, as docker's --detach-keys.
    let other = background_shell(&b, "keys");
    let mut t = attach(&b, &["--detach-keys", "ctrl-x,x", &other]);
    t.send(b"echo ready-$((2+2))\r");
    t.expect("ready-4", WAIT);
    t.send(b"\x18x");
    assert_eq!(t.wait(WAIT), 0, "{}", t.seen);
    assert_eq!(b.field(&other, "{{.State.Running}}"), "true");
}

#[test]
fn exec_it_and_start_interactive() {
    need_root!();
    let b = Berth::new();
    let name = unique("exec-t");
    b.detached(&["--name", &name], &["sleep", "100"]);
    let mut cmd = b.cmd();
    cmd.args(["exec", "-it", &name, "sh", "-c"])
        .arg("test -t 0 && test -t 1 && stty size && echo EXEC-TTY");
    let mut t = Terminal::spawn(cmd, 33, 111);
    t.expect("EXEC-TTY", WAIT);
    assert!(t.seen.contains("33 111"), "{}", t.seen);
    assert_eq!(t.wait(WAIT), 0);
    // -t alone (stdin not a terminal): the process still gets a pty.
    let out = b.ok(&["exec", "-t", &name, "sh", "-c", "test -t 1 && echo T-ONLY"]);
    assert!(out.contains("T-ONLY"), "{out}");
    // Without -t it has none.
    let out = b.run(&["exec", &name, "sh", "-c", "test -t 1 || echo NO-TTY"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("NO-TTY"));

    // start -a -i: our stdin reaches a created container's process.
    let created = unique("start-i");
    b.ok(&[
        "create",
        "-i",
        "--name",
        &created,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "read line; echo got:$line",
    ]);
    let out = b.run_stdin(&["start", "-a", "-i", &created], b"hello-stdin\n");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("got:hello-stdin"),
        "{}",
        describe("start -a -i", &out)
    );
}
