//! Every failure ends with one `error` event (retry offered when worth it) whose text is
//! generic (what went wrong, the provider's words, URLs and setting names stay in the logs),
//! keeps the user message, and leaves no half assistant message in the store.

use std::sync::Arc;
use std::time::Duration;

use chatkit_agent::ModelApi;
use chatkit_protocol::{ThreadItem, ThreadStreamEvent};
use tokio::sync::Notify;

use crate::*;

/// The final `error` event's retry flag and message.
fn final_error(events: &[ThreadStreamEvent]) -> (bool, String) {
    match events.last() {
        Some(ThreadStreamEvent::Error { allow_retry, message, .. }) => {
            (*allow_retry, message.clone().unwrap_or_default())
        }
        other => panic!("expected a final error, got {other:?} in {:?}", types(events)),
    }
}

/// Only the user message is stored.
async fn assert_only_the_user_message(h: &Harness, thread_id: &str) {
    let items = h.items(thread_id).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(items[0], ThreadItem::UserMessage(_)));
}

#[tokio::test]
async fn http_500_is_retried_then_reported_as_retryable() {
    let h = Harness::new(ModelApi::Responses).await;
    for _ in 0..3 {
        h.stub.push(Reply::Status(500, "the upstream exploded"));
    }
    let (thread_id, events) = h.create("hello").await;
    let (allow_retry, message) = final_error(&events);
    assert!(allow_retry);
    assert!(
        message.starts_with("The assistant could not answer right now.")
            && message.contains("req-1"),
        "{message}"
    );
    assert!(
        !message.contains("500") && !message.contains("exploded") && !message.contains(&h.stub.url),
        "details stay in the logs: {message}"
    );
    assert_eq!(h.stub.model_bodies().len(), 3, "one call and two retries");
    assert!(!types(&events).iter().any(|t| t.contains("assistant_message")));
    assert_only_the_user_message(&h, &thread_id).await;
}

#[tokio::test]
async fn a_5xx_before_the_first_token_is_retried_transparently() {
    let h = Harness::new(ModelApi::ChatCompletions).await;
    h.stub.push(Reply::Status(503, "busy"));
    h.stub.push(Reply::Status(429, "slow down"));
    h.stub.push(chat_text(&["fine now"]));
    let (thread_id, events) = h.create("hello").await;
    assert!(
        !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
        "{:?}",
        types(&events)
    );
    assert_eq!(assistant_texts(&h.items(&thread_id).await), ["fine now"]);
    assert_eq!(h.stub.model_bodies().len(), 3);
}

#[tokio::test]
async fn http_401_is_not_retried_and_names_the_problem_without_the_key() {
    let h = Harness::new(ModelApi::Responses).await;
    h.stub.push(Reply::Status(401, "Incorrect API key provided: sk-test-key-0123456789"));
    let (thread_id, events) = h.create("hello").await;
    let (allow_retry, message) = final_error(&events);
    assert!(!allow_retry);
    assert!(
        message.starts_with("The assistant is not available right now.")
            && message.contains("req-1"),
        "{message}"
    );
    assert!(
        !message.contains("401")
            && !message.contains("OPENAI_API_KEY")
            && !message.contains(API_KEY),
        "{message}"
    );
    assert_eq!(h.stub.model_bodies().len(), 1);
    assert_only_the_user_message(&h, &thread_id).await;
}

