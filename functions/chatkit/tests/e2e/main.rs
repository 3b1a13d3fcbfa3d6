//! End to end through the real `chatkit` binary in its local HTTP mode: DynamoDB Local for
//! the store, moto for Secrets Manager (the JWT secret and the model API key are read from
//! it), and an OpenAI-compatible stub for the model. Run through `make test`, which starts
//! DynamoDB Local and moto around the tests.

use chatkit_testkit::model as stub;

mod cookie;
use chatkit_testkit::mcp as mcp_server;

mod attachments;
mod function;
mod lambda;
mod mcp;
mod settings;
mod token_exchange;

use std::time::{SystemTime, UNIX_EPOCH};

use function::Function;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use stub::{chat_text, Stub};

pub const JWT_SECRET: &str = "e2e-jwt-secret-0123456789abcdef0123456789";
pub const MODEL_KEY: &str = "sk-e2e-model-key";

pub fn token(sub: &str) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    encode(
        &Header::default(),
        &json!({"sub": sub, "exp": exp}),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

#[tokio::test]
async fn a_conversation_end_to_end_with_secrets_from_secrets_manager() {
    let stub = Stub::start().await;
    stub.set_title("Greetings");
    stub.push(chat_text(&["Hello", " from", " the stub"]));
    let f = Function::start(&stub, JWT_SECRET, MODEL_KEY).await;
    let ada = token("ada");

    // create → a streamed reply
    let events = f
        .stream(
            &ada,
            json!({"type": "threads.create", "params": {"input": message("Hi!")},
        "metadata": {"pageContext": {"url": "https://app.test/orders/42", "title": "Order 42"}}}),
        )
        .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(&types[..3], ["thread.created", "thread.item.done", "stream_options"], "{types:?}");
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
        .map(|e| e["update"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["Hello", " from", " the stub"]);
    assert!(types.contains(&"thread.updated"), "title: {types:?}");
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();

    // the model call used the key from Secrets Manager, and never saw the user's token
    let requests = stub.requests();
    assert!(
        requests.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {MODEL_KEY}"))),
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| !r.body.to_string().contains(&ada)));
    assert!(
        stub.model_bodies()[0].to_string().contains("https://app.test/orders/42"),
        "page context reached the model"
    );

    // list → get → update → delete
    let (status, list) = f.json(&ada, json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["id"], thread_id.as_str());
    assert_eq!(list["data"][0]["title"], "Greetings");
    let (_, thread) = f
        .json(&ada, json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    let items = thread["items"]["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["content"][0]["text"], "Hello from the stub");
    let (_, updated) = f.json(&ada, json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Renamed"}})).await;
    assert_eq!(updated["title"], "Renamed");

    // another user holding the id sees nothing
    let (status, _) = f
        .json(
            &token("bob"),
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await;
    assert_eq!(status, 404);

    let (status, _) =
        f.json(&ada, json!({"type": "threads.delete", "params": {"thread_id": thread_id}})).await;
    assert_eq!(status, 200);
    let (status, body) = f
        .json(&ada, json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["request_id"].is_string());
}

#[tokio::test]
async fn auth_cors_and_limits_over_http() {
    let stub = Stub::start().await;
    let f = Function::start(&stub, JWT_SECRET, MODEL_KEY).await;
    let list = json!({"type": "threads.list", "params": {}});

    let no_token = f.post(None, &list.to_string(), &[]).await;
    assert_eq!(no_token.status(), 401);
    let body: Value = no_token.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let forged = encode(
        &Header::default(),
        &json!({"sub": "ada", "exp": 4102444800u64}),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-00"),
    )
    .unwrap();
    assert_eq!(f.post(Some(&forged), &list.to_string(), &[]).await.status(), 401);
    assert_eq!(
        f.post(None, &list.to_string(), &[("x-user-id", "ada")]).await.status(),
        401,
        "dev auth is off"
    );

    let preflight = f
        .client
        .request(reqwest::Method::OPTIONS, &f.url)
        .header("origin", "http://app.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://app.test");
    // a fixed list, not whatever the preflight asks for
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        chatkit_gateway::ALLOWED_HEADERS
    );
    assert_eq!(preflight.headers()["access-control-allow-credentials"], "true");
    let ok = f.post(Some(&token("ada")), &list.to_string(), &[("origin", "http://app.test")]).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://app.test");
    let other =
        f.post(Some(&token("ada")), &list.to_string(), &[("origin", "http://evil.test")]).await;
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let big = json!({"type": "threads.create", "params": {"input": message(&"x".repeat(70_000))}});
    let too_big = f.post(Some(&token("ada")), &big.to_string(), &[]).await;
    assert_eq!(too_big.status(), 413);
    let body: Value = too_big.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_placeholder_model_key_becomes_the_real_key_within_the_refresh_period() {
    let stub = Stub::start().await;
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        "REPLACE_WITH_YOUR_OPENAI_API_KEY",
        &[("CHATKIT_SECRET_REFRESH_SECONDS", "1")],
    )
    .await;
    let ada = token("ada");
    stub.push(chat_text(&["before"]));
    let events = f
        .stream(&ada, json!({"type": "threads.create", "params": {"input": message("Hi!")}}))
        .await;
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    let streamed = |stub: &Stub| -> Vec<Option<String>> {
        stub.requests()
            .into_iter()
            .filter(|r| r.body["stream"] == true)
            .map(|r| r.authorization)
            .collect()
    };
    assert_eq!(streamed(&stub), [None], "the placeholder is never sent as a key");

    // the operator puts the real key in; no redeploy, no restart
    function::put_secret(&f.key_arn, "sk-the-real-key").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stub.push(chat_text(&["after"]));
    let add = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message("again")}});
    f.stream(&ada, add).await;
    assert_eq!(streamed(&stub), [None, Some("Bearer sk-the-real-key".to_string())]);
}

#[tokio::test]
async fn a_user_over_the_turn_limit_gets_429_with_retry_after_and_the_model_is_not_called() {
    let stub = Stub::start().await;
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        // a turn reserves its first round's worst case, 2 000 in + 100 out; the day has room
        // for that plus about 20 tokens
        &[
            ("CHATKIT_TURNS_PER_MINUTE", "1000"),
            ("CHATKIT_TOKENS_PER_DAY", "2120"),
            ("CHATKIT_MODEL_INPUT_TOKEN_BUDGET", "2000"),
            ("CHATKIT_MAX_OUTPUT_TOKENS", "100"),
        ],
    )
    .await;
    let ada = token("ada");
    stub.push(chat_text(&["a reply that costs 12 tokens"]));
    f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("first")}})).await;
    let calls = stub.model_bodies().len();
    stub.push(chat_text(&["second reply"]));
    f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("second")}})).await;
    // 24 tokens today: no room left for another turn's 2 100 (counted in DynamoDB, so every
    // container agrees)
    let refused = f
        .post(
            Some(&ada),
            &json!({"type": "threads.create", "params": {"input": message("third")}}).to_string(),
            &[],
        )
        .await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(stub.model_bodies().len(), calls + 1, "no model call for the refused turn");
    // another user is not affected
    stub.push(chat_text(&["hi bob"]));
    f.stream(
        &token("bob"),
        json!({"type": "threads.create", "params": {"input": message("hello")}}),
    )
    .await;
    let (status, list) = f.json(&ada, json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "nothing stored for the refused turn");
}

