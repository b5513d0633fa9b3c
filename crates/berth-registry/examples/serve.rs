//! A standalone registry for benchmarks and conformance runs (the product entry point is
//! `berth registry serve`): `serve --addr A --root R [--htpasswd F] [--tls-cert C --tls-key K]
//! [--gc-interval SECS]`.

use berth_registry::{ServeOptions, Server};
use std::io::Write;

fn main() {
    let mut opts = ServeOptions {
        addr: "127.0.0.1:5000".into(),
        root: "/tmp/berth-registry".into(),
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--addr" => opts.addr = val(),
            "--root" => opts.root = val().into(),
            "--htpasswd" => opts.htpasswd = Some(val().into()),
            "--tls-cert" => opts.tls_cert = Some(val().into()),
            "--tls-key" => opts.tls_key = Some(val().into()),
            "--gc-interval" => {
                opts.gc_interval = Some(std::time::Duration::from_secs(val().parse().unwrap()))
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let server = match Server::bind(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    if let Err(e) = server.run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
