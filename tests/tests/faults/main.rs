//! Faults injected at every store step of a turn and of a delete, over the real DynamoDB
//! Local (through [`FaultProxy`]): throttling, a 500, no answer in time, a reset connection,
//! and an answer lost after the write was done. For each, the client gets a 503 JSON before a
//! stream or an `error` event in it; once the fault clears the thread is consistent (the
//! user's message stored once or not at all, never a half-written thread or reply) and a
//! retry works; once cleanup has run nothing of a deleted thread is left. Then the tools
//! failing (`tools.rs`). Run through `make test`.

use chatkit_testkit::model as stub;

mod tools;

use std::collections::BTreeMap;
use std::sync::Arc;

use chatkit_protocol::{Order, ThreadItem, ThreadStreamEvent};
use chatkit_server::{
    ChatKitError, ChatKitResponse, ChatKitServer, RequestContext, Responder, ServerConfig,
};
use chatkit_store::{PageRequest, UserId};
use chatkit_tests::contract::StoreHarness;
use chatkit_tests::dynamo::DynamoHarness;
use chatkit_tests::faults::{Fault, FaultProxy, Rule, ALL_FAULTS};
use chatkit_tests::scripted::Scripted;
use futures::StreamExt;
use serde_json::{json, Value};

pub struct Faulty {
    pub h: DynamoHarness,
    pub proxy: FaultProxy,
    pub server: ChatKitServer,
}

impl Faulty {
    pub async fn new(case: &str) -> Self {
        Self::with_responder(case, Arc::new(Scripted)).await
    }

    pub async fn with_responder(case: &str, responder: Arc<dyn Responder>) -> Self {
        Self::with_config(case, responder, ServerConfig::default()).await
    }

    pub async fn with_config(
        case: &str,
        responder: Arc<dyn Responder>,
        config: ServerConfig,
    ) -> Self {
        let h = DynamoHarness::new(case).await;
        let proxy = FaultProxy::start().await;
        let store = proxy.store(h.table()).await;
        let server = ChatKitServer::new(Arc::new(store), responder).with_config(config);
        Self { h, proxy, server }
    }

    pub async fn call(&self, body: &Value) -> Result<ChatKitResponse, ChatKitError> {
        let ctx = RequestContext::new(
            UserId::new("ada"),
            format!("req-{}", chatkit_store::ids::new_id("r")),
        );
        self.server.process(&serde_json::to_vec(body).unwrap(), ctx).await
    }

    /// A streamed request: its events, or the error it was refused with.
    pub async fn stream(&self, body: &Value) -> Result<Vec<ThreadStreamEvent>, ChatKitError> {
        match self.call(body).await {
            Ok(ChatKitResponse::Stream(s)) => Ok(s.collect().await),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        }
    }

    pub async fn items(&self, thread_id: &str) -> Vec<ThreadItem> {
        let page = PageRequest::new(100, Order::Asc);
        self.h
            .store()
            .load_thread_items(&UserId::new("ada"), thread_id, &page)
            .await
            .unwrap()
            .items
            .data
    }

    /// The whole table is consistent: every thread partition has its head and tail (or is
    /// a tombstone waiting for cleanup), every record decodes, no reply is half-written.
    pub async fn assert_consistent(&self) {
        let mut partitions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for record in self.h.scan().await {
            let pk = record["pk"].as_s().unwrap().clone();
            if pk.contains("#T#") {
                partitions.entry(pk).or_default().push(record["sk"].as_s().unwrap().clone());
            }
        }
        for (pk, sks) in partitions {
            assert!(
                sks.contains(&"#THREAD".to_string()),
                "{pk}: records without a thread head: {sks:?}"
            );
            assert!(
                sks.contains(&"~THREAD".to_string()),
                "{pk}: a thread without its tail: {sks:?}"
            );
        }
        let threads = self
            .h
            .store()
            .list_threads(&UserId::new("ada"), &PageRequest::new(100, Order::Asc))
            .await
            .unwrap();
        for thread in threads.data {
            for item in self.items(&thread.id).await {
                if let ThreadItem::AssistantMessage(m) = &item {
                    assert!(
                        m.content.iter().any(|c| !c.text.is_empty()),
                        "an empty reply stored: {m:?}"
                    );
                }
            }
        }
    }
}

pub fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

pub fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": message(text)}})
}

pub fn add(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(text)}})
}

pub fn user_messages(items: &[ThreadItem], text: &str) -> usize {
    items
        .iter()
        .filter(|i| matches!(i, ThreadItem::UserMessage(m) if m.plain_text() == text))
        .count()
}

fn replies(items: &[ThreadItem]) -> usize {
    items.iter().filter(|i| matches!(i, ThreadItem::AssistantMessage(_))).count()
}

pub fn thread_id(events: &[ThreadStreamEvent]) -> String {
    match &events[0] {
        ThreadStreamEvent::ThreadCreated { thread } => thread.id.clone(),
        other => panic!("{other:?}"),
    }
}

