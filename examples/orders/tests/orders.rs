//! The worked example through the real router (`ChatKitServer::process`) with the agent on
//! a local stub model: the tool shows the card, the buttons' actions update it.

use chatkit_store::prelude::*;
use chatkit_testkit::model as stub;

use std::sync::Arc;

use chatkit_agent::{Agent, AgentConfig, ModelApi};
use chatkit_example_orders::{with_orders, APPROVE, REJECT};
use chatkit_protocol::{NoticeLevel, Order, ThreadItem, ThreadStreamEvent, WidgetItem};
use chatkit_server::{ChatKitError, ChatKitResponse, ChatKitServer, RequestContext};
use chatkit_store::{MemoryStore, PageRequest, UserId};
use futures::StreamExt;
use serde_json::{json, Value};
use stub::*;

struct Harness {
    server: ChatKitServer,
    store: Arc<MemoryStore>,
    stub: Stub,
}

impl Harness {
    async fn new() -> Self {
        let stub = Stub::start().await;
        let config = AgentConfig {
            base_url: stub.url.clone(),
            api_key: Some("sk-test".into()),
            model: "m".into(),
            api: ModelApi::Responses,
            ..AgentConfig::default()
        };
        let agent = with_orders(Agent::new(config, reqwest::Client::new()));
        let store = Arc::new(MemoryStore::new());
        Self { server: ChatKitServer::new(store.clone(), Arc::new(agent)), store, stub }
    }

    async fn call(&self, body: Value) -> Result<ChatKitResponse, ChatKitError> {
        self.server
            .process(
                &serde_json::to_vec(&body).unwrap(),
                RequestContext::new(UserId::new("ada"), "req"),
            )
            .await
    }

    async fn stream(&self, body: Value) -> Vec<ThreadStreamEvent> {
        match self.call(body).await {
            Ok(ChatKitResponse::Stream(s)) => s.collect().await,
            other => panic!("{other:?}"),
        }
    }

    async fn items(&self, thread_id: &str) -> Vec<ThreadItem> {
        self.store
            .load_thread_items(&UserId::new("ada"), thread_id, &PageRequest::new(100, Order::Asc))
            .await
            .unwrap()
            .items
            .data
    }

    /// A thread where the model called `show_order` for order 42; returns it and the card.
    async fn shown(&self) -> (String, WidgetItem) {
        self.stub.push(Reply::Stream(
            [
                responses_start(),
                vec![
                    responses_tool_call("call_1", "show_order", r#"{"order_id":"42"}"#),
                    responses_completed(),
                ],
            ]
            .concat(),
        ));
        self.stub.push(responses_text(&["Here is order 42."]));
        let events = self.stream(json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "show order 42"}], "attachments": [], "inference_options": {}}}})).await;
        let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!("{events:?}") };
        let card = events.iter().find_map(|e| match e {
            ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(w) } => Some(w.clone()),
            _ => None,
        });
        (thread.id.clone(), card.expect("the order card"))
    }
}

fn action(thread_id: &str, item_id: &str, kind: &str, payload: Value) -> Value {
    json!({"type": "threads.custom_action", "params": {"thread_id": thread_id, "item_id": item_id, "action": {"type": kind, "payload": payload}}})
}

