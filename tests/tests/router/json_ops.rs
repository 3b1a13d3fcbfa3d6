//! JSON operations, pagination, request counts and user isolation.

use chatkit_protocol::*;
use serde_json::{json, Value};

use crate::{add_message_body, Harness};

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn threads_list_pages_exactly_in_both_orders() {
    let h = Harness::new();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(h.create("ada", &format!("thread {i}")).await.0);
    }
    h.create("bob", "not ada's").await;

    let list = |params: Value| json!({"type": "threads.list", "params": params});
    let before = h.requests();
    let all = h.json("ada", list(json!({}))).await;
    assert_eq!(h.requests() - before, 1, "threads.list is one store request");
    let desc: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(ids(&all), desc);
    assert_eq!(all["has_more"], false);
    assert!(all.get("after").is_none());
    for thread in all["data"].as_array().unwrap() {
        assert_eq!(thread["items"], json!({"data": [], "has_more": false}));
        assert_eq!(thread["metadata"], json!({}));
        serde_json::from_value::<Thread>(thread.clone()).unwrap();
    }

    let page1 = h.json("ada", list(json!({"limit": 2, "order": "asc"}))).await;
    assert_eq!(ids(&page1), created[..2]);
    assert_eq!(page1["has_more"], true);
    assert_eq!(page1["after"], created[1].as_str());
    let page2 =
        h.json("ada", list(json!({"limit": 2, "order": "asc", "after": page1["after"]}))).await;
    assert_eq!(ids(&page2), created[2..4]);
    let page3 =
        h.json("ada", list(json!({"limit": 2, "order": "asc", "after": page2["after"]}))).await;
    assert_eq!(ids(&page3), created[4..]);
    assert_eq!(page3["has_more"], false);
    let exact = h.json("ada", list(json!({"limit": 5}))).await;
    assert_eq!(exact["has_more"], false, "exact boundary");
}

#[tokio::test]
async fn get_by_id_returns_the_first_twenty_items_ascending_in_one_request() {
    let h = Harness::new();
    let (thread_id, _) = h.create("ada", "m0").await;
    for i in 1..12 {
        h.stream("ada", add_message_body(&thread_id, &format!("m{i}"))).await;
    }
    let before = h.requests();
    let thread = h
        .json("ada", json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(h.requests() - before, 1);
    let parsed: Thread = serde_json::from_value(thread.clone()).unwrap();
    assert_eq!(parsed.items.data.len(), 20);
    assert!(parsed.items.has_more);
    let ThreadItem::UserMessage(first) = &parsed.items.data[0] else { panic!() };
    assert_eq!(first.content, vec![UserMessageContent::InputText { text: "m0".into() }]);
    assert_eq!(parsed.items.after.as_deref(), Some(parsed.items.data[19].id()));

    // page onward with items.list from the cursor
    let before = h.requests();
    let rest = h.json("ada", json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc", "after": parsed.items.after}})).await;
    assert_eq!(h.requests() - before, 1, "items.list is one store request");
    let rest: Page<ThreadItem> = serde_json::from_value(rest).unwrap();
    assert_eq!(rest.data.len(), 4);
    assert!(!rest.has_more && rest.after.is_none());

    let newest = h
        .json("ada", json!({"type": "items.list", "params": {"thread_id": thread_id, "limit": 3}}))
        .await;
    let newest: Page<ThreadItem> = serde_json::from_value(newest).unwrap();
    assert_eq!(newest.data[2].id(), rest.data[1].id(), "desc is newest first");
    assert!(newest.has_more);
}

#[tokio::test]
async fn update_and_delete_threads() {
    let h = Harness::new();
    let (thread_id, _) = h.create("ada", "hi").await;
    let updated = h.json("ada", json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Renamed"}})).await;
    assert_eq!(updated["title"], "Renamed");
    assert_eq!(updated["items"], json!({"data": [], "has_more": false}));
    let got = h
        .json("ada", json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(got["title"], "Renamed");

    let deleted =
        h.json("ada", json!({"type": "threads.delete", "params": {"thread_id": thread_id}})).await;
    assert_eq!(deleted, json!({}));
    let err = h
        .error("ada", json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(err.status(), 404);
    let list = h.json("ada", json!({"type": "threads.list", "params": {}})).await;
    assert!(ids(&list).is_empty());
}

#[tokio::test]
async fn feedback_attachments_transcription_and_sync_actions() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "widget").await;
    let ThreadStreamEvent::ItemDone { item: widget } = events.last().unwrap() else { panic!() };

    let fb = json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [widget.id()], "kind": "positive"}});
    assert_eq!(h.json("ada", fb).await, json!({}));
    let empty = json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [], "kind": "positive"}});
    assert_eq!(h.error("ada", empty).await.status(), 400);

    let created = h.json("ada", json!({"type": "attachments.create", "params": {"name": "a.png", "size": 10, "mime_type": "image/png"}})).await;
    let attachment: Attachment = serde_json::from_value(created.clone()).unwrap();
    assert!(
        matches!(&attachment, Attachment::Image { upload_descriptor: Some(_), .. }),
        "{created}"
    );
    let mut msg = add_message_body(&thread_id, "see attached");
    msg["params"]["input"]["attachments"] = json!([attachment.id()]);
    let events = h.stream("ada", msg).await;
    let ThreadStreamEvent::ItemDone { item: ThreadItem::UserMessage(sent) } = &events[0] else {
        panic!()
    };
    assert_eq!(sent.attachments[0].thread_id(), Some(thread_id.as_str()));
    let delete =
        json!({"type": "attachments.delete", "params": {"attachment_id": attachment.id()}});
    assert_eq!(h.json("ada", delete.clone()).await, json!({}));
    assert_eq!(h.error("ada", delete).await.status(), 404);

    let text = h.json("ada", json!({"type": "input.transcribe", "params": {"audio_base64": "aGVsbG8=", "mime_type": "audio/webm;codecs=opus"}})).await;
    assert_eq!(text, json!({"text": "5 bytes of audio/webm"}));
    let bad = json!({"type": "input.transcribe", "params": {"audio_base64": "***", "mime_type": "audio/webm"}});
    assert_eq!(h.error("ada", bad).await.status(), 400);

    let sync = |item_id: Value| json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id, "item_id": item_id, "action": {"type": "toggle"}}});
    let response = h.json("ada", sync(json!(widget.id()))).await;
    let response: SyncCustomActionResponse = serde_json::from_value(response).unwrap();
    assert_eq!(response.updated_item.unwrap().id(), widget.id());
    assert_eq!(h.json("ada", sync(Value::Null)).await, json!({}));
    let user_msg = events[0].clone();
    let ThreadStreamEvent::ItemDone { item } = user_msg else { panic!() };
    assert_eq!(h.error("ada", sync(json!(item.id()))).await.status(), 400);
}

