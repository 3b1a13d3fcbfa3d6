//! The local OpenAI-compatible model stub (hyper, 127.0.0.1:0): streams scripted SSE for the
//! Responses and Chat Completions APIs, answers title, retrieval and transcription calls, and
//! records every request it receives.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

/// One piece of a streamed reply.
#[derive(Clone)]
pub enum Chunk {
    /// An SSE frame: `event:` name (empty for none) and `data:` payload.
    Sse(String, String),
    /// Holds the rest back until the test notifies.
    Wait(Arc<Notify>),
    /// Aborts the connection mid-body.
    Cut,
    /// Sends nothing more, keeping the connection open until the client leaves.
    Stall,
}

/// A scripted answer to one streamed model request.
#[derive(Clone)]
pub enum Reply {
    Stream(Vec<Chunk>),
    Status(u16, &'static str),
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    /// The body as JSON (`Null` when it is not JSON, e.g. a multipart upload).
    pub body: Value,
    pub content_type: Option<String>,
    /// The body as received.
    pub raw: Vec<u8>,
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    title: Option<String>,
    retrieval: Option<(u16, Value)>,
    transcription: Option<(u16, Value)>,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct Stub {
    /// The API root, e.g. `http://127.0.0.1:4321/v1`.
    pub url: String,
    state: Arc<Mutex<State>>,
    /// Notified when a stalled stream's client went away.
    pub disconnected: Arc<Notify>,
}

type Body = BoxBody<Bytes, std::io::Error>;

impl Stub {
    pub async fn start() -> Self {
        let (listener, address) = crate::bind_loopback().await;
        let url = format!("http://{address}/v1");
        let stub = Stub { url, state: Arc::default(), disconnected: Arc::new(Notify::new()) };
        let server = stub.clone();
        crate::serve_http(listener, move |req| {
            let stub = server.clone();
            async move { Ok::<_, Infallible>(stub.handle(req).await) }
        });
        stub
    }

    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().replies.push_back(reply);
    }

    pub fn set_title(&self, title: &str) {
        self.state.lock().unwrap().title = Some(title.to_string());
    }

    pub fn set_retrieval(&self, status: u16, body: Value) {
        self.state.lock().unwrap().retrieval = Some((status, body));
    }

    /// The answer of `/audio/transcriptions` (default: 200 with a text naming the byte count).
    pub fn set_transcription(&self, status: u16, body: Value) {
        self.state.lock().unwrap().transcription = Some((status, body));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Bodies of the streamed model calls, in order.
    pub fn model_bodies(&self) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r.body["stream"] == true).map(|r| r.body).collect()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let authorization =
            req.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
        let content_type =
            req.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let streamed = body["stream"] == true;
        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded {
            path: path.clone(),
            authorization,
            body,
            content_type,
            raw: bytes.to_vec(),
        });
        if path.ends_with("/audio/transcriptions") {
            let (status, value) = state
                .transcription
                .clone()
                .unwrap_or_else(|| (200, json!({"text": format!("heard {} bytes", bytes.len())})));
            return json_response(status, value);
        }
        if path.ends_with("/retrieve") {
            let (status, value) =
                state.retrieval.clone().unwrap_or((404, json!({"error": "no retrieval"})));
            return json_response(status, value);
        }
        if !streamed {
            let Some(title) = state.title.clone() else {
                return json_response(404, json!({"error": {"message": "no title scripted"}}));
            };
            return json_response(
                200,
                if path.ends_with("/responses") {
                    json!({"output": [{"type": "message", "content": [{"type": "output_text", "text": title}]}]})
                } else {
                    json!({"choices": [{"message": {"role": "assistant", "content": title}}]})
                },
            );
        }
        match state.replies.pop_front() {
            None => json_response(500, json!({"error": {"message": "no scripted reply"}})),
            Some(Reply::Status(status, message)) => {
                json_response(status, json!({"error": {"message": message}}))
            }
            Some(Reply::Stream(chunks)) => self.stream(chunks),
        }
    }

    fn stream(&self, chunks: Vec<Chunk>) -> Response<Body> {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let disconnected = self.disconnected.clone();
        tokio::spawn(async move {
            for chunk in chunks {
                match chunk {
                    Chunk::Sse(event, data) => {
                        let mut frame = String::new();
                        if !event.is_empty() {
                            frame.push_str(&format!("event: {event}\n"));
                        }
                        frame.push_str(&format!("data: {data}\n\n"));
                        if tx.send(Ok(Frame::data(Bytes::from(frame)))).await.is_err() {
                            return;
                        }
                    }
                    Chunk::Wait(gate) => gate.notified().await,
                    Chunk::Cut => {
                        let _ = tx.send(Err(std::io::Error::other("cut"))).await;
                        return;
                    }
                    Chunk::Stall => {
                        tx.closed().await;
                        disconnected.notify_one();
                        return;
                    }
                }
            }
        });
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(BodyExt::boxed(body))
            .unwrap()
    }
}

