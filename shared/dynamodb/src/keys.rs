//! Key layout of the single table. Every key is derived from the [`UserId`] and from ids
//! validated by [`ids::sort_key`]; nothing a client sends can choose a partition.
//!
//! ```text
//! pk                         sk                 what
//! U#<user>#T#<thread ULID>   #THREAD            thread metadata, head copy (+ gsi1pk, gsi1sk)
//!                            I#<item ULID>      one thread item (+ feedback, state, attachments)
//!                            ~THREAD            thread metadata, tail copy
//! U#<user>#A                 <attachment id>    attachment metadata
//! U#<user>#K                 <idempotency key>  a write made once (its thread, item, window)
//! U#<user>#C                 <turn id>          a request to stop a running turn
//! gsi1: gsi1pk = U#<user>, gsi1sk = <thread ULID>  (head copies only: lists threads)
//! ```
//!
//! Every record's payload is one JSON attribute (see `records`). A thread being deleted
//! carries `deleted_at` on both metadata copies until cleanup has removed its partition.
//!
//! `#` and `%` in a user id are percent-encoded, so a user id can never reach into another
//! user's keys.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chatkit_store::ids::sort_key;
use chatkit_store::{StoreError, StoreResult, UserId};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const EXPIRES_AT: &str = "expires_at";
/// Set on both metadata copies by `delete_thread` (epoch seconds): the thread's tombstone.
/// Reads treat the thread as gone, writes are refused, and thread cleanup (consuming the
/// table's stream) deletes the partition, the head last.
pub(crate) const DELETED_AT: &str = "deleted_at";

/// Sort key of the head copy of a thread's metadata (before every item).
pub(crate) const THREAD_HEAD: &str = "#THREAD";
/// Sort key of the tail copy of a thread's metadata (after every item, before feedback).
pub(crate) const THREAD_TAIL: &str = "~THREAD";
pub(crate) const ITEM_PREFIX: &str = "I#";

/// DynamoDB's limit on a sort key value, in bytes.
const MAX_SK_BYTES: usize = 1024;

/// A DynamoDB primary key (or start key) as the SDK wants it.
pub(crate) type Key = HashMap<String, AttributeValue>;

fn user_part(user: &UserId) -> String {
    user.as_str().replace('%', "%25").replace('#', "%23")
}

/// `U#<user>`: the user's gsi1 partition (their thread list).
pub(crate) fn user_pk(user: &UserId) -> String {
    format!("U#{}", user_part(user))
}

/// `U#<user>#A`: the user's attachment partition.
pub(crate) fn attachments_pk(user: &UserId) -> String {
    format!("U#{}#A", user_part(user))
}

/// `U#<user>#K`: the user's idempotency keys.
pub(crate) fn once_pk(user: &UserId) -> String {
    format!("U#{}#K", user_part(user))
}

/// `U#<user>#C`: the user's requests to stop running turns.
pub(crate) fn cancel_pk(user: &UserId) -> String {
    format!("U#{}#C", user_part(user))
}

/// A thread's partition, from a validated thread ULID.
pub(crate) fn thread_pk(user: &UserId, thread_ulid: &str) -> String {
    format!("U#{}#T#{thread_ulid}", user_part(user))
}

/// The user and thread ULID of a thread partition key (the inverse of [`thread_pk`]).
pub(crate) fn parse_thread_pk(pk: &str) -> Option<(UserId, &str)> {
    let (user, ulid) = pk.strip_prefix("U#")?.rsplit_once("#T#")?;
    let mut decoded = String::with_capacity(user.len());
    let mut rest = user;
    while let Some(i) = rest.find('%') {
        decoded.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("%25") => decoded.push('%'),
            Some("%23") => decoded.push('#'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    if rest.contains('#') {
        return None;
    }
    decoded.push_str(rest);
    sort_key(&format!("thr_{ulid}")).map(|_| (UserId::new(decoded), ulid))
}

pub(crate) fn item_sk(item_ulid: &str) -> String {
    format!("{ITEM_PREFIX}{item_ulid}")
}

/// The thread ULID of a thread id to write (`InvalidId` when it has none).
pub(crate) fn thread_ulid_for_write(thread_id: &str) -> StoreResult<&str> {
    sort_key(thread_id)
        .ok_or_else(|| StoreError::InvalidId { kind: "thread", id: thread_id.to_string() })
}

/// The item ULID of an item id to write (`InvalidId` when it has none).
pub(crate) fn item_ulid_for_write(item_id: &str) -> StoreResult<&str> {
    sort_key(item_id).ok_or_else(|| StoreError::InvalidId { kind: "item", id: item_id.to_string() })
}

/// The ULID of a page cursor (`InvalidId` when malformed).
pub(crate) fn cursor_ulid(after: &str) -> StoreResult<&str> {
    sort_key(after).ok_or_else(|| StoreError::InvalidId { kind: "cursor", id: after.to_string() })
}

/// Whether an opaque id (an attachment's) can be a sort key.
pub(crate) fn usable_sk_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_SK_BYTES
}

/// `{pk, sk}` as a key map.
pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Key {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(pk.into())),
        (SK.to_string(), AttributeValue::S(sk.into())),
    ])
}

