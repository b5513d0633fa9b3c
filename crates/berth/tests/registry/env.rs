//! A private docker-registry per test, a free port, a private DOCKER_CONFIG, and a store.

use crate::common::{have, run_ok, Scratch, Store};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker-registry serve` on 127.0.0.1 with its storage under a scratch dir; killed on drop.
pub struct Registry {
    pub port: u16,
    pub dir: Scratch,
    child: Child,
}

impl Registry {
    /// None (after printing why) when docker-registry is missing; `auth`: (user, password).
    pub fn start(auth: Option<(&str, &str)>) -> Option<Registry> {
        if !have("docker-registry") {
            eprintln!("SKIP: docker-registry is not installed (apt install docker-registry)");
            return None;
        }
        let dir = Scratch::new("registry");
        let port = free_port();
        let mut auth_cfg = String::new();
        if let Some((u, p)) = auth {
            if !have("htpasswd") {
                eprintln!("SKIP: htpasswd is not installed (apt install apache2-utils)");
                return None;
            }
            let line = run_ok(Command::new("htpasswd").args(["-Bbn", u, p]));
            let file = dir.join("htpasswd");
            fs::write(&file, line.trim()).unwrap();
            auth_cfg = format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_cfg}",
            dir.join("data").display()
        );
        let cfg = dir.join("config.yml");
        fs::write(&cfg, config).unwrap();
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let reg = Registry { port, dir, child };
        reg.wait_ready();
        Some(reg)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read(&mut buf).is_ok_and(|n| n > 0) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not start: {}",
            fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store plus a private docker config dir (credentials) for berth commands.
pub struct Client {
    pub store: Store,
    pub docker_config: PathBuf,
}

impl Client {
    pub fn new() -> Client {
        let store = Store::new();
        let docker_config = store.scratch.join("docker-config");
        fs::create_dir_all(&docker_config).unwrap();
        Client {
            store,
            docker_config,
        }
    }

    /// `berth --root R ARGS` with the private DOCKER_CONFIG and no settings file.
    pub fn cmd(&self) -> Command {
        let mut c = self.store.cmd();
        c.env("DOCKER_CONFIG", &self.docker_config)
            .env(
                "BERTH_REGISTRIES_CONFIG",
                self.store.scratch.join("none.json"),
            )
            .env_remove("BERTH_INSECURE_REGISTRIES");
        c
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            crate::common::describe(&format!("berth {}", args.join(" ")), &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        let what = crate::common::describe(&format!("berth {}", args.join(" ")), &out);
        assert!(!out.status.success(), "expected failure; {what}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The busybox image, bootstrapped and tagged `tag`.
    pub fn busybox_as(&self, tag: &str) {
        self.ok(&["image", "bootstrap", "busybox"]);
        self.ok(&["tag", "busybox:latest", tag]);
    }

    /// `image inspect` JSON of `name`.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["image", "inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// Image IDs in the store.
    pub fn ids(&self) -> Vec<String> {
        self.store.ids()
    }
}
