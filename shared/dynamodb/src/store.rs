//! The [`Store`] implementation. Request counts per call (see also the module docs of
//! [`crate::threads`]): load_thread 1, load_thread_items 1 (2 for a cursor page that stops
//! short of the end of the thread), create_thread(_once) 1, save_thread 1, list_threads 1,
//! save_item(_once) 1, complete_item 1, release_key 1, load_item 1 (a TransactGetItems of
//! the head and the item), delete_items ⌈n/25⌉, attachments 1 each, save_feedback 1,
//! delete_thread 1 (the tombstone; thread cleanup does the rest, see [`crate::purge`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Get, TransactGetItem, TransactWriteItem, Update};
use chatkit_protocol::{Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata};
use chatkit_store::ids::sort_key;
use chatkit_store::{
    AttachmentRecords, Backend, FeedbackStore, IdempotencyKey, PageRequest, StoreError,
    StoreResult, ThreadStore, ThreadWithItems, TurnControl, UserId, MAX_FEEDBACK_ITEMS,
};

use crate::batch::{built, ALIVE, EXISTS, MAX_TRANSACTION_ACTIONS};
use crate::error::{self, Cancelled};
use crate::keys::{self, THREAD_HEAD, THREAD_TAIL};
use crate::records;
use crate::DynamoStore;

/// Maps a cancelled transaction whose only condition is "the thread is alive".
fn thread_missing(thread_id: &str) -> impl FnOnce(Cancelled) -> StoreError + '_ {
    move |c| match c {
        Cancelled::ConditionFailed(_) => StoreError::thread_not_found(thread_id),
        Cancelled::Other(e) => e,
    }
}

