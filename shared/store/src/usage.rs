//! Per-user usage counters, the store capability behind the abuse limits: turns per minute
//! and model tokens per day, each counted atomically in fixed UTC windows (a minute, a day),
//! so every container of the function sees the same numbers.
//!
//! Tokens are reserved before they are used: admitting a turn reserves its first round's
//! worst case (`tokens_per_turn`), a turn that needs more reserves more before its next
//! round ([`UsageStore::reserve_tokens`]), and the end of the turn settles the difference
//! ([`UsageStore::add_tokens`] with what it used minus what it reserved). So however many
//! turns run at once, the day's count stays within the limit but for what the provider
//! reports beyond a round's estimate.

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
    /// Tokens a turn reserves when admitted (its first round's worst case: the input budget
    /// plus the output cap); 0 reserves nothing (the day is only checked).
    pub tokens_per_turn: u64,
    /// Streamed turns one user may have running at once.
    pub turns_in_flight: u64,
    /// `attachments.create` per UTC day.
    pub attachments_per_day: u64,
    /// Attachments made today that no message uses yet (nor were deleted).
    pub pending_attachments: u64,
}

impl UsageLimits {
    pub fn is_off(&self) -> bool {
        self.turns_per_minute == 0
            && self.tokens_per_day == 0
            && self.turns_in_flight == 0
            && self.attachments_per_day == 0
            && self.pending_attachments == 0
    }

    /// What admitting a turn reserves: `tokens_per_turn`, at most the day's limit; nothing
    /// when tokens are not limited.
    pub fn reservation(&self) -> u64 {
        if self.tokens_per_day == 0 {
            0
        } else {
            self.tokens_per_turn.min(self.tokens_per_day)
        }
    }
}

/// What a model round without an output cap is reserved for, as its output.
pub const UNCAPPED_OUTPUT_TOKENS: u64 = 16_384;

/// A model round's worst case, reserved before it is sent: its input plus its output cap.
pub fn round_reservation(input_tokens: u64, max_output_tokens: Option<u32>) -> u64 {
    input_tokens.saturating_add(max_output_tokens.map_or(UNCAPPED_OUTPUT_TOKENS, u64::from))
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    TurnsPerMinute,
    TokensPerDay,
    TurnsInFlight,
    AttachmentsPerDay,
    PendingAttachments,
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
            // a turn ends within seconds to minutes: try again soon
            Limit::TurnsInFlight => Duration::from_secs(5),
            Limit::TokensPerDay | Limit::AttachmentsPerDay | Limit::PendingAttachments => {
                self.day_left
            }
        };
        Admission::Refused { limit, retry_after }
    }
}

