//! `run`, `create`, `start`, `attach`: flags -> engine create, start with the caller's stdio
//! handed to the shim, and the attached session until the container exits or is detached.

use super::attach::{Ended, Session, Stdio, Streams};
use super::options::{self, Mode, OptionError};
use super::terminal;
use crate::cli::Cli;
use crate::cli_containers::{AttachArgs, ContainerOptions, CreateArgs, RunArgs, StartArgs};
use anyhow::{bail, Context, Result};
use berth_engine::shim_proto::{self, Control, PendingShim, ShimPaths};
use berth_engine::types::CreateBody;
use berth_engine::{CreateOptions, Engine, EngineError, RemoveOptions, StartOptions};
use std::io::IsTerminal;

/// An error with the exit code docker gives it (125 berth's own, 126/127 exec failures).
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub error: anyhow::Error,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for ExitError {}

/// The exit code of a failed start: the shim's 126/127 for a command that cannot run.
fn start_failure(e: EngineError) -> anyhow::Error {
    let code = match &e {
        EngineError::Shim(msg) => shim_proto::start_error_code(msg),
        _ => 125,
    };
    ExitError {
        code,
        error: e.into(),
    }
    .into()
}

/// `berth create`.
pub fn create(cli: &Cli, a: &CreateArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let planned = plan_container(&a.opts, Mode::Create)?;
    ensure_image(cli, &engine, &a.opts)?;
    let id = create_container(&engine, &a.opts, planned)?;
    println!("{id}");
    Ok(0)
}

/// Docker's `--pull` policies for the image of `run` and `create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullPolicy {
    /// Pull only when the store does not have the image (the default).
    Missing,
    /// Pull every time (a no-op when the registry has nothing newer).
    Always,
    /// Never pull: a missing image is an error.
    Never,
}

