//! The real binary in its Lambda mode (response streaming through a stand-in Runtime API),
//! on DynamoDB Local, with the model stub: what a client disconnect does on Lambda, the
//! explicit cancel that works anyway, and the invocation deadline.
//!
//! A streaming Lambda function writes its response to the Runtime API, not to the client.
//! When the client disconnects, Lambda keeps reading the stream to the end and bills the full
//! duration ("streamed responses are not interrupted or stopped when the invoking client
//! connection is broken", AWS Lambda developer guide, response streaming): the function is
//! never told. Only if the Runtime API connection itself breaks does the function see its
//! body stop, and then it saves the partial reply and the "user cancelled" note, as on a
//! local disconnect. So the web kit sends `turns.cancel` for the turn named by the response's
//! `x-chatkit-turn-id` when its `AbortSignal` fires; the running turn reads that flag.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chatkit_dynamodb::DynamoStore;
use chatkit_protocol::{Order, ThreadItem};
use chatkit_server::{CANCELLED_NOTE, TIMED_OUT_NOTE};
use chatkit_store::prelude::*;
use chatkit_store::{PageRequest, UserId};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::stub::{chat_delta, chat_end, Chunk, Reply, Stub};
use crate::{message, token, JWT_SECRET};
use chatkit_testkit::runtime::{function_url_event, Reading, Runtime};

fn unique(name: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("lambda-{name}-{}-{nanos}", std::process::id())
}

