//! Bounded model input through the whole agent: the newest message, client tool results and
//! retrieval output are trimmed to their budgets and say so; every model request of a turn,
//! across tool rounds, stays within the model-input budget; older history goes first.

use std::sync::Arc;

use chatkit_agent::budget::{InputBudgets, TRIM_NOTE};
use chatkit_agent::{Agent, ClientToolSpec, ModelApi};
use chatkit_protocol::ThreadStreamEvent;
use serde_json::{json, Value};

use crate::*;

/// Bytes of text the model reads in a Chat Completions body: every message's content and
/// every tool call's name and arguments.
fn chat_input_bytes(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let content = m["content"].as_str().map_or(0, str::len);
            let calls: usize = m["tool_calls"].as_array().map_or(0, |calls| {
                calls
                    .iter()
                    .map(|c| {
                        c["function"]["name"].as_str().unwrap().len()
                            + c["function"]["arguments"].as_str().unwrap().len()
                    })
                    .sum()
            });
            content + calls
        })
        .sum()
}

fn budgets(message: usize, tool_output: usize, model_input: usize) -> InputBudgets {
    InputBudgets {
        message_tokens: message,
        tool_output_tokens: tool_output,
        model_input_tokens: model_input,
    }
}

fn no_errors(events: &[ThreadStreamEvent]) {
    assert!(
        !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
        "{:?}",
        types(events)
    );
}

