//! [`Agent`]: the model-backed [`Responder`]. Per turn: history → input, then model rounds
//! (streamed text → server tools → model again, bounded), a pending client tool call ending
//! the turn, and a title on a thread's first message.
//!
//! Failures: when a model call fails after text of that message was streamed, the message is
//! withdrawn with `thread.item.removed` before the `error` event, so the store never holds
//! a half answer and a retry starts from the user message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatkit_protocol::{
    InferenceOptions, ThreadItem, TranscriptionResult, UserMessageInput, UserMessageItem,
};
use chatkit_server::metrics::MetricLine;
use chatkit_server::{
    ActionHandler, ActionRegistry, AudioInput, ChatKitError, EventSink, RequestContext, Responder,
    StreamError, Turn,
};
use tracing::{info, warn};

use crate::attachments::{self, AttachmentOptions};
use crate::client::{
    InputItem, ModelClient, ModelEvent, ModelRequest, Role, ToolCall, ToolChoice, ToolSpec, Usage,
};
use crate::config::{AgentConfig, ClientToolSpec, ModelApi};
use crate::mcp::McpClient;
use crate::reply::Reply;
use crate::title::{wants_title, PendingTitle};
use crate::tools::{spec, RetrievalTool, Tool, ToolContext};
use crate::transcribe::Transcriber;
use crate::upstream_auth::{Credentials, ServiceTokens};
use crate::workflow::{ToolCallRecord, ToolWorkflow, MAX_TOOL_OUTPUT};
use crate::{budget, context, input};

mod tool_calls;
mod turn_stats;

use tool_calls::client_call;
use turn_stats::TurnStats;