#[tokio::test]
async fn a_stream_cut_midway_withdraws_the_partial_message() {
    for api in [ModelApi::Responses, ModelApi::ChatCompletions] {
        let h = Harness::new(api).await;
        let mut chunks = match api {
            ModelApi::Responses => {
                [responses_start(), vec![responses_delta("half an ans")]].concat()
            }
            ModelApi::ChatCompletions => vec![chat_delta("half an ans")],
            ModelApi::Bedrock => unreachable!("these tests run the OpenAI-compatible stub"),
        };
        let gate = Arc::new(Notify::new());
        chunks.extend([Chunk::Wait(gate.clone()), Chunk::Cut]);
        h.stub.push(Reply::Stream(chunks));
        let events = h.stream_releasing(create_body("hello"), &gate).await;
        let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!() };
        let thread_id = thread.id.clone();
        let kinds = types(&events);
        let tail = &kinds[kinds.len() - 3..];
        assert_eq!(
            tail,
            ["delta:half an ans", "thread.item.removed", "error"],
            "{api:?}: {kinds:?}"
        );
        let ThreadStreamEvent::ItemAdded { item } = &events[3] else { panic!("{kinds:?}") };
        assert!(
            matches!(&events[events.len() - 2], ThreadStreamEvent::ItemRemoved { item_id } if item_id == item.id())
        );
        let (allow_retry, message) = final_error(&events);
        assert!(allow_retry);
        assert!(message.starts_with("The assistant could not answer right now."), "{message}");
        assert_only_the_user_message(&h, &thread_id).await;
    }
}

#[tokio::test]
async fn a_stall_past_the_idle_timeout_fails_retryably() {
    let h =
        Harness::with(ModelApi::Responses, |c| c.idle_timeout = Duration::from_millis(300)).await;
    h.stub.push(Reply::Stream(
        [responses_start(), vec![responses_delta("thinking"), Chunk::Stall]].concat(),
    ));
    let (thread_id, events) = h.create("hello").await;
    let kinds = types(&events);
    assert_eq!(&kinds[kinds.len() - 2..], ["thread.item.removed", "error"]);
    let (allow_retry, message) = final_error(&events);
    assert!(allow_retry);
    assert!(message.starts_with("The assistant took too long to answer."), "{message}");
    assert_only_the_user_message(&h, &thread_id).await;
}

#[tokio::test]
async fn no_first_token_within_the_timeout_fails_retryably() {
    let h = Harness::with(ModelApi::ChatCompletions, |c| {
        c.first_token_timeout = Duration::from_millis(300);
    })
    .await;
    h.stub.push(Reply::Stream(vec![Chunk::Stall]));
    let (thread_id, events) = h.create("hello").await;
    let (allow_retry, message) = final_error(&events);
    assert!(allow_retry);
    assert!(message.starts_with("The assistant took too long to answer."), "{message}");
    assert_only_the_user_message(&h, &thread_id).await;
}

#[tokio::test]
async fn a_provider_error_event_and_a_refusal_end_the_turn() {
    let h = Harness::new(ModelApi::Responses).await;
    let failed = Chunk::Sse("response.failed".into(), r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"model overloaded"}}}"#.into());
    h.stub.push(Reply::Stream([responses_start(), vec![responses_delta("so"), failed]].concat()));
    let refusal = Chunk::Sse(
        "response.refusal.done".into(),
        r#"{"type":"response.refusal.done","refusal":"I can't help with that."}"#.into(),
    );
    h.stub.push(Reply::Stream([responses_start(), vec![refusal, responses_completed()]].concat()));

    let (thread_id, events) = h.create("hello").await;
    let (allow_retry, message) = final_error(&events);
    assert!(
        allow_retry && message.starts_with("The assistant could not answer right now."),
        "{message}"
    );
    assert!(!message.contains("overloaded"), "{message}");

    let events = h.stream(add_message_body(&thread_id, "something bad")).await;
    let (allow_retry, message) = final_error(&events);
    assert!(!allow_retry);
    assert!(
        message.contains("declined") && message.contains("I can't help with that."),
        "{message}"
    );
    let items = h.items(&thread_id).await;
    assert!(items.iter().all(|i| matches!(i, ThreadItem::UserMessage(_))), "{items:?}");
}

#[tokio::test]
async fn an_unreachable_model_api_is_retried_then_reported() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h =
        Harness::with(ModelApi::Responses, |c| c.base_url = format!("http://127.0.0.1:{port}/v1"))
            .await;
    let (thread_id, events) = h.create("hello").await;
    let (allow_retry, message) = final_error(&events);
    assert!(allow_retry);
    assert!(message.starts_with("The assistant could not answer right now."), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains(&port.to_string()),
        "no URL reaches the user: {message}"
    );
    assert_only_the_user_message(&h, &thread_id).await;
}
