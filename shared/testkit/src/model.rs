//! The local OpenAI-compatible model stub (hyper, 127.0.0.1:0): streams scripted SSE for the
//! Responses and Chat Completions APIs, answers title, retrieval and transcription calls, and
//! records every request it receives. Paced ([`Stub::start_paced`], for the bench), it
//! answers every model call with a reply of a set timing instead, and timestamps each stream
//! (arrival, and the moment hyper pulled the first text delta out of the body to write it).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
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
    /// Waits until this moment.
    Until(Instant),
    /// Waits this long.
    Delay(Duration),
    /// An SSE frame whose write is the stream's first token ([`StreamTiming`]).
    FirstToken(String, String),
}

/// How a paced stub answers every model call.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// From request arrival to the first text delta.
    pub first_token: Duration,
    /// Number of text deltas.
    pub chunks: usize,
    /// Gap between deltas after the first.
    pub chunk_gap: Duration,
    /// How long the non-streamed (title) call takes.
    pub title_delay: Duration,
}

/// Timestamps of one streamed model request.
#[derive(Clone, Copy, Debug)]
pub struct StreamTiming {
    pub arrived: Instant,
    pub first_token_sent: Option<Instant>,
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
    /// Paced: every model call gets a paced reply, and requests are counted, not recorded.
    pacing: Option<Pacing>,
    streams: Vec<StreamTiming>,
    title_calls: usize,
    other_calls: usize,
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

    /// A stub answering every model call with a reply paced by `pacing` (the bench).
    pub async fn start_paced(pacing: Pacing) -> Self {
        let stub = Self::start().await;
        stub.set_pacing(pacing);
        stub
    }

    pub fn set_pacing(&self, pacing: Pacing) {
        self.state.lock().unwrap().pacing = Some(pacing);
    }

    /// Number of streamed requests received so far (paced).
    pub fn stream_count(&self) -> usize {
        self.state.lock().unwrap().streams.len()
    }

    pub fn stream(&self, index: usize) -> Option<StreamTiming> {
        self.state.lock().unwrap().streams.get(index).copied()
    }

    /// (title / non-streamed model calls, calls to anything but the model) while paced.
    pub fn side_calls(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.title_calls, state.other_calls)
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
        let arrived = Instant::now();
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
        let pacing = self.state.lock().unwrap().pacing;
        if let Some(pacing) = pacing {
            return self.paced_answer(&path, streamed, pacing, arrived).await;
        }
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
            return title_response(path.ends_with("/responses"), &title);
        }
        match state.replies.pop_front() {
            None => json_response(500, json!({"error": {"message": "no scripted reply"}})),
            Some(Reply::Status(status, message)) => {
                json_response(status, json!({"error": {"message": message}}))
            }
            Some(Reply::Stream(chunks)) => self.stream_reply(chunks, None),
        }
    }

    /// What a paced stub answers: a paced stream, a title after its delay, 404 for the rest.
    async fn paced_answer(
        &self,
        path: &str,
        streamed: bool,
        pacing: Pacing,
        arrived: Instant,
    ) -> Response<Body> {
        let responses_api = path.ends_with("/responses");
        if !responses_api && !path.ends_with("/chat/completions") {
            self.state.lock().unwrap().other_calls += 1;
            return json_response(404, json!({"error": {"message": "not stubbed"}}));
        }
        if !streamed {
            self.state.lock().unwrap().title_calls += 1;
            tokio::time::sleep(pacing.title_delay).await;
            return title_response(responses_api, "Bench thread");
        }
        let index = {
            let mut state = self.state.lock().unwrap();
            state.streams.push(StreamTiming { arrived, first_token_sent: None });
            state.streams.len() - 1
        };
        self.stream_reply(paced(responses_api, pacing, arrived), Some(index))
    }

    /// Streams `chunks`; with `timing`, the write of a [`Chunk::FirstToken`] is timestamped
    /// as that stream's first token.
    fn stream_reply(&self, chunks: Vec<Chunk>, timing: Option<usize>) -> Response<Body> {
        // (frame, whether it is the first token)
        let (tx, rx) = mpsc::channel::<Result<(Frame<Bytes>, bool), std::io::Error>>(4);
        let disconnected = self.disconnected.clone();
        tokio::spawn(async move {
            for chunk in chunks {
                let (event, data, first) = match chunk {
                    Chunk::Sse(event, data) => (event, data, false),
                    Chunk::FirstToken(event, data) => (event, data, true),
                    Chunk::Wait(gate) => {
                        gate.notified().await;
                        continue;
                    }
                    Chunk::Until(at) => {
                        tokio::time::sleep_until(at.into()).await;
                        continue;
                    }
                    Chunk::Delay(wait) => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Chunk::Cut => {
                        let _ = tx.send(Err(std::io::Error::other("cut"))).await;
                        return;
                    }
                    Chunk::Stall => {
                        tx.closed().await;
                        disconnected.notify_one();
                        return;
                    }
                };
                let mut frame = String::new();
                if !event.is_empty() {
                    frame.push_str(&format!("event: {event}\n"));
                }
                frame.push_str(&format!("data: {data}\n\n"));
                if tx.send(Ok((Frame::data(Bytes::from(frame)), first))).await.is_err() {
                    return;
                }
            }
        });
        let state = self.state.clone();
        // runs when hyper polls the body, i.e. right before it writes the frame
        let frames = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |frame| {
            let (frame, first) = frame?;
            if let (true, Some(index)) = (first, timing) {
                if let Some(stream) = state.lock().unwrap().streams.get_mut(index) {
                    stream.first_token_sent = Some(Instant::now());
                }
            }
            Ok(frame)
        });
        let body = StreamBody::new(frames);
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(BodyExt::boxed(body))
            .unwrap()
    }
}

fn title_response(responses_api: bool, title: &str) -> Response<Body> {
    json_response(
        200,
        if responses_api {
            json!({"output": [{"type": "message", "content": [{"type": "output_text", "text": title}]}]})
        } else {
            json!({"choices": [{"message": {"role": "assistant", "content": title}}]})
        },
    )
}

/// A paced reply: the opening frames, the first delta at `arrived + first_token`, the other
/// deltas `chunk_gap` apart, then the end (with usage).
fn paced(responses_api: bool, pacing: Pacing, arrived: Instant) -> Vec<Chunk> {
    let delta = |i: usize| {
        let text = format!("word{i} ");
        if responses_api {
            responses_delta(&text)
        } else {
            chat_delta(&text)
        }
    };
    let mut chunks = if responses_api { responses_start() } else { vec![chat_role()] };
    chunks.push(Chunk::Until(arrived + pacing.first_token));
    for i in 0..pacing.chunks.max(1) {
        if i > 0 && !pacing.chunk_gap.is_zero() {
            chunks.push(Chunk::Delay(pacing.chunk_gap));
        }
        chunks.push(match delta(i) {
            Chunk::Sse(event, data) if i == 0 => Chunk::FirstToken(event, data),
            other => other,
        });
    }
    if responses_api {
        chunks.push(responses_completed());
    } else {
        chunks.extend(chat_end("stop"));
    }
    chunks
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

fn chat_role() -> Chunk {
    chat_chunk(json!({"role": "assistant", "content": ""}), None)
}

pub fn chat_text(parts: &[&str]) -> Reply {
    let mut chunks = vec![chat_role()];
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
