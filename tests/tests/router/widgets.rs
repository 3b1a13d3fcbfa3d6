//! Widgets, widget streaming, client effects, notices and the action registry through the
//! router.

use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::{NoticeLevel, ThreadItem, ThreadItemUpdate, ThreadStreamEvent, WidgetItem};
use chatkit_server::{
    ActionContext, ActionHandler, ActionRegistry, ChatKitError, ChatKitResponse, ChatKitServer,
    EventSink, RequestContext, StreamError, SyncActionContext,
};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, UserId};
use chatkit_tests::scripted;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::{add_message_body, types, Harness};

#[tokio::test]
async fn a_streamed_widget_sends_its_updates_and_stores_the_final_tree() {
    let h = Harness::new();
    let (thread_id, _) = h.create("u1", "hello").await;
    let events = h.stream("u1", add_message_body(&thread_id, "stream widget")).await;
    let kinds = types(&events);
    assert_eq!(
        kinds,
        [
            "thread.item.done",
            "stream_options",
            "thread.item.added",
            "thread.item.updated",
            "thread.item.updated",
            "thread.item.updated",
            "thread.item.done"
        ]
    );
    let updates: Vec<&ThreadItemUpdate> = events
        .iter()
        .filter_map(|e| match e {
            ThreadStreamEvent::ItemUpdated { update, .. } => Some(update),
            _ => None,
        })
        .collect();
    assert_eq!(
        updates[0],
        &ThreadItemUpdate::WidgetTextDelta {
            component_id: "body".into(),
            delta: "Sales ".into(),
            done: false
        }
    );
    assert_eq!(
        updates[1],
        &ThreadItemUpdate::WidgetTextDelta {
            component_id: "body".into(),
            delta: "are up.".into(),
            done: true
        }
    );
    assert!(
        matches!(updates[2], ThreadItemUpdate::WidgetComponentUpdated { component_id, .. } if component_id == "body")
    );
    let Some(ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(done) }) = events.last() else {
        panic!("{kinds:?}")
    };
    assert_eq!(done.widget["children"][1]["value"], "Sales are up 4%.");
    assert_eq!(done.copy_text.as_deref(), Some("Report: Sales are up 4%."));
    let stored = h.store.load_item(&UserId::new("u1"), &thread_id, &done.id).await.unwrap();
    assert_eq!(stored, ThreadItem::Widget(done.clone()));
}

#[tokio::test]
async fn client_effects_and_notices_reach_the_client_and_are_not_stored() {
    let h = Harness::new();
    let (thread_id, _) = h.create("u1", "hello").await;
    let before = h
        .store
        .load_thread_items(
            &UserId::new("u1"),
            &thread_id,
            &chatkit_store::PageRequest::new(100, chatkit_protocol::Order::Asc),
        )
        .await
        .unwrap()
        .items
        .data
        .len();
    let events = h.stream("u1", add_message_body(&thread_id, "effects")).await;
    assert!(
        matches!(&events[2], ThreadStreamEvent::ClientEffect { name, data } if name == "highlight" && data["selector"] == "#order-42")
    );
    assert!(
        matches!(&events[3], ThreadStreamEvent::ClientEffect { name, data } if name == "refresh" && data["value"] == "orders")
    );
    assert!(
        matches!(&events[4], ThreadStreamEvent::Notice { level: NoticeLevel::Warning, title: Some(t), .. } if t == "Heads up")
    );
    let wire = serde_json::to_value(&events[4]).unwrap();
    assert_eq!(
        wire,
        json!({"type": "notice", "level": "warning", "message": "Your plan renews **tomorrow**.", "title": "Heads up"})
    );
    let after = h
        .store
        .load_thread_items(
            &UserId::new("u1"),
            &thread_id,
            &chatkit_store::PageRequest::new(100, chatkit_protocol::Order::Asc),
        )
        .await
        .unwrap()
        .items
        .data
        .len();
    assert_eq!(after, before + 2, "the user message and the reply only");
}

#[tokio::test]
async fn an_invalid_widget_is_never_sent_and_falls_back_to_its_text() {
    let h = Harness::new();
    let (thread_id, _) = h.create("u1", "hello").await;
    let events = h.stream("u1", add_message_body(&thread_id, "bad widget")).await;
    assert!(!events.iter().any(|e| matches!(
        e,
        ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(_) }
            | ThreadStreamEvent::ItemAdded { item: ThreadItem::Widget(_) }
    )));
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    let Some(ThreadStreamEvent::ItemDone { item: ThreadItem::AssistantMessage(m) }) = events.last()
    else {
        panic!("{:?}", types(&events))
    };
    assert_eq!(m.content[0].text, "Order #42: shipped");
}

