//! Server tools (the retrieval tool), failing tools, the iteration bound, and the client tool
//! round trip through `threads.add_client_tool_output`.

use chatkit_agent::{ClientToolSpec, ModelApi};
use chatkit_protocol::{ThreadItem, ThreadStreamEvent, ToolCallStatus};
use serde_json::json;

use crate::*;

async fn retrieval_harness(api: ModelApi) -> Harness {
    let stub = Stub::start().await;
    let mut config = stub_config(&stub, api);
    config.retrieval_url = Some(format!("{}/retrieve", stub.url));
    let agent = chatkit_agent::Agent::new(config, reqwest::Client::new());
    Harness::with_responder(stub, std::sync::Arc::new(agent))
}

#[tokio::test]
async fn the_retrieval_tool_runs_with_progress_and_its_output_goes_back_to_the_model() {
    let h = retrieval_harness(ModelApi::Responses).await;
    h.stub.set_retrieval(200, json!({"results": [{"text": "Paris is the capital of France"}]}));
    h.stub.push(Reply::Stream(
        [
            responses_start(),
            vec![
                responses_tool_call(
                    "call_r1",
                    "search_knowledge_base",
                    r#"{"query":"capital of France"}"#,
                ),
                responses_completed(),
            ],
        ]
        .concat(),
    ));
    h.stub.push(responses_text(&["It is ", "Paris."]));

    let (thread_id, events) = h.create("What is the capital of France?").await;
    let kinds = types(&events);
    let progress = kinds.iter().position(|t| t == "progress_update").expect("progress_update");
    let reply = kinds.iter().position(|t| t == "thread.item.added:assistant_message").unwrap();
    assert!(progress < reply, "{kinds:?}");
    assert!(!kinds.contains(&"error".to_string()));
    assert_eq!(assistant_texts(&h.items(&thread_id).await), ["It is Paris."]);

    // the tool call and its output were sent back, after the user message
    let bodies = h.stub.model_bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "search_knowledge_base"));
    let input = responses_input(&bodies[1]);
    assert_eq!(input[0], ("user".to_string(), "What is the capital of France?".to_string()));
    assert_eq!(input[1].0, "function_call");
    assert!(input[1].1.contains("call_r1") && input[1].1.contains("search_knowledge_base"));
    assert_eq!(input[2].0, "function_call_output");
    assert!(
        input[2].1.contains("call_r1") && input[2].1.contains("Paris is the capital of France")
    );

    // the retrieval service got the query, the user id and the caller's token
    let retrieval = h.stub.requests().into_iter().find(|r| r.path.ends_with("/retrieve")).unwrap();
    assert_eq!(retrieval.body, json!({"query": "capital of France", "user_id": USER}));
    assert_eq!(retrieval.authorization, Some(format!("Bearer {ACCESS_TOKEN}")));
    for body in bodies {
        assert!(!body.to_string().contains(ACCESS_TOKEN));
    }
}

