//! Server-sent stream events and the item updates inside `thread.item.updated`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::content::{Annotation, AssistantMessageContent};
use crate::items::{GeneratedImage, ThreadItem};
use crate::tasks::Task;
use crate::thread::Thread;

/// Options sent first in every respond/action stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Shows the stop button; pressing it closes the connection.
    pub allow_cancel: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self { allow_cancel: true }
    }
}

/// Severity of a `notice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warning,
    Danger,
}

/// Error code for `error` events: `stream.error` is localized by the client, `custom` shows
/// the message.
pub const ERROR_CODE_STREAM: &str = "stream.error";
/// See [`ERROR_CODE_STREAM`].
pub const ERROR_CODE_CUSTOM: &str = "custom";

fn custom_code() -> String {
    ERROR_CODE_CUSTOM.to_string()
}

/// One SSE event (`data:` payload), discriminated on `type`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ThreadStreamEvent {
    #[serde(rename = "thread.created")]
    ThreadCreated { thread: Thread },
    #[serde(rename = "thread.updated")]
    ThreadUpdated { thread: Thread },
    #[serde(rename = "thread.item.added")]
    ItemAdded { item: ThreadItem },
    #[serde(rename = "thread.item.updated")]
    ItemUpdated { item_id: String, update: ThreadItemUpdate },
    #[serde(rename = "thread.item.done")]
    ItemDone { item: ThreadItem },
    #[serde(rename = "thread.item.removed")]
    ItemRemoved { item_id: String },
    #[serde(rename = "thread.item.replaced")]
    ItemReplaced { item: ThreadItem },
    #[serde(rename = "stream_options")]
    StreamOptions { stream_options: StreamOptions },
    #[serde(rename = "progress_update")]
    ProgressUpdate { icon: Option<String>, text: String },
    #[serde(rename = "client_effect")]
    ClientEffect {
        name: String,
        #[serde(default)]
        data: Map<String, Value>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default = "custom_code")]
        code: String,
        message: Option<String>,
        #[serde(default)]
        allow_retry: bool,
    },
    #[serde(rename = "notice")]
    Notice { level: NoticeLevel, message: String, title: Option<String> },
}

impl ThreadStreamEvent {
    /// The `type` on the wire, for logs and errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            ThreadStreamEvent::ThreadCreated { .. } => "thread.created",
            ThreadStreamEvent::ThreadUpdated { .. } => "thread.updated",
            ThreadStreamEvent::ItemAdded { .. } => "thread.item.added",
            ThreadStreamEvent::ItemUpdated { .. } => "thread.item.updated",
            ThreadStreamEvent::ItemDone { .. } => "thread.item.done",
            ThreadStreamEvent::ItemRemoved { .. } => "thread.item.removed",
            ThreadStreamEvent::ItemReplaced { .. } => "thread.item.replaced",
            ThreadStreamEvent::StreamOptions { .. } => "stream_options",
            ThreadStreamEvent::ProgressUpdate { .. } => "progress_update",
            ThreadStreamEvent::ClientEffect { .. } => "client_effect",
            ThreadStreamEvent::Error { .. } => "error",
            ThreadStreamEvent::Notice { .. } => "notice",
        }
    }

    /// An `error` event with code `stream.error`, localized by the client.
    pub fn stream_error(allow_retry: bool) -> Self {
        ThreadStreamEvent::Error { code: ERROR_CODE_STREAM.into(), message: None, allow_retry }
    }

    /// An `error` event whose message the client shows as is.
    pub fn custom_error(message: impl Into<String>, allow_retry: bool) -> Self {
        ThreadStreamEvent::Error {
            code: ERROR_CODE_CUSTOM.into(),
            message: Some(message.into()),
            allow_retry,
        }
    }
}

/// The `update` of a `thread.item.updated` event.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ThreadItemUpdate {
    #[serde(rename = "assistant_message.content_part.added")]
    ContentPartAdded { content_index: usize, content: AssistantMessageContent },
    #[serde(rename = "assistant_message.content_part.text_delta")]
    TextDelta { content_index: usize, delta: String },
    #[serde(rename = "assistant_message.content_part.annotation_added")]
    AnnotationAdded { content_index: usize, annotation_index: usize, annotation: Annotation },
    #[serde(rename = "assistant_message.content_part.done")]
    ContentPartDone { content_index: usize, content: AssistantMessageContent },
    #[serde(rename = "widget.streaming_text.value_delta")]
    WidgetTextDelta { component_id: String, delta: String, done: bool },
    #[serde(rename = "widget.component.updated")]
    WidgetComponentUpdated { component_id: String, component: Value },
    #[serde(rename = "widget.root.updated")]
    WidgetRootUpdated { widget: Value },
    #[serde(rename = "workflow.task.added")]
    TaskAdded { task_index: usize, task: Task },
    #[serde(rename = "workflow.task.updated")]
    TaskUpdated { task_index: usize, task: Task },
    #[serde(rename = "generated_image.updated")]
    GeneratedImageUpdated { image: GeneratedImage, progress: Option<f64> },
}
