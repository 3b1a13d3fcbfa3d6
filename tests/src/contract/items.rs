//! Items: upsert, load, pages of a thread, delete; feedback.

use chatkit_protocol::{FeedbackKind, Order};
use chatkit_store::ids::{new_id, prefix};
use chatkit_store::PageRequest;

use super::*;

/// Saving the same id twice keeps one item with the latest content.
pub async fn save_item_upserts(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    seed_thread(h, &alice(), &thread, &[user_message(&thread, "question")]).await;
    let mut answer = assistant_message(&thread, "draft");
    store.save_item(&alice(), &thread.id, &answer).await.unwrap();
    if let ThreadItem::AssistantMessage(m) = &mut answer {
        m.content = vec![AssistantMessageContent::text("final answer")];
    }
    store.save_item(&alice(), &thread.id, &answer).await.unwrap();

    assert_eq!(store.load_item(&alice(), &thread.id, answer.id()).await.unwrap(), answer);
    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Desc))
        .await
        .unwrap();
    assert_eq!(page.items.data.len(), 2);
    assert_eq!(page.items.data[0], answer);
    assert_not_found(
        store.load_item(&alice(), &thread.id, &new_id(prefix::MESSAGE)).await,
        "unknown item",
    );
}

/// Every kind of item round-trips, hidden ones included: the store never filters.
pub async fn items_round_trip_including_hidden(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let items = vec![
        user_message(&thread, "hi"),
        hidden_context(&thread),
        client_tool_call(&thread),
        widget(&thread),
        sdk_hidden_context(&thread),
        assistant_message(&thread, "bye"),
    ];
    store.create_thread(&alice(), &thread, &items[..2]).await.unwrap();
    for item in &items[2..] {
        store.save_item(&alice(), &thread.id, item).await.unwrap();
    }
    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(0, Order::Asc))
        .await
        .unwrap();
    assert_eq!(page.items.data, items);
    assert_eq!(page.items.data.iter().filter(|i| i.is_hidden()).count(), 2);
    for item in &items {
        assert_eq!(&store.load_item(&alice(), &thread.id, item.id()).await.unwrap(), item);
    }
}

/// Walks every page of a thread's items, checking the thread comes with each page.
async fn all_item_pages(
    h: &dyn StoreHarness,
    thread: &ThreadMetadata,
    limit: usize,
    order: Order,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest::new(limit, order).after(after);
        let loaded = h.store().load_thread_items(&alice(), &thread.id, &request).await.unwrap();
        assert_eq!(
            &loaded.thread,
            thread,
            "thread with page {} ({order:?}, limit {limit})",
            pages.len()
        );
        let page = loaded.items;
        assert_eq!(
            page.after,
            if page.has_more { page.data.last().map(|i| i.id().to_string()) } else { None }
        );
        pages.push(item_ids(&page));
        if !page.has_more {
            return pages;
        }
        after = page.after;
    }
}

/// load_thread_items: both orders, limits, exclusive cursors, exact `has_more`.
pub async fn load_thread_items_pages(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let items: Vec<ThreadItem> = (0..7)
        .map(|i| {
            if i % 2 == 0 {
                user_message(&thread, &format!("q{i}"))
            } else {
                assistant_message(&thread, "a")
            }
        })
        .collect();
    seed_thread(h, &alice(), &thread, &items).await;
    let ids = ids_of(&items);
    let desc: Vec<String> = ids.iter().rev().cloned().collect();

    assert_eq!(
        all_item_pages(h, &thread, 3, Order::Asc).await,
        vec![ids[..3].to_vec(), ids[3..6].to_vec(), ids[6..].to_vec()]
    );
    assert_eq!(
        all_item_pages(h, &thread, 3, Order::Desc).await,
        vec![desc[..3].to_vec(), desc[3..6].to_vec(), desc[6..].to_vec()]
    );
    for limit in [1, 2, 6, 7, 8] {
        assert_eq!(
            all_item_pages(h, &thread, limit, Order::Asc).await.concat(),
            ids,
            "asc limit {limit}"
        );
        assert_eq!(
            all_item_pages(h, &thread, limit, Order::Desc).await.concat(),
            desc,
            "desc limit {limit}"
        );
    }

    // Exact boundary.
    let all = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(7, Order::Desc))
        .await
        .unwrap();
    assert_eq!(
        (item_ids(&all.items), all.items.has_more, all.items.after),
        (desc.clone(), false, None)
    );
    let six = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(6, Order::Asc))
        .await
        .unwrap();
    assert_eq!((six.items.has_more, six.items.after.as_deref()), (true, Some(ids[5].as_str())));

    // Cursors are exclusive, and past either end give an empty last page.
    let page = PageRequest::new(2, Order::Desc).after(Some(ids[3].clone()));
    let loaded = store.load_thread_items(&alice(), &thread.id, &page).await.unwrap();
    assert_eq!(item_ids(&loaded.items), vec![ids[2].clone(), ids[1].clone()]);
    assert!(loaded.items.has_more);
    let page = PageRequest::new(2, Order::Asc).after(Some(ids[6].clone()));
    let loaded = store.load_thread_items(&alice(), &thread.id, &page).await.unwrap();
    assert_eq!(
        (loaded.thread, loaded.items.data.len(), loaded.items.has_more),
        (thread.clone(), 0, false)
    );
    let page = PageRequest::new(2, Order::Desc).after(Some(ids[0].clone()));
    let loaded = store.load_thread_items(&alice(), &thread.id, &page).await.unwrap();
    assert_eq!(
        (loaded.thread, loaded.items.data.len(), loaded.items.has_more),
        (thread.clone(), 0, false)
    );
}

