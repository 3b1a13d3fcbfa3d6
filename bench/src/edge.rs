//! Issue 11's numbers: server CPU per request (from the process's own CPU time in
//! `/proc/<pid>/stat`), the first request after a fresh start with and without the init-phase
//! warm-up (`CHATKIT_WARMUP`), and (in the report) the first-delta overhead of `threads.create`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::chatkit::{json_request, Chatkit, Result, Spawn};
use crate::stats::{round, summary_json, Table, SUMMARY_HEADER};

/// User + system CPU time of a process so far (all its threads, also those that ended).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis
    let rest = stat.rsplit_once(')').ok_or("unexpected /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields 14 and 15 (utime, stime) are the 12th and 13th after the name
    let ticks = |i: usize| {
        fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or("unexpected /proc/<pid>/stat")
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks_per_second()))
}

/// The CPU time of a process's live threads, to the nanosecond (the sum of
/// `/proc/<pid>/task/*/schedstat`): for a start-up of tens of milliseconds, where clock ticks
/// (10 ms) are too coarse. Threads that already ended are not counted; a fresh process's
/// are all alive. Falls back to [`cpu_time`] where schedstat is missing.
pub fn cpu_time_precise(pid: u32) -> Result<Duration> {
    let mut total = 0u64;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return cpu_time(pid) };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            return cpu_time(pid);
        };
        total += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    if total == 0 {
        return cpu_time(pid);
    }
    Ok(Duration::from_nanos(total))
}

/// `getconf CLK_TCK` (USER_HZ, the unit of /proc's CPU times): 100 on Linux.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Server CPU per request of one JSON operation over keep-alive connections.
pub struct CpuRun {
    pub operation: String,
    pub concurrency: usize,
    pub requests: usize,
    pub returned: usize,
    /// server CPU (user + system) over the run, divided by the requests
    pub cpu_per_request_ms: f64,
    /// wall time over the requests
    pub wall_ms: f64,
    pub latency_p50_ms: f64,
}

/// Sends `total` identical requests over `concurrency` workers (after a short warm-up) and
/// reads the server's CPU time before and after.
pub async fn cpu_per_request(
    client: &reqwest::Client,
    chatkit: &Chatkit,
    user: &str,
    operation: &str,
    body: Value,
    concurrency: usize,
    total: usize,
) -> Result<CpuRun> {
    for _ in 0..concurrency.max(20) {
        json_request(client, &chatkit.endpoint(), user, &body).await?;
    }
    let (_, sample) = json_request(client, &chatkit.endpoint(), user, &body).await?;
    let returned = sample["data"].as_array().map_or(0, Vec::len);
    let cpu_before = cpu_time(chatkit.pid)?;
    let (latencies, wall) =
        crate::phases::concurrent_requests(client, chatkit, user, body, concurrency, total).await?;
    let cpu = cpu_time(chatkit.pid)?.saturating_sub(cpu_before);
    let p50 = crate::stats::Summary::of(&latencies).map_or(f64::NAN, |s| s.p50);
    Ok(CpuRun {
        operation: operation.to_string(),
        concurrency,
        requests: total,
        returned,
        cpu_per_request_ms: cpu.as_secs_f64() * 1e3 / total as f64,
        wall_ms: wall.as_secs_f64() * 1e3,
        latency_p50_ms: p50,
    })
}

/// The first request after a fresh start, with or without warm-up.
pub struct FirstRequest {
    pub warm_up: bool,
    /// spawn -> the process answers `/healthz` (with warm-up: after it ran)
    pub listening_ms: Vec<f64>,
    /// the first `threads.list` alone
    pub first_request_ms: Vec<f64>,
    /// spawn -> the first `threads.list` answered
    pub ready_ms: Vec<f64>,
    /// the request right after it
    pub second_request_ms: Vec<f64>,
    /// server CPU from spawn to the first answer (to the nanosecond: [`cpu_time_precise`])
    pub cpu_to_first_answer_ms: Vec<f64>,
}

/// `starts` fresh processes with `CHATKIT_WARMUP` on or off; each answers one `threads.list`
/// sent as soon as it listens, then a second.
pub async fn first_requests(
    client: &reqwest::Client,
    spawn: &Spawn<'_>,
    warm_up: bool,
    starts: usize,
) -> Result<FirstRequest> {
    let env = [("CHATKIT_WARMUP", if warm_up { "1" } else { "0" })];
    let spawn = Spawn { env: &env, ..*spawn };
    let mut out = FirstRequest {
        warm_up,
        listening_ms: vec![],
        first_request_ms: vec![],
        ready_ms: vec![],
        second_request_ms: vec![],
        cpu_to_first_answer_ms: vec![],
    };
    let list = json!({"type": "threads.list", "params": {"limit": 20}});
    for _ in 0..starts {
        let mut chatkit = Chatkit::spawn(&spawn)?;
        let result = async {
            let listening = chatkit.wait_listening(client, Duration::from_secs(60)).await?;
            let (first, _) =
                json_request(client, &chatkit.endpoint(), "bench-first", &list).await?;
            let ready = chatkit.spawned.elapsed();
            let cpu = cpu_time_precise(chatkit.pid)?;
            let (second, _) =
                json_request(client, &chatkit.endpoint(), "bench-first", &list).await?;
            Ok::<_, crate::chatkit::Error>((listening, first, ready, cpu, second))
        }
        .await;
        chatkit.stop().await;
        let (listening, first, ready, cpu, second) = result?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        out.listening_ms.push(ms(listening));
        out.first_request_ms.push(ms(first));
        out.ready_ms.push(ms(ready));
        out.cpu_to_first_answer_ms.push(ms(cpu));
        out.second_request_ms.push(ms(second));
    }
    Ok(out)
}

