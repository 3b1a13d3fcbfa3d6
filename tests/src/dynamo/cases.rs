//! The cases only the DynamoDB store has: TTL, request counts, records beyond DynamoDB's
//! limits, records of the first format.

use super::*;

fn epoch_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Writes one record of every kind (thread copies, items, feedback, attachment).
async fn write_every_kind(h: &DynamoHarness) {
    let store = h.store();
    let thread = new_thread();
    let items = vec![user_message(&thread, "q"), assistant_message(&thread, "a")];
    store.create_thread(&alice(), &thread, &items[..1]).await.unwrap();
    store.save_item(&alice(), &thread.id, &items[1]).await.unwrap();
    store
        .save_thread(&alice(), &ThreadMetadata { title: Some("t".into()), ..thread.clone() })
        .await
        .unwrap();
    store
        .save_feedback(&alice(), &thread.id, &ids_of(&items), FeedbackKind::Positive)
        .await
        .unwrap();
    store.save_attachment(&alice(), &crate::contract::file_attachment()).await.unwrap();
}

/// With a retention every record carries `expires_at` = now + retention; without, none.
pub async fn retention_sets_expires_at(
    with: &DynamoHarness,
    without: &DynamoHarness,
    retention: Duration,
) {
    let ttl = with
        .raw
        .describe_time_to_live()
        .table_name(&with.table)
        .send()
        .await
        .expect("describe TTL");
    let ttl = ttl.time_to_live_description().expect("TTL description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"), "create_table enables TTL on expires_at");
    assert_eq!(
        ttl.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );

    let start = epoch_now();
    write_every_kind(with).await;
    let end = epoch_now();
    let records = with.scan().await;
    assert_eq!(records.len(), 2 + 2 + 1, "thread copies, items (feedback on them), attachment");
    for record in &records {
        let expires: u64 = match record.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => {
                panic!("expires_at missing or not a number ({other:?}) in {}", render_map(record))
            }
        };
        let range = start + retention.as_secs()..=end + retention.as_secs() + 1;
        assert!(range.contains(&expires), "expires_at {expires} outside {range:?}");
    }

    write_every_kind(without).await;
    let records = without.scan().await;
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| !r.contains_key("expires_at")), "no retention, no expires_at");
}

/// A new item refreshes the thread's TTL (both metadata copies), so an active thread outlives
/// the retention counted from its creation; a write into a missing thread still fails.
pub async fn item_writes_keep_the_thread_alive(short: &DynamoHarness, retention: Duration) {
    let store = short.store();
    let thread = new_thread();
    store.create_thread(&alice(), &thread, &[user_message(&thread, "q")]).await.unwrap();
    // the same table, written later by a store with a longer retention: stands for "time passed"
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let later = DynamoStore::new(&sdk, &short.table).with_retention(Some(retention));
    let start = epoch_now();
    later.save_item(&alice(), &thread.id, &assistant_message(&thread, "a")).await.unwrap();
    let metadata: Vec<u64> = short
        .scan()
        .await
        .iter()
        .filter(|r| matches!(r.get("sk"), Some(AttributeValue::S(sk)) if sk.ends_with("THREAD")))
        .map(|r| match r.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => panic!("metadata without expires_at: {other:?}"),
        })
        .collect();
    assert_eq!(metadata.len(), 2, "head and tail copies");
    for expires in metadata {
        assert!(
            expires >= start + retention.as_secs(),
            "thread TTL refreshed by the item write: {expires}"
        );
    }
    let missing = new_thread();
    let err = later
        .save_item(&alice(), &missing.id, &assistant_message(&missing, "a"))
        .await
        .unwrap_err();
    assert!(matches!(err, chatkit_store::StoreError::NotFound { .. }), "{err}");
}

/// Runs `op` and returns how many DynamoDB requests it made.
macro_rules! requests {
    ($store:expr, $op:expr) => {{
        let before = $store.request_count();
        $op.await.unwrap();
        $store.request_count() - before
    }};
}

