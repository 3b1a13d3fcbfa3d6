//! Per-user abuse limits: a turn over the user's turns per minute or model tokens per day is
//! refused with 429 before anything is stored or a model is called. Admission reserves the
//! turn's first round (`UsageLimits::tokens_per_turn`), the responder reserves more before a
//! further round ([`crate::TokenMeter::ensure`]), and the end of the turn settles what it used
//! (as the responder reports it on the meter) against what it reserved.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chatkit_protocol::Operation;
use chatkit_store::meter;
use chatkit_store::{Admission, Limit, UsageLimits, UsageStore, UserId};
use futures::future::BoxFuture;
use tracing::{info, warn};

use crate::context::{RequestContext, TokenMeter, TokenReserver};
use crate::error::{ChatKitError, StreamError};

/// The counters and the limits a server holds users to.
#[derive(Clone)]
pub(crate) struct UsageControl {
    pub counters: Arc<dyn UsageStore>,
    pub limits: UsageLimits,
}

/// Operations that make a model work: every streamed turn and action, and dictation.
pub(crate) fn calls_a_model(op: &Operation) -> bool {
    op.is_streaming() || matches!(op, Operation::Transcribe(_))
}

/// A streamed turn's in-flight slot.
enum Claim {
    /// No limit on turns in flight (or not a streamed turn).
    NotNeeded,
    /// Every slot is held.
    Full,
    Held(u32),
}

/// Reserves more of one user's day for one turn.
struct DayReserver {
    counters: Arc<dyn UsageStore>,
    user: UserId,
    limits: UsageLimits,
    request_id: String,
}

#[async_trait::async_trait]
impl TokenReserver for DayReserver {
    async fn reserve(&self, tokens: u64) -> bool {
        match self
            .counters
            .reserve_tokens(&self.user, SystemTime::now(), tokens, &self.limits)
            .await
        {
            Ok(granted) => granted,
            Err(err) => {
                // the day cannot be checked: the turn stops rather than spend unchecked
                warn!(request_id = %self.request_id, tokens, error = %err, "could not reserve a turn's further tokens");
                false
            }
        }
    }
}

impl UsageControl {
    /// Counts the turn and reserves its first round's tokens, and for a `streamed` turn
    /// claims one of the user's in-flight slots (concurrently, freed when the turn ends); or
    /// refuses it with 429 and how long to wait, having counted and claimed nothing.
    pub async fn admit(&self, ctx: &RequestContext, streamed: bool) -> Result<(), ChatKitError> {
        let now = SystemTime::now();
        let claim = async {
            if !streamed || self.limits.turns_in_flight == 0 {
                return Ok(Claim::NotNeeded);
            }
            // a slot is held until the invocation would be killed (15 min without a deadline)
            let left = ctx.deadline.map_or(Duration::from_secs(900), |d| {
                d.saturating_duration_since(std::time::Instant::now())
            });
            let (user, turn) = (&ctx.user, ctx.request_id.as_str());
            let claimed = self.counters.claim_turn(user, turn, now, now + left, &self.limits).await;
            claimed.map(|slot| slot.map_or(Claim::Full, Claim::Held))
        };
        let (admission, claim) =
            tokio::join!(self.counters.admit_turn(&ctx.user, now, &self.limits), claim);
        let admission = match (admission, claim) {
            (Ok(Admission::Admitted), Ok(Claim::Full)) => {
                self.undo(ctx, true, None, now).await;
                Admission::Refused {
                    limit: Limit::TurnsInFlight,
                    retry_after: Duration::from_secs(5),
                }
            }
            (Ok(refused @ Admission::Refused { .. }), Ok(Claim::Held(slot))) => {
                self.undo(ctx, false, Some(slot), now).await;
                refused
            }
            (Ok(admission), Ok(claim)) => {
                if let Claim::Held(slot) = claim {
                    self.hold(ctx, slot);
                }
                admission
            }
            (Ok(admission), Err(err)) => {
                self.undo(ctx, admission == Admission::Admitted, None, now).await;
                return Err(err.into());
            }
            (Err(err), claim) => {
                let slot = match claim {
                    Ok(Claim::Held(slot)) => Some(slot),
                    _ => None,
                };
                self.undo(ctx, false, slot, now).await;
                return Err(err.into());
            }
        };
        match admission {
            Admission::Admitted if self.limits.reservation() == 0 => Ok(()),
            Admission::Admitted => {
                let reserver = Arc::new(DayReserver {
                    counters: self.counters.clone(),
                    user: ctx.user.clone(),
                    limits: self.limits,
                    request_id: ctx.request_id.clone(),
                });
                ctx.tokens.start_reservation(self.limits.reservation(), reserver, now);
                Ok(())
            }
            Admission::Refused { limit, retry_after } => {
                let retry_after = retry_after.as_secs().max(1);
                let message = match limit {
                    Limit::TurnsPerMinute => format!(
                        "Too many messages: at most {} per minute. Try again in {retry_after} s.",
                        self.limits.turns_per_minute
                    ),
                    Limit::TurnsInFlight => format!(
                        "Too many replies at once: at most {} may run at the same time. Wait for one to finish.",
                        self.limits.turns_in_flight
                    ),
                    Limit::AttachmentsPerDay | Limit::PendingAttachments => {
                        unreachable!("not a turn's limit")
                    }
                    Limit::TokensPerDay => {
                        format!(
                            "You have used today's assistant allowance. It renews in {}.",
                            hours_and_minutes(retry_after)
                        )
                    }
                };
                info!(request_id = %ctx.request_id, limit = ?limit, retry_after, "turn refused by a usage limit");
                Err(ChatKitError::RateLimited { message, retry_after })
            }
        }
    }

