//! The real `turns` binary with `CHATKIT_MODEL_API=bedrock` against a local stand-in that
//! speaks Bedrock's `ConverseStream` wire format (AWS event stream framing), on DynamoDB
//! Local: streamed deltas with the history, the page context and a title; a client tool's
//! `toolUse` / `toolResult` round; throttling retried before the first token; throttling
//! inside the stream and a cut stream as retryable `error` events, the user's message kept;
//! and the team's `shared/app` (the orders example behind its setting) on top: a server
//! tool's round and its widget's action.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_testkit::bedrock::{delta, BedrockStub, Event, Reply, TITLE};
use chatkit_testkit::bedrock::{text_reply, tool_use_reply};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

struct Turns {
    _child: Child,
    url: String,
    http: reqwest::Client,
}

async fn start(stub: &BedrockStub) -> Turns {
    start_with(stub, &[]).await
}

async fn start_with(stub: &BedrockStub, env: &[(&str, &str)]) -> Turns {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let child = Command::new(env!("CARGO_BIN_EXE_turns"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_API_KEY_SECRET_ARN")
        .env_remove("OPENAI_BASE_URL")
        .env("CHATKIT_MODEL_API", "bedrock")
        .env("CHATKIT_MODEL", MODEL)
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &stub.url)
        // credentials: the test environment's dummy ones (make test)
        .env("AWS_REGION", "us-east-1")
        .env(
            "CHATKIT_CLIENT_TOOLS",
            r#"[{"name": "get_selection", "description": "The text the user selected"}]"#,
        )
        .env("CHATKIT_MODEL_RETRY_BACKOFF_MS", "10")
        .env("CHATKIT_TABLE_NAME", format!("bedrock-e2e-{}-{nanos}", std::process::id()))
        .env("CHATKIT_CREATE_TABLE", "1")
        .env("CHATKIT_DEV_AUTH", "1")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the turns binary");
    let turns = Turns {
        _child: child,
        url: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..200 {
        if turns
            .http
            .get(format!("{}/healthz", turns.url))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return turns;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the turns binary did not start");
}

impl Turns {
    /// Every SSE event of a streamed answer.
    async fn stream(&self, body: Value) -> Vec<Value> {
        let response = self
            .http
            .post(format!("{}/chatkit", self.url))
            .header("x-user-id", "ada")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&bytes)
            .split("\n\n")
            .filter_map(|frame| frame.strip_prefix("data: "))
            .map(|json| serde_json::from_str(json).unwrap())
            .collect()
    }
}

fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

fn thread_id(events: &[Value]) -> String {
    events[0]["thread"]["id"].as_str().unwrap().to_string()
}

fn deltas(events: &[Value]) -> String {
    events.iter().filter_map(|e| e["update"]["delta"].as_str()).collect()
}

/// Every text block of a recorded Bedrock message.
fn texts(message: &Value) -> String {
    message["content"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect()
}

#[tokio::test]
async fn a_conversation_streams_from_bedrock_with_history_context_and_a_title() {
    let stub = BedrockStub::start().await;
    stub.push(text_reply(&["Hello", " from Bedrock"]));
    stub.push(text_reply(&["Still here"]));
    let turns = start(&stub).await;
    let create = json!({"type": "threads.create", "params": {"input": input("Hi there")},
        "metadata": {"pageContext": {"url": "https://app.test/orders/42", "title": "Order 42"}}});
    let events = turns.stream(create).await;
    assert_eq!(deltas(&events), "Hello from Bedrock", "{events:?}");
    assert!(
        events.iter().any(|e| e["type"] == "thread.updated" && e["thread"]["title"] == TITLE),
        "{events:?}"
    );
    let first = &stub.requests()[0];
    assert_eq!(first.model, MODEL);
    assert!(first.body["system"][0]["text"].as_str().unwrap().len() > 20, "the system prompt");
    assert_eq!(texts(&first.body["messages"][0]), "Hi there");
    // the page context goes with the instructions, labelled as untrusted page data
    let sent = first.body.to_string();
    assert!(
        sent.contains("https://app.test/orders/42") && sent.contains("Order 42"),
        "the page: {sent}"
    );

    let more = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id(&events), "input": input("And now?")}});
    let events = turns.stream(more).await;
    assert_eq!(deltas(&events), "Still here");
    let second = stub.requests()[1].body.clone();
    let roles: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "the history");
    assert_eq!(texts(&stub.requests()[1].body["messages"][1]), "Hello from Bedrock");

    // dictation needs an OpenAI-compatible transcription API: a clear 501, not a failed call
    let dictation = json!({"type": "input.transcribe", "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"}});
    let response = turns
        .http
        .post(format!("{}/chatkit", turns.url))
        .header("x-user-id", "ada")
        .json(&dictation)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501, "{:?}", response.text().await);
}

