//! Measures compiling the default profile against a cache hit (and a cache key alone).
//! Run: `cargo run --release -p berth-seccomp --example seccomp_bench`.

use std::time::{Duration, Instant};

use berth_seccomp::{cache_key, compile, compile_cached_status, default_profile, CacheStatus};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(rounds: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let caps: Vec<String> = berth_seccomp::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    let profile = default_profile(&caps);
    let dir = tempfile::tempdir().expect("temporary directory");

    let filter = compile(&profile).expect("default profile compiles");
    let (_, status) = compile_cached_status(&profile, dir.path()).expect("cache miss");
    assert!(matches!(status, CacheStatus::Miss));

    let build = measure(20, || {
        default_profile(&caps);
    });
    let full = measure(20, || {
        compile(&profile).expect("compile");
    });
    let key = measure(200, || {
        cache_key(&profile).expect("key");
    });
    let hit = measure(200, || {
        let (_, status) = compile_cached_status(&profile, dir.path()).expect("hit");
        assert!(matches!(status, CacheStatus::Hit));
    });
    println!(
        "default profile: {} BPF instructions, {} bytes cached",
        filter.program().len(),
        filter.to_bytes().len()
    );
    println!("default_profile():           {build:?} (median)");
    println!("compile (libseccomp):        {full:?} (median of 20)");
    println!("cache_key (JSON + sha256):   {key:?} (median of 200)");
    println!("compile_cached, hit:         {hit:?} (median of 200)");
    println!(
        "speed-up of a hit:           {:.0}x",
        full.as_secs_f64() / hit.as_secs_f64()
    );
}
