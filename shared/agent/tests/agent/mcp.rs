//! MCP tools against a real MCP server (the Python SDK over streamable HTTP) that refuses
//! requests without the right bearer token: the stub model triggers the calls.

use std::sync::Arc;
use std::time::Duration;

use chatkit_agent::mcp::parse_servers;
use chatkit_agent::{Agent, ModelApi};
use chatkit_protocol::{ThreadItem, ThreadStreamEvent};
use chatkit_server::{ChatKitResponse, RequestContext};
use chatkit_store::prelude::*;
use chatkit_store::UserId;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::mcp_server::McpServer;
use crate::*;

const ADA_TOKEN: &str = "tok-ada-7f3c9e";
const BOB_TOKEN: &str = "tok-bob-1d2e4a";

/// An agent (Responses API) with one MCP server named `tasks`.
fn harness(stub: Stub, server: Value) -> Harness {
    let mut config = stub_config(&stub, ModelApi::Responses);
    config.mcp_servers = parse_servers(&json!([server]).to_string()).unwrap();
    Harness::with_responder(stub, Arc::new(Agent::new(config, reqwest::Client::new())))
}

fn tasks(url: &str) -> Value {
    json!({"name": "tasks", "url": url, "auth": "user_token",
           "tools": ["create_task", "whoami", "explode", "slow", "task_card", "broken_card", "flood"]})
}

fn call(name: &str, arguments: &str) -> Reply {
    Reply::Stream(
        [
            responses_start(),
            vec![responses_tool_call("call_1", name, arguments), responses_completed()],
        ]
        .concat(),
    )
}

fn as_user(user: &str, token: Option<&str>) -> RequestContext {
    let ctx = RequestContext::new(UserId::new(user), format!("req-{user}"));
    match token {
        Some(token) => ctx.with_access_token(token),
        None => ctx,
    }
}

async fn stream_as(h: &Harness, ctx: RequestContext, body: Value) -> Vec<ThreadStreamEvent> {
    let bytes = serde_json::to_vec(&body).unwrap();
    match h.server.process(&bytes, ctx).await {
        Ok(ChatKitResponse::Stream(s)) => tokio::time::timeout(LIMIT, s.collect::<Vec<_>>())
            .await
            .expect("the stream ended in time"),
        other => panic!("{other:?}"),
    }
}

/// The output the model got for `call_1` in its second request.
fn tool_output(h: &Harness, request: usize) -> String {
    let input = responses_input(&h.stub.model_bodies()[request]);
    input
        .into_iter()
        .find(|(kind, _)| kind == "function_call_output")
        .map(|(_, output)| output)
        .expect("a tool output")
}

