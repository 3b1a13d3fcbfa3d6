//! What a user sees when the server fails: a generic message with the request id, never the
//! store's or a dependency's own words (table names, AWS error codes, URLs).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chatkit_gateway::{Authenticator, Cors, Gateway};
use chatkit_protocol::{Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata};
use chatkit_server::{ChatKitServer, EventSink, Responder, StreamError, Turn};
use chatkit_store::{
    AttachmentRecords, Backend, FeedbackStore, IdempotencyKey, MemoryStore, PageRequest,
    StoreError, StoreResult, ThreadStore, ThreadWithItems, TurnControl, UserId,
};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

/// A store whose thread listing fails the way DynamoDB does; everything else is in memory.
struct Failing(MemoryStore, fn() -> StoreError);

#[async_trait]
impl ThreadStore for Failing {
    async fn load_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<ThreadMetadata> {
        self.0.load_thread(user, thread_id).await
    }

    async fn load_thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems> {
        self.0.load_thread_items(user, thread_id, page).await
    }

    async fn create_thread(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<()> {
        self.0.create_thread(user, thread, items).await
    }

    async fn save_thread(&self, user: &UserId, thread: &ThreadMetadata) -> StoreResult<()> {
        self.0.save_thread(user, thread).await
    }

    async fn list_threads(
        &self,
        _user: &UserId,
        _page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>> {
        Err((self.1)())
    }

    async fn delete_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<()> {
        self.0.delete_thread(user, thread_id).await
    }

    async fn load_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<ThreadItem> {
        self.0.load_item(user, thread_id, item_id).await
    }

    async fn save_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        self.0.save_item(user, thread_id, item).await
    }

    async fn complete_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        self.0.complete_item(user, thread_id, item).await
    }

    async fn delete_items(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
    ) -> StoreResult<()> {
        self.0.delete_items(user, thread_id, item_ids).await
    }
}

#[async_trait]
impl TurnControl for Failing {
    async fn create_thread_once(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.0.create_thread_once(user, thread, items, key).await
    }

    async fn save_item_once(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.0.save_item_once(user, thread_id, item, key).await
    }

    async fn release_key(&self, user: &UserId, key: &IdempotencyKey) -> StoreResult<()> {
        self.0.release_key(user, key).await
    }

    async fn request_cancel(&self, user: &UserId, turn_id: &str) -> StoreResult<()> {
        self.0.request_cancel(user, turn_id).await
    }

    async fn is_cancelled(&self, user: &UserId, turn_id: &str) -> StoreResult<bool> {
        self.0.is_cancelled(user, turn_id).await
    }
}

#[async_trait]
impl AttachmentRecords for Failing {
    async fn save_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        self.0.save_attachment(user, attachment).await
    }

    async fn load_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<Attachment> {
        self.0.load_attachment(user, attachment_id).await
    }

    async fn delete_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<()> {
        self.0.delete_attachment(user, attachment_id).await
    }
}

#[async_trait]
impl FeedbackStore for Failing {
    async fn save_feedback(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> StoreResult<()> {
        self.0.save_feedback(user, thread_id, item_ids, kind).await
    }
}

#[async_trait]
impl Backend for Failing {
    fn request_count(&self) -> u64 {
        self.0.request_count()
    }
}

struct Silent;

#[async_trait]
impl Responder for Silent {
    async fn respond(&self, _turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        Ok(())
    }
}

/// `body` posted as ada to a gateway over `store`: the status and the body.
async fn answer(store: Arc<dyn chatkit_store::Store>, body: Value) -> (u16, String) {
    let server = ChatKitServer::new(store, Arc::new(Silent));
    let gateway = Gateway::new(
        server,
        Authenticator::new(None, None, vec![Algorithm::HS256]).with_dev_auth(true),
        Cors::default(),
        1 << 20,
    );
    let request = http::Request::post("/chatkit")
        .header("x-user-id", "ada")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = gateway.handle(request, "req-42").await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn list_with(error: fn() -> StoreError) -> (u16, Value) {
    let store = Arc::new(Failing(MemoryStore::new(), error));
    let (status, body) = answer(store, json!({"type": "threads.list", "params": {}})).await;
    (status, serde_json::from_slice(body.as_bytes()).unwrap())
}

const DETAIL: &str = "DynamoDB Query: ThrottlingException: table arn:aws:dynamodb:eu-west-1:123456789012:table/prod-chatkit";

fn throttled() -> StoreError {
    StoreError::Unavailable(DETAIL.into())
}

fn broken() -> StoreError {
    StoreError::Internal(DETAIL.into())
}

fn bad_cursor() -> StoreError {
    StoreError::InvalidId { kind: "cursor", id: "nope".into() }
}

#[tokio::test]
async fn server_failures_are_generic_with_the_request_id() {
    for (error, status, code) in
        [(throttled as fn() -> StoreError, 503, "unavailable"), (broken, 500, "internal")]
    {
        let (got, body) = list_with(error).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code);
        assert_eq!(body["error"]["request_id"], "req-42");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty() && !DETAIL.contains(message), "{message}");
        assert!(
            !body.to_string().contains("DynamoDB") && !body.to_string().contains("prod-chatkit"),
            "{body}"
        );
    }
    // client errors keep their useful message
    let (status, body) = list_with(bad_cursor).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"), "{body}");
}

async fn post(body: Value) -> (u16, String) {
    answer(Arc::new(MemoryStore::new()), body).await
}

#[tokio::test]
async fn long_ids_are_refused_before_any_read_and_never_echoed_whole() {
    let huge = "t".repeat(100_000);
    let input = json!({"content": [{"type": "input_text", "text": "hi"}], "attachments": [], "inference_options": {}});
    let mut with_attachment = input.clone();
    with_attachment["attachments"] = json!([huge]);
    for request in [
        json!({"type": "threads.get_by_id", "params": {"thread_id": huge}}),
        json!({"type": "items.list", "params": {"thread_id": "thr_1", "after": huge}}),
        json!({"type": "threads.add_user_message", "params": {"thread_id": huge, "input": input}}),
        json!({"type": "threads.create", "params": {"input": with_attachment}}),
        json!({"type": "items.feedback", "params": {"thread_id": "thr_1", "item_ids": ["a", huge], "kind": "positive"}}),
        json!({"type": "attachments.delete", "params": {"attachment_id": huge}}),
    ] {
        let (status, body) = post(request.clone()).await;
        assert_eq!(status, 400, "{}: {body}", request["type"]);
        assert!(body.len() < 400, "{}: a {} byte answer", request["type"], body.len());
        assert!(body.contains("at most 128 bytes"), "{body}");
    }
    // an id of an allowed length that names nothing: 404, and the answer repeats only its start
    let unknown = format!("thr_{}", "9".repeat(120));
    let (status, body) =
        post(json!({"type": "threads.get_by_id", "params": {"thread_id": unknown}})).await;
    assert!(status == 404 || status == 400, "{status} {body}");
    assert!(!body.contains(&unknown) && body.contains(&unknown[..30]), "{body}");
}
