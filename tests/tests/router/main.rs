//! Router tests: every operation through `ChatKitServer::process` with the in-memory store and
//! a scripted responder (no LLM). Every emitted event and JSON response is also checked by
//! parsing it back into the protocol types.

mod attachments;
mod bad_input;
mod create_overlap;
mod json_ops;
mod streams;
mod turn_end;
mod widgets;

use std::sync::Arc;

use chatkit_protocol::ThreadStreamEvent;
use chatkit_server::{ChatKitError, ChatKitResponse, ChatKitServer, RequestContext, ServerConfig};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, UserId};
use chatkit_tests::scripted;
use futures::StreamExt;
use serde_json::{json, Value};

pub struct Harness {
    pub server: ChatKitServer,
    pub store: Arc<MemoryStore>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let server = ChatKitServer::new(store.clone(), Arc::new(scripted::Scripted))
            .with_attachment_store(Arc::new(scripted::FakeUploads))
            .with_config(config);
        Self { server, store }
    }

    pub async fn call(&self, user: &str, body: &Value) -> Result<ChatKitResponse, ChatKitError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.server.process(&bytes, RequestContext::new(UserId::new(user), "req-test")).await
    }

    /// A JSON operation that must succeed.
    pub async fn json(&self, user: &str, body: Value) -> Value {
        match self.call(user, &body).await {
            Ok(ChatKitResponse::Json(v)) => v.value(),
            Ok(ChatKitResponse::Stream(_)) => panic!("{body}: expected JSON, got a stream"),
            Err(e) => panic!("{body}: {e:?}"),
        }
    }

    /// A streaming operation that must start; returns every event.
    pub async fn stream(&self, user: &str, body: Value) -> Vec<ThreadStreamEvent> {
        match self.call(user, &body).await {
            Ok(ChatKitResponse::Stream(s)) => s.collect::<Vec<_>>().await,
            Ok(ChatKitResponse::Json(v)) => panic!("{body}: expected a stream, got {v}"),
            Err(e) => panic!("{body}: {e:?}"),
        }
    }

    pub async fn error(&self, user: &str, body: Value) -> ChatKitError {
        match self.call(user, &body).await {
            Err(e) => e,
            Ok(r) => panic!("{body}: expected an error, got {r:?}"),
        }
    }

    pub fn requests(&self) -> u64 {
        self.store.request_count()
    }

    /// Creates a thread with one message and returns its id and the events.
    pub async fn create(&self, user: &str, text: &str) -> (String, Vec<ThreadStreamEvent>) {
        let events = self.stream(user, create_body(text)).await;
        let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!("{events:?}") };
        (thread.id.clone(), events)
    }
}

pub fn create_body(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": message(text)}})
}

pub fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

pub fn add_message_body(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message(text)}})
}

/// The `type` of each event, and the check that it round-trips through the protocol types.
pub fn types(events: &[ThreadStreamEvent]) -> Vec<&'static str> {
    for event in events {
        let wire = serde_json::to_value(event).unwrap();
        let back: ThreadStreamEvent = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(&back, event, "{wire}");
    }
    events.iter().map(ThreadStreamEvent::type_name).collect()
}
