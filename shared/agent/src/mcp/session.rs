//! One turn's view of the MCP servers: the caller's credentials, the sessions opened for this
//! turn (never reused by another turn, so never by another user), the tools offered, calls.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::widgets::{looks_like_widget, validate_widget};
use chatkit_server::RequestContext;
use futures::future::join_all;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::{function_name, CacheKey, ListedTool, McpClient, MAX_DESCRIPTION};
use crate::text::bounded;
use crate::tools::{Tool, ToolContext, ToolError};

type Session = RunningService<RoleClient, ()>;

/// The MCP side of one turn. Dropping it closes its sessions (rmcp's worker sends the
/// `DELETE` of stateful servers in the background).
pub struct McpTurn {
    client: Arc<McpClient>,
    context: RequestContext,
    sessions: Mutex<HashMap<usize, Arc<Session>>>,
}

impl McpTurn {
    pub(super) fn new(client: Arc<McpClient>, context: &RequestContext) -> Self {
        Self { client, context: context.clone(), sessions: Mutex::new(HashMap::new()) }
    }

    fn name(&self, server: usize) -> &str {
        &self.client.servers[server].name
    }

    /// The `Authorization` bearer value for `server`, if it takes one.
    async fn credential(&self, server: usize) -> Result<Option<Arc<str>>, String> {
        let config = &self.client.servers[server];
        self.client.credentials.bearer(&config.auth, &config.url, &self.context).await
    }

    /// Opens a session (the MCP handshake, with this caller's credentials).
    async fn connect(&self, server: usize) -> Result<Arc<Session>, String> {
        let config = &self.client.servers[server];
        // answers are read within the same cap as the other upstreams' (rmcp's default: 16 MiB)
        let mut transport_config =
            StreamableHttpClientTransportConfig::with_uri(config.url.as_str())
                .max_json_response_size(crate::capped::MAX_ANSWER_BYTES)
                .max_sse_event_size(crate::capped::MAX_ANSWER_BYTES);
        if let Some(token) = self.credential(server).await? {
            transport_config = transport_config.auth_header(token.to_string());
        }
        let transport =
            StreamableHttpClientTransport::with_client(self.client.http.clone(), transport_config);
        match tokio::time::timeout(config.timeout(), ().serve(transport)).await {
            Ok(Ok(session)) => Ok(Arc::new(session)),
            Ok(Err(err)) => Err(format!("could not connect: {}", describe(&err.to_string()))),
            Err(_) => Err(format!("no answer within {} ms", config.timeout().as_millis())),
        }
    }

    /// This turn's session with `server`, opened on first use.
    async fn session(&self, server: usize) -> Result<Arc<Session>, String> {
        if let Some(session) = self.sessions.lock().await.get(&server) {
            return Ok(session.clone());
        }
        let session = self.connect(server).await?;
        self.sessions.lock().await.insert(server, session.clone());
        Ok(session)
    }

    /// The server's allowed tools: from the cache, or listed with this caller's credentials.
    async fn list(&self, server: usize) -> Result<Arc<Vec<ListedTool>>, String> {
        let key: CacheKey = self.client.cache_key(server, &self.context);
        if let Some(list) = self.client.cached(&key) {
            return Ok(list);
        }
        let config = &self.client.servers[server];
        let session = self.session(server).await?;
        let listed = match tokio::time::timeout(config.timeout(), session.list_all_tools()).await {
            Ok(Ok(tools)) => tools,
            Ok(Err(err)) => {
                return Err(format!("tools/list failed: {}", describe(&err.to_string())))
            }
            Err(_) => {
                return Err(format!(
                    "tools/list got no answer within {} ms",
                    config.timeout().as_millis()
                ))
            }
        };
        let mut tools = Vec::new();
        for tool in listed {
            if !config.allows(&tool.name) {
                continue;
            }
            let Some(function) = function_name(&config.name, &tool.name) else {
                warn!(server = %config.name, tool = %tool.name, "MCP tool name too long for the model API; skipped");
                continue;
            };
            if tools.iter().any(|t: &ListedTool| t.function == function) {
                warn!(server = %config.name, tool = %tool.name, "two MCP tools map to the same function name; the second is skipped");
                continue;
            }
            let description =
                tool.description.as_deref().or(tool.title.as_deref()).unwrap_or_default();
            tools.push(ListedTool {
                function,
                tool: tool.name.to_string(),
                description: bounded(description, MAX_DESCRIPTION),
                input_schema: Value::Object((*tool.input_schema).clone()),
            });
        }
        let list = Arc::new(tools);
        self.client.remember(key, list.clone());
        Ok(list)
    }

