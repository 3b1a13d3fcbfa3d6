//! The function set's numbers (issues 16 and 19), per release binary (`turns`, `threads` and
//! the all-in-one `chatkit`): its size and its zip's (deflate -9, as `make package` measures
//! the arm64 ones), its init (spawn → its first served request: wall and
//! server CPU), its server CPU per request of each of its operations at concurrency 1 and 16
//! on production-shaped data ([`crate::seed`]), its peak RSS under the load of its own
//! operations, the server's share of the time to the first delta on the binaries that stream
//! turns, and what 1 M `threads.list` calls cost on `threads` at 128 MB against `chatkit` at
//! 256 MB.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_testkit::model::Stub;
use serde_json::{json, Value};

use crate::chatkit::{json_request, streamed, Chatkit, Result, Spawn};
use crate::edge::{cpu_time, cpu_time_precise, CpuRun};
use crate::phases::{add_body, create_body, unique};
use crate::stats::{round, Summary, Table};
use crate::Settings;

/// Lambda's CPU share is proportional to memory: one full vCPU at 1 769 MB.
const FULL_VCPU_MB: f64 = 1769.0;
/// arm64 price, us-east-1: per GB-second and per request.
const GB_SECOND_USD: f64 = 0.000_013_333_4;
const REQUEST_USD: f64 = 0.000_000_2;

pub struct FunctionRun {
    pub name: &'static str,
    pub binary_bytes: u64,
    /// the binary deflated at level 9, as in the function's zip
    pub zip_bytes: u64,
    /// spawn → the first request of its own answered, per fresh start
    pub init_wall_ms: Vec<f64>,
    /// server CPU from spawn to that answer
    pub init_cpu_ms: Vec<f64>,
    /// VmHWM after the load of its own operations
    pub peak_rss_kib: u64,
    pub load: String,
    /// server CPU per request of its own operations
    pub cpu: Vec<CpuRun>,
    /// the server's share of the time to first delta (`threads.create`, then
    /// `threads.add_user_message`), on the functions that stream turns
    pub first_delta: Option<crate::phases::Turns>,
}

/// `threads.list` (20 threads) on one function at one memory size.
pub struct ListCost {
    pub name: &'static str,
    pub memory_mb: f64,
    pub cpu_ms: f64,
    pub latency_p50_ms: f64,
}

impl ListCost {
    /// Duration on Lambda: the waiting (local latency less CPU) plus the CPU stretched by the
    /// memory size's CPU share; billed rounded up to the millisecond.
    fn billed_ms(&self) -> f64 {
        let waiting = (self.latency_p50_ms - self.cpu_ms).max(0.0);
        (waiting + self.cpu_ms * (FULL_VCPU_MB / self.memory_mb).max(1.0)).ceil()
    }

    /// The duration charge of 1 M calls (the request charge, $0.20, comes on top).
    fn compute_usd_per_million(&self) -> f64 {
        let gb_seconds = self.billed_ms() / 1e3 * self.memory_mb / 1024.0;
        gb_seconds * GB_SECOND_USD * 1e6
    }
}

pub struct FunctionsRun {
    pub functions: Vec<FunctionRun>,
    pub list_costs: Vec<ListCost>,
}

/// The request each function serves first: the cheapest of its own.
fn first_request(name: &str) -> Value {
    match name {
        "turns" => json!({"type": "turns.cancel", "params": {"turn_id": "bench-init"}}),
        _ => json!({"type": "threads.list", "params": {"limit": 20}}),
    }
}

