//! [`UsageStore`] on the same table: atomic per-user counters in fixed UTC windows.
//!
//! ```text
//! pk             sk               what
//! U#<user>#Q     M#<epoch minute> turns started in that minute  (n; expires 2 min after)
//!                D#<epoch day>    model tokens used that day     (n; expires 2 days after)
//!                A#<epoch day>    attachments made that day (n), of them still pending (p)
//!                F#<slot>         a turn in flight (turn, until: when its invocation dies)
//! ```
//!
//! Requests: admitting a turn with both limits on is two UpdateItems sent together (`ADD n 1`
//! on the minute record, conditional on `n < turns limit`, and `ADD n <reservation>` on the
//! day record, conditional on `n + reservation <= tokens limit`; when one is refused, one
//! more UpdateItem takes back the other); with one limit, one UpdateItem. Reserving more for
//! a further round is one conditional UpdateItem; settling a turn's tokens one UpdateItem
//! `ADD` (negative when it used less than it reserved). Expired windows are removed by the
//! table's TTL, free of charge.
//!
//! A streamed turn also claims a slot: one conditional PutItem (another per slot already
//! held), sent concurrently with its admission, and one conditional DeleteItem when it ends.
//! `attachments.create` is one conditional UpdateItem; a message that uses pending
//! attachments one UpdateItem per day they were made in (one, nearly always).

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use chatkit_store::usage::{first_slot, Windows};
use chatkit_store::{Admission, Limit, StoreResult, Usage, UsageLimits, UsageStore, UserId};

use crate::batch::built;
use crate::error;
use crate::keys::{self, Key, EXPIRES_AT};
use crate::DynamoStore;

/// The count attribute of a usage record.
const COUNT: &str = "n";
/// `n` below the limit (or no record yet).
const BELOW_LIMIT: &str = "attribute_not_exists(#n) OR #n < :limit";

/// `U#<user>#Q`: the user's usage counters.
fn usage_pk(user: &UserId) -> String {
    format!("{}#Q", keys::user_pk(user))
}

fn minute_key(user: &UserId, w: &Windows) -> Key {
    keys::key(usage_pk(user), format!("M#{}", w.minute))
}

fn day_key(user: &UserId, w: &Windows) -> Key {
    keys::key(usage_pk(user), format!("D#{}", w.day))
}

fn attachments_key(user: &UserId, w: &Windows) -> Key {
    keys::key(usage_pk(user), format!("A#{}", w.day))
}

fn slot_key(user: &UserId, slot: u32) -> Key {
    keys::key(usage_pk(user), format!("F#{slot}"))
}

/// The pending count of an attachments record.
const PENDING: &str = "p";

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The `:limit` of [`BELOW_LIMIT`] that lets `n + by` reach `limit` and no further (`None`:
/// `by` alone passes it).
fn room_for(by: u64, limit: u64) -> Option<u64> {
    (by <= limit).then(|| limit - by + 1)
}

impl DynamoStore {
    /// `ADD n :by`, refreshing `expires_at`; with a limit, only while `n < limit`.
    fn add_update(
        &self,
        key: Key,
        by: i64,
        expires_at: u64,
        limit: Option<u64>,
    ) -> StoreResult<Update> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD #n :by SET #exp = :exp")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":by", number(by))
            .expression_attribute_values(":exp", number(expires_at));
        if let Some(limit) = limit {
            update = update
                .condition_expression(BELOW_LIMIT)
                .expression_attribute_values(":limit", number(limit));
        }
        built(update.build())
    }

    /// Sends `update` (built by [`Self::add_update`]); `false` when its condition failed.
    async fn conditional_update(&self, update: Update) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        error::conditional("UpdateItem", result)
    }

    /// Takes back an `ADD` of an admission whose other half was refused or failed. A failure
    /// is logged and left: the counter then errs on the strict side until its window ends.
    async fn undo_add(&self, key: Key, by: i64, expires_at: u64) {
        let undone =
            async { self.conditional_update(self.add_update(key, by, expires_at, None)?).await };
        if let Err(error) = undone.await {
            tracing::warn!(%error, "could not take back half of a refused turn's admission");
        }
    }

    async fn count(&self, key: Key) -> StoreResult<u64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .projection_expression("#n")
            .expression_attribute_names("#n", COUNT)
            .send()
            .await
            .map_err(|e| error::sdk("GetItem", e))?;
        Ok(out.item.and_then(|item| item.get(COUNT)?.as_n().ok()?.parse().ok()).unwrap_or(0))
    }
}