    /// Every server's tools, listed concurrently; a server that fails is left out (logged).
    pub async fn tools(self: &Arc<Self>) -> Vec<Arc<dyn Tool>> {
        let listings = join_all(
            (0..self.client.servers.len())
                .map(|server| async move { (server, self.list(server).await) }),
        )
        .await;
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        for (server, listing) in listings {
            match listing {
                Ok(list) => {
                    debug!(server = %self.name(server), tools = list.len(), "MCP tools offered");
                    tools.extend(list.iter().map(|t| {
                        Arc::new(McpTool { turn: self.clone(), server, listed: t.clone() })
                            as Arc<dyn Tool>
                    }));
                }
                Err(reason) => warn!(
                    request_id = %self.context.request_id,
                    server = %self.name(server),
                    reason = %reason,
                    "MCP server unavailable; the turn goes on without its tools"
                ),
            }
        }
        tools
    }

    /// Calls `tool` on `server` (the agent bounds the wait with the server's timeout).
    async fn call(&self, server: usize, tool: &str, args: Value) -> Result<CallToolResult, String> {
        let arguments = match args {
            Value::Object(map) => map,
            Value::Null => Default::default(),
            other => return Err(format!("the arguments must be a JSON object, not {other}")),
        };
        let session = self.session(server).await?;
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        match session.call_tool(params).await {
            Ok(result) => Ok(result),
            Err(err) => {
                // the session may be broken: the next call of this turn opens a new one
                self.sessions.lock().await.remove(&server);
                Err(describe(&err.to_string()))
            }
        }
    }
}

/// Errors as the model and the logs see them: bounded, one line.
fn describe(error: &str) -> String {
    bounded(&error.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

/// One MCP tool offered to the model for this turn.
pub struct McpTool {
    turn: Arc<McpTurn>,
    server: usize,
    listed: ListedTool,
}

impl McpTool {
    pub fn server(&self) -> &str {
        self.turn.name(self.server)
    }
}

#[async_trait]
impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.listed.function
    }

    fn description(&self) -> &str {
        &self.listed.description
    }

    fn parameters(&self) -> Value {
        self.listed.input_schema.clone()
    }

    fn progress_text(&self) -> String {
        format!("Calling {} on {}…", self.listed.tool, self.server())
    }

    fn timeout(&self) -> Option<std::time::Duration> {
        Some(self.turn.client.servers[self.server].timeout())
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let result = self.turn.call(self.server, &self.listed.tool, args).await.map_err(|e| {
            warn!(server = %self.server(), tool = %self.listed.tool, error = %e, "MCP call failed");
            ToolError::new(format!("the {} server failed: {e}", self.server()))
        })?;
        let output = tool_output(&result)?;
        // structured content that is a ChatKit widget is shown as one; anything claiming to
        // be a widget that is not valid is only text (for the model), never a broken frame
        let config = &self.turn.client.servers[self.server];
        let widget = result
            .structured_content
            .as_ref()
            .filter(|content| looks_like_widget(content))
            .map(|content| super::widget::sanitize(content, config));
        match widget {
            Some(widget) => match validate_widget(&widget) {
                Ok(()) => {
                    let copy_text =
                        output.as_str().filter(|t| !t.trim().is_empty()).map(str::to_string);
                    ctx.events
                        .widget(widget, copy_text)
                        .await
                        .map_err(|_| ToolError::new("the stream closed"))?;
                    Ok(
                        json!({"result": output, "shown_to_the_user": "as a widget; do not repeat its content"}),
                    )
                }
                Err(err) => {
                    warn!(server = %self.server(), tool = %self.listed.tool, error = %err, "MCP structured content is not a valid widget; using its text");
                    Ok(output)
                }
            },
            None => Ok(output),
        }
    }
}

/// The text of a result (text blocks joined), or its structured content as JSON; an
/// `isError` result is a tool error carrying that text.
pub(crate) fn tool_output(result: &CallToolResult) -> Result<Value, ToolError> {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = text.join("\n");
    if result.is_error == Some(true) {
        let message =
            if text.trim().is_empty() { "the tool reported an error".to_string() } else { text };
        return Err(ToolError::new(message));
    }
    if !text.trim().is_empty() {
        return Ok(Value::String(text));
    }
    Ok(result.structured_content.clone().unwrap_or(Value::String(String::new())))
}