/// Per-user usage counters. Every method is scoped by the user, like the [`crate::Store`].
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Admits one turn at `now`: refused, and not counted, when the user already had
    /// `turns_per_minute` turns this minute or today's tokens plus the turn's
    /// [`UsageLimits::reservation`] would pass `tokens_per_day`; otherwise the turn is
    /// counted and its reservation added to the day, atomically with the check.
    async fn admit_turn(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission>;

    /// Reserves `tokens` more of `now`'s day, atomically, if that stays within
    /// `tokens_per_day` (a limit of 0: always); whether it did.
    async fn reserve_tokens(
        &self,
        user: &UserId,
        now: SystemTime,
        tokens: u64,
        limits: &UsageLimits,
    ) -> StoreResult<bool>;

    /// Adds `tokens` to the user's day at `now` (negative: gives back what was reserved and
    /// not used).
    async fn add_tokens(&self, user: &UserId, now: SystemTime, tokens: i64) -> StoreResult<()>;

    /// The user's counters at `now`.
    async fn usage(&self, user: &UserId, now: SystemTime) -> StoreResult<Usage>;

    /// Claims one of the user's `turns_in_flight` slots for `turn` until `until` (when the
    /// invocation is killed at the latest; a slot held past it is free again, so a crashed
    /// turn never keeps one): the slot, or `None` when all are held.
    async fn claim_turn(
        &self,
        user: &UserId,
        turn: &str,
        now: SystemTime,
        until: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Option<u32>>;

    /// Frees `slot` if `turn` still holds it.
    async fn release_turn(&self, user: &UserId, slot: u32, turn: &str) -> StoreResult<()>;

    /// Counts one `attachments.create` at `now`, made and pending: refused, and not counted,
    /// past `attachments_per_day` or `pending_attachments`.
    async fn admit_attachment(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission>;

    /// `count` attachments made on `made`'s day are no longer pending (a message used them,
    /// or they were deleted).
    async fn attachments_settled(
        &self,
        user: &UserId,
        made: SystemTime,
        count: u64,
    ) -> StoreResult<()>;
}

/// Which of `cap` slots a turn tries first (then the next ones, wrapping): spread by its id,
/// so concurrent turns rarely try the same one.
pub fn first_slot(turn: &str, cap: u64) -> u32 {
    let hash = turn
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    u32::try_from(hash % cap.max(1)).unwrap_or(0)
}

/// [`UsageStore`] in memory (tests, single-process use).
#[derive(Debug, Default)]
pub struct MemoryUsage {
    /// (user, "M"/"D"/"A" (made)/"P" (pending), window) → count
    counters: Mutex<HashMap<(UserId, char, u64), u64>>,
    /// (user, slot) → (turn, until)
    slots: Mutex<HashMap<(UserId, u32), (String, SystemTime)>>,
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
        let reserve = limits.reservation();
        if limits.tokens_per_day > 0
            && tokens.saturating_add(reserve.max(1)) > limits.tokens_per_day
        {
            return Ok(w.refused(Limit::TokensPerDay));
        }
        if limits.turns_per_minute > 0 && turns >= limits.turns_per_minute {
            return Ok(w.refused(Limit::TurnsPerMinute));
        }
        if limits.turns_per_minute > 0 {
            *counters.entry((user.clone(), 'M', w.minute)).or_default() += 1;
        }
        if reserve > 0 {
            *counters.entry((user.clone(), 'D', w.day)).or_default() += reserve;
        }
        Ok(Admission::Admitted)
    }

    async fn reserve_tokens(
        &self,
        user: &UserId,
        now: SystemTime,
        tokens: u64,
        limits: &UsageLimits,
    ) -> StoreResult<bool> {
        let w = Windows::at(now);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let day = counters.entry((user.clone(), 'D', w.day)).or_default();
        if limits.tokens_per_day > 0 && day.saturating_add(tokens) > limits.tokens_per_day {
            return Ok(false);
        }
        *day += tokens;
        Ok(true)
    }

    async fn add_tokens(&self, user: &UserId, now: SystemTime, tokens: i64) -> StoreResult<()> {
        let w = Windows::at(now);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let day = counters.entry((user.clone(), 'D', w.day)).or_default();
        *day = day.saturating_add_signed(tokens);
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

    async fn claim_turn(
        &self,
        user: &UserId,
        turn: &str,
        now: SystemTime,
        until: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Option<u32>> {
        let cap = limits.turns_in_flight;
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = u64::from(first_slot(turn, cap));
        for i in 0..cap {
            let slot = u32::try_from((first + i) % cap).unwrap_or(0);
            let key = (user.clone(), slot);
            if slots.get(&key).is_none_or(|(_, held_until)| *held_until < now) {
                slots.insert(key, (turn.to_string(), until));
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn release_turn(&self, user: &UserId, slot: u32, turn: &str) -> StoreResult<()> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.get(&(user.clone(), slot)).is_some_and(|(held_by, _)| held_by == turn) {
            slots.remove(&(user.clone(), slot));
        }
        Ok(())
    }

    async fn admit_attachment(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission> {
        let w = Windows::at(now);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let made = counters.get(&(user.clone(), 'A', w.day)).copied().unwrap_or(0);
        let pending = counters.get(&(user.clone(), 'P', w.day)).copied().unwrap_or(0);
        if limits.attachments_per_day > 0 && made >= limits.attachments_per_day {
            return Ok(w.refused(Limit::AttachmentsPerDay));
        }
        if limits.pending_attachments > 0 && pending >= limits.pending_attachments {
            return Ok(w.refused(Limit::PendingAttachments));
        }
        *counters.entry((user.clone(), 'A', w.day)).or_default() += 1;
        *counters.entry((user.clone(), 'P', w.day)).or_default() += 1;
        Ok(Admission::Admitted)
    }

    async fn attachments_settled(
        &self,
        user: &UserId,
        made: SystemTime,
        count: u64,
    ) -> StoreResult<()> {
        let w = Windows::at(made);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = counters.entry((user.clone(), 'P', w.day)).or_default();
        *pending = pending.saturating_sub(count);
        Ok(())
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