pub async fn run(client: &reqwest::Client, settings: &Settings) -> Result<FunctionsRun> {
    let stub = Stub::start_paced(settings.pacing).await;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let table = format!("chatkit-bench-functions-{stamp}");
    let bin = |name: &str| -> PathBuf { settings.bin.with_file_name(name) };
    let paths: Vec<(&str, PathBuf)> =
        ["threads", "turns", "chatkit"].into_iter().map(|name| (name, bin(name))).collect();
    // previews are presigned as in production (no request reaches the bucket)
    let env = [("CHATKIT_ATTACHMENTS_BUCKET", crate::seed::BUCKET)];
    let spawn = |name: &str, create_table| Spawn {
        bin: &paths.iter().find(|(n, _)| *n == name).expect("a function of the set").1,
        model_api: "responses",
        stub_url: &stub.url,
        table: &table,
        create_table,
        env: &env,
    };
    // the table made by the all-in-one binary; production-shaped threads and items to list
    let mut seeder = Chatkit::spawn(&spawn("chatkit", true))?;
    seeder.wait_ready(client, USER, Duration::from_secs(60)).await?;
    seeder.stop().await;
    let thread_id = crate::seed::realistic(&table, USER, 30, 20).await?;

    let mut functions = Vec::new();
    let mut list_costs = Vec::new();
    for name in ["threads", "turns", "chatkit"] {
        eprintln!("bench: function set: {name}");
        let binary = std::fs::read(bin(name)).map_err(|e| {
            format!(
                "{}: {e} (build it with `cargo build --release -p {name}`)",
                bin(name).display()
            )
        })?;
        let binary_bytes = binary.len() as u64;
        let zip_bytes = zipped_len(&binary)?;
        drop(binary);
        let (mut init_wall_ms, mut init_cpu_ms) = (Vec::new(), Vec::new());
        for _ in 0..settings.first_starts {
            let mut process = Chatkit::spawn(&spawn(name, false))?;
            process.wait_listening(client, Duration::from_secs(60)).await?;
            let (_, answer) =
                json_request(client, &process.endpoint(), USER, &first_request(name)).await?;
            if answer.get("error").is_some() {
                return Err(format!("{name}: its first request failed: {answer}").into());
            }
            init_wall_ms.push(process.spawned.elapsed().as_secs_f64() * 1e3);
            init_cpu_ms.push(cpu_time_precise(process.pid)?.as_secs_f64() * 1e3);
            process.stop().await;
        }
        let mut process = Chatkit::spawn(&spawn(name, false))?;
        process.wait_listening(client, Duration::from_secs(60)).await?;
        let list = first_request("threads");
        let load = if name == "turns" {
            crate::phases::memory(client, &process, settings.concurrent_turns).await?;
            format!("{} concurrent turns", settings.concurrent_turns)
        } else {
            let n = settings.list_requests;
            let c = settings.list_concurrency;
            crate::phases::concurrent_requests(client, &process, USER, list.clone(), c, n).await?;
            if name == "chatkit" {
                crate::phases::memory(client, &process, settings.concurrent_turns).await?;
                format!(
                    "{n} threads.list at {c}, then {} concurrent turns",
                    settings.concurrent_turns
                )
            } else {
                format!("{n} threads.list at concurrency {c}")
            }
        };
        let (peak_rss_kib, _) = process.memory_kib()?;
        let cpu = cpu_per_operation(client, settings, &process, name, &thread_id).await?;
        // after the CPU runs, so that their figures stay comparable with earlier runs
        let first_delta = match name {
            "threads" => None,
            _ => Some(first_delta(client, settings, &process, &stub, name).await?),
        };
        if let Some(list) = cpu.iter().find(|r| r.operation.starts_with("threads.list")) {
            let memory_mb = if name == "threads" { 128.0 } else { 256.0 };
            list_costs.push(ListCost {
                name,
                memory_mb,
                cpu_ms: list.cpu_per_request_ms,
                latency_p50_ms: list.latency_p50_ms,
            });
        }
        process.stop().await;
        functions.push(FunctionRun {
            name,
            binary_bytes,
            zip_bytes,
            init_wall_ms,
            init_cpu_ms,
            peak_rss_kib,
            load,
            cpu,
            first_delta,
        });
    }
    Ok(FunctionsRun { functions, list_costs })
}

/// The user whose production-shaped threads are listed.
const USER: &str = "bench-functions";

