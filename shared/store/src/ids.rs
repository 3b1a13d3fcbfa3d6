//! Time-ordered ids: `<prefix>_<ULID>`. The ULID orders records by creation time, so an id
//! is its own sort key and pagination cursor.

use std::sync::Mutex;

use ulid::{Generator, Ulid};

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// Id prefixes, as in the reference SDK.
pub mod prefix {
    pub const THREAD: &str = "thr";
    pub const MESSAGE: &str = "msg";
    pub const TOOL_CALL: &str = "tc";
    pub const TASK: &str = "tsk";
    pub const WORKFLOW: &str = "wf";
    pub const ATTACHMENT: &str = "atc";
    pub const SDK_HIDDEN_CONTEXT: &str = "shcx";
}

/// A new id, strictly greater than every id this process made before (monotonic within a
/// millisecond).
pub fn new_id(prefix: &str) -> String {
    let mut guard = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let generator = guard.get_or_insert_with(Generator::new);
    let ulid = generator.generate().unwrap_or_else(|_| Ulid::new());
    format!("{prefix}_{ulid}")
}

/// The sortable part of an id made by [`new_id`], or `None` for an id of another shape. Only
/// the canonical form of a ULID is one (26 characters, uppercase, at most `7ZZZ…`): the ulid
/// crate also parses lowercase and values past 128 bits (wrapping them), which would give
/// two spellings of one ULID, or an id that sorts out of its time.
pub fn sort_key(id: &str) -> Option<&str> {
    let (prefix, ulid) = id.split_once('_')?;
    let valid_prefix = !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
    let canonical =
        ulid.len() == 26 && Ulid::from_string(ulid).is_ok_and(|u| u.to_string() == ulid);
    (valid_prefix && canonical).then_some(ulid)
}

/// When an id made by [`new_id`] was made (its ULID's milliseconds).
pub fn created_at(id: &str) -> Option<std::time::SystemTime> {
    let ulid = Ulid::from_string(sort_key(id)?).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ulid.timestamp_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_monotonic_and_sortable() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("msg")).collect();
        let keys: Vec<&str> = ids.iter().map(|id| sort_key(id).unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sort_key("msg_abc"), None);
        let made = created_at(&ids[0]).unwrap();
        let age = std::time::SystemTime::now().duration_since(made).unwrap();
        assert!(age < std::time::Duration::from_secs(60), "{age:?}");
        assert_eq!(created_at("msg_abc"), None);
        assert_eq!(sort_key("__fake_id__"), None);
    }

    #[test]
    fn only_the_canonical_form_of_a_ulid_is_a_sort_key() {
        // found by the property test in tests/ids.rs: `a000…` parsed (wrapped) to `2000…`
        assert_eq!(sort_key("thr_01ARZ3NDEKTSV4RRFFQ69G5FAV"), Some("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        for id in [
            "thr_a0000000000000000000000000",
            "thr_80000000000000000000000000",
            "thr_01arz3ndektsv4rrffq69g5fav",
            "thr_01ARZ3NDEKTSV4RRFFQ69G5FA",
        ] {
            assert_eq!(sort_key(id), None, "{id}");
        }
    }
}