impl PullPolicy {
    fn parse(s: &str) -> Result<PullPolicy, OptionError> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            other => Err(OptionError::Invalid(format!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// The image name as docker prints it (`busybox` -> `busybox:latest`); IDs and unparsable
/// names as given.
fn familiar(image: &str) -> String {
    match berth_oci::Reference::parse(image) {
        Ok(r) if !image.starts_with("sha256:") => r.familiar(),
        _ => image.to_string(),
    }
}

/// Makes sure the image of `o` is in the store as `--pull` asks: docker's "Unable to find
/// image" line, then the pull with its progress on stderr (nothing with `-q`).
fn ensure_image(cli: &Cli, engine: &Engine, o: &ContainerOptions) -> Result<()> {
    let policy = PullPolicy::parse(&o.pull)?;
    let image = o.image();
    let store = engine.images()?;
    let present = match store.resolve(image) {
        Ok(_) => true,
        Err(berth_image::ImageError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    match (policy, present) {
        (PullPolicy::Never, false) => bail!("No such image: {}", familiar(image)),
        (PullPolicy::Never | PullPolicy::Missing, true) => return Ok(()),
        (PullPolicy::Missing, false) => {
            eprintln!("Unable to find image '{}' locally", familiar(image));
        }
        (PullPolicy::Always, _) => {}
    }
    let platform = o
        .platform
        .as_deref()
        .map(berth_oci::Platform::parse)
        .transpose()
        .context("--platform")?;
    let opts = berth_distribution::PullOptions {
        platform,
        ..berth_distribution::PullOptions::default()
    };
    let settings = berth_distribution::Settings::load()?;
    let (out, tty): (Box<dyn std::io::Write + Send>, bool) = if o.quiet {
        (Box::new(std::io::sink()), false)
    } else {
        let err = std::io::stderr();
        let tty = err.is_terminal();
        let drop = vec![
            "Using default tag: latest".to_string(),
            berth_oci::Reference::parse(image)
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ];
        (Box::new(RunPullOutput::new(err, drop)), tty)
    };
    let pulled = berth_distribution::pull(store, &settings, image, &opts, out, tty);
    if pulled.is_ok() {
        crate::commands::system::sync_in_background(cli);
    }
    pulled?;
    Ok(())
}

/// The pull's output as `docker run` shows it: `berth pull`'s lines without the ones only
/// `docker pull` prints ("Using default tag", the reference at the end). Whole lines are
/// passed on as they complete; progress redraws within a line go through unchanged.
struct RunPullOutput<W: std::io::Write> {
    out: W,
    line: Vec<u8>,
    drop: Vec<String>,
}

impl<W: std::io::Write> RunPullOutput<W> {
    fn new(out: W, drop: Vec<String>) -> Self {
        RunPullOutput {
            out,
            line: Vec::new(),
            drop,
        }
    }

    /// Writes the buffered line (with its newline) unless it is one to drop.
    fn emit(&mut self) -> std::io::Result<()> {
        let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        if !self
            .drop
            .iter()
            .any(|d| !d.is_empty() && d.as_bytes() == text)
        {
            self.out.write_all(&self.line)?;
        }
        self.line.clear();
        Ok(())
    }
}

impl<W: std::io::Write> std::io::Write for RunPullOutput<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for chunk in buf.split_inclusive(|&b| b == b'\n') {
            self.line.extend_from_slice(chunk);
            if chunk.ends_with(b"\n") {
                self.emit()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            self.out.write_all(&self.line)?;
            self.line.clear();
        }
        self.out.flush()
    }
}

impl<W: std::io::Write> Drop for RunPullOutput<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Flags -> a created container; returns its full ID.
/// The container `run`/`create` will make, its options checked (before any pull: a malformed
/// flag is reported as docker reports it, without touching a registry).
struct Planned {
    name: Option<String>,
    config: berth_engine::types::Config,
    host_config: berth_engine::types::HostConfig,
}

fn plan_container(o: &ContainerOptions, mode: Mode) -> Result<Planned> {
    if let Some(cid) = &o.cidfile {
        if cid.exists() {
            bail!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                cid.display()
            );
        }
    }
    let req = options::build(o, mode)?;
    let (config, host_config) = options::to_types(&req, o)?;
    Ok(Planned {
        name: req.name,
        config,
        host_config,
    })
}

fn create_container(engine: &Engine, o: &ContainerOptions, planned: Planned) -> Result<String> {
    let Planned {
        name,
        config,
        mut host_config,
    } = planned;
    if let Some(cid) = &o.cidfile {
        host_config.container_id_file = cid.display().to_string();
    }
    let resp = engine.create(CreateOptions {
        name,
        body: CreateBody {
            config,
            host_config,
            networking_config: None,
        },
    })?;
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(cid) = &o.cidfile {
        std::fs::write(cid, &resp.id).with_context(|| {
            format!(
                "failed to write the container ID to the file {}",
                cid.display()
            )
        })?;
    }
    Ok(resp.id)
}

fn detach_keys(given: Option<&str>) -> Result<Vec<u8>> {
    match given {
        None => Ok(Vec::new()),
        Some(k) => terminal::parse_detach_keys(k).map_err(|_| {
            OptionError::Invalid(format!("Invalid detach keys ({k}) provided")).into()
        }),
    }
}

/// Stack of the thread that forks the shim during `run` (the default 2 MiB costs page-table
/// work for nothing).
const HELPER_STACK: usize = 256 << 10;

/// `berth run`.
pub fn run(cli: &Cli, a: &RunArgs) -> Result<i32> {
    let keys = detach_keys(a.detach_keys.as_deref())?;
    // The shim is started first: its exec and start-up overlap the container's creation.
    berth_engine::enter_start_namespace()?;
    berth_sys::timing::mark("private namespace");
    // The shim is forked from a thread of its own while this one opens the database: each
    // takes about a millisecond. (Only the namespace's entry above needs a single thread.)
    let new_netns =
        berth_engine::spec::own_network_namespace(a.opts.network.as_deref().unwrap_or(""));
    let start_shim = || {
        let shim = PendingShim::ahead(&cli.globals.root, &cli.globals.runroot, new_netns)
            .context("starting the container's monitor");
        berth_sys::timing::mark("shim spawned");
        shim
    };
    let (shim, engine) = std::thread::scope(|scope| {
        let forking = std::thread::Builder::new()
            .name("start-shim".into())
            .stack_size(HELPER_STACK)
            .spawn_scoped(scope, start_shim);
        let engine = super::engine(cli);
        let shim = match forking {
            Ok(thread) => thread.join().unwrap_or_else(|_| {
                Err(anyhow::anyhow!("starting the container's monitor failed"))
            }),
            Err(_) => start_shim(),
        };
        (shim, engine)
    });
    let (shim, engine) = (shim?, engine?);
    berth_sys::timing::mark("engine open");
    let mode = if a.detach {
        Mode::RunDetached
    } else {
        Mode::RunForeground
    };
    let planned = plan_container(&a.opts, mode)?;
    ensure_image(cli, &engine, &a.opts)?;
    berth_sys::timing::mark("image ready");
    let id = create_container(&engine, &a.opts, planned)?;
    berth_sys::timing::mark("created");
    if a.detach {
        let started = engine.start(
            &id,
            StartOptions {
                shim: Some(shim),
                ..Default::default()
            },
        );
        if let Err(e) = started {
            if a.opts.rm {
                let _ = engine.remove(
                    &id,
                    RemoveOptions {
                        force: true,
                        volumes: true,
                    },
                );
            }
            return Err(start_failure(e));
        }
        println!("{id}");
        return Ok(0);
    }
    let rec = engine.lookup(&id)?;
    let streams = Streams {
        stdin: rec.config.attach_stdin,
        stdout: rec.config.attach_stdout,
        stderr: rec.config.attach_stderr,
        tty: rec.config.tty,
        sig_proxy: a.sig_proxy,
    };
    let ended = attached_start(&engine, &id, &streams, &keys, Some(shim), Some(rec));
    berth_sys::timing::mark("attached returned");
    match ended {
        Err(e) if a.opts.rm => {
            // A container that never ran is removed as docker's --rm does.
            let _ = engine.remove(
                &id,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
            Err(e)
        }
        other => other,
    }
}

/// Starts `id` with our stdio attached (with `shim` when one was started ahead) and waits for
/// the session's end; returns the exit code.
fn attached_start(
    engine: &Engine,
    id: &str,
    streams: &Streams,
    keys: &[u8],
    shim: Option<PendingShim>,
    record: Option<berth_engine::record::ContainerRecord>,
) -> Result<i32> {
    let stdio = Stdio::new()?;
    let mut session = Session::begin(streams, &stdio)?;
    let started = engine.start(
        id,
        StartOptions {
            attach: Some(stdio.request(streams, keys)),
            shim,
            record,
        },
    );
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            session.end();
            return Err(start_failure(e));
        }
    };
    berth_sys::timing::mark("started");
    let Some(mut control) = started.control else {
        session.end();
        // The engine did not hand back a channel: wait for the exit like `wait`.
        return wait_code(engine, id);
    };
    finish(engine, id, &mut session, &mut control)
}

/// Runs the session; maps its end to our exit code.
fn finish(
    engine: &Engine,
    id: &str,
    session: &mut Session<'_>,
    control: &mut Control,
) -> Result<i32> {
    let ended = session.run(control, &mut |sig| {
        let _ = engine.kill(id, Some(sig.as_str()));
    });
    let ended = ended?;
    berth_sys::timing::mark("session ended");
    // The shim closes the channel right after the exit code, or for `--rm` once the container
    // is removed: like docker, return then, so the name is free again.
    if matches!(ended, Ended::Exit(_)) {
        control.wait_closed();
    }
    berth_sys::timing::mark("closed");
    Ok(match ended {
        Ended::Exit(code) => code,
        Ended::Detached => 0,
        // The shim went away without a word: whatever the engine recorded.
        Ended::Closed => wait_code(engine, id).unwrap_or(125),
    })
}

fn wait_code(engine: &Engine, id: &str) -> Result<i32> {
    let r = engine.wait(id, berth_engine::WaitCondition::NotRunning)?;
    Ok(r.status_code as i32)
}

/// `berth start`.
pub fn start(cli: &Cli, a: &StartArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let keys = detach_keys(a.detach_keys.as_deref())?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let rec = engine.lookup(&a.containers[0])?;
        let streams = Streams {
            stdin: a.interactive && rec.config.open_stdin,
            stdout: true,
            stderr: true,
            tty: rec.config.tty,
            sig_proxy: true,
        };
        let state = engine.state(&rec.id)?;
        if state.status.is_active() {
            // Already running: attach to it.
            return attach_running(&engine, &rec.id, &streams, &keys);
        }
        return attached_start(&engine, &rec.id, &streams, &keys, None, None);
    }
    let mut status = 0;
    for c in &a.containers {
        match engine.start(c, StartOptions::default()) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {}", start_failure(e));
                status = 1;
            }
        }
    }
    if status != 0 {
        eprintln!(
            "Error: failed to start containers: {}",
            a.containers.join(", ")
        );
    }
    Ok(status)
}

