//! Abuse limits at the edge: a turn over the user's turns per minute or model tokens per day
//! gets 429 JSON with `Retry-After`, before anything is stored or the responder (the model)
//! runs; the tokens a turn reports are added to the user's day when it ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use chatkit_gateway::{Authenticator, Cors, Gateway};
use chatkit_protocol::{Order, ThreadStreamEvent};
use chatkit_server::{ChatKitServer, EventSink, Responder, StreamError, Turn};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, MemoryUsage, PageRequest, UsageLimits, UsageStore, UserId};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

/// Stands in for the model: counts its calls and reports 600 tokens per turn; with a gate,
/// each turn waits for a permit before it ends.
#[derive(Default)]
struct Model {
    calls: AtomicUsize,
    gate: Option<tokio::sync::Semaphore>,
}

#[async_trait]
impl Responder for Model {
    async fn respond(&self, turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        turn.context.tokens.add(600);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        Ok(())
    }
}

struct Setup {
    gateway: Gateway,
    store: Arc<MemoryStore>,
    usage: Arc<MemoryUsage>,
    model: Arc<Model>,
}

fn setup(limits: UsageLimits) -> Setup {
    setup_with(limits, Arc::new(Model::default()), |server| server)
}

fn setup_with(
    limits: UsageLimits,
    model: Arc<Model>,
    more: impl FnOnce(ChatKitServer) -> ChatKitServer,
) -> Setup {
    let store = Arc::new(MemoryStore::new());
    let usage = Arc::new(MemoryUsage::new());
    let server =
        ChatKitServer::new(store.clone(), model.clone()).with_usage_limits(usage.clone(), limits);
    let server = more(server);
    let auth = Authenticator::new(None, None, vec![Algorithm::HS256]).with_dev_auth(true);
    Setup { gateway: Gateway::new(server, auth, Cors::default(), 1 << 20), store, usage, model }
}

fn create(n: usize) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": format!("hello {n}")}],
        "attachments": [], "inference_options": {}}}})
}

/// Sends a request as `ada` and reads the whole response.
async fn send(gateway: &Gateway, body: &Value) -> (u16, http::HeaderMap, Bytes) {
    let request = http::Request::post("/chatkit")
        .header("x-user-id", "ada")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = gateway.handle(request, "req-7").await;
    let (parts, body) = response.into_parts();
    (parts.status.as_u16(), parts.headers, body.collect().await.unwrap().to_bytes())
}

async fn threads(store: &MemoryStore) -> usize {
    store
        .list_threads(&UserId::new("ada"), &PageRequest::new(100, Order::Desc))
        .await
        .unwrap()
        .data
        .len()
}

#[tokio::test]
async fn over_the_daily_tokens_a_turn_gets_429_before_anything_happens() {
    let s = setup(UsageLimits {
        turns_per_minute: 100,
        tokens_per_day: 1000,
        ..UsageLimits::default()
    });
    for n in 0..2 {
        let (status, _, body) = send(&s.gateway, &create(n)).await;
        assert_eq!(status, 200);
        let events: Vec<ThreadStreamEvent> = String::from_utf8_lossy(&body)
            .split_terminator("\n\n")
            .map(|f| serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    }
    // 2 × 600 tokens were recorded when the turns ended
    assert_eq!(
        s.usage.usage(&UserId::new("ada"), SystemTime::now()).await.unwrap().tokens_today,
        1200
    );

    let (status, headers, body) = send(&s.gateway, &create(3)).await;
    assert_eq!(status, 429);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["request_id"], "req-7");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after));
    assert_eq!(body["error"]["retry_after"], retry_after);
    assert!(body["error"]["message"].as_str().unwrap().contains("allowance"), "{body}");
    assert_eq!(s.model.calls.load(Ordering::SeqCst), 2, "the model was not called");
    assert_eq!(threads(&s.store).await, 2, "nothing was stored");

    // reads are not limited
    let (status, _, _) = send(&s.gateway, &json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200);
}

fn minute() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() / 60
}

#[tokio::test]
async fn over_the_turns_per_minute_a_turn_gets_429_with_the_seconds_to_wait() {
    // the window is the UTC minute: a run that straddles a minute boundary is run again
    for _ in 0..3 {
        let started = minute();
        let s = setup(UsageLimits { turns_per_minute: 2, ..UsageLimits::default() });
        for n in 0..2 {
            assert_eq!(send(&s.gateway, &create(n)).await.0, 200);
        }
        let (status, headers, body) = send(&s.gateway, &create(2)).await;
        if minute() != started {
            continue;
        }
        assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("2 per minute"), "{body}");
        assert_eq!(s.model.calls.load(Ordering::SeqCst), 2);
        assert_eq!(threads(&s.store).await, 2);
        return;
    }
    panic!("three runs in a row straddled a minute boundary");
}

