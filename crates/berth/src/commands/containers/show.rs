//! Output of `stats`, `top` and `port`, in docker's shapes.

use crate::format::{ExecOptions, Formatter};
use crate::table::TabWriter;
use crate::units;
use anyhow::{bail, Result};
use serde_json::{json, Value};

/// One sample of a container's usage, as `stats` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    /// Full container ID.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// CPU percent of one CPU (100% = one CPU busy), from two readings.
    pub cpu_percent: f64,
    /// Memory in use (bytes, page cache excluded as docker does).
    pub mem_usage: u64,
    /// Memory limit (bytes; the host's memory when unlimited).
    pub mem_limit: u64,
    /// Network bytes received / sent.
    pub net_rx: u64,
    pub net_tx: u64,
    /// Block I/O bytes read / written.
    pub blk_read: u64,
    pub blk_write: u64,
    /// Number of processes.
    pub pids: u64,
}

impl StatsSample {
    /// Percent of the limit in use.
    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            0.0
        } else {
            self.mem_usage as f64 / self.mem_limit as f64 * 100.0
        }
    }
}

/// A sample from the engine's Engine-API `Stats` (docker's CLI arithmetic: memory without the
/// inactive page cache, CPU from the `precpu` -> `cpu` deltas, I/O summed over devices).
pub fn sample_from_stats(s: &berth_engine::types::Stats) -> StatsSample {
    let cache = s
        .memory_stats
        .stats
        .get("total_inactive_file")
        .or_else(|| s.memory_stats.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let mem_usage = s.memory_stats.usage.saturating_sub(cache);
    let cpu_delta = s
        .cpu_stats
        .cpu_usage
        .total_usage
        .saturating_sub(s.precpu_stats.cpu_usage.total_usage);
    let sys_delta = s
        .cpu_stats
        .system_cpu_usage
        .unwrap_or(0)
        .saturating_sub(s.precpu_stats.system_cpu_usage.unwrap_or(0));
    let cpus = s.cpu_stats.online_cpus.unwrap_or(1).max(1);
    let cpu_percent = if sys_delta > 0 {
        cpu_delta as f64 / sys_delta as f64 * f64::from(cpus) * 100.0
    } else {
        0.0
    };
    let (mut net_rx, mut net_tx) = (0, 0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        net_rx += n.rx_bytes;
        net_tx += n.tx_bytes;
    }
    let (mut blk_read, mut blk_write) = (0, 0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => blk_read += e.value,
            "write" => blk_write += e.value,
            _ => {}
        }
    }
    StatsSample {
        id: s.id.clone(),
        name: s.name.trim_start_matches('/').to_string(),
        cpu_percent,
        mem_usage,
        mem_limit: s.memory_stats.limit,
        net_rx,
        net_tx,
        blk_read,
        blk_write,
        pids: s.pids_stats.current,
    }
}

/// The `--format` fields of one stats row.
pub fn stats_row(s: &StatsSample, no_trunc: bool) -> Value {
    let id = if no_trunc {
        s.id.clone()
    } else {
        s.id.chars().take(12).collect()
    };
    json!({
        "ID": id,
        "Container": id,
        "Name": s.name,
        "CPUPerc": format!("{:.2}%", s.cpu_percent),
        "MemUsage": format!(
            "{} / {}",
            units::bytes_size(s.mem_usage as f64),
            units::bytes_size(s.mem_limit as f64)
        ),
        "MemPerc": format!("{:.2}%", s.mem_percent()),
        "NetIO": format!(
            "{} / {}",
            units::human_size_with_precision(s.net_rx as f64, 3),
            units::human_size_with_precision(s.net_tx as f64, 3)
        ),
        "BlockIO": format!(
            "{} / {}",
            units::human_size_with_precision(s.blk_read as f64, 3),
            units::human_size_with_precision(s.blk_write as f64, 3)
        ),
        "PIDs": s.pids.to_string(),
    })
}

/// Headers of the stats fields.
pub const STATS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Docker's default stats table.
pub const STATS_DEFAULT: &str = "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";

/// Renders one stats screen.
pub fn render_stats(
    samples: &[StatsSample],
    format: Option<&str>,
    no_trunc: bool,
) -> Result<String> {
    let rows: Vec<Value> = samples.iter().map(|s| stats_row(s, no_trunc)).collect();
    let f = Formatter::new(format.unwrap_or(""), STATS_DEFAULT)?;
    Ok(f.render(&rows, STATS_HEADERS, &ExecOptions::default())?)
}

/// `stats`: one table (`--no-stream`), or a table redrawn every second (ANSI clear screen, as
/// docker does) until interrupted. `sample` returns the current samples (it is called again
/// each second); when it fails, the error ends the loop.
pub fn stats_loop(
    no_stream: bool,
    format: Option<&str>,
    no_trunc: bool,
    sample: &mut dyn FnMut() -> Result<Vec<StatsSample>>,
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout();
    if no_stream {
        let text = render_stats(&sample()?, format, no_trunc)?;
        out.write_all(text.as_bytes())?;
        return Ok(());
    }
    loop {
        let started = std::time::Instant::now();
        let text = render_stats(&sample()?, format, no_trunc)?;
        out.write_all(b"\x1b[2J\x1b[H")?;
        out.write_all(text.as_bytes())?;
        out.flush()?;
        let spent = started.elapsed();
        if spent < std::time::Duration::from_secs(1) {
            std::thread::sleep(std::time::Duration::from_secs(1) - spent);
        }
    }
}