impl DynamoStore {
    /// The actions of a new thread: both metadata copies and the first items (one record per
    /// item id: the last item with an id wins). Room is left for an idempotency record.
    fn create_actions(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let ulid = keys::thread_ulid_for_write(&thread.id)?;
        let pk = keys::thread_pk(user, ulid);
        let expires_at = self.expires_at();
        // A transaction may touch a record once: the last item with an id wins.
        let mut by_key = BTreeMap::new();
        for item in items {
            by_key.insert(keys::item_ulid_for_write(item.id())?, item);
        }
        if by_key.len() + 3 > MAX_TRANSACTION_ACTIONS {
            return Err(StoreError::Internal(format!(
                "create_thread writes at most {} first items in its one transaction, got {}",
                MAX_TRANSACTION_ACTIONS - 3,
                by_key.len()
            )));
        }
        let mut actions = Vec::with_capacity(by_key.len() + 2);
        for record in records::thread_records(user, ulid, thread, expires_at)? {
            actions.push(self.put_action(record)?);
        }
        for item in by_key.into_values() {
            actions.push(self.put_action(records::item_record(&pk, item, expires_at)?)?);
        }
        Ok(actions)
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> u64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

/// `Duplicate` when the failed condition is the idempotency claim at position `claim`.
fn duplicate(failed: &[(usize, Option<records::Item>)], claim: usize) -> Option<StoreError> {
    failed.iter().find(|(i, _)| *i == claim).map(|(_, held)| {
        let (thread_id, item_id) = held.as_ref().map(records::once_holder).unwrap_or_default();
        StoreError::Duplicate { thread_id, item_id }
    })
}

#[async_trait]
impl ThreadStore for DynamoStore {
    async fn load_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<ThreadMetadata> {
        self.thread(user, thread_id).await
    }

    async fn load_thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems> {
        self.thread_items(user, thread_id, page).await
    }

    /// One TransactWriteItems: both metadata copies and the items (at most 97 items).
    async fn create_thread(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<()> {
        let actions = self.create_actions(user, thread, items)?;
        self.transact(actions).await.map_err(thread_missing(&thread.id))
    }

    /// One TransactWriteItems putting both metadata copies, each only over an existing one
    /// (the head only while the thread has no tombstone): a late title or rename never
    /// re-creates a deleted thread.
    async fn save_thread(&self, user: &UserId, thread: &ThreadMetadata) -> StoreResult<()> {
        let ulid = keys::thread_ulid_for_write(&thread.id)?;
        let [head, tail] = records::thread_records(user, ulid, thread, self.expires_at())?;
        let actions = vec![self.put_if_action(head, ALIVE)?, self.put_if_action(tail, EXISTS)?];
        self.transact(actions).await.map_err(thread_missing(&thread.id))
    }

    async fn list_threads(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>> {
        self.threads(user, page).await
    }

    /// One TransactWriteItems putting the tombstone (`deleted_at`) on both metadata copies and
    /// taking the head out of the thread list: from then on the thread is gone for every read
    /// and write. Thread cleanup (`functions/cleanup`, fed by the table's stream) deletes the
    /// partition and the thread's attachments, the head last. Deleting a thread that is
    /// already being deleted is fine; one that does not exist (or was cleaned up) is NotFound.
    async fn delete_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<()> {
        let ulid = sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, ulid);
        let actions = vec![
            self.tombstone_action(&pk, THREAD_HEAD)?,
            self.tombstone_action(&pk, THREAD_TAIL)?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(Cancelled::ConditionFailed(failed)) => match failed.iter().find(|(i, _)| *i == 0) {
                Some((_, Some(head))) if records::is_tombstone(head) => Ok(()),
                _ => Err(StoreError::thread_not_found(thread_id)),
            },
            Err(Cancelled::Other(e)) => Err(e),
        }
    }

    /// `functions/cleanup` purges a tombstoned thread, attachments included.
    fn purges_deleted_threads_later(&self) -> bool {
        true
    }

    /// One TransactGetItems of the thread's head and the item, so an item of a thread being
    /// deleted (or of another user's thread) is not found.
    async fn load_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<ThreadItem> {
        let not_found = || StoreError::item_not_found(item_id);
        let (thread_ulid, item_ulid) =
            sort_key(thread_id).zip(sort_key(item_id)).ok_or_else(not_found)?;
        let pk = keys::thread_pk(user, thread_ulid);
        let get = |sk: String| -> StoreResult<TransactGetItem> {
            let get = built(
                Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::key(pk.as_str(), sk)))
                    .build(),
            )?;
            Ok(TransactGetItem::builder().get(get).build())
        };
        let out = self
            .client
            .transact_get_items()
            .transact_items(get(THREAD_HEAD.to_string())?)
            .transact_items(get(keys::item_sk(item_ulid))?)
            .send()
            .await
            .map_err(|e| error::sdk("TransactGetItems", e))?;
        let mut responses = out.responses.unwrap_or_default().into_iter().map(|r| r.item);
        let (head, item) = (responses.next().flatten(), responses.next().flatten());
        match (head, item) {
            (Some(head), Some(item)) if !records::is_tombstone(&head) => {
                records::decode_item(item_ulid, item)
            }
            _ => Err(not_found()),
        }
    }

    /// One TransactWriteItems: a check that the thread exists (refreshing its TTL when
    /// retention is on), and the upsert. A user can therefore never create items in a thread
    /// they do not have.
    async fn save_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        keys::item_ulid_for_write(item.id())?;
        let thread_ulid =
            sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, thread_ulid);
        let expires_at = self.expires_at();
        let mut actions = self.thread_alive_actions(&pk, expires_at)?;
        actions.push(self.put_action(records::item_record(&pk, item, expires_at)?)?);
        self.transact(actions).await.map_err(thread_missing(thread_id))
    }

    /// One TransactWriteItems: the thread check and the put, conditional on the stored item
    /// still being pending (its `state` attribute), so one of concurrent completions wins.
    async fn complete_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        keys::item_ulid_for_write(item.id())?;
        let thread_ulid =
            sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, thread_ulid);
        let expires_at = self.expires_at();
        let mut actions = self.thread_alive_actions(&pk, expires_at)?;
        let checks = actions.len();
        actions.push(self.complete_action(records::item_record(&pk, item, expires_at)?)?);
        self.transact(actions).await.map_err(|c| match c {
            Cancelled::ConditionFailed(failed) => match failed.iter().find(|(i, _)| *i == checks) {
                _ if failed.iter().any(|(i, _)| *i < checks) => {
                    StoreError::thread_not_found(thread_id)
                }
                Some((_, Some(_))) => {
                    StoreError::Conflict { kind: "item", id: item.id().to_string() }
                }
                _ => StoreError::item_not_found(item.id()),
            },
            Cancelled::Other(e) => e,
        })
    }

    /// BatchWriteItem deletes, 25 per request; ids without a ULID are ignored.
    async fn delete_items(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
    ) -> StoreResult<()> {
        let Some(thread_ulid) = sort_key(thread_id) else { return Ok(()) };
        let pk = keys::thread_pk(user, thread_ulid);
        let ulids: BTreeSet<&str> = item_ids.iter().filter_map(|id| sort_key(id)).collect();
        let keys = ulids.into_iter().map(|u| keys::key(pk.as_str(), keys::item_sk(u))).collect();
        self.batch_delete(keys).await
    }
}

