//! Times the container-start cgroup path: open + create + apply_resources + add_process +
//! destroy, on the host's real hierarchies (root only). `cargo run --release --example cycle [N]`.

use std::time::Instant;

use berth_cgroups::{open, CgroupConfig};
use berth_oci::oci_spec::runtime::LinuxResources;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let r: LinuxResources = serde_json::from_str(
        r#"{"memory": {"limit": 67108864}, "cpu": {"shares": 512}, "pids": {"limit": 100},
            "devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}"#,
    )
    .expect("resources");
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id() as i32;
    let start = Instant::now();
    let mut phases = [std::time::Duration::ZERO; 5];
    for i in 0..n {
        let mut t = Instant::now();
        let mut lap = |k: usize| {
            phases[k] += t.elapsed();
            t = Instant::now();
        };
        let id = format!("berth-cycle-{}-{i}", std::process::id());
        let cg = open(&CgroupConfig {
            path: "",
            container_id: &id,
            systemd: false,
            root: None,
        })
        .expect("open");
        lap(0);
        cg.create().expect("create");
        lap(1);
        cg.apply_resources(&r).expect("apply");
        lap(2);
        cg.add_process(pid).expect("add_process");
        lap(3);
        // Leave before destroying: move the sleeper on to the next iteration's cgroup by
        // killing it only at the end; here destroy must fail on a populated cgroup, so the
        // sleeper goes back to the root cgroups first.
        for p in cg.paths() {
            let root = p.ancestors().nth(2).expect("hierarchy root");
            let _ = std::fs::write(root.join("cgroup.procs"), pid.to_string());
        }
        cg.destroy().expect("destroy");
        lap(4);
    }
    let per = start.elapsed() / n;
    let _ = child.kill();
    let _ = child.wait();
    println!("{n} cycles, {per:?} per open+create+apply+add_process+destroy");
    for (name, d) in ["open", "create", "apply", "add_process", "leave+destroy"]
        .iter()
        .zip(phases)
    {
        println!("  {name:14} {:?}", d / n);
    }
}