/// Exact request counts per operation.
pub async fn request_counts(h: &DynamoHarness) {
    let store = h.dynamo();
    let user = alice();
    let thread = new_thread();
    let first = user_message(&thread, "q");
    assert_eq!(
        requests!(store, store.create_thread(&user, &thread, std::slice::from_ref(&first))),
        1
    );
    assert_eq!(requests!(store, store.save_thread(&user, &thread)), 1);
    let mut items = vec![first.clone()];
    for i in 0..29 {
        let item = assistant_message(&thread, &format!("a{i}"));
        assert_eq!(requests!(store, store.save_item(&user, &thread.id, &item)), 1);
        items.push(item);
    }
    assert_eq!(requests!(store, store.load_thread(&user, &thread.id)), 1);
    assert_eq!(requests!(store, store.load_item(&user, &thread.id, items[3].id())), 1);
    assert_eq!(requests!(store, store.list_threads(&user, &PageRequest::new(10, Order::Desc))), 1);
    let next = PageRequest::new(1, Order::Asc).after(Some(new_id("thr")));
    assert_eq!(requests!(store, store.list_threads(&user, &next)), 1);

    for order in [Order::Asc, Order::Desc] {
        let first_page = PageRequest::new(10, order);
        assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &first_page)), 1);
    }
    // A cursor page reaching the end of the thread meets the far metadata copy: 1 request.
    let last_page = PageRequest::new(10, Order::Asc).after(Some(items[19].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &last_page)), 1);
    let last_page = PageRequest::new(10, Order::Desc).after(Some(items[10].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &last_page)), 1);
    // One stopping short of it (more than limit + 1 items left) adds a GetItem: 2.
    let middle = PageRequest::new(10, Order::Desc).after(Some(items[25].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &middle)), 2);

    let rated = ids_of(&items[..2]);
    assert_eq!(
        requests!(store, store.save_feedback(&user, &thread.id, &rated, FeedbackKind::Negative)),
        1
    );
    let most = ids_of(&items[..30.min(chatkit_store::MAX_FEEDBACK_ITEMS)]);
    assert_eq!(
        requests!(store, store.save_feedback(&user, &thread.id, &most, FeedbackKind::Positive)),
        1
    );
    let attachment = crate::contract::file_attachment();
    assert_eq!(requests!(store, store.save_attachment(&user, &attachment)), 1);
    assert_eq!(requests!(store, store.load_attachment(&user, attachment.id())), 1);
    assert_eq!(requests!(store, store.delete_attachment(&user, attachment.id())), 1);

    // delete_thread: 1 TransactWriteItems (the tombstone on both metadata copies). Cleanup of
    // 30 items (feedback lives on them) and the tail: 1 Query of the partition's keys,
    // ⌈31 / 25⌉ = 2 BatchWriteItem, 1 DeleteItem of the head: 4.
    assert_eq!(requests!(store, store.delete_thread(&user, &thread.id)), 1);
    let before = store.request_count();
    h.run_cleanup().await;
    assert_eq!(store.request_count() - before, 4);
    assert_eq!(h.scan().await.len(), 0);

    // delete_items: ⌈n / 25⌉ BatchWriteItem.
    let other = new_thread();
    store.create_thread(&user, &other, &[]).await.unwrap();
    let ids: Vec<String> = (0..26).map(|_| new_id("msg")).collect();
    assert_eq!(requests!(store, store.delete_items(&user, &other.id, &ids)), 2);
}

