//! A fault-injecting proxy in front of DynamoDB Local: every request goes through to the real
//! DynamoDB Local, except those a rule picks (by operation, after letting some pass), which
//! get throttled, a 500, no answer in time, or a reset connection. A [`DynamoStore`] pointed
//! at it (short timeouts, few retries) meets the faults exactly as it would meet them on AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use bytes::Bytes;
use chatkit_dynamodb::DynamoStore;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::dynamo::ENDPOINT_ENV;

/// What a faulted request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException` (retryable).
    Throttle,
    /// HTTP 500 `InternalServerError`.
    ServerError,
    /// No answer within the store's attempt timeout.
    Timeout,
    /// The connection is closed without an answer.
    Reset,
    /// The request reaches DynamoDB and is done, but its answer comes after the attempt
    /// timeout: the caller cannot know it succeeded.
    LostAnswer,
}

/// Faults that stop a request before DynamoDB sees it.
pub const ALL_FAULTS: [Fault; 4] =
    [Fault::Throttle, Fault::ServerError, Fault::Timeout, Fault::Reset];

/// Which requests fail: those of operation `op` (`Query`, `TransactWriteItems`, …) after
/// the first `skip` of them, until the rule is cleared. An operation the SDK retries is one
/// request here (its attempts share the `amz-sdk-invocation-id` header): all its attempts
/// meet the same fate, so a slow machine's retries never shift which request a rule hits.
#[derive(Debug, Clone)]
pub struct Rule {
    pub op: &'static str,
    pub skip: usize,
    pub fault: Fault,
    seen: usize,
    failed: usize,
}

impl Rule {
    pub fn new(op: &'static str, fault: Fault) -> Self {
        Self { op, skip: 0, fault, seen: 0, failed: 0 }
    }

    /// Lets the first `n` requests of the operation through.
    pub fn after(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Every request seen (one per SDK operation call, whatever its attempts): its operation
    /// and whether it was faulted.
    log: Vec<(String, bool)>,
    /// The fate of each operation call seen since the last clear, by invocation id.
    decided: HashMap<String, Option<Fault>>,
}

/// The proxy. Cheap to clone.
#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// How long a store pointed at the proxy waits for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

impl FaultProxy {
    /// A proxy to the DynamoDB Local of `AWS_ENDPOINT_URL_DYNAMODB`.
    pub async fn start() -> Self {
        let target =
            std::env::var(ENDPOINT_ENV).expect("AWS_ENDPOINT_URL_DYNAMODB (run through make test)");
        let (listener, address) = chatkit_testkit::bind_loopback().await;
        let url = format!("http://{address}");
        let proxy = FaultProxy { url, state: Arc::default() };
        let client = reqwest::Client::new();
        let state = proxy.state.clone();
        chatkit_testkit::serve_http(listener, move |req| {
            forward(req, state.clone(), client.clone(), target.clone())
        });
        proxy
    }

    /// Adds a rule.
    pub fn fail(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Removes every rule: the faults clear. Returns how many requests they failed, so a
    /// test can tell its fault was met.
    pub fn clear(&self) -> usize {
        let mut state = self.state.lock().unwrap();
        state.decided.clear();
        state.rules.drain(..).map(|rule| rule.failed).sum()
    }

    /// Forgets the operations seen so far.
    pub fn reset_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// How many requests were faulted so far.
    pub fn faulted(&self) -> usize {
        self.state.lock().unwrap().log.iter().filter(|(_, f)| *f).count()
    }

    /// The operations seen so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.state.lock().unwrap().log.iter().map(|(op, _)| op.clone()).collect()
    }

    /// A store on `table` through the proxy: short timeouts, two attempts per operation.
    pub async fn store(&self, table: &str) -> DynamoStore {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(Duration::from_secs(5))
            .build();
        let retry = RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(10));
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&self.url)
            .timeout_config(timeouts)
            .retry_config(retry)
            .build();
        DynamoStore::from_conf(conf, table)
    }
}

/// Picks the fault for an attempt of `op` (a retry meets its first attempt's fate).
fn pick(state: &Mutex<State>, op: &str, invocation: Option<&str>) -> Option<Fault> {
    let mut state = state.lock().unwrap();
    if let Some(fate) = invocation.and_then(|id| state.decided.get(id)) {
        return *fate;
    }
    let mut fault = None;
    for rule in state.rules.iter_mut().filter(|r| r.op == op) {
        rule.seen += 1;
        if fault.is_none() && rule.seen > rule.skip {
            rule.failed += 1;
            fault = Some(rule.fault);
        }
    }
    if let Some(id) = invocation {
        state.decided.insert(id.to_string(), fault);
    }
    state.log.push((op.to_string(), fault.is_some()));
    fault
}

fn error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", kind)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn forward(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    target: String,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let op = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("")
        .to_string();
    let invocation = req
        .headers()
        .get("amz-sdk-invocation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    let fault = pick(&state, &op, invocation.as_deref());
    match fault {
        Some(Fault::Throttle) => {
            return Ok(error(
                400,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ))
        }
        Some(Fault::ServerError) => {
            return Ok(error(500, "InternalServerError", "Internal server error"))
        }
        Some(Fault::Timeout) => {
            tokio::time::sleep(ATTEMPT_TIMEOUT * 3).await;
            return Ok(error(500, "InternalServerError", "too late"));
        }
        Some(Fault::Reset) => {
            return Err(std::io::Error::other("connection reset by the fault proxy"))
        }
        Some(Fault::LostAnswer) | None => {}
    }
    let mut request = client.request(parts.method.clone(), format!("{target}{}", parts.uri.path()));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await.map_err(std::io::Error::other)?;
    let mut builder = Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            builder = builder.header(name, value);
        }
    }
    let bytes = response.bytes().await.map_err(std::io::Error::other)?;
    if fault == Some(Fault::LostAnswer) {
        // done, but the answer arrives after the caller gave up on it
        tokio::time::sleep(ATTEMPT_TIMEOUT * 3).await;
    }
    Ok::<_, std::io::Error>(builder.body(Full::new(bytes)).unwrap())
}
