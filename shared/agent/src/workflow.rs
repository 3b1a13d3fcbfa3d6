//! Server tool calls in the thread: a `workflow` item whose tasks come and go with the calls
//! (shown to the user), and one stored record per call (hidden from the client) that later
//! turns replay to the model as a function call and its output.

use std::time::Instant;

use chatkit_protocol::{
    timestamp, HiddenContextItem, StatusIndicator, Task, ThreadItemUpdate, ThreadStreamEvent,
    Workflow, WorkflowItem, WorkflowSummary, WorkflowType,
};
use chatkit_server::{EventSink, StreamClosed};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::text::bounded;

/// Longest tool output kept (in the model input and in the stored record), in bytes.
pub const MAX_TOOL_OUTPUT: usize = 16_000;
/// Longest stored arguments, in bytes.
const MAX_ARGUMENTS: usize = 8_000;
/// The `type` of a stored tool call record inside a `hidden_context_item`.
pub const TOOL_CALL_RECORD: &str = "chatkit.server_tool_call";

/// A finished server tool call as stored: `hidden_context_item.content`. Never sent to the
/// client; replayed to the model as `function_call` + `function_call_output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    #[serde(rename = "type")]
    pub kind: String,
    pub call_id: String,
    pub name: String,
    /// The arguments as the model wrote them (a JSON string).
    pub arguments: String,
    /// What the model was told (a JSON string, bounded).
    pub output: String,
    pub failed: bool,
    /// The workflow item that showed this call to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
}

impl ToolCallRecord {
    pub fn new(
        call_id: &str,
        name: &str,
        arguments: &str,
        output: &str,
        failed: bool,
        workflow_id: Option<String>,
    ) -> Self {
        Self {
            kind: TOOL_CALL_RECORD.into(),
            call_id: call_id.into(),
            name: name.into(),
            arguments: bounded(arguments, MAX_ARGUMENTS),
            output: bounded(output, MAX_TOOL_OUTPUT),
            failed,
            workflow_id,
        }
    }

    /// The record held by a hidden item's content, if it is one.
    pub fn from_content(content: &Value) -> Option<Self> {
        if content.get("type").and_then(Value::as_str) != Some(TOOL_CALL_RECORD) {
            return None;
        }
        serde_json::from_value(content.clone()).ok()
    }

    /// The hidden item that stores it.
    pub fn to_item(&self, sink: &EventSink) -> HiddenContextItem {
        HiddenContextItem {
            id: sink.new_id("tc"),
            thread_id: sink.thread_id().to_string(),
            created_at: timestamp::now(),
            content: serde_json::to_value(self).expect("records serialize"),
        }
    }
}

/// The workflow of the current run of tool calls: opened by the first call, one task per
/// call (loading → complete), closed with a summary when the reply starts or the turn ends.
#[derive(Default)]
pub struct ToolWorkflow {
    open: Option<(WorkflowItem, Instant)>,
    failed: usize,
}

impl ToolWorkflow {
    /// The open workflow's id.
    pub fn id(&self) -> Option<String> {
        self.open.as_ref().map(|(item, _)| item.id.clone())
    }

    /// Shows a running task; returns its index.
    pub async fn start(&mut self, sink: &EventSink, title: &str) -> Result<usize, StreamClosed> {
        let task = Task::Custom {
            status_indicator: StatusIndicator::Loading,
            title: Some(title.to_string()),
            icon: Some("bolt".into()),
            content: None,
        };
        match &mut self.open {
            Some((item, _)) => {
                let task_index = item.workflow.tasks.len();
                item.workflow.tasks.push(task.clone());
                let update = ThreadItemUpdate::TaskAdded { task_index, task };
                sink.emit(ThreadStreamEvent::ItemUpdated { item_id: item.id.clone(), update })
                    .await?;
                Ok(task_index)
            }
            None => {
                let item = WorkflowItem {
                    id: sink.new_id("wf"),
                    thread_id: sink.thread_id().to_string(),
                    created_at: timestamp::now(),
                    workflow: Workflow {
                        kind: WorkflowType::Custom,
                        tasks: vec![task],
                        summary: None,
                        expanded: false,
                    },
                };
                sink.emit(ThreadStreamEvent::ItemAdded { item: item.clone().into() }).await?;
                self.open = Some((item, Instant::now()));
                Ok(0)
            }
        }
    }

    /// Marks a task complete, `failed` or not. The user sees only that it failed: the tool's
    /// own error (an MCP server's or a service's words) goes to the model and the log.
    pub async fn finish(
        &mut self,
        sink: &EventSink,
        task_index: usize,
        failed: bool,
    ) -> Result<(), StreamClosed> {
        let Some((item, _)) = &mut self.open else { return Ok(()) };
        let Some(Task::Custom { status_indicator, content, icon, .. }) =
            item.workflow.tasks.get_mut(task_index)
        else {
            return Ok(());
        };
        *status_indicator = StatusIndicator::Complete;
        if failed {
            self.failed += 1;
            *content = Some("Failed".into());
            *icon = Some("circle-question".into());
        }
        let task = item.workflow.tasks[task_index].clone();
        let update = ThreadItemUpdate::TaskUpdated { task_index, task };
        sink.emit(ThreadStreamEvent::ItemUpdated { item_id: item.id.clone(), update }).await
    }

    /// Sends the workflow's `done` with a summary (stored); nothing when none is open.
    pub async fn close(&mut self, sink: &EventSink) -> Result<(), StreamClosed> {
        let Some((mut item, started)) = self.open.take() else { return Ok(()) };
        let count = item.workflow.tasks.len();
        let mut title =
            if count == 1 { "Used 1 tool".to_string() } else { format!("Used {count} tools") };
        if self.failed > 0 {
            title.push_str(&format!(" ({} failed)", self.failed));
        }
        let seconds = started.elapsed().as_secs_f64();
        if seconds >= 1.0 {
            title.push_str(&format!(" in {seconds:.0}s"));
        }
        item.workflow.summary =
            Some(WorkflowSummary::Custom { title, icon: Some("check-circle".into()) });
        self.failed = 0;
        sink.done(item).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip_and_are_bounded() {
        let record = ToolCallRecord::new(
            "call_1",
            "tasks__create_task",
            "{\"title\":\"x\"}",
            &"y".repeat(40_000),
            false,
            Some("wf_1".into()),
        );
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["type"], TOOL_CALL_RECORD);
        let back = ToolCallRecord::from_content(&value).unwrap();
        assert_eq!(back, record);
        assert!(back.output.len() <= MAX_TOOL_OUTPUT + 3);
        assert_eq!(ToolCallRecord::from_content(&json!({"note": "integrator context"})), None);
        assert_eq!(ToolCallRecord::from_content(&json!("text")), None);
    }
}
