//! Thread cleanup on the store's side: after `delete_thread` put the tombstone on a thread,
//! [`DynamoStore::plan_purge`] finds what is left of it (every record of its partition and
//! the attachments its messages carry) and [`DynamoStore::finish_purge`] deletes it all, the
//! head (with the tombstone) last. Both are idempotent, so a purge that fails halfway is
//! simply run again; a partition whose thread is alive is never touched.
//!
//! Requests: ⌈partition / 1 MB of keys⌉ Query (one, in practice), one BatchGetItem per 100
//! attachments, then ⌈attachments / 25⌉ + ⌈records / 25⌉ BatchWriteItem and one DeleteItem.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chatkit_protocol::Attachment;
use chatkit_store::{StoreError, StoreResult, UserId};

use crate::keys::{self, Key, DELETED_AT, PK, SK, THREAD_HEAD};
use crate::records::{self, ATTACHMENTS};
use crate::{error, DynamoStore};

/// BatchGetItem takes at most this many keys.
const BATCH_GET_SIZE: usize = 100;

/// What a purge of one thread partition removes.
#[derive(Debug, Clone)]
pub struct PurgePlan {
    pk: String,
    user: UserId,
    thread_id: String,
    /// Every record of the partition but the head.
    records: Vec<Key>,
    head: bool,
    attachments: Vec<Attachment>,
}

impl PurgePlan {
    /// Whose thread it is.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// The attachments of the thread's messages (their metadata says they belong to it):
    /// delete their bytes before [`DynamoStore::finish_purge`] forgets them.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Records to delete, the head included.
    pub fn records(&self) -> usize {
        self.records.len() + usize::from(self.head)
    }
}

impl DynamoStore {
    /// What is left of the deleted thread of partition `pk` (`U#<user>#T#<ULID>`), or `None`
    /// when that thread is alive (no tombstone): then nothing may be deleted.
    pub async fn plan_purge(&self, pk: &str) -> StoreResult<Option<PurgePlan>> {
        let (user, ulid) = keys::parse_thread_pk(pk).ok_or_else(|| StoreError::InvalidId {
            kind: "thread partition",
            id: pk.to_string(),
        })?;
        let thread_id = format!("thr_{ulid}");
        let mut records = Vec::new();
        let mut head = false;
        let mut attachment_ids = BTreeSet::new();
        let mut start: Option<Key> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .projection_expression("pk, sk, #deleted, #attachments")
                .expression_attribute_names("#deleted", DELETED_AT)
                .expression_attribute_names("#attachments", ATTACHMENTS)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| error::sdk("Query", e))?;
            for record in out.items.unwrap_or_default() {
                let Some(sk) = keys::string_attr(&record, SK) else { continue };
                if sk == THREAD_HEAD {
                    if !records::is_tombstone(&record) {
                        return Ok(None);
                    }
                    head = true;
                    continue;
                }
                if let Some(AttributeValue::Ss(ids)) = record.get(ATTACHMENTS) {
                    attachment_ids.extend(ids.iter().cloned());
                }
                records.push(keys::key(pk, sk));
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let attachments = self.thread_attachments(&user, &thread_id, attachment_ids).await?;
        Ok(Some(PurgePlan { pk: pk.to_string(), user, thread_id, records, head, attachments }))
    }

    /// The attachment metadata of `ids` that still belongs to thread `thread_id` (an
    /// attachment moved to another thread's message stays).
    async fn thread_attachments(
        &self,
        user: &UserId,
        thread_id: &str,
        ids: BTreeSet<String>,
    ) -> StoreResult<Vec<Attachment>> {
        let ids: Vec<String> = ids.into_iter().filter(|id| keys::usable_sk_id(id)).collect();
        let mut found = Vec::new();
        for chunk in ids.chunks(BATCH_GET_SIZE) {
            let mut pending: Vec<Key> =
                chunk.iter().map(|id| keys::key(keys::attachments_pk(user), id.as_str())).collect();
            for attempt in 0..crate::batch::MAX_BATCH_ATTEMPTS {
                if pending.is_empty() {
                    break;
                }
                crate::batch::backoff(attempt).await;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build();
                let request = crate::batch::built(request)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| error::sdk("BatchGetItem", e))?;
                for record in
                    out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default()
                {
                    let Some(id) = keys::string_attr(&record, SK).map(str::to_string) else {
                        continue;
                    };
                    let attachment = records::decode_attachment(&id, record)?;
                    if attachment.thread_id() == Some(thread_id) {
                        found.push(attachment);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB BatchGetItem: {} keys still unprocessed",
                    pending.len()
                )));
            }
        }
        Ok(found)
    }

    /// Deletes what `plan` names: the attachments' metadata, every record but the head, then
    /// the head, only while it still carries the tombstone.
    pub async fn finish_purge(&self, plan: PurgePlan) -> StoreResult<()> {
        let attachment_keys = plan
            .attachments
            .iter()
            .map(|a| keys::key(keys::attachments_pk(&plan.user), a.id()))
            .collect();
        self.batch_delete(attachment_keys).await?;
        self.batch_delete(plan.records).await?;
        if !plan.head {
            return Ok(());
        }
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(plan.pk.as_str(), THREAD_HEAD)))
            .condition_expression("attribute_exists(#deleted)")
            .expression_attribute_names("#deleted", DELETED_AT)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // gone already: another run of the same purge finished first
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(error::sdk("DeleteItem", e)),
        }
    }
}

/// Whether a stream record's new image is a thread head with a tombstone: the records thread
/// cleanup acts on. `keys` and `new_image` hold the record's `pk`/`sk` and attributes.
pub fn is_thread_tombstone(sk: Option<&str>, has_deleted_at: bool) -> bool {
    sk == Some(THREAD_HEAD) && has_deleted_at
}

/// The names of the key and tombstone attributes, for stream consumers.
pub const PK_ATTRIBUTE: &str = PK;
pub const SK_ATTRIBUTE: &str = SK;
pub const TOMBSTONE_ATTRIBUTE: &str = DELETED_AT;
