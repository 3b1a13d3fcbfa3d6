//! Threads: create, load, upsert, list, delete.

use chatkit_protocol::{Order, ThreadStatus};
use chatkit_store::ids::{new_id, prefix};
use chatkit_store::{PageRequest, DEFAULT_PAGE_SIZE};
use serde_json::json;

use super::*;

/// A created thread and its first item load back as they were.
pub async fn create_thread_then_load(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let first = user_message(&thread, "hello");
    store.create_thread(&alice(), &thread, std::slice::from_ref(&first)).await.unwrap();

    assert_eq!(store.load_thread(&alice(), &thread.id).await.unwrap(), thread);
    for order in [Order::Asc, Order::Desc] {
        let loaded = store
            .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, order))
            .await
            .unwrap();
        assert_eq!(loaded.thread, thread);
        assert_eq!(loaded.items.data, vec![first.clone()]);
        assert!(!loaded.items.has_more);
        assert_eq!(loaded.items.after, None);
    }
    assert_eq!(store.load_item(&alice(), &thread.id, first.id()).await.unwrap(), first);

    // A thread without items exists too.
    let empty = new_thread();
    store.create_thread(&alice(), &empty, &[]).await.unwrap();
    let loaded = store
        .load_thread_items(&alice(), &empty.id, &PageRequest::new(5, Order::Desc))
        .await
        .unwrap();
    assert_eq!((loaded.thread, loaded.items.data.len(), loaded.items.has_more), (empty, 0, false));
}

/// save_thread replaces title, status and private metadata, wherever the thread is read.
pub async fn save_thread_updates_existing_threads(h: &dyn StoreHarness) {
    let store = h.store();
    let mut thread = new_thread();
    seed_thread(h, &alice(), &thread, &[user_message(&thread, "hi")]).await;

    thread.title = Some("Weather in Paris".to_string());
    thread.status = ThreadStatus::Locked { reason: Some("review".to_string()) };
    thread.metadata =
        json!({"previous_response_id": "resp_1", "n": 2}).as_object().cloned().unwrap();
    store.save_thread(&alice(), &thread).await.unwrap();
    assert_eq!(store.load_thread(&alice(), &thread.id).await.unwrap(), thread);
    for order in [Order::Asc, Order::Desc] {
        let loaded = store
            .load_thread_items(&alice(), &thread.id, &PageRequest::new(1, order))
            .await
            .unwrap();
        assert_eq!(loaded.thread, thread, "{order:?}");
    }
    let listed = store.list_threads(&alice(), &PageRequest::new(10, Order::Desc)).await.unwrap();
    assert_eq!(listed.data, vec![thread.clone()]);

    thread.status = ThreadStatus::Closed { reason: None };
    thread.title = None;
    store.save_thread(&alice(), &thread).await.unwrap();
    assert_eq!(store.load_thread(&alice(), &thread.id).await.unwrap(), thread);
    let items = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(items.items.data.len(), 1, "saving the metadata keeps the items");

    // Only an existing thread: saving an unknown one is NotFound and writes nothing.
    let before = h.snapshot().await;
    let fresh = new_thread();
    assert_not_found(store.save_thread(&alice(), &fresh).await, "save_thread of an unknown thread");
    assert_not_found(store.load_thread(&alice(), &fresh.id).await, "the unknown thread");
    assert_eq!(h.snapshot().await, before);
}

/// Nothing written after a delete brings the thread back: a late title or rename
/// (save_thread), a late reply (save_item) or feedback all fail with NotFound.
pub async fn deleted_threads_stay_deleted(h: &dyn StoreHarness) {
    let store = h.store();
    let kept = new_thread();
    seed_thread(h, &alice(), &kept, &[user_message(&kept, "keep me")]).await;
    let before = h.snapshot().await;

    let mut doomed = new_thread();
    let items = vec![user_message(&doomed, "q"), assistant_message(&doomed, "a")];
    seed_thread(h, &alice(), &doomed, &items).await;
    store.delete_thread(&alice(), &doomed.id).await.unwrap();

    doomed.title = Some("A late title".to_string());
    assert_not_found(store.save_thread(&alice(), &doomed).await, "title after delete");
    assert_not_found(
        store.save_item(&alice(), &doomed.id, &assistant_message(&doomed, "late")).await,
        "reply after delete",
    );
    let rated = ids_of(&items[1..]);
    let fb = store
        .save_feedback(&alice(), &doomed.id, &rated, chatkit_protocol::FeedbackKind::Positive)
        .await;
    assert_not_found(fb, "feedback after delete");
    assert_not_found(store.load_thread(&alice(), &doomed.id).await, "load after the late writes");
    let listed = store.list_threads(&alice(), &PageRequest::new(10, Order::Desc)).await.unwrap();
    assert_eq!(thread_ids(&listed), vec![kept.id.clone()]);
    h.settle().await;
    assert_eq!(h.snapshot().await, before, "nothing of the deleted thread is left");
}

