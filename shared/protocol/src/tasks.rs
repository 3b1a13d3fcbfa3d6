//! Tasks and workflows: progress the assistant shows while it works.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::content::Source;

/// The little status mark beside a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StatusIndicator {
    #[default]
    None,
    Loading,
    Complete,
}

/// One task, in a workflow or on its own.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Task {
    Custom {
        #[serde(default)]
        status_indicator: StatusIndicator,
        title: Option<String>,
        icon: Option<String>,
        content: Option<String>,
    },
    WebSearch {
        #[serde(default)]
        status_indicator: StatusIndicator,
        title: Option<String>,
        title_query: Option<String>,
        #[serde(default)]
        queries: Vec<String>,
        /// URL sources only.
        #[serde(default)]
        sources: Vec<Source>,
    },
    Thought {
        #[serde(default)]
        status_indicator: StatusIndicator,
        title: Option<String>,
        content: String,
    },
    File {
        #[serde(default)]
        status_indicator: StatusIndicator,
        title: Option<String>,
        /// File sources only.
        #[serde(default)]
        sources: Vec<Source>,
    },
    Image {
        #[serde(default)]
        status_indicator: StatusIndicator,
        title: Option<String>,
    },
}

/// A collapsible group of tasks.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    #[serde(rename = "type")]
    pub kind: WorkflowType,
    #[serde(default)]
    pub tasks: Vec<Task>,
    pub summary: Option<WorkflowSummary>,
    #[serde(default)]
    pub expanded: bool,
}

/// `custom` workflows are written by tools; `reasoning` ones hold model reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowType {
    Custom,
    Reasoning,
}

/// Untagged on the wire: `{title, icon?}` or `{duration}` (seconds).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WorkflowSummary {
    Duration { duration: i64 },
    Custom { title: String, icon: Option<String> },
}
