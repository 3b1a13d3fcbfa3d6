//! Sustained load (issue 10): `streams` concurrent clients, each one user with one thread,
//! each running `turns` streamed turns one after the other (a `threads.create`, then
//! `threads.add_user_message`s), against a fresh release `chatkit` on its own DynamoDB Local
//! table. Afterwards every thread is read back through the API (`threads.list`, every page of
//! `items.list`) and compared with what the clients were told: messages lost, duplicated,
//! replies missing, errors by kind, and the process's peak RSS. Numbers only.
//!
//! Settings (environment): BENCH_LOAD_STREAMS (16), BENCH_LOAD_TURNS (50 per stream).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::chatkit::{json_request, streamed, Chatkit, Result, Spawn};
use crate::phases::{add_body, create_body};
use crate::stats::{round, summary_json, Table, SUMMARY_HEADER};
use crate::{env_num, Settings};
use chatkit_testkit::model::Stub;

/// What the load run measured.
pub struct LoadRun {
    pub streams: usize,
    pub turns_per_stream: usize,
    pub wall_ms: f64,
    /// Whole turn (request sent → end of stream) of every successful turn.
    pub turn_ms: Vec<f64>,
    /// Request sent → first text delta, of every successful turn.
    pub first_delta_ms: Vec<f64>,
    /// Failed turns by kind (HTTP status, `error` event, transport).
    pub errors: BTreeMap<String, usize>,
    pub peak_rss_kib: u64,
    pub check: ReadBack,
}

/// The table read back through the API, against what the clients saw.
#[derive(Default)]
pub struct ReadBack {
    /// Turns answered in full: their message and its reply must be stored once.
    pub expected_messages: usize,
    pub stored_messages: usize,
    pub stored_replies: usize,
    /// Messages of completed turns that are not stored.
    pub lost: usize,
    /// Messages stored more than once (counted once per extra copy), and repeated item ids.
    pub duplicated: usize,
    /// Completed turns without exactly one reply after their message.
    pub replies_missing: usize,
    /// Messages of failed turns that are stored anyway (they may be, once).
    pub stored_from_failed_turns: usize,
    /// Threads per user beyond the one each stream created.
    pub extra_threads: usize,
    /// `items.list` pages read.
    pub pages: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn error_kind(error: &str) -> String {
    if let Some(rest) = error.strip_prefix("streamed request answered ") {
        format!("HTTP {}", rest.split(':').next().unwrap_or(rest).trim())
    } else if error.starts_with("stream error event") {
        "error event".into()
    } else {
        "transport".into()
    }
}

struct StreamResult {
    user: String,
    thread_id: Option<String>,
    /// The text of every turn and whether it completed.
    turns: Vec<(String, bool)>,
    turn_ms: Vec<f64>,
    first_delta_ms: Vec<f64>,
    errors: Vec<String>,
}

async fn one_stream(
    client: reqwest::Client,
    endpoint: String,
    user: String,
    turns: usize,
) -> StreamResult {
    let mut out = StreamResult {
        user,
        thread_id: None,
        turns: Vec::new(),
        turn_ms: Vec::new(),
        first_delta_ms: Vec::new(),
        errors: Vec::new(),
    };
    for turn in 0..turns {
        let text = format!("{} turn {turn}", out.user);
        let body = match &out.thread_id {
            None => create_body(&text),
            Some(id) => add_body(id, &text),
        };
        match streamed(&client, &endpoint, &out.user, &body).await {
            Ok(t) => {
                out.thread_id = out.thread_id.take().or(t.thread_id);
                out.turn_ms.push(ms(t.done - t.sent));
                if let Some(first) = t.first_delta {
                    out.first_delta_ms.push(ms(first - t.sent));
                }
                out.turns.push((text, true));
            }
            Err(e) => {
                out.errors.push(error_kind(&e.to_string()));
                // without a thread yet, the next turn creates one
                out.turns.push((text, false));
            }
        }
    }
    out
}

/// Every item of a thread, through `items.list` pages of 100, oldest first.
async fn all_items(
    client: &reqwest::Client,
    endpoint: &str,
    user: &str,
    thread_id: &str,
    pages: &mut usize,
) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut params = json!({"thread_id": thread_id, "limit": 100, "order": "asc"});
        if let Some(cursor) = &after {
            params["after"] = json!(cursor);
        }
        let (_, page) =
            json_request(client, endpoint, user, &json!({"type": "items.list", "params": params}))
                .await?;
        *pages += 1;
        items.extend(page["data"].as_array().cloned().unwrap_or_default());
        after = page["after"].as_str().map(str::to_string);
        if page["has_more"] != json!(true) || after.is_none() || *pages > 100_000 {
            return Ok(items);
        }
    }
}

