//! Production-shaped data for the read benchmarks (issue 19): threads with titles and private
//! metadata, and items of every kind a real conversation leaves behind (user messages with
//! tags, quotes and image and file attachments, web-search tasks, workflows, client tool
//! calls, assistant messages with annotations, widgets). Written with the DynamoDB store's own
//! writes, as the server would have written them, so a list reads exactly what production
//! reads; the image attachments get presigned previews when the served process has a bucket.

use aws_config::BehaviorVersion;
use chatkit_dynamodb::DynamoStore;
use chatkit_protocol::{ThreadItem, ThreadMetadata};
use chatkit_store::ids::new_id;
use chatkit_store::prelude::*;
use chatkit_store::UserId;
use serde_json::{json, Map, Value};

use crate::chatkit::Result;

/// The bucket the served process presigns previews in (no request reaches it).
pub const BUCKET: &str = "chatkit-bench-attachments";

/// Writes `threads` threads for `user` on `table`; the first gets `items` items. Returns the
/// first thread's id.
pub async fn realistic(table: &str, user: &str, threads: usize, items: usize) -> Result<String> {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let store = DynamoStore::new(&sdk, table);
    let user = UserId::new(user);
    let mut first = None;
    for n in 0..threads {
        let id = new_id("thr");
        let mut thread = ThreadMetadata::new(&id, chrono::Utc::now());
        thread.title =
            Some(format!("Shipping delays on order #{} and the refund policy", 4200 + n));
        thread.metadata = private_metadata(n);
        let turn: Vec<ThreadItem> =
            conversation(&id, 0).into_iter().take(if n == 0 { 0 } else { 2 }).collect();
        store.create_thread(&user, &thread, &turn).await?;
        first.get_or_insert(id);
    }
    let first = first.ok_or("no threads seeded")?;
    let mut written = 0;
    for turn in 0.. {
        for item in conversation(&first, turn) {
            if written == items {
                return Ok(first);
            }
            store.save_item(&user, &first, &item).await?;
            written += 1;
        }
    }
    Ok(first)
}

