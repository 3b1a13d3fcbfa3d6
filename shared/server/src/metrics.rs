//! CloudWatch Embedded Metric Format: one JSON line on stdout per measured thing, which
//! CloudWatch turns into metrics (namespace `CHATKIT_METRICS_NAMESPACE`, default `ChatKit`;
//! `off` writes none). A dashboard charts latency, cost (DynamoDB requests, model tokens) and
//! errors per operation without parsing free text.
//!
//! ```json
//! {"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"ChatKit",
//!   "Dimensions":[["Operation"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},
//!  "Operation":"threads.list","Latency":2.1,"request_id":"…"}
//! ```

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use chatkit_settings::catalog::METRICS_NAMESPACE;
use serde_json::{json, Map, Value};

fn namespace() -> Option<&'static str> {
    static NAMESPACE: OnceLock<Option<String>> = OnceLock::new();
    NAMESPACE
        .get_or_init(|| {
            METRICS_NAMESPACE
                .text(&chatkit_settings::env)
                .filter(|v| !v.eq_ignore_ascii_case("off"))
        })
        .as_deref()
}

/// Whether metric lines are written (`CHATKIT_METRICS_NAMESPACE` is not `off`).
pub fn enabled() -> bool {
    namespace().is_some()
}

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Count,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Milliseconds => "Milliseconds",
            Unit::Count => "Count",
        }
    }
}

/// One EMF line: dimensions, metrics and extra properties (searchable, not metrics).
#[derive(Debug, Default)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
    properties: Map<String, Value>,
}

impl MetricLine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn metric(mut self, name: &'static str, value: f64, unit: Unit) -> Self {
        self.metrics.push((name, value, unit));
        self
    }

    pub fn milliseconds(self, name: &'static str, value: f64) -> Self {
        self.metric(name, value, Unit::Milliseconds)
    }

    pub fn count(self, name: &'static str, value: u64) -> Self {
        self.metric(name, value as f64, Unit::Count)
    }

    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_string(), value.into());
        self
    }

    /// The JSON object of this line in `namespace`.
    pub fn to_json(&self, namespace: &str, timestamp_ms: u64) -> Value {
        let mut root = self.properties.clone();
        for (name, value) in &self.dimensions {
            root.insert((*name).to_string(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).to_string(), json!(value));
        }
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        let dimensions: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        root.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dimensions], "Metrics": definitions}]}),
        );
        Value::Object(root)
    }

    /// Writes the line to stdout (`print!` holds stdout's lock for the whole line, so it never
    /// interleaves with log lines; under `cargo test` it is captured like other output).
    pub fn emit(self) {
        let Some(namespace) = namespace() else { return };
        if self.metrics.is_empty() {
            return;
        }
        let now =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        println!("{}", self.to_json(namespace, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_embedded_metric_format() {
        let line = MetricLine::new()
            .dimension("Operation", "threads.list")
            .milliseconds("Latency", 2.5)
            .count("DynamoDBRequests", 1)
            .property("request_id", "r1")
            .to_json("ChatKit", 1_767_225_600_000);
        assert_eq!(line["Operation"], "threads.list");
        assert_eq!(line["Latency"], 2.5);
        assert_eq!(line["DynamoDBRequests"], 1.0);
        assert_eq!(line["request_id"], "r1");
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_767_225_600_000u64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ChatKit");
        assert_eq!(directive["Dimensions"], json!([["Operation"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "DynamoDBRequests", "Unit": "Count"}])
        );
    }
}
