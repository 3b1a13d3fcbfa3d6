//! The measured phases. Every loop is bounded by a count; every request by a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chatkit::{
    json_request, log_field, streamed, user_input, Chatkit, Result, Spawn, StreamedTurn,
};
use chatkit_testkit::model::Stub;

const READY_LIMIT: Duration = Duration::from_secs(60);
const LOG_WAIT: Duration = Duration::from_secs(5);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One cold start.
pub struct ColdStart {
    pub listening_ms: f64,
    pub ready_ms: f64,
    /// Latency of the first `threads.list` alone (lazy init + the query).
    pub first_list_ms: f64,
    /// A second `threads.list` right after (warm).
    pub warm_list_ms: f64,
}

pub async fn cold_start(client: &reqwest::Client, spawn: &Spawn<'_>) -> Result<ColdStart> {
    let mut chatkit = Chatkit::spawn(spawn)?;
    let result = async {
        let (listening, ready) = chatkit.wait_ready(client, "bench-init", READY_LIMIT).await?;
        let (warm, _) = json_request(
            client,
            &chatkit.endpoint(),
            "bench-init",
            &json!({"type": "threads.list", "params": {}}),
        )
        .await?;
        // the first threads.list went out right after /healthz answered; its own latency is
        // what is left of `ready` once the process listened
        Ok(ColdStart {
            listening_ms: ms(listening),
            ready_ms: ms(ready),
            first_list_ms: ms(ready - listening),
            warm_list_ms: ms(warm),
        })
    }
    .await;
    chatkit.stop().await;
    result
}

pub fn create_body(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": user_input(text)}})
}

pub fn add_body(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input(text)}})
}

/// `text` with a number no other message of this run has: the same input within the duplicate
/// window is a double submit (409).
pub fn unique(text: &str) -> String {
    static SENT: AtomicUsize = AtomicUsize::new(0);
    format!("{text} {}", SENT.fetch_add(1, Ordering::Relaxed))
}

/// Creates a thread (one streamed turn) and returns its id.
pub async fn create_thread(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    user: &str,
) -> Result<String> {
    let turn = streamed(client, &chatkit.endpoint(), user, &create_body(&unique("hi"))).await?;
    turn.thread_id.ok_or_else(|| "threads.create streamed no thread.created".into())
}

/// Peak RSS (KiB) after one streamed turn, then after `concurrent` concurrent streamed turns.
pub struct Memory {
    pub after_one_kib: u64,
    pub after_concurrent_kib: u64,
    pub rss_end_kib: u64,
    pub concurrent: usize,
    pub concurrent_wall_ms: f64,
}