/// What an integration keeps on a thread (never sent to the client).
fn private_metadata(n: usize) -> Map<String, Value> {
    let value = json!({
        "previous_response_id": format!("resp_68a1f0c2e4b8{n:012}"),
        "model": "gpt-4.1-mini",
        "locale": "en-US",
        "crm_case": {"id": format!("case-{n}"), "priority": "normal", "tags": ["shipping", "refund"]},
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One turn of a support conversation, as wire JSON parsed into items (ids in write order).
fn conversation(thread_id: &str, turn: usize) -> Vec<ThreadItem> {
    let at = chrono::Utc::now().to_rfc3339();
    let attachments = if turn.is_multiple_of(2) {
        let (image, file) = (new_id("atc"), new_id("atc"));
        json!([
            {"type": "image", "id": image, "name": "receipt.png", "mime_type": "image/png",
             "thread_id": thread_id, "preview_url": format!("s3://{BUCKET}/attachments/u/{image}"),
             "metadata": {"size": 183_402, "key": format!("attachments/3f9a1c2b7d4e5f60a1b2c3d4e5f60718/{image}")}},
            {"type": "file", "id": file, "name": "invoice-4200.pdf", "mime_type": "application/pdf",
             "thread_id": thread_id,
             "metadata": {"size": 96_211, "key": format!("attachments/3f9a1c2b7d4e5f60a1b2c3d4e5f60718/{file}"), "pages": 2}},
        ])
    } else {
        json!([])
    };
    let answer = "Your order left our warehouse on **Monday** and is with the carrier now. \
        Deliveries in your region are running about two days late this week because of the \
        storm along the east coast, so the new estimate is *Thursday*.\n\n\
        | step | date | status |\n|---|---|---|\n| packed | May 30 | done |\n| shipped | Jun 2 | done |\n\
        | delivered | Jun 5 | expected |\n\n\
        If it has not arrived by Friday you can ask for a full refund: the policy covers any \
        delay past five business days. I can open that request for you now, or set a reminder.";
    let items = [
        json!({"type": "user_message", "id": new_id("msg"), "thread_id": thread_id, "created_at": at,
            "content": [
                {"type": "input_text", "text": "Where is my order "},
                {"type": "input_tag", "id": "order_4200", "text": "Order #4200", "data": {"kind": "order"}, "group": "Orders", "interactive": true},
                {"type": "input_text", "text": "? The tracking page has not changed since Monday and I need it before the weekend. Can you check with the carrier?"},
            ],
            "attachments": attachments,
            "quoted_text": if turn.is_multiple_of(3) { json!("Estimated delivery: Tuesday") } else { Value::Null },
            "inference_options": {"tool_choice": {"id": "order_lookup"}, "model": "gpt-4.1-mini"}}),
        if turn.is_multiple_of(2) {
            json!({"type": "task", "id": new_id("tsk"), "thread_id": thread_id, "created_at": at,
            "task": {"status_indicator": "complete", "type": "web_search", "title": "Searched the help center",
                "title_query": "shipping delays", "queries": ["shipping delays east coast", "order 4200"],
                "sources": [
                    {"type": "url", "title": "Shipping policy", "url": "https://help.example.com/shipping", "attribution": "help.example.com"},
                    {"type": "url", "title": "Refunds", "url": "https://help.example.com/refunds", "attribution": "help.example.com"},
                ]}})
        } else {
            json!({"type": "workflow", "id": new_id("wf"), "thread_id": thread_id, "created_at": at,
            "workflow": {"type": "custom", "expanded": false,
                "summary": {"title": "Looked up your order", "icon": "search"},
                "tasks": [
                    {"status_indicator": "complete", "type": "custom", "title": "Checked the carrier", "icon": "check", "content": "In transit, hub: Newark"},
                    {"status_indicator": "complete", "type": "thought", "title": "Plan", "content": "Give the new estimate and the refund option."},
                    {"status_indicator": "complete", "type": "file", "title": "Read the invoice", "sources": [{"type": "file", "title": "invoice-4200.pdf", "filename": "invoice-4200.pdf"}]},
                ]}})
        },
        json!({"type": "client_tool_call", "id": new_id("fc"), "thread_id": thread_id, "created_at": at,
            "status": "completed", "call_id": format!("call_{}", new_id("c")), "name": "get_order_status",
            "arguments": {"order_id": "4200", "include": ["tracking", "items"]},
            "output": {"status": "in_transit", "carrier": "UPS", "tracking": "1Z999AA10123456784", "eta": "2025-06-05",
                "items": [{"sku": "KB-104", "qty": 1}, {"sku": "MS-220", "qty": 2}]}}),
        json!({"type": "assistant_message", "id": new_id("msg"), "thread_id": thread_id, "created_at": at,
        "content": [{"type": "output_text", "text": answer, "annotations": [
            {"type": "annotation", "source": {"type": "url", "title": "Shipping policy", "url": "https://help.example.com/shipping", "attribution": "help.example.com"}, "index": 120},
            {"type": "annotation", "source": {"type": "file", "title": "invoice-4200.pdf", "filename": "invoice-4200.pdf"}},
            {"type": "annotation", "source": {"type": "entity", "id": "order_4200", "title": "Order #4200", "description": "Placed 2025-05-30", "icon": "suitcase", "label": "Order", "interactive": true, "data": {"order_id": "4200"}}, "index": 10},
        ]}]}),
        if turn.is_multiple_of(2) {
            json!({"type": "widget", "id": new_id("msg"), "thread_id": thread_id, "created_at": at,
            "copy_text": "Order #4200: in transit, expected Thursday",
            "widget": {"type": "Card", "size": "md", "children": [
                {"type": "Title", "value": "Order #4200"},
                {"type": "ListView", "children": [
                    {"type": "ListViewItem", "children": [{"type": "Text", "value": "Keyboard KB-104 × 1"}]},
                    {"type": "ListViewItem", "children": [{"type": "Text", "value": "Mouse MS-220 × 2"}]},
                ]},
                {"type": "Button", "label": "Ask for a refund", "style": "secondary",
                 "onClickAction": {"type": "order.refund", "payload": {"order_id": "4200"}, "handler": "server", "loadingBehavior": "auto"}},
            ]}})
        } else {
            json!({"type": "end_of_turn", "id": new_id("msg"), "thread_id": thread_id, "created_at": at})
        },
    ];
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).expect("a seed item the protocol types read"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_seed_item_reads_as_a_protocol_item() {
        for turn in 0..6 {
            assert_eq!(super::conversation("thr_x", turn).len(), 5);
        }
    }
}
