//! The real `threads` binary in its Lambda mode (buffered responses through a stand-in
//! Runtime API), on DynamoDB Local and moto's S3: the reads and writes it serves, and the
//! clear refusal of a turn sent to it.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_dynamodb::DynamoStore;
use chatkit_protocol::{ThreadItem, ThreadMetadata, UserMessageItem};
use chatkit_store::prelude::*;
use chatkit_store::UserId;
use chatkit_testkit::runtime::{function_url_event, Runtime};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const JWT_SECRET: &str = "threads-e2e-secret-0123456789abcdef012345";

fn unique(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("threads-{name}-{}-{nanos}", std::process::id())
}

fn token(sub: &str) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({"sub": sub, "exp": exp});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The binary in Lambda mode against `runtime`, on `table` and `bucket`. No model settings:
/// it needs none.
fn lambda(runtime: &Runtime, table: &str, bucket: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_threads"))
        .env_remove("CHATKIT_JWT_SECRET_ARN")
        .env_remove("CHATKIT_DEV_AUTH")
        .env_remove("OPENAI_API_KEY")
        .env("CHATKIT_JWT_SECRET", JWT_SECRET)
        .env("CHATKIT_TABLE_NAME", table)
        .env("CHATKIT_ATTACHMENTS_BUCKET", bucket)
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "threads")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the threads binary in Lambda mode")
}

/// One invocation: the response's status and its JSON body.
async fn call(runtime: &Runtime, user: &str, body: Value) -> (u64, Value) {
    let id = unique("req");
    let event = function_url_event(&token(user), &body);
    let mut invocation = runtime.invoke(
        &id,
        event,
        Duration::from_secs(30),
        chatkit_testkit::runtime::Reading::ToTheEnd,
    );
    let response = invocation.buffered().await;
    let status = response["statusCode"].as_u64().expect("a status code");
    let body = response["body"].as_str().expect("a text body");
    (status, serde_json::from_str(body).expect("a JSON body"))
}

/// A thread with one user message, written straight to the table (`threads` creates none).
async fn seed(store: &DynamoStore, user: &str, title: &str) -> String {
    let id = chatkit_store::ids::new_id("thr");
    let mut thread = ThreadMetadata::new(&id, chatkit_protocol::timestamp::now());
    thread.title = Some(title.into());
    let message = json!({"type": "user_message", "id": chatkit_store::ids::new_id("msg"), "thread_id": id,
        "created_at": "2026-12-01T00:00:00Z", "content": [{"type": "input_text", "text": "hi"}],
        "attachments": [], "inference_options": {}});
    let item: UserMessageItem = serde_json::from_value(message).unwrap();
    store
        .create_thread(&UserId::new(user), &thread, &[ThreadItem::UserMessage(item)])
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn threads_serves_reads_and_writes_and_refuses_turns() {
    let (table, bucket) = (unique("table"), unique("bucket").to_lowercase());
    let sdk = sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build(),
    );
    s3.create_bucket().bucket(&bucket).send().await.expect("moto create_bucket");
    let store = DynamoStore::new(&sdk, &table);
    chatkit_dynamodb::create_table(store.client(), &table).await.unwrap();
    let thread_id = seed(&store, "ada", "Order 42").await;

    let runtime = Runtime::start().await;
    let _function = lambda(&runtime, &table, &bucket);

    let (status, page) = call(&runtime, "ada", json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["id"], thread_id.as_str());
    assert_eq!(page["data"][0]["title"], "Order 42");

    let get = json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}});
    let (status, thread) = call(&runtime, "ada", get.clone()).await;
    assert_eq!(status, 200, "{thread}");
    assert_eq!(thread["items"]["data"][0]["type"], "user_message");
    // another user's token does not reach it
    assert_eq!(call(&runtime, "bob", get.clone()).await.0, 404);

    let rename =
        json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Shipped"}});
    assert_eq!(call(&runtime, "ada", rename).await.0, 200);
    assert_eq!(
        store.load_thread(&UserId::new("ada"), &thread_id).await.unwrap().title.as_deref(),
        Some("Shipped")
    );

    // it presigns uploads to the bucket
    let upload = json!({"type": "attachments.create", "params": {"name": "notes.txt", "size": 12, "mime_type": "text/plain"}});
    let (status, attachment) = call(&runtime, "ada", upload).await;
    assert_eq!(status, 200, "{attachment}");
    assert!(
        attachment["upload_descriptor"]["url"].as_str().unwrap().contains(&bucket),
        "{attachment}"
    );

    // a turn sent here is refused, naming the function that serves it, and stores nothing
    let create = json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}});
    let (status, error) = call(&runtime, "ada", create).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "wrong_function");
    assert_eq!(error["error"]["function"], "turns");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`threads.create` is served by the `turns` function"));
    let (_, page) = call(&runtime, "ada", json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");

    let delete = json!({"type": "threads.delete", "params": {"thread_id": thread_id}});
    assert_eq!(call(&runtime, "ada", delete).await.0, 200);
    assert_eq!(call(&runtime, "ada", get).await.0, 404);
}
