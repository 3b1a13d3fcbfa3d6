//! Request bodies: `{type, params, metadata}`, all 16 operations.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::{serde_as, skip_serializing_none, DisplayFromStr, PickFirst};

use crate::content::UserMessageContent;
use crate::items::{InferenceOptions, StructuredAnswers, StructuredInputStatus};
use crate::thread::Order;

/// A parsed request: the operation with its params, and the free-form `metadata` object the
/// frontend may send (`userInfo`, `pageContext`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatKitRequest {
    pub op: Operation,
    pub metadata: Map<String, Value>,
}

/// Why a body is not a valid request. The message names the offending type or field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// JSON path of the offending field (`params.input.content[0].text`), if known.
    pub field: Option<String>,
    pub message: String,
}

impl RequestError {
    fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        Self { field: field.map(str::to_string), message: message.into() }
    }
}

macro_rules! operations {
    (
        $( $(#[$doc:meta])* $name:literal => $variant:ident($params:ty), $streaming:literal; )*
        extensions:
        $( $(#[$xdoc:meta])* $xname:literal => $xvariant:ident($xparams:ty), $xstreaming:literal; )*
    ) => {
        /// The operation a request asks for, discriminated on `type`, with its `params`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type", content = "params")]
        pub enum Operation {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($params), )*
            $( $(#[$xdoc])* #[serde(rename = $xname)] $xvariant($xparams), )*
        }

        /// Every ChatKit request `type`, in protocol order.
        pub const REQUEST_TYPES: &[&str] = &[$($name),*];

        /// Request types this server adds beside the protocol's (the reference client never
        /// sends them; this project's web kit does).
        pub const EXTENSION_TYPES: &[&str] = &[$($xname),*];

        /// Whether request `type` is answered with an SSE stream (`None`: not a request type).
        pub fn is_streaming_type(kind: &str) -> Option<bool> {
            match kind { $( $name => Some($streaming), )* $( $xname => Some($xstreaming), )* _ => None }
        }

        impl Operation {
            /// The request `type` on the wire.
            pub fn type_name(&self) -> &'static str {
                match self { $( Operation::$variant(_) => $name, )* $( Operation::$xvariant(_) => $xname, )* }
            }

            /// Whether the answer is an SSE stream (otherwise one JSON document).
            pub fn is_streaming(&self) -> bool {
                match self { $( Operation::$variant(_) => $streaming, )* $( Operation::$xvariant(_) => $xstreaming, )* }
            }

            fn parse(kind: &str, params: Value) -> Result<Self, RequestError> {
                match kind {
                    $( $name => parse_params(params).map(Operation::$variant), )*
                    $( $xname => parse_params(params).map(Operation::$xvariant), )*
                    other => Err(RequestError::new(Some("type"), format!(
                        "unknown request type `{other}`; expected one of: {}", REQUEST_TYPES.join(", ")
                    ))),
                }
            }
        }
    };
}

operations! {
    "threads.create" => CreateThread(CreateThreadParams), true;
    "threads.add_user_message" => AddUserMessage(AddUserMessageParams), true;
    "threads.add_client_tool_output" => AddClientToolOutput(AddClientToolOutputParams), true;
    "threads.add_structured_input" => AddStructuredInput(AddStructuredInputParams), true;
    "threads.retry_after_item" => RetryAfterItem(ThreadItemParams), true;
    "threads.custom_action" => CustomAction(CustomActionParams), true;
    "threads.sync_custom_action" => SyncCustomAction(CustomActionParams), false;
    "threads.get_by_id" => GetThread(ThreadParams), false;
    "threads.list" => ListThreads(ListThreadsParams), false;
    "threads.update" => UpdateThread(UpdateThreadParams), false;
    "threads.delete" => DeleteThread(ThreadParams), false;
    "items.list" => ListItems(ListItemsParams), false;
    "items.feedback" => Feedback(FeedbackParams), false;
    "attachments.create" => CreateAttachment(CreateAttachmentParams), false;
    "attachments.delete" => DeleteAttachment(DeleteAttachmentParams), false;
    "input.transcribe" => Transcribe(TranscribeParams), false;
    extensions:
    /// Stops a running turn, named by the `x-chatkit-turn-id` header of its streamed response
    /// (for when a client disconnect does not reach the server, as on Lambda).
    "turns.cancel" => CancelTurn(CancelTurnParams), false;
}

fn parse_params<T: DeserializeOwned>(params: Value) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "params".to_string() } else { format!("params.{path}") };
        let message = format!("invalid `{field}`: {}", err.inner());
        RequestError { field: Some(field), message }
    })
}

