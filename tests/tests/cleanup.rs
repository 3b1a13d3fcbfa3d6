//! Deletes that stick and finish: `threads.delete` puts a tombstone and answers; thread
//! cleanup, fed the table's real stream from DynamoDB Local as Lambda would deliver it,
//! deletes the rest (records, attachment bytes through the hook, attachment metadata), the
//! head last, idempotently, and never touches a live thread. Run through `make test`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chatkit_cleanup::{Outcome, ThreadCleanup};
use chatkit_protocol::{Attachment, CreateAttachmentParams, FeedbackKind, ThreadItem};
use chatkit_server::AttachmentStore;
use chatkit_store::prelude::*;
use chatkit_store::UserId;
use chatkit_tests::contract::{assistant_message, new_thread, user_message, StoreHarness};
use chatkit_tests::contract::{file_attachment, image_attachment};
use chatkit_tests::dynamo::DynamoHarness;
use chatkit_tests::server::Server;
use serde_json::json;

/// Attachment bytes that record what was deleted, and can be told to fail.
#[derive(Default)]
struct Bytes {
    deleted: Mutex<Vec<String>>,
    fail: Mutex<bool>,
}

#[async_trait]
impl AttachmentStore for Bytes {
    async fn create_attachment(
        &self,
        _user: &UserId,
        _id: String,
        _p: &CreateAttachmentParams,
    ) -> chatkit_store::StoreResult<Attachment> {
        unreachable!("cleanup only deletes")
    }

    async fn delete_attachment(
        &self,
        user: &UserId,
        attachment: &Attachment,
    ) -> chatkit_store::StoreResult<()> {
        if *self.fail.lock().unwrap() {
            return Err(chatkit_store::StoreError::Unavailable("the bucket is unreachable".into()));
        }
        self.deleted.lock().unwrap().push(format!("{}/{}", user.as_str(), attachment.id()));
        Ok(())
    }
}

fn ada() -> UserId {
    UserId::new("ada")
}

/// A thread with a user message carrying attachments (one of it, one of another thread),
/// replies, feedback; returns it and its attachments.
async fn seeded(h: &DynamoHarness) -> (chatkit_protocol::ThreadMetadata, Attachment, Attachment) {
    let store = h.store();
    let thread = new_thread();
    let other = new_thread();
    store.create_thread(&ada(), &other, &[user_message(&other, "other")]).await.unwrap();
    let mut own = image_attachment();
    own.set_thread_id(&thread.id);
    let mut foreign = file_attachment();
    foreign.set_thread_id(&other.id);
    for a in [&own, &foreign] {
        store.save_attachment(&ada(), a).await.unwrap();
    }
    let mut first = user_message(&thread, "look");
    if let ThreadItem::UserMessage(m) = &mut first {
        m.attachments = vec![own.clone(), foreign.clone()];
    }
    store.create_thread(&ada(), &thread, &[first]).await.unwrap();
    let reply = assistant_message(&thread, "seen");
    store.save_item(&ada(), &thread.id, &reply).await.unwrap();
    store
        .save_feedback(&ada(), &thread.id, &[reply.id().to_string()], FeedbackKind::Positive)
        .await
        .unwrap();
    (thread, own, foreign)
}