#[tokio::test]
async fn a_client_tool_goes_out_as_tool_use_and_comes_back_as_tool_result() {
    let stub = BedrockStub::start().await;
    stub.push(tool_use_reply("tooluse_1", "get_selection", &json!({"why": "to quote it"})));
    stub.push(text_reply(&["You selected: total"]));
    let turns = start(&stub).await;
    let events = turns
        .stream(json!({"type": "threads.create", "params": {"input": input("What did I select?")}}))
        .await;
    assert_eq!(
        stub.requests()[0].body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_selection"
    );
    let call = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "client_tool_call")
        .unwrap_or_else(|| panic!("a client tool call: {events:?}"));
    assert_eq!(call["item"]["name"], "get_selection");
    assert_eq!(call["item"]["arguments"]["why"], "to quote it");

    let output = json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id(&events), "result": {"text": "total"}}});
    let events = turns.stream(output).await;
    assert_eq!(deltas(&events), "You selected: total");
    let messages = stub.requests()[1].body["messages"].clone();
    let blocks: Vec<&Value> = messages
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().unwrap())
        .collect();
    let tool_use =
        blocks.iter().find(|b| b.get("toolUse").is_some()).expect("the call in the history");
    assert_eq!(tool_use["toolUse"]["toolUseId"], "tooluse_1");
    let result = blocks.iter().find(|b| b.get("toolResult").is_some()).expect("its result");
    assert_eq!(result["toolResult"]["toolUseId"], "tooluse_1");
    assert!(result["toolResult"]["content"][0]["text"].as_str().unwrap().contains("total"));
}

#[tokio::test]
async fn throttling_before_the_first_token_is_retried() {
    let stub = BedrockStub::start().await;
    stub.push(Reply::Error(429, "ThrottlingException", "Too many requests, please wait"));
    stub.push(text_reply(&["After a retry"]));
    let turns = start(&stub).await;
    let events =
        turns.stream(json!({"type": "threads.create", "params": {"input": input("Hello")}})).await;
    assert_eq!(deltas(&events), "After a retry", "{events:?}");
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn throttling_inside_the_stream_and_a_cut_stream_end_with_retryable_errors() {
    let stub = BedrockStub::start().await;
    let start_event = Event::Event("messageStart", json!({"role": "assistant"}));
    stub.push(Reply::Stream(vec![
        start_event.clone(),
        delta(0, json!({"text": "Part of it"})),
        Event::Exception("throttlingException", "Too many tokens"),
    ]));
    stub.push(Reply::Stream(vec![start_event, delta(0, json!({"text": "Half"})), Event::Cut]));
    let turns = start(&stub).await;
    for (text, said) in [("first", "Part of it"), ("second", "Half")] {
        let events =
            turns.stream(json!({"type": "threads.create", "params": {"input": input(text)}})).await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "error", "{events:?}");
        assert_eq!(last["allow_retry"], true, "{events:?}");
        assert_eq!(deltas(&events), said, "{events:?}");
        // the user's message was stored before the model was called
        assert!(events
            .iter()
            .any(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "user_message"));
    }
}

#[tokio::test]
async fn the_orders_example_runs_through_shared_app_when_its_setting_is_on() {
    let stub = BedrockStub::start().await;
    stub.push(tool_use_reply("tooluse_7", "show_order", &json!({"order_id": "42"})));
    stub.push(text_reply(&["Here is order 42."]));
    let turns = start_with(&stub, &[("CHATKIT_EXAMPLE_ORDERS", "1")]).await;
    let events = turns
        .stream(json!({"type": "threads.create", "params": {"input": input("Show order 42")}}))
        .await;
    let card = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "widget")
        .unwrap_or_else(|| panic!("the order card: {events:?}"));
    assert_eq!(card["item"]["widget"]["children"][0]["value"], "Order #42");
    assert_eq!(deltas(&events), "Here is order 42.");
    // the tool's output went back to Bedrock as the call's toolResult
    let history = stub.requests()[1].body["messages"].to_string();
    assert!(history.contains("tooluse_7") && history.contains("toolResult"), "{history}");

    let approve = json!({"type": "threads.custom_action", "params": {"thread_id": thread_id(&events),
        "item_id": card["item"]["id"], "action": {"type": "orders.approve", "payload": {"order_id": "42"}}}});
    let events = turns.stream(approve).await;
    assert!(events.iter().any(|e| e["type"] == "thread.item.replaced"), "{events:?}");
    assert!(
        events.iter().any(|e| e["type"] == "client_effect" && e["name"] == "order_approved"),
        "{events:?}"
    );

    // without the setting, the agent has no such tool
    let stub = BedrockStub::start().await;
    let turns = start(&stub).await;
    turns
        .stream(json!({"type": "threads.create", "params": {"input": input("Show order 42")}}))
        .await;
    assert!(!stub.requests()[0].body.to_string().contains("show_order"));
}
