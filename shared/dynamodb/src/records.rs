//! Records as stored. The payload (thread, item, attachment) is its JSON text in one
//! attribute: `json` (a string) when small, `json_z` (deflate-compressed binary) above
//! [`COMPRESS_ABOVE`] bytes. So no payload ever meets DynamoDB's map limits (32 levels of
//! nesting, its number range, 400 KB per item up to the compression ratio); a payload that
//! still does not fit is refused with `TooLarge` before any request. Key attributes are
//! written only from [`crate::keys`], and reads take nothing but the payload (checked
//! against the key it was found under). Records written before this format (the payload as
//! a nested map attribute) are still read.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chatkit_protocol::{Attachment, ThreadItem, ThreadMetadata};
use chatkit_store::ids::sort_key;
use chatkit_store::{IdempotencyKey, StoreError, StoreResult, UserId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keys::{
    self, EXPIRES_AT, GSI1PK, GSI1SK, ITEM_PREFIX, PK, SK, THREAD_HEAD, THREAD_TAIL,
};

/// A record as the SDK sends and returns it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The payload as JSON text.
pub(crate) const JSON: &str = "json";
/// The payload as deflate-compressed JSON text.
pub(crate) const JSON_Z: &str = "json_z";
/// The payload attribute of a thread record of the first format (a nested map).
pub(crate) const LEGACY_THREAD: &str = "thread";
/// Set (to `"pending"`) on a pending client tool call or structured input: what the single
/// completing write is conditional on.
pub(crate) const STATE: &str = "state";
pub(crate) const PENDING: &str = "pending";
/// The ids of the attachments of a user message (a string set): what thread cleanup reads,
/// without the payload, to delete them.
pub(crate) const ATTACHMENTS: &str = "attachments";
/// Feedback on an item (`positive` / `negative`), written by `save_feedback`.
pub(crate) const FEEDBACK: &str = "feedback";

/// Attributes of an idempotency record.
pub(crate) const ONCE_THREAD: &str = "thread_id";
pub(crate) const ONCE_ITEM: &str = "item_id";
pub(crate) const ONCE_UNTIL: &str = "until";

/// Payloads up to this many bytes of JSON are stored as text.
pub(crate) const COMPRESS_ABOVE: usize = 16 * 1024;
/// Largest stored payload (compressed), leaving room under DynamoDB's 400 KB item limit for
/// keys (up to 3 KB) and the other attributes.
pub const MAX_PAYLOAD_BYTES: usize = 380 * 1024;

fn encode_json(
    what: &'static str,
    value: &impl Serialize,
) -> StoreResult<(&'static str, AttributeValue)> {
    let json = serde_json::to_vec(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode {what}: {e}")))?;
    if json.len() <= COMPRESS_ABOVE {
        let text = String::from_utf8(json)
            .map_err(|e| StoreError::Internal(format!("cannot encode {what}: {e}")))?;
        return Ok((JSON, AttributeValue::S(text)));
    }
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 3),
        flate2::Compression::default(),
    );
    encoder
        .write_all(&json)
        .and_then(|()| encoder.try_finish())
        .map_err(|e| StoreError::Internal(format!("cannot compress {what}: {e}")))?;
    let compressed = encoder
        .finish()
        .map_err(|e| StoreError::Internal(format!("cannot compress {what}: {e}")))?;
    if compressed.len() > MAX_PAYLOAD_BYTES {
        return Err(StoreError::TooLarge {
            what,
            size: compressed.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    Ok((JSON_Z, AttributeValue::B(Blob::new(compressed))))
}

/// The payload of `record`: `json`, `json_z`, or (records of the first format) the nested
/// map attribute `legacy`.
fn decode_json<T: DeserializeOwned>(what: &str, record: &Item, legacy: &str) -> StoreResult<T> {
    let bad = |e: &dyn std::fmt::Display| {
        StoreError::Internal(format!("cannot decode stored {what}: {e}"))
    };
    match (record.get(JSON), record.get(JSON_Z), record.get(legacy)) {
        (Some(AttributeValue::S(text)), _, _) => serde_json::from_str(text).map_err(|e| bad(&e)),
        (_, Some(AttributeValue::B(blob)), _) => {
            let mut json = Vec::new();
            flate2::read::DeflateDecoder::new(blob.as_ref())
                .read_to_end(&mut json)
                .map_err(|e| bad(&e))?;
            serde_json::from_slice(&json).map_err(|e| bad(&e))
        }
        (_, _, Some(AttributeValue::M(map))) => {
            serde_dynamo::from_attribute_value(AttributeValue::M(map.clone())).map_err(|e| bad(&e))
        }
        _ => Err(bad(&"the record holds no payload")),
    }
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} `{id}` does not match the key it is stored under"))
}

fn string(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn base(pk: String, sk: String, expires_at: Option<u64>) -> Item {
    let mut record = HashMap::from([(PK.to_string(), string(pk)), (SK.to_string(), string(sk))]);
    if let Some(at) = expires_at {
        record.insert(EXPIRES_AT.to_string(), AttributeValue::N(at.to_string()));
    }
    record
}

/// The head (with gsi1 keys) and tail copies of a thread's metadata.
pub(crate) fn thread_records(
    user: &UserId,
    thread_ulid: &str,
    thread: &ThreadMetadata,
    expires_at: Option<u64>,
) -> StoreResult<[Item; 2]> {
    let pk = keys::thread_pk(user, thread_ulid);
    let (name, payload) = encode_json("thread", thread)?;
    let mut head = base(pk.clone(), THREAD_HEAD.to_string(), expires_at);
    head.insert(GSI1PK.to_string(), string(keys::user_pk(user)));
    head.insert(GSI1SK.to_string(), string(thread_ulid));
    head.insert(name.to_string(), payload.clone());
    let mut tail = base(pk, THREAD_TAIL.to_string(), expires_at);
    tail.insert(name.to_string(), payload);
    Ok([head, tail])
}

/// An item record in the thread partition `pk` (`InvalidId` for an item id without a ULID,
/// `TooLarge` when it cannot fit).
pub(crate) fn item_record(
    pk: &str,
    item: &ThreadItem,
    expires_at: Option<u64>,
) -> StoreResult<Item> {
    let sk = keys::item_sk(keys::item_ulid_for_write(item.id())?);
    let (name, payload) = encode_json("item", item)?;
    let mut record = base(pk.to_string(), sk, expires_at);
    record.insert(name.to_string(), payload);
    if chatkit_store::is_pending(item) {
        record.insert(STATE.to_string(), string(PENDING));
    }
    if let ThreadItem::UserMessage(message) = item {
        let ids: BTreeSet<String> =
            message.attachments.iter().map(|a| a.id().to_string()).collect();
        if !ids.is_empty() {
            record.insert(ATTACHMENTS.to_string(), AttributeValue::Ss(ids.into_iter().collect()));
        }
    }
    Ok(record)
}

/// A record claiming an idempotency key for a write (see [`chatkit_store::IdempotencyKey`]):
/// it holds the key until `until` (epoch milliseconds) and expires by TTL after it.
pub(crate) fn once_record(
    user: &UserId,
    key: &IdempotencyKey,
    thread_id: &str,
    item_id: &str,
    now_ms: u64,
) -> StoreResult<Item> {
    let valid = !key.key.is_empty()
        && key.key.len() <= 128
        && key.key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(StoreError::InvalidId {
            kind: "idempotency key",
            id: key.key.chars().take(64).collect(),
        });
    }
    let until = now_ms.saturating_add(u64::try_from(key.window.as_millis()).unwrap_or(u64::MAX));
    let mut record = base(keys::once_pk(user), key.key.clone(), Some(until / 1000 + 1));
    record.insert(ONCE_THREAD.to_string(), string(thread_id));
    record.insert(ONCE_ITEM.to_string(), string(item_id));
    record.insert(ONCE_UNTIL.to_string(), AttributeValue::N(until.to_string()));
    Ok(record)
}

/// The thread and item of the write an idempotency record holds.
pub(crate) fn once_holder(record: &Item) -> (String, String) {
    let get = |name| keys::string_attr(record, name).unwrap_or_default().to_string();
    (get(ONCE_THREAD), get(ONCE_ITEM))
}

/// An attachment record in the user's attachment partition.
pub(crate) fn attachment_record(
    user: &UserId,
    attachment: &Attachment,
    expires_at: Option<u64>,
) -> StoreResult<Item> {
    let id = attachment.id();
    if !keys::usable_sk_id(id) {
        return Err(StoreError::InvalidId { kind: "attachment", id: id.to_string() });
    }
    let (name, payload) = encode_json("attachment", attachment)?;
    let mut record = base(keys::attachments_pk(user), id.to_string(), expires_at);
    record.insert(name.to_string(), payload);
    Ok(record)
}

/// Whether a metadata record carries the thread's tombstone (the thread is being deleted).
pub(crate) fn is_tombstone(record: &Item) -> bool {
    record.contains_key(keys::DELETED_AT)
}

/// A record of a thread partition, decoded by its sort key.
pub(crate) enum ThreadPart {
    Metadata(ThreadMetadata),
    /// A metadata copy with a tombstone: the thread is gone.
    Deleted,
    Item(ThreadItem),
    Other,
}

/// Decodes one record of thread `thread_ulid`'s partition.
pub(crate) fn decode_thread_part(thread_ulid: &str, record: Item) -> StoreResult<ThreadPart> {
    let sk = keys::string_attr(&record, SK).unwrap_or_default().to_string();
    if sk == THREAD_HEAD || sk == THREAD_TAIL {
        if is_tombstone(&record) {
            return Ok(ThreadPart::Deleted);
        }
        return decode_thread(thread_ulid, record).map(ThreadPart::Metadata);
    }
    match sk.strip_prefix(ITEM_PREFIX) {
        Some(item_ulid) => decode_item(item_ulid, record).map(ThreadPart::Item),
        None => Ok(ThreadPart::Other),
    }
}

/// Decodes a thread metadata record found under thread `thread_ulid`.
pub(crate) fn decode_thread(thread_ulid: &str, record: Item) -> StoreResult<ThreadMetadata> {
    let thread: ThreadMetadata = decode_json("thread", &record, LEGACY_THREAD)?;
    if sort_key(&thread.id) != Some(thread_ulid) {
        return Err(corrupt("thread", &thread.id));
    }
    Ok(thread)
}

/// Decodes an item record found under `I#<item_ulid>`.
pub(crate) fn decode_item(item_ulid: &str, record: Item) -> StoreResult<ThreadItem> {
    let item: ThreadItem = decode_json("item", &record, "item")?;
    if sort_key(item.id()) != Some(item_ulid) {
        return Err(corrupt("item", item.id()));
    }
    Ok(item)
}

/// Decodes an attachment record found under `attachment_id`.
pub(crate) fn decode_attachment(attachment_id: &str, record: Item) -> StoreResult<Attachment> {
    let attachment: Attachment = decode_json("attachment", &record, "attachment")?;
    if attachment.id() != attachment_id {
        return Err(corrupt("attachment", attachment.id()));
    }
    Ok(attachment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatkit_protocol::{timestamp, AssistantMessageContent, AssistantMessageItem};
    use chatkit_store::ids::new_id;

    fn reply(text: String) -> ThreadItem {
        let id = new_id("msg");
        AssistantMessageItem {
            id,
            thread_id: new_id("thr"),
            created_at: timestamp::now(),
            content: vec![AssistantMessageContent::text(text)],
        }
        .into()
    }

    #[test]
    fn small_payloads_are_text_and_large_ones_compressed() {
        let small = reply("short".into());
        let record = item_record("U#a#T#x", &small, None).unwrap();
        assert!(
            matches!(record.get(JSON), Some(AttributeValue::S(_))) && !record.contains_key(JSON_Z)
        );
        let ulid = sort_key(small.id()).unwrap().to_string();
        assert_eq!(decode_item(&ulid, record).unwrap(), small);

        // 2 MB of prose: over DynamoDB's item limit as text, well under it compressed
        let large = reply("All work and no play makes Jack a dull boy. ".repeat(50_000));
        let record = item_record("U#a#T#x", &large, None).unwrap();
        let Some(AttributeValue::B(blob)) = record.get(JSON_Z) else { panic!("not compressed") };
        assert!(blob.as_ref().len() < MAX_PAYLOAD_BYTES / 10, "{}", blob.as_ref().len());
        let ulid = sort_key(large.id()).unwrap().to_string();
        assert_eq!(decode_item(&ulid, record).unwrap(), large);
    }

    #[test]
    fn payloads_that_cannot_fit_are_refused() {
        // incompressible text: a pseudo-random walk over the alphabet
        let mut x: u64 = 0x2545F4914F6CDD1D;
        let noise: String = (0..600_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let err = item_record("U#a#T#x", &reply(noise), None).unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { what: "item", .. }), "{err}");
    }
}