    /// Gives back what a refused turn's half-done admission took: the day's reservation of an
    /// admitted turn, a claimed slot.
    async fn undo(&self, ctx: &RequestContext, admitted: bool, slot: Option<u32>, now: SystemTime) {
        let reserved = self.limits.reservation();
        if admitted && reserved > 0 {
            let tokens = -i64::try_from(reserved).unwrap_or(i64::MAX);
            if let Err(err) = self.counters.add_tokens(&ctx.user, now, tokens).await {
                warn!(request_id = %ctx.request_id, error = %err, "could not give back a refused turn's reservation");
            }
        }
        if let Some(slot) = slot {
            if let Err(err) = self.counters.release_turn(&ctx.user, slot, &ctx.request_id).await {
                warn!(request_id = %ctx.request_id, error = %err, "could not free a refused turn's slot");
            }
        }
    }

    /// Frees the turn's slot when it ends.
    fn hold(&self, ctx: &RequestContext, slot: u32) {
        let (counters, user, turn) =
            (self.counters.clone(), ctx.user.clone(), ctx.request_id.clone());
        ctx.tokens.on_end(Box::new(move || {
            Box::pin(async move {
                if let Err(err) = counters.release_turn(&user, slot, &turn).await {
                    warn!(request_id = %turn, error = %err, "could not free a turn's in-flight slot; it frees itself at the turn's deadline");
                }
            })
        }));
    }

    /// Counts an `attachments.create`, or refuses it with 429.
    pub async fn admit_attachment(&self, ctx: &RequestContext) -> Result<(), ChatKitError> {
        if self.limits.attachments_per_day == 0 && self.limits.pending_attachments == 0 {
            return Ok(());
        }
        match self.counters.admit_attachment(&ctx.user, SystemTime::now(), &self.limits).await? {
            Admission::Admitted => Ok(()),
            Admission::Refused { limit, retry_after } => {
                let retry_after = retry_after.as_secs().max(1);
                let message = if limit == Limit::AttachmentsPerDay {
                    format!(
                        "Too many attachments today: at most {} per day. It renews in {}.",
                        self.limits.attachments_per_day,
                        hours_and_minutes(retry_after)
                    )
                } else {
                    format!(
                        "Too many attachments waiting to be sent: at most {}. Send or remove some first.",
                        self.limits.pending_attachments
                    )
                };
                info!(request_id = %ctx.request_id, limit = ?limit, retry_after, "attachment refused by a usage limit");
                Err(ChatKitError::RateLimited { message, retry_after })
            }
        }
    }

