//! Turns that end cleanly: a turn stops at its budget or before the invocation's deadline
//! (keeping what it said, with a retryable `error` event), and `turns.cancel` stops a running
//! turn, in this process at once or from another one through the store's flag.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatkit_protocol::*;
use chatkit_server::{
    ChatKitResponse, ChatKitServer, EventSink, RequestContext, Responder, ServerConfig,
    StreamError, Turn, CANCELLED_NOTE, TIMED_OUT_NOTE,
};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, PageRequest, Store, UserId};
use chatkit_tests::scripted::{stream_reply, Scripted};
use futures::StreamExt;
use serde_json::json;

use crate::{add_message_body, Harness};

async fn stored(store: &dyn Store, thread_id: &str) -> Vec<ThreadItem> {
    store
        .load_thread_items(&UserId::new("ada"), thread_id, &PageRequest::new(100, Order::Asc))
        .await
        .unwrap()
        .items
        .data
}

fn text(item: &ThreadItem) -> String {
    match item {
        ThreadItem::AssistantMessage(m) => m.content.iter().map(|c| c.text.as_str()).collect(),
        other => panic!("not an assistant message: {other:?}"),
    }
}

/// Says a little, then waits far longer than any budget (a slow tool, a retry backoff, a
/// model that went quiet), then would say more.
struct Stalls;

#[async_trait]
impl Responder for Stalls {
    async fn respond(&self, _turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let id = sink.new_id("msg");
        let item = AssistantMessageItem {
            id: id.clone(),
            thread_id: sink.thread_id().into(),
            created_at: timestamp::now(),
            content: vec![],
        };
        sink.emit(ThreadStreamEvent::ItemAdded { item: item.into() }).await?;
        let update = |update| ThreadStreamEvent::ItemUpdated { item_id: id.clone(), update };
        sink.emit(update(ThreadItemUpdate::ContentPartAdded {
            content_index: 0,
            content: AssistantMessageContent::text(""),
        }))
        .await?;
        sink.emit(update(ThreadItemUpdate::TextDelta {
            content_index: 0,
            delta: "Half an ans".into(),
        }))
        .await?;
        tokio::time::sleep(Duration::from_secs(600)).await;
        stream_reply(&sink, &["never sent"], Duration::ZERO).await
    }
}

fn server(
    responder: Arc<dyn Responder>,
    config: ServerConfig,
) -> (ChatKitServer, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (ChatKitServer::new(store.clone(), responder).with_config(config), store)
}

async fn events(
    server: &ChatKitServer,
    ctx: RequestContext,
    body: serde_json::Value,
) -> Vec<ThreadStreamEvent> {
    let Ok(ChatKitResponse::Stream(stream)) =
        server.process(&serde_json::to_vec(&body).unwrap(), ctx).await
    else {
        panic!()
    };
    stream.collect().await
}

fn create() -> serde_json::Value {
    json!({"type": "threads.create", "params": {"input": crate::message("hi")}})
}

/// The end of a timed-out turn: the partial reply `done`, then a retryable error; stored:
/// the user message, the partial reply, the hidden note.
async fn assert_timed_out(events: &[ThreadStreamEvent], store: &dyn Store) {
    let n = events.len();
    let ThreadStreamEvent::ItemDone { item } = &events[n - 2] else { panic!("{events:#?}") };
    assert_eq!(text(item), "Half an ans");
    let ThreadStreamEvent::Error { allow_retry, message, .. } = &events[n - 1] else {
        panic!("{events:#?}")
    };
    assert!(allow_retry);
    assert!(message.as_deref().unwrap().contains("took too long"), "{message:?}");
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!() };
    let items = stored(store, &thread.id).await;
    assert_eq!(items.len(), 3, "{items:#?}");
    assert_eq!(text(&items[1]), "Half an ans");
    let ThreadItem::SdkHiddenContext(note) = &items[2] else { panic!("{items:#?}") };
    assert_eq!(note.content, TIMED_OUT_NOTE);
}

#[tokio::test]
async fn a_turn_stops_at_its_budget_keeping_what_it_said() {
    let config =
        ServerConfig { turn_budget: Some(Duration::from_millis(300)), ..ServerConfig::default() };
    let (server, store) = server(Arc::new(Stalls), config);
    let started = Instant::now();
    let events = events(&server, RequestContext::new(UserId::new("ada"), "r1"), create()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at the budget, not after the stall"
    );
    assert_timed_out(&events, store.as_ref()).await;
    // the responder is gone: nothing more is written
    let snapshot = store.snapshot();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.snapshot(), snapshot);
}

#[tokio::test]
async fn a_turn_stops_a_margin_before_the_invocation_deadline() {
    let config =
        ServerConfig { deadline_margin: Duration::from_secs(30), ..ServerConfig::default() };
    let (server, store) = server(Arc::new(Stalls), config);
    // the invocation dies in 30.3 s; the turn stops 30 s before that
    let ctx = RequestContext::new(UserId::new("ada"), "r2")
        .with_deadline(Instant::now() + Duration::from_millis(30_300));
    let started = Instant::now();
    let events = events(&server, ctx, create()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_timed_out(&events, store.as_ref()).await;
}

#[tokio::test]
async fn a_turn_within_its_time_is_untouched() {
    let config =
        ServerConfig { turn_budget: Some(Duration::from_secs(30)), ..ServerConfig::default() };
    let (server, _) = server(Arc::new(Scripted), config);
    let ctx = RequestContext::new(UserId::new("ada"), "r3")
        .with_deadline(Instant::now() + Duration::from_secs(60));
    let events = events(&server, ctx, create()).await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })), "{events:#?}");
}

