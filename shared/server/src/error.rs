//! Errors found before a response starts: each maps to an HTTP status and a JSON body
//! `{"error": {"code", "message", "request_id"}}`. Errors after a stream started become an
//! `error` event instead (see [`StreamError`]).

use chatkit_protocol::{Function, RequestError, ThreadStreamEvent};
use chatkit_store::StoreError;
use serde_json::{json, Value};

/// A request that cannot be answered, with the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatKitError {
    /// Malformed body, unknown type, bad params, wrong item type, nothing to act on.
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    /// No credentials, or credentials that do not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// A request sent to a function that does not serve its type (docs/functions.md).
    #[error("`{request_type}` is served by the `{serving}` function, not by `{this}`: send it to the {serving} URL (the deployment's ChatKitRoutes output)")]
    WrongFunction { request_type: &'static str, serving: Function, this: Function },
    /// Unknown thread, item or attachment — also when it belongs to another user.
    #[error("{0}")]
    NotFound(String),
    /// Body over the configured limit.
    #[error("request body is {size} bytes; the limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// A part of the request over its limit (a message, a tool output, a title, …).
    #[error("{message}")]
    TooLarge { message: String, field: Option<String> },
    /// The request lost a race: what it acts on changed (another request completed it, or it
    /// is a duplicate of one already handled).
    #[error("{0}")]
    Conflict(String),
    /// A capability this deployment does not offer (attachments, transcription, …).
    #[error("{0}")]
    NotImplemented(String),
    /// A dependency failed in a way worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// The caller is over a usage limit (turns per minute, model tokens per day); answered
    /// 429 with `Retry-After: retry_after` (seconds).
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// An upstream service (the transcription API, object storage) failed or answered badly.
    #[error("{0}")]
    BadGateway(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl ChatKitError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ChatKitError::BadRequest { message: message.into(), field: None }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ChatKitError::BadRequest { .. } | ChatKitError::WrongFunction { .. } => 400,
            ChatKitError::Unauthorized(_) => 401,
            ChatKitError::NotFound(_) => 404,
            ChatKitError::PayloadTooLarge { .. } | ChatKitError::TooLarge { .. } => 413,
            ChatKitError::Conflict(_) => 409,
            ChatKitError::NotImplemented(_) => 501,
            ChatKitError::Unavailable(_) => 503,
            ChatKitError::RateLimited { .. } => 429,
            ChatKitError::BadGateway(_) => 502,
            ChatKitError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ChatKitError::BadRequest { .. } => "bad_request",
            ChatKitError::WrongFunction { .. } => "wrong_function",
            ChatKitError::Unauthorized(_) => "unauthorized",
            ChatKitError::NotFound(_) => "not_found",
            ChatKitError::PayloadTooLarge { .. } | ChatKitError::TooLarge { .. } => {
                "payload_too_large"
            }
            ChatKitError::Conflict(_) => "conflict",
            ChatKitError::NotImplemented(_) => "not_implemented",
            ChatKitError::Unavailable(_) => "unavailable",
            ChatKitError::RateLimited { .. } => "rate_limited",
            ChatKitError::BadGateway(_) => "bad_gateway",
            ChatKitError::Internal(_) => "internal",
        }
    }

    /// The JSON error body.
    pub fn to_body(&self, request_id: &str) -> Value {
        let mut error =
            json!({ "code": self.code(), "message": self.to_string(), "request_id": request_id });
        if let ChatKitError::BadRequest { field: Some(field), .. }
        | ChatKitError::TooLarge { field: Some(field), .. } = self
        {
            error["field"] = Value::String(field.clone());
        }
        if let ChatKitError::WrongFunction { serving, .. } = self {
            error["function"] = json!(serving.name());
        }
        if let ChatKitError::RateLimited { retry_after, .. } = self {
            error["retry_after"] = json!(retry_after);
        }
        json!({ "error": error })
    }
}

impl From<RequestError> for ChatKitError {
    fn from(err: RequestError) -> Self {
        ChatKitError::BadRequest { message: err.message, field: err.field }
    }
}

impl From<StoreError> for ChatKitError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => ChatKitError::NotFound(err.to_string()),
            StoreError::InvalidId { .. } => ChatKitError::bad_request(err.to_string()),
            StoreError::TooLarge { .. } => ChatKitError::TooLarge { message: err.to_string(), field: None },
            StoreError::Conflict { .. } => ChatKitError::Conflict(err.to_string()),
            StoreError::Duplicate { ref thread_id, ref item_id } => ChatKitError::Conflict(format!(
                "this message was already received (item {item_id} of thread {thread_id}); reload the thread instead of sending it again"
            )),
            StoreError::Invalid { message, field } => ChatKitError::BadRequest { message, field },
            StoreError::InputTooLarge { message, field } => ChatKitError::TooLarge { message, field },
            StoreError::Unavailable(_) => ChatKitError::Unavailable(err.to_string()),
            StoreError::Internal(_) => ChatKitError::Internal(err.to_string()),
        }
    }
}

/// How a stream that already started ends when something fails: an `error` event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {}", message.as_deref().unwrap_or("stream failed"))]
pub struct StreamError {
    /// `stream.error` (the client shows a generic, localized text) or `custom`.
    pub code: String,
    /// Shown to the user for `custom`.
    pub message: Option<String>,
    /// Offers the retry button.
    pub allow_retry: bool,
}

impl StreamError {
    /// A failure worth retrying (timeouts, 5xx from a dependency, a cut connection).
    pub fn transient(message: impl Into<String>) -> Self {
        Self { code: "stream.error".into(), message: Some(message.into()), allow_retry: true }
    }

    /// A failure whose message the user sees as is.
    pub fn custom(message: impl Into<String>, allow_retry: bool) -> Self {
        Self { code: "custom".into(), message: Some(message.into()), allow_retry }
    }

    /// The `error` event, with the request id appended to the message for support.
    pub fn to_event(&self, request_id: &str) -> ThreadStreamEvent {
        let message = match &self.message {
            Some(m) => format!("{m} (request id {request_id})"),
            None => format!("request id {request_id}"),
        };
        ThreadStreamEvent::Error {
            code: self.code.clone(),
            message: Some(message),
            allow_retry: self.allow_retry,
        }
    }
}

impl From<StoreError> for StreamError {
    /// A generic text for the user; the store's own message (table, operation, AWS error
    /// code) goes to the log only.
    fn from(err: StoreError) -> Self {
        let transient = matches!(err, StoreError::Unavailable(_));
        tracing::warn!(error = %err, "a store write failed during a stream");
        let message = if transient {
            "The conversation could not be saved right now. Please try again."
        } else {
            "The conversation could not be saved."
        };
        Self { code: "stream.error".into(), message: Some(message.into()), allow_retry: transient }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_reach_users_without_details() {
        let err = StreamError::from(StoreError::Unavailable(
            "DynamoDB TransactWriteItems: ThrottlingException on table prod-chatkit".into(),
        ));
        let ThreadStreamEvent::Error { message, allow_retry, .. } = err.to_event("req-9") else {
            unreachable!()
        };
        let message = message.unwrap();
        assert!(allow_retry && message.contains("req-9"), "{message}");
        assert!(!message.contains("DynamoDB") && !message.contains("prod-chatkit"), "{message}");
    }
}
