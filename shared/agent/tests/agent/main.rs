//! The agent driven through `ChatKitServer` + `MemoryStore` against a local stub model API.
//! No network beyond loopback; durations appear only as timeouts.

mod bounded;
mod failures;
mod keys;
mod mcp;
mod options;
mod streaming;
mod tools;

use chatkit_store::prelude::*;
use chatkit_testkit::{mcp as mcp_server, model as stub};
use std::sync::Arc;
use std::time::Duration;

use chatkit_agent::{Agent, AgentConfig, ModelApi};
use chatkit_protocol::{Order, ThreadItem, ThreadItemUpdate, ThreadMetadata, ThreadStreamEvent};
use chatkit_server::{ChatKitResponse, ChatKitServer, EventStream, RequestContext, Responder};
use chatkit_store::{MemoryStore, PageRequest, UserId};
use futures::StreamExt;
use serde_json::{json, Value};

pub use stub::*;

pub const USER: &str = "user-1";
pub const API_KEY: &str = "sk-test-key-0123456789";
pub const ACCESS_TOKEN: &str = "tok-SECRET-access-0123456789";
/// Longest any test waits for a stream.
pub const LIMIT: Duration = Duration::from_secs(20);

pub struct Harness {
    pub server: ChatKitServer,
    pub store: Arc<MemoryStore>,
    pub stub: Stub,
}

/// A config pointing at the stub, with short (test-sized) timeouts and backoff.
pub fn stub_config(stub: &Stub, api: ModelApi) -> AgentConfig {
    AgentConfig {
        base_url: stub.url.clone(),
        api_key: Some(API_KEY.into()),
        model: "test-model".into(),
        title_model: "title-model".into(),
        api,
        first_token_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        retry_backoff: Duration::from_millis(5),
        ..AgentConfig::default()
    }
}

impl Harness {
    pub async fn new(api: ModelApi) -> Self {
        Self::with(api, |_| {}).await
    }

    pub async fn with(api: ModelApi, tweak: impl FnOnce(&mut AgentConfig)) -> Self {
        let stub = Stub::start().await;
        let mut config = stub_config(&stub, api);
        tweak(&mut config);
        let agent = Agent::new(config, reqwest::Client::new());
        Self::with_responder(stub, Arc::new(agent))
    }

    pub fn with_responder(stub: Stub, responder: Arc<dyn Responder>) -> Self {
        let store = Arc::new(MemoryStore::new());
        Self { server: ChatKitServer::new(store.clone(), responder), store, stub }
    }

    pub fn context() -> RequestContext {
        RequestContext::new(UserId::new(USER), "req-1").with_access_token(ACCESS_TOKEN)
    }

    /// Starts a streamed request.
    pub async fn open(&self, body: &Value) -> EventStream {
        let bytes = serde_json::to_vec(body).unwrap();
        match self.server.process(&bytes, Self::context()).await {
            Ok(ChatKitResponse::Stream(s)) => s,
            Ok(ChatKitResponse::Json(v)) => panic!("expected a stream, got {v}"),
            Err(e) => panic!("{body}: {e:?}"),
        }
    }

    /// A JSON operation that must succeed.
    pub async fn json(&self, body: Value) -> Value {
        let bytes = serde_json::to_vec(&body).unwrap();
        match self.server.process(&bytes, Self::context()).await {
            Ok(ChatKitResponse::Json(v)) => v.value(),
            other => panic!("{body}: {other:?}"),
        }
    }

    /// Every event of a streamed request.
    pub async fn stream(&self, body: Value) -> Vec<ThreadStreamEvent> {
        let stream = self.open(&body).await;
        tokio::time::timeout(LIMIT, stream.collect::<Vec<_>>())
            .await
            .expect("the stream ended in time")
    }

    /// Every event of a streamed request; `gate` is notified when the first text delta
    /// arrives (so the stub can hold the rest back until the client has it).
    pub async fn stream_releasing(
        &self,
        body: Value,
        gate: &tokio::sync::Notify,
    ) -> Vec<ThreadStreamEvent> {
        let mut stream = self.open(&body).await;
        let collect = async {
            let mut seen = Vec::new();
            while let Some(event) = stream.next().await {
                if let ThreadStreamEvent::ItemUpdated {
                    update: ThreadItemUpdate::TextDelta { .. },
                    ..
                } = &event
                {
                    gate.notify_one();
                }
                seen.push(event);
            }
            seen
        };
        tokio::time::timeout(LIMIT, collect).await.expect("the stream ended in time")
    }

    /// Creates a thread; returns its id and the events.
    pub async fn create(&self, text: &str) -> (String, Vec<ThreadStreamEvent>) {
        self.create_with(create_body(text)).await
    }

    /// Creates a thread with a given `threads.create` body.
    pub async fn create_with(&self, body: Value) -> (String, Vec<ThreadStreamEvent>) {
        let events = self.stream(body).await;
        let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!("{events:?}") };
        (thread.id.clone(), events)
    }

    pub async fn items(&self, thread_id: &str) -> Vec<ThreadItem> {
        let page = PageRequest::new(100, Order::Asc);
        self.store.load_thread_items(&UserId::new(USER), thread_id, &page).await.unwrap().items.data
    }

    /// The user's thread ids, newest first.
    pub async fn thread_ids(&self) -> Vec<String> {
        let page = PageRequest::new(100, Order::Desc);
        self.store
            .list_threads(&UserId::new(USER), &page)
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|t| t.id)
            .collect()
    }

    pub async fn thread(&self, thread_id: &str) -> ThreadMetadata {
        self.store.load_thread(&UserId::new(USER), thread_id).await.unwrap()
    }
}

pub fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

pub fn create_body(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": message(text)}})
}

pub fn add_message_body(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(text)}})
}

/// The `type` of each event (`thread.item.updated` shown with its update type).
pub fn types(events: &[ThreadStreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            ThreadStreamEvent::ItemUpdated { update, .. } => match update {
                ThreadItemUpdate::ContentPartAdded { .. } => "part.added".into(),
                ThreadItemUpdate::TextDelta { delta, .. } => format!("delta:{delta}"),
                ThreadItemUpdate::AnnotationAdded { .. } => "annotation".into(),
                ThreadItemUpdate::ContentPartDone { .. } => "part.done".into(),
                other => format!("{other:?}"),
            },
            ThreadStreamEvent::ItemDone { item } | ThreadStreamEvent::ItemAdded { item } => {
                let kind =
                    serde_json::to_value(item).unwrap()["type"].as_str().unwrap().to_string();
                format!("{}:{kind}", e.type_name())
            }
            other => other.type_name().to_string(),
        })
        .collect()
}

/// The final text of each stored assistant message.
pub fn assistant_texts(items: &[ThreadItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            ThreadItem::AssistantMessage(m) => {
                Some(m.content.iter().map(|c| c.text.as_str()).collect())
            }
            _ => None,
        })
        .collect()
}

/// The input items of a Responses request: `(role or type, text or output)`.
pub fn responses_input(body: &Value) -> Vec<(String, String)> {
    body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| match i["type"].as_str().unwrap() {
            "message" => (
                i["role"].as_str().unwrap().to_string(),
                i["content"].as_str().unwrap().to_string(),
            ),
            "function_call" => (
                "function_call".into(),
                format!("{} {} {}", i["call_id"], i["name"], i["arguments"]),
            ),
            "function_call_output" => {
                ("function_call_output".into(), format!("{} {}", i["call_id"], i["output"]))
            }
            other => panic!("unexpected input item {other}"),
        })
        .collect()
}