/// The gsi1 start key for a thread-list cursor: table key plus index key.
pub(crate) fn thread_list_start_key(user: &UserId, thread_ulid: &str) -> Key {
    let mut k = key(thread_pk(user, thread_ulid), THREAD_HEAD);
    k.insert(GSI1PK.to_string(), AttributeValue::S(user_pk(user)));
    k.insert(GSI1SK.to_string(), AttributeValue::S(thread_ulid.to_string()));
    k
}

/// The string value of attribute `name` of a record, if any.
pub(crate) fn string_attr<'a>(
    record: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Option<&'a str> {
    record.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_cannot_forge_key_separators() {
        let a = UserId::new("a");
        let forged = UserId::new("a#T#01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_ne!(thread_pk(&forged, "X"), thread_pk(&a, "01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert_eq!(user_pk(&UserId::new("50%#")), "U#50%25%23");
    }

    #[test]
    fn thread_keys_parse_back() {
        let ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        for user in ["a", "50%#", "%23", "#T#", "%2523#%", "", "ünïcode user"] {
            let pk = thread_pk(&UserId::new(user), ulid);
            assert_eq!(parse_thread_pk(&pk), Some((UserId::new(user), ulid)), "{pk}");
        }
        for bad in [
            "U#a#A",
            "X#a#T#01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "U#a%2#T#01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "U#a#T#short",
        ] {
            assert_eq!(parse_thread_pk(bad), None, "{bad}");
        }
    }

    #[test]
    fn item_keys_sort_inside_the_thread_range() {
        let item = item_sk("01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert!(THREAD_HEAD < item.as_str() && item.as_str() < THREAD_TAIL);
    }
}

/// Properties (bounded case counts): for any two users (any text: separators, `%`
/// sequences, Unicode) and any ULIDs, keys are equal only when user and id are, every
/// partition key parses back to its user, and no key of one user is any key of another.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// User ids that stress the encoding: pieces of separators and escapes, and any text.
    fn user() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "#", "%", "%23", "%25", "#T#", "#A", "#K", "#C", "U#", "t:", "/", "a", "é", "\u{FF03}",
            "",
        ]);
        prop_oneof![prop::collection::vec(piece, 0..6).prop_map(|p| p.concat()), any::<String>()]
    }

    fn ulid() -> impl Strategy<Value = String> {
        any::<u128>().prop_map(|v| ulid::Ulid(v).to_string())
    }

    /// Every partition key of a user (a thread's for `thread`).
    fn partitions(user: &UserId, thread: &str) -> [String; 5] {
        [
            user_pk(user),
            attachments_pk(user),
            once_pk(user),
            cancel_pk(user),
            thread_pk(user, thread),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn thread_keys_round_trip(u in user(), t in ulid()) {
            let user = UserId::new(u);
            let pk = thread_pk(&user, &t);
            prop_assert_eq!(parse_thread_pk(&pk), Some((user, t.as_str())));
        }

        #[test]
        fn keys_never_cross_users(a in user(), b in user(), ta in ulid(), tb in ulid()) {
            prop_assume!(a != b);
            let (a, b) = (UserId::new(a), UserId::new(b));
            let (ka, kb) = (partitions(&a, &ta), partitions(&b, &tb));
            for k in &ka {
                prop_assert!(!kb.contains(k), "{k} is a key of both {a:?} and {b:?}");
                // and no key of b parses as a thread partition of a
                if let Some((owner, _)) = parse_thread_pk(k) {
                    prop_assert_eq!(&owner, &a);
                }
            }
            // a cursor (a thread list start key) stays in its user's partitions
            let start = thread_list_start_key(&b, &ta);
            let b_list = user_pk(&b);
            prop_assert_eq!(string_attr(&start, GSI1PK), Some(b_list.as_str()));
            prop_assert_eq!(parse_thread_pk(string_attr(&start, PK).unwrap()).map(|(u, _)| u), Some(b.clone()));
        }

        #[test]
        fn distinct_threads_of_a_user_have_distinct_partitions(u in user(), t1 in ulid(), t2 in ulid()) {
            prop_assume!(t1 != t2);
            let user = UserId::new(u);
            prop_assert_ne!(thread_pk(&user, &t1), thread_pk(&user, &t2));
        }

        #[test]
        fn a_cursor_is_a_ulid_or_refused(after in prop_oneof![any::<String>(), "[a-z]{1,4}_[0-9A-Z#%]{20,30}"]) {
            if let Ok(ulid) = cursor_ulid(&after) {
                prop_assert_eq!(ulid.len(), 26);
                prop_assert!(ulid.chars().all(|c| c.is_ascii_alphanumeric()));
                let sk = item_sk(ulid);
                prop_assert!(THREAD_HEAD < sk.as_str() && sk.as_str() < THREAD_TAIL, "an item cursor stays inside the thread's items");
            }
        }
    }
}