/// The JSON lines of the function's log that carry `field` (metrics, logs).
fn log_lines_with(f: &Function, field: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(&f.log_file).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get(field).is_some())
        .collect()
}

/// The log lines carrying `field`, once there are `count` (waits up to 5 s; the warm-up runs
/// alongside serving).
async fn wait_for_lines_with(f: &Function, field: &str, count: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = log_lines_with(f, field);
        if lines.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    lines
}

#[tokio::test]
async fn the_function_warms_up_as_it_starts_and_writes_metric_lines() {
    let stub = Stub::start().await;
    let f = Function::start(&stub, JWT_SECRET, MODEL_KEY).await;
    // the warm-up started with the process (alongside serving) and wrote its metric line
    let warm = wait_for_lines_with(&f, "WarmUpTime", 1).await;
    assert_eq!(warm.len(), 1, "{warm:?}");
    assert_eq!(warm[0]["WarmUpFailures"], 0.0, "{warm:?}");
    assert_eq!(warm[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ChatKit");

    stub.push(chat_text(&["measured"]));
    let ada = token("ada");
    f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("hello")}})).await;
    let (status, _) = f.json(&ada, json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200);
    // per request (operation, latency, DynamoDB requests and time), per stream, per turn (model)
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = log_lines_with(&f, "_aws");
        if lines.iter().any(|l| l.get("TimeToFirstToken").is_some())
            && lines.iter().any(|l| l["Operation"] == "threads.list")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = lines
        .iter()
        .find(|l| l["Operation"] == "threads.list")
        .expect("a threads.list metric line");
    assert_eq!(list["DynamoDBRequests"], 1.0);
    assert!(
        list["Latency"].as_f64().unwrap() > 0.0 && list["DynamoDBTime"].as_f64().unwrap() > 0.0,
        "{list}"
    );
    let stream =
        lines.iter().find(|l| l.get("StreamTime").is_some()).expect("a stream metric line");
    assert_eq!(stream["Operation"], "threads.create");
    assert!(stream["DynamoDBRequests"].as_f64().unwrap() >= 2.0, "{stream}");
    let turn =
        lines.iter().find(|l| l.get("TimeToFirstToken").is_some()).expect("a model metric line");
    assert_eq!(
        (turn["InputTokens"].as_f64(), turn["OutputTokens"].as_f64()),
        (Some(9.0), Some(3.0)),
        "{turn}"
    );
    assert_eq!(turn["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Model"]]));
}

#[tokio::test]
async fn a_failed_warm_up_is_logged_and_the_function_still_starts() {
    let stub = Stub::start().await;
    // Secrets Manager unreachable from the function (the secrets exist in moto, the function
    // is pointed elsewhere): the keys cannot be read at warm-up
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{dead}");
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint.as_str())],
    )
    .await;
    let warm = wait_for_lines_with(&f, "WarmUpTime", 1).await;
    assert!(warm[0]["WarmUpFailures"].as_f64().unwrap() >= 1.0, "{warm:?}");
    let logged = std::fs::read_to_string(&f.log_file).unwrap();
    assert!(logged.contains("warm-up step failed"), "{logged}");
    // it serves: a request that needs the key is a clean 503, retried (and failing) per request
    let (status, body) = f.json(&token("ada"), json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
}