fn base_command(stub: &Stub, table: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatkit"));
    command
        .env_remove("OPENAI_API_KEY_SECRET_ARN")
        .env_remove("CHATKIT_JWT_SECRET_ARN")
        .env_remove("CHATKIT_DEV_AUTH")
        .env("CHATKIT_JWT_SECRET", JWT_SECRET)
        .env("OPENAI_API_KEY", "sk-lambda-e2e")
        .env("OPENAI_BASE_URL", &stub.url)
        .env("CHATKIT_MODEL_API", "chat_completions")
        .env("CHATKIT_TABLE_NAME", table)
        .env("CHATKIT_CREATE_TABLE", "1")
        .env("CHATKIT_IDLE_TIMEOUT_MS", "60000")
        .env("CHATKIT_FIRST_TOKEN_TIMEOUT_MS", "60000")
        .env("CHATKIT_CANCEL_POLL_MS", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The binary in Lambda mode against `runtime`.
fn lambda(runtime: &Runtime, stub: &Stub, table: &str, env: &[(&str, &str)]) -> Child {
    let mut command = base_command(stub, table);
    command
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "chatkit")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        // as under `cargo lambda watch` (make dev): the model stub is plain http on loopback
        .env("CHATKIT_DEV_AUTH", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().expect("start the chatkit binary in Lambda mode")
}

/// The binary in local HTTP mode on the same table (another "container").
async fn http(stub: &Stub, table: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = base_command(stub, table)
        .env("PORT", port.to_string())
        .spawn()
        .expect("start the chatkit binary");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            return (child, format!("{base}/chatkit"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the HTTP function did not start");
}

async fn store(table: &str) -> DynamoStore {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    DynamoStore::new(&sdk, table)
}

async fn items(store: &DynamoStore, user: &str, thread_id: &str) -> Vec<ThreadItem> {
    let page = PageRequest::new(100, Order::Asc);
    store.load_thread_items(&UserId::new(user), thread_id, &page).await.unwrap().items.data
}

fn assistant_text(item: &ThreadItem) -> String {
    match item {
        ThreadItem::AssistantMessage(m) => m.content.iter().map(|c| c.text.as_str()).collect(),
        other => panic!("not an assistant message: {other:?}"),
    }
}

fn hidden_note(item: &ThreadItem) -> &str {
    match item {
        ThreadItem::SdkHiddenContext(note) => &note.content,
        other => panic!("not a hidden note: {other:?}"),
    }
}

/// A reply that says a little and then goes quiet (a slow model).
fn stalls() -> Reply {
    Reply::Stream(vec![chat_delta("Half an ans"), Chunk::Stall])
}

fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": message(text)}})
}

/// Waits until the thread's last item is a hidden note.
async fn settled(store: &DynamoStore, user: &str, thread_id: &str) -> Vec<ThreadItem> {
    for _ in 0..100 {
        let stored = items(store, user, thread_id).await;
        if matches!(stored.last(), Some(ThreadItem::SdkHiddenContext(_))) {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    items(store, user, thread_id).await
}

#[tokio::test]
async fn on_lambda_a_stream_nobody_stops_runs_to_its_end() {
    // Lambda reads the whole stream whether or not the client is still there: the turn
    // cannot know, runs to its end and is stored in full.
    let stub = Stub::start().await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut reply = vec![chat_delta("One, "), Chunk::Wait(gate.clone()), chat_delta("two.")];
    reply.extend(chat_end("stop"));
    stub.push(Reply::Stream(reply));
    let runtime = Runtime::start().await;
    let table = unique("to-the-end");
    let _function = lambda(&runtime, &stub, &table, &[]);
    let event = function_url_event(&token("ada"), &create("count"));
    let mut invocation =
        runtime.invoke("req-to-the-end", event, Duration::from_secs(120), Reading::ToTheEnd);
    let prelude = invocation.prelude().await;
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["x-chatkit-turn-id"], "req-to-the-end");
    let seen = invocation.events_until("thread.item.updated").await;
    let thread_id = seen[0]["thread"]["id"].as_str().unwrap().to_string();
    // the client would be gone by now; the model goes on
    gate.notify_one();
    let events = invocation.all_events(Duration::from_secs(10)).await;
    assert_eq!(events.last().unwrap()["type"], "thread.item.done", "{events:?}");
    let stored = items(&store(&table).await, "ada", &thread_id).await;
    assert_eq!(assistant_text(&stored[1]), "One, two.");
}

#[tokio::test]
async fn a_broken_runtime_connection_is_a_cancel_the_partial_reply_is_kept() {
    // The one disconnect a streaming function can see: its Runtime API connection breaking.
    // It shows at the function's next write (a quiet model leaves nothing to write), and
    // then the turn ends as on a local disconnect: the partial reply and the note are kept.
    let stub = Stub::start().await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    stub.push(Reply::Stream(vec![
        chat_delta("Half an ans"),
        Chunk::Wait(gate.clone()),
        chat_delta("wer"),
        Chunk::Stall,
    ]));
    let runtime = Runtime::start().await;
    let table = unique("broken");
    let _function = lambda(&runtime, &stub, &table, &[]);
    let event = function_url_event(&token("ada"), &create("hello"));
    let mut invocation = runtime.invoke(
        "req-broken",
        event,
        Duration::from_secs(120),
        Reading::BreakOn("Half an ans"),
    );
    invocation.prelude().await;
    // everything up to the break (the runtime hangs up after "Half an ans")
    let seen = invocation.all_events(Duration::from_secs(10)).await;
    let thread_id = seen[0]["thread"]["id"].as_str().unwrap().to_string();
    // the model goes on: the function's next write meets the broken connection
    gate.notify_one();
    let stored = settled(&store(&table).await, "ada", &thread_id).await;
    let n = stored.len();
    assert!(assistant_text(&stored[n - 2]).starts_with("Half an ans"), "{stored:#?}");
    assert_eq!(hidden_note(&stored[n - 1]), CANCELLED_NOTE);
}

#[tokio::test]
async fn turns_cancel_from_another_container_stops_a_lambda_turn() {
    let stub = Stub::start().await;
    stub.push(stalls());
    let runtime = Runtime::start().await;
    let table = unique("cancel");
    let _function = lambda(&runtime, &stub, &table, &[]);
    let ada = token("ada");
    let event = function_url_event(&ada, &create("hello"));
    let mut invocation =
        runtime.invoke("req-cancel-me", event, Duration::from_secs(120), Reading::ToTheEnd);
    let prelude = invocation.prelude().await;
    let turn_id = prelude["headers"]["x-chatkit-turn-id"].as_str().unwrap().to_string();
    let thread_id = invocation.events_until("thread.created").await[0]["thread"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = invocation
        .events_until_match(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
        .await;
    assert!(seen.iter().any(|e| e["update"]["delta"] == "Half an ans"), "{seen:?}");

    // the client aborted; its kit asks another container to stop the turn
    let (_other, url) = http(&stub, &table).await;
    let started = Instant::now();
    let cancel = json!({"type": "turns.cancel", "params": {"turn_id": turn_id}});
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&ada)
        .body(cancel.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = invocation.all_events(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped within a poll, not at the model's pace"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message"),
        "{events:?}"
    );

    let stored = settled(&store(&table).await, "ada", &thread_id).await;
    let n = stored.len();
    assert_eq!(assistant_text(&stored[n - 2]), "Half an ans", "{stored:#?}");
    assert_eq!(hidden_note(&stored[n - 1]), CANCELLED_NOTE);
}

#[tokio::test]
async fn the_invocation_deadline_ends_a_turn_with_a_retryable_error() {
    let stub = Stub::start().await;
    stub.push(stalls());
    let runtime = Runtime::start().await;
    let table = unique("deadline");
    // Lambda would kill the invocation 6 s in; the turn stops 4 s before
    let margin = [("CHATKIT_DEADLINE_MARGIN_MS", "4000"), ("CHATKIT_AWS_TIMEOUT_MS", "3000")];
    let _function = lambda(&runtime, &stub, &table, &margin);
    let event = function_url_event(&token("ada"), &create("hello"));
    let started = Instant::now();
    let mut invocation =
        runtime.invoke("req-deadline", event, Duration::from_secs(6), Reading::ToTheEnd);
    invocation.prelude().await;
    let events = invocation.events_until("error").await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "stopped before the deadline: {elapsed:?}");
    let n = events.len();
    assert_eq!(events[n - 1]["type"], "error", "{events:?}");
    assert_eq!(events[n - 1]["allow_retry"], true);
    assert_eq!(events[n - 2]["type"], "thread.item.done");
    assert_eq!(events[n - 2]["item"]["content"][0]["text"], "Half an ans");
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    let stored = items(&store(&table).await, "ada", &thread_id).await;
    assert_eq!(assistant_text(&stored[1]), "Half an ans");
    assert_eq!(hidden_note(&stored[2]), TIMED_OUT_NOTE);
}