/// Reads a stream until its first text delta.
async fn until_first_delta(stream: &mut chatkit_server::EventStream) {
    loop {
        match stream.next().await {
            Some(ThreadStreamEvent::ItemUpdated {
                update: ThreadItemUpdate::TextDelta { .. },
                ..
            }) => return,
            Some(_) => {}
            None => panic!("the stream ended before its first delta"),
        }
    }
}

async fn assert_cancelled(store: &dyn Store, thread_id: &str) {
    let mut items = Vec::new();
    for _ in 0..100 {
        items = stored(store, thread_id).await;
        if items.iter().any(|i| matches!(i, ThreadItem::SdkHiddenContext(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = items.len();
    assert_eq!(text(&items[n - 2]), "Half an ans", "{items:#?}");
    let ThreadItem::SdkHiddenContext(note) = &items[n - 1] else { panic!("{items:#?}") };
    assert_eq!(note.content, CANCELLED_NOTE);
}

#[tokio::test]
async fn turns_cancel_stops_a_turn_running_in_this_process() {
    let config = ServerConfig { cancel_poll: Duration::ZERO, ..ServerConfig::default() };
    let (server, store) = server(Arc::new(Stalls), config);
    let ctx = RequestContext::new(UserId::new("ada"), "turn-1");
    let Ok(ChatKitResponse::Stream(mut stream)) =
        server.process(&serde_json::to_vec(&create()).unwrap(), ctx).await
    else {
        panic!()
    };
    let Some(ThreadStreamEvent::ThreadCreated { thread }) = stream.next().await else { panic!() };
    until_first_delta(&mut stream).await;

    // another user cannot stop it
    let cancel = |turn: &str| {
        serde_json::to_vec(&json!({"type": "turns.cancel", "params": {"turn_id": turn}})).unwrap()
    };
    let eve = RequestContext::new(UserId::new("eve"), "c0");
    assert!(matches!(server.process(&cancel("turn-1"), eve).await, Ok(ChatKitResponse::Json(_))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stored(store.as_ref(), &thread.id).await.len(), 1, "still running");

    let started = Instant::now();
    let ctx = RequestContext::new(UserId::new("ada"), "c1");
    let Ok(ChatKitResponse::Json(answer)) = server.process(&cancel("turn-1"), ctx).await else {
        panic!()
    };
    assert_eq!(answer.value(), json!({}));
    let rest: Vec<ThreadStreamEvent> = stream.collect().await;
    assert!(started.elapsed() < Duration::from_secs(2), "the stream ended at once");
    assert!(!rest.iter().any(|e| matches!(e, ThreadStreamEvent::ItemDone { .. })), "{rest:?}");
    assert_cancelled(store.as_ref(), &thread.id).await;

    let bad = RequestContext::new(UserId::new("ada"), "c2");
    assert_eq!(server.process(&cancel("no spaces allowed"), bad).await.unwrap_err().status(), 400);
}

#[tokio::test]
async fn turns_cancel_reaches_a_turn_in_another_process_through_the_store() {
    // two servers on one store: as two Lambda containers on one table
    let store = Arc::new(MemoryStore::new());
    let config = ServerConfig { cancel_poll: Duration::from_millis(50), ..ServerConfig::default() };
    let running = ChatKitServer::new(store.clone(), Arc::new(Stalls)).with_config(config.clone());
    let other = ChatKitServer::new(store.clone(), Arc::new(Stalls)).with_config(config);
    let ctx = RequestContext::new(UserId::new("ada"), "turn-2");
    let Ok(ChatKitResponse::Stream(mut stream)) =
        running.process(&serde_json::to_vec(&create()).unwrap(), ctx).await
    else {
        panic!()
    };
    let Some(ThreadStreamEvent::ThreadCreated { thread }) = stream.next().await else { panic!() };
    until_first_delta(&mut stream).await;

    let requests = store.request_count();
    let cancel =
        serde_json::to_vec(&json!({"type": "turns.cancel", "params": {"turn_id": "turn-2"}}))
            .unwrap();
    let Ok(ChatKitResponse::Json(_)) =
        other.process(&cancel, RequestContext::new(UserId::new("ada"), "c3")).await
    else {
        panic!()
    };
    let rest: Vec<ThreadStreamEvent> = stream.collect().await;
    assert!(!rest.iter().any(|e| matches!(e, ThreadStreamEvent::ItemDone { .. })), "{rest:?}");
    assert_cancelled(store.as_ref(), &thread.id).await;
    assert!(store.request_count() > requests + 1, "the flag was written and polled");
}

#[tokio::test]
async fn a_streamed_turn_polls_its_flag_at_the_configured_pace() {
    let h = Harness::with_config(ServerConfig {
        cancel_poll: Duration::from_millis(100),
        ..ServerConfig::default()
    });
    let (thread_id, _) = h.create("ada", "hi").await;
    let before = h.requests();
    let started = Instant::now();
    let Ok(ChatKitResponse::Stream(stream)) =
        h.call("ada", &add_message_body(&thread_id, "slow")).await
    else {
        panic!()
    };
    stream.collect::<Vec<_>>().await;
    let polls = h.requests() - before - 3;
    let expected = (started.elapsed().as_millis() / 100) as u64;
    assert!(polls <= expected && polls + 2 >= expected, "{polls} polls in {:?}", started.elapsed());
}
