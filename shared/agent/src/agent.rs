//! [`Agent`]: the model-backed [`Responder`]. Per turn: history → input, then model rounds
//! (streamed text → server tools → model again, bounded), a pending client tool call ending
//! the turn, and a title on a thread's first message.
//!
//! Failures: when a model call fails after text of that message was streamed, the message is
//! withdrawn with `thread.item.removed` before the `error` event, so the store never holds
//! a half answer and a retry starts from the user message.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatkit_protocol::{timestamp, Action, ClientToolCallItem, ThreadItem, ToolCallStatus, UserMessageItem, WidgetItem};
use chatkit_server::{EventSink, Responder, StreamError, Turn};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::client::{InputItem, ModelClient, ModelEvent, ModelRequest, Role, ToolCall, ToolSpec, Usage};
use crate::config::{AgentConfig, ClientToolSpec};
use crate::reply::Reply;
use crate::title::{wants_title, PendingTitle};
use crate::tools::{spec, RetrievalTool, Tool, ToolContext};
use crate::{context, input};

/// Longest a server tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Handles `threads.custom_action` for an [`Agent`] (widget buttons and the like).
#[async_trait]
pub trait ActionHandler: Send + Sync + 'static {
    async fn action(&self, turn: Turn, action: Action, sender: Option<WidgetItem>, events: EventSink) -> Result<(), StreamError>;
}

/// The default responder: a streaming agent over the configured model API.
pub struct Agent {
    config: AgentConfig,
    client: ModelClient,
    tools: Vec<Arc<dyn Tool>>,
    actions: Option<Arc<dyn ActionHandler>>,
}

/// What one model round produced.
struct Round {
    text: Option<String>,
    calls: Vec<ToolCall>,
}

impl Agent {
    /// An agent over `http` (build the client once per process and reuse it). Adds the
    /// [`RetrievalTool`] when `config.retrieval_url` is set.
    pub fn new(config: AgentConfig, http: reqwest::Client) -> Self {
        let client = ModelClient::new(http.clone(), &config);
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if let Some(url) = &config.retrieval_url {
            tools.push(Arc::new(RetrievalTool::new(http, url.clone())));
        }
        Self { config, client, tools, actions: None }
    }

    /// Adds a server tool.
    pub fn with_tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Declares a client tool (in addition to `CHATKIT_CLIENT_TOOLS`).
    pub fn with_client_tool(mut self, tool: ClientToolSpec) -> Self {
        self.config.client_tools.push(tool);
        self
    }

    /// Handles custom actions; without one they answer "not supported".
    pub fn with_action_handler(mut self, handler: Arc<dyn ActionHandler>) -> Self {
        self.actions = Some(handler);
        self
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    fn tool_specs(&self) -> Vec<ToolSpec> {
        let server = self.tools.iter().map(|t| spec(t.as_ref()));
        let client = self.config.client_tools.iter().map(|t| ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        });
        server.chain(client).collect()
    }

    fn start_title(&self, turn: &Turn) -> PendingTitle {
        if !wants_title(turn) {
            return PendingTitle::none(turn.thread.clone());
        }
        let text = turn.input.as_ref().map(UserMessageItem::plain_text).unwrap_or_default();
        PendingTitle::start(self.client.clone(), self.config.title_model.clone(), turn.thread.clone(), text)
    }

    async fn run(&self, turn: &Turn, sink: &EventSink, title: &mut PendingTitle, usage: &mut Usage) -> Result<(), StreamError> {
        let ctx = ToolContext { request: turn.context.clone(), thread_id: turn.thread.id.clone() };
        let instructions = context::instructions(&self.config.system_prompt, &turn.context);
        let mut input = input::build_input(&turn.history, self.config.history_token_budget);
        let specs = self.tool_specs();
        let mut answered = false;
        for round in 0..=self.config.max_tool_iterations {
            let last = round == self.config.max_tool_iterations;
            let tools = if last { Vec::new() } else { specs.clone() };
            let request = ModelRequest { model: self.config.model.clone(), instructions: instructions.clone(), input: input.clone(), tools };
            let Round { text, calls } = self.round(&request, sink, title, usage).await?;
            answered |= text.is_some();
            if let Some(text) = text {
                input.push(InputItem::message(Role::Assistant, text));
            }
            if calls.is_empty() || last {
                break;
            }
            if let Some(call) = calls.iter().find(|c| self.is_client_tool(&c.name)) {
                if calls.len() > 1 {
                    warn!(count = calls.len(), "a client tool call ends the turn; other calls of that response are dropped");
                }
                sink.done(client_call(sink, call)).await?;
                return Ok(());
            }
            for call in calls {
                let output = self.call_tool(&call, &ctx, sink).await?;
                input.push(InputItem::FunctionCall { call_id: call.call_id.clone(), name: call.name, arguments: call.arguments });
                input.push(InputItem::FunctionCallOutput { call_id: call.call_id, output });
            }
        }
        if !answered {
            return Err(StreamError::custom("The model returned an empty answer.", true));
        }
        Ok(())
    }