#[tokio::test]
async fn a_failing_tool_still_yields_a_reply() {
    let h = retrieval_harness(ModelApi::ChatCompletions).await;
    h.stub.set_retrieval(500, json!({"error": "index offline"}));
    h.stub.push(chat_tool_call("call_x", "search_knowledge_base", r#"{"query":"anything"}"#));
    h.stub.push(chat_text(&["Sorry, search is down."]));

    let (thread_id, events) = h.create("search please").await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    assert_eq!(assistant_texts(&h.items(&thread_id).await), ["Sorry, search is down."]);
    let messages = h.stub.model_bodies()[1]["messages"].as_array().unwrap().clone();
    let tool = messages.iter().find(|m| m["role"] == "tool").expect("a tool message");
    assert_eq!(tool["tool_call_id"], "call_x");
    assert!(tool["content"].as_str().unwrap().contains("error"));
    let call = messages.iter().find(|m| m["tool_calls"].is_array()).unwrap();
    assert_eq!(call["tool_calls"][0]["function"]["arguments"], r#"{"query":"anything"}"#);
}

#[tokio::test]
async fn tool_rounds_are_bounded() {
    let stub = Stub::start().await;
    let mut config = stub_config(&stub, ModelApi::ChatCompletions);
    config.retrieval_url = Some(format!("{}/retrieve", stub.url));
    config.max_tool_iterations = 2;
    let h = Harness::with_responder(
        stub,
        std::sync::Arc::new(chatkit_agent::Agent::new(config, reqwest::Client::new())),
    );
    h.stub.set_retrieval(200, json!({"results": []}));
    h.stub.push(chat_tool_call("c1", "search_knowledge_base", r#"{"query":"a"}"#));
    h.stub.push(chat_tool_call("c2", "search_knowledge_base", r#"{"query":"b"}"#));
    h.stub.push(chat_text(&["Giving up on search."]));

    let (thread_id, _) = h.create("loop").await;
    assert_eq!(assistant_texts(&h.items(&thread_id).await), ["Giving up on search."]);
    let bodies = h.stub.model_bodies();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[1]["tools"].is_array());
    assert!(bodies[2].get("tools").is_none(), "the last round offers no tools");
}

#[tokio::test]
async fn a_client_tool_call_round_trips_through_add_client_tool_output() {
    let h = Harness::with(ModelApi::Responses, |c| {
        c.client_tools = vec![ClientToolSpec {
            name: "get_selection".into(),
            description: "Reads the user's selection".into(),
            parameters: json!({"type": "object", "properties": {"scope": {"type": "string"}}}),
        }];
    })
    .await;
    h.stub.push(Reply::Stream(
        [
            responses_start(),
            vec![
                responses_delta("Let me look."),
                responses_tool_call("call_sel", "get_selection", r#"{"scope":"page"}"#),
                responses_completed(),
            ],
        ]
        .concat(),
    ));
    h.stub.push(responses_text(&["You selected: selected words"]));

    let (thread_id, events) = h.create("what did I select?").await;
    let Some(ThreadStreamEvent::ItemDone { item: ThreadItem::ClientToolCall(call) }) =
        events.last()
    else {
        panic!("{:?}", types(&events))
    };
    assert!(call.id.starts_with("tc_"));
    assert_eq!(call.call_id, "call_sel");
    assert_eq!(call.status, ToolCallStatus::Pending);
    assert_eq!(call.arguments["scope"], "page");

    let events = h
        .stream(json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"text": "selected words"}}}))
        .await;
    assert!(
        !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
        "{:?}",
        types(&events)
    );

    let input = responses_input(&h.stub.model_bodies()[1]);
    let tail: Vec<&str> = input.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(tail, ["user", "assistant", "function_call", "function_call_output"]);
    assert!(input[2].1.contains("call_sel") && input[2].1.contains("get_selection"));
    assert!(input[3].1.contains("call_sel") && input[3].1.contains("selected words"));

    let items = h.items(&thread_id).await;
    let kinds: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["user_message", "assistant_message", "client_tool_call", "assistant_message"]
    );
    assert!(
        matches!(&items[2], ThreadItem::ClientToolCall(c) if c.status == ToolCallStatus::Completed)
    );
    assert_eq!(assistant_texts(&items)[1], "You selected: selected words");
}

#[tokio::test]
async fn server_tool_calls_show_as_a_workflow_are_stored_and_replayed_in_later_turns() {
    let h = retrieval_harness(ModelApi::Responses).await;
    h.stub.set_retrieval(200, json!({"results": [{"text": "Paris is the capital of France"}]}));
    h.stub.push(Reply::Stream(
        [
            responses_start(),
            vec![
                responses_tool_call(
                    "call_r1",
                    "search_knowledge_base",
                    r#"{"query":"capital of France"}"#,
                ),
                responses_completed(),
            ],
        ]
        .concat(),
    ));
    h.stub.push(responses_text(&["It is ", "Paris."]));

    let (thread_id, events) = h.create("What is the capital of France?").await;
    let kinds = types(&events);
    let at = |name: &str| {
        kinds.iter().position(|t| t == name).unwrap_or_else(|| panic!("no {name}: {kinds:?}"))
    };
    // the workflow opens with a loading task, the task completes, the workflow closes before the reply
    assert!(at("thread.item.added:workflow") < at("progress_update"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.starts_with("TaskUpdated")), "{kinds:?}");
    assert!(
        at("thread.item.done:workflow") < at("thread.item.added:assistant_message"),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|k| k.contains("hidden_context_item")),
        "the record is never sent: {kinds:?}"
    );
    let Some(ThreadStreamEvent::ItemDone { item: ThreadItem::Workflow(wf) }) = events
        .iter()
        .find(|e| matches!(e, ThreadStreamEvent::ItemDone { item: ThreadItem::Workflow(_) }))
    else {
        unreachable!()
    };
    assert_eq!(wf.workflow.tasks.len(), 1);
    assert!(
        matches!(&wf.workflow.tasks[0], chatkit_protocol::Task::Custom { status_indicator: chatkit_protocol::StatusIndicator::Complete, title: Some(t), .. } if t == "search_knowledge_base")
    );
    assert!(
        matches!(&wf.workflow.summary, Some(chatkit_protocol::WorkflowSummary::Custom { title, .. }) if title.starts_with("Used 1 tool"))
    );

    // stored in order: user, workflow, the call record (hidden), the reply
    let items = h.items(&thread_id).await;
    let stored: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, ["user_message", "workflow", "hidden_context_item", "assistant_message"]);
    let ThreadItem::HiddenContextItem(record) = &items[2] else { unreachable!() };
    assert_eq!(record.content["call_id"], "call_r1");
    assert_eq!(record.content["workflow_id"], items[1].id());
    assert!(!record.content.to_string().contains(ACCESS_TOKEN));
    // the client never sees the record
    let page = h
        .json(json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}))
        .await;
    let listed: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(listed, ["user_message", "workflow", "assistant_message"]);

    // the next turn replays the call and its output, in order, before the new message
    h.stub.push(responses_text(&["Berlin is Germany's."]));
    h.stream(add_message_body(&thread_id, "And Germany?")).await;
    let input = responses_input(&h.stub.model_bodies()[2]);
    let kinds: Vec<&str> = input.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["user", "function_call", "function_call_output", "assistant", "user"],
        "{input:?}"
    );
    assert!(input[1].1.contains("call_r1") && input[1].1.contains("capital of France"));
    assert!(input[2].1.contains("Paris is the capital of France"));
    assert_eq!(input[3].1, "It is Paris.");
}

