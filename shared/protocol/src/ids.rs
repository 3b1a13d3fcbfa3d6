//! Bounds on the ids a request names: checked before anything is read, and shortened wherever
//! one is echoed (error bodies, log lines), so no id of any length travels further.

use serde_json::Value;

/// The longest id a request may name, in bytes. The server's own ids (`thr_<ULID>`, …) are
/// about 30; client tool call ids and attachment ids stay well under this.
pub const MAX_ID_BYTES: usize = 128;

/// How much of an id an error message or log line repeats.
const ECHOED_ID_CHARS: usize = 40;

/// The `params` fields that hold one id, and those that hold a list of them.
const ID_FIELDS: &[&str] = &["thread_id", "item_id", "turn_id", "attachment_id", "after"];
const ID_LIST_FIELDS: &[&str] = &["item_ids"];

/// The first id field of `params` over [`MAX_ID_BYTES`]: its JSON path and its length.
pub fn oversized_id(params: &Value) -> Option<(String, usize)> {
    let too_long = |v: &Value| v.as_str().map(str::len).filter(|&len| len > MAX_ID_BYTES);
    for field in ID_FIELDS {
        if let Some(len) = params.get(*field).and_then(too_long) {
            return Some((format!("params.{field}"), len));
        }
    }
    let lists = ID_LIST_FIELDS
        .iter()
        .map(|field| (format!("params.{field}"), params.get(*field)))
        .chain([("params.input.attachments".to_string(), params.pointer("/input/attachments"))]);
    for (path, list) in lists {
        let Some(Value::Array(ids)) = list else { continue };
        if let Some((i, len)) = ids.iter().enumerate().find_map(|(i, v)| Some((i, too_long(v)?))) {
            return Some((format!("{path}[{i}]"), len));
        }
    }
    None
}

/// `id` as an error message or a log line may repeat it: at most 40 characters, then `…`.
pub fn echo(id: &str) -> String {
    match id.char_indices().nth(ECHOED_ID_CHARS) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_id_field_is_bounded() {
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let ok = "y".repeat(MAX_ID_BYTES);
        for field in ID_FIELDS {
            assert_eq!(oversized_id(&json!({ *field: ok })), None);
            assert_eq!(
                oversized_id(&json!({ *field: long })),
                Some((format!("params.{field}"), MAX_ID_BYTES + 1))
            );
        }
        let listed = json!({"item_ids": ["a", long]});
        assert_eq!(oversized_id(&listed), Some(("params.item_ids[1]".into(), MAX_ID_BYTES + 1)));
        let attached = json!({"input": {"attachments": [long]}});
        assert_eq!(
            oversized_id(&attached),
            Some(("params.input.attachments[0]".into(), MAX_ID_BYTES + 1))
        );
        // other strings are not ids
        assert_eq!(oversized_id(&json!({"title": long, "input": {"content": [long]}})), None);
    }

    #[test]
    fn echoed_ids_are_short() {
        assert_eq!(echo("thr_01"), "thr_01");
        let long = "é".repeat(1000);
        assert_eq!(echo(&long).chars().count(), ECHOED_ID_CHARS + 1);
        assert!(echo(&long).ends_with('…'));
    }
}
