//! `run`/`create` pull a missing image as docker does (`--pull missing|always|never`), from a
//! private docker-registry (Debian's `docker-registry`) on a free loopback port.

use crate::common::*;
use crate::need_root;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `docker-registry serve` on 127.0.0.1:port, storage in `dir`; killed on drop.
struct Registry {
    port: u16,
    child: Child,
}

impl Registry {
    /// None when docker-registry is not installed.
    fn start(dir: &std::path::Path) -> Option<Registry> {
        if !have("docker-registry") {
            eprintln!("SKIP: docker-registry is not installed (apt install docker-registry)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir).unwrap();
        let cfg = dir.join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let reg = Registry { port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read(&mut buf).is_ok_and(|n| n > 0) {
                    return Some(reg);
                }
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_and_create_pull_a_missing_image() {
    need_root!();
    let src = Berth::new();
    let Some(reg) = Registry::start(&src.dir.join("registry")) else {
        return;
    };
    let image = format!("localhost:{}/busybox", reg.port);
    src.ok(&["tag", "busybox:latest", &image]);
    src.ok(&["push", &image]);

    // An empty store: run pulls (docker's lines on stderr), then runs.
    let b = Berth::empty();
    let (out, err) = b.code(
        0,
        &["run", "--rm", "--network", "none", &image, "echo", "hi"],
    );
    assert_eq!(out, "hi\n");
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some(format!("Unable to find image '{image}:latest' locally").as_str()),
        "{err}"
    );
    assert!(err.contains("latest: Pulling from"), "{err}");
    assert!(
        err.contains(&format!(
            "Status: Downloaded newer image for {image}:latest"
        )),
        "{err}"
    );
    assert!(!err.contains("Using default tag"), "{err}");
    assert!(b.all_ids().is_empty(), "--rm left a container");

    // Present now: no pull output at all.
    let (out, err) = b.code(
        0,
        &["run", "--rm", "--network", "none", &image, "echo", "again"],
    );
    assert_eq!((out.as_str(), err.as_str()), ("again\n", ""));

    // --pull always asks the registry again; -q keeps it quiet.
    let (_, err) = b.code(
        0,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            "always",
            &image,
            "true",
        ],
    );
    assert!(err.contains("Image is up to date"), "{err}");
    let (_, err) = b.code(
        0,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            "always",
            "-q",
            &image,
            "true",
        ],
    );
    assert_eq!(err, "");

    // create pulls too (another empty store), and prints only the ID on stdout.
    let c = Berth::empty();
    let (out, err) = c.code(0, &["create", "--network", "none", &image, "true"]);
    assert_eq!(out.trim().len(), 64, "{out}");
    assert!(err.starts_with("Unable to find image"), "{err}");

    // --pull never on a missing tag: docker's error, exit 125, nothing created.
    let (_, err) = c.code(125, &["run", "--pull", "never", &format!("{image}:2")]);
    assert_eq!(err, format!("Error: No such image: {image}:2\n"));
    // A tag the registry does not have: the pull's error, exit 125.
    let (_, err) = c.code(125, &["run", "--rm", &format!("{image}:nosuchtag")]);
    assert!(
        err.lines().last().unwrap_or_default().starts_with("Error"),
        "{err}"
    );
    assert_eq!(c.all_ids().len(), 1, "only the created container");
}