#[tokio::test]
async fn cleanup_deletes_records_and_attachments_and_is_idempotent() {
    let h = DynamoHarness::new("cleanup").await;
    let (thread, own, foreign) = seeded(&h).await;
    let before_delete = h.scan().await.len();
    h.store().delete_thread(&ada(), &thread.id).await.unwrap();
    assert_eq!(h.scan().await.len(), before_delete, "the request path only writes the tombstone");

    let bytes = Arc::new(Bytes::default());
    let cleanup = ThreadCleanup::new(h.dynamo().clone()).with_attachment_store(bytes.clone());
    let event = h.stream_event().await;
    let mut outcomes = Vec::new();
    for record in &event.records {
        outcomes.push(cleanup.record(record).await.unwrap());
    }
    // 4 records: the tail, the message, the reply (with its feedback), the head; 1 attachment
    assert!(outcomes.contains(&Outcome::Purged { records: 4, attachments: 1 }), "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, Outcome::Purged { .. })).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(*bytes.deleted.lock().unwrap(), vec![format!("ada/{}", own.id())]);
    assert!(h.store().load_attachment(&ada(), own.id()).await.is_err());
    assert_eq!(
        h.store().load_attachment(&ada(), foreign.id()).await.unwrap(),
        foreign,
        "another thread's attachment stays"
    );
    let left: Vec<String> = h.scan().await.iter().map(|r| format!("{:?}", r.get("pk"))).collect();
    assert!(
        left.iter().all(|pk| !pk.contains(chatkit_store::ids::sort_key(&thread.id).unwrap())),
        "{left:?}"
    );

    // the whole stream again (a replay, a retried batch): nothing more happens, nothing fails
    let snapshot = h.snapshot().await;
    let response = cleanup.handle(h.stream_event().await).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.snapshot().await, snapshot);
    assert_eq!(
        bytes.deleted.lock().unwrap().len(),
        1,
        "the purged thread's bytes are not asked for again"
    );
}

/// The S3 wiring of `functions/cleanup` against moto: the deleted thread's attachment objects
/// go in one `DeleteObjects`, another thread's stay; and what a cleanup costs.
#[tokio::test]
async fn cleanup_deletes_the_attachment_objects_on_s3() {
    use chatkit_s3::{served_key, upload_key, AttachmentSettings, S3AttachmentStore};
    if std::env::var_os("AWS_ENDPOINT_URL_S3").is_none() {
        panic!("AWS_ENDPOINT_URL_S3 is not set: run these tests through `make test`, which starts moto");
    }
    let h = DynamoHarness::new("cleanup-s3").await;
    let (thread, own, foreign) = seeded(&h).await;
    let bucket = format!(
        "cleanup-{}",
        chatkit_store::ids::sort_key(&thread.id).unwrap().to_ascii_lowercase()
    );
    let mut settings = AttachmentSettings::new(bucket.clone());
    settings.path_style = true;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = Arc::new(S3AttachmentStore::new(&sdk, settings));
    s3.client().create_bucket().bucket(&bucket).send().await.expect("moto create_bucket");
    let keys = |a: &chatkit_protocol::Attachment| [served_key(&ada(), a), upload_key(&ada(), a)];
    for key in [&own, &foreign].into_iter().flat_map(keys) {
        s3.client()
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"bytes".to_vec().into())
            .send()
            .await
            .expect("moto put_object");
    }
    // both the served object and the upload exist (the check copies one to the other)
    let exists = |attachment: &chatkit_protocol::Attachment| {
        let requests =
            keys(attachment).map(|key| s3.client().head_object().bucket(&bucket).key(key).send());
        async move {
            let [served, upload] = requests;
            match (served.await.is_ok(), upload.await.is_ok()) {
                (true, true) => true,
                (false, false) => false,
                other => panic!("served and upload objects differ: {other:?}"),
            }
        }
    };

    h.store().delete_thread(&ada(), &thread.id).await.unwrap();
    assert!(exists(&own).await, "the request path leaves the bytes to cleanup");
    let cleanup = ThreadCleanup::new(h.dynamo().clone()).with_attachment_store(s3.clone());
    let event = h.stream_event().await;
    let (dynamo_before, s3_before) = (h.dynamo().request_count(), s3.request_count());
    let response = cleanup.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let (dynamo, s3_requests) =
        (h.dynamo().request_count() - dynamo_before, s3.request_count() - s3_before);
    eprintln!("cleanup of a thread of 4 records with 1 attachment: {dynamo} DynamoDB requests, {s3_requests} S3 request");
    assert_eq!(s3_requests, 1, "one DeleteObjects");
    assert!(!exists(&own).await, "the deleted thread's objects are gone (served and upload)");
    assert!(exists(&foreign).await, "another thread's objects stay");
    assert!(h.store().load_attachment(&ada(), own.id()).await.is_err());
}