fn user_text(item: &Value) -> Option<String> {
    (item["type"] == "user_message").then(|| {
        item["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .collect::<String>()
    })
}

async fn read_back(
    client: &reqwest::Client,
    endpoint: &str,
    results: &[StreamResult],
) -> Result<ReadBack> {
    let mut check = ReadBack::default();
    for stream in results {
        let (_, threads) = json_request(
            client,
            endpoint,
            &stream.user,
            &json!({"type": "threads.list", "params": {"limit": 100}}),
        )
        .await?;
        let threads = threads["data"].as_array().map_or(0, Vec::len);
        check.extra_threads += threads.saturating_sub(1);
        let completed = stream.turns.iter().filter(|(_, ok)| *ok).count();
        check.expected_messages += completed;
        let Some(thread_id) = &stream.thread_id else {
            check.lost += completed;
            continue;
        };
        let items = all_items(client, endpoint, &stream.user, thread_id, &mut check.pages).await?;
        let mut ids = HashMap::new();
        for item in &items {
            *ids.entry(item["id"].as_str().unwrap_or_default().to_string()).or_insert(0usize) += 1;
        }
        check.duplicated += ids.values().map(|n| n - 1).sum::<usize>();
        let mut copies: HashMap<String, usize> = HashMap::new();
        for text in items.iter().filter_map(user_text) {
            *copies.entry(text).or_default() += 1;
        }
        check.stored_messages += items.iter().filter(|i| i["type"] == "user_message").count();
        check.stored_replies += items.iter().filter(|i| i["type"] == "assistant_message").count();
        for (text, ok) in &stream.turns {
            let n = copies.get(text).copied().unwrap_or(0);
            check.duplicated += n.saturating_sub(1);
            match (ok, n) {
                (true, 0) => check.lost += 1,
                (false, n) if n > 0 => check.stored_from_failed_turns += 1,
                _ => {}
            }
            if *ok && n > 0 {
                // exactly one reply between this message and the next user message
                let at = items
                    .iter()
                    .position(|i| user_text(i).as_deref() == Some(text.as_str()))
                    .unwrap_or(0);
                let replies = items[at + 1..]
                    .iter()
                    .take_while(|i| i["type"] != "user_message")
                    .filter(|i| i["type"] == "assistant_message")
                    .count();
                if replies != 1 {
                    check.replies_missing += 1;
                }
            }
        }
    }
    Ok(check)
}

/// Runs the load on a fresh process and table.
pub async fn run(client: &reqwest::Client, settings: &Settings) -> Result<LoadRun> {
    let streams = env_num("BENCH_LOAD_STREAMS", 16)?.clamp(1, 256) as usize;
    let turns = env_num("BENCH_LOAD_TURNS", 50)?.clamp(1, 1000) as usize;
    let stub = Stub::start_paced(settings.pacing).await;
    let table =
        format!("chatkit-bench-load-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis());
    let spawn = Spawn {
        bin: &settings.bin,
        model_api: "responses",
        stub_url: &stub.url,
        table: &table,
        create_table: true,
        env: &[],
    };
    let mut chatkit = Chatkit::spawn(&spawn)?;
    chatkit.wait_ready(client, "bench-load-ready", Duration::from_secs(60)).await?;
    let endpoint = chatkit.endpoint();
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            tokio::spawn(one_stream(
                client.clone(),
                endpoint.clone(),
                format!("bench-load-{i}"),
                turns,
            ))
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await?);
    }
    let wall_ms = ms(started.elapsed());
    let (peak_rss_kib, _) = chatkit.memory_kib()?;
    let check = read_back(client, &endpoint, &results).await?;
    chatkit.stop().await;
    let mut errors = BTreeMap::new();
    for kind in results.iter().flat_map(|r| r.errors.iter()) {
        *errors.entry(kind.clone()).or_default() += 1;
    }
    Ok(LoadRun {
        streams,
        turns_per_stream: turns,
        wall_ms,
        turn_ms: results.iter().flat_map(|r| r.turn_ms.iter().copied()).collect(),
        first_delta_ms: results.iter().flat_map(|r| r.first_delta_ms.iter().copied()).collect(),
        errors,
        peak_rss_kib,
        check,
    })
}

/// The report section (text) and its JSON.
pub fn render(run: &LoadRun) -> (String, Value) {
    let c = &run.check;
    let total = run.streams * run.turns_per_stream;
    let failed: usize = run.errors.values().sum();
    let mut out = format!(
        "\nLoad. {} concurrent streams x {} turns ({} turns; each stream one user and one thread), fresh process and table\n",
        run.streams, run.turns_per_stream, total
    );
    out.push_str(&format!(
        "  turns completed {} of {}, failed {} {:?}; wall {:.1} s ({:.1} turns/s); peak RSS (VmHWM) {:.1} MB\n",
        total - failed,
        total,
        failed,
        run.errors,
        run.wall_ms / 1e3,
        (total - failed) as f64 / (run.wall_ms / 1e3),
        run.peak_rss_kib as f64 / 1024.0
    ));
    out.push_str(&format!(
        "  read back (threads.list + {} items.list pages): user messages expected {} / stored {}, replies stored {};\n\
         \x20 lost {}, duplicated {}, completed turns without exactly one reply {}, messages of failed turns stored {}, extra threads {}\n",
        c.pages, c.expected_messages, c.stored_messages, c.stored_replies, c.lost, c.duplicated, c.replies_missing, c.stored_from_failed_turns, c.extra_threads
    ));
    let mut t = Table::new("  Turn latency under load, ms", SUMMARY_HEADER);
    t.summary_row("whole turn (client)", &run.turn_ms, 1);
    t.summary_row("request -> first text delta", &run.first_delta_ms, 1);
    out.push_str(&t.render());
    let json = json!({
        "streams": run.streams, "turns_per_stream": run.turns_per_stream, "turns": total, "failed": failed,
        "errors": run.errors, "wall_s": round(run.wall_ms / 1e3), "peak_rss_mb": round(run.peak_rss_kib as f64 / 1024.0),
        "read_back": {"expected_messages": c.expected_messages, "stored_messages": c.stored_messages, "stored_replies": c.stored_replies,
            "lost": c.lost, "duplicated": c.duplicated, "replies_missing": c.replies_missing,
            "stored_from_failed_turns": c.stored_from_failed_turns, "extra_threads": c.extra_threads, "items_list_pages": c.pages},
        "turn_ms": summary_json(&run.turn_ms), "first_delta_ms": summary_json(&run.first_delta_ms),
    });
    (out, json)
}
