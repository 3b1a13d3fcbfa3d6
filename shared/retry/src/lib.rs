//! The one retry and backoff policy, used wherever something is tried again: DynamoDB batch
//! leftovers, model calls before their first token, secret and JWKS fetches after a failure.
//!
//! Waits double from `first` up to `max`, with "equal jitter": half of each wait is fixed and
//! half is random, so containers that failed together do not retry together, and a wait is
//! never shorter than half, nor longer than the whole, of its exponential step.

use std::time::{Duration, Instant};

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The step before the first retry.
    pub first: Duration,
    /// The largest step.
    pub max: Duration,
}

impl Backoff {
    /// Steps of `first`, doubling, capped at `max` (at least `first`).
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The exponential step before retry `retry` (1 is the first retry), without jitter:
    /// `first`, `2 × first`, … at most `max`; zero for retry 0.
    pub fn step(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let exponent = (retry - 1).min(20);
        self.first.saturating_mul(1 << exponent).min(self.max.max(self.first))
    }

    /// The wait before retry `retry`: half of [`Backoff::step`], plus a random part of up to
    /// the other half.
    pub fn delay(&self, retry: u32) -> Duration {
        let step = self.step(retry);
        let half = step / 2;
        let nanos = u64::try_from((step - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// Sleeps [`Backoff::delay`] of `retry` (nothing for retry 0).
    pub async fn sleep(&self, retry: u32) {
        let delay = self.delay(retry);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether a fetch that failed may be tried again yet: the consecutive failures, when the
/// last attempt was, and the backoff wait drawn when it failed. Caches of remote values
/// (secrets, key sets) keep one and ask it before fetching.
#[derive(Debug)]
pub struct Attempts {
    backoff: Backoff,
    /// The last attempt, successful or not.
    pub last: Option<Instant>,
    /// Consecutive failures.
    pub failures: u32,
    /// The last failure's message, until a success.
    pub last_error: Option<String>,
    wait: Duration,
}

impl Attempts {
    pub fn new(backoff: Backoff) -> Self {
        Self { backoff, last: None, failures: 0, last_error: None, wait: Duration::ZERO }
    }

    /// Changes the backoff (the next failure uses it).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Whether a failure backoff is running at `now`.
    pub fn backing_off(&self, now: Instant) -> bool {
        self.failures > 0
            && self.last.is_some_and(|at| now.saturating_duration_since(at) < self.wait)
    }

    /// Whether at least `interval` passed since the last attempt.
    pub fn quiet_for(&self, interval: Duration, now: Instant) -> bool {
        self.last.is_none_or(|at| now.saturating_duration_since(at) >= interval)
    }

    /// Records an attempt at `now`: a success clears the failures, a failure draws the next
    /// wait.
    pub fn record(&mut self, now: Instant, outcome: Result<(), &str>) {
        self.last = Some(now);
        match outcome {
            Ok(()) => {
                self.failures = 0;
                self.last_error = None;
                self.wait = Duration::ZERO;
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(err.to_string());
                self.wait = self.backoff.delay(self.failures);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn steps_double_up_to_the_cap() {
        let b = Backoff::new(SECOND, 60 * SECOND);
        let steps: Vec<u64> = (0..9).map(|n| b.step(n).as_secs()).collect();
        assert_eq!(steps, [0, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.step(u32::MAX), 60 * SECOND);
    }

    #[test]
    fn delays_are_jittered_within_the_upper_half_of_each_step() {
        let b = Backoff::new(Duration::from_millis(100), SECOND);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(3)).collect();
        assert!(delays
            .iter()
            .all(|d| (Duration::from_millis(200)..=Duration::from_millis(400)).contains(d)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 50, "jitter spreads the waits: {} distinct", distinct.len());
        assert_eq!(b.delay(0), Duration::ZERO);
    }

    #[test]
    fn attempts_back_off_after_failures_and_reset_on_success() {
        let mut a = Attempts::new(Backoff::new(SECOND, 60 * SECOND));
        let t0 = Instant::now();
        assert!(!a.backing_off(t0));
        a.record(t0, Err("down"));
        assert!(a.backing_off(t0 + Duration::from_millis(499)));
        assert!(!a.backing_off(t0 + SECOND));
        for _ in 0..10 {
            a.record(t0, Err("down"));
        }
        assert!(a.backing_off(t0 + Duration::from_secs(29)));
        assert!(!a.backing_off(t0 + Duration::from_secs(60)));
        assert_eq!(a.last_error.as_deref(), Some("down"));
        a.record(t0, Ok(()));
        assert!(!a.backing_off(t0));
        assert_eq!((a.failures, a.last_error.as_deref()), (0, None));
        assert!(a.quiet_for(SECOND, t0 + SECOND) && !a.quiet_for(SECOND, t0));
    }
}
