//! Drives the function's Lambda event path with every fixture in `events/` (the same files
//! `cargo lambda invoke --data-file` takes): Function URL event → lambda_http request →
//! gateway (auth, CORS, limits) → ChatKit core → streamed or JSON response.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chatkit_gateway::{Authenticator, Cors, Gateway, StaticSecret};
use chatkit_protocol::*;
use chatkit_server::ChatKitServer;
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, UserId};
use chatkit_tests::scripted::{FakeUploads, Scripted};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

/// The local development secret the fixtures' token is signed with (`make dev` uses it too).
const LOCAL_SECRET: &str = "chatkit-local-development-secret";
const USER: &str = "fixture-user";
const THREAD: &str = "thr_01JD0000000000000000000001";

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The ids the fixtures refer to: a thread with a user message, a widget, a completed and a
/// pending client tool call, a pending structured input, and an attachment.
async fn seeded_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let user = UserId::new(USER);
    let at = timestamp::now();
    let item = |json: Value| -> ThreadItem {
        let mut json = json;
        json["thread_id"] = json!(THREAD);
        json["created_at"] = json!(timestamp::format(&at));
        serde_json::from_value(json).unwrap()
    };
    let items = vec![
        item(
            json!({"id": "msg_01JD0000000000000000000002", "type": "user_message", "content": [{"type": "input_text", "text": "hello"}], "inference_options": {}}),
        ),
        item(
            json!({"id": "msg_01JD0000000000000000000003", "type": "widget", "widget": {"type": "Card", "children": [
                {"type": "Button", "label": "Cancel", "onClickAction": {"type": "order.cancel", "payload": {"order_id": "42"}}},
                {"type": "Button", "label": "Done", "onClickAction": {"type": "todo.toggle"}}]}}),
        ),
        item(
            json!({"id": "tc_01JD0000000000000000000004", "type": "client_tool_call", "call_id": "c1", "name": "get_selection", "arguments": {}}),
        ),
        item(
            json!({"id": "msg_01JD0000000000000000000005", "type": "structured_input", "inputs": [
            {"type": "multiple_choice", "id": "priority", "question": "Priority?", "options": [{"value": "High"}]}]}),
        ),
    ];
    store.create_thread(&user, &ThreadMetadata::new(THREAD, at), &items).await.unwrap();
    let attachment = Attachment::File {
        id: "atc_01JD0000000000000000000006".into(),
        name: "a.txt".into(),
        mime_type: "text/plain".into(),
        upload_descriptor: None,
        thread_id: None,
        metadata: None,
    };
    store.save_attachment(&user, &attachment).await.unwrap();
    store
}

fn gateway(store: Arc<MemoryStore>) -> Gateway {
    let server =
        ChatKitServer::new(store, Arc::new(Scripted)).with_attachment_store(Arc::new(FakeUploads));
    let auth = Authenticator::new(
        Some(Arc::new(StaticSecret(LOCAL_SECRET.into()))),
        None,
        vec![Algorithm::HS256],
    );
    Gateway::new(server, auth, Cors::new(vec!["http://localhost:5173".into()]), 1024 * 1024)
}

struct Outcome {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn invoke(gateway: &Gateway, fixture: &str) -> Outcome {
    let text = std::fs::read_to_string(events_dir().join(fixture)).unwrap();
    let request =
        lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let response = chatkit_gateway::lambda::handle(gateway, request).await;
    let (parts, body) = response.into_parts();
    Outcome {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn sse_events(body: &Bytes) -> Vec<ThreadStreamEvent> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|frame| serde_json::from_str(frame.strip_prefix("data: ").expect(frame)).expect(frame))
        .collect()
}

#[tokio::test]
async fn every_fixture_answers_as_expected() {
    let mut fixtures: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    fixtures.sort();
    let operations: Vec<&str> = fixtures
        .iter()
        .filter_map(|f| f.strip_suffix(".json"))
        .filter(|f| f.contains('.'))
        .collect();
    assert_eq!(
        operations.len(),
        REQUEST_TYPES.len() + EXTENSION_TYPES.len(),
        "a fixture for every operation: {operations:?}"
    );

    for fixture in &fixtures {
        let gateway = gateway(seeded_store().await);
        let out = invoke(&gateway, fixture).await;
        let name = fixture.trim_end_matches(".json");
        let content_type = out
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(out.headers.contains_key("x-request-id") || name == "preflight", "{name}");
        match name {
            "unauthenticated" => assert_eq!(out.status, 401, "{name}"),
            "malformed" => {
                assert_eq!(out.status, 400, "{name}");
                let body: Value = serde_json::from_slice(&out.body).unwrap();
                assert_eq!(body["error"]["code"], "bad_request");
            }
            "preflight" => {
                assert_eq!(out.status, 204);
                assert_eq!(out.headers["access-control-allow-origin"], "http://localhost:5173");
                assert!(out.headers["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .contains("authorization"));
            }
            op if REQUEST_TYPES.contains(&op) || EXTENSION_TYPES.contains(&op) => {
                assert_eq!(out.status, 200, "{name}: {}", String::from_utf8_lossy(&out.body));
                assert_eq!(
                    out.headers["access-control-allow-origin"], "http://localhost:5173",
                    "{name}"
                );
                let request = ChatKitRequest::from_value(
                    serde_json::from_str(
                        serde_json::from_str::<Value>(
                            &std::fs::read_to_string(events_dir().join(fixture)).unwrap(),
                        )
                        .unwrap()["body"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap();
                if request.op.is_streaming() {
                    assert!(
                        content_type.starts_with("text/event-stream"),
                        "{name}: {content_type}"
                    );
                    assert_eq!(out.headers["cache-control"], "no-cache");
                    let events = sse_events(&out.body);
                    assert!(
                        events.iter().any(|e| matches!(e, ThreadStreamEvent::StreamOptions { .. })),
                        "{name}: {events:?}"
                    );
                    assert!(
                        !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
                        "{name}: {events:?}"
                    );
                } else {
                    assert_eq!(content_type, "application/json", "{name}");
                    serde_json::from_slice::<Value>(&out.body).unwrap();
                }
            }
            other => panic!("fixture {other} has no expectation"),
        }
    }
}

#[tokio::test]
async fn the_user_comes_from_the_token_not_the_body() {
    let store = seeded_store().await;
    let gateway = gateway(store.clone());
    let out = invoke(&gateway, "threads.create.json").await;
    assert_eq!(out.status, 200);
    let events = sse_events(&out.body);
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!() };
    // stored under the token's `sub`, although the body's metadata.userInfo says "Ada"
    store.load_thread(&UserId::new(USER), &thread.id).await.unwrap();
    assert!(store.load_thread(&UserId::new("Ada"), &thread.id).await.is_err());
}

#[tokio::test]
async fn oversized_and_wrong_method_requests_are_rejected_before_auth() {
    let gateway = Gateway::new(
        ChatKitServer::new(seeded_store().await, Arc::new(Scripted)),
        Authenticator::new(
            Some(Arc::new(StaticSecret(LOCAL_SECRET.into()))),
            None,
            vec![Algorithm::HS256],
        ),
        Cors::default(),
        64,
    );
    let out = invoke(&gateway, "threads.create.json").await;
    assert_eq!(out.status, 413);
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(
        !out.headers.contains_key("access-control-allow-origin"),
        "no CORS without configured origins"
    );

    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("threads.list.json")).unwrap(),
    )
    .unwrap();
    event["requestContext"]["http"]["method"] = json!("GET");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = chatkit_gateway::lambda::handle(&gateway, request).await;
    assert_eq!(response.status(), 405);
}