/// Deterministic incompressible text (xorshift over printable ASCII).
pub fn noise(len: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

/// A JSON value nested `depth` levels deep, with the numbers and empty values DynamoDB's own
/// types cannot hold (1e300, 1e-300, empty sets).
pub fn deep_value(depth: usize) -> serde_json::Value {
    let mut value = serde_json::json!({"huge": 1e300, "tiny": -1e-300, "big": u64::MAX, "empty": "", "none": [], "nil": null, "obj": {}});
    for i in 0..depth {
        value = serde_json::json!({ format!("level{i}"): [value] });
    }
    value
}

/// Items past DynamoDB's own limits are stored so that they fit: a 2 MB reply (over the
/// 400 KB item limit as text), a tool output nested 40 levels deep (DynamoDB maps stop at
/// 32) with numbers outside DynamoDB's range. What cannot fit even compressed is refused
/// with `TooLarge`, and nothing is written.
pub async fn items_beyond_dynamodb_limits_fit(h: &DynamoHarness) {
    use chatkit_protocol::{ClientToolCallItem, ThreadItem, ToolCallStatus};
    let store = h.store();
    let thread = new_thread();
    store.create_thread(&alice(), &thread, &[user_message(&thread, "q")]).await.unwrap();

    let long =
        assistant_message(&thread, &"All work and no play makes Jack a dull boy. ".repeat(48_000));
    assert!(serde_json::to_vec(&long).unwrap().len() > 2_000_000);
    store.save_item(&alice(), &thread.id, &long).await.unwrap();
    assert_eq!(store.load_item(&alice(), &thread.id, long.id()).await.unwrap(), long);

    let call = ThreadItem::ClientToolCall(ClientToolCallItem {
        id: new_id("tc"),
        thread_id: thread.id.clone(),
        created_at: chatkit_protocol::timestamp::now(),
        status: ToolCallStatus::Completed,
        call_id: "call_deep".into(),
        name: "dump".into(),
        arguments: serde_json::Map::new(),
        output: Some(deep_value(40)),
    });
    store.save_item(&alice(), &thread.id, &call).await.unwrap();
    assert_eq!(store.load_item(&alice(), &thread.id, call.id()).await.unwrap(), call);

    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(page.items.data.len(), 3);
    assert_eq!(page.items.data[1], long);
    assert_eq!(page.items.data[2], call);

    let before = h.snapshot().await;
    let noisy = assistant_message(&thread, &noise(600_000));
    match store.save_item(&alice(), &thread.id, &noisy).await {
        Err(chatkit_store::StoreError::TooLarge { what: "item", size, limit }) => {
            assert!(size > limit);
        }
        other => panic!("an item that cannot fit: {other:?}"),
    }
    assert_eq!(h.snapshot().await, before, "nothing written");
}

/// Records written by the first storage format (the payload as a nested map attribute) are
/// still read.
pub async fn first_format_records_are_read(h: &DynamoHarness) {
    use serde_json::json;
    let thread_id = new_id("thr");
    let ulid = chatkit_store::ids::sort_key(&thread_id).unwrap().to_string();
    let item_id = new_id("msg");
    let item_ulid = chatkit_store::ids::sort_key(&item_id).unwrap().to_string();
    let pk = format!("U#alice#T#{ulid}");
    let thread = json!({"id": thread_id, "created_at": "2025-01-01T00:00:00Z", "status": {"type": "active"}, "metadata": {}});
    let item = json!({"id": item_id, "thread_id": thread_id, "created_at": "2025-01-01T00:00:01Z", "type": "assistant_message",
        "content": [{"type": "output_text", "text": "from the first format", "annotations": []}]});
    let records = [
        json!({"pk": pk, "sk": "#THREAD", "gsi1pk": "U#alice", "gsi1sk": ulid, "thread": thread}),
        json!({"pk": pk, "sk": "~THREAD", "thread": thread}),
        json!({"pk": pk, "sk": format!("I#{item_ulid}"), "item": item}),
    ];
    for record in records {
        let record: HashMap<String, AttributeValue> = serde_dynamo::to_item(record).unwrap();
        h.raw.put_item().table_name(&h.table).set_item(Some(record)).send().await.unwrap();
    }
    let loaded = h
        .store()
        .load_thread_items(&alice(), &thread_id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(loaded.thread.id, thread_id);
    assert_eq!(serde_json::to_value(&loaded.items.data).unwrap(), json!([item]));
    // and written in the current format from then on
    let mut renamed = loaded.thread.clone();
    renamed.title = Some("renamed".into());
    h.store().save_thread(&alice(), &renamed).await.unwrap();
    assert_eq!(h.store().load_thread(&alice(), &thread_id).await.unwrap(), renamed);
}