fn attach_running(engine: &Engine, id: &str, streams: &Streams, keys: &[u8]) -> Result<i32> {
    let paths = ShimPaths::new(&engine.paths().root, &engine.paths().runroot, id);
    let stdio = Stdio::new()?;
    let mut session = Session::begin(streams, &stdio)?;
    let mut control = match Control::connect(&paths) {
        Ok(c) => c,
        Err(e) => {
            session.end();
            return Err(e).context("attaching to the container");
        }
    };
    if let Err(e) = control.attach(&stdio.request(streams, keys)) {
        session.end();
        return Err(e).context("attaching to the container");
    }
    finish(engine, id, &mut session, &mut control)
}

/// `berth attach`.
pub fn attach(cli: &Cli, a: &AttachArgs) -> Result<i32> {
    let engine = super::engine(cli)?;
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let rec = engine.lookup(&a.container)?;
    let state = engine.state(&rec.id)?;
    if state.status == berth_engine::Status::Paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    if !state.status.is_active() {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let streams = Streams {
        stdin: !a.no_stdin && rec.config.open_stdin,
        stdout: true,
        stderr: true,
        tty: rec.config.tty,
        sig_proxy: a.sig_proxy,
    };
    attach_running(&engine, &rec.id, &streams, &keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn run_pull_output_drops_docker_pull_only_lines() {
        let mut buf = Vec::new();
        {
            let mut w = RunPullOutput::new(
                &mut buf,
                vec![
                    "Using default tag: latest".into(),
                    "docker.io/library/busybox:latest".into(),
                ],
            );
            w.write_all(b"Using default tag: latest\nlatest: Pulling ")
                .unwrap();
            w.write_all(b"from library/busybox\nStatus: ok\ndocker.io/library/busybox:latest\n")
                .unwrap();
            w.write_all(b"partial").unwrap();
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "latest: Pulling from library/busybox\nStatus: ok\npartial"
        );
    }

    #[test]
    fn pull_policy_parses_dockers_values() {
        assert_eq!(PullPolicy::parse("missing").unwrap(), PullPolicy::Missing);
        assert_eq!(PullPolicy::parse("always").unwrap(), PullPolicy::Always);
        assert_eq!(PullPolicy::parse("never").unwrap(), PullPolicy::Never);
        assert!(PullPolicy::parse("sometimes")
            .unwrap_err()
            .to_string()
            .contains("invalid pull option: 'sometimes'"));
    }
}