#[tokio::test]
async fn a_failing_tool_shows_as_a_failed_task_and_is_stored_as_failed() {
    let h = retrieval_harness(ModelApi::ChatCompletions).await;
    h.stub.set_retrieval(503, json!({"error": "index offline"}));
    h.stub.push(chat_tool_call("call_x", "search_knowledge_base", r#"{"query":"anything"}"#));
    h.stub.push(chat_text(&["Search is down."]));
    let (thread_id, events) = h.create("search please").await;
    let done = events.iter().find_map(|e| match e {
        ThreadStreamEvent::ItemDone { item: ThreadItem::Workflow(w) } => Some(w.clone()),
        _ => None,
    });
    let wf = done.expect("a workflow");
    // the user sees that it failed; the service's status goes to the model and the log
    assert!(
        matches!(&wf.workflow.tasks[0], chatkit_protocol::Task::Custom { content: Some(c), .. } if c == "Failed"),
        "{wf:?}"
    );
    let items = h.items(&thread_id).await;
    let record = items.iter().find_map(|i| match i {
        ThreadItem::HiddenContextItem(h) => Some(h.content.clone()),
        _ => None,
    });
    let record = record.expect("a stored record");
    assert_eq!(record["failed"], true);
    assert!(record["output"].as_str().unwrap().contains("error"));
}

/// A tool that shows things while it runs: a client effect, a notice and a widget.
struct OpenPanel;

#[async_trait::async_trait]
impl chatkit_agent::Tool for OpenPanel {
    fn name(&self) -> &str {
        "open_billing"
    }
    fn description(&self) -> &str {
        "Opens the billing panel."
    }
    fn parameters(&self) -> serde_json::Value {
        json!({"type": "object", "properties": {}})
    }
    async fn call(
        &self,
        _args: serde_json::Value,
        ctx: &chatkit_agent::ToolContext,
    ) -> Result<serde_json::Value, chatkit_agent::ToolError> {
        let closed = |_| chatkit_agent::ToolError::new("the stream closed");
        ctx.events
            .client_effect("open_panel", json!({"panel": "billing"}))
            .await
            .map_err(closed)?;
        ctx.events
            .notice(chatkit_protocol::NoticeLevel::Info, "Billing opened.", None)
            .await
            .map_err(closed)?;
        let card = chatkit_protocol::widgets::Card::new([chatkit_protocol::widgets::Text::new(
            "Plan: Pro",
        )
        .into()]);
        ctx.events
            .widget(chatkit_protocol::widgets::WidgetRoot::from(card), Some("Plan: Pro".into()))
            .await
            .map_err(closed)?;
        Ok(json!({"opened": true}))
    }
}

#[tokio::test]
async fn a_tool_emits_a_client_effect_a_notice_and_a_widget_while_it_runs() {
    let stub = Stub::start().await;
    let config = stub_config(&stub, ModelApi::Responses);
    let agent = chatkit_agent::Agent::new(config, reqwest::Client::new())
        .with_tool(std::sync::Arc::new(OpenPanel));
    let h = Harness::with_responder(stub, std::sync::Arc::new(agent));
    h.stub.push(Reply::Stream(
        [
            responses_start(),
            vec![responses_tool_call("call_p", "open_billing", "{}"), responses_completed()],
        ]
        .concat(),
    ));
    h.stub.push(responses_text(&["Opened it."]));
    let (thread_id, events) = h.create("open billing").await;
    let kinds = types(&events);
    let at =
        |k: &str| kinds.iter().position(|t| t == k).unwrap_or_else(|| panic!("no {k}: {kinds:?}"));
    assert!(
        at("client_effect") < at("notice") && at("notice") < at("thread.item.done:widget"),
        "{kinds:?}"
    );
    assert!(at("thread.item.done:widget") < at("thread.item.added:assistant_message"), "{kinds:?}");
    assert!(events.iter().any(|e| matches!(e, ThreadStreamEvent::ClientEffect { name, data } if name == "open_panel" && data["panel"] == "billing")));
    let stored: Vec<String> = h
        .items(&thread_id)
        .await
        .iter()
        .map(|i| serde_json::to_value(i).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        stored,
        ["user_message", "workflow", "widget", "hidden_context_item", "assistant_message"]
    );
    let input = responses_input(&h.stub.model_bodies()[1]);
    assert!(
        input.iter().any(|(k, v)| k == "function_call_output" && v.contains("opened")),
        "{input:?}"
    );
}
