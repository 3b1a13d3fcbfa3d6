//! Streaming operations: exact event sequences, persistence, failures, cancellation.

use std::time::Duration;

use chatkit_protocol::*;
use chatkit_server::{ChatKitResponse, CANCELLED_NOTE};
use chatkit_store::prelude::*;
use chatkit_store::{PageRequest, UserId};
use futures::StreamExt;
use serde_json::json;

use crate::{add_message_body, types, Harness};

/// A streamed assistant reply with two deltas: added, part added, 2 deltas, part done, done.
fn reply() -> Vec<&'static str> {
    vec![
        "thread.item.added",
        "thread.item.updated",
        "thread.item.updated",
        "thread.item.updated",
        "thread.item.updated",
        "thread.item.done",
    ]
}

async fn stored(h: &Harness, user: &str, thread_id: &str) -> Vec<ThreadItem> {
    let page = PageRequest::new(100, Order::Asc);
    h.store.load_thread_items(&UserId::new(user), thread_id, &page).await.unwrap().items.data
}

fn assistant_text(item: &ThreadItem) -> String {
    match item {
        ThreadItem::AssistantMessage(m) => m.content.iter().map(|c| c.text.as_str()).collect(),
        other => panic!("not an assistant message: {other:?}"),
    }
}

#[tokio::test]
async fn create_thread_sequence_and_persistence() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "hi").await;
    let mut expected = vec!["thread.created", "thread.item.done", "stream_options"];
    expected.extend(reply());
    assert_eq!(types(&events), expected);

    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { unreachable!() };
    assert_eq!(thread.title, None);
    assert_eq!(thread.items, Page::default());
    let ThreadStreamEvent::ItemDone { item: ThreadItem::UserMessage(msg) } = &events[1] else {
        panic!()
    };
    assert_eq!(msg.thread_id, thread_id);
    assert_eq!(
        events[2],
        ThreadStreamEvent::StreamOptions { stream_options: StreamOptions { allow_cancel: true } }
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ThreadStreamEvent::ItemUpdated {
                update: ThreadItemUpdate::TextDelta { delta, .. },
                ..
            } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["You said: ", "hi"]);

    let items = stored(&h, "ada", &thread_id).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], ThreadItem::UserMessage(msg.clone()));
    assert_eq!(assistant_text(&items[1]), "You said: hi");
}

#[tokio::test]
async fn add_user_message_sequence_costs_one_read_and_one_write_before_the_reply() {
    let h = Harness::new();
    let (thread_id, _) = h.create("ada", "hi").await;
    let before = h.requests();
    let events = h.stream("ada", add_message_body(&thread_id, "again")).await;
    let mut expected = vec!["thread.item.done", "stream_options"];
    expected.extend(reply());
    assert_eq!(types(&events), expected);
    // load thread+history (1), save user message (1), save assistant message (1)
    assert_eq!(h.requests() - before, 3);
    assert_eq!(stored(&h, "ada", &thread_id).await.len(), 4);
}

#[tokio::test]
async fn title_change_ends_with_thread_updated_and_is_saved() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "title").await;
    assert_eq!(types(&events).last(), Some(&"thread.updated"));
    let ThreadStreamEvent::ThreadUpdated { thread } = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(thread.title.as_deref(), Some("A scripted title"));
    assert!(thread.metadata.is_empty() && thread.items.data.is_empty());
    let saved = h.store.load_thread(&UserId::new("ada"), &thread_id).await.unwrap();
    assert_eq!(saved.title.as_deref(), Some("A scripted title"));
}

#[tokio::test]
async fn hidden_items_are_stored_but_never_sent() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "hidden").await;
    assert!(events
        .iter()
        .all(|e| !matches!(e, ThreadStreamEvent::ItemDone { item } if item.is_hidden())));
    let items = stored(&h, "ada", &thread_id).await;
    assert_eq!(items.iter().filter(|i| i.is_hidden()).count(), 1);

    let listed =
        h.json("ada", json!({"type": "items.list", "params": {"thread_id": thread_id}})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let thread = h
        .json("ada", json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(thread["items"]["data"].as_array().unwrap().len(), 2, "{thread}");
}

#[tokio::test]
async fn responder_failure_ends_with_an_error_event_and_keeps_what_was_done() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "fail").await;
    let last = events.last().unwrap();
    let ThreadStreamEvent::Error { code, message, allow_retry } = last else { panic!("{last:?}") };
    assert_eq!(code, "stream.error");
    assert!(allow_retry);
    assert!(message.as_deref().unwrap().contains("req-test"), "{message:?}");
    let items = stored(&h, "ada", &thread_id).await;
    assert!(matches!(items[0], ThreadItem::UserMessage(_)));
    assert_eq!(assistant_text(&items[1]), "partial answer");

    let (_, events) = h.create("ada", "panic").await;
    assert!(matches!(events.last().unwrap(), ThreadStreamEvent::Error { allow_retry: true, .. }));
}

