//! Records as stored, mapped with serde_dynamo. The payload (thread, item, attachment) sits
//! in a nested map attribute; the key attributes are written only from [`crate::keys`], and
//! reads take nothing but the payload (checked against the key it was found under).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chatkit_protocol::timestamp::{self, Timestamp};
use chatkit_protocol::{Attachment, FeedbackKind, ThreadItem, ThreadMetadata};
use chatkit_store::ids::sort_key;
use chatkit_store::{StoreError, StoreResult, UserId};
use serde::{Deserialize, Serialize};

use crate::keys::{self, ITEM_PREFIX, SK, THREAD_HEAD, THREAD_TAIL};

/// A record as the SDK sends and returns it.
pub(crate) type Item = HashMap<String, AttributeValue>;

#[derive(Serialize)]
struct ThreadRecord<'a> {
    pk: &'a str,
    sk: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<&'a str>,
    thread: &'a ThreadMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

#[derive(Serialize)]
struct ItemRecord<'a> {
    pk: &'a str,
    sk: String,
    item: &'a ThreadItem,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

#[derive(Serialize)]
struct FeedbackRecord<'a> {
    pk: &'a str,
    sk: String,
    item_id: &'a str,
    kind: FeedbackKind,
    #[serde(with = "timestamp")]
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

#[derive(Serialize)]
struct AttachmentRecord<'a> {
    pk: String,
    sk: &'a str,
    attachment: &'a Attachment,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

#[derive(Deserialize)]
struct ThreadBody {
    thread: ThreadMetadata,
}

#[derive(Deserialize)]
struct ItemBody {
    item: ThreadItem,
}

#[derive(Deserialize)]
struct AttachmentBody {
    attachment: Attachment,
}

fn encode(what: &str, value: impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Internal(format!("cannot encode {what}: {e}")))
}

fn decode<'a, T: Deserialize<'a>>(what: &str, record: Item) -> StoreResult<T> {
    serde_dynamo::from_item(record).map_err(|e| StoreError::Internal(format!("cannot decode stored {what}: {e}")))
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} `{id}` does not match the key it is stored under"))
}

/// The head (with gsi1 keys) and tail copies of a thread's metadata.
pub(crate) fn thread_records(
    user: &UserId,
    thread_ulid: &str,
    thread: &ThreadMetadata,
    expires_at: Option<u64>,
) -> StoreResult<[Item; 2]> {
    let pk = keys::thread_pk(user, thread_ulid);
    let head = ThreadRecord {
        pk: &pk,
        sk: THREAD_HEAD,
        gsi1pk: Some(keys::user_pk(user)),
        gsi1sk: Some(thread_ulid),
        thread,
        expires_at,
    };
    let tail = ThreadRecord { pk: &pk, sk: THREAD_TAIL, gsi1pk: None, gsi1sk: None, thread, expires_at };
    Ok([encode("thread", head)?, encode("thread", tail)?])
}

/// An item record in the thread partition `pk` (`InvalidId` for an item id without a ULID).
pub(crate) fn item_record(pk: &str, item: &ThreadItem, expires_at: Option<u64>) -> StoreResult<Item> {
    let sk = keys::item_sk(keys::item_ulid_for_write(item.id())?);
    encode("item", ItemRecord { pk, sk, item, expires_at })
}

/// A feedback record in the thread partition `pk`.
pub(crate) fn feedback_record(
    pk: &str,
    item_id: &str,
    kind: FeedbackKind,
    expires_at: Option<u64>,
) -> StoreResult<Item> {
    if !keys::usable_sk_id(item_id) {
        return Err(StoreError::InvalidId { kind: "item", id: item_id.to_string() });
    }
    let record =
        FeedbackRecord { pk, sk: keys::feedback_sk(item_id), item_id, kind, created_at: timestamp::now(), expires_at };
    encode("feedback", record)
}

/// An attachment record in the user's attachment partition.
pub(crate) fn attachment_record(user: &UserId, attachment: &Attachment, expires_at: Option<u64>) -> StoreResult<Item> {
    let id = attachment.id();
    if !keys::usable_sk_id(id) {
        return Err(StoreError::InvalidId { kind: "attachment", id: id.to_string() });
    }
    encode("attachment", AttachmentRecord { pk: keys::attachments_pk(user), sk: id, attachment, expires_at })
}

/// A record of a thread partition, decoded by its sort key.
pub(crate) enum ThreadPart {
    Metadata(ThreadMetadata),
    Item(ThreadItem),
    Other,
}

/// Decodes one record of thread `thread_ulid`'s partition.
pub(crate) fn decode_thread_part(thread_ulid: &str, record: Item) -> StoreResult<ThreadPart> {
    let sk = keys::string_attr(&record, SK).unwrap_or_default().to_string();
    if sk == THREAD_HEAD || sk == THREAD_TAIL {
        return decode_thread(thread_ulid, record).map(ThreadPart::Metadata);
    }
    match sk.strip_prefix(ITEM_PREFIX) {
        Some(item_ulid) => decode_item(item_ulid, record).map(ThreadPart::Item),
        None => Ok(ThreadPart::Other),
    }
}

/// Decodes a thread metadata record found under thread `thread_ulid`.
pub(crate) fn decode_thread(thread_ulid: &str, record: Item) -> StoreResult<ThreadMetadata> {
    let ThreadBody { thread } = decode("thread", record)?;
    if sort_key(&thread.id) != Some(thread_ulid) {
        return Err(corrupt("thread", &thread.id));
    }
    Ok(thread)
}

/// Decodes an item record found under `I#<item_ulid>`.
pub(crate) fn decode_item(item_ulid: &str, record: Item) -> StoreResult<ThreadItem> {
    let ItemBody { item } = decode("item", record)?;
    if sort_key(item.id()) != Some(item_ulid) {
        return Err(corrupt("item", item.id()));
    }
    Ok(item)
}

/// Decodes an attachment record found under `attachment_id`.
pub(crate) fn decode_attachment(attachment_id: &str, record: Item) -> StoreResult<Attachment> {
    let AttachmentBody { attachment } = decode("attachment", record)?;
    if attachment.id() != attachment_id {
        return Err(corrupt("attachment", attachment.id()));
    }
    Ok(attachment)
}
