//! Starts the real binary against DynamoDB Local, moto and the model stub.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::stub::Stub;

pub struct Function {
    pub url: String,
    pub client: reqwest::Client,
    /// Where the binary's stdout and stderr (its JSON logs) go.
    pub log_file: std::path::PathBuf,
    /// The model key's secret in moto.
    pub key_arn: String,
    _child: Child,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run these tests through `make test`, which starts DynamoDB Local and moto"))
}

pub async fn create_secret(name: &str, value: &str) -> String {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto create_secret");
    out.arn().unwrap().to_string()
}

/// Puts a new current version into a secret (as `aws secretsmanager put-secret-value` does).
pub async fn put_secret(arn: &str, value: &str) {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("moto put_secret_value");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Function {
    pub async fn start(stub: &Stub, jwt_secret: &str, model_key: &str) -> Self {
        Self::start_with(stub, jwt_secret, model_key, &[]).await
    }

    /// Like [`Function::start`], with extra environment variables (set last, so they win).
    pub async fn start_with(
        stub: &Stub,
        jwt_secret: &str,
        model_key: &str,
        env: &[(&str, &str)],
    ) -> Self {
        required("AWS_ENDPOINT_URL_DYNAMODB");
        required("AWS_ENDPOINT_URL_SECRETS_MANAGER");
        // A port alone can repeat: the OS hands a released port out again.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unique = format!("{}-{n}-{}", std::process::id(), free_port());
        let jwt_arn = create_secret(&format!("jwt-{unique}"), jwt_secret).await;
        let key_arn = create_secret(&format!("model-{unique}"), model_key).await;
        let port = free_port();
        let log_file = std::env::temp_dir().join(format!("chatkit-e2e-{unique}.log"));
        let log = std::fs::File::create(&log_file).expect("a log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatkit"));
        command
            .env_remove("OPENAI_API_KEY")
            .env_remove("CHATKIT_DEV_AUTH")
            .env("PORT", port.to_string())
            .env("CHATKIT_TABLE_NAME", format!("e2e-{unique}"))
            .env("CHATKIT_CREATE_TABLE", "1")
            .env("CHATKIT_JWT_SECRET_ARN", jwt_arn)
            .env("OPENAI_API_KEY_SECRET_ARN", &key_arn)
            .env("OPENAI_BASE_URL", &stub.url)
            .env("CHATKIT_MODEL_API", "chat_completions")
            .env("CHATKIT_ALLOWED_ORIGINS", "http://app.test")
            .env("CHATKIT_MAX_BODY_BYTES", "65536")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = command.spawn().expect("start the chatkit binary");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                return Self {
                    url: format!("{base}/chatkit"),
                    client,
                    log_file,
                    key_arn,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the function did not start on port {port}");
    }

    pub async fn post(
        &self,
        token: Option<&str>,
        body: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().await.expect("request")
    }

    pub async fn json(&self, token: &str, body: Value) -> (u16, Value) {
        let response = self.post(Some(token), &body.to_string(), &[]).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Posts a streaming request and parses every SSE frame.
    pub async fn stream(&self, token: &str, body: Value) -> Vec<Value> {
        let response = self.post(Some(token), &body.to_string(), &[]).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut text = String::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        text.split_terminator("\n\n")
            .map(|frame| serde_json::from_str(frame.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }
}
