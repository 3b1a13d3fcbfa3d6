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

/// Stands in for the model: counts its calls and reports 600 tokens per turn.
#[derive(Default)]
struct Model {
    calls: AtomicUsize,
}

#[async_trait]
impl Responder for Model {
    async fn respond(&self, turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        turn.context.tokens.add(600);
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
    let store = Arc::new(MemoryStore::new());
    let usage = Arc::new(MemoryUsage::new());
    let model = Arc::new(Model::default());
    let server =
        ChatKitServer::new(store.clone(), model.clone()).with_usage_limits(usage.clone(), limits);
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
    let s = setup(UsageLimits { turns_per_minute: 100, tokens_per_day: 1000, tokens_per_turn: 0 });
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
        let s = setup(UsageLimits { turns_per_minute: 2, tokens_per_day: 0, tokens_per_turn: 0 });
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
