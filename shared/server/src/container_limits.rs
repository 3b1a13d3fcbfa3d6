//! Per-container limits on the requests that call no model, per user and UTC minute:
//! counted in this process's memory, with no DynamoDB request, so a user who floods reads or
//! upload URLs is refused (429) by each warm container on its own. All containers together
//! allow at most their number times the limit; reserved concurrency caps that number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_protocol::Operation;
use chatkit_store::UserId;

use crate::ChatKitError;

/// Past this many users counted in one minute, older minutes' counts are dropped first.
const MAX_TRACKED: usize = 10_000;

/// The per-minute limits; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLimits {
    /// `CHATKIT_REQUESTS_PER_MINUTE`: requests that call no model.
    pub requests_per_minute: u64,
    /// `CHATKIT_ATTACHMENTS_PER_MINUTE`: `attachments.create`.
    pub attachments_per_minute: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Request,
    Attachment,
}

/// The counts, per user and class: `(minute, count)`.
#[derive(Debug, Default)]
pub(crate) struct ContainerMeter {
    counts: Mutex<HashMap<(UserId, Class), (u64, u64)>>,
}

impl ContainerMeter {
    /// Counts `op` for `user`, or refuses it with 429 and the seconds to the next minute.
    /// Operations that call a model are the usage limits' (counted in the table), not these.
    pub fn admit(
        &self,
        limits: &ContainerLimits,
        user: &UserId,
        op: &Operation,
        now: SystemTime,
    ) -> Result<(), ChatKitError> {
        let (class, limit) = match op {
            Operation::CreateAttachment(_) => (Class::Attachment, limits.attachments_per_minute),
            op if crate::usage::calls_a_model(op) => return Ok(()),
            _ => (Class::Request, limits.requests_per_minute),
        };
        if limit == 0 {
            return Ok(());
        }
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let minute = secs / 60;
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_TRACKED {
            counts.retain(|_, (m, _)| *m == minute);
        }
        let entry = counts.entry((user.clone(), class)).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= limit {
            let retry_after = Duration::from_secs(60 - secs % 60).as_secs().max(1);
            let what = match class {
                Class::Request => "requests",
                Class::Attachment => "attachments",
            };
            return Err(ChatKitError::RateLimited {
                message: format!(
                    "Too many {what}: at most {limit} per minute. Try again in {retry_after} s."
                ),
                retry_after,
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chatkit_protocol::{ChatKitRequest, Operation};

    use super::*;

    fn op(json: &str) -> Operation {
        ChatKitRequest::from_slice(json.as_bytes()).unwrap().op
    }

    #[test]
    fn each_user_gets_the_limit_per_minute_and_turns_are_not_counted() {
        let meter = ContainerMeter::default();
        let limits = ContainerLimits { requests_per_minute: 3, attachments_per_minute: 1 };
        let list = op(r#"{"type":"threads.list","params":{}}"#);
        let upload = op(
            r#"{"type":"attachments.create","params":{"name":"a.png","size":1,"mime_type":"image/png"}}"#,
        );
        let turn = op(
            r#"{"type":"threads.create","params":{"input":{"content":[],"attachments":[],"inference_options":{}}}}"#,
        );
        let (ada, bob) = (UserId::new("ada"), UserId::new("bob"));
        let t0 = UNIX_EPOCH + Duration::from_secs(60 * 1000 + 15);
        for _ in 0..3 {
            meter.admit(&limits, &ada, &list, t0).unwrap();
        }
        let err = meter.admit(&limits, &ada, &list, t0).unwrap_err();
        assert!(matches!(&err, ChatKitError::RateLimited { retry_after: 45, .. }), "{err:?}");
        // another user, another class, a model turn: counted apart or not at all
        meter.admit(&limits, &bob, &list, t0).unwrap();
        meter.admit(&limits, &ada, &upload, t0).unwrap();
        assert!(meter.admit(&limits, &ada, &upload, t0).is_err());
        for _ in 0..10 {
            meter.admit(&limits, &ada, &turn, t0).unwrap();
        }
        // the next minute starts over
        meter.admit(&limits, &ada, &list, t0 + Duration::from_secs(45)).unwrap();
        let off = ContainerLimits { requests_per_minute: 0, attachments_per_minute: 0 };
        for _ in 0..10 {
            meter.admit(&off, &ada, &list, t0).unwrap();
        }
    }
}