#[tokio::test]
async fn a_failed_cleanup_is_reported_then_finishes_on_retry() {
    let h = DynamoHarness::new("cleanup-retry").await;
    let (thread, own, _) = seeded(&h).await;
    h.store().delete_thread(&ada(), &thread.id).await.unwrap();
    let tombstoned = h.snapshot().await;

    let bytes = Arc::new(Bytes::default());
    *bytes.fail.lock().unwrap() = true;
    let cleanup = ThreadCleanup::new(h.dynamo().clone()).with_attachment_store(bytes.clone());
    let event = h.stream_event().await;
    let tombstone = event
        .records
        .iter()
        .find(|r| {
            r.change.new_image.contains_key("deleted_at")
                && r.change.keys.get("sk").is_some_and(|v| format!("{v:?}").contains("#THREAD"))
        })
        .expect("the head's tombstone is on the stream");
    let response = cleanup.handle(event.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier, tombstone.change.sequence_number,
        "Lambda retries from this record"
    );
    assert_eq!(h.snapshot().await, tombstoned, "bytes first: nothing deleted while they cannot be");
    let err = h.store().load_thread(&ada(), &thread.id).await.unwrap_err();
    assert!(
        matches!(err, chatkit_store::StoreError::NotFound { .. }),
        "still deleted for the user: {err}"
    );

    *bytes.fail.lock().unwrap() = false;
    let response = cleanup.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(*bytes.deleted.lock().unwrap(), vec![format!("ada/{}", own.id())]);
    assert!(h.store().load_attachment(&ada(), own.id()).await.is_err());
}

#[tokio::test]
async fn cleanup_never_touches_a_live_thread() {
    let h = DynamoHarness::new("cleanup-live").await;
    let (thread, _, _) = seeded(&h).await;
    let snapshot = h.snapshot().await;
    // a forged or stray record that claims the live thread's head has a tombstone
    let pk = h
        .scan()
        .await
        .iter()
        .find_map(|r| {
            r.get("pk")
                .and_then(|v| v.as_s().ok())
                .filter(|pk| pk.contains(chatkit_store::ids::sort_key(&thread.id).unwrap()))
                .cloned()
        })
        .unwrap();
    let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_value(json!({"Records": [{
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"ApproximateCreationDateTime": 1, "Keys": {"pk": {"S": pk}, "sk": {"S": "#THREAD"}},
            "NewImage": {"pk": {"S": pk}, "sk": {"S": "#THREAD"}, "deleted_at": {"N": "1"}}, "SequenceNumber": "1", "SizeBytes": 1,
            "StreamViewType": "NEW_IMAGE"}}]}))
    .unwrap();
    let cleanup = ThreadCleanup::new(h.dynamo().clone());
    assert_eq!(cleanup.record(&event.records[0]).await.unwrap(), Outcome::Alive);
    assert!(cleanup.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(h.snapshot().await, snapshot, "nothing deleted");
    // and the ordinary records of a live thread are not tombstones at all
    for record in h.stream_event().await.records {
        assert_eq!(cleanup.record(&record).await.unwrap(), Outcome::Skipped);
    }
    assert_eq!(h.snapshot().await, snapshot);
}

#[tokio::test]
async fn a_delete_through_the_server_is_one_request_retryable_and_finished_by_cleanup() {
    let s = Server::new("delete-retry").await;
    let thread_id = s.create("ada", "hello").await;
    let delete = json!({"type": "threads.delete", "params": {"thread_id": thread_id}});
    let requests = s.h.dynamo().request_count();
    assert_eq!(s.json("ada", delete.clone()).await, json!({}));
    assert_eq!(
        s.h.dynamo().request_count() - requests,
        1,
        "the request path: one TransactWriteItems"
    );
    // the client did not see the answer and retries: still fine
    assert_eq!(s.json("ada", delete.clone()).await, json!({}));
    for body in [
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "back?"}}),
        json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": chatkit_tests::server::message("hi")}}),
    ] {
        assert_eq!(s.error("ada", body).await.status(), 404);
    }
    s.h.settle().await;
    assert_eq!(s.thread_records().await, 0);
    assert_eq!(
        s.error("ada", delete).await.status(),
        404,
        "once cleaned up, the thread is unknown"
    );
}