/// `top` output: titles and process rows aligned as docker's CLI does
/// (`tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`).
pub fn render_top(titles: &[String], processes: &[Vec<String>]) -> String {
    let mut w = TabWriter::new(20, 3, ' ');
    w.write(&titles.join("\t"));
    w.write("\n");
    for p in processes {
        w.write(&p.join("\t"));
        w.write("\n");
    }
    w.finish()
}

/// `port` output from inspect's `NetworkSettings.Ports` (`{"80/tcp": [{"HostIp", "HostPort"}]}`):
/// every mapping as `80/tcp -> 0.0.0.0:8080`, or only those of `want` (`80` or `80/udp`).
pub fn render_port(container: &str, ports: &Value, want: Option<&str>) -> Result<String> {
    let want = match want {
        Some(w) => {
            let (p, proto) = w.split_once('/').unwrap_or((w, "tcp"));
            if p.parse::<u16>().is_err() {
                bail!(
                    "Error: invalid port ({p}): strconv.ParseUint: parsing {p:?}: invalid syntax"
                );
            }
            Some(format!("{p}/{proto}"))
        }
        None => None,
    };
    let mut keys: Vec<(&String, &Value)> = ports
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    keys.sort_by_key(|(k, _)| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut out = String::new();
    for (port, bindings) in keys {
        if want.as_ref().is_some_and(|w| w != port) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            let hp = b["HostPort"].as_str().unwrap_or("");
            let addr = if ip.contains(':') {
                format!("[{ip}]:{hp}")
            } else {
                format!("{ip}:{hp}")
            };
            if want.is_some() {
                out.push_str(&format!("{addr}\n"));
            } else {
                out.push_str(&format!("{port} -> {addr}\n"));
            }
        }
    }
    if let Some(w) = want {
        if out.is_empty() {
            bail!("No public port '{w}' published for {container}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_table() {
        let s = StatsSample {
            id: "f".repeat(64),
            name: "web".into(),
            cpu_percent: 12.345,
            mem_usage: 1024 * 1024 * 3 / 2,
            mem_limit: 64 * 1024 * 1024,
            pids: 3,
            ..Default::default()
        };
        let out = render_stats(&[s], None, false).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"
        );
        assert_eq!(
            lines[1],
            "ffffffffffff   web       12.35%    1.5MiB / 64MiB      2.34%     0B / 0B   0B / 0B     3"
        );
        let out = render_stats(
            &[StatsSample {
                name: "x".into(),
                ..Default::default()
            }],
            Some("{{.Name}}: {{.CPUPerc}}"),
            false,
        )
        .unwrap();
        assert_eq!(out, "x: 0.00%\n");
    }

    #[test]
    fn sample_arithmetic() {
        use berth_engine::types::*;
        let mut st = Stats {
            id: "abc".into(),
            name: "/web".into(),
            ..Default::default()
        };
        st.memory_stats.usage = 1000;
        st.memory_stats.limit = 4000;
        st.memory_stats
            .stats
            .insert("total_inactive_file".into(), 200);
        st.cpu_stats.cpu_usage.total_usage = 300;
        st.precpu_stats.cpu_usage.total_usage = 100;
        st.cpu_stats.system_cpu_usage = Some(2000);
        st.precpu_stats.system_cpu_usage = Some(1000);
        st.cpu_stats.online_cpus = Some(2);
        st.blkio_stats.io_service_bytes_recursive = Some(vec![
            BlkioEntry {
                op: "Read".into(),
                value: 7,
                ..Default::default()
            },
            BlkioEntry {
                op: "write".into(),
                value: 9,
                ..Default::default()
            },
        ]);
        st.pids_stats.current = 4;
        let s = sample_from_stats(&st);
        assert_eq!(s.name, "web");
        assert_eq!(s.mem_usage, 800);
        assert_eq!(s.mem_percent(), 20.0);
        assert_eq!(s.cpu_percent, 40.0);
        assert_eq!((s.blk_read, s.blk_write, s.pids), (7, 9, 4));
    }

    #[test]
    fn top_table() {
        let out = render_top(
            &["UID".into(), "PID".into(), "CMD".into()],
            &[vec!["root".into(), "42".into(), "sleep 100".into()]],
        );
        assert_eq!(
            out,
            "UID                 PID                 CMD\nroot                42                  sleep 100\n"
        );
    }

    #[test]
    fn port_lines() {
        let ports = json!({
            "443/tcp": null,
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        });
        assert_eq!(
            render_port("c", &ports, None).unwrap(),
            "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
        );
        assert_eq!(
            render_port("c", &ports, Some("80")).unwrap(),
            "0.0.0.0:8080\n[::]:8080\n"
        );
        assert_eq!(
            render_port("c", &ports, Some("443"))
                .unwrap_err()
                .to_string(),
            "No public port '443/tcp' published for c"
        );
    }
}
