//! Limits and deletes through the server on the DynamoDB store (DynamoDB Local): every input
//! a hostile or unlucky client can send gets a clear 4xx with nothing written, or is stored
//! so that it fits; never a 500. Run through `make test`.

use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::{Order, ThreadItem, ThreadStreamEvent, ToolCallStatus};
use chatkit_server::{ChatKitResponse, EventSink, RequestContext, Responder, StreamError, Turn};
use chatkit_store::prelude::*;
use chatkit_store::{ids, PageRequest, UserId};
use chatkit_tests::contract::{assistant_message, user_message, StoreHarness};
use chatkit_tests::dynamo::{deep_value, noise};
use chatkit_tests::server::{create_body, message, Server};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Notify;

#[tokio::test]
async fn a_2_mb_message_is_413_with_nothing_written() {
    let s = Server::new("big-message").await;
    let big = "x".repeat(2 * 1024 * 1024);
    let err = s.error("ada", create_body(&big)).await;
    assert_eq!((err.status(), err.code()), (413, "payload_too_large"), "{err}");
    assert!(err.to_string().contains("the limit is 100000 bytes"), "{err}");
    assert_eq!(err.to_body("r")["error"]["field"], "params.input.content");
    assert_eq!(s.thread_records().await, 0, "no thread was created");

    let thread_id = s.create("ada", "hello").await;
    let before = s.h.snapshot().await;
    let err = s.error("ada", json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(&big)}})).await;
    assert_eq!(err.status(), 413, "{err}");
    assert_eq!(s.h.snapshot().await, before, "nothing written");

    // just under the limit is a normal turn
    let fits = "y".repeat(99_000);
    let events = s.stream("ada", json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(&fits)}})).await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })), "{events:?}");
}

#[tokio::test]
async fn feedback_ids_are_capped_well_formed_and_must_exist() {
    let s = Server::new("feedback-limits").await;
    let thread_id = s.create("ada", "hello").await;
    let items =
        s.h.store()
            .load_thread_items(&UserId::new("ada"), &thread_id, &PageRequest::new(10, Order::Asc))
            .await
            .unwrap();
    let reply = items.items.data[1].id().to_string();
    let before = s.h.snapshot().await;
    let feedback = |ids: Vec<String>| json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": ids, "kind": "positive"}});

    let many: Vec<String> = (0..100_000).map(|_| ids::new_id("msg")).collect();
    let requests = s.h.dynamo().request_count();
    let err = s.error("ada", feedback(many)).await;
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("at most 50"), "{err}");
    assert_eq!(s.h.dynamo().request_count(), requests, "refused before any request");

    let err = s.error("ada", feedback(vec![reply.clone(), "../../etc".into()])).await;
    assert_eq!(
        (err.status(), err.to_body("r")["error"]["field"].as_str()),
        (400, Some("params.item_ids[1]")),
        "{err}"
    );

    let unknown = ids::new_id("msg");
    let err = s.error("ada", feedback(vec![reply.clone(), unknown.clone()])).await;
    assert_eq!(err.status(), 404, "{err}");
    assert!(err.to_string().contains(&unknown), "{err}");
    assert_eq!(s.h.snapshot().await, before, "nothing written");

    let requests = s.h.dynamo().request_count();
    assert_eq!(s.json("ada", feedback(vec![reply.clone()])).await, json!({}));
    assert_eq!(s.h.dynamo().request_count() - requests, 1, "one request");
    assert!(s.h.snapshot().await.contains("positive"));
}

#[tokio::test]
async fn page_sizes_are_capped_at_100() {
    let s = Server::new("page-cap").await;
    let ada = UserId::new("ada");
    let thread_id = s.create("ada", "hello").await;
    let thread = s.h.store().load_thread(&ada, &thread_id).await.unwrap();
    for i in 0..110 {
        s.h.store()
            .save_item(&ada, &thread_id, &assistant_message(&thread, &format!("a{i}")))
            .await
            .unwrap();
    }
    for limit in [json!(4294967295u64), json!("4294967295"), json!(101)] {
        let requests = s.h.dynamo().request_count();
        let page = s
            .json(
                "ada",
                json!({"type": "items.list", "params": {"thread_id": thread_id, "limit": limit}}),
            )
            .await;
        assert_eq!(page["data"].as_array().unwrap().len(), 100, "limit {limit}");
        assert_eq!(page["has_more"], true);
        assert_eq!(
            s.h.dynamo().request_count() - requests,
            1,
            "one Query of 102 records, not the partition"
        );
    }
    for i in 0..3 {
        s.create("ada", &format!("another {i}")).await;
    }
    let page =
        s.json("ada", json!({"type": "threads.list", "params": {"limit": 4294967295u64}})).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
}

fn tool_output(thread_id: &str, result: Value) -> Value {
    json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": result}})
}

