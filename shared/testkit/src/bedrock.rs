//! A local stand-in for Amazon Bedrock's `ConverseStream` (hyper, 127.0.0.1:0): it answers
//! `POST /model/{id}/converse-stream` with scripted replies in the real wire format (the AWS
//! event stream framing, encoded with `aws-smithy-eventstream`), or with an HTTP error the
//! way Bedrock sends it (`x-amzn-errortype`), and records every request. Point the SDK at it
//! with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};

/// One message of a scripted stream.
#[derive(Clone, Debug)]
pub enum Event {
    /// An event: its type (`contentBlockDelta`, …) and JSON payload.
    Event(&'static str, Value),
    /// An exception inside the stream (`throttlingException`, …) with its message.
    Exception(&'static str, &'static str),
    /// Aborts the connection mid-body (a moment after the frames before it).
    Cut,
}

/// A scripted answer to one `ConverseStream` call.
#[derive(Clone, Debug)]
pub enum Reply {
    Stream(Vec<Event>),
    /// An HTTP error: status, Bedrock's error type (`ThrottlingException`), message.
    Error(u16, &'static str, &'static str),
}

/// The title every title call gets (a call whose system prompt asks for a title is answered
/// with it and does not take a scripted reply).
pub const TITLE: &str = "Bedrock chat";

/// A request the stub received: the model id from the path, and the JSON body.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub model: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct BedrockStub {
    /// For `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

type Body = BoxBody<Bytes, std::io::Error>;

/// A streamed text reply: the message, one text block in `parts`, the stop, the usage.
pub fn text_reply(parts: &[&str]) -> Reply {
    let mut events = vec![Event::Event("messageStart", json!({"role": "assistant"}))];
    for part in parts {
        events.push(delta(0, json!({"text": part})));
    }
    events.push(Event::Event("contentBlockStop", json!({"contentBlockIndex": 0})));
    events.extend(end("end_turn"));
    Reply::Stream(events)
}

/// A reply that calls tool `name` with `input` (sent in two pieces).
pub fn tool_use_reply(tool_use_id: &str, name: &str, input: &Value) -> Reply {
    let input = input.to_string();
    let (first, second) = input.split_at(input.len() / 2);
    let start = json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": tool_use_id, "name": name}}});
    Reply::Stream(
        [
            vec![
                Event::Event("messageStart", json!({"role": "assistant"})),
                Event::Event("contentBlockStart", start),
                delta(0, json!({"toolUse": {"input": first}})),
                delta(0, json!({"toolUse": {"input": second}})),
                Event::Event("contentBlockStop", json!({"contentBlockIndex": 0})),
            ],
            end("tool_use"),
        ]
        .concat(),
    )
}

/// A `contentBlockDelta` of block `index`.
pub fn delta(index: u32, delta: Value) -> Event {
    Event::Event("contentBlockDelta", json!({"contentBlockIndex": index, "delta": delta}))
}

/// `messageStop` with `stop_reason`, then the usage metadata.
pub fn end(stop_reason: &str) -> Vec<Event> {
    vec![
        Event::Event("messageStop", json!({"stopReason": stop_reason})),
        Event::Event(
            "metadata",
            json!({"usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}, "metrics": {"latencyMs": 5}}),
        ),
    ]
}

fn header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

fn frame(event: &Event) -> Bytes {
    let message = match event {
        Event::Event(kind, payload) => Message::new(payload.to_string())
            .add_header(header(":message-type", "event"))
            .add_header(header(":event-type", kind))
            .add_header(header(":content-type", "application/json")),
        Event::Exception(kind, text) => Message::new(json!({"message": text}).to_string())
            .add_header(header(":message-type", "exception"))
            .add_header(header(":exception-type", kind))
            .add_header(header(":content-type", "application/json")),
        Event::Cut => unreachable!("a cut is no frame"),
    };
    let mut bytes = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut bytes).expect("a valid frame");
    Bytes::from(bytes)
}

impl BedrockStub {
    pub async fn start() -> Self {
        let (listener, address) = crate::bind_loopback().await;
        let stub = BedrockStub { url: format!("http://{address}"), state: Arc::default() };
        let state = stub.state.clone();
        crate::serve_http(listener, move |request| handle(request, state.clone()));
        stub
    }

    /// Queues the answer to the next call (an empty queue answers a short text).
    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().replies.push_back(reply);
    }

    /// Every call received so far (title calls aside).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let model = path
        .strip_prefix("/model/")
        .and_then(|rest| rest.strip_suffix("/converse-stream"))
        .map(|id| id.replace("%3A", ":").replace("%2F", "/"));
    let Some(model) = model else {
        let body = Full::new(Bytes::from_static(b"{\"message\":\"unknown operation\"}"));
        return Ok(Response::builder()
            .status(404)
            .body(body.map_err(|e| match e {}).boxed())
            .unwrap());
    };
    let reply = {
        let mut state = state.lock().unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let title_call =
            body["system"][0]["text"].as_str().is_some_and(|s| s.starts_with("Write a title"));
        if title_call {
            text_reply(&[TITLE])
        } else {
            state.requests.push(Recorded { model, body });
            state.replies.pop_front().unwrap_or_else(|| text_reply(&["(no reply scripted)"]))
        }
    };
    let events = match reply {
        Reply::Error(status, kind, message) => {
            let body = Full::new(Bytes::from(json!({"message": message}).to_string()));
            return Ok(Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("x-amzn-errortype", kind)
                .body(body.map_err(|e| match e {}).boxed())
                .unwrap());
        }
        Reply::Stream(events) => events,
    };
    let frames = futures::stream::iter(events).then(|event| async move {
        match event {
            Event::Cut => {
                // what was sent reaches the client before the connection breaks
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Err(std::io::Error::other("cut"))
            }
            event => Ok(Frame::data(frame(&event))),
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap())
}
