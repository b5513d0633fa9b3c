//! Health checks (`Config.Healthcheck`): scheduling, running a probe with berth-runtime's exec in
//! a forked child, and the status docker reports (starting, healthy, unhealthy; last 5 results).

use berth_engine::types::{Health, HealthConfig, HealthcheckResult};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Docker's defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `Health.Log`.
pub const KEEP_RESULTS: usize = 5;
/// Output kept per probe (docker keeps 4 KiB).
pub const MAX_OUTPUT: usize = 4096;

/// A health check's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The command (`CMD-SHELL x` becomes `/bin/sh -c x`).
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
    /// Interval during the start period (0: `interval`).
    pub start_interval: Duration,
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl Check {
    /// The check of a config; `None` when there is none (`[]`, `["NONE"]`, no test).
    pub fn from_config(c: &HealthConfig) -> Option<Check> {
        let test = c.test.as_ref()?;
        let argv = match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 => test[1..].to_vec(),
            Some("CMD-SHELL") if test.len() > 1 => {
                vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]
            }
            _ => return None,
        };
        Some(Check {
            argv,
            interval: dur(c.interval, DEFAULT_INTERVAL),
            timeout: dur(c.timeout, DEFAULT_TIMEOUT),
            retries: if c.retries > 0 {
                c.retries
            } else {
                DEFAULT_RETRIES
            },
            start_period: dur(c.start_period, Duration::ZERO),
            start_interval: dur(c.start_interval, Duration::ZERO),
        })
    }

    /// The wait before the next probe of a container started at `started`.
    pub fn next_wait(&self, started: Instant, now: Instant) -> Duration {
        let in_start_period = now.duration_since(started) < self.start_period;
        if in_start_period && !self.start_interval.is_zero() {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// The health status after a probe ended with `exit_code` (-1: timed out or could not run).
pub fn record(
    health: &mut Health,
    check: &Check,
    in_start_period: bool,
    result: HealthcheckResult,
) {
    let ok = result.exit_code == 0;
    health.log.push(result);
    if health.log.len() > KEEP_RESULTS {
        let extra = health.log.len() - KEEP_RESULTS;
        health.log.drain(..extra);
    }
    if ok {
        health.failing_streak = 0;
        health.status = "healthy".into();
    } else if !in_start_period {
        health.failing_streak += 1;
        if health.failing_streak >= check.retries {
            health.status = "unhealthy".into();
        }
    }
}

/// The health of a freshly started container.
pub fn starting() -> Health {
    Health {
        status: "starting".into(),
        failing_streak: 0,
        log: Vec::new(),
    }
}

/// A probe in flight: the forked child running the exec, its output pipe and deadline.
#[derive(Debug)]
pub struct Probe {
    pub child: Pid,
    pub output: Option<OwnedFd>,
    pub buf: Vec<u8>,
    pub start: String,
    pub deadline: Instant,
}

impl Probe {
    /// Appends what the pipe holds now (up to [`MAX_OUTPUT`]); false at its end.
    pub fn read_output(&mut self) -> bool {
        let Some(fd) = &self.output else {
            return false;
        };
        let mut chunk = [0u8; 1024];
        match nix::unistd::read(fd.as_raw_fd(), &mut chunk) {
            Ok(0) => {
                self.output = None;
                false
            }
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&chunk[..n.min(room)]);
                true
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => true,
            Err(_) => {
                self.output = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn parses_tests() {
        assert_eq!(Check::from_config(&cfg(&["NONE"])), None);
        assert_eq!(Check::from_config(&cfg(&[])), None);
        assert_eq!(Check::from_config(&HealthConfig::default()), None);
        let c = Check::from_config(&cfg(&["CMD-SHELL", "exit 1"])).unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(c.retries, 3);
        let mut h = cfg(&["CMD", "true", "x"]);
        h.interval = 1_000_000;
        h.retries = 1;
        let c = Check::from_config(&h).unwrap();
        assert_eq!(c.argv, ["true", "x"]);
        assert_eq!(c.interval, Duration::from_millis(1));
        assert_eq!(c.retries, 1);
    }

    #[test]
    fn status_follows_results() {
        let c = Check::from_config(&cfg(&["CMD", "x"])).unwrap();
        let r = |code| HealthcheckResult {
            exit_code: code,
            ..Default::default()
        };
        let mut h = starting();
        record(&mut h, &c, true, r(1));
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        record(&mut h, &c, false, r(1));
        record(&mut h, &c, false, r(1));
        assert_eq!(h.status, "starting");
        record(&mut h, &c, false, r(1));
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 3));
        record(&mut h, &c, false, r(0));
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            record(&mut h, &c, false, r(0));
        }
        assert_eq!(h.log.len(), KEEP_RESULTS);
    }
}
