//! A budget for log events that a client can repeat at will, such as failed logins, so a
//! client retrying with a wrong key in a loop cannot flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications that both fronts log per window, and the window.
const AUTH_FAILURES_PER_WINDOW: u32 = 20;
const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

static AUTH_FAILURE_LOG: LogBudget = LogBudget::new(AUTH_FAILURES_PER_WINDOW, AUTH_FAILURE_WINDOW);

/// Runs `log` for a failed authentication unless the window's budget is spent. The first
/// event of a new window first logs how many events the previous window left out.
pub fn log_auth_failure(log: impl FnOnce()) {
    if let Some(left_out) = AUTH_FAILURE_LOG.admit(Instant::now()) {
        if left_out > 0 {
            tracing::warn!(
                left_out,
                window_secs = AUTH_FAILURE_WINDOW.as_secs(),
                max_logged = AUTH_FAILURES_PER_WINDOW,
                "failed authentications left out of the log in the previous window"
            );
        }
        log();
    }
}

/// Admits at most `per_window` events per window of `window`, counting the others.
struct LogBudget {
    per_window: u32,
    window: Duration,
    state: Mutex<BudgetState>,
}

struct BudgetState {
    started: Option<Instant>,
    logged: u32,
    left_out: u64,
}

impl LogBudget {
    const fn new(per_window: u32, window: Duration) -> LogBudget {
        LogBudget {
            per_window,
            window,
            state: Mutex::new(BudgetState {
                started: None,
                logged: 0,
                left_out: 0,
            }),
        }
    }

    /// Returns `None` when the event is over budget, else `Some` with the number of
    /// events left out of the previous window when this one starts a new window, and 0
    /// otherwise.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut left_out_before = 0;
        let expired = state
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= self.window);
        if expired {
            left_out_before = state.left_out;
            *state = BudgetState {
                started: Some(now),
                logged: 0,
                left_out: 0,
            };
        }
        if state.logged < self.per_window {
            state.logged += 1;
            Some(left_out_before)
        } else {
            state.left_out += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_admits_per_window_and_reports_the_rest() {
        let budget = LogBudget::new(2, Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(budget.admit(start), Some(0));
        assert_eq!(budget.admit(start + Duration::from_secs(1)), Some(0));
        assert_eq!(budget.admit(start + Duration::from_secs(2)), None);
        assert_eq!(budget.admit(start + Duration::from_secs(59)), None);

        let next_window = start + Duration::from_secs(60);
        assert_eq!(budget.admit(next_window), Some(2));
        assert_eq!(budget.admit(next_window), Some(0));
        assert_eq!(budget.admit(next_window), None);
        assert_eq!(
            budget.admit(next_window + Duration::from_secs(120)),
            Some(1)
        );
    }
}