fn ended_with_error(events: &[ThreadStreamEvent]) -> Option<bool> {
    match events.last() {
        Some(ThreadStreamEvent::Error { allow_retry, .. }) => Some(*allow_retry),
        _ => None,
    }
}

/// The store requests of a turn and of a delete, in order: the steps the tests below fail.
#[tokio::test]
async fn the_store_steps_of_a_turn() {
    let f = Faulty::new("fault-steps").await;
    let events = f.stream(&create("title")).await.unwrap();
    assert_eq!(
        f.proxy.operations(),
        ["TransactWriteItems"; 3],
        "create (the thread and its message), reply, title"
    );
    let thread = thread_id(&events);
    f.proxy.reset_log();
    f.stream(&add(&thread, "second")).await.unwrap();
    assert_eq!(
        f.proxy.operations(),
        ["Query", "TransactWriteItems", "TransactWriteItems"],
        "the thread and its history, the message, the reply"
    );
    f.proxy.reset_log();
    f.call(&json!({"type": "threads.delete", "params": {"thread_id": thread}})).await.unwrap();
    assert_eq!(f.proxy.operations(), ["TransactWriteItems"], "the tombstone");
    f.proxy.reset_log();
    let cleanup = chatkit_cleanup::ThreadCleanup::new(f.proxy.store(f.h.table()).await);
    assert!(cleanup.handle(f.h.stream_event().await).await.batch_item_failures.is_empty());
    assert_eq!(
        f.proxy.operations(),
        ["Query", "BatchWriteItem", "DeleteItem"],
        "cleanup: the partition, its records, the head"
    );
}

#[tokio::test]
async fn creating_a_thread() {
    let f = Faulty::new("fault-create").await;
    for (i, fault) in ALL_FAULTS.into_iter().enumerate() {
        let text = format!("first {i}");
        let before = f.h.snapshot().await;
        f.proxy.fail(Rule::new("TransactWriteItems", fault));
        let err = f.stream(&create(&text)).await.expect_err("the write failed");
        assert_eq!(err.status(), 503, "{fault:?}: {err}");
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        assert_eq!(
            f.h.snapshot().await,
            before,
            "{fault:?}: nothing written, not even the idempotency key"
        );
        let events = f.stream(&create(&text)).await.expect("the retry is not a duplicate");
        assert_eq!(ended_with_error(&events), None, "{fault:?}: the retry works");
        let items = f.items(&thread_id(&events)).await;
        assert_eq!((user_messages(&items, &text), replies(&items)), (1, 1));
        f.assert_consistent().await;
    }
}

#[tokio::test]
async fn reading_the_history() {
    let f = Faulty::new("fault-history").await;
    let thread = thread_id(&f.stream(&create("hello")).await.unwrap());
    for (i, fault) in ALL_FAULTS.into_iter().enumerate() {
        let text = format!("second {i}");
        f.proxy.fail(Rule::new("Query", fault));
        let err = f.stream(&add(&thread, &text)).await.expect_err("the read failed");
        assert_eq!(err.status(), 503, "{fault:?}: {err}");
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        // the history is read before anything is written
        assert_eq!(user_messages(&f.items(&thread).await, &text), 0, "{fault:?}");
        let events = f.stream(&add(&thread, &text)).await.expect("the retry is not a duplicate");
        assert_eq!(ended_with_error(&events), None);
        assert_eq!(user_messages(&f.items(&thread).await, &text), 1, "{fault:?}");
        f.assert_consistent().await;
    }
}

#[tokio::test]
async fn writing_the_user_message() {
    let f = Faulty::new("fault-message").await;
    let thread = thread_id(&f.stream(&create("hello")).await.unwrap());
    for (i, fault) in ALL_FAULTS.into_iter().chain([Fault::LostAnswer]).enumerate() {
        let text = format!("second {i}");
        f.proxy.fail(Rule::new("TransactWriteItems", fault));
        let outcome = f.stream(&add(&thread, &text)).await;
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        match fault {
            // the write was done, its answer lost: the SDK's retry of the same transaction
            // (same client token) may still succeed, else the client sees a 503 and its retry
            // meets the idempotency key: the message is there once either way
            Fault::LostAnswer => {
                if let Err(err) = &outcome {
                    assert_eq!(err.status(), 503, "{err}");
                    let again = f.stream(&add(&thread, &text)).await;
                    assert!(matches!(&again, Ok(_) | Err(ChatKitError::Conflict(_))), "{again:?}");
                }
                assert_eq!(user_messages(&f.items(&thread).await, &text), 1);
            }
            _ => {
                let err = outcome.expect_err("the write failed");
                assert_eq!(err.status(), 503, "{fault:?}: {err}");
                assert_eq!(
                    user_messages(&f.items(&thread).await, &text),
                    0,
                    "{fault:?}: not written"
                );
                let events = f.stream(&add(&thread, &text)).await.expect("the retry works");
                assert_eq!(ended_with_error(&events), None);
                assert_eq!(user_messages(&f.items(&thread).await, &text), 1, "{fault:?}: once");
            }
        }
        f.assert_consistent().await;
    }
}