impl ChatKitRequest {
    /// Parses a raw request body.
    pub fn from_slice(body: &[u8]) -> Result<Self, RequestError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| RequestError::new(None, format!("request body is not valid JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Parses a request already decoded as JSON.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let Value::Object(mut body) = value else {
            return Err(RequestError::new(None, "request body must be a JSON object"));
        };
        let kind = match body.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(RequestError::new(Some("type"), "`type` must be a string")),
            None => return Err(RequestError::new(Some("type"), "missing field `type`")),
        };
        let metadata = match body.remove("metadata") {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(RequestError::new(Some("metadata"), "`metadata` must be a JSON object"))
            }
        };
        let params = match body.remove("params") {
            Some(p @ Value::Object(_)) => p,
            Some(_) => {
                return Err(RequestError::new(Some("params"), "`params` must be a JSON object"))
            }
            None if REQUEST_TYPES.contains(&kind.as_str()) => {
                return Err(RequestError::new(
                    Some("params"),
                    format!("missing field `params` for `{kind}`"),
                ))
            }
            None => Value::Object(Map::new()),
        };
        if let Some((field, len)) = crate::ids::oversized_id(&params) {
            let max = crate::ids::MAX_ID_BYTES;
            let message = format!("`{field}` is {len} bytes long; ids are at most {max} bytes");
            return Err(RequestError { field: Some(field), message });
        }
        let op = Operation::parse(&kind, params)?;
        Ok(Self { op, metadata })
    }

    /// The request as JSON (nulls omitted, `metadata` only when non-empty).
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(&self.op).expect("requests serialize");
        if !self.metadata.is_empty() {
            value["metadata"] = Value::Object(self.metadata.clone());
        }
        value
    }
}

/// What the user typed, as sent by the composer.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageInput {
    pub content: Vec<UserMessageContent>,
    /// Attachment ids (required by the protocol; `[]` when none).
    pub attachments: Vec<String>,
    pub quoted_text: Option<String>,
    pub inference_options: InferenceOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateThreadParams {
    pub input: UserMessageInput,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddUserMessageParams {
    pub thread_id: String,
    pub input: UserMessageInput,
}

/// `result` must be present; `null` is allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddClientToolOutputParams {
    pub thread_id: String,
    pub result: Value,
}

/// The user's answers to a pending structured-input item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputSubmission {
    #[serde(default = "answered")]
    pub status: StructuredInputStatus,
    #[serde(default)]
    pub answers: StructuredAnswers,
}

fn answered() -> StructuredInputStatus {
    StructuredInputStatus::Answered
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddStructuredInputParams {
    pub thread_id: String,
    pub item_id: String,
    pub input: StructuredInputSubmission,
}

/// A thread and one of its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadItemParams {
    pub thread_id: String,
    pub item_id: String,
}

/// A widget or client action: `{type, payload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomActionParams {
    pub thread_id: String,
    /// The widget item that fired the action, if any.
    #[serde(default)]
    pub item_id: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadParams {
    pub thread_id: String,
}

#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ListThreadsParams {
    /// `null` or 0 means 20.
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateThreadParams {
    pub thread_id: String,
    pub title: String,
}

#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListItemsParams {
    pub thread_id: String,
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub after: Option<String>,
}

/// Thumbs up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Positive,
    Negative,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackParams {
    pub thread_id: String,
    pub item_ids: Vec<String>,
    pub kind: FeedbackKind,
}

#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAttachmentParams {
    pub name: String,
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub size: u64,
    pub mime_type: String,
}

/// `turns.cancel`: the turn to stop (its streamed response's `x-chatkit-turn-id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelTurnParams {
    pub turn_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteAttachmentParams {
    pub attachment_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeParams {
    pub audio_base64: String,
    /// Raw value such as `audio/webm;codecs=opus`.
    pub mime_type: String,
}

/// The response of `threads.sync_custom_action`. The server does not persist `updated_item`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SyncCustomActionResponse {
    pub updated_item: Option<crate::items::ThreadItem>,
}

/// The response of `input.transcribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionResult {
    pub text: String,
}
