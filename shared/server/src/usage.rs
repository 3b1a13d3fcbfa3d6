//! Per-user abuse limits: a turn over the user's turns per minute or model tokens per day is
//! refused with 429 before anything is stored or a model is called; the tokens a turn used
//! (as the responder reports them on [`crate::TokenMeter`]) are added when it ends.

use std::sync::Arc;
use std::time::SystemTime;

use chatkit_protocol::Operation;
use chatkit_store::meter;
use chatkit_store::{Admission, Limit, UsageLimits, UsageStore, UserId};
use futures::future::BoxFuture;
use tracing::{info, warn};

use crate::context::{RequestContext, TokenMeter};
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

impl UsageControl {
    /// Counts the turn, or refuses it with 429 and how long to wait.
    pub async fn admit(&self, ctx: &RequestContext) -> Result<(), ChatKitError> {
        match self.counters.admit_turn(&ctx.user, SystemTime::now(), &self.limits).await? {
            Admission::Admitted => Ok(()),
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

    /// Runs a turn's work, then adds the tokens it used to the user's day (also when it
    /// failed; when it is cancelled, the guard records what was counted so far).
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

/// Adds a turn's tokens to the user's day; on drop (a cancelled turn), in the background.
struct Recorder {
    counters: Arc<dyn UsageStore>,
    user: UserId,
    meter: TokenMeter,
    request_id: String,
}

impl Recorder {
    async fn record(&self) {
        let tokens = self.meter.take();
        if tokens == 0 {
            return;
        }
        if let Err(err) = self.counters.add_tokens(&self.user, SystemTime::now(), tokens).await {
            warn!(request_id = %self.request_id, tokens, error = %err, "could not record a turn's model tokens");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let tokens = self.meter.take();
        if tokens == 0 {
            return;
        }
        let (counters, user, request_id) =
            (self.counters.clone(), self.user.clone(), self.request_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(meter::in_current_scope(async move {
                if let Err(err) = counters.add_tokens(&user, SystemTime::now(), tokens).await {
                    warn!(%request_id, tokens, error = %err, "could not record a cancelled turn's model tokens");
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
