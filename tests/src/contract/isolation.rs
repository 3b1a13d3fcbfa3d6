//! Isolation: another user, even with correct ids, sees and changes nothing.

use chatkit_protocol::{FeedbackKind, Order};
use chatkit_store::ids::sort_key;
use chatkit_store::PageRequest;

use super::attachments::file_attachment;
use super::*;

/// Every operation by Bob (and by users whose ids try to forge Alice's keys) on Alice's
/// thread, items and attachments is NotFound (an empty page for lists, a no-op for
/// delete_items), and the whole store is byte-identical afterwards. The store itself
/// refuses `save_item` and `save_feedback` into a thread the user does not have, so not
/// even orphan records under the intruder's own keys appear.
pub async fn other_users_see_and_change_nothing(h: &dyn StoreHarness) {
    let store = h.store();
    let thread = new_thread();
    let items = vec![user_message(&thread, "secret"), assistant_message(&thread, "reply")];
    seed_thread(h, &alice(), &thread, &items).await;
    let rated = vec![items[1].id().to_string()];
    store.save_feedback(&alice(), &thread.id, &rated, FeedbackKind::Positive).await.unwrap();
    let attachment = file_attachment();
    store.save_attachment(&alice(), &attachment).await.unwrap();
    let before = h.snapshot().await;

    let ulid = sort_key(&thread.id).unwrap();
    let intruders = [
        bob(),
        UserId::new(format!("alice#T#{ulid}")),
        UserId::new("alice#A"),
        UserId::new("ALICE"),
        UserId::new("alice "),
        UserId::new(""),
    ];
    for intruder in &intruders {
        let who = format!("user {:?}", intruder.as_str());
        let page = PageRequest::new(10, Order::Desc);
        assert_not_found(store.load_thread(intruder, &thread.id).await, &who);
        assert_not_found(store.load_thread_items(intruder, &thread.id, &page).await, &who);
        let cursor = PageRequest::new(1, Order::Asc).after(Some(items[0].id().to_string()));
        assert_not_found(store.load_thread_items(intruder, &thread.id, &cursor).await, &who);
        assert_not_found(store.load_item(intruder, &thread.id, items[0].id()).await, &who);
        let listed = store.list_threads(intruder, &page).await.unwrap();
        assert!(listed.data.is_empty() && !listed.has_more, "{who} lists {listed:?}");

        assert_not_found(store.save_item(intruder, &thread.id, &items[0]).await, &who);
        assert_not_found(
            store.save_item(intruder, &thread.id, &user_message(&thread, "new")).await,
            &who,
        );
        match store.delete_items(intruder, &thread.id, &ids_of(&items)).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            other => panic!("{who}: delete_items gave {other:?}"),
        }
        let fb = store.save_feedback(intruder, &thread.id, &rated, FeedbackKind::Negative).await;
        assert_not_found(fb, &who);
        assert_not_found(store.delete_thread(intruder, &thread.id).await, &who);
        assert_not_found(store.load_attachment(intruder, attachment.id()).await, &who);
        assert_not_found(store.delete_attachment(intruder, attachment.id()).await, &who);
        assert_eq!(h.snapshot().await, before, "{who} changed the store");
    }

    // Alice still has everything.
    let loaded = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!((loaded.thread, loaded.items.data), (thread.clone(), items.clone()));
    assert_eq!(store.load_attachment(&alice(), attachment.id()).await.unwrap(), attachment);

    // Bob's own data with the same ids stays apart from Alice's.
    let bobs = ThreadMetadata { title: Some("bob's".to_string()), ..thread.clone() };
    store.create_thread(&bob(), &bobs, &[]).await.unwrap();
    store.delete_thread(&bob(), &bobs.id).await.unwrap();
    h.settle().await;
    assert_eq!(store.load_thread(&alice(), &thread.id).await.unwrap(), thread);
    assert_eq!(h.snapshot().await, before);
}
