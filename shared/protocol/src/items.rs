//! Thread items: everything that appears in a conversation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::attachment::Attachment;
use crate::content::{AssistantMessageContent, UserMessageContent};
use crate::tasks::{Task, Workflow};
use crate::timestamp::{self, Timestamp};

/// Composer options the user picked for a message.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InferenceOptions {
    pub tool_choice: Option<ToolChoice>,
    pub model: Option<String>,
}

/// The composer tool the user picked (`ToolOption.id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolChoice {
    pub id: String,
}

/// A pending client tool call waits for `threads.add_client_tool_output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallStatus {
    #[default]
    Pending,
    Completed,
}

/// Status of a structured-input item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StructuredInputStatus {
    #[default]
    Pending,
    Answered,
    Skipped,
}

/// The answer to one structured-input question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StructuredAnswer {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub skipped: bool,
}

/// One option of a multiple-choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub value: String,
}

/// A question that takes over the composer.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StructuredInput {
    MultipleChoice {
        id: String,
        question: String,
        answer: Option<StructuredAnswer>,
        options: Vec<ChoiceOption>,
        #[serde(default)]
        multiple: bool,
    },
    Freeform {
        id: String,
        question: String,
        answer: Option<StructuredAnswer>,
        description: Option<String>,
    },
}

/// A generated image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImage {
    pub id: String,
    pub url: String,
}

macro_rules! items {
    ($( $(#[$doc:meta])* $variant:ident($name:ident) { $($body:tt)* } )*) => {
        $(
            $(#[$doc])*
            #[skip_serializing_none]
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $name {
                pub id: String,
                pub thread_id: String,
                #[serde(with = "timestamp")]
                pub created_at: Timestamp,
                $($body)*
            }

            impl From<$name> for ThreadItem {
                fn from(item: $name) -> Self { ThreadItem::$variant(item) }
            }
        )*

        /// Any item of a thread, discriminated on `type`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum ThreadItem {
            $( $variant($name), )*
        }

        impl ThreadItem {
            pub fn id(&self) -> &str {
                match self { $( ThreadItem::$variant(i) => &i.id, )* }
            }
            pub fn thread_id(&self) -> &str {
                match self { $( ThreadItem::$variant(i) => &i.thread_id, )* }
            }
            pub fn created_at(&self) -> Timestamp {
                match self { $( ThreadItem::$variant(i) => i.created_at, )* }
            }
        }
    };
}

items! {
    /// What the user sent. `attachments` are full objects with `thread_id` set.
    UserMessage(UserMessageItem) {
        pub content: Vec<UserMessageContent>,
        #[serde(default)]
        pub attachments: Vec<Attachment>,
        pub quoted_text: Option<String>,
        #[serde(default)]
        pub inference_options: InferenceOptions,
    }
    /// A reply, one or more Markdown parts.
    AssistantMessage(AssistantMessageItem) {
        pub content: Vec<AssistantMessageContent>,
    }
    /// A tool the client runs; `output` is set when it completes.
    ClientToolCall(ClientToolCallItem) {
        #[serde(default)]
        pub status: ToolCallStatus,
        pub call_id: String,
        pub name: String,
        pub arguments: Map<String, Value>,
        pub output: Option<Value>,
    }
    /// A widget tree (kept as JSON; `type` is preserved).
    Widget(WidgetItem) {
        pub widget: Value,
        pub copy_text: Option<String>,
    }
    /// An image the model generated.
    GeneratedImage(GeneratedImageItem) {
        pub image: Option<GeneratedImage>,
    }
    /// Questions for the user.
    StructuredInput(StructuredInputItem) {
        #[serde(default)]
        pub status: StructuredInputStatus,
        pub inputs: Vec<StructuredInput>,
    }
    /// A group of tasks.
    Workflow(WorkflowItem) {
        pub workflow: Workflow,
    }
    /// One task on its own.
    Task(TaskItem) {
        pub task: Task,
    }
    /// Marks the end of the assistant's turn.
    EndOfTurn(EndOfTurnItem) {}
    /// Model context from the integration; stored, never sent to the client.
    HiddenContextItem(HiddenContextItem) {
        pub content: Value,
    }
    /// Model context from the server itself (e.g. on cancellation); never sent to the client.
    SdkHiddenContext(SdkHiddenContextItem) {
        pub content: String,
    }
}

impl UserMessageItem {
    /// The message as plain text, tags written as `@name`.
    pub fn plain_text(&self) -> String {
        self.content
            .iter()
            .map(|c| match c {
                UserMessageContent::InputText { text } => text.clone(),
                UserMessageContent::InputTag { text, .. } => format!("@{text}"),
            })
            .collect()
    }
}

impl ThreadItem {
    /// Hidden items are stored for the model but never sent to the client.
    pub fn is_hidden(&self) -> bool {
        matches!(self, ThreadItem::HiddenContextItem(_) | ThreadItem::SdkHiddenContext(_))
    }
}

/// Answers keyed by question id, as submitted with `threads.add_structured_input`.
pub type StructuredAnswers = BTreeMap<String, StructuredAnswer>;