/// Walks every page of the user's threads.
async fn all_thread_pages(h: &dyn StoreHarness, limit: usize, order: Order) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .store()
            .list_threads(&alice(), &PageRequest::new(limit, order).after(after))
            .await
            .unwrap();
        pages.push(thread_ids(&page));
        assert_eq!(
            page.after,
            if page.has_more { page.data.last().map(|t| t.id.clone()) } else { None }
        );
        if !page.has_more {
            return pages;
        }
        after = page.after;
    }
}

/// list_threads: order, limit, exclusive cursor, exact `has_more`/`after`, default size.
pub async fn list_threads_pages(h: &dyn StoreHarness) {
    let store = h.store();
    let mut ids = Vec::new();
    for _ in 0..25 {
        let t = new_thread();
        store.create_thread(&alice(), &t, &[]).await.unwrap();
        ids.push(t.id);
    }
    store.create_thread(&bob(), &new_thread(), &[]).await.unwrap();
    let desc: Vec<String> = ids.iter().rev().cloned().collect();

    let pages = all_thread_pages(h, 10, Order::Asc).await;
    assert_eq!(pages, vec![ids[..10].to_vec(), ids[10..20].to_vec(), ids[20..].to_vec()]);
    let pages = all_thread_pages(h, 10, Order::Desc).await;
    assert_eq!(pages, vec![desc[..10].to_vec(), desc[10..20].to_vec(), desc[20..].to_vec()]);

    // Exact boundary: N threads with limit N has no more; N - 1 has.
    let all = store.list_threads(&alice(), &PageRequest::new(25, Order::Asc)).await.unwrap();
    assert_eq!((thread_ids(&all), all.has_more, all.after), (ids.clone(), false, None));
    let most = store.list_threads(&alice(), &PageRequest::new(24, Order::Desc)).await.unwrap();
    assert_eq!((most.has_more, most.after.as_deref()), (true, Some(ids[1].as_str())));

    // The cursor is exclusive, in both orders, and need not be a listed id.
    let page = store
        .list_threads(&alice(), &PageRequest::new(3, Order::Asc).after(Some(ids[4].clone())))
        .await;
    assert_eq!(thread_ids(&page.unwrap()), ids[5..8].to_vec());
    let page = store
        .list_threads(&alice(), &PageRequest::new(3, Order::Desc).after(Some(ids[4].clone())))
        .await;
    assert_eq!(thread_ids(&page.unwrap()), vec![ids[3].clone(), ids[2].clone(), ids[1].clone()]);
    let later = new_id(prefix::THREAD);
    let page = store
        .list_threads(&alice(), &PageRequest::new(3, Order::Asc).after(Some(later.clone())))
        .await;
    let page = page.unwrap();
    assert_eq!((page.data.len(), page.has_more, page.after), (0, false, None));
    let page = store
        .list_threads(&alice(), &PageRequest::new(2, Order::Desc).after(Some(later)))
        .await
        .unwrap();
    assert_eq!(thread_ids(&page), desc[..2].to_vec());

    // A limit of 0 is the default page size.
    let default = store.list_threads(&alice(), &PageRequest::new(0, Order::Desc)).await.unwrap();
    assert_eq!(DEFAULT_PAGE_SIZE, 20);
    assert_eq!(thread_ids(&default), desc[..20].to_vec());
    assert_eq!(default.after.as_deref(), Some(desc[19].as_str()));

    // Nobody else's threads, and nothing for a user without threads.
    let none = store
        .list_threads(&UserId::new("carol"), &PageRequest::new(10, Order::Desc))
        .await
        .unwrap();
    assert_eq!((none.data.len(), none.has_more, none.after), (0, false, None));
}

