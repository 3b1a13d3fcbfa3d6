//! An in-process OpenAI-compatible model stub on 127.0.0.1: streams SSE for the Responses
//! and Chat Completions APIs with a configurable first-token delay and chunk pacing, answers
//! the non-streamed title call, and timestamps every streamed request (arrival, and the
//! moment hyper pulled the first text delta out of the body to write it).

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
use tokio::sync::mpsc;

/// How the stub paces a streamed reply.
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

#[derive(Default)]
struct State {
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
}

type Body = BoxBody<Bytes, Infallible>;

impl Stub {
    pub async fn start(pacing: Pacing) -> std::io::Result<Self> {
        let (listener, address) = chatkit_testkit::bind_loopback().await;
        let url = format!("http://{address}/v1");
        let state = State { pacing: Some(pacing), ..State::default() };
        let stub = Stub { url, state: Arc::new(Mutex::new(state)) };
        let server = stub.clone();
        chatkit_testkit::serve_http(listener, move |req| {
            let stub = server.clone();
            async move { Ok::<_, Infallible>(stub.handle(req).await) }
        });
        Ok(stub)
    }

    pub fn set_pacing(&self, pacing: Pacing) {
        self.state.lock().unwrap().pacing = Some(pacing);
    }

    /// Number of streamed requests received so far.
    pub fn stream_count(&self) -> usize {
        self.state.lock().unwrap().streams.len()
    }

    pub fn stream(&self, index: usize) -> Option<StreamTiming> {
        self.state.lock().unwrap().streams.get(index).copied()
    }

    /// (title / non-streamed calls, unexpected calls).
    pub fn side_calls(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.title_calls, state.other_calls)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let arrived = Instant::now();
        let path = req.uri().path().to_string();
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let responses_api = path.ends_with("/responses");
        if !responses_api && !path.ends_with("/chat/completions") {
            self.state.lock().unwrap().other_calls += 1;
            return json_response(404, json!({"error": {"message": "not stubbed"}}));
        }
        let (pacing, index) = {
            let mut state = self.state.lock().unwrap();
            let pacing = state.pacing.expect("pacing is set");
            if body["stream"] != true {
                state.title_calls += 1;
                (pacing, None)
            } else {
                state.streams.push(StreamTiming { arrived, first_token_sent: None });
                (pacing, Some(state.streams.len() - 1))
            }
        };
        let Some(index) = index else {
            tokio::time::sleep(pacing.title_delay).await;
            return json_response(
                200,
                if responses_api {
                    json!({"id": "resp_title", "status": "completed",
                    "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Bench thread"}]}]})
                } else {
                    json!({"id": "chatcmpl-title", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bench thread"}, "finish_reason": "stop"}]})
                },
            );
        };
        self.stream_reply(responses_api, pacing, arrived, index)
    }

    fn stream_reply(
        &self,
        responses_api: bool,
        pacing: Pacing,
        arrived: Instant,
        index: usize,
    ) -> Response<Body> {
        // (is the first text delta, SSE frame)
        let (tx, rx) = mpsc::channel::<(bool, String)>(8);
        tokio::spawn(async move {
            let (start, end) = if responses_api {
                (responses_start(), responses_end())
            } else {
                (chat_start(), chat_end())
            };
            for frame in start {
                if tx.send((false, frame)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep_until((arrived + pacing.first_token).into()).await;
            for i in 0..pacing.chunks.max(1) {
                if i > 0 && !pacing.chunk_gap.is_zero() {
                    tokio::time::sleep(pacing.chunk_gap).await;
                }
                let text = format!("word{i} ");
                let frame = if responses_api { responses_delta(&text) } else { chat_delta(&text) };
                if tx.send((i == 0, frame)).await.is_err() {
                    return;
                }
            }
            for frame in end {
                if tx.send((false, frame)).await.is_err() {
                    return;
                }
            }
        });
        let state = self.state.clone();
        // runs when hyper polls the body, i.e. right before it writes the frame
        let frames = tokio_stream_from(rx).map(move |(first, frame)| {
            if first {
                if let Some(timing) = state.lock().unwrap().streams.get_mut(index) {
                    timing.first_token_sent = Some(Instant::now());
                }
            }
            Ok::<_, Infallible>(Frame::data(Bytes::from(frame)))
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(BodyExt::boxed(StreamBody::new(frames)))
            .expect("a valid response")
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn json_response(status: u16, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .expect("a valid response")
}

fn sse(event: Option<&str>, data: &str) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn responses_event(value: Value) -> String {
    sse(value["type"].as_str(), &value.to_string())
}

fn responses_start() -> Vec<String> {
    vec![
        responses_event(
            json!({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
        ),
        responses_event(json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}})),
    ]
}

fn responses_delta(text: &str) -> String {
    responses_event(
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}),
    )
}

fn responses_end() -> Vec<String> {
    vec![responses_event(
        json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}}}),
    )]
}

fn chat_chunk(delta: Value, finish: Option<&str>) -> String {
    sse(
        None,
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    )
}

fn chat_start() -> Vec<String> {
    vec![chat_chunk(json!({"role": "assistant", "content": ""}), None)]
}

fn chat_delta(text: &str) -> String {
    chat_chunk(json!({"content": text}), None)
}

fn chat_end() -> Vec<String> {
    vec![
        chat_chunk(json!({}), Some("stop")),
        sse(None, &json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}).to_string()),
        sse(None, "[DONE]"),
    ]
}
