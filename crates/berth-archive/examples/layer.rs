//! Manual benchmark and debugging aid:
//! `layer write <dir> <out> [none|gzip|zstd]` and `layer apply <tar> <dir> [overlay|delete]`.

use berth_archive::{apply_layer, write_layer, ApplyOptions, Compression, Whiteouts};
use std::fs::File;
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: layer write <dir> <out> [none|gzip|zstd] | layer apply <tar> <dir> [overlay|delete]";
    if args.len() < 4 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let start = Instant::now();
    let mb = |n: u64| n as f64 / (1 << 20) as f64;
    match args[1].as_str() {
        "write" => {
            let compression = match args.get(4).map(String::as_str) {
                Some("gzip") => Compression::Gzip,
                Some("zstd") => Compression::Zstd,
                _ => Compression::None,
            };
            let out = File::create(&args[3]).expect("create output");
            let w = write_layer(Path::new(&args[2]), out, compression).expect("write layer");
            let secs = start.elapsed().as_secs_f64();
            println!(
                "diff_id {} ({:.1} MiB) digest {} ({:.1} MiB) in {secs:.3}s: {:.0} MiB/s uncompressed",
                w.diff_id,
                mb(w.uncompressed_size),
                w.digest,
                mb(w.size),
                mb(w.uncompressed_size) / secs
            );
        }
        "apply" => {
            let whiteouts = match args.get(4).map(String::as_str) {
                Some("delete") => Whiteouts::Delete,
                _ => Whiteouts::Overlay,
            };
            let input = File::open(&args[2]).expect("open input");
            let opts = ApplyOptions::with_whiteouts(whiteouts);
            let st = apply_layer(input, Path::new(&args[3]), &opts).expect("apply layer");
            let secs = start.elapsed().as_secs_f64();
            println!(
                "diff_id {} ({:.1} MiB) in {secs:.3}s: {:.0} MiB/s uncompressed",
                st.diff_id.expect("diff_id is on by default"),
                mb(st.size),
                mb(st.size) / secs
            );
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