/// Ids made within one millisecond still page stably: no duplicates, no gaps.
pub async fn list_threads_same_millisecond(h: &dyn StoreHarness) {
    let threads: Vec<ThreadMetadata> = (0..30).map(|_| new_thread()).collect();
    let ids: Vec<String> = threads.iter().map(|t| t.id.clone()).collect();
    let millis: std::collections::BTreeSet<&str> =
        ids.iter().map(|id| &chatkit_store::ids::sort_key(id).unwrap()[..10]).collect();
    assert!(millis.len() < ids.len(), "ids should share milliseconds");
    for t in &threads {
        h.store().create_thread(&alice(), t, &[]).await.unwrap();
    }
    for (order, expected) in
        [(Order::Asc, ids.clone()), (Order::Desc, ids.iter().rev().cloned().collect())]
    {
        for limit in [1, 7, 29, 30] {
            let flat: Vec<String> = all_thread_pages(h, limit, order).await.concat();
            assert_eq!(flat, expected, "{order:?} limit {limit}");
        }
    }
}

/// delete_thread removes the thread at once (for every read), and with it (once the backend
/// settled: thread cleanup) every item, feedback and attachment of its messages.
pub async fn delete_thread_removes_everything(h: &dyn StoreHarness) {
    let store = h.store();
    let kept = new_thread();
    seed_thread(h, &alice(), &kept, &[user_message(&kept, "keep me")]).await;

    // an attachment of the kept thread, and one of the doomed thread (its message carries both)
    let mut keep_file = super::attachments::file_attachment();
    keep_file.set_thread_id(&kept.id);
    store.save_attachment(&alice(), &keep_file).await.unwrap();
    let before = h.snapshot().await;
    let doomed = new_thread();
    let mut doomed_file = super::attachments::image_attachment();
    doomed_file.set_thread_id(&doomed.id);
    store.save_attachment(&alice(), &doomed_file).await.unwrap();
    let mut first = user_message(&doomed, "first");
    if let ThreadItem::UserMessage(m) = &mut first {
        m.attachments = vec![doomed_file.clone(), keep_file.clone()];
    }
    let mut items = vec![first];
    items.extend((0..29).map(|i| assistant_message(&doomed, &format!("answer {i}"))));
    store.create_thread(&alice(), &doomed, &items[..1]).await.unwrap();
    for item in &items[1..] {
        store.save_item(&alice(), &doomed.id, item).await.unwrap();
    }
    let rated = ids_of(&items[1..4]);
    store
        .save_feedback(&alice(), &doomed.id, &rated, chatkit_protocol::FeedbackKind::Positive)
        .await
        .unwrap();
    assert_ne!(h.snapshot().await, before);

    store.delete_thread(&alice(), &doomed.id).await.unwrap();
    // gone at once for every read, whatever cleanup still has to do
    assert_not_found(store.load_thread(&alice(), &doomed.id).await, "load_thread after delete");
    let page = PageRequest::new(10, Order::Desc);
    assert_not_found(
        store.load_thread_items(&alice(), &doomed.id, &page).await,
        "load_thread_items after delete",
    );
    for cursor in [items[10].id(), items[25].id()] {
        for order in [Order::Asc, Order::Desc] {
            let page = PageRequest::new(3, order).after(Some(cursor.to_string()));
            assert_not_found(
                store.load_thread_items(&alice(), &doomed.id, &page).await,
                "a cursor page after delete",
            );
        }
    }
    assert_not_found(
        store.load_item(&alice(), &doomed.id, items[5].id()).await,
        "load_item after delete",
    );
    let listed = store.list_threads(&alice(), &page).await.unwrap();
    assert_eq!(thread_ids(&listed), vec![kept.id.clone()]);
    // a retried delete is fine while cleanup is pending (or NotFound once it is done)
    match store.delete_thread(&alice(), &doomed.id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        other => panic!("deleting twice: {other:?}"),
    }
    h.settle().await;
    assert_eq!(h.snapshot().await, before, "nothing of the deleted thread is left");
    assert_not_found(
        store.load_attachment(&alice(), doomed_file.id()).await,
        "the deleted thread's attachment",
    );
    assert_eq!(store.load_attachment(&alice(), keep_file.id()).await.unwrap(), keep_file);

    assert_not_found(store.delete_thread(&alice(), &doomed.id).await, "deleting after cleanup");
    h.settle().await;
    assert_eq!(h.snapshot().await, before);
}