/// delete_items removes exactly the named items; unknown and malformed ids are ignored.
pub async fn delete_items_removes_only_those(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let items: Vec<ThreadItem> =
        (0..30).map(|i| assistant_message(&thread, &format!("a{i}"))).collect();
    seed_thread(h, &alice(), &thread, &items).await;
    let ids = ids_of(&items);

    let mut doomed: Vec<String> = ids.iter().step_by(2).cloned().collect(); // 15 items
    doomed.extend(ids[20..].iter().cloned()); // overlapping: 20.. adds 5 more, duplicates the rest
    doomed.push(new_id(prefix::MESSAGE));
    doomed.push("__fake_id__".to_string());
    store.delete_items(&alice(), &thread.id, &doomed).await.unwrap();

    let left: Vec<String> = ids.iter().filter(|id| !doomed.contains(id)).cloned().collect();
    assert_eq!(left.len(), 10);
    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(100, Order::Asc))
        .await
        .unwrap();
    assert_eq!(item_ids(&page.items), left);
    assert_not_found(store.load_item(&alice(), &thread.id, &ids[0]).await, "deleted item");
    assert_eq!(store.load_thread(&alice(), &thread.id).await.unwrap(), thread);
    store.delete_items(&alice(), &thread.id, &[]).await.unwrap();
}

/// Feedback is recorded (and replaced) on the rated items; it is not an item.
pub async fn feedback_is_saved(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let items = vec![
        user_message(&thread, "q"),
        assistant_message(&thread, "a1"),
        assistant_message(&thread, "a2"),
    ];
    seed_thread(h, &alice(), &thread, &items).await;
    let before = h.snapshot().await;

    let first = vec![items[1].id().to_string()];
    store.save_feedback(&alice(), &thread.id, &first, FeedbackKind::Positive).await.unwrap();
    let positive = h.snapshot().await;
    assert_ne!(positive, before);
    assert!(
        positive.contains(items[1].id()) && positive.to_lowercase().contains("positive"),
        "{positive}"
    );

    let both = ids_of(&items[1..]);
    store.save_feedback(&alice(), &thread.id, &both, FeedbackKind::Negative).await.unwrap();
    let negative = h.snapshot().await;
    assert!(
        negative.contains(items[2].id()) && negative.to_lowercase().contains("negative"),
        "{negative}"
    );
    assert!(!negative.to_lowercase().contains("positive"), "feedback is replaced: {negative}");

    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Desc))
        .await
        .unwrap();
    assert_eq!(
        page.items.data,
        items.iter().rev().cloned().collect::<Vec<_>>(),
        "feedback is not an item"
    );
    store.save_feedback(&alice(), &thread.id, &[], FeedbackKind::Positive).await.unwrap();

    // Only items that are in the thread: one unknown id and nothing is written.
    for unknown in [new_id(prefix::MESSAGE), "__fake_id__".to_string()] {
        let mixed = vec![items[0].id().to_string(), unknown.clone()];
        match store.save_feedback(&alice(), &thread.id, &mixed, FeedbackKind::Positive).await {
            Err(StoreError::NotFound { kind: "item", id }) => assert_eq!(id, unknown),
            other => panic!("feedback on an unknown item: {other:?}"),
        }
        assert_eq!(h.snapshot().await, negative, "nothing written");
    }
    let other = new_thread();
    seed_thread(h, &alice(), &other, &[user_message(&other, "elsewhere")]).await;
    let elsewhere = ids_of(&[user_message(&other, "x")]);
    let fb = store
        .save_feedback(&alice(), &other.id, &[items[1].id().to_string()], FeedbackKind::Positive)
        .await;
    assert_not_found(fb, "an item of another thread");
    let fb = store.save_feedback(&alice(), &thread.id, &elsewhere, FeedbackKind::Positive).await;
    assert_not_found(fb, "an item that was never saved");

    // Feedback goes with its item.
    store.delete_items(&alice(), &thread.id, &ids_of(&items[1..])).await.unwrap();
    let after = h.snapshot().await;
    assert!(!after.to_lowercase().contains("negative"), "{after}");
}

