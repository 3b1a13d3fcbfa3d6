//! What one turn cost, for its metric line: model rounds, tokens, time to first token.

use super::*;

/// What a turn's model calls took and used (logged, and emitted as metrics).
#[derive(Debug, Default)]
pub(super) struct TurnStats {
    pub(super) usage: Usage,
    pub(super) calls: u32,
    /// Time spent in model calls (request sent → stream ended), all rounds.
    pub(super) model_time: Duration,
    /// When the first model request of the turn was sent.
    pub(super) started: Option<Instant>,
    /// When its first output (text or a tool call) arrived.
    pub(super) first_output: Option<Instant>,
}

impl TurnStats {
    /// Time to first token: first model request sent → first output received.
    pub(super) fn ttft(&self) -> Option<Duration> {
        Some(self.first_output?.saturating_duration_since(self.started?))
    }

    /// One EMF line per turn: dimension `Model`.
    pub(super) fn emit(&self, model: &str, request_id: &str, ok: bool) {
        if self.calls == 0 {
            return;
        }
        let mut line = MetricLine::new()
            .dimension("Model", model)
            .milliseconds("ModelTime", self.model_time.as_secs_f64() * 1e3)
            .count("ModelCalls", u64::from(self.calls))
            .count("InputTokens", self.usage.input_tokens)
            .count("OutputTokens", self.usage.output_tokens)
            .count("ModelErrors", u64::from(!ok))
            .property("request_id", request_id);
        if let Some(ttft) = self.ttft() {
            line = line.milliseconds("TimeToFirstToken", ttft.as_secs_f64() * 1e3);
        }
        line.emit();
    }
}
