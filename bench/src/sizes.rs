//! The memory size that bills least (issue 19): Lambda gives CPU in proportion to memory
//! (1 769 MB is one vCPU), so the `chatkit` binary is run under a CPU quota equal to that
//! share at 128, 256, 512 and 1 024 MB (a cgroup's CFS quota), and each size reports the
//! first-delta overhead, whole turns, `threads.list` latency, and the GB-seconds of 1 000
//! turns at the stub's pacing. Needs a writable cgroup `cpu` controller (v1
//! `/sys/fs/cgroup/cpu`, or v2 `cpu.max`); elsewhere the section says it was skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_testkit::model::Stub;
use serde_json::{json, Value};

use crate::chatkit::{json_request, Chatkit, Result, Spawn};
use crate::stats::{round, Summary, Table};
use crate::Settings;

/// One full vCPU.
const FULL_VCPU_MB: f64 = 1769.0;
/// The CFS period the quota is a share of.
const PERIOD_US: u64 = 100_000;
/// The sizes measured.
pub const SIZES_MB: [u32; 4] = [128, 256, 512, 1024];

pub struct SizeRun {
    pub memory_mb: u32,
    pub add_overhead_ms: Vec<f64>,
    pub create_overhead_ms: Vec<f64>,
    pub turn_ms: Vec<f64>,
    pub list_ms: Vec<f64>,
}

impl SizeRun {
    /// Billed GB-seconds of 1 000 turns like the measured ones (each billed its wall time).
    pub fn gb_seconds_per_1000_turns(&self) -> f64 {
        let mean = Summary::of(&self.turn_ms).map_or(f64::NAN, |s| s.mean);
        mean.ceil() / 1e3 * f64::from(self.memory_mb) / 1024.0 * 1000.0
    }
}

pub enum Sizes {
    Measured(Vec<SizeRun>),
    Skipped(String),
}

/// A cgroup whose CPU quota can be set, made for this run and removed when dropped.
struct Quota {
    dir: PathBuf,
    v2: bool,
}

impl Quota {
    fn create() -> std::result::Result<Self, String> {
        let name = format!("chatkit-bench-{}", std::process::id());
        for (root, v2) in
            [(Path::new("/sys/fs/cgroup/cpu"), false), (Path::new("/sys/fs/cgroup"), true)]
        {
            let marker = if v2 { "cpu.max" } else { "cpu.cfs_quota_us" };
            let dir = root.join(&name);
            if std::fs::create_dir(&dir).is_ok() && dir.join(marker).exists() {
                return Ok(Self { dir, v2 });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        Err("no writable cgroup cpu controller (run as root on a host with cgroups)".into())
    }

    fn set(&self, memory_mb: u32) -> std::io::Result<()> {
        let quota = (PERIOD_US as f64 * f64::from(memory_mb) / FULL_VCPU_MB).round() as u64;
        if self.v2 {
            std::fs::write(self.dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))
        } else {
            std::fs::write(self.dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
            std::fs::write(self.dir.join("cpu.cfs_quota_us"), quota.to_string())
        }
    }

    fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

pub async fn run(client: &reqwest::Client, settings: &Settings) -> Result<Sizes> {
    let quota = match Quota::create() {
        Ok(quota) => quota,
        Err(why) => return Ok(Sizes::Skipped(why)),
    };
    let stub = Stub::start_paced(settings.pacing).await;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let table = format!("chatkit-bench-sizes-{stamp}");
    let turns = settings.turns.min(30);
    let mut runs = Vec::new();
    for (i, memory_mb) in SIZES_MB.into_iter().enumerate() {
        eprintln!(
            "bench: memory size {memory_mb} MB (CPU quota {:.1}%)",
            100.0 * f64::from(memory_mb) / FULL_VCPU_MB
        );
        quota.set(memory_mb)?;
        let spawn = Spawn {
            bin: &settings.bin,
            model_api: "responses",
            stub_url: &stub.url,
            table: &table,
            create_table: i == 0,
            env: &[],
        };
        let mut chatkit = Chatkit::spawn(&spawn)?;
        quota.add(chatkit.pid)?;
        chatkit.wait_ready(client, "bench-sizes", Duration::from_secs(120)).await?;
        let user = format!("bench-sizes-{memory_mb}");
        let measured = crate::phases::turns(client, &chatkit, &stub, &user, 5, 3, turns).await?;
        let mut list_ms = Vec::new();
        let list = json!({"type": "threads.list", "params": {"limit": 20}});
        for _ in 0..settings.list_requests.min(200) {
            let (latency, _) = json_request(client, &chatkit.endpoint(), &user, &list).await?;
            list_ms.push(latency.as_secs_f64() * 1e3);
        }
        chatkit.stop().await;
        runs.push(SizeRun {
            memory_mb,
            add_overhead_ms: measured.add.overhead_ms,
            create_overhead_ms: measured.create.overhead_ms,
            turn_ms: measured.add.total_ms,
            list_ms,
        });
    }
    Ok(Sizes::Measured(runs))
}

pub fn render(sizes: &Sizes) -> (String, Value) {
    let runs = match sizes {
        Sizes::Skipped(why) => {
            return (
                format!("\nMemory sizes under Lambda's CPU share: skipped: {why}\n"),
                json!({"skipped": why}),
            )
        }
        Sizes::Measured(runs) => runs,
    };
    let s = |v: &[f64]| Summary::of(v);
    let p = |v: &[f64], f: fn(&Summary) -> f64| s(v).map_or(f64::NAN, |s| f(&s));
    let mut table = Table::new(
        "Memory sizes under Lambda's CPU share (chatkit binary in a cgroup CPU quota)",
        &[
            "memory MB",
            "CPU %",
            "add overhead p50/p99 ms",
            "create overhead p50/p99 ms",
            "turn p50/p99 ms",
            "threads.list p50/p99 ms",
            "GB-s per 1 000 turns",
        ],
    );
    let mut out = Vec::new();
    for r in runs {
        let pair = |v: &[f64]| format!("{:.1} / {:.1}", p(v, |s| s.p50), p(v, |s| s.p99));
        table.row(vec![
            r.memory_mb.to_string(),
            format!("{:.1}", 100.0 * f64::from(r.memory_mb) / FULL_VCPU_MB),
            pair(&r.add_overhead_ms),
            pair(&r.create_overhead_ms),
            pair(&r.turn_ms),
            pair(&r.list_ms),
            format!("{:.1}", r.gb_seconds_per_1000_turns()),
        ]);
        out.push(json!({
            "memory_mb": r.memory_mb,
            "add_overhead_ms": crate::stats::summary_json(&r.add_overhead_ms),
            "create_overhead_ms": crate::stats::summary_json(&r.create_overhead_ms),
            "turn_ms": crate::stats::summary_json(&r.turn_ms),
            "list_ms": crate::stats::summary_json(&r.list_ms),
            "gb_seconds_per_1000_turns": round(r.gb_seconds_per_1000_turns()),
        }));
    }
    let text = format!(
        "\n{}GB-s per 1 000 turns = mean turn wall time (rounded up to the ms) × memory / 1024 × 1 000, at the stub's pacing; a turn mostly waits for the model, so below the size where the CPU share starts to stretch turns, the smallest size bills least.\n",
        table.render()
    );
    (text, json!({"sizes": out}))
}
