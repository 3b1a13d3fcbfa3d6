//! Double submits and races on the DynamoDB store (DynamoDB Local): the same message is
//! stored once; a pending tool call or structured input is completed by exactly one request,
//! the other gets a 409. Run through `make test`.

use std::sync::Arc;

use chatkit_protocol::{Order, ThreadItem, ThreadStreamEvent};
use chatkit_server::{ChatKitResponse, RequestContext, ServerConfig};
use chatkit_store::{PageRequest, UserId};
use chatkit_tests::contract::StoreHarness;
use chatkit_tests::scripted::Scripted;
use chatkit_tests::server::{message, Server};
use futures::StreamExt;
use serde_json::{json, Value};

async fn items(s: &Server, thread_id: &str) -> Vec<ThreadItem> {
    let page = PageRequest::new(100, Order::Asc);
    s.h.store().load_thread_items(&UserId::new("ada"), thread_id, &page).await.unwrap().items.data
}

fn user_messages(items: &[ThreadItem]) -> usize {
    items.iter().filter(|i| matches!(i, ThreadItem::UserMessage(_))).count()
}

fn replies(items: &[ThreadItem]) -> usize {
    items.iter().filter(|i| matches!(i, ThreadItem::AssistantMessage(_))).count()
}

/// Runs two requests at once; returns how many started a stream and the other outcomes'
/// statuses. Streams are read to the end.
async fn race(
    s: &Server,
    a: (RequestContext, Value),
    b: (RequestContext, Value),
) -> (usize, Vec<u16>) {
    let (x, y) = tokio::join!(s.call_as(a.0, &a.1), s.call_as(b.0, &b.1));
    let mut streams = 0;
    let mut statuses = Vec::new();
    for outcome in [x, y] {
        match outcome {
            Ok(ChatKitResponse::Stream(events)) => {
                let events: Vec<ThreadStreamEvent> = events.collect().await;
                assert!(
                    !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
                    "{events:?}"
                );
                streams += 1;
            }
            Ok(other) => panic!("{other:?}"),
            Err(err) => statuses.push(err.status()),
        }
    }
    (streams, statuses)
}

fn ctx() -> RequestContext {
    RequestContext::new(UserId::new("ada"), "req-race")
}

fn add(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(text)}})
}

#[tokio::test]
async fn a_double_submitted_message_is_stored_once() {
    let s = Server::new("double-submit").await;
    let thread_id = s.create("ada", "hello").await;

    // two identical requests at once (a double click): one turn, one 409, one message
    let (streams, statuses) =
        race(&s, (ctx(), add(&thread_id, "again")), (ctx(), add(&thread_id, "again"))).await;
    assert_eq!((streams, statuses), (1, vec![409]));
    // and sent again within the window, one after the other (a retry)
    let err = s.error("ada", add(&thread_id, "again")).await;
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("already received"), "{err}");
    let stored = items(&s, &thread_id).await;
    assert_eq!((user_messages(&stored), replies(&stored)), (2, 2), "{stored:?}");

    // the same text is a new message in another thread
    let other = s.create("ada", "hello there").await;
    assert!(matches!(s.call("ada", &add(&other, "again")).await, Ok(ChatKitResponse::Stream(_))));

    // a double-clicked first message creates one thread
    let create = json!({"type": "threads.create", "params": {"input": message("start")}});
    let (streams, statuses) = race(&s, (ctx(), create.clone()), (ctx(), create.clone())).await;
    assert_eq!((streams, statuses), (1, vec![409]));
    let threads = s.json("ada", json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(threads["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_store_nothing_twice() {
    // the input hash window is off: only the header dedupes
    let config =
        ServerConfig { duplicate_window: std::time::Duration::ZERO, ..ServerConfig::default() };
    let s = Server::with_config("idempotency-key", Arc::new(Scripted), config).await;
    let thread_id = s.create("ada", "hello").await;
    let keyed = || ctx().with_idempotency_key("7f8e-retry-1");

    let Ok(ChatKitResponse::Stream(events)) =
        s.call_as(keyed(), &add(&thread_id, "pay the invoice")).await
    else {
        panic!()
    };
    events.collect::<Vec<_>>().await;
    let err = s.call_as(keyed(), &add(&thread_id, "pay the invoice")).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    // the key names the request, whatever its body
    let err = s.call_as(keyed(), &add(&thread_id, "pay it")).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    // without the header (and without the window) the same text is a new message
    let Ok(ChatKitResponse::Stream(events)) =
        s.call("ada", &add(&thread_id, "pay the invoice")).await
    else {
        panic!()
    };
    events.collect::<Vec<_>>().await;
    // the key is the user's own: another user may use the same one
    let bob_thread = s.create("bob", "hi").await;
    let bob = RequestContext::new(UserId::new("bob"), "r").with_idempotency_key("7f8e-retry-1");
    assert!(matches!(
        s.call_as(bob, &add(&bob_thread, "pay the invoice")).await,
        Ok(ChatKitResponse::Stream(_))
    ));

    let stored = items(&s, &thread_id).await;
    assert_eq!(user_messages(&stored), 3, "hello, the keyed message once, the unkeyed one");
    let bad = ctx().with_idempotency_key("has spaces\n");
    assert_eq!(s.call_as(bad, &add(&thread_id, "x")).await.unwrap_err().status(), 400);
}

#[tokio::test]
async fn a_pending_client_tool_call_is_completed_by_exactly_one_request() {
    let s = Server::new("tool-race").await;
    let thread_id = s.create("ada", "tool").await;
    let output = |v: &str| json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"selection": v}}});
    let (streams, statuses) = race(&s, (ctx(), output("a")), (ctx(), output("b"))).await;
    assert_eq!((streams, statuses), (1, vec![409]));
    let stored = items(&s, &thread_id).await;
    assert_eq!(replies(&stored), 1, "one resumed turn: {stored:?}");
    // a late third output finds the call completed
    let err = s.error("ada", output("c")).await;
    assert_eq!(err.status(), 409, "{err}");
    assert!(err.to_string().contains("already completed"), "{err}");
}

#[tokio::test]
async fn a_pending_structured_input_is_answered_by_exactly_one_request() {
    let s = Server::new("input-race").await;
    let thread_id = s.create("ada", "ask").await;
    let item_id = items(&s, &thread_id)
        .await
        .iter()
        .find_map(|i| matches!(i, ThreadItem::StructuredInput(_)).then(|| i.id().to_string()))
        .unwrap();
    let answer = |v: &str| {
        json!({"type": "threads.add_structured_input", "params": {"thread_id": thread_id, "item_id": item_id,
            "input": {"answers": {"priority": {"values": [v]}}}}})
    };
    let (streams, statuses) = race(&s, (ctx(), answer("High")), (ctx(), answer("Low"))).await;
    assert_eq!((streams, statuses), (1, vec![409]));
    assert_eq!(replies(&items(&s, &thread_id).await), 1);
    let err = s.error("ada", answer("Low")).await;
    assert_eq!(err.status(), 409, "{err}");
}