#[tokio::test]
async fn writing_the_reply() {
    let f = Faulty::new("fault-reply").await;
    let thread = thread_id(&f.stream(&create("hello")).await.unwrap());
    for (i, fault) in ALL_FAULTS.into_iter().enumerate() {
        let text = format!("second {i}");
        // the user message is the turn's first transaction, the reply its second
        f.proxy.fail(Rule::new("TransactWriteItems", fault).after(1));
        let events = f.stream(&add(&thread, &text)).await.expect("the stream starts");
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        assert_eq!(
            ended_with_error(&events),
            Some(true),
            "{fault:?}: a retryable error event: {events:?}"
        );
        let items = f.items(&thread).await;
        let message = items
            .iter()
            .find(|i| matches!(i, ThreadItem::UserMessage(m) if m.plain_text() == text))
            .unwrap()
            .id()
            .to_string();
        assert_eq!(
            items.last().unwrap().id(),
            message,
            "{fault:?}: the user's message kept, no reply stored"
        );
        // the client's retry button: answer that message again
        let retry = json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": message}});
        let events = f.stream(&retry).await.unwrap();
        assert_eq!(ended_with_error(&events), None);
        assert!(matches!(f.items(&thread).await.last(), Some(ThreadItem::AssistantMessage(_))));
        f.assert_consistent().await;
    }
}

#[tokio::test]
async fn writing_the_title() {
    // the same first message each time: no double-submit window here
    let config =
        ServerConfig { duplicate_window: std::time::Duration::ZERO, ..ServerConfig::default() };
    let f = Faulty::with_config("fault-title", Arc::new(Scripted), config).await;
    for (i, fault) in ALL_FAULTS.into_iter().enumerate() {
        // the scripted "title" turn: create (1), reply (2), title (3)
        f.proxy.fail(Rule::new("TransactWriteItems", fault).after(2));
        let events = f.stream(&create("title")).await.expect("the stream starts");
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        assert_eq!(ended_with_error(&events), None, "{fault:?}: the reply stands: {events:?}");
        assert!(
            !events.iter().any(|e| matches!(e, ThreadStreamEvent::ThreadUpdated { .. })),
            "{fault:?}: no title was saved"
        );
        let id = thread_id(&events);
        let thread = f.h.store().load_thread(&UserId::new("ada"), &id).await.unwrap();
        assert_eq!(thread.title, None, "{fault:?}");
        assert_eq!(replies(&f.items(&id).await), 1, "case {i}");
        f.assert_consistent().await;
        f.h.store().delete_thread(&UserId::new("ada"), &id).await.unwrap();
    }
}

#[tokio::test]
async fn deleting_and_cleaning_up() {
    let f = Faulty::new("fault-delete").await;
    let ada = UserId::new("ada");
    for (i, fault) in ALL_FAULTS.into_iter().enumerate() {
        let thread = thread_id(&f.stream(&create(&format!("doomed {i}"))).await.unwrap());
        let delete = json!({"type": "threads.delete", "params": {"thread_id": thread}});
        f.proxy.fail(Rule::new("TransactWriteItems", fault));
        let err = f.call(&delete).await.expect_err("the tombstone write failed");
        assert_eq!(err.status(), 503, "{fault:?}: {err}");
        assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
        assert!(
            f.h.store().load_thread(&ada, &thread).await.is_ok(),
            "{fault:?}: the thread is intact"
        );
        assert!(
            matches!(f.call(&delete).await, Ok(ChatKitResponse::Json(_))),
            "{fault:?}: the retry deletes it"
        );

        // cleanup meets faults too: it reports the record, and the retried batch finishes
        let cleanup = chatkit_cleanup::ThreadCleanup::new(f.proxy.store(f.h.table()).await);
        for step in ["Query", "BatchWriteItem", "DeleteItem"] {
            f.proxy.fail(Rule::new(step, fault));
            let response = cleanup.handle(f.h.stream_event().await).await;
            assert!(f.proxy.clear() > 0, "{fault:?}: the fault was met");
            assert_eq!(
                response.batch_item_failures.len(),
                1,
                "{fault:?} at {step}: the failure is reported for a retry"
            );
        }
        let response = cleanup.handle(f.h.stream_event().await).await;
        assert!(response.batch_item_failures.is_empty(), "{fault:?}");
        let ulid = chatkit_store::ids::sort_key(&thread).unwrap().to_string();
        let left: Vec<_> =
            f.h.scan()
                .await
                .into_iter()
                .filter(|r| r["pk"].as_s().unwrap().contains(&ulid))
                .collect();
        assert!(left.is_empty(), "{fault:?}: orphans after cleanup: {left:?}");
        f.assert_consistent().await;
    }
    assert!(f.proxy.faulted() > 0);
}
