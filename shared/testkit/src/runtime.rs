//! A stand-in for the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`), enough to run the real
//! binary in its Lambda mode: it hands out queued invocations (a Function URL event, a
//! request id, a deadline) and reads each streamed response (`Lambda-Runtime-Function-
//! Response-Mode: streaming`: a JSON prelude, 8 NUL bytes, then the body), passing its bytes
//! to the test as they arrive. Like Lambda after a client disconnect, it keeps reading; told
//! to, it breaks the connection instead. A buffered response (no streaming header: the whole
//! Function URL response document) is read with [`Invocation::buffered`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

/// What the runtime does with a streamed response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Reads to the end (what Lambda does, whether or not the client is still there).
    ToTheEnd,
    /// Breaks the connection once the body (after the prelude) contains this text.
    BreakOn(&'static str),
}

struct Pending {
    request_id: String,
    event: Value,
    deadline_ms: u64,
}

struct Active {
    chunks: mpsc::UnboundedSender<Bytes>,
    reading: Reading,
}

#[derive(Clone)]
pub struct Runtime {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    queue: mpsc::UnboundedSender<Pending>,
    active: Arc<Mutex<HashMap<String, Active>>>,
}

/// One invocation's response as the runtime reads it.
pub struct Invocation {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    buffer: Vec<u8>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

impl Runtime {
    pub async fn start() -> Self {
        let (listener, address) = crate::bind_loopback().await;
        let address = address.to_string();
        let (queue, receiver) = mpsc::unbounded_channel::<Pending>();
        let receiver = Arc::new(AsyncMutex::new(receiver));
        let runtime = Runtime { address, queue, active: Arc::default() };
        let active = runtime.active.clone();
        crate::serve_http(listener, move |req| handle(req, receiver.clone(), active.clone()));
        runtime
    }

    /// Queues an invocation of `event` with `timeout` left before Lambda would kill it.
    pub fn invoke(
        &self,
        request_id: &str,
        event: Value,
        timeout: Duration,
        reading: Reading,
    ) -> Invocation {
        let (chunks, rx) = mpsc::unbounded_channel();
        self.active.lock().unwrap().insert(request_id.to_string(), Active { chunks, reading });
        let deadline_ms = now_ms() + timeout.as_millis() as u64;
        self.queue
            .send(Pending { request_id: request_id.to_string(), event, deadline_ms })
            .unwrap();
        Invocation { chunks: rx, buffer: Vec::new() }
    }
}

async fn handle(
    req: Request<Incoming>,
    queue: Arc<AsyncMutex<mpsc::UnboundedReceiver<Pending>>>,
    active: Arc<Mutex<HashMap<String, Active>>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_string();
    if path.ends_with("/invocation/next") {
        // waits for the next queued invocation (forever after the last one)
        let Some(next) = queue.lock().await.recv().await else {
            std::future::pending::<()>().await;
            unreachable!()
        };
        return Ok(Response::builder()
            .header("lambda-runtime-aws-request-id", next.request_id)
            .header("lambda-runtime-deadline-ms", next.deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:chatkit",
            )
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
            .body(Full::new(Bytes::from(next.event.to_string())))
            .unwrap());
    }
    let id = path.split('/').nth(4).unwrap_or_default().to_string();
    if path.ends_with("/response") {
        let Some(Active { chunks, reading }) = active.lock().unwrap().remove(&id) else {
            return Ok(Response::builder().status(404).body(Full::default()).unwrap());
        };
        let streaming = req.headers().contains_key("lambda-runtime-function-response-mode");
        let mut body = req.into_body();
        if !streaming {
            let whole =
                body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
            let _ = chunks.send(whole);
            return Ok(Response::builder().status(202).body(Full::default()).unwrap());
        }
        let mut seen = Vec::new();
        let mut prelude_done = false;
        let mut prelude = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Ok(data) = frame.into_data() else { continue };
            let mut data = data.to_vec();
            if !prelude_done {
                prelude.extend_from_slice(&data);
                let Some(end) = prelude.windows(8).position(|w| w == [0u8; 8]) else { continue };
                prelude_done = true;
                data = prelude.split_off(end + 8);
                prelude.truncate(end);
                let _ = chunks.send(Bytes::from(prelude.clone()));
                let _ = chunks.send(Bytes::from_static(b"\0PRELUDE-END\0"));
            }
            seen.extend_from_slice(&data);
            let _ = chunks.send(Bytes::from(data));
            if let Reading::BreakOn(text) = reading {
                if seen.windows(text.len()).any(|w| w == text.as_bytes()) {
                    // drop the connection mid-body: the function's next write fails
                    return Err(std::io::Error::other("the runtime broke the connection"));
                }
            }
        }
        return Ok(Response::builder().status(202).body(Full::default()).unwrap());
    }
    // /error, /init/error: read and acknowledge
    let _ = req.into_body().collect().await;
    Ok::<_, std::io::Error>(Response::builder().status(202).body(Full::default()).unwrap())
}

impl Invocation {
    async fn more(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.chunks.recv()).await {
            Ok(Some(bytes)) => {
                self.buffer.extend_from_slice(&bytes);
                true
            }
            _ => false,
        }
    }

    /// A buffered response (the Function URL response document: `statusCode`, `headers`,
    /// `body`), read to its end.
    pub async fn buffered(&mut self) -> Value {
        while self.more(Duration::from_secs(20)).await {}
        serde_json::from_slice(&self.buffer).expect("a buffered response document")
    }

    /// The response's prelude (status code and headers), once it arrived.
    pub async fn prelude(&mut self) -> Value {
        let marker = b"\0PRELUDE-END\0";
        loop {
            if let Some(end) = self.buffer.windows(marker.len()).position(|w| w == marker) {
                let prelude: Value =
                    serde_json::from_slice(&self.buffer[..end]).expect("a JSON prelude");
                self.buffer.drain(..end + marker.len());
                return prelude;
            }
            assert!(self.more(Duration::from_secs(20)).await, "no prelude within 20 s");
        }
    }

    /// The body after the prelude, read until nothing arrives for `quiet`.
    pub async fn body(&mut self, quiet: Duration) -> Vec<u8> {
        while self.more(quiet).await {}
        std::mem::take(&mut self.buffer)
    }

    /// The SSE events that arrived so far, reading until one of type `until` (or the end).
    pub async fn events_until(&mut self, until: &str) -> Vec<Value> {
        self.events_until_match(|e| e["type"] == until).await
    }

    /// The SSE events that arrived so far, reading until one matches (or the end: nothing
    /// for 20 s).
    pub async fn events_until_match(&mut self, found: impl Fn(&Value) -> bool) -> Vec<Value> {
        loop {
            let events = sse_events(&self.buffer);
            if events.iter().any(&found) {
                return events;
            }
            if !self.more(Duration::from_secs(20)).await {
                return events;
            }
        }
    }

    /// Every SSE event, reading until the body ends (or nothing arrives for `quiet`).
    pub async fn all_events(&mut self, quiet: Duration) -> Vec<Value> {
        while self.more(quiet).await {}
        sse_events(&self.buffer)
    }
}

fn sse_events(buffer: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(buffer);
    text.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// A Function URL (HTTP API v2) event carrying `body` with a bearer token.
pub fn function_url_event(token: &str, body: &Value) -> Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": format!("Bearer {token}"), "host": "fn.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "anonymous", "apiId": "fn", "domainName": "fn.lambda-url.us-east-1.on.aws", "domainPrefix": "fn",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"},
            "requestId": "url-request", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1767225600000u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}
