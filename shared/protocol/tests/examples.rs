//! Every wire example of the team kit's `examples.json` (vendored in `tests/fixtures/`, so a
//! clone of the repo tests itself) parses into its Rust type and serializes back to the same
//! JSON value.
//!
//! Intended difference: requests are compared with their `null` members removed, because
//! output omits nulls (docs/protocol.md §1.4); everything else must match exactly.

use std::path::PathBuf;

use chatkit_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn kit_dir() -> PathBuf {
    match std::env::var_os("CHATKIT_KIT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    }
}

fn examples(section: &str) -> Vec<(String, Option<String>, Value)> {
    let path = kit_dir().join("examples.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text).unwrap();
    let list = all[section].as_array().unwrap_or_else(|| panic!("no section {section}"));
    assert!(!list.is_empty());
    list.iter()
        .map(|e| {
            let model = e.get("model").and_then(Value::as_str).map(str::to_string);
            (e["name"].as_str().unwrap().to_string(), model, e["json"].clone())
        })
        .collect()
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str, json: &Value) -> Value {
    let parsed: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::to_value(&parsed).unwrap()
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_request_example_round_trips() {
    let examples = examples("requests");
    let mut seen = std::collections::BTreeSet::new();
    for (name, _, json) in &examples {
        let request =
            ChatKitRequest::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(request.to_value(), without_nulls(json), "{name}");
        seen.insert(request.op.type_name());
    }
    assert_eq!(seen.len(), REQUEST_TYPES.len(), "every request type has an example");
}

#[test]
fn every_event_example_round_trips() {
    for (name, _, json) in examples("events") {
        assert_eq!(round_trip::<ThreadStreamEvent>(&name, &json), json, "{name}");
    }
}

#[test]
fn every_item_example_round_trips() {
    for (name, _, json) in examples("items") {
        assert_eq!(round_trip::<ThreadItem>(&name, &json), json, "{name}");
    }
}

#[test]
fn every_response_example_round_trips() {
    for (name, model, json) in examples("responses") {
        let out = match model.as_deref().unwrap() {
            "Thread" => round_trip::<Thread>(&name, &json),
            "Page[Thread]" => round_trip::<Page<Thread>>(&name, &json),
            "Page[ThreadItem]" => round_trip::<Page<ThreadItem>>(&name, &json),
            "Attachment" => round_trip::<Attachment>(&name, &json),
            "SyncCustomActionResponse" => round_trip::<SyncCustomActionResponse>(&name, &json),
            "TranscriptionResult" => round_trip::<TranscriptionResult>(&name, &json),
            "Empty" => json.clone(),
            other => panic!("{name}: no Rust type mapped for model {other}"),
        };
        assert_eq!(out, json, "{name}");
    }
}

fn error_of(body: &str) -> RequestError {
    ChatKitRequest::from_slice(body.as_bytes()).expect_err(body)
}

#[test]
fn unknown_type_is_named() {
    let err = error_of(r#"{"type":"threads.explode","params":{}}"#);
    assert_eq!(err.field.as_deref(), Some("type"));
    assert!(err.message.contains("threads.explode"), "{err}");
}

#[test]
fn missing_required_field_is_named() {
    let err = error_of(
        r#"{"type":"threads.create","params":{"input":{"content":[],"inference_options":{}}}}"#,
    );
    assert_eq!(err.field.as_deref(), Some("params.input"));
    assert!(err.message.contains("attachments"), "{err}");
    let err = error_of(r#"{"type":"threads.get_by_id","params":{}}"#);
    assert!(err.message.contains("thread_id"), "{err}");
    let err = error_of(r#"{"type":"threads.add_client_tool_output","params":{"thread_id":"t"}}"#);
    assert!(err.message.contains("result"), "{err}");
    let err = error_of(r#"{"type":"threads.list"}"#);
    assert_eq!(err.field.as_deref(), Some("params"));
}

#[test]
fn wrong_types_and_null_metadata_are_named() {
    let err = error_of(r#"{"type":"threads.list","params":{},"metadata":null}"#);
    assert_eq!(err.field.as_deref(), Some("metadata"));
    let err = error_of(r#"{"type":"items.list","params":{"thread_id":"t","order":"sideways"}}"#);
    assert_eq!(err.field.as_deref(), Some("params.order"), "{err}");
    let err = error_of(
        r#"{"type":"threads.create","params":{"input":{"content":[{"type":"input_text"}],"attachments":[],"inference_options":{}}}}"#,
    );
    assert_eq!(err.field.as_deref(), Some("params.input.content[0]"), "{err}");
    assert!(error_of("[1,2]").message.contains("object"));
    assert!(error_of("{not json").message.contains("JSON"));
}

#[test]
fn lenient_input_is_accepted() {
    let req = ChatKitRequest::from_slice(
        br#"{"type":"threads.list","params":{"limit":"5","extra":1},"unknown":true}"#,
    )
    .unwrap();
    assert_eq!(
        req.op,
        Operation::ListThreads(ListThreadsParams { limit: Some(5), ..Default::default() })
    );
    let item: ThreadItem = serde_json::from_str(
        r#"{"id":"m","thread_id":"t","created_at":1748779200,"type":"end_of_turn"}"#,
    )
    .unwrap();
    assert_eq!(timestamp::format(&item.created_at()), "2025-06-01T12:00:00Z");
}

#[test]
fn sse_frames_are_single_data_lines() {
    let event = ThreadStreamEvent::ProgressUpdate { icon: None, text: "line\nbreak é".into() };
    let frame = String::from_utf8(sse_frame(&event)).unwrap();
    assert_eq!(frame, "data: {\"type\":\"progress_update\",\"text\":\"line\\nbreak é\"}\n\n");
}

#[test]
fn every_widget_in_the_examples_passes_the_widget_check() {
    fn widgets(value: &Value, found: &mut Vec<Value>) {
        match value {
            Value::Object(map) => {
                if chatkit_protocol::widgets::looks_like_widget(value) {
                    found.push(value.clone());
                }
                map.values().for_each(|v| widgets(v, found));
            }
            Value::Array(list) => list.iter().for_each(|v| widgets(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for section in ["events", "responses", "items"] {
        for (_, _, json) in examples(section) {
            widgets(&json, &mut found);
        }
    }
    assert!(found.len() >= 5, "{found:?}");
    for widget in found {
        chatkit_protocol::widgets::validate_widget(&widget)
            .unwrap_or_else(|e| panic!("{widget}: {e}"));
    }
}
