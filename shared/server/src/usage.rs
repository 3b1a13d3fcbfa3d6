//! Per-user abuse limits: a turn over the user's turns per minute or model tokens per day is
//! refused with 429 before anything is stored or a model is called. Admission reserves the
//! turn's first round (`UsageLimits::tokens_per_turn`), the responder reserves more before a
//! further round ([`crate::TokenMeter::ensure`]), and the end of the turn settles what it used
//! (as the responder reports it on the meter) against what it reserved.

use std::sync::Arc;
use std::time::SystemTime;

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
    /// Counts the turn and reserves its first round's tokens, or refuses it with 429 and how
    /// long to wait.
    pub async fn admit(&self, ctx: &RequestContext) -> Result<(), ChatKitError> {
        let now = SystemTime::now();
        match self.counters.admit_turn(&ctx.user, now, &self.limits).await? {
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
        let Some((tokens, at)) = self.take() else { return };
        if let Err(err) = self.counters.add_tokens(&self.user, at, tokens).await {
            warn!(request_id = %self.request_id, tokens, error = %err, "could not settle a turn's model tokens");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let Some((tokens, at)) = self.take() else { return };
        let (counters, user, request_id) =
            (self.counters.clone(), self.user.clone(), self.request_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(meter::in_current_scope(async move {
                if let Err(err) = counters.add_tokens(&user, at, tokens).await {
                    warn!(%request_id, tokens, error = %err, "could not settle a cancelled turn's model tokens");
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
