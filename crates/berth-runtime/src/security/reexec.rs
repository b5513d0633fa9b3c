//! Test support: run a scenario in a fresh copy of the test binary, so that process-wide changes
//! (uid, rlimits, capabilities, session, controlling terminal) never touch the test runner.
//!
//! The parent calls [`run`] with the full name of an entry test and a scenario name; the child is
//! the test binary running only that entry test, which calls [`scenario`] to learn what to do. The
//! entry test does nothing when run normally. Capabilities, no_new_privs and keepcaps are per
//! thread and libtest runs the test on a thread of its own, so scenarios read
//! `/proc/thread-self/status`.

use std::process::{Command, Output, Stdio};

const VAR: &str = "BERTH_RUNTIME_TEST_SCENARIO";

/// The scenario this process must run, when it is a re-executed child.
pub(crate) fn scenario() -> Option<String> {
    std::env::var(VAR).ok()
}

/// Whether privileged scenarios can run here; prints why not otherwise.
pub(crate) fn is_root(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipping {test}: needs root");
    }
    root
}

/// A command that runs `entry_test` (e.g. `security::scenarios::child_entry`) with `scenario` in a
/// new process of the test binary; stdin is /dev/null, stdout and stderr are piped.
pub(crate) fn command(entry_test: &str, scenario: &str) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        entry_test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(VAR, scenario)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Runs [`command`] to completion and returns its output. `configure` may add env vars.
pub(crate) fn run(
    entry_test: &str,
    scenario: &str,
    configure: impl FnOnce(&mut Command),
) -> Output {
    let mut cmd = command(entry_test, scenario);
    configure(&mut cmd);
    cmd.output().expect("spawn re-executed test binary")
}

/// Asserts that the child succeeded, showing its output otherwise, and returns its stdout.
pub(crate) fn expect_success(scenario: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scenario {scenario} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// The value of a `Key:\tvalue` line of `/proc/<...>/status` text.
pub(crate) fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}
