//! One HTTP request in, one response out: CORS, body limit, auth, then the ChatKit core.
//! Shared by the Lambda path and the local HTTP mode.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chatkit_server::metrics::MetricLine;
use chatkit_server::{ChatKitError, ChatKitResponse, ChatKitServer, RequestContext};
use chatkit_store::meter::{Metered, RequestMeter};
use chatkit_store::UserId;
use futures::future::BoxFuture;
use futures::StreamExt;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::auth::{AuthError, Authenticator};
use crate::cookie_guard::CookieGuard;
use crate::cors::Cors;

/// A response body: a whole JSON document or an SSE stream written frame by frame.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// Builds the ChatKit core on first use (clients, secrets); retried after a failure.
pub type ServerInit =
    Box<dyn Fn() -> BoxFuture<'static, Result<ChatKitServer, String>> + Send + Sync>;

/// The ChatKit core, built on first use (clients, secrets) and reused afterwards.
enum Backend {
    Ready(ChatKitServer),
    Lazy { cell: OnceCell<ChatKitServer>, init: ServerInit },
}

/// The HTTP front of the function.
pub struct Gateway {
    auth: Authenticator,
    cors: Cors,
    max_body_bytes: usize,
    backend: Backend,
    users: UserHasher,
    cookie_guard: CookieGuard,
    warm_up: Option<std::time::Duration>,
}

/// The user as logs show it: a keyed HMAC-SHA256 of the user id (96 bits, hex), so log readers
/// can follow one user's requests without learning who it is, and an email cannot be found by
/// hashing guesses without the key.
pub struct UserHasher(aws_lc_rs::hmac::Key);