#[tokio::test]
async fn deltas_are_forwarded_before_the_reply_is_done() {
    let h = Harness::new();
    let (thread_id, _) = h.create("ada", "hi").await;
    let Ok(ChatKitResponse::Stream(mut stream)) =
        h.call("ada", &add_message_body(&thread_id, "slow")).await
    else {
        panic!()
    };
    loop {
        let event = stream.next().await.expect("stream ended before a delta");
        if matches!(
            event,
            ThreadStreamEvent::ItemUpdated { update: ThreadItemUpdate::TextDelta { .. }, .. }
        ) {
            break;
        }
    }
    // the first delta reached us while the reply is still being written
    assert_eq!(stored(&h, "ada", &thread_id).await.len(), 3);
    let rest: Vec<_> = stream.collect().await;
    assert!(matches!(rest.last().unwrap(), ThreadStreamEvent::ItemDone { .. }));
}

#[tokio::test]
async fn cancelling_keeps_partial_text_and_adds_the_hidden_note() {
    let h = Harness::new();
    let (thread_id, _) = h.create("ada", "hi").await;
    let Ok(ChatKitResponse::Stream(mut stream)) =
        h.call("ada", &add_message_body(&thread_id, "slow")).await
    else {
        panic!()
    };
    let mut deltas = 0;
    while deltas < 2 {
        if let Some(ThreadStreamEvent::ItemUpdated {
            update: ThreadItemUpdate::TextDelta { .. },
            ..
        }) = stream.next().await
        {
            deltas += 1;
        }
    }
    drop(stream);
    let mut items = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        items = stored(&h, "ada", &thread_id).await;
        if items.len() == 5 {
            break;
        }
    }
    assert_eq!(items.len(), 5, "{items:#?}");
    assert_eq!(assistant_text(&items[3]), "one two ");
    let ThreadItem::SdkHiddenContext(note) = &items[4] else { panic!("{:?}", items[4]) };
    assert_eq!(note.content, CANCELLED_NOTE);
    assert!(note.id.starts_with("shcx_"));
}

#[tokio::test]
async fn client_tool_round_trip_survives_a_refresh() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "tool").await;
    assert_eq!(
        types(&events),
        ["thread.created", "thread.item.done", "stream_options", "thread.item.done"]
    );
    let ThreadStreamEvent::ItemDone { item: ThreadItem::ClientToolCall(call) } = &events[3] else {
        panic!()
    };
    assert_eq!(call.status, ToolCallStatus::Pending);

    // the page was refreshed mid-tool: the cut stream left a hidden note after the call
    let note = SdkHiddenContextItem {
        id: chatkit_store::ids::new_id("shcx"),
        thread_id: thread_id.clone(),
        created_at: timestamp::now(),
        content: CANCELLED_NOTE.into(),
    };
    h.store.save_item(&UserId::new("ada"), &thread_id, &note.into()).await.unwrap();

    let output = json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"selected": 3}}});
    let events = h.stream("ada", output.clone()).await;
    let mut expected = vec!["stream_options"];
    expected.extend(reply());
    assert_eq!(types(&events), expected);

    let items = stored(&h, "ada", &thread_id).await;
    let ThreadItem::ClientToolCall(done) = &items[1] else { panic!() };
    assert_eq!(done.status, ToolCallStatus::Completed);
    assert_eq!(done.output, Some(json!({"selected": 3})));
    assert_eq!(assistant_text(items.last().unwrap()), r#"tool output: {"selected":3}."#);

    // nothing is pending any more: a second output is a conflict (409)
    let err = h.error("ada", output).await;
    assert_eq!(err.status(), 409, "{err}");
}