fn offered(h: &Harness, request: usize) -> Vec<String> {
    h.stub.model_bodies()[request]["tools"]
        .as_array()
        .map(|tools| tools.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tool_result_reaches_the_reply_and_the_token_reaches_only_the_mcp_server() {
    let mcp = McpServer::start(false, &[(ADA_TOKEN, "ada")]).await;
    let h = harness(Stub::start().await, tasks(&mcp.url));
    h.stub.push(call("tasks__create_task", r#"{"title":"Write the report"}"#));
    h.stub.push(responses_text(&["Created task-1."]));

    let before = h.store.request_count();
    let events =
        stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("Add a task: write the report"))
            .await;
    // store requests of the turn: thread + message, the workflow, the call's record, the reply
    assert_eq!(h.store.request_count() - before, 4);
    let kinds = types(&events);
    assert!(!kinds.contains(&"error".to_string()), "{kinds:?}");
    let progress = events.iter().find_map(|e| match e {
        ThreadStreamEvent::ProgressUpdate { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(progress.as_deref(), Some("Calling create_task on tasks…"));

    // offered with the server's description and schema, the allowlist applied
    let tools = &h.stub.model_bodies()[0]["tools"];
    let create = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tasks__create_task")
        .expect("tasks__create_task offered");
    assert!(create["description"].as_str().unwrap().contains("Creates a task"));
    assert_eq!(create["parameters"]["properties"]["title"]["type"], "string");
    assert!(
        !offered(&h, 0).contains(&"tasks__delete_everything".to_string()),
        "{:?}",
        offered(&h, 0)
    );

    // the result reached the model and the reply; the server saw ada (from her token)
    let output = tool_output(&h, 1);
    assert!(
        output.contains("task-1")
            && output.contains("Write the report")
            && output.contains("owner")
            && output.contains("ada"),
        "{output}"
    );
    let thread_id = match &events[0] {
        ThreadStreamEvent::ThreadCreated { thread } => thread.id.clone(),
        other => panic!("{other:?}"),
    };
    let items = h
        .store
        .load_thread_items(
            &UserId::new("ada"),
            &thread_id,
            &chatkit_store::PageRequest::new(100, chatkit_protocol::Order::Asc),
        )
        .await
        .unwrap()
        .items
        .data;
    assert_eq!(assistant_texts(&items), ["Created task-1."]);

    // every MCP request carried the token, listing included ...
    let log = mcp.log().await;
    let methods = mcp.methods().await;
    // a stateful server, cold cache: the handshake, the standalone stream, the list, the call,
    // and the session's DELETE when the turn ends
    assert_eq!(
        methods,
        ["initialize", "notifications/initialized", "GET", "tools/list", "tools/call", "DELETE"]
    );
    assert!(log.iter().all(|r| r["token"] == ADA_TOKEN), "{log:?}");
    // ... while the model requests, the stored items and the events hold no trace of it
    for request in h.stub.requests() {
        assert!(!request.body.to_string().contains(ADA_TOKEN));
        assert!(!request.authorization.unwrap_or_default().contains(ADA_TOKEN));
    }
    let stored = serde_json::to_string(&items).unwrap();
    assert!(stored.contains("tasks__create_task") && !stored.contains(ADA_TOKEN));
    assert!(!serde_json::to_string(&events).unwrap().contains(ADA_TOKEN));
}

#[tokio::test]
async fn a_stateless_server_works() {
    let mcp = McpServer::start(true, &[(ADA_TOKEN, "ada")]).await;
    let h = harness(Stub::start().await, tasks(&mcp.url));
    h.stub.push(call("tasks__whoami", "{}"));
    h.stub.push(responses_text(&["You are ada."]));
    stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("who am I?")).await;
    assert!(tool_output(&h, 1).contains("you are ada"), "{}", tool_output(&h, 1));
    let log = mcp.log().await;
    assert!(log.iter().all(|r| r["session"].is_null()), "no session ids: {log:?}");
    assert_eq!(
        mcp.methods().await,
        ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    );
}

#[tokio::test]
async fn lists_are_cached_per_user_and_one_users_token_never_serves_anothers_call() {
    let mcp = McpServer::start(false, &[(ADA_TOKEN, "ada"), (BOB_TOKEN, "bob")]).await;
    let h = harness(Stub::start().await, tasks(&mcp.url));
    for _ in 0..2 {
        h.stub.push(call("tasks__whoami", "{}"));
        h.stub.push(responses_text(&["ok"]));
    }
    stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("who am I?")).await;
    let after_ada = mcp.log().await.len();
    let lists = |log: &[Value]| log.iter().filter(|r| r["method"] == "tools/list").count();
    assert_eq!(lists(&mcp.log().await), 1);

    // bob: his own listing and call, with his token only
    stream_as(&h, as_user("bob", Some(BOB_TOKEN)), create_body("who am I?")).await;
    assert!(tool_output(&h, 3).contains("you are bob"), "{}", tool_output(&h, 3));
    let log = mcp.log().await;
    assert_eq!(lists(&log), 2, "bob's list is his own");
    assert!(log[after_ada..].iter().all(|r| r["token"] == BOB_TOKEN), "{:?}", &log[after_ada..]);

    // ada again within the TTL: no listing, a fresh session with her token
    h.stub.push(call("tasks__whoami", "{}"));
    h.stub.push(responses_text(&["ok"]));
    let before = mcp.log().await.len();
    stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("and now?")).await;
    let log = mcp.log().await;
    assert_eq!(lists(&log), 2, "ada's list came from the cache");
    assert!(log[before..].iter().all(|r| r["token"] == ADA_TOKEN), "{:?}", &log[before..]);
    assert!(tool_output(&h, 5).contains("you are ada"));
    assert!(offered(&h, 4).contains(&"tasks__whoami".to_string()));
}

#[tokio::test]
async fn a_server_that_refuses_the_caller_or_is_down_leaves_the_turn_without_its_tools() {
    let mcp = McpServer::start(false, &[(ADA_TOKEN, "ada")]).await;
    let closed = format!(
        "http://127.0.0.1:{}/mcp",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    for (url, ctx) in [
        (mcp.url.clone(), as_user("eve", Some("tok-forged"))), // 401
        (mcp.url.clone(), as_user("dev", None)),               // no token to forward
        (closed, as_user("ada", Some(ADA_TOKEN))),             // unreachable
    ] {
        let h = harness(Stub::start().await, tasks(&url));
        h.stub.push(responses_text(&["Answering without tools."]));
        let events = stream_as(&h, ctx, create_body("hello")).await;
        assert!(
            !events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })),
            "{url}: {:?}",
            types(&events)
        );
        assert!(
            offered(&h, 0).iter().all(|t| !t.starts_with("tasks__")),
            "{url}: {:?}",
            offered(&h, 0)
        );
        assert!(events.iter().any(|e| matches!(
            e,
            ThreadStreamEvent::ItemDone { item: ThreadItem::AssistantMessage(_) }
        )));
    }
    let log = mcp.log().await;
    assert!(
        log.iter().all(|r| r["token"] != ADA_TOKEN),
        "ada's token was never sent on someone else's turn"
    );
    assert!(
        log.iter().any(|r| r["token"] == "tok-forged"),
        "the refused attempt reached the server: {log:?}"
    );
}

#[tokio::test]
async fn an_answer_past_the_byte_cap_is_a_failed_call_and_the_turn_goes_on() {
    for stateless in [false, true] {
        let mcp = McpServer::start(stateless, &[(ADA_TOKEN, "ada")]).await;
        let h = harness(Stub::start().await, tasks(&mcp.url));
        h.stub.push(call("tasks__flood", r#"{"megabytes": 3}"#));
        h.stub.push(responses_text(&["The answer was too large."]));
        let events = stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("flood")).await;
        assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
        let output = tool_output(&h, 1);
        assert!(
            output.contains("error") && output.len() < 2_000,
            "stateless {stateless}: {output:.300}"
        );
        // a smaller answer is read (and trimmed for the model as any tool output is); the
        // server repeats its text as structured content, so 0.5 MB is 1 MB on the wire
        h.stub.push(call("tasks__flood", r#"{"megabytes": 0.5}"#));
        h.stub.push(responses_text(&["Read it."]));
        stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("again")).await;
        let output = tool_output(&h, 3);
        assert!(output.contains("xxxx") && output.contains("trimmed"), "{output:.300}");
    }
}

#[tokio::test]
async fn a_tool_error_is_a_failed_call_for_the_model_and_the_turn_goes_on() {
    let mcp = McpServer::start(false, &[(ADA_TOKEN, "ada")]).await;
    let h = harness(Stub::start().await, tasks(&mcp.url));
    h.stub.push(call("tasks__explode", r#"{"reason":"quota exceeded"}"#));
    h.stub.push(responses_text(&["The task service refused."]));
    let events = stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("try it")).await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    let output = tool_output(&h, 1);
    assert!(output.contains("error") && output.contains("quota exceeded"), "{output}");
    let failed = events.iter().any(|e| matches!(e, ThreadStreamEvent::ItemDone { item: ThreadItem::Workflow(w) }
        if matches!(&w.workflow.tasks[0], chatkit_protocol::Task::Custom { content: Some(c), .. } if c.starts_with("Failed"))));
    assert!(failed, "{:?}", types(&events));
    // the server's own words reach the model, not the task the user sees
    let shown: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            ThreadStreamEvent::ItemDone { item: ThreadItem::Workflow(w) } => {
                Some(format!("{:?}", w.workflow))
            }
            _ => None,
        })
        .collect();
    assert!(!shown.is_empty() && !shown.iter().any(|w| w.contains("quota exceeded")), "{shown:?}");
}

#[tokio::test]
async fn a_call_past_the_timeout_is_a_failed_call_and_the_turn_goes_on() {
    let mcp = McpServer::start(false, &[(ADA_TOKEN, "ada")]).await;
    let mut server = tasks(&mcp.url);
    server["timeout_ms"] = json!(1500);
    let h = harness(Stub::start().await, server);
    h.stub.push(call("tasks__slow", r#"{"seconds":20}"#));
    h.stub.push(responses_text(&["It took too long."]));
    let started = std::time::Instant::now();
    let events = stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("slow one")).await;
    assert!(started.elapsed() < Duration::from_secs(15), "the call was abandoned at its timeout");
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    assert!(tool_output(&h, 1).contains("timed out"), "{}", tool_output(&h, 1));
}

#[tokio::test]
async fn structured_content_that_is_a_widget_is_shown_as_one_and_an_invalid_one_as_text() {
    let mcp = McpServer::start(true, &[(ADA_TOKEN, "ada")]).await;
    let h = harness(Stub::start().await, tasks(&mcp.url));
    h.stub.push(call("tasks__task_card", "{}"));
    h.stub.push(responses_text(&["Here are your tasks."]));
    let events = stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("show my tasks")).await;
    let widget = events.iter().find_map(|e| match e {
        ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(w) } => Some(w.clone()),
        _ => None,
    });
    let widget = widget.unwrap_or_else(|| panic!("a widget item: {:?}", types(&events)));
    assert_eq!(widget.widget["type"], "Card");
    assert_eq!(widget.widget["children"][1]["value"], "Write the report");
    // the tracking image and the action of a type the server may not send are gone
    let shown = widget.widget.to_string();
    assert!(!shown.contains("tracker.example") && !shown.contains("orders.approve"), "{shown}");
    assert_eq!(widget.widget["children"][2]["label"], "Approve");
    assert_eq!(widget.copy_text.as_deref(), Some("Your tasks: Write the report"));
    assert!(tool_output(&h, 1).contains("as a widget"), "{}", tool_output(&h, 1));
    let kinds = types(&events);
    let at = |k: &str| kinds.iter().position(|t| t == k).unwrap();
    assert!(at("thread.item.done:widget") < at("thread.item.added:assistant_message"), "{kinds:?}");

    // a card whose children are not components: no widget frame, the text goes to the model
    h.stub.push(call("tasks__broken_card", "{}"));
    h.stub.push(responses_text(&["It is a broken card."]));
    let events =
        stream_as(&h, as_user("ada", Some(ADA_TOKEN)), create_body("show the broken one")).await;
    assert!(
        !events.iter().any(|e| matches!(
            e,
            ThreadStreamEvent::ItemDone { item: ThreadItem::Widget(_) }
                | ThreadStreamEvent::ItemAdded { item: ThreadItem::Widget(_) }
        )),
        "{:?}",
        types(&events)
    );
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    assert!(tool_output(&h, 3).contains("a broken card"), "{}", tool_output(&h, 3));
}
