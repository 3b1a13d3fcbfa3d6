//! Running the model's tool calls: server tools as workflow tasks, client tools as pending
//! items the browser completes.

use std::sync::Arc;

use chatkit_protocol::{timestamp, ClientToolCallItem, ThreadItem, ToolCallStatus};
use chatkit_server::EventSink;
use serde_json::{json, Map, Value};

use super::*;

impl Agent {
    pub(super) fn is_client_tool(&self, name: &str) -> bool {
        self.config.client_tools.iter().any(|t| t.name == name)
    }

    /// Runs a server tool, shown as a workflow task and a `progress_update`; returns the
    /// record to store. A failure (an error, invalid arguments, a timeout, an unknown tool)
    /// becomes an error text for the model, and the turn goes on.
    pub(super) async fn call_tool(
        &self,
        tools: &[Arc<dyn Tool>],
        call: &ToolCall,
        ctx: &ToolContext,
        sink: &EventSink,
        workflow: &mut ToolWorkflow,
    ) -> Result<ToolCallRecord, StreamError> {
        let tool = tools.iter().find(|t| t.name() == call.name);
        let task = workflow.start(sink, &call.name).await?;
        let outcome = match tool {
            None => {
                warn!(tool = %call.name, "the model called an unknown tool");
                Err(format!("there is no tool named `{}`", call.name))
            }
            Some(tool) => {
                sink.progress(Some("bolt"), tool.progress_text()).await?;
                match parse_arguments(&call.arguments) {
                    Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
                    Ok(args) => match tokio::time::timeout(
                        tool.timeout().unwrap_or(TOOL_TIMEOUT),
                        tool.call(args, ctx),
                    )
                    .await
                    {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(err)) => {
                            warn!(tool = %call.name, error = %err, "tool failed");
                            Err(err.to_string())
                        }
                        Err(_) => {
                            warn!(tool = %call.name, "tool timed out");
                            Err("the tool timed out".to_string())
                        }
                    },
                }
            }
        };
        let (output, failure) = match outcome {
            Ok(Value::String(text)) => (
                budget::trim_marked(
                    &text,
                    self.config.budgets.tool_output_bytes().min(MAX_TOOL_OUTPUT),
                ),
                None,
            ),
            Ok(value) => (
                budget::trim_marked(
                    &value.to_string(),
                    self.config.budgets.tool_output_bytes().min(MAX_TOOL_OUTPUT),
                ),
                None,
            ),
            Err(message) => (json!({"error": message}).to_string(), Some(message)),
        };
        workflow.finish(sink, task, failure.is_some()).await?;
        Ok(ToolCallRecord::new(
            &call.call_id,
            &call.name,
            &call.arguments,
            &output,
            failure.is_some(),
            workflow.id(),
        ))
    }
}

fn parse_arguments(arguments: &str) -> Result<Value, serde_json::Error> {
    if arguments.trim().is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str(arguments)
    }
}

/// The pending `client_tool_call` item: our own `tc_` id, the model's `call_id`.
pub(super) fn client_call(sink: &EventSink, call: &ToolCall) -> ThreadItem {
    let arguments = match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(map)) => map,
        Ok(other) => Map::from_iter([("value".to_string(), other)]),
        Err(_) => Map::new(),
    };
    ThreadItem::ClientToolCall(ClientToolCallItem {
        id: sink.new_id("tc"),
        thread_id: sink.thread_id().to_string(),
        created_at: timestamp::now(),
        status: ToolCallStatus::Pending,
        call_id: call.call_id.clone(),
        name: call.name.clone(),
        arguments,
        output: None,
    })
}
