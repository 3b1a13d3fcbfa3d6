//! Message content: what users type, what assistants answer, and the sources they cite.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

/// One part of a user message: text, or an @-mention tag of an entity.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserMessageContent {
    InputText {
        text: String,
    },
    InputTag {
        id: String,
        text: String,
        #[serde(default)]
        data: Map<String, Value>,
        group: Option<String>,
        #[serde(default)]
        interactive: bool,
    },
}

/// One part of an assistant message (always `output_text`), rendered as Markdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AssistantMessageContent {
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    pub text: String,
    #[serde(rename = "type", default = "output_text")]
    pub kind: OutputText,
}

impl AssistantMessageContent {
    /// A text part without annotations.
    pub fn text(text: impl Into<String>) -> Self {
        Self { annotations: Vec::new(), text: text.into(), kind: OutputText::OutputText }
    }
}

/// The only assistant content type, `output_text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputText {
    #[default]
    OutputText,
}

fn output_text() -> OutputText {
    OutputText::OutputText
}

/// A citation placed at character `index` of the text.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    #[serde(rename = "type", default)]
    pub kind: AnnotationType,
    pub source: Source,
    pub index: Option<u64>,
}

/// The only annotation type, `annotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationType {
    #[default]
    Annotation,
}

/// What a citation or a task points at.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    Url {
        title: String,
        description: Option<String>,
        timestamp: Option<String>,
        group: Option<String>,
        url: String,
        attribution: Option<String>,
    },
    File {
        title: String,
        description: Option<String>,
        timestamp: Option<String>,
        group: Option<String>,
        filename: String,
    },
    Entity {
        title: String,
        description: Option<String>,
        timestamp: Option<String>,
        group: Option<String>,
        id: String,
        icon: Option<String>,
        label: Option<String>,
        inline_label: Option<String>,
        #[serde(default)]
        interactive: bool,
        #[serde(default)]
        data: Map<String, Value>,
        preview: Option<String>,
    },
}

impl Source {
    /// A URL source with just a title.
    pub fn url(title: impl Into<String>, url: impl Into<String>) -> Self {
        Source::Url {
            title: title.into(),
            description: None,
            timestamp: None,
            group: None,
            url: url.into(),
            attribution: None,
        }
    }
}