/// User B, holding every correct id of user A, gets 404 everywhere and changes nothing.
#[tokio::test]
async fn another_user_cannot_read_or_touch_a_thread() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "tool").await;
    let ThreadStreamEvent::ItemDone { item: msg } = &events[1] else { panic!() };
    let attachment = h.json("ada", json!({"type": "attachments.create", "params": {"name": "f.txt", "size": 1, "mime_type": "text/plain"}})).await;
    let atc = attachment["id"].as_str().unwrap();
    let snapshot = h.store.snapshot();

    let t = thread_id.as_str();
    let m = msg.id();
    let attempts = [
        json!({"type": "threads.get_by_id", "params": {"thread_id": t}}),
        json!({"type": "threads.update", "params": {"thread_id": t, "title": "mine now"}}),
        json!({"type": "threads.delete", "params": {"thread_id": t}}),
        json!({"type": "items.list", "params": {"thread_id": t}}),
        json!({"type": "items.feedback", "params": {"thread_id": t, "item_ids": [m], "kind": "negative"}}),
        add_message_body(t, "hijack"),
        json!({"type": "threads.add_client_tool_output", "params": {"thread_id": t, "result": {}}}),
        json!({"type": "threads.add_structured_input", "params": {"thread_id": t, "item_id": m, "input": {}}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": t, "item_id": m}}),
        json!({"type": "threads.custom_action", "params": {"thread_id": t, "action": {"type": "x"}}}),
        json!({"type": "threads.sync_custom_action", "params": {"thread_id": t, "action": {"type": "x"}}}),
        json!({"type": "attachments.delete", "params": {"attachment_id": atc}}),
    ];
    for attempt in attempts {
        let err = h.error("bob", attempt.clone()).await;
        assert_eq!(err.status(), 404, "{attempt}: {err}");
    }
    let mut msg = add_message_body(t, "x");
    msg["type"] = json!("threads.create");
    msg["params"] =
        json!({"input": {"content": [], "attachments": [atc], "inference_options": {}}});
    assert_eq!(h.error("bob", msg).await.status(), 404, "someone else's attachment");
    let list = h.json("bob", json!({"type": "threads.list", "params": {}})).await;
    assert!(ids(&list).is_empty());
    assert_eq!(h.store.snapshot(), snapshot, "ada's records are untouched");
}
