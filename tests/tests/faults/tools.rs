//! A server tool failing, with the store on DynamoDB Local: a retrieval service that cannot
//! be reached or never answers. The failed call is an error the model is told about, the turn
//! goes on, and the thread holds the question and the reply.
//!
//! The model's own failures (cut mid-stream, unreachable, 5xx, stalls) and MCP servers down or
//! timing out are covered by `shared/agent/tests/agent/{failures,mcp}.rs`; they do not depend
//! on the store, so they are not repeated here.

use std::sync::Arc;
use std::time::Duration;

use chatkit_agent::{Agent, AgentConfig, ModelApi, RetrievalTool};
use chatkit_protocol::{ThreadItem, ThreadStreamEvent};

use crate::stub::{chat_text, chat_tool_call, Stub};
use crate::{create, thread_id, Faulty};

fn config(base_url: &str) -> AgentConfig {
    AgentConfig {
        base_url: base_url.to_string(),
        api_key: Some("sk-fault-test".into()),
        api: ModelApi::ChatCompletions,
        model: "m".into(),
        title_model: "m".into(),
        max_retries: 1,
        retry_backoff: Duration::from_millis(5),
        ..AgentConfig::default()
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server that takes connections and never answers.
async fn black_hole() -> String {
    format!("http://{}/search", chatkit_testkit::black_hole().await)
}

/// The model calls the retrieval tool, which fails; it is told so and answers anyway.
async fn retrieval_fails(case: &str, url: String) {
    let stub = Stub::start().await;
    stub.push(chat_tool_call("call_1", "search_knowledge_base", r#"{"query": "refund policy"}"#));
    stub.push(chat_text(&["I could not search just now."]));
    let http = reqwest::Client::new();
    let tool = RetrievalTool::new(http.clone(), url).with_timeout(Duration::from_millis(300));
    let agent = Agent::new(config(&stub.url), http).with_tool(Arc::new(tool));
    let f = Faulty::with_responder(case, Arc::new(agent)).await;
    let events = f.stream(&create("what is the refund policy?")).await.unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
        "the turn goes on: {events:?}"
    );
    let bodies = stub.model_bodies();
    assert_eq!(bodies.len(), 2);
    let told = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "tool" && m["content"].as_str().unwrap_or("").contains("error"));
    assert!(told, "the model was told the tool failed: {}", bodies[1]);
    let items = f.items(&thread_id(&events)).await;
    assert_eq!(crate::user_messages(&items, "what is the refund policy?"), 1);
    assert!(matches!(items.last(), Some(ThreadItem::AssistantMessage(_))), "{items:#?}");
    f.assert_consistent().await;
}

#[tokio::test]
async fn a_retrieval_service_that_cannot_be_reached() {
    retrieval_fails("fault-retrieval-down", format!("http://127.0.0.1:{}/search", closed_port()))
        .await;
}

#[tokio::test]
async fn a_retrieval_service_that_never_answers() {
    retrieval_fails("fault-retrieval-hangs", black_hole().await).await;
}