/// A counter widget: `counter.add` (streamed, with an effect) and `counter.set` (sync).
struct Counter;

fn counter(n: i64) -> Value {
    json!({"type": "Card", "children": [{"type": "Text", "value": format!("Count: {n}")},
        {"type": "Button", "label": "+1", "onClickAction": {"type": "counter.add", "payload": {"n": n}}},
        {"type": "Button", "label": "Keep", "onClickAction": {"type": "counter.set", "payload": {"n": n}}}]})
}

#[async_trait]
impl ActionHandler for Counter {
    async fn handle(
        &self,
        mut action: ActionContext,
        events: EventSink,
    ) -> Result<(), StreamError> {
        let n = action.payload::<Value>()?["n"].as_i64().unwrap_or(0) + 1;
        action.replace_widget(&events, counter(n), None).await?;
        events.client_effect("counted", json!({"n": n})).await?;
        Ok(())
    }

    async fn handle_sync(
        &self,
        action: SyncActionContext,
    ) -> Result<Option<WidgetItem>, ChatKitError> {
        let n = action.payload::<Value>()?["n"].as_i64().unwrap_or(0);
        action.updated_widget(counter(n), Some(format!("Count: {n}"))).map(Some)
    }
}

#[tokio::test]
async fn a_server_action_registry_dispatches_by_type_and_refuses_unknown_types() {
    let store = Arc::new(MemoryStore::new());
    let server = ChatKitServer::new(store.clone(), Arc::new(scripted::Scripted)).with_actions(
        ActionRegistry::new()
            .with("counter.add", Arc::new(Counter))
            .with("counter.set", Arc::new(Counter)),
    );
    let call = |body: Value| {
        let server = server.clone();
        async move {
            server
                .process(
                    &serde_json::to_vec(&body).unwrap(),
                    RequestContext::new(UserId::new("u1"), "r"),
                )
                .await
        }
    };
    let Ok(ChatKitResponse::Stream(s)) = call(crate::create_body("widget")).await else { panic!() };
    let events: Vec<ThreadStreamEvent> = s.collect().await;
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!() };
    let widget = events
        .iter()
        .find_map(|e| match e {
            ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(w) } => Some(w.clone()),
            _ => None,
        })
        .unwrap();
    let action = |kind: &str, op: &str, n: i64| json!({"type": op, "params": {"thread_id": thread.id, "item_id": widget.id, "action": {"type": kind, "payload": {"n": n}}}});

    let Ok(ChatKitResponse::Stream(s)) =
        call(action("counter.add", "threads.custom_action", 41)).await
    else {
        panic!()
    };
    let events: Vec<ThreadStreamEvent> = s.collect().await;
    assert_eq!(types(&events), ["stream_options", "thread.item.replaced", "client_effect"]);
    let ThreadStreamEvent::ItemReplaced { item: ThreadItem::Widget(w) } = &events[1] else {
        unreachable!()
    };
    assert_eq!(w.widget["children"][0]["value"], "Count: 42");

    // the card now offers n = 42 only: an action with the old payload is refused
    let stale = call(action("counter.set", "threads.sync_custom_action", 41)).await.unwrap_err();
    assert_eq!(stale.status(), 400, "{stale:?}");
    let Ok(ChatKitResponse::Json(response)) =
        call(action("counter.set", "threads.sync_custom_action", 42)).await
    else {
        panic!()
    };
    let response = response.value();
    assert_eq!(response["updated_item"]["widget"]["children"][0]["value"], "Count: 42");
    let stored = store.load_item(&UserId::new("u1"), &thread.id, &widget.id).await.unwrap();
    assert_eq!(
        serde_json::to_value(stored).unwrap(),
        response["updated_item"],
        "the sync update is stored"
    );

    for op in ["threads.custom_action", "threads.sync_custom_action"] {
        let err = call(action("counter.reset", op, 42)).await.unwrap_err();
        assert_eq!(err.status(), 400, "{op}");
        let body = err.to_body("r");
        assert_eq!(body["error"]["field"], "params.action.type");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("counter.add, counter.set"),
            "{body}"
        );
    }
}