fn epoch(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[async_trait]
impl UsageStore for DynamoStore {
    async fn admit_turn(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission> {
        let w = Windows::at(now);
        let minute_expires = epoch(now) + w.minute_left.as_secs() + 120;
        let day_expires = epoch(now) + w.day_left.as_secs() + 2 * 86_400;
        let reserve = limits.reservation();
        // the day's record: ADD the reservation while it fits (a check alone without one)
        let day_update = |limit: u64| -> StoreResult<Option<Update>> {
            let Some(below) = room_for(reserve.max(1), limit) else { return Ok(None) };
            let by = i64::try_from(reserve).unwrap_or(i64::MAX);
            self.add_update(day_key(user, &w), by, day_expires, Some(below)).map(Some)
        };
        match (limits.turns_per_minute, limits.tokens_per_day) {
            (0, 0) => Ok(Admission::Admitted),
            (0, tokens) => match day_update(tokens)? {
                None => Ok(w.refused(Limit::TokensPerDay)),
                Some(update) => Ok(if self.conditional_update(update).await? {
                    Admission::Admitted
                } else {
                    w.refused(Limit::TokensPerDay)
                }),
            },
            (turns, 0) => {
                let update =
                    self.add_update(minute_key(user, &w), 1, minute_expires, Some(turns))?;
                Ok(if self.conditional_update(update).await? {
                    Admission::Admitted
                } else {
                    w.refused(Limit::TurnsPerMinute)
                })
            }
            (turns, tokens) => {
                let Some(reserve_tokens) = day_update(tokens)? else {
                    return Ok(w.refused(Limit::TokensPerDay));
                };
                let count_turn =
                    self.add_update(minute_key(user, &w), 1, minute_expires, Some(turns))?;
                // two conditional UpdateItems at once, not a transaction: one round trip of
                // plain writes (a transaction bills twice the write units and waits longer);
                // a write that landed while the other was refused is taken back
                let (turn, tokens) = tokio::join!(
                    self.conditional_update(count_turn),
                    self.conditional_update(reserve_tokens)
                );
                let undo = |turn_counted: bool, tokens_reserved: bool| async move {
                    if turn_counted {
                        self.undo_add(minute_key(user, &w), -1, minute_expires).await;
                    }
                    if tokens_reserved && reserve > 0 {
                        let by = i64::try_from(reserve).unwrap_or(i64::MAX);
                        self.undo_add(day_key(user, &w), -by, day_expires).await;
                    }
                };
                match (turn, tokens) {
                    (Ok(true), Ok(true)) => Ok(Admission::Admitted),
                    (Ok(turn_counted), Ok(tokens_reserved)) => {
                        undo(turn_counted, tokens_reserved).await;
                        // both may fail: the day's is the longer wait
                        Ok(w.refused(if tokens_reserved {
                            Limit::TurnsPerMinute
                        } else {
                            Limit::TokensPerDay
                        }))
                    }
                    (Err(e), tokens) => {
                        undo(false, matches!(tokens, Ok(true))).await;
                        Err(e)
                    }
                    (Ok(turn_counted), Err(e)) => {
                        undo(turn_counted, false).await;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn reserve_tokens(
        &self,
        user: &UserId,
        now: SystemTime,
        tokens: u64,
        limits: &UsageLimits,
    ) -> StoreResult<bool> {
        if tokens == 0 {
            return Ok(true);
        }
        let w = Windows::at(now);
        let expires_at = epoch(now) + w.day_left.as_secs() + 2 * 86_400;
        let by = i64::try_from(tokens).unwrap_or(i64::MAX);
        let limit = match limits.tokens_per_day {
            0 => None,
            limit => match room_for(tokens, limit) {
                Some(below) => Some(below),
                None => return Ok(false),
            },
        };
        let update = self.add_update(day_key(user, &w), by, expires_at, limit)?;
        self.conditional_update(update).await
    }

    async fn add_tokens(&self, user: &UserId, now: SystemTime, tokens: i64) -> StoreResult<()> {
        if tokens == 0 {
            return Ok(());
        }
        let w = Windows::at(now);
        let expires_at = epoch(now) + w.day_left.as_secs() + 2 * 86_400;
        let update = self.add_update(day_key(user, &w), tokens, expires_at, None)?;
        self.conditional_update(update).await.map(drop)
    }

    async fn usage(&self, user: &UserId, now: SystemTime) -> StoreResult<Usage> {
        let w = Windows::at(now);
        let (turns, tokens) =
            tokio::join!(self.count(minute_key(user, &w)), self.count(day_key(user, &w)));
        Ok(Usage { turns_this_minute: turns?, tokens_today: tokens? })
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
        let first = u64::from(first_slot(turn, cap));
        let until = epoch(until);
        for i in 0..cap {
            let slot = u32::try_from((first + i) % cap).unwrap_or(0);
            let mut item = slot_key(user, slot);
            item.insert("turn".into(), AttributeValue::S(turn.to_string()));
            item.insert("until".into(), number(until));
            item.insert(EXPIRES_AT.into(), number(until + 3_600));
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#t) OR #u < :now")
                .expression_attribute_names("#t", "turn")
                .expression_attribute_names("#u", "until")
                .expression_attribute_values(":now", number(epoch(now)))
                .send()
                .await;
            if error::conditional("PutItem", result)? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn release_turn(&self, user: &UserId, slot: u32, turn: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(slot_key(user, slot)))
            .condition_expression("#t = :turn")
            .expression_attribute_names("#t", "turn")
            .expression_attribute_values(":turn", AttributeValue::S(turn.to_string()))
            .send()
            .await;
        // taken over after its time ran out: nothing of ours to free
        error::conditional("DeleteItem", result).map(drop)
    }

    async fn admit_attachment(
        &self,
        user: &UserId,
        now: SystemTime,
        limits: &UsageLimits,
    ) -> StoreResult<Admission> {
        let w = Windows::at(now);
        let expires_at = epoch(now) + w.day_left.as_secs() + 2 * 86_400;
        let mut conditions = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(attachments_key(user, &w)))
            .update_expression("ADD #n :one, #p :one SET #exp = :exp")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#p", PENDING)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":exp", number(expires_at));
        if limits.attachments_per_day > 0 {
            conditions.push("(attribute_not_exists(#n) OR #n < :made)");
            update =
                update.expression_attribute_values(":made", number(limits.attachments_per_day));
        }
        if limits.pending_attachments > 0 {
            conditions.push("(attribute_not_exists(#p) OR #p < :pending)");
            update =
                update.expression_attribute_values(":pending", number(limits.pending_attachments));
        }
        if !conditions.is_empty() {
            update = update.condition_expression(conditions.join(" AND "));
        }
        match error::conditional("UpdateItem", update.send().await)? {
            true => Ok(Admission::Admitted),
            false => {
                // which one: the day's count decides (a refusal reads once more)
                let made = self.count(attachments_key(user, &w)).await?;
                let day_spent =
                    limits.attachments_per_day > 0 && made >= limits.attachments_per_day;
                Ok(w.refused(if day_spent {
                    Limit::AttachmentsPerDay
                } else {
                    Limit::PendingAttachments
                }))
            }
        }
    }

    async fn attachments_settled(
        &self,
        user: &UserId,
        made: SystemTime,
        count: u64,
    ) -> StoreResult<()> {
        if count == 0 {
            return Ok(());
        }
        let w = Windows::at(made);
        let by = -i64::try_from(count).unwrap_or(i64::MAX);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(attachments_key(user, &w)))
            .update_expression("ADD #p :by")
            // never below zero (attachments made before this count began)
            .condition_expression("#p >= :count")
            .expression_attribute_names("#p", PENDING)
            .expression_attribute_values(":by", number(by))
            .expression_attribute_values(":count", number(count))
            .send()
            .await;
        error::conditional("UpdateItem", result).map(drop)
    }
}