fn json_response(status: u16, value: Value) -> Response<Body> {
    let body = Full::new(Bytes::from(value.to_string())).map_err(|never| match never {}).boxed();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

// ---- scripted replies ----

fn responses_event(value: Value) -> Chunk {
    Chunk::Sse(value["type"].as_str().unwrap().to_string(), value.to_string())
}

/// Responses API: `response.created`, a message whose id is the provider's (`msg_provider`),
/// one delta per part.
pub fn responses_start() -> Vec<Chunk> {
    vec![
        responses_event(
            json!({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
        ),
        responses_event(json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": "msg_provider", "role": "assistant", "content": []}})),
    ]
}

pub fn responses_delta(text: &str) -> Chunk {
    responses_event(
        json!({"type": "response.output_text.delta", "item_id": "msg_provider", "output_index": 0, "content_index": 0, "delta": text}),
    )
}

pub fn responses_citation(url: &str, title: &str, end: u64) -> Chunk {
    responses_event(
        json!({"type": "response.output_text.annotation.added", "item_id": "msg_provider", "annotation_index": 0,
        "annotation": {"type": "url_citation", "url": url, "title": title, "start_index": 0, "end_index": end}}),
    )
}

pub fn responses_tool_call(call_id: &str, name: &str, arguments: &str) -> Chunk {
    responses_event(json!({"type": "response.output_item.done", "output_index": 1,
        "item": {"type": "function_call", "id": "fc_provider", "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"}}))
}

pub fn responses_completed() -> Chunk {
    responses_event(
        json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}}}),
    )
}

pub fn responses_text(parts: &[&str]) -> Reply {
    let mut chunks = responses_start();
    chunks.extend(parts.iter().map(|p| responses_delta(p)));
    chunks.push(responses_completed());
    Reply::Stream(chunks)
}

/// Chat Completions: every chunk carries the same provider id, as real servers do.
fn chat_chunk(delta: Value, finish: Option<&str>) -> Chunk {
    Chunk::Sse(
        String::new(),
        json!({"id": "chatcmpl-same", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    )
}

pub fn chat_delta(text: &str) -> Chunk {
    chat_chunk(json!({"content": text}), None)
}

pub fn chat_end(finish: &str) -> Vec<Chunk> {
    vec![
        chat_chunk(json!({}), Some(finish)),
        Chunk::Sse(String::new(), json!({"id": "chatcmpl-same", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}).to_string()),
        Chunk::Sse(String::new(), "[DONE]".into()),
    ]
}

pub fn chat_text(parts: &[&str]) -> Reply {
    let mut chunks = vec![chat_chunk(json!({"role": "assistant", "content": ""}), None)];
    chunks.extend(parts.iter().map(|p| chat_delta(p)));
    chunks.extend(chat_end("stop"));
    Reply::Stream(chunks)
}

/// A tool call streamed in two argument pieces.
pub fn chat_tool_call(call_id: &str, name: &str, arguments: &str) -> Reply {
    let (a, b) = arguments.split_at(arguments.len() / 2);
    let mut chunks = vec![
        chat_chunk(
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": a}}]}),
            None,
        ),
        chat_chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}), None),
    ];
    chunks.extend(chat_end("tool_calls"));
    Reply::Stream(chunks)
}