fn pending_call(items: &[ThreadItem]) -> Option<String> {
    items.iter().find_map(|i| match i {
        ThreadItem::ClientToolCall(c) if c.status == ToolCallStatus::Pending => Some(c.id.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn tool_outputs_of_any_shape_are_stored_or_refused_cleanly() {
    let s = Server::new("tool-outputs").await;
    let ada = UserId::new("ada");
    let all = PageRequest::new(100, Order::Asc);

    // nested 40 deep, with numbers DynamoDB cannot hold: was a 500, is a normal turn
    let thread_id = s.create("ada", "tool").await;
    let events = s.stream("ada", tool_output(&thread_id, deep_value(40))).await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })), "{events:?}");
    let items = s.h.store().load_thread_items(&ada, &thread_id, &all).await.unwrap().items.data;
    let stored = items.iter().find_map(|i| match i {
        ThreadItem::ClientToolCall(c) => c.output.clone(),
        _ => None,
    });
    assert_eq!(stored, Some(deep_value(40)));

    // over the limit: 413 before anything is written; the call stays pending (another user:
    // the same first message from ada again within seconds would be a double submit)
    let eve = UserId::new("eve");
    let thread_id = s.create("eve", "tool").await;
    let before = s.h.snapshot().await;
    let err = s.error("eve", tool_output(&thread_id, json!("z".repeat(1_100_000)))).await;
    assert_eq!(err.status(), 413, "{err}");
    // under the limit but incompressible: the store refuses it, still 413 and nothing written
    let err = s.error("eve", tool_output(&thread_id, json!(noise(900_000)))).await;
    assert_eq!(err.status(), 413, "{err}");
    assert!(err.to_string().contains("too large to store"), "{err}");
    assert_eq!(s.h.snapshot().await, before);
    let items = s.h.store().load_thread_items(&eve, &thread_id, &all).await.unwrap().items.data;
    assert!(pending_call(&items).is_some());

    // a body nested past the parser's depth is a 400
    let mut deep = String::new();
    for _ in 0..300 {
        deep.push('[');
    }
    for _ in 0..300 {
        deep.push(']');
    }
    let body = format!(
        r#"{{"type": "threads.add_client_tool_output", "params": {{"thread_id": "{thread_id}", "result": {deep}}}}}"#
    );
    let err =
        s.server.process(body.as_bytes(), RequestContext::new(ada.clone(), "r")).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
}

#[tokio::test]
async fn long_user_ids_are_400_and_awkward_ones_work() {
    let s = Server::new("user-ids").await;
    let long = "a".repeat(5000);
    let err = s.error(&long, json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("512 bytes"), "{err}");
    let err = s.error(&long, create_body("hi")).await;
    assert_eq!(err.status(), 400);
    assert_eq!(s.h.scan().await.len(), 0);

    // 512 bytes that triple once percent-encoded still key fine
    let awkward = "#%".repeat(256);
    let thread_id = s.create(&awkward, "hi").await;
    let listed = s.json(&awkward, json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(listed["data"][0]["id"], thread_id.as_str());
}

/// A responder that sets a title only when the test lets it.
struct LateTitle(Arc<Notify>);

#[async_trait]
impl Responder for LateTitle {
    async fn respond(&self, turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        self.0.notified().await;
        let mut thread = turn.thread.clone();
        thread.title = Some("A late title".into());
        sink.update_thread(thread).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_title_written_after_a_delete_does_not_bring_the_thread_back() {
    let gate = Arc::new(Notify::new());
    let s = Server::with_responder("late-title", Arc::new(LateTitle(gate.clone()))).await;
    let Ok(ChatKitResponse::Stream(mut events)) = s.call("ada", &create_body("hi")).await else {
        panic!()
    };
    let ThreadStreamEvent::ThreadCreated { thread } = events.next().await.unwrap() else {
        panic!()
    };
    while !matches!(events.next().await, Some(ThreadStreamEvent::StreamOptions { .. })) {}

    assert_eq!(
        s.json("ada", json!({"type": "threads.delete", "params": {"thread_id": thread.id}})).await,
        json!({})
    );
    gate.notify_one();
    let rest: Vec<ThreadStreamEvent> = events.collect().await;
    assert!(
        matches!(rest.as_slice(), [ThreadStreamEvent::Error { allow_retry: false, .. }]),
        "{rest:?}"
    );

    s.h.settle().await;
    let err = s
        .error("ada", json!({"type": "threads.get_by_id", "params": {"thread_id": thread.id}}))
        .await;
    assert_eq!(err.status(), 404);
    let listed = s.json("ada", json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(s.thread_records().await, 0, "no head, tail or item came back");

    // and a late item write is refused too
    let late = user_message(&thread_meta(&thread.id), "late");
    assert!(s.h.store().save_item(&UserId::new("ada"), &thread.id, &late).await.is_err());
    assert_eq!(s.thread_records().await, 0);
}

fn thread_meta(id: &str) -> chatkit_protocol::ThreadMetadata {
    chatkit_protocol::ThreadMetadata::new(id, chatkit_protocol::timestamp::now())
}
