//! The model key is read from its source before every model call: a key put into the secret
//! (replacing the template's placeholder) or rotated there is used without a restart, and a
//! key that cannot be read ends the turn with a generic, retryable error.

use std::sync::{Arc, Mutex};

use chatkit_agent::client::ApiKeySource;
use chatkit_agent::{Agent, ModelApi};
use chatkit_protocol::ThreadStreamEvent;

use crate::*;

/// A key source the test can change.
struct Switchable(Mutex<Result<Option<Arc<str>>, String>>);

impl Default for Switchable {
    fn default() -> Self {
        Self(Mutex::new(Ok(None)))
    }
}

impl Switchable {
    fn set(&self, value: Result<Option<&str>, &str>) {
        *self.0.lock().unwrap() = value.map(|k| k.map(Arc::from)).map_err(str::to_string);
    }
}

#[async_trait::async_trait]
impl ApiKeySource for Switchable {
    async fn api_key(&self) -> Result<Option<Arc<str>>, String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_key_is_read_before_every_call() {
    let stub = Stub::start().await;
    let source = Arc::new(Switchable::default());
    source.set(Ok(None));
    let agent = Agent::new(stub_config(&stub, ModelApi::ChatCompletions), reqwest::Client::new())
        .with_api_key_source(source.clone());
    let h = Harness::with_responder(stub, Arc::new(agent));

    // no key yet: a compatible server that needs none is called without one
    h.stub.push(chat_text(&["one"]));
    let (thread_id, _) = h.create("hello").await;
    let auth: Vec<Option<String>> = h
        .stub
        .requests()
        .iter()
        .filter(|r| r.body["stream"] == true)
        .map(|r| r.authorization.clone())
        .collect();
    assert_eq!(auth, [None]);

    // the operator puts the key in: the next call uses it
    source.set(Ok(Some("sk-real-key-1")));
    h.stub.push(chat_text(&["two"]));
    h.stream(add_message_body(&thread_id, "again")).await;
    // and a rotation is picked up the same way
    source.set(Ok(Some("sk-rotated-key-2")));
    h.stub.push(chat_text(&["three"]));
    h.stream(add_message_body(&thread_id, "and again")).await;
    let auth: Vec<Option<String>> = h
        .stub
        .requests()
        .iter()
        .filter(|r| r.body["stream"] == true)
        .map(|r| r.authorization.clone())
        .collect();
    assert_eq!(
        auth,
        [None, Some("Bearer sk-real-key-1".into()), Some("Bearer sk-rotated-key-2".into())]
    );

    // a key that cannot be read: a generic, retryable error, the model is not called
    source.set(Err("could not read secret arn:aws:secretsmanager:…: AccessDenied"));
    let events = h.stream(add_message_body(&thread_id, "once more")).await;
    match events.last() {
        Some(ThreadStreamEvent::Error { allow_retry, message, .. }) => {
            let message = message.clone().unwrap_or_default();
            assert!(
                *allow_retry && message.starts_with("The assistant is not available right now."),
                "{message}"
            );
            assert!(!message.contains("arn:") && !message.contains("AccessDenied"), "{message}");
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    assert_eq!(h.stub.model_bodies().len(), 3);
}

#[tokio::test]
async fn without_a_key_openai_is_not_called_and_the_offline_responder_answers() {
    let stub = Stub::start().await;
    let source = Arc::new(Switchable::default());
    source.set(Ok(None));
    let config = chatkit_agent::AgentConfig {
        base_url: chatkit_agent::config::DEFAULT_BASE_URL.into(),
        api_key: None,
        ..stub_config(&stub, ModelApi::Responses)
    };
    let agent = Agent::new(config, reqwest::Client::new()).with_api_key_source(source);
    let h = Harness::with_responder(stub, Arc::new(agent));
    let (thread_id, _) = h.create("hello").await;
    let texts = assistant_texts(&h.items(&thread_id).await);
    assert!(texts[0].contains("offline responder"), "{texts:?}");
}
