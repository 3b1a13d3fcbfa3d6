//! `make bench`: measures the release `chatkit` binary (and `turns` and `threads`: see
//! [`functions`]) against an in-process model stub and
//! DynamoDB Local (run under `scripts/with-dynamodb.sh`). Prints a plain-text report and writes
//! it as JSON to `target/bench/report.json`. Numbers only: nothing here asserts a target.
//!
//! Settings (environment): BENCH_CHATKIT_BIN, BENCH_COLD_STARTS (5), BENCH_TURNS (50),
//! BENCH_WARMUP_TURNS (3), BENCH_CREATE_TURNS (10), BENCH_FIRST_TOKEN_MS (50), BENCH_CHUNKS (20), BENCH_CHUNK_MS (5),
//! BENCH_TITLE_MS (50), BENCH_CONCURRENT_TURNS (16), BENCH_LIST_REQUESTS (400),
//! BENCH_LIST_CONCURRENCY (16), BENCH_SEED_THREADS (30), BENCH_SEED_ITEMS (40),
//! BENCH_TIME_LIMIT_S (900, per section).
//! Edge (issue 11): BENCH_CPU_REQUESTS (3000 per CPU run), BENCH_FIRST_STARTS (5 fresh starts
//! each with warm-up on and off). BENCH_ONLY picks sections, comma-separated: `main` (init to
//! load), `functions` (the function set), `sizes` (the memory-size table); all when unset.
//! A run of some sections updates them in the last `report.json` and keeps the others.

mod chatkit;
mod edge;
mod functions;
mod load;
mod phases;
mod report;
mod seed;
mod sizes;
mod stats;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit::{http_client, Chatkit, Result, Spawn};
use chatkit_testkit::model::{Pacing, Stub};
use serde_json::json;

pub struct Settings {
    pub bin: PathBuf,
    pub report_dir: PathBuf,
    pub cold_starts: usize,
    pub turns: usize,
    pub warmup_turns: usize,
    pub create_turns: usize,
    pub pacing: Pacing,
    pub concurrent_turns: usize,
    pub list_requests: usize,
    pub list_concurrency: usize,
    pub seed_threads: usize,
    pub seed_items: usize,
    pub time_limit: Duration,
    pub cpu_requests: usize,
    pub first_starts: usize,
}

fn env_num(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|_| format!("{name}: not a number: {v:?}").into())
        }
        _ => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Self> {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().map_or_else(|| manifest.join(".."), PathBuf::from);
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let bin = std::env::var_os("BENCH_CHATKIT_BIN")
            .map_or_else(|| target.join("release").join("chatkit"), PathBuf::from);
        let ms = |name, default| env_num(name, default).map(Duration::from_millis);
        Ok(Self {
            bin,
            report_dir: target.join("bench"),
            cold_starts: env_num("BENCH_COLD_STARTS", 5)?.clamp(1, 50) as usize,
            turns: env_num("BENCH_TURNS", 50)?.clamp(1, 1000) as usize,
            warmup_turns: env_num("BENCH_WARMUP_TURNS", 3)?.min(100) as usize,
            create_turns: env_num("BENCH_CREATE_TURNS", 10)?.clamp(1, 1000) as usize,
            pacing: Pacing {
                first_token: ms("BENCH_FIRST_TOKEN_MS", 50)?,
                chunks: env_num("BENCH_CHUNKS", 20)?.clamp(1, 10_000) as usize,
                chunk_gap: ms("BENCH_CHUNK_MS", 5)?,
                title_delay: ms("BENCH_TITLE_MS", 50)?,
            },
            concurrent_turns: env_num("BENCH_CONCURRENT_TURNS", 16)?.clamp(1, 256) as usize,
            list_requests: env_num("BENCH_LIST_REQUESTS", 400)?.clamp(1, 100_000) as usize,
            list_concurrency: env_num("BENCH_LIST_CONCURRENCY", 16)?.clamp(1, 256) as usize,
            seed_threads: env_num("BENCH_SEED_THREADS", 30)?.clamp(1, 1000) as usize,
            seed_items: env_num("BENCH_SEED_ITEMS", 40)?.clamp(2, 1000) as usize,
            time_limit: Duration::from_secs(env_num("BENCH_TIME_LIMIT_S", 900)?),
            cpu_requests: env_num("BENCH_CPU_REQUESTS", 3000)?.clamp(1, 1_000_000) as usize,
            first_starts: env_num("BENCH_FIRST_STARTS", 5)?.clamp(1, 50) as usize,
        })
    }
}