/// Server CPU per request of the function's own operations at concurrency 1 and
/// `list_concurrency`: the JSON reads on `threads` and `chatkit` (on the seeded data), streamed
/// turns on `turns` and `chatkit` (the stub's pacing; each worker adds to its own thread).
async fn cpu_per_operation(
    client: &reqwest::Client,
    settings: &Settings,
    process: &Chatkit,
    name: &str,
    thread_id: &str,
) -> Result<Vec<CpuRun>> {
    let mut runs = Vec::new();
    let requests = settings.cpu_requests.min(2000);
    if name != "turns" {
        let reads = [
            ("threads.list (20)", json!({"type": "threads.list", "params": {"limit": 20}})),
            (
                "items.list (20)",
                json!({"type": "items.list", "params": {"thread_id": thread_id, "limit": 20}}),
            ),
        ];
        for (operation, body) in reads {
            for concurrency in [1, settings.list_concurrency] {
                runs.push(
                    crate::edge::cpu_per_request(
                        client,
                        process,
                        USER,
                        operation,
                        body.clone(),
                        concurrency,
                        requests,
                    )
                    .await?,
                );
            }
        }
    }
    if name != "threads" {
        for concurrency in [1, settings.list_concurrency] {
            runs.push(cpu_per_turn(client, process, concurrency, settings.turns).await?);
        }
    }
    Ok(runs)
}

/// The server's share of the time to first delta, as the main section measures it for
/// `chatkit`: sequential creates, then messages on one thread, for a user of its own.
async fn first_delta(
    client: &reqwest::Client,
    settings: &Settings,
    process: &Chatkit,
    stub: &Stub,
    name: &str,
) -> Result<crate::phases::Turns> {
    let user = format!("bench-functions-ttfd-{name}");
    let (creates, warmup, measured) =
        (settings.create_turns, settings.warmup_turns, settings.turns);
    crate::phases::turns(client, process, stub, &user, creates, warmup, measured).await
}

/// Server CPU per streamed turn: `concurrency` workers each create a thread, then add
/// messages to it until `total` turns (creates included) have run.
async fn cpu_per_turn(
    client: &reqwest::Client,
    process: &Chatkit,
    concurrency: usize,
    total: usize,
) -> Result<CpuRun> {
    let endpoint = process.endpoint();
    let per_worker = total.div_ceil(concurrency).max(2);
    let cpu_before = cpu_time(process.pid)?;
    let started = std::time::Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        async move {
            let mut latencies = Vec::new();
            let first = streamed(&client, &endpoint, USER, &create_body(&unique("hi"))).await?;
            latencies.push((first.done - first.sent).as_secs_f64() * 1e3);
            let thread = first.thread_id.ok_or("threads.create streamed no thread.created")?;
            for _ in 1..per_worker {
                let turn =
                    streamed(&client, &endpoint, USER, &add_body(&thread, &unique("more"))).await?;
                latencies.push((turn.done - turn.sent).as_secs_f64() * 1e3);
            }
            Ok::<_, crate::chatkit::Error>(latencies)
        }
    });
    let latencies: Vec<f64> =
        futures::future::try_join_all(workers).await?.into_iter().flatten().collect();
    let wall = started.elapsed();
    let cpu = cpu_time(process.pid)?.saturating_sub(cpu_before);
    Ok(CpuRun {
        operation: "streamed turn".into(),
        concurrency,
        requests: latencies.len(),
        returned: 0,
        cpu_per_request_ms: cpu.as_secs_f64() * 1e3 / latencies.len() as f64,
        wall_ms: wall.as_secs_f64() * 1e3,
        latency_p50_ms: Summary::of(&latencies).map_or(f64::NAN, |s| s.p50),
    })
}

/// The size of `binary` deflated at level 9: what its zip (one file) weighs. For the binary
/// built here (x86-64 under `make bench`); `make package` prints the arm64 zips.
fn zipped_len(binary: &[u8]) -> Result<u64> {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(std::io::sink(), flate2::Compression::best());
    encoder
        .write_all(binary)
        .and_then(|()| encoder.try_finish())
        .map_err(|e| format!("deflate: {e}"))?;
    Ok(encoder.total_out())
}