/// What the edge phases measured.
pub struct Edge {
    pub cpu: Vec<CpuRun>,
    pub first: Vec<FirstRequest>,
}

/// The report's section on these numbers (text, JSON). `create_overhead` is the server's share
/// of the time to the first delta of `threads.create`, per model API.
pub fn render(edge: &Edge, create_overhead: &[(&str, &[f64], &[f64])]) -> (String, Value) {
    let mut out = String::new();
    let mut t = Table::new(
        "7. Server CPU per request (user + system time of the chatkit process from /proc/<pid>/stat, over all requests; DynamoDB Local, keep-alive)",
        &["", "requests", "returned", "CPU ms/request", "p50 latency ms", "req/s"],
    );
    for run in &edge.cpu {
        t.row(vec![
            format!("{} @ concurrency {}", run.operation, run.concurrency),
            run.requests.to_string(),
            run.returned.to_string(),
            format!("{:.3}", run.cpu_per_request_ms),
            format!("{:.2}", run.latency_p50_ms),
            format!("{:.0}", run.requests as f64 / (run.wall_ms / 1e3)),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("  CPU time is counted in clock ticks (10 ms); over thousands of requests that is well under 1% of the total.\n\n");

    let mut t = Table::new("8. First request after a fresh start, ms (threads.list of the user's threads, sent as soon as /healthz answers)", SUMMARY_HEADER);
    for first in &edge.first {
        let label =
            |what: &str| format!("warm-up {}: {what}", if first.warm_up { "on " } else { "off" });
        t.summary_row(&label("first request"), &first.first_request_ms, 2);
        t.summary_row(&label("second request"), &first.second_request_ms, 2);
        t.summary_row(&label("spawn -> listening"), &first.listening_ms, 1);
        t.summary_row(&label("spawn -> first answer"), &first.ready_ms, 1);
        t.summary_row(&label("CPU spawn -> first answer"), &first.cpu_to_first_answer_ms, 1);
    }
    out.push_str(&t.render());
    out.push_str(
        "  With warm-up the AWS config, clients, one DynamoDB call and the secrets run before the process listens (on Lambda: in\n\
         \x20 the init phase); without it the first request pays for them. Loopback DynamoDB Local over plain HTTP: no TLS handshake\n\
         \x20 and no network round trip, so on AWS the difference is larger.\n\n",
    );

    let mut t = Table::new(
        "9. threads.create: time to first delta minus the stub model's first-token delay, ms",
        SUMMARY_HEADER,
    );
    for (api, overhead, before_model) in create_overhead {
        t.summary_row(&format!("{api}: first-delta overhead"), overhead, 2);
        t.summary_row(&format!("{api}:   request -> model call"), before_model, 2);
    }
    out.push_str(&t.render());
    out.push('\n');

    let json = json!({
        "cpu_per_request": edge.cpu.iter().map(|r| json!({
            "operation": r.operation, "concurrency": r.concurrency, "requests": r.requests, "returned": r.returned,
            "cpu_ms_per_request": round(r.cpu_per_request_ms), "latency_p50_ms": round(r.latency_p50_ms),
            "requests_per_s": round(r.requests as f64 / (r.wall_ms / 1e3)),
        })).collect::<Vec<_>>(),
        "first_request_after_start": edge.first.iter().map(|f| json!({
            "warm_up": f.warm_up,
            "first_request_ms": summary_json(&f.first_request_ms),
            "second_request_ms": summary_json(&f.second_request_ms),
            "spawn_to_listening_ms": summary_json(&f.listening_ms),
            "spawn_to_first_answer_ms": summary_json(&f.ready_ms),
            "cpu_spawn_to_first_answer_ms": summary_json(&f.cpu_to_first_answer_ms),
        })).collect::<Vec<_>>(),
        "create_first_delta_overhead_ms": create_overhead.iter().map(|(api, overhead, before_model)| (api.to_string(), json!({
            "overhead": summary_json(overhead), "request_to_model_call": summary_json(before_model),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    (out, json)
}