/// The input items of a Responses request: `(role or type, text or output)`.
fn responses_input(body: &Value) -> Vec<(String, String)> {
    body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| match i["type"].as_str().unwrap() {
            "message" => (
                i["role"].as_str().unwrap().to_string(),
                i["content"].as_str().unwrap().to_string(),
            ),
            other => (
                other.to_string(),
                i.get("output")
                    .or(i.get("arguments"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
        })
        .collect()
}

fn buttons(widget: &Value) -> Vec<Value> {
    widget["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "Row")
        .flat_map(|row| row["children"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn the_tool_shows_a_card_with_buttons_and_approve_updates_it_with_an_effect_and_a_notice() {
    let h = Harness::new().await;
    let (thread_id, card) = h.shown().await;
    chatkit_protocol::widgets::validate_widget(&card.widget).unwrap();
    assert_eq!(card.widget["children"][0], json!({"type": "Title", "value": "Order #42"}));
    let shown = buttons(&card.widget);
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["onClickAction"], json!({"type": APPROVE, "payload": {"order_id": "42"}}));
    assert_eq!(shown[1]["onClickAction"]["type"], REJECT);
    // the model was told the card is shown, and answered after it
    let output = responses_input(&h.stub.model_bodies()[1])
        .into_iter()
        .find(|(k, _)| k == "function_call_output")
        .unwrap()
        .1;
    assert!(output.contains("shown_to_the_user"), "{output}");

    let events = h.stream(action(&thread_id, &card.id, APPROVE, json!({"order_id": "42"}))).await;
    let kinds: Vec<&str> = events.iter().map(ThreadStreamEvent::type_name).collect();
    assert_eq!(kinds, ["stream_options", "thread.item.replaced", "client_effect", "notice"]);
    let ThreadStreamEvent::ItemReplaced { item: ThreadItem::Widget(updated) } = &events[1] else {
        unreachable!()
    };
    assert_eq!(updated.id, card.id);
    assert!(buttons(&updated.widget).is_empty(), "no buttons once approved");
    assert!(updated.widget.to_string().contains("Approved"));
    assert!(
        matches!(&events[2], ThreadStreamEvent::ClientEffect { name, data } if name == "order_approved" && data["order_id"] == "42")
    );
    assert!(
        matches!(&events[3], ThreadStreamEvent::Notice { level: NoticeLevel::Info, message, .. } if message.contains("#42"))
    );
    // stored in place; the model was not called again
    let stored = h.items(&thread_id).await.into_iter().find(|i| i.id() == card.id).unwrap();
    assert_eq!(stored, ThreadItem::Widget(updated.clone()));
    assert_eq!(h.stub.model_bodies().len(), 2);
}

#[tokio::test]
async fn sync_approve_returns_the_updated_card_and_stores_it() {
    let h = Harness::new().await;
    let (thread_id, card) = h.shown().await;
    let mut body = action(&thread_id, &card.id, APPROVE, json!({"order_id": "42"}));
    body["type"] = json!("threads.sync_custom_action");
    let Ok(ChatKitResponse::Json(response)) = h.call(body).await else { panic!() };
    let response = response.value();
    assert_eq!(response["updated_item"]["id"], card.id.as_str());
    assert!(response["updated_item"]["widget"].to_string().contains("Approved"));
    let stored = h.items(&thread_id).await.into_iter().find(|i| i.id() == card.id).unwrap();
    assert_eq!(serde_json::to_value(stored).unwrap(), response["updated_item"]);
}

#[tokio::test]
async fn reject_updates_the_card_and_starts_a_model_turn_that_knows_what_happened() {
    let h = Harness::new().await;
    let (thread_id, card) = h.shown().await;
    h.stub.push(responses_text(&["Sorry to hear that. Why was it rejected?"]));
    let events = h.stream(action(&thread_id, &card.id, REJECT, json!({"order_id": "42"}))).await;
    let kinds: Vec<&str> = events.iter().map(ThreadStreamEvent::type_name).collect();
    assert_eq!(&kinds[..2], ["stream_options", "thread.item.replaced"], "{kinds:?}");
    assert!(!kinds.contains(&"error"), "{kinds:?}");
    let input = responses_input(&h.stub.model_bodies()[2]);
    let last = input.last().unwrap();
    assert!(last.1.contains("rejected order #42"), "the model sees the note last: {input:?}");
    let card_seen = input.iter().find(|(_, text)| text.contains("graphical UI widget")).unwrap();
    assert!(card_seen.1.contains("Rejected"), "the model sees the updated card: {card_seen:?}");
    let items = h.items(&thread_id).await;
    let last = items.iter().rev().find(|i| matches!(i, ThreadItem::AssistantMessage(_))).unwrap();
    assert!(serde_json::to_string(last).unwrap().contains("Why was it rejected?"));
}

#[tokio::test]
async fn unknown_types_bad_payloads_and_non_widget_senders_are_clear_errors() {
    let h = Harness::new().await;
    let (thread_id, card) = h.shown().await;
    for kind in ["threads.custom_action", "threads.sync_custom_action"] {
        let mut body = action(&thread_id, &card.id, "orders.delete", json!({}));
        body["type"] = json!(kind);
        let err = h.call(body).await.unwrap_err();
        assert_eq!(err.status(), 400, "{kind}");
        assert!(err.to_string().contains("orders.approve, orders.reject"), "{err}");
    }
    // a streamed-only action sent as sync: 400
    let mut body = action(&thread_id, &card.id, REJECT, json!({"order_id": "42"}));
    body["type"] = json!("threads.sync_custom_action");
    assert_eq!(h.call(body).await.unwrap_err().status(), 400);
    // a payload the card does not offer (another order, or another shape): 400 before
    // anything streams, for both kinds of request
    for payload in [json!({"order_id": "7"}), json!({"order": 42}), json!(null)] {
        for kind in ["threads.custom_action", "threads.sync_custom_action"] {
            let mut body = action(&thread_id, &card.id, APPROVE, payload.clone());
            body["type"] = json!(kind);
            let err = h.call(body).await.unwrap_err();
            assert_eq!(err.status(), 400, "{kind} {payload}");
            assert!(err.to_string().contains("offers no `orders.approve` action"), "{err}");
        }
    }
    // an approve with no sending widget: refused by the handler, as an error event
    let mut unbound = action(&thread_id, &card.id, APPROVE, json!({"order_id": "7"}));
    unbound["params"].as_object_mut().unwrap().remove("item_id");
    let events = h.stream(unbound).await;
    assert!(
        matches!(events.last(), Some(ThreadStreamEvent::Error { message: Some(m), .. }) if m.contains("must come from its widget")),
        "{events:?}"
    );
    // a sender that is not a widget
    let user_message = h.items(&thread_id).await[0].id().to_string();
    assert_eq!(
        h.call(action(&thread_id, &user_message, APPROVE, json!({"order_id": "42"})))
            .await
            .unwrap_err()
            .status(),
        400
    );
    let stored = h.items(&thread_id).await.into_iter().find(|i| i.id() == card.id).unwrap();
    assert_eq!(stored, ThreadItem::Widget(card));
}
