//! Model call failures, and how each becomes the `error` event the user sees.

use std::time::Duration;

use chatkit_server::StreamError;
use serde_json::Value;

/// Longest provider message kept in an error.
const MAX_MESSAGE: usize = 300;

/// Why a model call failed. Messages never contain the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The request did not get an answer (connection refused, reset, TLS, …).
    #[error("could not reach the model API: {message}")]
    Transport { message: String, connect: bool },
    /// A non-2xx answer, with the provider's message.
    #[error("the model API answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the model did not send {waiting_for} within {}s", after.as_secs_f32())]
    Timeout { waiting_for: &'static str, after: Duration },
    /// The stream broke or ended before the response was complete.
    #[error("the model's reply was cut off: {0}")]
    Cut(String),
    /// The provider reported a failure inside the stream (`response.failed`, `error`).
    #[error("the model failed: {0}")]
    Provider(String),
    /// The answer could not be understood.
    #[error("unexpected answer from the model API: {0}")]
    Invalid(String),
}

impl ModelError {
    pub(crate) fn transport(err: &reqwest::Error, key: Option<&str>) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        ModelError::Transport { message: clean(&message, key), connect: err.is_connect() }
    }

    /// From a non-2xx body: `error.message` (OpenAI and most compatible servers), a
    /// top-level `message`/`error` string, or the raw text.
    pub(crate) fn status(status: u16, body: &str, key: Option<&str>) -> Self {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("message"))
                    .or_else(|| v.get("error").filter(|e| e.is_string()))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.trim().to_string());
        let message = if message.is_empty() { "no details".to_string() } else { message };
        ModelError::Status { status, message: clean(&message, key) }
    }

    /// Worth another attempt before the first token: connection failures, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::Transport { connect, .. } => *connect,
            ModelError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether the user may usefully press retry.
    pub fn is_transient(&self) -> bool {
        match self {
            ModelError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            ModelError::Invalid(_) => false,
            _ => true,
        }
    }

    /// The `error` event: the message is shown as is (`custom`), retry offered when transient.
    pub fn to_stream_error(&self) -> StreamError {
        let text = match self {
            ModelError::Status { status: 401 | 403, .. } => {
                format!("The model API rejected the server's credentials ({self}). Check OPENAI_API_KEY.")
            }
            ModelError::Status { status: 429, .. } => format!("The model is busy or over its quota ({self})."),
            _ => format!("The assistant could not answer: {self}."),
        };
        StreamError::custom(text, self.is_transient())
    }
}

/// Redacts the key (should a provider echo it) and bounds the length.
pub(crate) fn clean(message: &str, key: Option<&str>) -> String {
    let mut message = message.to_string();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        message = message.replace(key, "<redacted>");
    }
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_are_extracted_and_redacted() {
        let body = r#"{"error": {"message": "Incorrect API key provided: sk-test-123", "type": "invalid_request_error"}}"#;
        let err = ModelError::status(401, body, Some("sk-test-123"));
        assert_eq!(err, ModelError::Status { status: 401, message: "Incorrect API key provided: <redacted>".into() });
        let event = err.to_stream_error();
        assert!(!event.allow_retry);
        assert!(event.message.unwrap().contains("HTTP 401"));
        assert!(ModelError::status(503, "upstream down", None).to_stream_error().allow_retry);
        assert!(ModelError::status(500, "", None).is_retryable());
        assert!(!ModelError::status(400, "", None).is_retryable());
    }
}