#[async_trait]
impl TurnControl for DynamoStore {
    /// [`Store::create_thread`]'s transaction plus the idempotency record: still one request.
    async fn create_thread_once(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        let mut actions = self.create_actions(user, thread, items)?;
        let first = items.first().map(chatkit_protocol::ThreadItem::id).unwrap_or_default();
        let now = now_ms();
        actions.push(
            self.claim_action(records::once_record(user, key, &thread.id, first, now)?, now)?,
        );
        let claim = actions.len() - 1;
        self.transact(actions).await.map_err(|c| match c {
            Cancelled::ConditionFailed(failed) => duplicate(&failed, claim)
                .unwrap_or_else(|| StoreError::thread_not_found(&thread.id)),
            Cancelled::Other(e) => e,
        })
    }

    /// [`Store::save_item`]'s transaction plus the idempotency record: still one request.
    async fn save_item_once(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        keys::item_ulid_for_write(item.id())?;
        let thread_ulid =
            sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, thread_ulid);
        let expires_at = self.expires_at();
        let mut actions = self.thread_alive_actions(&pk, expires_at)?;
        actions.push(self.put_action(records::item_record(&pk, item, expires_at)?)?);
        let now = now_ms();
        actions.push(
            self.claim_action(records::once_record(user, key, thread_id, item.id(), now)?, now)?,
        );
        let claim = actions.len() - 1;
        self.transact(actions).await.map_err(|c| match c {
            Cancelled::ConditionFailed(failed) => {
                duplicate(&failed, claim).unwrap_or_else(|| StoreError::thread_not_found(thread_id))
            }
            Cancelled::Other(e) => e,
        })
    }

    /// One DeleteItem.
    async fn release_key(&self, user: &UserId, key: &IdempotencyKey) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::once_pk(user), key.key.as_str())))
            .send()
            .await
            .map(drop)
            .map_err(|e| error::sdk("DeleteItem", e))
    }

    /// One PutItem, expiring by TTL an hour later.
    async fn request_cancel(&self, user: &UserId, turn_id: &str) -> StoreResult<()> {
        if !chatkit_store::is_turn_id(turn_id) {
            return Err(StoreError::InvalidId {
                kind: "turn",
                id: turn_id.chars().take(64).collect(),
            });
        }
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + 3600;
        let mut record = keys::key(keys::cancel_pk(user), turn_id);
        record.insert(keys::EXPIRES_AT.to_string(), AttributeValue::N(expires.to_string()));
        self.put(record).await
    }

    /// One eventually consistent GetItem (half the read cost of a consistent one).
    async fn is_cancelled(&self, user: &UserId, turn_id: &str) -> StoreResult<bool> {
        if !chatkit_store::is_turn_id(turn_id) {
            return Ok(false);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::cancel_pk(user), turn_id)))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| error::sdk("GetItem", e))?;
        Ok(out.item.is_some())
    }
}