/// Longest a server tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The default responder: a streaming agent over the configured model API.
pub struct Agent {
    config: AgentConfig,
    client: ModelClient,
    transcriber: Transcriber,
    tools: Vec<Arc<dyn Tool>>,
    mcp: Option<Arc<McpClient>>,
    credentials: Arc<Credentials>,
    actions: ActionRegistry,
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
        let client = ModelClient::new(http.clone(), config.client_config());
        let transcriber = Transcriber::new(http.clone(), config.transcriber_config());
        let credentials = Arc::new(Credentials::new(http.clone()));
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if let Some(url) = &config.retrieval_url {
            let tool = RetrievalTool::new(http.clone(), url.clone())
                .with_auth(config.retrieval_auth.clone(), credentials.clone());
            tools.push(Arc::new(tool));
        }
        let mcp = (!config.mcp_servers.is_empty()).then(|| {
            let servers = config.mcp_servers.clone();
            Arc::new(McpClient::new(http, servers, config.mcp_tools_ttl, credentials.clone()))
        });
        Self {
            config,
            client,
            transcriber,
            tools,
            mcp,
            credentials,
            actions: ActionRegistry::new(),
        }
    }

    /// Where secrets named by ARN are read: MCP service tokens (`{"secret_arn": …}`) and
    /// token-exchange client secrets (`client_secret_arn`).
    pub fn with_service_tokens(self, tokens: Arc<dyn ServiceTokens>) -> Self {
        self.credentials.set_secret_reader(tokens);
        self
    }

    /// The credentials of the services it calls (token exchanges sent, for metrics and tests).
    pub fn credentials(&self) -> &Arc<Credentials> {
        &self.credentials
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

    /// Reads the model API key from `source` before every model call (e.g. a Secrets Manager
    /// secret, cached and refreshed): a rotated key, or a placeholder replaced by a real key,
    /// is used without a restart. While the source has no key (and the API is OpenAI's), the
    /// turns are answered by the [`crate::OfflineResponder`].
    pub fn with_api_key_source(mut self, source: Arc<dyn crate::client::ApiKeySource>) -> Self {
        self.client = self.client.with_key_source(source);
        self
    }

    /// Calls Bedrock through `client` (for `CHATKIT_MODEL_API=bedrock`).
    pub fn with_bedrock(mut self, client: aws_sdk_bedrockruntime::Client) -> Self {
        self.client = self.client.with_bedrock(client);
        self
    }

    /// Handles actions of type `kind` (widget buttons, `sendCustomAction`). Actions of a
    /// type no handler was added for get a 400.
    pub fn with_action(mut self, kind: impl Into<String>, handler: Arc<dyn ActionHandler>) -> Self {
        self.actions.register(kind, handler);
        self
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    fn tool_specs(&self, tools: &[Arc<dyn Tool>]) -> Vec<ToolSpec> {
        let server = tools.iter().map(|t| spec(t.as_ref()));
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
        PendingTitle::start(
            self.client.clone(),
            self.config.title_model.clone(),
            turn.thread.clone(),
            text,
        )
    }

    /// The composer options of the message being answered (the newest user message).
    fn options(turn: &Turn) -> InferenceOptions {
        match &turn.input {
            Some(message) => message.inference_options.clone(),
            None => turn
                .history
                .iter()
                .rev()
                .find_map(|i| match i {
                    ThreadItem::UserMessage(m) => Some(m.inference_options.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
        }
    }

    /// The composer's model when it is offered, else the default.
    fn model_for(&self, options: &InferenceOptions) -> String {
        match options.model.as_deref() {
            Some(model) if self.config.offers_model(model) => model.to_string(),
            Some(model) => {
                warn!(
                    model,
                    "the stored message names a model that is no longer offered; using the default"
                );
                self.config.model.clone()
            }
            None => self.config.model.clone(),
        }
    }

    /// The composer's tool choice for the first round: a tool's name forces that tool; a
    /// prefix shared by tools (an MCP server's name, `<server>__…`) offers only those and
    /// requires one of them. Returns the tools of that round and the choice.
    fn first_round_tools(
        specs: &[ToolSpec],
        options: &InferenceOptions,
    ) -> (Vec<ToolSpec>, Option<ToolChoice>) {
        let Some(id) = options.tool_choice.as_ref().map(|c| c.id.as_str()) else {
            return (specs.to_vec(), None);
        };
        if specs.iter().any(|s| s.name == id) {
            return (specs.to_vec(), Some(ToolChoice::Function(id.to_string())));
        }
        let prefix = format!("{id}__");
        let group: Vec<ToolSpec> =
            specs.iter().filter(|s| s.name.starts_with(&prefix)).cloned().collect();
        if !group.is_empty() {
            return (group, Some(ToolChoice::Required));
        }
        warn!(
            tool_choice = id,
            "the composer chose a tool this agent does not have; letting the model decide"
        );
        (specs.to_vec(), None)
    }

    async fn run(
        &self,
        turn: &Turn,
        sink: &EventSink,
        title: &mut PendingTitle,
        stats: &mut TurnStats,
        workflow: &mut ToolWorkflow,
    ) -> Result<(), StreamError> {
        let ctx = ToolContext {
            request: turn.context.clone(),
            thread_id: turn.thread.id.clone(),
            events: sink.clone(),
        };
        let instructions = context::instructions(&self.config.system_prompt, &turn.context);
        let attachment_options = AttachmentOptions {
            api: self.config.api,
            // Bedrock takes images and PDFs only as bytes
            inline: self.config.attachment_inline || self.config.api == ModelApi::Bedrock,
            text_max_bytes: self.config.attachment_text_max_bytes,
        };
        let attachments = attachments::resolve(turn, &attachment_options).await;
        let (mut input, turn_start) = input::build_bounded_input(
            &turn.history,
            self.config.history_token_budget,
            &self.config.budgets,
            &attachments,
        );
        // this turn's tools: the server tools, plus what the MCP servers offer this caller
        let mut turn_tools = self.tools.clone();
        let mcp = self.mcp.as_ref().map(|mcp| mcp.begin(&turn.context));
        if let Some(mcp) = &mcp {
            turn_tools.extend(mcp.tools().await);
        }
        let specs = self.tool_specs(&turn_tools);
        let options = Self::options(turn);
        let model = self.model_for(&options);
        let mut answered = false;
        for round in 0..=self.config.max_tool_iterations {
            let last = round == self.config.max_tool_iterations;
            let (tools, tool_choice) = match (round, last) {
                (_, true) => (Vec::new(), None),
                (0, false) if turn.input.is_some() => Self::first_round_tools(&specs, &options),
                _ => (specs.clone(), None),
            };
            let mut request = ModelRequest {
                model: model.clone(),
                instructions: instructions.clone(),
                input: input.clone(),
                tools,
                tool_choice,
            };
            let estimate = budget::fit_to_budget(
                &mut request,
                self.config.budgets.model_input_tokens,
                turn_start,
                &turn.context.request_id,
            )?;
            // the round's worst case must fit in what the turn reserved of the user's day (or
            // in what it can still reserve): the daily limit holds however many turns run
            let worst =
                chatkit_store::usage::round_reservation(estimate, self.config.max_output_tokens);
            if !turn.context.tokens.ensure(worst).await {
                workflow.close(sink).await?;
                return Err(StreamError::custom(
                    "You have used today's assistant allowance, so this reply stops here. It renews at midnight UTC.",
                    false,
                ));
            }
            // the turn's tokens count against the user's daily limit: the input estimate now
            // (it is billed even if the turn is cut), the provider's figures once it reports them
            turn.context.tokens.add(estimate);
            let before = stats.usage.input_tokens + stats.usage.output_tokens;
            let sent = Instant::now();
            stats.started.get_or_insert(sent);
            let result = self.round(&request, sink, title, stats, workflow).await;
            stats.model_time += sent.elapsed();
            stats.calls += 1;
            let reported = stats.usage.input_tokens + stats.usage.output_tokens - before;
            if reported > 0 {
                turn.context.tokens.settle(estimate, reported);
            }
            let Round { text, calls } = result?;
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
                workflow.close(sink).await?;
                sink.done(client_call(sink, call)).await?;
                return Ok(());
            }
            for call in calls {
                let record = self.call_tool(&turn_tools, &call, &ctx, sink, workflow).await?;
                input.push(InputItem::FunctionCall {
                    call_id: record.call_id.clone(),
                    name: record.name.clone(),
                    arguments: record.arguments.clone(),
                });
                input.push(InputItem::FunctionCallOutput {
                    call_id: record.call_id.clone(),
                    output: record.output.clone(),
                });
                sink.done(record.to_item(sink)).await?;
            }
        }
        workflow.close(sink).await?;
        if !answered {
            return Err(StreamError::custom("The model returned an empty answer.", true));
        }
        Ok(())
    }

    /// One streamed model call: text goes out delta by delta; tool calls are collected.
    async fn round(
        &self,
        request: &ModelRequest,
        sink: &EventSink,
        title: &mut PendingTitle,
        stats: &mut TurnStats,
        workflow: &mut ToolWorkflow,
    ) -> Result<Round, StreamError> {
        let mut stream = self.client.stream(request).await.map_err(|err| {
            warn!(error = %err, hint = err.hint(), "model call failed");
            err.to_stream_error()
        })?;
        let mut reply = Reply::new(sink);
        let mut calls = Vec::new();
        while let Some(event) = stream.next().await {
            let failure = match event {
                Ok(ModelEvent::TextDelta(delta)) => {
                    stats.first_output.get_or_insert_with(Instant::now);
                    if !reply.started() {
                        workflow.close(sink).await?; // the tools' work is shown above the reply
                    }
                    reply.delta(&delta).await?;
                    title.poll(sink).await?;
                    continue;
                }
                Ok(ModelEvent::Annotation(annotation)) => {
                    reply.annotate(annotation).await?;
                    continue;
                }
                Ok(ModelEvent::ToolCall(call)) => {
                    stats.first_output.get_or_insert_with(Instant::now);
                    calls.push(call);
                    continue;
                }
                Ok(ModelEvent::Completed { usage: reported }) => {
                    if let Some(u) = reported {
                        stats.usage.input_tokens += u.input_tokens;
                        stats.usage.output_tokens += u.output_tokens;
                    }
                    continue;
                }
                Ok(ModelEvent::Refusal(text)) => StreamError::custom(
                    format!("The model declined to answer: {}", input::bounded(&text, 500)),
                    false,
                ),
                Err(err) => {
                    warn!(error = %err, hint = err.hint(), streamed = reply.started(), "model stream failed");
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
}

#[async_trait]
impl Responder for Agent {
    async fn respond(&self, turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        match self.client.has_model().await {
            Ok(true) => {}
            Ok(false) => return crate::OfflineResponder.respond(turn, sink).await,
            Err(err) => {
                warn!(request_id = %turn.context.request_id, error = %err, hint = err.hint(), "no model key");
                return Err(err.to_stream_error());
            }
        }
        let mut title = self.start_title(&turn);
        let mut stats = TurnStats::default();
        let mut workflow = ToolWorkflow::default();
        let result = self.run(&turn, &sink, &mut title, &mut stats, &mut workflow).await;
        if result.is_err() {
            let _ = workflow.close(&sink).await; // best effort: the UI should not show tools still running
        }
        let model = self.model_for(&Self::options(&turn));
        let ttft_ms = stats.ttft().map(|d| d.as_secs_f64() * 1e3);
        info!(
            request_id = %turn.context.request_id,
            model = %model,
            input_tokens = stats.usage.input_tokens,
            output_tokens = stats.usage.output_tokens,
            model_calls = stats.calls,
            ttft_ms,
            model_ms = stats.model_time.as_secs_f64() * 1e3,
            ok = result.is_ok(),
            "model usage for the turn"
        );
        stats.emit(&model, &turn.context.request_id, result.is_ok());
        result?;
        title.finish(&sink).await?;
        Ok(())
    }

    fn check_input(
        &self,
        input: &UserMessageInput,
        _context: &RequestContext,
    ) -> Result<(), ChatKitError> {
        match input.inference_options.model.as_deref() {
            Some(model) if !self.config.offers_model(model) => {
                let mut offered = vec![self.config.model.as_str()];
                offered.extend(
                    self.config
                        .models
                        .iter()
                        .map(String::as_str)
                        .filter(|m| *m != self.config.model),
                );
                Err(ChatKitError::BadRequest {
                    message: format!(
                        "the model `{}` is not offered here; choose one of: {}",
                        input::bounded(model, 100),
                        offered.join(", ")
                    ),
                    field: Some("params.input.inference_options.model".into()),
                })
            }
            _ => Ok(()),
        }
    }

    /// `input.transcribe` through the provider's `/audio/transcriptions`.
    async fn transcribe(
        &self,
        _context: &RequestContext,
        audio: AudioInput,
    ) -> Result<TranscriptionResult, ChatKitError> {
        let unavailable = |e: crate::client::ModelError| {
            warn!(error = %e, "the model API key could not be read for a transcription");
            ChatKitError::Unavailable("dictation is not available right now; try again".into())
        };
        if self.config.api == ModelApi::Bedrock {
            return Err(ChatKitError::NotImplemented(
                "dictation needs an OpenAI-compatible transcription API; this deployment's model is on Amazon Bedrock".into(),
            ));
        }
        if !self.client.has_model().await.map_err(unavailable)? {
            return Err(ChatKitError::NotImplemented(
                "dictation needs a model API key, and none is configured yet".into(),
            ));
        }
        let key = self.client.api_key().await.map_err(unavailable)?;
        self.transcriber.transcribe(audio, key.as_deref()).await
    }

    fn actions(&self) -> Option<&ActionRegistry> {
        Some(&self.actions)
    }
}