/// Turns one user has running at once are capped: a turn past the cap is 429 with a short
/// `Retry-After` before the model runs or anything is stored, and gives back what its
/// admission reserved; once a turn ends, its slot serves the next one.
#[tokio::test]
async fn turns_in_flight_past_the_cap_get_429_until_one_ends() {
    let model = Arc::new(Model { gate: Some(tokio::sync::Semaphore::new(0)), ..Model::default() });
    let limits = UsageLimits {
        turns_in_flight: 2,
        tokens_per_day: 100_000,
        tokens_per_turn: 5_000,
        ..UsageLimits::default()
    };
    let s = setup_with(limits, model.clone(), |server| server);
    let gateway = &s.gateway;
    let open = |n: usize| async move {
        let request = http::Request::post("/chatkit")
            .header("x-user-id", "ada")
            .body(Bytes::from(create(n).to_string()))
            .unwrap();
        gateway.handle(request, &format!("req-{n}")).await
    };
    // two turns start and wait on the model
    let first = open(0).await;
    let second = open(1).await;
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    while model.calls.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    let day = || async {
        s.usage.usage(&UserId::new("ada"), SystemTime::now()).await.unwrap().tokens_today
    };
    assert_eq!(day().await, 10_000, "two reservations");
    // a third is refused at once
    let (status, headers, body) = send(&s.gateway, &create(2)).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 2"), "{body}");
    assert_eq!(model.calls.load(Ordering::SeqCst), 2, "the model was not called");
    assert_eq!(threads(&s.store).await, 2, "nothing was stored");
    assert_eq!(day().await, 10_000, "the refused turn's reservation was given back");
    // one ends: its slot serves the next turn
    model.gate.as_ref().unwrap().add_permits(1);
    let ended = first.into_body().collect().await.unwrap().to_bytes();
    assert!(!ended.is_empty());
    model.gate.as_ref().unwrap().add_permits(2);
    assert_eq!(send(&s.gateway, &create(3)).await.0, 200);
    drop(second);
}

/// A minimal attachment store: mints upload descriptors, keeps no bytes.
struct Uploads;

#[async_trait]
impl chatkit_server::AttachmentStore for Uploads {
    async fn create_attachment(
        &self,
        _user: &UserId,
        id: String,
        p: &chatkit_protocol::CreateAttachmentParams,
    ) -> chatkit_store::StoreResult<chatkit_protocol::Attachment> {
        let upload_descriptor = Some(chatkit_protocol::UploadDescriptor {
            url: format!("https://uploads.test/{id}"),
            method: chatkit_protocol::UploadMethod::Put,
            headers: Default::default(),
        });
        Ok(chatkit_protocol::Attachment::File {
            id,
            name: p.name.clone(),
            mime_type: p.mime_type.clone(),
            upload_descriptor,
            thread_id: None,
            metadata: None,
        })
    }

    async fn delete_attachment(
        &self,
        _user: &UserId,
        _attachment: &chatkit_protocol::Attachment,
    ) -> chatkit_store::StoreResult<()> {
        Ok(())
    }
}

/// `attachments.create` is metered per user: attachments no message uses yet are capped
/// (429 until one is sent or deleted), and so are the day's.
#[tokio::test]
async fn attachments_are_capped_while_pending_and_per_day() {
    let limits =
        UsageLimits { pending_attachments: 2, attachments_per_day: 4, ..UsageLimits::default() };
    let s = setup_with(limits, Arc::new(Model::default()), |server| {
        server.with_attachment_store(Arc::new(Uploads))
    });
    let attach = json!({"type": "attachments.create", "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"}});
    let mut made = Vec::new();
    for _ in 0..2 {
        let (status, _, body) = send(&s.gateway, &attach).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        made.push(
            serde_json::from_slice::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string(),
        );
    }
    let (status, headers, body) = send(&s.gateway, &attach).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    assert!(String::from_utf8_lossy(&body).contains("waiting to be sent"));
    // one sent in a message, one deleted: two more may be made
    let message = json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "see"}],
        "attachments": [made[0]], "inference_options": {}}}});
    assert_eq!(send(&s.gateway, &message).await.0, 200);
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": made[1]}});
    assert_eq!(send(&s.gateway, &delete).await.0, 200);
    for _ in 0..2 {
        assert_eq!(send(&s.gateway, &attach).await.0, 200);
    }
    // four made today: the day is spent, though only two are pending
    let (status, _, body) = send(&s.gateway, &attach).await;
    assert_eq!(status, 429);
    assert!(
        String::from_utf8_lossy(&body).contains("4 per day"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}