/// Every thread operation on a thread that does not exist.
pub async fn missing_thread_is_not_found(h: &dyn StoreHarness) {
    let store = h.store();
    let ghost = new_thread();
    let before = h.snapshot().await;
    let page = PageRequest::new(10, Order::Desc);
    for id in [ghost.id.as_str(), "__fake_id__", "thr_notaulid", ""] {
        assert_not_found(store.load_thread(&alice(), id).await, "load_thread");
        assert_not_found(store.load_thread_items(&alice(), id, &page).await, "load_thread_items");
        assert_not_found(store.delete_thread(&alice(), id).await, "delete_thread");
        assert_not_found(
            store.load_item(&alice(), id, &new_id(prefix::MESSAGE)).await,
            "load_item",
        );
        assert_not_found(
            store.save_item(&alice(), id, &user_message(&ghost, "x")).await,
            "save_item",
        );
        let ids = vec![new_id(prefix::MESSAGE)];
        let fb =
            store.save_feedback(&alice(), id, &ids, chatkit_protocol::FeedbackKind::Negative).await;
        assert_not_found(fb, "save_feedback");
        store.delete_items(&alice(), id, &ids).await.unwrap();
    }
    let cursor = PageRequest::new(10, Order::Asc).after(Some(new_id(prefix::MESSAGE)));
    assert_not_found(store.load_thread_items(&alice(), &ghost.id, &cursor).await, "cursor page");
    assert_eq!(h.snapshot().await, before, "failed writes leave nothing behind");
}

/// Ids that cannot be keyed are refused on writes (and nothing is written).
pub async fn invalid_ids_are_rejected(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    seed_thread(h, &alice(), &thread, &[user_message(&thread, "hi")]).await;
    let before = h.snapshot().await;

    let mut fake = user_message(&thread, "fake");
    if let ThreadItem::UserMessage(m) = &mut fake {
        m.id = "__fake_id__".to_string();
    }
    assert_invalid_id(
        store.save_item(&alice(), &thread.id, &fake).await,
        "save_item with a fake id",
    );
    let bad_thread = ThreadMetadata::new("thr_bad", now());
    assert_invalid_id(
        store.create_thread(&alice(), &bad_thread, &[]).await,
        "create_thread with a bad id",
    );
    assert_invalid_id(store.save_thread(&alice(), &bad_thread).await, "save_thread with a bad id");
    let other = new_thread();
    let items = [user_message(&other, "ok"), fake.clone()];
    assert_invalid_id(
        store.create_thread(&alice(), &other, &items).await,
        "create_thread with a fake item",
    );
    assert_not_found(store.load_thread(&alice(), &other.id).await, "half-created thread");

    let bad_cursor = PageRequest::new(10, Order::Asc).after(Some("garbage".to_string()));
    assert_invalid_id(
        store.load_thread_items(&alice(), &thread.id, &bad_cursor).await,
        "item cursor",
    );
    assert_invalid_id(store.list_threads(&alice(), &bad_cursor).await, "thread cursor");
    assert_not_found(
        store.load_item(&alice(), &thread.id, "__fake_id__").await,
        "load_item with a fake id",
    );
    assert_eq!(h.snapshot().await, before);
}

/// A cancel flag is the user's own, per turn, and reads back at once or within a poll.
pub async fn cancel_flags_are_per_user_and_turn(h: &dyn StoreHarness) {
    let store = h.store();
    assert!(!store.is_cancelled(&alice(), "turn-a").await.unwrap());
    store.request_cancel(&alice(), "turn-a").await.unwrap();
    let mut seen = false;
    for _ in 0..20 {
        seen = store.is_cancelled(&alice(), "turn-a").await.unwrap();
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the flag reads back");
    assert!(!store.is_cancelled(&alice(), "turn-b").await.unwrap());
    assert!(
        !store.is_cancelled(&bob(), "turn-a").await.unwrap(),
        "another user's turn of the same id"
    );
    let uuid = "8f3b1c2e-0a4d-4b6f-9e1a-2c3d4e5f6a7b";
    store.request_cancel(&alice(), uuid).await.unwrap();
}
