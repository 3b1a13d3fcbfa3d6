//! Warming up: the slow first-use work, started with the process (see `app::serve`).

use std::time::Instant;

use chatkit_server::metrics::MetricLine;
use tracing::{info, warn};

use super::Gateway;

/// What [`Gateway::warm_up`] did: each step, how long it took, and whether it worked.
#[derive(Debug, Default)]
pub struct WarmUp {
    pub steps: Vec<(&'static str, std::time::Duration, Result<(), String>)>,
    pub total: std::time::Duration,
}

impl WarmUp {
    /// How many steps failed.
    pub fn failures(&self) -> usize {
        self.steps.iter().filter(|(_, _, r)| r.is_err()).count()
    }
}

impl Gateway {
    /// Does the slow first-use work now, as the process starts, ahead of or alongside the
    /// first request (which then finds it done or in progress, never starts it again): builds
    /// the core (AWS config, clients, secrets the responder needs), opens the DynamoDB
    /// connection with one cheap call (which also resolves the credentials), and fetches the
    /// verification keys; the two branches run concurrently, bounded by `limit`.
    /// A failed step is logged and left for the first request to retry; this never fails.
    pub async fn warm_up(&self, limit: std::time::Duration) -> WarmUp {
        let started = Instant::now();
        let backend = async {
            let t = Instant::now();
            let built = self.server().await.map_err(|e| e.to_string());
            let init = (t.elapsed(), built.as_ref().map(drop).map_err(Clone::clone));
            let ping = match built {
                Ok(server) => {
                    let t = Instant::now();
                    let result = server.store().ping().await.map_err(|e| e.to_string());
                    Some((t.elapsed(), result))
                }
                Err(_) => None,
            };
            (init, ping)
        };
        let keys = async {
            let t = Instant::now();
            let result = self.auth.warm_up().await.map_err(|e| e.to_string());
            (t.elapsed(), result)
        };
        let mut report = WarmUp::default();
        match tokio::time::timeout(limit, async { tokio::join!(backend, keys) }).await {
            Ok(((init, ping), keys)) => {
                report.steps.push(("backend", init.0, init.1));
                if let Some(ping) = ping {
                    report.steps.push(("dynamodb", ping.0, ping.1));
                }
                report.steps.push(("keys", keys.0, keys.1));
            }
            Err(_) => report.steps.push((
                "all",
                limit,
                Err(format!("warm-up did not finish within {} ms", limit.as_millis())),
            )),
        }
        report.total = started.elapsed();
        for (step, took, result) in &report.steps {
            match result {
                Ok(()) => info!(step, ms = took.as_secs_f64() * 1e3, "warm-up step done"),
                Err(error) => {
                    warn!(step, ms = took.as_secs_f64() * 1e3, error = %error, "warm-up step failed; the first request retries it");
                }
            }
        }
        info!(
            ms = report.total.as_secs_f64() * 1e3,
            failures = report.failures(),
            "warm-up finished"
        );
        MetricLine::new()
            .milliseconds("WarmUpTime", report.total.as_secs_f64() * 1e3)
            .count("WarmUpFailures", report.failures() as u64)
            .emit();
        report
    }
}