#[async_trait]
impl AttachmentRecords for DynamoStore {
    /// One PutItem.
    async fn save_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        self.put(records::attachment_record(user, attachment, self.expires_at())?).await
    }

    /// One GetItem (consistent).
    async fn load_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<Attachment> {
        let not_found = || StoreError::attachment_not_found(attachment_id);
        if !keys::usable_sk_id(attachment_id) {
            return Err(not_found());
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::attachments_pk(user), attachment_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::sdk("GetItem", e))?;
        records::decode_attachment(attachment_id, out.item.ok_or_else(not_found)?)
    }

    /// One conditional DeleteItem.
    async fn delete_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<()> {
        let not_found = || StoreError::attachment_not_found(attachment_id);
        if !keys::usable_sk_id(attachment_id) {
            return Err(not_found());
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::attachments_pk(user), attachment_id)))
            .condition_expression(EXISTS)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(not_found())
            }
            Err(e) => Err(error::sdk("DeleteItem", e)),
        }
    }
}

#[async_trait]
impl FeedbackStore for DynamoStore {
    /// One TransactWriteItems: a check that the thread is alive, and an update setting
    /// `feedback` on each rated item, conditional on the item existing. So feedback never
    /// lands in a thread the user does not have, nor on an item that is not there (nothing is
    /// written then), and it goes with its item when the item is deleted.
    async fn save_feedback(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> StoreResult<()> {
        let thread_ulid =
            sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, thread_ulid);
        let ids: BTreeSet<&str> = item_ids.iter().map(String::as_str).collect();
        if ids.len() > MAX_FEEDBACK_ITEMS {
            return Err(StoreError::TooLarge {
                what: "feedback request",
                size: ids.len(),
                limit: MAX_FEEDBACK_ITEMS,
            });
        }
        let kind = match kind {
            FeedbackKind::Positive => "positive",
            FeedbackKind::Negative => "negative",
        };
        let mut actions = vec![self.thread_exists_action(&pk)?];
        let mut targets = Vec::with_capacity(ids.len());
        for id in ids {
            let item_ulid = sort_key(id).ok_or_else(|| StoreError::item_not_found(id))?;
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::key(pk.as_str(), keys::item_sk(item_ulid))))
                .update_expression("SET #fb = :fb")
                .condition_expression(EXISTS)
                .expression_attribute_names("#fb", records::FEEDBACK)
                .expression_attribute_values(":fb", AttributeValue::S(kind.to_string()));
            actions.push(TransactWriteItem::builder().update(built(update.build())?).build());
            targets.push(id);
        }
        if targets.is_empty() {
            return self.thread(user, thread_id).await.map(drop);
        }
        self.transact(actions).await.map_err(|c| match c {
            Cancelled::ConditionFailed(failed) => match failed.first() {
                Some((0, _)) | None => StoreError::thread_not_found(thread_id),
                Some((i, _)) => {
                    StoreError::item_not_found(targets.get(i - 1).copied().unwrap_or_default())
                }
            },
            Cancelled::Other(e) => e,
        })
    }
}

#[async_trait]
impl Backend for DynamoStore {
    fn request_count(&self) -> u64 {
        self.requests_made()
    }

    fn request_micros(&self) -> u64 {
        DynamoStore::request_micros(self)
    }

    /// One eventually consistent GetItem of a key that never exists (0.5 read units): opens
    /// the TLS connection and resolves the credentials the next requests reuse.
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key("#warmup", "#warmup")))
            .send()
            .await
            .map(drop)
            .map_err(|e| error::sdk("GetItem", e))
    }
}
