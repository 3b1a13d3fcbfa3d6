//! Organisation isolation through the gateway, with and without `CHATKIT_TENANT_CLAIM`, on
//! the in-memory store and on DynamoDB Local: a user reaches only their own threads; with a
//! tenant claim, the same `sub` in another organisation is another user, and a token without
//! the claim is refused.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chatkit_gateway::{Authenticator, Cors, Gateway, StaticSecret};
use chatkit_server::ChatKitServer;
use chatkit_store::{MemoryStore, Store};
use chatkit_tests::dynamo::DynamoHarness;
use chatkit_tests::scripted::Scripted;
use http_body_util::BodyExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "tenant-isolation-secret-0123456789abcdef";

fn token(sub: &str, org: Option<&str>) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let mut claims = json!({"sub": sub, "exp": exp});
    if let Some(org) = org {
        claims["org_id"] = json!(org);
    }
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
        .unwrap()
}

fn gateway(store: Arc<dyn Store>, tenant_claim: Option<&str>) -> Gateway {
    let auth = Authenticator::new(
        Some(Arc::new(StaticSecret(SECRET.into()))),
        None,
        vec![Algorithm::HS256],
    )
    .with_tenant_claim(tenant_claim.map(str::to_string));
    Gateway::new(ChatKitServer::new(store, Arc::new(Scripted)), auth, Cors::default(), 1 << 20)
}

async fn call(gateway: &Gateway, token: &str, body: Value) -> (u16, String) {
    let request = http::Request::post("/chatkit")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = gateway.handle(request, "req").await;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

/// `owner` creates a thread; every `intruder` can neither list, read, write nor delete it;
/// the owner still has it whole.
async fn only_the_owner_reaches_the_thread(gateway: &Gateway, owner: &str, intruders: &[String]) {
    let (status, stream) = call(
        gateway,
        owner,
        json!({"type": "threads.create", "params": {"input": message("hello")}}),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    let first: Value = serde_json::from_str(
        stream.split_terminator("\n\n").next().unwrap().strip_prefix("data: ").unwrap(),
    )
    .unwrap();
    let thread_id = first["thread"]["id"].as_str().unwrap().to_string();
    for intruder in intruders {
        let (status, body) =
            call(gateway, intruder, json!({"type": "threads.list", "params": {}})).await;
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["data"],
            json!([]),
            "the intruder lists nothing"
        );
        for request in [
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
            json!({"type": "items.list", "params": {"thread_id": thread_id}}),
            json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "mine now"}}),
            json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message("let me in")}}),
            json!({"type": "threads.delete", "params": {"thread_id": thread_id}}),
        ] {
            let (status, body) = call(gateway, intruder, request.clone()).await;
            assert_eq!(status, 404, "{request} by another user: {body}");
        }
    }
    let (status, body) = call(
        gateway,
        owner,
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
    )
    .await;
    assert_eq!(status, 200);
    let thread: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(thread["title"], Value::Null, "nobody renamed it");
    assert_eq!(thread["items"]["data"].as_array().unwrap().len(), 2);
}

async fn without_a_tenant_claim(store: Arc<dyn Store>) {
    let g = gateway(store, None);
    only_the_owner_reaches_the_thread(
        &g,
        &token("alice", Some("acme")),
        &[token("bob", Some("acme")), token("mallory", None)],
    )
    .await;
}

async fn with_a_tenant_claim(store: Arc<dyn Store>) {
    let g = gateway(store, Some("org_id"));
    let intruders = [
        token("alice", Some("globex")), // the same sub in another organisation
        token("bob", Some("acme")),     // another user of the same organisation
        token("acme/alice", Some("t:")), // separators that try to spell the owner's key
        token("alice", Some("acme/")),
    ];
    only_the_owner_reaches_the_thread(&g, &token("alice", Some("acme")), &intruders).await;
    let (status, body) =
        call(&g, &token("alice", None), json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 401, "a token without the claim: {body}");
    assert!(body.contains("org_id"));
}

#[tokio::test]
async fn memory_without_a_tenant_claim() {
    without_a_tenant_claim(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_with_a_tenant_claim() {
    with_a_tenant_claim(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn dynamodb_without_a_tenant_claim() {
    let h = DynamoHarness::new("tenant-off").await;
    without_a_tenant_claim(Arc::new(h.dynamo().clone())).await;
}

#[tokio::test]
async fn dynamodb_with_a_tenant_claim() {
    let h = DynamoHarness::new("tenant-on").await;
    with_a_tenant_claim(Arc::new(h.dynamo().clone())).await;
    // every record of the owner lives under the organisation's prefix
    let owners: Vec<String> =
        h.scan().await.iter().filter_map(|r| r.get("pk")?.as_s().ok().cloned()).collect();
    assert!(!owners.is_empty());
    assert!(owners.iter().all(|pk| pk.starts_with("U#t:acme/alice")), "{owners:?}");
}
