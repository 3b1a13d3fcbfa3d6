//! Model call failures, and how each becomes the `error` event the user sees: a generic text
//! by kind (the request id is appended by the server), never the provider's message, a URL or
//! the name of a setting. The details go to the logs, with URLs and keys redacted.

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
    /// The call could not be made (e.g. the API key could not be read).
    #[error("the model API cannot be called right now: {0}")]
    Unavailable(String),
}

impl ModelError {
    pub(crate) fn transport(err: &reqwest::Error, key: Option<&str>) -> Self {
        let mut message = err.without_url_ref();
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

    /// The `error` event: a generic text for the user (`custom`), retry offered when
    /// transient. What went wrong is logged by the caller (`%self`, already redacted).
    pub fn to_stream_error(&self) -> StreamError {
        let text = match self {
            ModelError::Status { status: 401 | 403, .. } | ModelError::Unavailable(_) => {
                "The assistant is not available right now."
            }
            ModelError::Status { status: 429, .. } => {
                "The assistant is busy right now. Please try again in a moment."
            }
            ModelError::Timeout { .. } => {
                "The assistant took too long to answer. Please try again."
            }
            ModelError::Invalid(_) => "The assistant could not answer this request.",
            _ if self.is_transient() => {
                "The assistant could not answer right now. Please try again."
            }
            _ => "The assistant could not answer this request.",
        };
        StreamError::custom(text, self.is_transient())
    }

    /// The same error with URLs and key-shaped words removed from the provider's texts.
    pub fn redacted(self) -> Self {
        match self {
            ModelError::Cut(m) => ModelError::Cut(clean(&m, None)),
            ModelError::Provider(m) => ModelError::Provider(clean(&m, None)),
            ModelError::Invalid(m) => ModelError::Invalid(clean(&m, None)),
            ModelError::Unavailable(m) => ModelError::Unavailable(clean(&m, None)),
            other => other,
        }
    }

    /// A hint for the operator, logged with the error: what to check.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ModelError::Status { status: 401 | 403, .. } => Some("the model API rejected the key: check the model key secret (OPENAI_API_KEY_SECRET_ARN) or OPENAI_API_KEY"),
            ModelError::Status { status: 404, .. } => Some("check CHATKIT_MODEL and OPENAI_BASE_URL"),
            ModelError::Transport { .. } => Some("check OPENAI_BASE_URL and the network path to it"),
            ModelError::Unavailable(_) => Some("the model key could not be read"),
            _ => None,
        }
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    /// The error's text without the request URL.
    fn without_url_ref(&self) -> String {
        match self.url() {
            Some(url) => {
                self.to_string().replace(&format!(" ({url})"), "").replace(url.as_str(), "<url>")
            }
            None => self.to_string(),
        }
    }
}

/// `text` with URLs, bearer tokens and API-key-shaped words (`sk-…`) replaced, and `key`
/// (should a provider echo it) removed: safe for logs.
pub fn redact(text: &str, key: Option<&str>) -> String {
    let mut text = text.to_string();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        text = text.replace(key, "<redacted>");
    }
    let stops = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';' | '`'
            )
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let mut redact_next = false;
    while !rest.is_empty() {
        let start = rest.find(|c: char| !stops(c)).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(stops).unwrap_or(rest.len());
        let word = &rest[..end];
        let lower = word.to_ascii_lowercase();
        if redact_next {
            out.push_str("<redacted>");
            redact_next = false;
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            out.push_str("<url>");
        } else if (word.starts_with("sk-") || word.starts_with("sk_")) && word.len() >= 11 {
            out.push_str("sk-<redacted>");
        } else {
            redact_next = lower == "bearer";
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out
}

/// Redacts (see [`redact`]) and bounds the length.
pub(crate) fn clean(message: &str, key: Option<&str>) -> String {
    let mut message = redact(message, key);
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
        assert_eq!(
            err,
            ModelError::Status {
                status: 401,
                message: "Incorrect API key provided: <redacted>".into()
            }
        );
        let event = err.to_stream_error();
        assert!(!event.allow_retry);
        let shown = event.message.unwrap();
        assert_eq!(shown, "The assistant is not available right now.");
        assert!(err.hint().unwrap().contains("key"));
        assert!(ModelError::status(503, "upstream down", None).to_stream_error().allow_retry);
        assert!(ModelError::status(500, "", None).is_retryable());
        assert!(!ModelError::status(400, "", None).is_retryable());
    }

    #[test]
    fn logs_never_carry_urls_or_keys() {
        let text = "error sending request for url (https://llm.internal:8443/v1/responses?key=abc): Bearer sk-proj-aaaaaaaaaaaa failed; see http://x.test.";
        let redacted = redact(text, Some("my-own-key"));
        assert!(!redacted.contains("llm.internal") && !redacted.contains("x.test"), "{redacted}");
        assert!(
            !redacted.contains("sk-proj-aaaaaaaaaaaa") && !redacted.contains("aaaaaaaaaaaa"),
            "{redacted}"
        );
        assert!(
            redacted.contains("(<url>)") && redacted.contains("Bearer <redacted>"),
            "{redacted}"
        );
        assert_eq!(redact("echo: my-own-key!", Some("my-own-key")), "echo: <redacted>!");
        let provider = ModelError::status(
            500,
            r#"{"error":{"message":"upstream https://10.0.0.7/v1 failed for sk-abcdefghijkl"}}"#,
            None,
        );
        let logged = provider.to_string();
        assert!(!logged.contains("10.0.0.7") && !logged.contains("sk-abcdefghijkl"), "{logged}");
        for err in [
            provider,
            ModelError::Timeout { waiting_for: "the first token", after: Duration::from_secs(30) },
            ModelError::Cut("reset".into()),
        ] {
            let shown = err.to_stream_error().message.unwrap();
            assert!(
                !shown.contains("500") && !shown.contains("reset") && !shown.contains("30"),
                "{shown}"
            );
        }
    }
}
