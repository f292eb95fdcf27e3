//! Retry delays: exponential backoff with jitter, bounded by the kind's maximum.
//! Pure arithmetic; the random part comes in as a parameter so tests can pin it.

use std::time::Duration;

use crate::catalog::RetryPolicy;

/// Share of the delay that jitter may add or take away (±25 %).
pub const JITTER: f64 = 0.25;

/// Delay before the attempt after `attempt` (1-based) failed: `base · 2^(attempt-1)`, capped at
/// `max`, then scaled by a factor in `[1 - JITTER, 1 + JITTER]` chosen by `unit` (0..=1).
pub fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(62);
    let raw = (policy.backoff_base.as_secs_f64() * 2f64.powi(exp as i32))
        .min(policy.backoff_max.as_secs_f64());
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
    Duration::from_secs_f64((raw * factor).max(0.0))
}

/// `backoff` with the process's random source.
pub fn backoff_random(policy: &RetryPolicy, attempt: u32) -> Duration {
    backoff(policy, attempt, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }

    #[test]
    fn doubles_each_attempt_without_jitter() {
        let mid = 0.5; // factor 1.0
        let got: Vec<u64> = (1..=7)
            .map(|a| backoff(&policy(), a, mid).as_secs())
            .collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60]);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let p = policy();
        assert_eq!(backoff(&p, 3, 0.0), Duration::from_secs(3));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn huge_attempt_numbers_are_capped() {
        assert_eq!(backoff(&policy(), 10_000, 0.5), Duration::from_secs(60));
    }
}