#[tokio::test]
async fn the_events_fixture_is_a_cleanup_event() {
    let h = DynamoHarness::new("cleanup-fixture").await;
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/cleanup/tombstone.json"
    ))
    .unwrap();
    let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&fixture).unwrap();
    let cleanup = ThreadCleanup::new(h.dynamo().clone());
    // a thread that is already gone: nothing to delete, nothing fails
    assert_eq!(
        cleanup.record(&event.records[0]).await.unwrap(),
        Outcome::Purged { records: 0, attachments: 0 }
    );
    assert!(cleanup.handle(event).await.batch_item_failures.is_empty());
}

/// What cleanup costs per thread, by its size: the DynamoDB requests (counted by the store's
/// request counter) of purging one deleted thread of `messages` items (half of them replies,
/// each with feedback) whose first message carries `attachments` attachments of its own.
/// Matches the formula in `shared/dynamodb/src/purge.rs`: 1 Query per MB of keys,
/// ⌈attachments / 100⌉ BatchGetItem, ⌈attachments / 25⌉ + ⌈records / 25⌉ BatchWriteItem,
/// 1 DeleteItem. The request path is one TransactWriteItems whatever the size (above).
#[tokio::test]
async fn what_a_cleanup_costs_by_thread_size() {
    let h = DynamoHarness::new("cleanup-cost").await;
    let store = h.store();
    let mut report = Vec::new();
    for (messages, attachments) in [(2usize, 0usize), (10, 0), (50, 3), (200, 30)] {
        let thread = new_thread();
        let mut own = Vec::new();
        for _ in 0..attachments {
            let mut a = image_attachment();
            a.set_thread_id(&thread.id);
            store.save_attachment(&ada(), &a).await.unwrap();
            own.push(a);
        }
        let mut first = user_message(&thread, "look");
        if let ThreadItem::UserMessage(m) = &mut first {
            m.attachments = own;
        }
        store.create_thread(&ada(), &thread, &[first]).await.unwrap();
        let mut feedback = Vec::new();
        for i in 1..messages {
            let item = if i % 2 == 1 {
                assistant_message(&thread, "reply")
            } else {
                user_message(&thread, "more")
            };
            store.save_item(&ada(), &thread.id, &item).await.unwrap();
            if i % 2 == 1 {
                feedback.push(item.id().to_string());
            }
        }
        for ids in feedback.chunks(50) {
            store.save_feedback(&ada(), &thread.id, ids, FeedbackKind::Positive).await.unwrap();
        }
        let ulid = chatkit_store::ids::sort_key(&thread.id).unwrap().to_string();
        store.delete_thread(&ada(), &thread.id).await.unwrap();

        let cleanup = ThreadCleanup::new(h.dynamo().clone());
        let event = h.stream_event().await;
        let tombstone = event
            .records
            .iter()
            .rev()
            .find(|r| {
                r.change.new_image.contains_key("deleted_at")
                    && r.change.keys.get("pk").is_some_and(|v| format!("{v:?}").contains(&ulid))
                    && r.change.keys.get("sk").is_some_and(|v| format!("{v:?}").contains("#THREAD"))
            })
            .expect("the head's tombstone is on the stream");
        let before = h.dynamo().request_count();
        let outcome = cleanup.record(tombstone).await.unwrap();
        let requests = h.dynamo().request_count() - before;
        let Outcome::Purged { records, attachments: purged } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(purged, attachments);
        assert!(records > messages, "the thread's items, its tail and feedback: {records}");
        let expected =
            1 + attachments.div_ceil(100) + attachments.div_ceil(25) + records.div_ceil(25) + 1;
        assert_eq!(requests as usize, expected, "{messages} messages, {attachments} attachments");
        report.push(format!("{messages} items + {attachments} attachments ({records} records + head): {requests} requests"));
    }
    println!("cleanup cost per deleted thread: {}", report.join("; "));
}