pub fn render(run: &FunctionsRun) -> (String, Value) {
    let p50 = |v: &[f64]| Summary::of(v).map_or(f64::NAN, |s| s.p50);
    let mut table = Table::new(
        "The function set (release binaries, local HTTP mode, DynamoDB Local)",
        &[
            "function",
            "binary MB",
            "zip MB",
            "init wall p50 ms",
            "init CPU p50 ms",
            "peak RSS MB",
            "load",
        ],
    );
    let mut functions = Vec::new();
    for f in &run.functions {
        let mb = f.binary_bytes as f64 / 1e6;
        let zip_mb = f.zip_bytes as f64 / 1e6;
        let rss = f.peak_rss_kib as f64 / 1024.0;
        table.row(vec![
            f.name.into(),
            format!("{mb:.1}"),
            format!("{zip_mb:.1}"),
            format!("{:.1}", p50(&f.init_wall_ms)),
            format!("{:.1}", p50(&f.init_cpu_ms)),
            format!("{rss:.1}"),
            f.load.clone(),
        ]);
        let overhead = |pick: fn(&crate::phases::Turns) -> &[f64]| {
            f.first_delta.as_ref().map_or(Value::Null, |t| crate::stats::summary_json(pick(t)))
        };
        functions.push(json!({
            "function": f.name, "binary_bytes": f.binary_bytes, "zip_bytes": f.zip_bytes,
            "first_delta_overhead_ms": {
                "create": overhead(|t| &t.create.overhead_ms),
                "add": overhead(|t| &t.add.overhead_ms),
            },
            "init_wall_ms": crate::stats::summary_json(&f.init_wall_ms),
            "init_cpu_ms": crate::stats::summary_json(&f.init_cpu_ms),
            "peak_rss_kib": f.peak_rss_kib, "load": f.load,
            "cpu_per_request": f.cpu.iter().map(|r| json!({
                "operation": r.operation, "concurrency": r.concurrency, "requests": r.requests,
                "returned": r.returned, "cpu_ms_per_request": round(r.cpu_per_request_ms),
                "latency_p50_ms": round(r.latency_p50_ms),
            })).collect::<Vec<_>>(),
        }));
    }
    let mut cpu = Table::new(
        "CPU per request by operation (user + system time of the process over the run; production-shaped threads and items)",
        &["function", "operation", "concurrency", "requests", "CPU ms/request", "p50 latency ms"],
    );
    for f in &run.functions {
        for r in &f.cpu {
            cpu.row(vec![
                f.name.into(),
                r.operation.clone(),
                r.concurrency.to_string(),
                r.requests.to_string(),
                format!("{:.3}", r.cpu_per_request_ms),
                format!("{:.2}", r.latency_p50_ms),
            ]);
        }
    }
    let mut first_delta = Table::new(
        "Server overhead to the first delta (Responses API, sequential turns; ms = client's time to first delta − the stub's own)",
        &["function | turn", "n", "min", "p50", "p90", "p99", "max"],
    );
    for f in &run.functions {
        if let Some(turns) = &f.first_delta {
            let label = |turn: &str| format!("{} | {turn}", f.name);
            first_delta.summary_row(&label("threads.create"), &turns.create.overhead_ms, 2);
            first_delta.summary_row(&label("add_user_message"), &turns.add.overhead_ms, 2);
        }
    }
    let mut costs = Table::new(
        "1 M threads.list (20 threads): Lambda cost from the measured CPU and latency",
        &[
            "function",
            "memory MB",
            "CPU ms",
            "local p50 ms",
            "billed ms",
            "GB-s per 1 M",
            "USD per 1 M (+ $0.20 requests)",
        ],
    );
    let mut cost_json = Vec::new();
    for c in &run.list_costs {
        costs.row(vec![
            c.name.into(),
            format!("{}", c.memory_mb),
            format!("{:.3}", c.cpu_ms),
            format!("{:.3}", c.latency_p50_ms),
            format!("{}", c.billed_ms()),
            format!("{:.0}", c.billed_ms() / 1e3 * c.memory_mb / 1024.0 * 1e6),
            format!("{:.4}", c.compute_usd_per_million()),
        ]);
        cost_json.push(json!({
            "function": c.name, "memory_mb": c.memory_mb, "cpu_ms": round(c.cpu_ms),
            "latency_p50_ms": round(c.latency_p50_ms), "billed_ms": c.billed_ms(),
            "compute_usd_per_million": round(c.compute_usd_per_million()),
            "request_usd_per_million": REQUEST_USD * 1e6,
        }));
    }
    let text = format!(
        "{}\n{}\n{}\n{}\nBilled ms = (local p50 − CPU) + CPU × max(1, 1769 MB / memory), rounded up: Lambda's CPU share is proportional to memory. arm64 prices: $0.0000133334 per GB-s, $0.20 per 1 M requests.\n",
        table.render(),
        cpu.render(),
        first_delta.render(),
        costs.render()
    );
    (text, json!({"functions": functions, "threads_list_cost": cost_json}))
}