#[tokio::test]
async fn the_newest_message_is_trimmed_and_marked() {
    let h =
        Harness::with(ModelApi::ChatCompletions, |c| c.budgets = budgets(500, 4000, 32_000)).await;
    h.stub.push(chat_text(&["ok"]));
    let long = format!("{}THE-END", "word ".repeat(12_000));
    let (_, events) = h.create(&long).await;
    no_errors(&events);
    let body = &h.stub.model_bodies()[0];
    let user =
        body["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "user").unwrap();
    let text = user["content"].as_str().unwrap();
    assert!(text.len() <= 2000, "{} bytes", text.len());
    assert!(text.contains(TRIM_NOTE) && text.starts_with("word word"), "{text}");
    assert!(!text.contains("THE-END"));
    // the stored message is the user's, whole
    let items = h.items(&h.thread_ids().await[0]).await;
    assert!(
        matches!(&items[0], chatkit_protocol::ThreadItem::UserMessage(m) if m.plain_text().contains("THE-END"))
    );
}

#[tokio::test]
async fn a_client_tool_result_is_trimmed_and_marked() {
    let h = Harness::with(ModelApi::ChatCompletions, |c| {
        c.budgets = budgets(4000, 250, 32_000);
        c.client_tools = vec![ClientToolSpec {
            name: "read_page".into(),
            description: "Reads the page".into(),
            parameters: json!({"type": "object"}),
        }];
    })
    .await;
    h.stub.push(chat_tool_call("call_p", "read_page", "{}"));
    h.stub.push(chat_text(&["Summarised."]));
    let (thread_id, _) = h.create("summarise the page").await;
    let result = json!({"html": format!("{}SECRET-TAIL", "<p>lorem ipsum</p>".repeat(3000))});
    let events = h.stream(json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": result}})).await;
    no_errors(&events);
    let messages = h.stub.model_bodies()[1]["messages"].as_array().unwrap().clone();
    let output = messages.iter().find(|m| m["role"] == "tool").unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(output.len() <= 1000 && output.contains(TRIM_NOTE), "{} bytes: {output}", output.len());
    assert!(!output.contains("SECRET-TAIL"));
}

#[tokio::test]
async fn retrieval_output_is_trimmed_and_every_round_stays_within_the_model_input_budget() {
    let stub = Stub::start().await;
    let mut config = stub_config(&stub, ModelApi::ChatCompletions);
    config.retrieval_url = Some(format!("{}/retrieve", stub.url));
    config.budgets = budgets(4000, 1500, 3000);
    config.max_tool_iterations = 4;
    let h = Harness::with_responder(stub, Arc::new(Agent::new(config, reqwest::Client::new())));
    h.stub.set_retrieval(200, json!({"results": [{"text": "fact ".repeat(40_000)}]}));
    for i in 0..3 {
        h.stub.push(chat_tool_call(
            &format!("c{i}"),
            "search_knowledge_base",
            &format!(r#"{{"query":"q{i}"}}"#),
        ));
    }
    h.stub.push(chat_text(&["Done searching."]));

    let (thread_id, events) = h.create("research this thoroughly").await;
    no_errors(&events);
    assert_eq!(assistant_texts(&h.items(&thread_id).await), ["Done searching."]);
    let bodies = h.stub.model_bodies();
    assert_eq!(bodies.len(), 4);
    for (round, body) in bodies.iter().enumerate() {
        let tools: usize =
            body["tools"].as_array().map_or(0, |t| t.iter().map(|t| t.to_string().len()).sum());
        let bytes = chat_input_bytes(body) + tools;
        assert!(bytes <= 3000 * 4, "round {round}: {bytes} bytes of input for a 3000-token budget");
    }
    // each tool result was trimmed at its own budget first, and said so
    let last = bodies[3]["messages"].as_array().unwrap();
    let outputs: Vec<&str> = last
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(outputs.len(), 3, "every call keeps its output");
    assert!(outputs.iter().all(|o| o.contains(TRIM_NOTE) && o.len() <= 6000), "{outputs:?}");
    let question = last.iter().find(|m| m["role"] == "user").unwrap();
    assert_eq!(
        question["content"], "research this thoroughly",
        "the question itself is kept whole"
    );
}

#[tokio::test]
async fn older_history_is_dropped_before_the_turn_is_touched() {
    let h = Harness::with(ModelApi::ChatCompletions, |c| {
        c.budgets = budgets(4000, 4000, 2500);
        c.history_token_budget = 1_000_000;
    })
    .await;
    h.stub.push(chat_text(&["first"]));
    let (thread_id, _) = h.create(&"old context ".repeat(700)).await;
    for i in 0..2 {
        h.stub.push(chat_text(&["more"]));
        h.stream(add_message_body(&thread_id, &format!("older message {i} ").repeat(400))).await;
    }
    h.stub.push(chat_text(&["latest"]));
    h.stream(add_message_body(&thread_id, "the newest question")).await;
    let body = h.stub.model_bodies().pop().unwrap();
    assert!(chat_input_bytes(&body) <= 2500 * 4);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["content"], "the newest question");
    assert!(!body.to_string().contains("old context"), "the oldest message went first");
}

#[tokio::test]
async fn the_tokens_a_turn_used_count_against_the_users_day_as_reported() {
    use chatkit_store::{MemoryUsage, UsageLimits, UsageStore, UserId};
    let stub = Stub::start().await;
    let mut config = stub_config(&stub, ModelApi::ChatCompletions);
    config.retrieval_url = Some(format!("{}/retrieve", stub.url));
    let usage = Arc::new(MemoryUsage::new());
    let agent = Agent::new(config, reqwest::Client::new());
    let mut h = Harness::with_responder(stub, Arc::new(agent));
    h.server = h.server.clone().with_usage_limits(
        usage.clone(),
        UsageLimits { tokens_per_day: 30, ..UsageLimits::default() },
    );
    h.stub.set_retrieval(200, json!({"results": []}));
    // two model rounds (a tool call, then the answer): 9 + 3 tokens each, as the stub reports
    h.stub.push(chat_tool_call("c1", "search_knowledge_base", r#"{"query":"x"}"#));
    h.stub.push(chat_text(&["answer"]));
    let (thread_id, events) = h.create("count me").await;
    no_errors(&events);
    let today =
        usage.usage(&UserId::new(USER), std::time::SystemTime::now()).await.unwrap().tokens_today;
    assert_eq!(today, 24, "the provider's figures replace the estimates");
    // one more turn brings the day to 36 tokens, over the 30 allowed: the next turn is refused
    h.stub.push(chat_text(&["again"]));
    h.stream(add_message_body(&thread_id, "and again")).await;
    let bytes = serde_json::to_vec(&add_message_body(&thread_id, "once more")).unwrap();
    match h.server.process(&bytes, Harness::context()).await {
        Err(chatkit_server::ChatKitError::RateLimited { retry_after, .. }) => {
            assert!(retry_after > 0);
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    assert_eq!(h.stub.model_bodies().len(), 3, "no model call for the refused turn");
}
