//! The real `turns` binary in its Lambda mode (response streaming through a stand-in Runtime
//! API), on DynamoDB Local with the model stub: a streamed turn, `turns.cancel` from another
//! container stopping it with the partial reply saved, and the clear refusal of a read sent
//! to it.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_dynamodb::DynamoStore;
use chatkit_protocol::{Order, ThreadItem};
use chatkit_store::prelude::*;
use chatkit_store::{PageRequest, UserId};
use chatkit_testkit::model::{chat_delta, chat_text, Chunk, Reply, Stub};
use chatkit_testkit::runtime::{function_url_event, Invocation, Reading, Runtime};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const JWT_SECRET: &str = "turns-e2e-secret-0123456789abcdef0123456";

fn unique(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("turns-{name}-{}-{nanos}", std::process::id())
}

fn token(sub: &str) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({"sub": sub, "exp": exp});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

/// One container of the function: the binary in Lambda mode against its own runtime.
async fn container(stub: &Stub, table: &str) -> (Runtime, Child) {
    let runtime = Runtime::start().await;
    let child = Command::new(env!("CARGO_BIN_EXE_turns"))
        .env_remove("OPENAI_API_KEY_SECRET_ARN")
        .env_remove("CHATKIT_JWT_SECRET_ARN")
        .env_remove("CHATKIT_DEV_AUTH")
        .env("CHATKIT_JWT_SECRET", JWT_SECRET)
        .env("OPENAI_API_KEY", "sk-turns-e2e")
        .env("OPENAI_BASE_URL", &stub.url)
        .env("CHATKIT_MODEL_API", "chat_completions")
        .env("CHATKIT_TABLE_NAME", table)
        .env("CHATKIT_CREATE_TABLE", "1")
        .env("CHATKIT_CANCEL_POLL_MS", "200")
        // the model stub is plain http on loopback, as under `cargo lambda watch`
        .env("CHATKIT_DEV_AUTH", "1")
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "turns")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the turns binary in Lambda mode");
    (runtime, child)
}

fn invoke(runtime: &Runtime, body: &Value) -> Invocation {
    let event = function_url_event(&token("ada"), body);
    runtime.invoke(&unique("req"), event, Duration::from_secs(120), Reading::ToTheEnd)
}

/// A streamed response's status and its body as one JSON document (a JSON answer).
async fn json_answer(mut invocation: Invocation) -> (u64, Value) {
    let status = invocation.prelude().await["statusCode"].as_u64().unwrap();
    let body = invocation.body(Duration::from_secs(2)).await;
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}

fn create(text: &str) -> Value {
    let input = json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}});
    json!({"type": "threads.create", "params": {"input": input}})
}

async fn stored(table: &str, thread_id: &str) -> Vec<ThreadItem> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(&sdk, table);
    let page = PageRequest::new(100, Order::Asc);
    store.load_thread_items(&UserId::new("ada"), thread_id, &page).await.unwrap().items.data
}

#[tokio::test]
async fn turns_streams_a_turn_and_refuses_reads() {
    let stub = Stub::start().await;
    stub.push(chat_text(&["Hello", " there"]));
    let table = unique("stream");
    let (runtime, _function) = container(&stub, &table).await;

    let mut turn = invoke(&runtime, &create("Hi"));
    assert_eq!(turn.prelude().await["statusCode"], 200);
    let events = turn.events_until("thread.item.done").await;
    let events = [events, turn.all_events(Duration::from_secs(2)).await].concat();
    let done = events.iter().rfind(|e| e["type"] == "thread.item.done").unwrap();
    assert_eq!(done["item"]["content"][0]["text"], "Hello there", "{events:?}");

    let (status, error) =
        json_answer(invoke(&runtime, &json!({"type": "threads.list", "params": {}}))).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "wrong_function");
    assert_eq!(error["error"]["function"], "threads");
}

#[tokio::test]
async fn turns_cancel_from_another_container_saves_the_partial_reply() {
    let stub = Stub::start().await;
    stub.push(Reply::Stream(vec![chat_delta("Half an ans"), Chunk::Stall]));
    let table = unique("cancel");
    let (runtime, _function) = container(&stub, &table).await;
    let mut turn = invoke(&runtime, &create("hello"));
    let turn_id =
        turn.prelude().await["headers"]["x-chatkit-turn-id"].as_str().unwrap().to_string();
    let seen = turn.events_until_match(|e| e["update"]["delta"] == "Half an ans").await;
    let thread_id = seen[0]["thread"]["id"].as_str().unwrap().to_string();

    // the page's stop button: the kit sends turns.cancel, which another container serves
    let (other, _other_function) = container(&stub, &table).await;
    let cancel = json!({"type": "turns.cancel", "params": {"turn_id": turn_id}});
    let (status, answer) = json_answer(invoke(&other, &cancel)).await;
    assert_eq!(status, 200, "{answer}");

    let events = turn.all_events(Duration::from_secs(10)).await;
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message"),
        "{events:?}"
    );
    let mut items = Vec::new();
    for _ in 0..100 {
        items = stored(&table, &thread_id).await;
        if matches!(items.last(), Some(ThreadItem::SdkHiddenContext(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::AssistantMessage(m) => {
                Some(m.content.iter().map(|c| c.text.as_str()).collect())
            }
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Half an ans"], "{items:#?}");
    assert!(matches!(items.last(), Some(ThreadItem::SdkHiddenContext(_))), "{items:#?}");
}

/// The binary's exit and its stderr when it is started with `env` on a Lambda runtime.
async fn start_failure(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let runtime = Runtime::start().await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_turns"));
    command
        .env_remove("OPENAI_API_KEY_SECRET_ARN")
        .env_remove("CHATKIT_JWT_SECRET_ARN")
        .env_remove("CHATKIT_DEV_AUTH")
        .env_remove("CHATKIT_MCP_SERVERS")
        .env("CHATKIT_JWT_SECRET", JWT_SECRET)
        .env("OPENAI_API_KEY", "sk-turns-e2e")
        .env("CHATKIT_TABLE_NAME", unique("start"))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "turns")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the function stops at start instead of serving")
        .unwrap();
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn a_malformed_setting_or_dev_auth_when_deployed_stops_the_start() {
    let (status, stderr) = start_failure(&[("CHATKIT_MCP_SERVERS", "[{\"name\": \"docs\"")]).await;
    assert!(!status.success() && stderr.contains("CHATKIT_MCP_SERVERS"), "{status}: {stderr}");
    let (status, stderr) =
        start_failure(&[("CHATKIT_DEV_AUTH", "1"), ("LAMBDA_TASK_ROOT", "/var/task")]).await;
    assert!(!status.success() && stderr.contains("CHATKIT_DEV_AUTH"), "{status}: {stderr}");
}
