//! top: the container's processes. As docker does: the pids come from the container's cgroup,
//! the columns from the host's `ps` (`-ef` unless told otherwise), whose rows are kept when
//! their PID column is one of those pids.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::Status;
use crate::types::TopResponse;

/// Keeps the rows of `ps` output whose PID column is in `pids`.
pub fn filter_ps(output: &str, pids: &[i32]) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        return Err(EngineError::Invalid(
            "Couldn't find PID field in ps output".into(),
        ));
    };
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

impl Engine {
    /// `docker top`: `ps_args` as docker's (`-ef` when empty).
    pub fn top(&self, reference: &str, ps_args: &str) -> Result<TopResponse> {
        let rec = self.lookup(reference)?;
        let st = self.reconciled_state(&rec.id)?;
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Err(EngineError::NotRunning(rec.id));
        }
        let pids = self.runtime().pids(&rec.id).map_err(EngineError::runtime(
            "listing the processes of container",
            &rec.id,
        ))?;
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(EngineError::io("running", "ps"))?;
        if !out.status.success() {
            return Err(EngineError::Invalid(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_container_rows() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 1000\n";
        let t = filter_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][1], "42");
        assert_eq!(t.processes[0][7], "sleep 1000");
        assert!(filter_ps("A B\n", &[1]).is_err());
    }
}
