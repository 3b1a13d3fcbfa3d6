//! What each request leaves behind: one metric line (EMF) per request, and a stream's totals
//! when its body is dropped, with the store and S3 requests counted on the request's own
//! meter.

use std::sync::Arc;
use std::time::Instant;

use chatkit_server::metrics::MetricLine;
use chatkit_store::meter::{Metered, RequestMeter};
use tracing::info;

/// What a request did, for its metric line: the operation, and (for JSON answers) the store
/// requests and their time. Streams report their store totals when they end.
pub(crate) struct Outcome {
    pub(crate) operation: &'static str,
    pub(crate) store_requests: Option<u64>,
    pub(crate) store_ms: f64,
}

/// Logs a stream's totals when its body is dropped (finished, or the client went away).
pub(crate) struct StreamLog {
    pub(crate) request_id: String,
    pub(crate) operation: &'static str,
    /// The request's own meter: the stream's store and S3 calls, its spawned tasks' included.
    pub(crate) meter: Arc<RequestMeter>,
    pub(crate) started: Instant,
    pub(crate) events: usize,
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        let Metered { store_requests, store_micros, blob_requests: s3_requests } =
            self.meter.read();
        let store_ms = store_micros as f64 / 1e3;
        let stream_ms = self.started.elapsed().as_secs_f64() * 1e3;
        info!(
            request_id = %self.request_id,
            operation = %self.operation,
            events = self.events,
            store_requests,
            store_ms,
            s3_requests,
            stream_ms,
            "stream finished"
        );
        MetricLine::new()
            .dimension("Operation", self.operation)
            .milliseconds("StreamTime", stream_ms)
            .count("StreamEvents", self.events as u64)
            .count("DynamoDBRequests", store_requests)
            .milliseconds("DynamoDBTime", store_ms)
            .count("S3Requests", s3_requests)
            .property("request_id", self.request_id.as_str())
            .emit();
    }
}

impl Default for Outcome {
    fn default() -> Self {
        Self { operation: "none", store_requests: None, store_ms: 0.0 }
    }
}

impl Outcome {
    /// The request's metric line: operation, latency, status class, and (for JSON answers)
    /// its DynamoDB requests and time.
    pub(crate) fn emit(&self, status: u16, started: Instant, request_id: &str) {
        let mut line = MetricLine::new()
            .dimension("Operation", self.operation)
            .milliseconds("Latency", started.elapsed().as_secs_f64() * 1e3)
            .count("Errors", u64::from(status >= 500))
            .count("Rejected", u64::from((400..500).contains(&status)))
            .property("status", status)
            .property("request_id", request_id);
        if let Some(requests) = self.store_requests {
            line = line
                .count("DynamoDBRequests", requests)
                .milliseconds("DynamoDBTime", self.store_ms);
        }
        line.emit();
    }
}
