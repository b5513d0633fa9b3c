//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`) and their backoff.

use berth_engine::types::RestartPolicy;
use std::time::Duration;

/// The first delay before a restart; it doubles at each restart in a row.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// A container that ran this long is considered healthy: the delay starts over.
pub const RESET_AFTER: Duration = Duration::from_secs(10);
/// The longest delay between restarts (docker caps at one minute).
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Whether a container that exited with `exit_code` is restarted.
///
/// `restart_count` is how many restarts were already done; `manually_stopped` is set by
/// `stop`/`kill`, which no policy overrides.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    restart_count: i64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count <= 0 || restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// The backoff state between restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The delay before the next restart of a container that ran for `ran`; doubles the one after.
    pub fn delay(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let d = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, n: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: n,
        }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&p("", 0), 1, 0, false));
        assert!(!should_restart(&p("no", 0), 1, 0, false));
        assert!(should_restart(&p("always", 0), 0, 99, false));
        assert!(!should_restart(&p("always", 0), 0, 0, true));
        assert!(should_restart(&p("unless-stopped", 0), 0, 0, false));
        assert!(!should_restart(&p("unless-stopped", 0), 0, 0, true));
        assert!(!should_restart(&p("on-failure", 0), 0, 0, false));
        assert!(should_restart(&p("on-failure", 0), 3, 100, false));
        assert!(should_restart(&p("on-failure", 2), 3, 1, false));
        assert!(!should_restart(&p("on-failure", 2), 3, 2, false));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.delay(short), Duration::from_millis(100));
        assert_eq!(b.delay(short), Duration::from_millis(200));
        assert_eq!(b.delay(short), Duration::from_millis(400));
        assert_eq!(b.delay(Duration::from_secs(11)), Duration::from_millis(100));
        for _ in 0..20 {
            b.delay(short);
        }
        assert_eq!(b.delay(short), MAX_DELAY);
    }
}