    /// One streamed model call: text goes out delta by delta; tool calls are collected.
    async fn round(&self, request: &ModelRequest, sink: &EventSink, title: &mut PendingTitle, usage: &mut Usage) -> Result<Round, StreamError> {
        let mut stream = self.client.stream(request).await.map_err(|err| {
            warn!(error = %err, "model call failed");
            err.to_stream_error()
        })?;
        let mut reply = Reply::new(sink);
        let mut calls = Vec::new();
        while let Some(event) = stream.next().await {
            let failure = match event {
                Ok(ModelEvent::TextDelta(delta)) => {
                    reply.delta(&delta).await?;
                    title.poll(sink).await?;
                    continue;
                }
                Ok(ModelEvent::Annotation(annotation)) => {
                    reply.annotate(annotation).await?;
                    continue;
                }
                Ok(ModelEvent::ToolCall(call)) => {
                    calls.push(call);
                    continue;
                }
                Ok(ModelEvent::Completed { usage: reported }) => {
                    if let Some(u) = reported {
                        usage.input_tokens += u.input_tokens;
                        usage.output_tokens += u.output_tokens;
                    }
                    continue;
                }
                Ok(ModelEvent::Refusal(text)) => {
                    StreamError::custom(format!("The model declined to answer: {}", input::bounded(&text, 500)), false)
                }
                Err(err) => {
                    warn!(error = %err, streamed = reply.started(), "model stream failed");
                    err.to_stream_error()
                }
            };
            drop(stream);
            reply.abandon().await?;
            return Err(failure);
        }
        let text = reply.finish().await?;
        Ok(Round { text, calls })
    }

    fn is_client_tool(&self, name: &str) -> bool {
        self.config.client_tools.iter().any(|t| t.name == name)
    }

    /// Runs a server tool with a `progress_update`; a failure becomes an error text for the
    /// model and the turn goes on.
    async fn call_tool(&self, call: &ToolCall, ctx: &ToolContext, sink: &EventSink) -> Result<String, StreamError> {
        let Some(tool) = self.tools.iter().find(|t| t.name() == call.name) else {
            warn!(tool = %call.name, "the model called an unknown tool");
            return Ok(json!({"error": format!("there is no tool named `{}`", call.name)}).to_string());
        };
        sink.progress(None, tool.progress_text()).await?;
        let args: Value = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str(&call.arguments) {
                Ok(args) => args,
                Err(e) => return Ok(json!({"error": format!("the arguments are not valid JSON: {e}")}).to_string()),
            }
        };
        let result = tokio::time::timeout(TOOL_TIMEOUT, tool.call(args, ctx)).await;
        Ok(match result {
            Ok(Ok(value)) => value.to_string(),
            Ok(Err(err)) => {
                warn!(tool = %call.name, error = %err, "tool failed");
                json!({"error": err.to_string()}).to_string()
            }
            Err(_) => json!({"error": "the tool timed out"}).to_string(),
        })
    }
}

/// The pending `client_tool_call` item: our own `tc_` id, the model's `call_id`.
fn client_call(sink: &EventSink, call: &ToolCall) -> ThreadItem {
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


#[async_trait]
impl Responder for Agent {
    async fn respond(&self, turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let mut title = self.start_title(&turn);
        let mut usage = Usage::default();
        let result = self.run(&turn, &sink, &mut title, &mut usage).await;
        info!(
            request_id = %turn.context.request_id,
            model = %self.config.model,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            ok = result.is_ok(),
            "model usage for the turn"
        );
        result?;
        title.finish(&sink).await?;
        Ok(())
    }

    async fn action(&self, turn: Turn, action: Action, sender: Option<WidgetItem>, events: EventSink) -> Result<(), StreamError> {
        match &self.actions {
            Some(handler) => handler.action(turn, action, sender, events).await,
            None => Err(StreamError::custom(format!("the action `{}` is not supported by this server", action.kind), false)),
        }
    }
}
