//! Bad input: each a typed 4xx error, with nothing read from or written to the store.

use chatkit_server::ServerConfig;
use serde_json::{json, Value};

use crate::Harness;

async fn rejected(h: &Harness, body: &[u8]) -> chatkit_server::ChatKitError {
    let snapshot = h.store.snapshot();
    let requests = h.requests();
    let ctx = chatkit_server::RequestContext::new(chatkit_store::UserId::new("ada"), "req-bad");
    let err = h.server.process(body, ctx).await.expect_err(&String::from_utf8_lossy(body));
    assert_eq!(h.store.snapshot(), snapshot, "nothing written");
    assert_eq!(h.requests(), requests, "no store request");
    let wire = err.to_body("req-bad");
    assert_eq!(wire["error"]["code"], err.code());
    assert_eq!(wire["error"]["request_id"], "req-bad");
    assert!(!wire["error"]["message"].as_str().unwrap().is_empty());
    err
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_useful_message() {
    let h = Harness::new();
    h.create("ada", "existing data").await;
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "not valid JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b"\"threads.list\"", "JSON object"),
        (br#"{"params": {}}"#, "type"),
        (br#"{"type": "threads.nuke", "params": {}}"#, "threads.nuke"),
        (br#"{"type": "threads.list"}"#, "params"),
        (br#"{"type": "threads.list", "params": [], "metadata": {}}"#, "params"),
        (br#"{"type": "threads.list", "params": {}, "metadata": null}"#, "metadata"),
        (br#"{"type": "threads.get_by_id", "params": {}}"#, "thread_id"),
        (br#"{"type": "threads.get_by_id", "params": {"thread_id": 42}}"#, "thread_id"),
        (br#"{"type": "threads.list", "params": {"limit": "many"}}"#, "limit"),
        (br#"{"type": "items.feedback", "params": {"thread_id": "t", "item_ids": ["i"], "kind": "meh"}}"#, "kind"),
        (br#"{"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "hi"}], "inference_options": {}}}}"#, "attachments"),
        (br#"{"type": "threads.create", "params": {"input": {"content": [], "attachments": [], "inference_options": {}}}}"#, "empty"),
    ];
    for (body, mention) in cases {
        let err = rejected(&h, body).await;
        assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(body));
        assert!(err.to_string().contains(mention), "{}: {err}", String::from_utf8_lossy(body));
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let h = Harness::with_config(ServerConfig { max_body_bytes: 1024, ..ServerConfig::default() });
    let big: Value = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "x".repeat(2000)}], "attachments": [], "inference_options": {}}}});
    let err = rejected(&h, &serde_json::to_vec(&big).unwrap()).await;
    assert_eq!(err.status(), 413);
    assert!(err.to_string().contains("1024"), "{err}");
}

#[tokio::test]
async fn unknown_ids_are_404_and_write_nothing() {
    let h = Harness::new();
    h.create("ada", "existing data").await;
    let snapshot = h.store.snapshot();
    for id in ["thr_01JAAAAAAAAAAAAAAAAAAAAAAA", "not-even-an-id"] {
        let err = h.error("ada", crate::add_message_body(id, "hello?")).await;
        assert_eq!(err.status(), 404, "{err}");
    }
    let body = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "hi"}], "attachments": ["atc_missing"], "inference_options": {}}}});
    assert_eq!(h.error("ada", body).await.status(), 404);
    assert_eq!(h.store.snapshot(), snapshot, "no thread was half-created");
}
