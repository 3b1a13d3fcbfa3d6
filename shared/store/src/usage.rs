//! Per-user usage counters, the store capability behind the abuse limits: turns per minute
//! and model tokens per day, each counted atomically in fixed UTC windows (a minute, a day),
//! so every container of the function sees the same numbers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::{StoreResult, UserId};

/// The limits one user is held to; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageLimits {
    /// Turns (requests that make the model answer) per UTC minute.
    pub turns_per_minute: u64,
    /// Model tokens (input + output, as the provider reports them) per UTC day.
    pub tokens_per_day: u64,
}

impl UsageLimits {
    pub fn is_off(&self) -> bool {
        self.turns_per_minute == 0 && self.tokens_per_day == 0
    }
}

/// Which limit refused a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    TurnsPerMinute,
    TokensPerDay,
}

/// Whether a turn may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted; go ahead.
    Admitted,
    /// Not counted; the window ends after `retry_after`.
    Refused { limit: Limit, retry_after: Duration },
}

/// A user's counters in the current windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub turns_this_minute: u64,
    pub tokens_today: u64,
}

/// The UTC minute and day of `now`, and the time left in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub minute: u64,
    pub day: u64,
    pub minute_left: Duration,
    pub day_left: Duration,
}

impl Windows {
    pub fn at(now: SystemTime) -> Self {
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Self {
            minute: secs / 60,
            day: secs / 86_400,
            minute_left: Duration::from_secs(60 - secs % 60),
            day_left: Duration::from_secs(86_400 - secs % 86_400),
        }
    }

    /// The refusal for `limit`.
    pub fn refused(&self, limit: Limit) -> Admission {
        let retry_after = match limit {
            Limit::TurnsPerMinute => self.minute_left,
            Limit::TokensPerDay => self.day_left,
        };
        Admission::Refused { limit, retry_after }
    }
}

/// Per-user usage counters. Every method is scoped by the user, like the [`crate::Store`].
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Admits one turn at `now`: refused, and not counted, when the user already had
    /// `turns_per_minute` turns this minute or reached `tokens_per_day` tokens today;
    /// otherwise counted, atomically with the check.
    async fn admit_turn(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission>;

    /// Adds the model tokens a turn used to the user's day.
    async fn add_tokens(&self, user: &UserId, now: SystemTime, tokens: u64) -> StoreResult<()>;

    /// The user's counters at `now`.
    async fn usage(&self, user: &UserId, now: SystemTime) -> StoreResult<Usage>;
}

/// [`UsageStore`] in memory (tests, single-process use).
#[derive(Debug, Default)]
pub struct MemoryUsage {
    /// (user, "M"/"D", window) → count
    counters: Mutex<HashMap<(UserId, char, u64), u64>>,
}

impl MemoryUsage {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UsageStore for MemoryUsage {
    async fn admit_turn(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission> {
        let w = Windows::at(now);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let turns = counters.get(&(user.clone(), 'M', w.minute)).copied().unwrap_or(0);
        let tokens = counters.get(&(user.clone(), 'D', w.day)).copied().unwrap_or(0);
        if limits.tokens_per_day > 0 && tokens >= limits.tokens_per_day {
            return Ok(w.refused(Limit::TokensPerDay));
        }
        if limits.turns_per_minute > 0 && turns >= limits.turns_per_minute {
            return Ok(w.refused(Limit::TurnsPerMinute));
        }
        if limits.turns_per_minute > 0 {
            *counters.entry((user.clone(), 'M', w.minute)).or_default() += 1;
        }
        Ok(Admission::Admitted)
    }

    async fn add_tokens(&self, user: &UserId, now: SystemTime, tokens: u64) -> StoreResult<()> {
        let w = Windows::at(now);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counters.entry((user.clone(), 'D', w.day)).or_default() += tokens;
        Ok(())
    }

    async fn usage(&self, user: &UserId, now: SystemTime) -> StoreResult<Usage> {
        let w = Windows::at(now);
        let counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Usage {
            turns_this_minute: counters.get(&(user.clone(), 'M', w.minute)).copied().unwrap_or(0),
            tokens_today: counters.get(&(user.clone(), 'D', w.day)).copied().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_utc_minutes_and_days() {
        let at = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_600 + 125);
        let w = Windows::at(at);
        assert_eq!((w.minute, w.day), ((86_400 * 3 + 3_600 + 125) / 60, 3));
        assert_eq!(w.minute_left, Duration::from_secs(55));
        assert_eq!(w.day_left, Duration::from_secs(86_400 - 3_725));
    }
}