impl UserHasher {
    /// A hasher with a configured key (`CHATKIT_USER_HASH_KEY`): stable across containers.
    pub fn new(key: &[u8]) -> Self {
        Self(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key))
    }

    /// A hasher with a random key: hashes are stable only within this process.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system random source works");
        Self::new(&key)
    }

    /// The log form of `user`.
    pub fn hash(&self, user: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.0, user.as_bytes());
        tag.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(body).expect("JSON serializes");
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The JSON error. Server-side failures (500, 503) get a generic message with the request id;
/// what failed (a store error naming the table, a key fetch naming the issuer) goes to the
/// log only.
fn error_response(err: &ChatKitError, request_id: &str) -> Response<ResponseBody> {
    let status = err.status();
    let generic = match status {
        500 => Some("Something went wrong on our side. Please try again later."),
        503 => Some("The service is temporarily unavailable. Please try again."),
        _ => None,
    };
    let body = match generic {
        Some(message) => {
            warn!(request_id, status, error = %err, "request failed");
            serde_json::json!({"error": {"code": err.code(), "message": message, "request_id": request_id}})
        }
        None => err.to_body(request_id),
    };
    let mut response = json_response(status, &body);
    if let ChatKitError::RateLimited { retry_after, .. } = err {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    response
}

/// What [`Gateway::warm_up`] did: each step, how long it took, and whether it worked.
#[derive(Debug, Default)]
pub struct WarmUp {
    pub steps: Vec<(&'static str, std::time::Duration, Result<(), String>)>,
    pub total: std::time::Duration,
}

impl WarmUp {
    /// How many steps failed.
    pub fn failures(&self) -> usize {
        self.steps.iter().filter(|(_, _, r)| r.is_err()).count()
    }
}

/// What a request did, for its metric line: the operation, and (for JSON answers) the store
/// requests and their time. Streams report their store totals when they end.
struct Outcome {
    operation: &'static str,
    store_requests: Option<u64>,
    store_ms: f64,
}

/// Logs a stream's totals when its body is dropped (finished, or the client went away).
struct StreamLog {
    request_id: String,
    operation: &'static str,
    /// The request's own meter: the stream's store and S3 calls, its spawned tasks' included.
    meter: Arc<RequestMeter>,
    started: Instant,
    events: usize,
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        let Metered { store_requests, store_micros, blob_requests: s3_requests } =
            self.meter.read();
        let store_ms = store_micros as f64 / 1e3;
        let stream_ms = self.started.elapsed().as_secs_f64() * 1e3;
        info!(
            request_id = %self.request_id,
            operation = %self.operation,
            events = self.events,
            store_requests,
            store_ms,
            s3_requests,
            stream_ms,
            "stream finished"
        );
        MetricLine::new()
            .dimension("Operation", self.operation)
            .milliseconds("StreamTime", stream_ms)
            .count("StreamEvents", self.events as u64)
            .count("DynamoDBRequests", store_requests)
            .milliseconds("DynamoDBTime", store_ms)
            .count("S3Requests", s3_requests)
            .property("request_id", self.request_id.as_str())
            .emit();
    }
}

fn sse_response(events: chatkit_server::EventStream, mut log: StreamLog) -> Response<ResponseBody> {
    let frames = events.map(move |event| {
        // the whole guard moves into the closure, so it is dropped with the body
        let log = &mut log;
        log.events += 1;
        Ok::<_, Infallible>(Frame::data(Bytes::from(chatkit_protocol::sse_frame(&event))))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

impl Gateway {
    /// A gateway over a ready core (tests, embedding).
    pub fn new(
        server: ChatKitServer,
        auth: Authenticator,
        cors: Cors,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            auth,
            cors,
            max_body_bytes,
            backend: Backend::Ready(server),
            users: UserHasher::random(),
            cookie_guard: CookieGuard::default(),
            warm_up: None,
        }
    }

    /// A gateway whose core is built on the first request that needs it; a failed build is
    /// answered 503 and retried by the next request.
    pub fn lazy(init: ServerInit, auth: Authenticator, cors: Cors, max_body_bytes: usize) -> Self {
        Self {
            auth,
            cors,
            max_body_bytes,
            backend: Backend::Lazy { cell: OnceCell::new(), init },
            users: UserHasher::random(),
            cookie_guard: CookieGuard::default(),
            warm_up: None,
        }
    }

    /// The origins whose requests may authenticate with the cookie (see [`CookieGuard`]).
    /// Without any, a request that relies on the cookie gets 403.
    pub fn with_cookie_origins(mut self, origins: Vec<String>) -> Self {
        self.cookie_guard = CookieGuard::new(origins);
        self
    }

    /// Warm up before serving ([`Gateway::warm_up`]), bounded by `limit`; `None` skips it.
    pub fn with_warm_up(mut self, limit: Option<std::time::Duration>) -> Self {
        self.warm_up = limit;
        self
    }

    /// The configured warm-up limit.
    pub fn warm_up_limit(&self) -> Option<std::time::Duration> {
        self.warm_up
    }

    /// Sets how users are hashed in logs.
    pub fn with_user_hasher(mut self, users: UserHasher) -> Self {
        self.users = users;
        self
    }

    /// The log form of a user id.
    pub fn user_hash(&self, user: &str) -> String {
        self.users.hash(user)
    }

    /// The largest accepted body.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Waits (at most `limit`) for the turns still running to end and save their items.
    pub async fn drain(&self, limit: std::time::Duration) {
        let server = match &self.backend {
            Backend::Ready(server) => Some(server),
            Backend::Lazy { cell, .. } => cell.get(),
        };
        if let Some(server) = server {
            server.drain(limit).await;
        }
    }

    async fn server(&self) -> Result<&ChatKitServer, ChatKitError> {
        match &self.backend {
            Backend::Ready(server) => Ok(server),
            Backend::Lazy { cell, init } => cell.get_or_try_init(init).await.map_err(|e| {
                warn!(error = %e, "could not initialise the ChatKit backend");
                ChatKitError::Unavailable(
                    "the service is starting up or misconfigured; try again".into(),
                )
            }),
        }
    }

    /// Does the slow first-use work now, during Lambda's init phase instead of on the first
    /// request: builds the core (AWS config, clients, secrets the responder needs), opens the
    /// DynamoDB connection with one cheap call (which also resolves the credentials), and
    /// fetches the verification keys; the two branches run concurrently, bounded by `limit`.
    /// A failed step is logged and left for the first request to retry; this never fails.
    pub async fn warm_up(&self, limit: std::time::Duration) -> WarmUp {
        let started = Instant::now();
        let backend = async {
            let t = Instant::now();
            let built = self.server().await.map_err(|e| e.to_string());
            let init = (t.elapsed(), built.as_ref().map(drop).map_err(Clone::clone));
            let ping = match built {
                Ok(server) => {
                    let t = Instant::now();
                    let result = server.store().ping().await.map_err(|e| e.to_string());
                    Some((t.elapsed(), result))
                }
                Err(_) => None,
            };
            (init, ping)
        };
        let keys = async {
            let t = Instant::now();
            let result = self.auth.warm_up().await.map_err(|e| e.to_string());
            (t.elapsed(), result)
        };
        let mut report = WarmUp::default();
        match tokio::time::timeout(limit, async { tokio::join!(backend, keys) }).await {
            Ok(((init, ping), keys)) => {
                report.steps.push(("backend", init.0, init.1));
                if let Some(ping) = ping {
                    report.steps.push(("dynamodb", ping.0, ping.1));
                }
                report.steps.push(("keys", keys.0, keys.1));
            }
            Err(_) => report.steps.push((
                "all",
                limit,
                Err(format!("warm-up did not finish within {} ms", limit.as_millis())),
            )),
        }
        report.total = started.elapsed();
        for (step, took, result) in &report.steps {
            match result {
                Ok(()) => info!(step, ms = took.as_secs_f64() * 1e3, "warm-up step done"),
                Err(error) => {
                    warn!(step, ms = took.as_secs_f64() * 1e3, error = %error, "warm-up step failed; the first request retries it");
                }
            }
        }
        info!(
            ms = report.total.as_secs_f64() * 1e3,
            failures = report.failures(),
            "warm-up finished"
        );
        MetricLine::new()
            .milliseconds("WarmUpTime", report.total.as_secs_f64() * 1e3)
            .count("WarmUpFailures", report.failures() as u64)
            .emit();
        report
    }

    /// Handles one request.
    pub async fn handle(
        &self,
        request: Request<Bytes>,
        request_id: &str,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let mut response = if request.method() == Method::OPTIONS {
            let mut response = Response::new(Full::new(Bytes::new()).boxed_unsync());
            *response.status_mut() = StatusCode::NO_CONTENT;
            self.cors.apply_preflight(&request, response.headers_mut());
            return response;
        } else {
            let mut outcome = Outcome { operation: "none", store_requests: None, store_ms: 0.0 };
            let response = self.serve(&request, request_id, &mut outcome).await;
            let status = response.status().as_u16();
            let mut line = MetricLine::new()
                .dimension("Operation", outcome.operation)
                .milliseconds("Latency", started.elapsed().as_secs_f64() * 1e3)
                .count("Errors", u64::from(status >= 500))
                .count("Rejected", u64::from((400..500).contains(&status)))
                .property("status", status)
                .property("request_id", request_id);
            if let Some(requests) = outcome.store_requests {
                line = line
                    .count("DynamoDBRequests", requests)
                    .milliseconds("DynamoDBTime", outcome.store_ms);
            }
            line.emit();
            response
        };
        self.cors.apply(&request, response.headers_mut());
        if let Ok(value) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        // the metric line already carries the status and latency: a log line only without it
        if !chatkit_server::metrics::enabled() {
            info!(
                request_id,
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1e3,
                "request"
            );
        }
        response
    }

    async fn serve(
        &self,
        request: &Request<Bytes>,
        request_id: &str,
        outcome: &mut Outcome,
    ) -> Response<ResponseBody> {
        if request.method() != Method::POST {
            let err = ChatKitError::bad_request(format!(
                "method {} is not allowed; POST a ChatKit request",
                request.method()
            ));
            let mut response = error_response(&err, request_id);
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return response;
        }
        let body = request.body();
        if body.len() > self.max_body_bytes {
            let err =
                ChatKitError::PayloadTooLarge { size: body.len(), limit: self.max_body_bytes };
            return error_response(&err, request_id);
        }
        if let Err(refusal) = self.cookie_guard.check(&self.auth, request.headers()) {
            info!(request_id, reason = %refusal, "cookie request refused");
            let body = serde_json::json!({"error": {"code": "forbidden", "message": refusal.to_string(), "request_id": request_id}});
            return json_response(403, &body);
        }
        let identity = match self.auth.authenticate(request.headers()).await {
            Ok(identity) => identity,
            Err(AuthError::Keys(e)) => {
                warn!(request_id, error = %e, "verification keys unavailable");
                return error_response(
                    &ChatKitError::Unavailable(
                        "could not verify credentials right now; try again".into(),
                    ),
                    request_id,
                );
            }
            Err(e) => {
                info!(request_id, reason = %e, "unauthenticated request");
                return error_response(&ChatKitError::Unauthorized(e.to_string()), request_id);
            }
        };
        let server = match self.server().await {
            Ok(server) => server,
            Err(err) => return error_response(&err, request_id),
        };
        let store_user = identity.store_user();
        let user = self.users.hash(&store_user);
        let mut context = RequestContext::new(UserId::new(store_user), request_id);
        context.access_token = identity.token;
        context.deadline =
            request.extensions().get::<chatkit_server::InvocationDeadline>().map(|d| d.0);
        // a client retry with the same key stores nothing twice (checked by the server)
        context.idempotency_key = request
            .headers()
            .get("idempotency-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let request = match server.parse(body) {
            Ok(request) => request,
            Err(err) => {
                info!(request_id, user = %user, status = err.status(), error = %err, "request rejected");
                return error_response(&err, request_id);
            }
        };
        let operation = request.op.type_name();
        outcome.operation = operation;
        let meter = RequestMeter::new();
        let started = Instant::now();
        match meter.scope(server.process_request(request, context)).await {
            Ok(ChatKitResponse::Json(value)) => {
                let Metered { store_requests, store_micros, blob_requests: s3_requests } =
                    meter.read();
                let store_ms = store_micros as f64 / 1e3;
                (outcome.store_requests, outcome.store_ms) = (Some(store_requests), store_ms);
                info!(request_id, operation, user = %user, store_requests, store_ms, s3_requests, "json response");
                json_response(200, &value)
            }
            Ok(ChatKitResponse::Stream(events)) => {
                let setup_ms = started.elapsed().as_secs_f64() * 1e3;
                info!(request_id, operation, user = %user, setup_ms, "streaming response");
                let log = StreamLog {
                    request_id: request_id.to_string(),
                    operation,
                    meter,
                    started,
                    events: 0,
                };
                let mut response = sse_response(events, log);
                // names the turn, so a client whose disconnect the server cannot see (Lambda)
                // can stop it with `turns.cancel`
                if let Ok(turn) = HeaderValue::from_str(request_id) {
                    response.headers_mut().insert("x-chatkit-turn-id", turn);
                }
                response
            }
            Err(err) => {
                info!(request_id, operation, user = %user, status = err.status(), error = %err, "request rejected");
                error_response(&err, request_id)
            }
        }
    }
}