/// Per model API results.
pub struct ApiRun {
    pub api: &'static str,
    pub memory: phases::Memory,
    pub turns: phases::Turns,
}

/// Everything measured.
pub struct Results {
    pub binary_bytes: u64,
    pub first_start: phases::ColdStart,
    pub cold_starts: Vec<phases::ColdStart>,
    pub apis: Vec<ApiRun>,
    pub seed_creates: Vec<f64>,
    pub loads: Vec<(String, usize, phases::Load)>,
    pub side_calls: (usize, usize),
    pub edge: edge::Edge,
}

async fn run(settings: &Settings) -> Result<Results> {
    let binary_bytes = std::fs::metadata(&settings.bin)
        .map_err(|e| {
            format!(
                "{}: {e} (build it with `cargo build --release -p chatkit`)",
                settings.bin.display()
            )
        })?
        .len();
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        return Err(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run under scripts/with-dynamodb.sh (make bench)"
                .into(),
        );
    }
    let client = http_client()?;
    let stub = Stub::start_paced(settings.pacing).await;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let table = format!("chatkit-bench-{stamp}");
    // previews are presigned as in production (no request reaches the bucket)
    let env = [("CHATKIT_ATTACHMENTS_BUCKET", seed::BUCKET)];
    let spawn = |model_api, create_table| Spawn {
        bin: &settings.bin,
        model_api,
        stub_url: &stub.url,
        table: &table,
        create_table,
        env: &env,
    };

    eprintln!("bench: cold starts ({} + 1 that creates the table)", settings.cold_starts);
    let first_start = phases::cold_start(&client, &spawn("responses", true)).await?;
    let mut cold_starts = Vec::new();
    for _ in 0..settings.cold_starts {
        cold_starts.push(phases::cold_start(&client, &spawn("responses", false)).await?);
    }

    let mut first = Vec::new();
    for warm_up in [true, false] {
        eprintln!(
            "bench: first request after {} fresh starts, warm-up {}",
            settings.first_starts,
            if warm_up { "on" } else { "off" }
        );
        first.push(
            edge::first_requests(
                &client,
                &spawn("responses", false),
                warm_up,
                settings.first_starts,
            )
            .await?,
        );
    }
    let mut cpu = Vec::new();

    let mut apis = Vec::new();
    let mut seed_creates = Vec::new();
    let mut loads = Vec::new();
    for api in ["responses", "chat_completions"] {
        eprintln!("bench: {api}: peak RSS");
        stub.set_pacing(settings.pacing);
        let mut chatkit = Chatkit::spawn(&spawn(api, false))?;
        chatkit.wait_ready(&client, "bench-ready", Duration::from_secs(60)).await?;
        let memory = phases::memory(&client, &chatkit, settings.concurrent_turns).await?;
        // the list phase runs first: it also warms DynamoDB Local's JVM (JIT) before any turn is timed
        if api == "responses" {
            eprintln!(
                "bench: seeding {} threads and a {}-item thread",
                settings.seed_threads, settings.seed_items
            );
            stub.set_pacing(Pacing {
                first_token: Duration::ZERO,
                chunks: 3,
                chunk_gap: Duration::ZERO,
                title_delay: Duration::ZERO,
            });
            // through the API: what a create costs in store requests
            let (_, creates) = phases::seed(&client, &chatkit, "bench-seed", 10, 2).await?;
            seed_creates = creates;
            // production-shaped threads and items, listed below
            let thread_id =
                seed::realistic(&table, "bench-list", settings.seed_threads, settings.seed_items)
                    .await?;
            for (name, body) in [
                ("threads.list", json!({"type": "threads.list", "params": {}})),
                ("items.list", json!({"type": "items.list", "params": {"thread_id": thread_id}})),
            ] {
                for concurrency in [1, settings.list_concurrency] {
                    eprintln!(
                        "bench: {name} x{} at concurrency {concurrency}",
                        settings.list_requests
                    );
                    let load = phases::load(
                        &client,
                        &chatkit,
                        "bench-list",
                        body.clone(),
                        concurrency,
                        settings.list_requests,
                    )
                    .await?;
                    loads.push((name.to_string(), concurrency, load));
                }
            }
            let list20 = json!({"type": "threads.list", "params": {"limit": 20}});
            for concurrency in [1, settings.list_concurrency] {
                eprintln!("bench: server CPU of threads.list (20 threads) x{} at concurrency {concurrency}", settings.cpu_requests);
                cpu.push(
                    edge::cpu_per_request(
                        &client,
                        &chatkit,
                        "bench-list",
                        "threads.list (20)",
                        list20.clone(),
                        concurrency,
                        settings.cpu_requests,
                    )
                    .await?,
                );
            }
            stub.set_pacing(settings.pacing);
        }
        eprintln!("bench: {api}: {} timed turns", settings.turns);
        let turns = phases::turns(
            &client,
            &chatkit,
            &stub,
            &format!("bench-turns-{api}"),
            settings.create_turns,
            settings.warmup_turns,
            settings.turns,
        )
        .await?;
        chatkit.stop().await;
        apis.push(ApiRun { api, memory, turns });
    }
    Ok(Results {
        binary_bytes,
        first_start,
        cold_starts,
        apis,
        seed_creates,
        loads,
        side_calls: stub.side_calls(),
        edge: edge::Edge { cpu, first },
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // which sections: all by default; `make bench` runs each on a fresh DynamoDB Local, as
    // DynamoDB Local slows down after the load section's 800 turns
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let sections: Vec<&str> = match only.trim() {
        "" => vec!["main", "functions", "sizes"],
        list => list.split(',').map(str::trim).collect(),
    };
    if let Some(unknown) = sections.iter().find(|s| !["main", "functions", "sizes"].contains(s)) {
        eprintln!("bench: BENCH_ONLY names `{unknown}`: the sections are main, functions, sizes");
        return std::process::ExitCode::FAILURE;
    }
    let report_path = settings.report_dir.join("report.json");
    // a run of some sections updates them in the last report and keeps the others
    let (mut text, mut json) = (String::new(), serde_json::Value::Object(Default::default()));
    if !sections.contains(&"main") {
        if let Ok(last) = std::fs::read(&report_path) {
            json = serde_json::from_slice(&last).unwrap_or(json);
        }
    }
    let limit = settings.time_limit;
    let fail = std::process::ExitCode::FAILURE;
    let client = http_client().unwrap_or_default();
    if sections.contains(&"main") {
        // every child is spawned with kill_on_drop: leaving `run` (also by error or timeout)
        // kills it
        let Some(results) = step("main", limit, run(&settings)).await else { return fail };
        (text, json) = report::render(&settings, &results);
        // the load run (issue 10): its own process, table and report section
        eprintln!("bench: load");
        let Some(run) = step("load", limit, load::run(&client, &settings)).await else {
            return fail;
        };
        add_section(&mut text, &mut json, "load", load::render(&run));
    }
    if sections.contains(&"functions") {
        // the function set (issue 16): per-binary size, init, peak RSS, and the read cost
        eprintln!("bench: function set");
        let run = async { Ok(functions::render(&functions::run(&client, &settings).await?)) };
        let Some(section) = step("function set", limit, run).await else { return fail };
        add_section(&mut text, &mut json, "functions", section);
    }
    if sections.contains(&"sizes") {
        // the memory size that bills least (issue 19): the binary under Lambda's CPU share
        eprintln!("bench: memory sizes");
        let run = async { Ok(sizes::render(&sizes::run(&client, &settings).await?)) };
        let Some(section) = step("memory sizes", limit, run).await else { return fail };
        add_section(&mut text, &mut json, "sizes", section);
    }
    println!("{text}");
    let written = std::fs::create_dir_all(&settings.report_dir).and_then(|_| {
        std::fs::write(&report_path, serde_json::to_string_pretty(&json).unwrap_or_default())
    });
    match written {
        Ok(()) => {
            println!("JSON report: {}", report_path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: cannot write {}: {e}", report_path.display());
            std::process::ExitCode::FAILURE
        }
    }
}

/// Appends a section's text to the report and puts its JSON under `key`.
fn add_section(
    text: &mut String,
    json: &mut serde_json::Value,
    key: &str,
    (section, section_json): (String, serde_json::Value),
) {
    text.push_str(&section);
    json[key] = section_json;
}

/// Runs one section of the bench within `limit`; `None` when it failed or ran out of time
/// (said on stderr).
async fn step<T>(
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Option<T> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            eprintln!("bench: {what} failed: {e}");
            None
        }
        Err(_) => {
            eprintln!("bench: {what} gave up after {limit:?}");
            None
        }
    }
}
