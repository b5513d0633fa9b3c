//! Docker's human STATUS text of a container (`Up 3 seconds (healthy)`, `Exited (0) 2 seconds
//! ago`, `Created`), from the inspect `State` object (Engine API JSON).

use crate::units;
use serde_json::Value;
use std::time::Duration;

/// Unix seconds of an RFC 3339 time; `None` for Go's zero time (`0001-01-01T00:00:00Z`), an
/// empty string or garbage.
pub fn time_of(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    if s.is_empty() || s.starts_with("0001-01-01") {
        return None;
    }
    units::parse_rfc3339(s).map(|(secs, _)| secs)
}

fn ago(from: i64, now: i64) -> String {
    units::human_duration(Duration::from_secs(now.saturating_sub(from).max(0) as u64))
}

/// Docker's `State.String()`: `state` is inspect's `State` object; `now` unix seconds.
pub fn status_text(state: &Value, now: i64) -> String {
    let flag = |k: &str| state.get(k).and_then(Value::as_bool).unwrap_or(false);
    let code = state.get("ExitCode").and_then(Value::as_i64).unwrap_or(0);
    let started = time_of(&state["StartedAt"]);
    let finished = time_of(&state["FinishedAt"]);
    if flag("Running") {
        let up = ago(started.unwrap_or(now), now);
        if flag("Paused") {
            return format!("Up {up} (Paused)");
        }
        if flag("Restarting") {
            return format!(
                "Restarting ({code}) {} ago",
                ago(finished.unwrap_or(now), now)
            );
        }
        if let Some(h) = state.get("Health").filter(|h| h.is_object()) {
            let s = h.get("Status").and_then(Value::as_str).unwrap_or("");
            match s {
                "starting" => return format!("Up {up} (health: starting)"),
                "" | "none" => {}
                other => return format!("Up {up} ({other})"),
            }
        }
        return format!("Up {up}");
    }
    if flag("Restarting") {
        return format!(
            "Restarting ({code}) {} ago",
            ago(finished.unwrap_or(now), now)
        );
    }
    if state.get("Status").and_then(Value::as_str) == Some("removing") {
        return "Removal In Progress".into();
    }
    if flag("Dead") {
        return "Dead".into();
    }
    let Some(_) = started else {
        return "Created".into();
    };
    let Some(finished) = finished else {
        return String::new();
    };
    format!("Exited ({code}) {} ago", ago(finished, now))
}

/// Docker's `State.StateString()`: `created`, `running`, `paused`, `restarting`, `removing`,
/// `exited` or `dead`.
#[cfg(test)]
pub fn state_word(state: &Value) -> String {
    if let Some(s) = state.get("Status").and_then(Value::as_str) {
        if !s.is_empty() {
            return s.to_string();
        }
    }
    let flag = |k: &str| state.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("Running") {
        if flag("Paused") {
            "paused"
        } else if flag("Restarting") {
            "restarting"
        } else {
            "running"
        }
    } else if flag("Dead") {
        "dead"
    } else if time_of(&state["StartedAt"]).is_none() {
        "created"
    } else {
        "exited"
    }
    .into()
}

/// Health word of a state: `starting`, `healthy`, `unhealthy` or `none`.
pub fn health_word(state: &Value) -> String {
    state
        .get("Health")
        .and_then(|h| h.get("Status"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("none")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn t(secs_before: i64) -> String {
        units::rfc3339_utc(NOW - secs_before)
    }

    #[test]
    fn created_running_exited() {
        let zero = "0001-01-01T00:00:00Z";
        assert_eq!(
            status_text(&json!({"StartedAt": zero, "FinishedAt": zero}), NOW),
            "Created"
        );
        assert_eq!(
            status_text(&json!({"Running": true, "StartedAt": t(3)}), NOW),
            "Up 3 seconds"
        );
        assert_eq!(
            status_text(
                &json!({"Running": false, "StartedAt": t(10), "FinishedAt": t(2), "ExitCode": 0}),
                NOW
            ),
            "Exited (0) 2 seconds ago"
        );
        assert_eq!(
            status_text(
                &json!({"Running": false, "StartedAt": t(100), "FinishedAt": t(0), "ExitCode": 137}),
                NOW
            ),
            "Exited (137) Less than a second ago"
        );
    }

    #[test]
    fn health_and_pause() {
        let s = json!({"Running": true, "StartedAt": t(5), "Health": {"Status": "healthy"}});
        assert_eq!(status_text(&s, NOW), "Up 5 seconds (healthy)");
        let s = json!({"Running": true, "StartedAt": t(5), "Health": {"Status": "starting"}});
        assert_eq!(status_text(&s, NOW), "Up 5 seconds (health: starting)");
        let s = json!({"Running": true, "Paused": true, "StartedAt": t(120)});
        assert_eq!(status_text(&s, NOW), "Up 2 minutes (Paused)");
        assert_eq!(
            state_word(&json!({"Running": true, "Paused": true})),
            "paused"
        );
        assert_eq!(state_word(&json!({"Status": "exited"})), "exited");
        assert_eq!(health_word(&json!({})), "none");
    }

    #[test]
    fn restarting() {
        let s = json!({"Running": true, "Restarting": true, "ExitCode": 1, "StartedAt": t(9), "FinishedAt": t(1)});
        assert_eq!(status_text(&s, NOW), "Restarting (1) 1 second ago");
    }
}