pub async fn memory(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    concurrent: usize,
) -> Result<Memory> {
    create_thread(client, chatkit, "bench-rss").await?;
    let (after_one, _) = chatkit.memory_kib()?;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..concurrent)
        .map(|i| {
            let client = client.clone();
            let endpoint = chatkit.endpoint();
            tokio::spawn(async move {
                streamed(
                    &client,
                    &endpoint,
                    "bench-rss",
                    &create_body(&unique(&format!("hello {i}"))),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let wall = started.elapsed();
    let (after_concurrent, rss) = chatkit.memory_kib()?;
    Ok(Memory {
        after_one_kib: after_one,
        after_concurrent_kib: after_concurrent,
        rss_end_kib: rss,
        concurrent,
        concurrent_wall_ms: ms(wall),
    })
}

/// Time to first delta of sequential streamed turns, split around the model call.
#[derive(Default)]
pub struct Ttfd {
    /// client: request sent → first text_delta frame received
    pub ttfd_ms: Vec<f64>,
    /// stub: request arrival → first delta handed to hyper
    pub stub_ms: Vec<f64>,
    /// ttfd − stub: the server's own share
    pub overhead_ms: Vec<f64>,
    /// request sent → model request arrived at the stub
    pub before_model_ms: Vec<f64>,
    /// first token left the stub → first delta frame at the client
    pub after_token_ms: Vec<f64>,
    /// client: request sent → end of stream
    pub total_ms: Vec<f64>,
    pub frames: Vec<f64>,
}

impl Ttfd {
    /// Runs one streamed request and records it (the stub must see exactly one streamed call).
    async fn measure(
        &mut self,
        client: &reqwest::Client,
        chatkit: &Chatkit,
        stub: &Stub,
        user: &str,
        body: &Value,
    ) -> Result<StreamedTurn> {
        let index = stub.stream_count();
        let turn = streamed(client, &chatkit.endpoint(), user, body).await?;
        let timing = stub.stream(index).ok_or("the stub saw no model request for a turn")?;
        if stub.stream_count() != index + 1 {
            return Err("a turn made more than one streamed model request".into());
        }
        let first_delta = turn.first_delta.ok_or("a turn streamed no text delta")?;
        let token_sent = timing.first_token_sent.ok_or("the stub never sent the first token")?;
        let ttfd = first_delta - turn.sent;
        let stub_own = token_sent - timing.arrived;
        self.ttfd_ms.push(ms(ttfd));
        self.stub_ms.push(ms(stub_own));
        self.overhead_ms.push(ms(ttfd) - ms(stub_own));
        self.before_model_ms.push(ms(timing.arrived.saturating_duration_since(turn.sent)));
        self.after_token_ms.push(ms(first_delta.saturating_duration_since(token_sent)));
        self.total_ms.push(ms(turn.done - turn.sent));
        self.frames.push(turn.frames as f64);
        Ok(turn)
    }
}

/// Sequential turns: `creates` new threads, then `warmup` + `measured` messages on the first.
#[derive(Default)]
pub struct Turns {
    pub create: Ttfd,
    pub add: Ttfd,
    /// per `stream finished` log line of the measured phase
    pub create_store_requests: Vec<f64>,
    pub add_store_requests: Vec<f64>,
    pub stream_ms_logged: Vec<f64>,
}

pub async fn turns(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    stub: &Stub,
    user: &str,
    creates: usize,
    warmup: usize,
    measured: usize,
) -> Result<Turns> {
    let mut out = Turns::default();
    let log_start = chatkit.log_len();
    let mut thread_id = None;
    for i in 0..creates.max(1) {
        let turn = out
            .create
            .measure(client, chatkit, stub, user, &create_body(&unique(&format!("new thread {i}"))))
            .await?;
        thread_id = thread_id.or(turn.thread_id);
    }
    let thread_id = thread_id.ok_or("threads.create streamed no thread.created")?;
    let mut warm = Ttfd::default();
    for i in 0..warmup + measured {
        let target = if i < warmup { &mut warm } else { &mut out.add };
        target
            .measure(client, chatkit, stub, user, &add_body(&thread_id, &format!("turn {i}")))
            .await?;
    }
    let finished = chatkit
        .logs_since(log_start, "stream finished", creates.max(1) + warmup + measured, LOG_WAIT)
        .await;
    let mut adds_seen = 0;
    for line in &finished {
        let requests =
            log_field(line, "store_requests").and_then(Value::as_f64).unwrap_or(f64::NAN);
        match log_field(line, "operation").and_then(Value::as_str) {
            Some("threads.create") => out.create_store_requests.push(requests),
            Some("threads.add_user_message") => {
                adds_seen += 1;
                if adds_seen > warmup {
                    out.add_store_requests.push(requests);
                    if let Some(v) = log_field(line, "stream_ms").and_then(Value::as_f64) {
                        out.stream_ms_logged.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Seeds `threads` threads for `user` (sequential creates), then grows the first to
/// `items` items (user + assistant per turn). Returns the first thread's id and the
/// `store_requests` of every seeding create.
pub async fn seed(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    user: &str,
    threads: usize,
    items: usize,
) -> Result<(String, Vec<f64>)> {
    let log_start = chatkit.log_len();
    let first = create_thread(client, chatkit, user).await?;
    for _ in 1..threads {
        create_thread(client, chatkit, user).await?;
    }
    for i in 1..items.div_ceil(2) {
        streamed(client, &chatkit.endpoint(), user, &add_body(&first, &format!("more {i}")))
            .await?;
    }
    let finished = chatkit.logs_since(log_start, "stream finished", threads, LOG_WAIT).await;
    let creates = finished
        .iter()
        .filter(|l| log_field(l, "operation").and_then(Value::as_str) == Some("threads.create"))
        .filter_map(|l| log_field(l, "store_requests").and_then(Value::as_f64))
        .collect();
    Ok((first, creates))
}

/// Latencies (ms) of `total` identical JSON requests over `concurrency` workers, after a warm-up.
pub struct Load {
    pub latencies_ms: Vec<f64>,
    pub wall_ms: f64,
    pub returned: usize,
    pub store_requests: Vec<f64>,
}

/// Sends `total` identical JSON requests over `concurrency` workers (keep-alive): their
/// latencies (ms) and the wall time of the whole run.
pub async fn concurrent_requests(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    user: &str,
    body: Value,
    concurrency: usize,
    total: usize,
) -> Result<(Vec<f64>, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, endpoint, user, body, next) =
                (client.clone(), chatkit.endpoint(), user.to_string(), body.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let (elapsed, _) = json_request(&client, &endpoint, &user, &body).await?;
                    latencies.push(ms(elapsed));
                }
                Ok::<_, crate::chatkit::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok((latencies, started.elapsed()))
}

pub async fn load(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    user: &str,
    body: Value,
    concurrency: usize,
    total: usize,
) -> Result<Load> {
    for _ in 0..concurrency.max(10) {
        json_request(client, &chatkit.endpoint(), user, &body).await?;
    }
    let (_, sample) = json_request(client, &chatkit.endpoint(), user, &body).await?;
    let returned = sample["data"].as_array().map_or(0, Vec::len);
    let log_start = chatkit.log_len();
    let (latencies_ms, wall) =
        concurrent_requests(client, chatkit, user, body, concurrency, total).await?;
    let wall_ms = ms(wall);
    let logged = chatkit.logs_since(log_start, "json response", total, LOG_WAIT).await;
    let store_requests = logged
        .iter()
        .filter_map(|l| log_field(l, "store_requests").and_then(Value::as_f64))
        .collect();
    Ok(Load { latencies_ms, wall_ms, returned, store_requests })
}