    /// `attachments` (made by the caller) are no longer pending: counted off the day each
    /// was made (the time in its id).
    pub async fn attachments_settled(&self, ctx: &RequestContext, attachments: &[&str]) {
        if self.limits.pending_attachments == 0 {
            return;
        }
        let mut days: std::collections::BTreeMap<u64, (SystemTime, u64)> = Default::default();
        for id in attachments {
            let made = chatkit_store::ids::created_at(id).unwrap_or_else(SystemTime::now);
            let day = chatkit_store::usage::Windows::at(made).day;
            days.entry(day).or_insert((made, 0)).1 += 1;
        }
        for (made, count) in days.into_values() {
            if let Err(err) = self.counters.attachments_settled(&ctx.user, made, count).await {
                warn!(request_id = %ctx.request_id, error = %err, "could not count attachments as sent");
            }
        }
    }

    /// Settles a request's tokens now: what it used minus what it reserved.
    pub async fn settle(&self, ctx: &RequestContext) {
        Recorder {
            counters: self.counters.clone(),
            user: ctx.user.clone(),
            meter: ctx.tokens.clone(),
            request_id: ctx.request_id.clone(),
        }
        .record()
        .await;
    }

    /// Runs a turn's work, then settles its tokens with the user's day: what it used minus
    /// what it reserved (also when it failed; when it is cancelled, the guard does).
    pub fn metered(
        &self,
        ctx: &RequestContext,
        work: BoxFuture<'static, Result<(), StreamError>>,
    ) -> BoxFuture<'static, Result<(), StreamError>> {
        let guard = Recorder {
            counters: self.counters.clone(),
            user: ctx.user.clone(),
            meter: ctx.tokens.clone(),
            request_id: ctx.request_id.clone(),
        };
        Box::pin(async move {
            let result = work.await;
            guard.record().await;
            result
        })
    }
}

fn hours_and_minutes(secs: u64) -> String {
    let (hours, minutes) = (secs / 3600, (secs % 3600).div_ceil(60));
    match (hours, minutes) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Settles a turn's tokens with the user's day (what it used minus what it reserved, on the
/// day it reserved them); on drop (a cancelled turn), in the background.
struct Recorder {
    counters: Arc<dyn UsageStore>,
    user: UserId,
    meter: TokenMeter,
    request_id: String,
}

impl Recorder {
    /// The difference still to record, and the day it belongs to (leaving nothing to record).
    fn take(&self) -> Option<(i64, SystemTime)> {
        let used = i64::try_from(self.meter.take()).unwrap_or(i64::MAX);
        let (reserved, at) = self.meter.take_reserved();
        let delta = used.saturating_sub(i64::try_from(reserved).unwrap_or(i64::MAX));
        (delta != 0).then(|| (delta, at.unwrap_or_else(SystemTime::now)))
    }

    async fn record(&self) {
        if let Some((tokens, at)) = self.take() {
            if let Err(err) = self.counters.add_tokens(&self.user, at, tokens).await {
                warn!(request_id = %self.request_id, tokens, error = %err, "could not settle a turn's model tokens");
            }
        }
        if let Some(end) = self.meter.take_on_end() {
            end().await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let settle = self.take();
        let end = self.meter.take_on_end();
        if settle.is_none() && end.is_none() {
            return;
        }
        let (counters, user, request_id) =
            (self.counters.clone(), self.user.clone(), self.request_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(meter::in_current_scope(async move {
                if let Some((tokens, at)) = settle {
                    if let Err(err) = counters.add_tokens(&user, at, tokens).await {
                        warn!(%request_id, tokens, error = %err, "could not settle a cancelled turn's model tokens");
                    }
                }
                if let Some(end) = end {
                    end().await;
                }
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_read_naturally() {
        assert_eq!(super::hours_and_minutes(59), "1 min");
        assert_eq!(super::hours_and_minutes(3600), "1 h");
        assert_eq!(super::hours_and_minutes(3 * 3600 + 61), "3 h 2 min");
    }
}
