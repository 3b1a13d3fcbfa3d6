//! The `chatkit` child process (plain HTTP mode on a loopback port) and a small ChatKit client.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `chatkit` (killed when dropped).
pub struct Chatkit {
    child: Child,
    pub pid: u32,
    pub spawned: Instant,
    url: String,
    /// Parsed JSON log lines from stdout, in order.
    logs: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

pub struct Spawn<'a> {
    pub bin: &'a Path,
    pub model_api: &'a str,
    pub stub_url: &'a str,
    pub table: &'a str,
    pub create_table: bool,
    /// Extra environment for this process.
    pub env: &'a [(&'a str, &'a str)],
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Chatkit {
    pub fn spawn(opts: &Spawn) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(opts.bin);
        command
            .env("PORT", port.to_string())
            .env("CHATKIT_BIND", "127.0.0.1")
            .env("CHATKIT_DEV_AUTH", "1")
            .env("CHATKIT_TABLE_NAME", opts.table)
            .env("OPENAI_BASE_URL", opts.stub_url)
            .env("OPENAI_API_KEY", "bench")
            .env("CHATKIT_MODEL_API", opts.model_api)
            // the usage limits stay on (their DynamoDB requests are part of what is measured),
            // high enough never to refuse the bench's own turns
            .env("CHATKIT_TURNS_PER_MINUTE", "1000000")
            .env("CHATKIT_TOKENS_PER_DAY", "1000000000")
            .env("CHATKIT_TURNS_IN_FLIGHT", "1000")
            // likewise the per-container limit on reads (counted in memory, measured too)
            .env("CHATKIT_REQUESTS_PER_MINUTE", "1000000")
            .env("RUST_LOG", "info")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            // as on Lambda, whose environment names no certificate directory: the roots come
            // from the system's bundle file alone (shared/gateway/src/roots.rs)
            .env_remove("SSL_CERT_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if opts.create_table {
            command.env("CHATKIT_CREATE_TABLE", "1");
        } else {
            command.env_remove("CHATKIT_CREATE_TABLE");
        }
        command.envs(opts.env.iter().copied());
        let spawned = Instant::now();
        let mut child =
            command.spawn().map_err(|e| format!("cannot start {}: {e}", opts.bin.display()))?;
        let pid = child.id().ok_or("chatkit exited at once")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(value) = serde_json::from_str::<Value>(&line) {
                        logs.lock().unwrap().push(value);
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut kept = stderr.lock().unwrap();
                    if kept.len() < 200 {
                        kept.push(line);
                    }
                }
            });
        }
        Ok(Self { child, pid, spawned, url: format!("http://127.0.0.1:{port}"), logs, stderr })
    }

    pub fn endpoint(&self) -> String {
        format!("{}/chatkit", self.url)
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let tail = self.stderr.lock().unwrap().join("\n");
            let logs: Vec<String> = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .rev()
                .take(10)
                .map(std::string::ToString::to_string)
                .collect();
            return Err(format!(
                "chatkit exited ({status}); stderr:\n{tail}\nlast logs:\n{}",
                logs.join("\n")
            )
            .into());
        }
        Ok(())
    }

    /// Polls `/healthz` (every millisecond) until it answers; returns the time from spawn.
    pub async fn wait_listening(
        &mut self,
        client: &reqwest::Client,
        limit: Duration,
    ) -> Result<Duration> {
        let deadline = self.spawned + limit;
        loop {
            self.check_alive()?;
            if let Ok(r) = client
                .get(format!("{}/healthz", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(self.spawned.elapsed());
                }
            }
            if Instant::now() > deadline {
                return Err("chatkit did not listen in time".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Polls `/healthz` until it answers, then `threads.list` until 200. Returns (listening,
    /// first threads.list answered), both measured from spawn.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        user: &str,
        limit: Duration,
    ) -> Result<(Duration, Duration)> {
        let deadline = self.spawned + limit;
        let listening = loop {
            self.check_alive()?;
            if let Ok(r) = client
                .get(format!("{}/healthz", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status().is_success() {
                    break self.spawned.elapsed();
                }
            }
            if Instant::now() > deadline {
                return Err("chatkit did not listen in time".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        loop {
            self.check_alive()?;
            let r = client
                .post(self.endpoint())
                .header("x-user-id", user)
                .json(&json!({"type": "threads.list", "params": {}}))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status().is_success() {
                    let _ = r.bytes().await;
                    return Ok((listening, self.spawned.elapsed()));
                }
            }
            if Instant::now() > deadline {
                return Err("chatkit did not answer threads.list in time".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Peak and current resident set size in KiB (VmHWM, VmRSS).
    pub fn memory_kib(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        };
        Ok((field("VmHWM:").ok_or("no VmHWM")?, field("VmRSS:").ok_or("no VmRSS")?))
    }

    pub fn log_len(&self) -> usize {
        self.logs.lock().unwrap().len()
    }

    /// Log lines from `from` on whose message is `message` (waits up to `wait` for `count`).
    pub async fn logs_since(
        &self,
        from: usize,
        message: &str,
        count: usize,
        wait: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let found: Vec<Value> = {
                let logs = self.logs.lock().unwrap();
                logs.iter()
                    .skip(from)
                    .filter(|v| log_field(v, "message").and_then(Value::as_str) == Some(message))
                    .cloned()
                    .collect()
            };
            if found.len() >= count || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// A field of a tracing JSON line (top level, or under `fields`).
pub fn log_field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name).or_else(|| line.get("fields").and_then(|f| f.get(name)))
}

pub fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().timeout(REQUEST_TIMEOUT).tcp_nodelay(true).build()?)
}

pub fn user_input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

/// What the client saw of one streamed turn.
pub struct StreamedTurn {
    pub sent: Instant,
    pub first_delta: Option<Instant>,
    pub done: Instant,
    pub thread_id: Option<String>,
    pub frames: usize,
}

/// Sends a streamed request and reads the SSE body to the end.
pub async fn streamed(
    client: &reqwest::Client,
    endpoint: &str,
    user: &str,
    body: &Value,
) -> Result<StreamedTurn> {
    let payload = serde_json::to_vec(body)?;
    let sent = Instant::now();
    let response = client
        .post(endpoint)
        .header("x-user-id", user)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("streamed request answered {status}: {text}").into());
    }
    let mut turn = StreamedTurn { sent, first_delta: None, done: sent, thread_id: None, frames: 0 };
    let mut buffer: Vec<u8> = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let received = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&frame);
            for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let Ok(event) = serde_json::from_str::<Value>(data) else { continue };
                turn.frames += 1;
                match event["type"].as_str() {
                    Some("thread.created") => {
                        turn.thread_id = event["thread"]["id"].as_str().map(str::to_string);
                    }
                    Some("thread.item.updated")
                        if turn.first_delta.is_none()
                            && event["update"]["type"]
                                == "assistant_message.content_part.text_delta" =>
                    {
                        turn.first_delta = Some(received);
                    }
                    Some("error") => return Err(format!("stream error event: {event}").into()),
                    _ => {}
                }
            }
        }
    }
    turn.done = Instant::now();
    Ok(turn)
}

/// Sends a JSON (non-streamed) request; returns the latency and parsed body.
pub async fn json_request(
    client: &reqwest::Client,
    endpoint: &str,
    user: &str,
    body: &Value,
) -> Result<(Duration, Value)> {
    let sent = Instant::now();
    let response = client.post(endpoint).header("x-user-id", user).json(body).send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let elapsed = sent.elapsed();
    if !status.is_success() {
        return Err(format!(
            "{} answered {status}: {}",
            body["type"],
            String::from_utf8_lossy(&bytes)
        )
        .into());
    }
    Ok((elapsed, serde_json::from_slice(&bytes)?))
}
