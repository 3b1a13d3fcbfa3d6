//! The server on the DynamoDB store (DynamoDB Local) with a responder, for tests through
//! `ChatKitServer::process`.

use std::sync::Arc;

use chatkit_protocol::ThreadStreamEvent;
use chatkit_server::{
    ChatKitError, ChatKitResponse, ChatKitServer, RequestContext, Responder, ServerConfig,
};
use chatkit_store::UserId;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::dynamo::DynamoHarness;
use crate::scripted::Scripted;

/// A server on a fresh DynamoDB Local table.
pub struct Server {
    pub h: DynamoHarness,
    pub server: ChatKitServer,
}

impl Server {
    pub async fn new(case: &str) -> Self {
        Self::with_responder(case, Arc::new(Scripted)).await
    }

    pub async fn with_responder(case: &str, responder: Arc<dyn Responder>) -> Self {
        Self::with_config(case, responder, ServerConfig::default()).await
    }

    pub async fn with_config(
        case: &str,
        responder: Arc<dyn Responder>,
        config: ServerConfig,
    ) -> Self {
        let h = DynamoHarness::new(case).await;
        let server =
            ChatKitServer::new(Arc::new(h.dynamo().clone()), responder).with_config(config);
        Self { h, server }
    }

    pub async fn call(&self, user: &str, body: &Value) -> Result<ChatKitResponse, ChatKitError> {
        self.call_as(RequestContext::new(UserId::new(user), "req-test"), body).await
    }

    /// A request with a context of the test's making (an idempotency key, say).
    pub async fn call_as(
        &self,
        context: RequestContext,
        body: &Value,
    ) -> Result<ChatKitResponse, ChatKitError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.server.process(&bytes, context).await
    }

    pub async fn error(&self, user: &str, body: Value) -> ChatKitError {
        match self.call(user, &body).await {
            Err(e) => e,
            Ok(r) => panic!("expected an error, got {r:?}"),
        }
    }

    pub async fn json(&self, user: &str, body: Value) -> Value {
        match self.call(user, &body).await {
            Ok(ChatKitResponse::Json(v)) => v.value(),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    pub async fn stream(&self, user: &str, body: Value) -> Vec<ThreadStreamEvent> {
        match self.call(user, &body).await {
            Ok(ChatKitResponse::Stream(s)) => s.collect().await,
            other => panic!("expected a stream, got {other:?}"),
        }
    }

    pub async fn create(&self, user: &str, text: &str) -> String {
        let events = self.stream(user, create_body(text)).await;
        let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { panic!("{events:?}") };
        thread.id.clone()
    }

    /// Records of thread partitions (heads, tails, items), whoever's.
    pub async fn thread_records(&self) -> usize {
        let thread =
            |r: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
                r.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.contains("#T#"))
            };
        self.h.scan().await.iter().filter(|r| thread(r)).count()
    }
}

pub fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

pub fn create_body(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": message(text)}})
}