#[tokio::test]
async fn retry_after_item_deletes_newer_items_and_answers_again() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "first").await;
    let ThreadStreamEvent::ItemDone { item: first } = &events[1] else { panic!() };
    h.stream("ada", add_message_body(&thread_id, "second")).await;
    assert_eq!(stored(&h, "ada", &thread_id).await.len(), 4);

    let retry = |item_id: &str| json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": item_id}});
    let events = h.stream("ada", retry(first.id())).await;
    let mut expected = vec!["stream_options"];
    expected.extend(reply());
    assert_eq!(types(&events), expected);
    let items = stored(&h, "ada", &thread_id).await;
    assert_eq!(items.len(), 2);
    assert_eq!(&items[0], first);
    assert_eq!(assistant_text(&items[1]), "You said: first");

    assert_eq!(h.error("ada", retry(items[1].id())).await.status(), 400);
    assert_eq!(h.error("ada", retry("msg_01JAAAAAAAAAAAAAAAAAAAAAAA")).await.status(), 404);
}

#[tokio::test]
async fn structured_input_is_answered_then_replaced_then_resumed() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "ask").await;
    let ThreadStreamEvent::ItemDone { item: ask } = events.last().unwrap() else { panic!() };
    let body = json!({"type": "threads.add_structured_input", "params": {
        "thread_id": thread_id, "item_id": ask.id(),
        "input": {"answers": {"priority": {"values": ["High", "Low"]}, "unknown": {"values": ["x"]}}}}});
    let events = h.stream("ada", body.clone()).await;
    let mut expected = vec!["stream_options", "thread.item.replaced"];
    expected.extend(reply());
    assert_eq!(types(&events), expected);
    let ThreadStreamEvent::ItemReplaced { item: ThreadItem::StructuredInput(answered) } =
        &events[1]
    else {
        panic!()
    };
    assert_eq!(answered.status, StructuredInputStatus::Answered);
    let answers: Vec<_> = answered
        .inputs
        .iter()
        .map(|i| match i {
            StructuredInput::MultipleChoice { answer, .. }
            | StructuredInput::Freeform { answer, .. } => answer.clone().unwrap(),
        })
        .collect();
    assert_eq!(answers[0], StructuredAnswer { values: vec!["High".into()], skipped: false });
    assert_eq!(answers[1], StructuredAnswer { values: vec![], skipped: true });
    assert_eq!(
        stored(&h, "ada", &thread_id).await[1],
        ThreadItem::StructuredInput(answered.clone())
    );

    assert_eq!(h.error("ada", body).await.status(), 409, "already answered");
    let first_id = stored(&h, "ada", &thread_id).await[0].id().to_string();
    let wrong = json!({"type": "threads.add_structured_input", "params": {"thread_id": thread_id, "item_id": first_id, "input": {}}});
    assert_eq!(h.error("ada", wrong).await.status(), 400, "not a structured input");
}

#[tokio::test]
async fn custom_action_from_a_widget_replaces_it() {
    let h = Harness::new();
    let (thread_id, events) = h.create("ada", "widget").await;
    let ThreadStreamEvent::ItemDone { item: widget } = events.last().unwrap() else { panic!() };
    let action = |item_id: serde_json::Value| {
        json!({"type": "threads.custom_action", "params": {
        "thread_id": thread_id, "item_id": item_id, "action": {"type": "order.cancel", "payload": {"id": 42}}}})
    };
    let events = h.stream("ada", action(json!(widget.id()))).await;
    assert_eq!(types(&events), ["stream_options", "progress_update", "thread.item.replaced"]);
    let ThreadItem::Widget(saved) = &stored(&h, "ada", &thread_id).await[1] else { panic!() };
    assert_eq!(saved.widget["children"][0]["value"], "Done");

    let events = h.stream("ada", action(serde_json::Value::Null)).await;
    assert_eq!(types(&events), ["stream_options", "progress_update"]);
    let user_msg = stored(&h, "ada", &thread_id).await[0].id().to_string();
    assert_eq!(h.error("ada", action(json!(user_msg))).await.status(), 400);
    assert_eq!(h.error("ada", action(json!("msg_01JAAAAAAAAAAAAAAAAAAAAAAA"))).await.status(), 404);
}
