//! Warm-up ([`Gateway::warm_up`]): the core is built, the store pinged and the verification keys
//! fetched ahead of the first request; a step that fails is reported, logged and retried by the
//! first request, and the whole warm-up is bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chatkit_gateway::{Authenticator, Cors, Gateway, Jwks};
use chatkit_server::{ChatKitServer, EventSink, Responder, StreamError, Turn};
use chatkit_store::MemoryStore;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

struct Silent;

#[async_trait]
impl Responder for Silent {
    async fn respond(&self, _turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        Ok(())
    }
}

/// A JWKS endpoint that counts its fetches.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let (listener, address) = chatkit_testkit::bind_loopback().await;
    let url = format!("http://{address}/jwks.json");
    let counter = fetches.clone();
    chatkit_testkit::serve_http(listener, move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(
                include_bytes!("fixtures/jwks.json"),
            ))))
        }
    });
    (url, fetches)
}

fn jwks_token() -> String {
    let exp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let claims = json!({"sub": "ada", "exp": exp, "iss": "https://issuer.test", "aud": "chatkit"});
    encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(include_bytes!("fixtures/ec_private.pem")).unwrap(),
    )
    .unwrap()
}

/// A lazily built core whose first `failures` builds fail; counts the attempts.
fn lazy_gateway(
    url: &str,
    failures: usize,
    attempts: Arc<AtomicUsize>,
    delay: Duration,
) -> Gateway {
    let init = Box::new(move || {
        let attempts = attempts.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if attempts.fetch_add(1, Ordering::SeqCst) < failures {
                return Err("DynamoDB is not reachable yet".to_string());
            }
            Ok(ChatKitServer::new(Arc::new(MemoryStore::new()), Arc::new(Silent)))
        }) as BoxFuture<'static, Result<ChatKitServer, String>>
    });
    let auth = Authenticator::new(
        None,
        Some(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))),
        vec![Algorithm::ES256],
    )
    .with_issuer(Some("https://issuer.test".into()))
    .with_audience(Some("chatkit".into()));
    Gateway::lazy(init, auth, Cors::default(), 1 << 20)
}

async fn list(gateway: &Gateway) -> u16 {
    let request = http::Request::post("/chatkit")
        .header("authorization", format!("Bearer {}", jwks_token()))
        .body(Bytes::from(json!({"type": "threads.list", "params": {}}).to_string()))
        .unwrap();
    let response = gateway.handle(request, "req").await;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

#[tokio::test]
async fn warm_up_does_the_first_use_work_before_the_first_request() {
    let (url, fetches) = jwks_server().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let gateway = lazy_gateway(&url, 0, attempts.clone(), Duration::ZERO);
    let report = gateway.warm_up(Duration::from_secs(10)).await;
    let steps: Vec<&str> = report.steps.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(steps, ["backend", "dynamodb", "keys"]);
    assert_eq!(report.failures(), 0, "{report:?}");
    assert_eq!((attempts.load(Ordering::SeqCst), fetches.load(Ordering::SeqCst)), (1, 1));
    // the first request finds everything ready: no build, no key fetch
    assert_eq!(list(&gateway).await, 200);
    assert_eq!((attempts.load(Ordering::SeqCst), fetches.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn a_failed_warm_up_step_is_reported_and_the_first_request_retries_it() {
    let (url, fetches) = jwks_server().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let gateway = lazy_gateway(&url, 1, attempts.clone(), Duration::ZERO);
    let report = gateway.warm_up(Duration::from_secs(10)).await;
    assert_eq!(report.failures(), 1, "{report:?}");
    let (step, _, result) = &report.steps[0];
    assert_eq!(*step, "backend");
    assert!(result.as_ref().unwrap_err().contains("try again"), "{result:?}");
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the other branch still warmed up");
    // the function serves, and the first request builds the core
    assert_eq!(list(&gateway).await, 200);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn warm_up_is_bounded() {
    let (url, _) = jwks_server().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let gateway = lazy_gateway(&url, 0, attempts, Duration::from_secs(30));
    let report =
        tokio::time::timeout(Duration::from_secs(10), gateway.warm_up(Duration::from_millis(200)))
            .await
            .expect("warm-up hung");
    assert_eq!(report.failures(), 1);
    assert!(report.steps[0].2.as_ref().unwrap_err().contains("200 ms"));
}
