//! One HTTP request in, one response out: CORS, body limit, auth, then the ChatKit core.
//! Shared by the Lambda path and the local HTTP mode.

use std::time::Instant;

use bytes::Bytes;
use chatkit_protocol::Function;
use chatkit_server::{ChatKitError, ChatKitResponse, ChatKitServer, RequestContext};
use chatkit_store::meter::{Metered, RequestMeter};
use chatkit_store::UserId;
use futures::future::BoxFuture;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::auth::{AuthError, Authenticator};
use crate::cookie_guard::CookieGuard;
use crate::cors::Cors;
use crate::request_log::{Outcome, StreamLog};
use crate::responses::{
    error_response, json_bytes_response, json_response, sse_response, ResponseBody,
};
use crate::users::UserHasher;

mod warm_up;

pub use warm_up::WarmUp;

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
    function: Option<Function>,
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
            function: None,
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
            function: None,
        }
    }

    /// Serves only `function`'s operations ([`ChatKitServer::serving_only`]); others are
    /// answered 400 `wrong_function`. Without this, the gateway serves every operation.
    pub fn with_function(mut self, function: Function) -> Self {
        self.function = Some(function);
        if let Backend::Ready(server) = self.backend {
            self.backend = Backend::Ready(server.serving_only(function));
        }
        self
    }

    /// The function this gateway is, when it serves only one's operations.
    pub fn function(&self) -> Option<Function> {
        self.function
    }

    /// The origins whose requests may authenticate with the cookie (see [`CookieGuard`]).
    /// Without any, a request that relies on the cookie gets 403.
    pub fn with_cookie_origins(mut self, origins: Vec<String>) -> Self {
        self.cookie_guard = CookieGuard::new(origins);
        self
    }

    /// Warm up as the process starts ([`Gateway::warm_up`]), bounded by `limit`; `None` skips it.
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
            Backend::Lazy { cell, init } => {
                let build = || async {
                    let server = init().await?;
                    Ok::<_, String>(match self.function {
                        Some(function) => server.serving_only(function),
                        None => server,
                    })
                };
                cell.get_or_try_init(build).await.map_err(|e| {
                    warn!(error = %e, "could not initialise the ChatKit backend");
                    ChatKitError::Unavailable(
                        "the service is starting up or misconfigured; try again".into(),
                    )
                })
            }
        }
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
            let mut outcome = Outcome::default();
            let response = self.serve(&request, request_id, &mut outcome).await;
            outcome.emit(response.status().as_u16(), started, request_id);
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
            Ok(ChatKitResponse::Json(body)) => {
                let Metered { store_requests, store_micros, blob_requests: s3_requests } =
                    meter.read();
                let store_ms = store_micros as f64 / 1e3;
                (outcome.store_requests, outcome.store_ms) = (Some(store_requests), store_ms);
                info!(request_id, operation, user = %user, store_requests, store_ms, s3_requests, "json response");
                json_bytes_response(200, body.into_bytes())
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