/// A pending item is completed once: of concurrent completions exactly one wins, the others
/// (and any later one) get Conflict; items that are not pending cannot be "completed".
pub async fn complete_item_has_one_winner(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let call = client_tool_call(&thread);
    seed_thread(h, &alice(), &thread, &[user_message(&thread, "q"), call.clone()]).await;
    let completed = |output: &str| {
        let mut done = call.clone();
        if let ThreadItem::ClientToolCall(c) = &mut done {
            c.status = ToolCallStatus::Completed;
            c.output = Some(serde_json::json!({"answer": output}));
        }
        done
    };
    let (a, b, c) = (completed("a"), completed("b"), completed("c"));
    let results = futures::future::join_all([
        store.complete_item(&alice(), &thread.id, &a),
        store.complete_item(&alice(), &thread.id, &b),
        store.complete_item(&alice(), &thread.id, &c),
    ])
    .await;
    let winners: Vec<usize> =
        results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        assert!(matches!(r, Ok(()) | Err(StoreError::Conflict { .. })), "{r:?}");
    }
    let stored = store.load_item(&alice(), &thread.id, call.id()).await.unwrap();
    assert_eq!(stored, [a, b, c][winners[0]].clone());
    let late = store.complete_item(&alice(), &thread.id, &completed("late")).await;
    assert!(matches!(late, Err(StoreError::Conflict { .. })), "{late:?}");

    let reply = assistant_message(&thread, "a");
    store.save_item(&alice(), &thread.id, &reply).await.unwrap();
    assert!(matches!(
        store.complete_item(&alice(), &thread.id, &reply).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_not_found(
        store.complete_item(&alice(), &thread.id, &client_tool_call(&thread)).await,
        "an unknown item",
    );
    assert_not_found(
        store.complete_item(&bob(), &thread.id, &completed("x")).await,
        "another user's thread",
    );
}

/// A write made once per idempotency key: the same key within its window is `Duplicate`
/// (naming the first write) and writes nothing; another user's same key, a released key and
/// an expired one are free.
pub async fn writes_once_per_key(h: &dyn StoreHarness) {
    use chatkit_store::IdempotencyKey;
    use std::time::Duration;
    let store = h.store();
    let thread = new_thread();
    let key = IdempotencyKey { key: "k-1".into(), window: Duration::from_secs(60) };
    let first = user_message(&thread, "first");
    store.create_thread_once(&alice(), &thread, std::slice::from_ref(&first), &key).await.unwrap();
    let before = h.snapshot().await;
    match store.create_thread_once(&alice(), &new_thread(), &[], &key).await {
        Err(StoreError::Duplicate { thread_id, item_id }) => {
            assert_eq!((thread_id, item_id), (thread.id.clone(), first.id().to_string()));
        }
        other => panic!("{other:?}"),
    }
    let again = user_message(&thread, "again");
    match store.save_item_once(&alice(), &thread.id, &again, &key).await {
        Err(StoreError::Duplicate { thread_id, .. }) => assert_eq!(thread_id, thread.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.snapshot().await, before, "nothing written");

    let bobs = new_thread();
    store.create_thread_once(&bob(), &bobs, &[], &key).await.unwrap();
    let other = IdempotencyKey { key: "k-2".into(), window: Duration::from_secs(60) };
    store.save_item_once(&alice(), &thread.id, &again, &other).await.unwrap();
    store.release_key(&alice(), &other).await.unwrap();
    store
        .save_item_once(&alice(), &thread.id, &user_message(&thread, "released"), &other)
        .await
        .unwrap();
    let short = IdempotencyKey { key: "k-3".into(), window: Duration::from_millis(50) };
    store.save_item_once(&alice(), &thread.id, &user_message(&thread, "x"), &short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    store.save_item_once(&alice(), &thread.id, &user_message(&thread, "y"), &short).await.unwrap();
    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(page.items.data.len(), 5);
    let missing = new_thread();
    let fresh = IdempotencyKey { key: "k-4".into(), window: Duration::from_secs(60) };
    assert_not_found(
        store.save_item_once(&alice(), &missing.id, &user_message(&missing, "x"), &fresh).await,
        "missing thread",
    );
}
