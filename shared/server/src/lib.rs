//! The ChatKit server core: one [`ChatKitServer::process`] entry taking a raw body and the
//! request's context, answering either JSON or a stream of events. Each operation is a small
//! handler in [`handlers`]; agent logic plugs in through [`Responder`]; persistence goes
//! through a [`chatkit_store::Store`].

pub mod actions;
mod cancel;
mod container_limits;
mod context;
mod emit;
mod error;
mod handlers;
mod json_body;
mod limits;
pub mod metrics;
mod pending;
mod pipeline;
mod responder;
mod sink;
mod usage;

use chatkit_settings::catalog::{
    ATTACHMENTS_PER_MINUTE, CANCEL_POLL_MS, DEADLINE_MARGIN_MS, DUPLICATE_WINDOW_SECONDS,
    MAX_BODY_BYTES, REQUESTS_PER_MINUTE, TURN_BUDGET_SECONDS,
};
use chatkit_settings::{Lookup, SettingError};
use std::sync::Arc;
use std::time::Duration;

use chatkit_protocol::{ChatKitRequest, Function, Operation};
use chatkit_store::Store;

pub use actions::{ActionContext, ActionHandler, ActionRegistry, SyncActionContext};
pub use chatkit_store::{AttachmentBytes, AttachmentStore};
pub use container_limits::ContainerLimits;
pub use context::{RequestContext, TokenMeter, TokenReserver};
pub use emit::WidgetStream;
pub use error::{ChatKitError, StreamError};
pub use json_body::JsonBody;
pub use limits::Limits;
pub use pipeline::{default_cancelled_items, EventStream, CANCELLED_NOTE, TIMED_OUT_NOTE};
pub use responder::{AudioInput, NoResponder, Responder, Turn};
pub use sink::{EventSink, StreamClosed};

/// Limits and sizes of the server core.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes (Lambda's own limit is 6 MB).
    pub max_body_bytes: usize,
    /// How many recent items a turn loads as history (one store request).
    pub history_items: usize,
    /// Limits on parts of a request, checked before anything is read or written.
    pub limits: Limits,
    /// How long the same message (same thread, same input) counts as a double submit and is
    /// stored once; zero turns that off (an `Idempotency-Key` header still applies).
    pub duplicate_window: Duration,
    /// Longest a turn may stream (model rounds, tools and retries together), counted from the
    /// request; `None`: only the invocation's deadline bounds it.
    pub turn_budget: Option<Duration>,
    /// How long before the invocation's deadline (`RequestContext::deadline`) a turn stops,
    /// to save what it wrote and end with a retryable `error` event.
    pub deadline_margin: Duration,
    /// How often a running turn reads its cancel flag (`turns.cancel` from another
    /// container); zero: only a cancel that lands in the same process stops it.
    pub cancel_poll: Duration,
    /// Per-user, per-container limits on the requests that call no model.
    pub container_limits: ContainerLimits,
}

impl Default for ServerConfig {
    /// Every declared default.
    fn default() -> Self {
        Self::from_lookup(&chatkit_settings::defaults).expect("the declared defaults parse")
    }
}

impl ServerConfig {
    /// The defaults with the environment's settings applied (`docs/settings.md`).
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    /// The settings read through `get`.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        let turn_budget = TURN_BUDGET_SECONDS.seconds(get)?;
        Ok(Self {
            max_body_bytes: MAX_BODY_BYTES.number(get)?,
            history_items: 50,
            limits: Limits::from_lookup(get)?,
            duplicate_window: DUPLICATE_WINDOW_SECONDS.seconds(get)?,
            turn_budget: (!turn_budget.is_zero()).then_some(turn_budget),
            deadline_margin: DEADLINE_MARGIN_MS.millis(get)?,
            cancel_poll: CANCEL_POLL_MS.millis(get)?,
            container_limits: ContainerLimits {
                requests_per_minute: REQUESTS_PER_MINUTE.number(get)?,
                attachments_per_minute: ATTACHMENTS_PER_MINUTE.number(get)?,
            },
        })
    }
}

/// When the invocation running a request is killed (Lambda's deadline): put it in the
/// request's extensions and the gateway copies it into [`RequestContext::deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationDeadline(pub std::time::Instant);

/// The answer to a request: one JSON document, or a stream of events (SSE).
pub enum ChatKitResponse {
    Json(JsonBody),
    Stream(EventStream),
}

impl std::fmt::Debug for ChatKitResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatKitResponse::Json(v) => f.debug_tuple("Json").field(v).finish(),
            ChatKitResponse::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// The protocol router. Cheap to clone; build it once per process.
#[derive(Clone)]
pub struct ChatKitServer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) responder: Arc<dyn Responder>,
    pub(crate) attachments: Option<Arc<dyn AttachmentStore>>,
    pub(crate) actions: Option<ActionRegistry>,
    pub(crate) config: ServerConfig,
    pub(crate) usage: Option<usage::UsageControl>,
    pub(crate) running: Arc<cancel::RunningTurns>,
    pub(crate) function: Option<Function>,
    pub(crate) meter: Arc<container_limits::ContainerMeter>,
}

impl ChatKitServer {
    pub fn new(store: Arc<dyn Store>, responder: Arc<dyn Responder>) -> Self {
        Self {
            store,
            responder,
            attachments: None,
            actions: None,
            config: ServerConfig::default(),
            usage: None,
            running: Arc::default(),
            function: None,
            meter: Arc::default(),
        }
    }

    /// Serves only `function`'s operations (docs/functions.md): any other type is answered
    /// 400 `wrong_function`, naming the function that serves it. Without this, every
    /// operation is served (the all-in-one function).
    pub fn serving_only(mut self, function: Function) -> Self {
        self.function = Some(function);
        self
    }

    /// The function this server is, when it serves only one's operations.
    pub fn function(&self) -> Option<Function> {
        self.function
    }

    /// Handles `threads.custom_action` / `threads.sync_custom_action` with these handlers
    /// (instead of the responder's [`Responder::actions`]).
    pub fn with_actions(mut self, actions: ActionRegistry) -> Self {
        self.actions = Some(actions);
        self
    }

    /// Enables `attachments.create` / `attachments.delete`.
    pub fn with_attachment_store(mut self, attachments: Arc<dyn AttachmentStore>) -> Self {
        self.attachments = Some(attachments);
        self
    }

    /// Holds every user to `limits` (turns per minute, model tokens per day), counted in
    /// `counters`: a turn over a limit is answered 429 before anything is stored or any model
    /// is called, and the tokens a turn used are added when it ends.
    pub fn with_usage_limits(
        mut self,
        counters: Arc<dyn chatkit_store::UsageStore>,
        limits: chatkit_store::UsageLimits,
    ) -> Self {
        self.usage = (!limits.is_off()).then(|| usage::UsageControl { counters, limits });
        self
    }

    pub fn with_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Waits (at most `limit`) until no turn of this process is running: each ends by saving
    /// what it must (a cancelled turn its partial reply), so a process about to exit calls this.
    pub async fn drain(&self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        while self.running.count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The attachment byte store, when attachments are enabled.
    pub fn attachment_store(&self) -> Option<&Arc<dyn AttachmentStore>> {
        self.attachments.as_ref()
    }

    /// Handles one request body. Everything that can be checked before a stream starts is
    /// checked here and answered with an error; stream failures end with an `error` event.
    pub async fn process(
        &self,
        body: &[u8],
        context: RequestContext,
    ) -> Result<ChatKitResponse, ChatKitError> {
        let request = self.parse(body)?;
        self.process_request(request, context).await
    }

    /// Checks the body's size and parses it: the first half of [`Self::process`], for callers
    /// that want the operation (e.g. for logs) before handling it.
    pub fn parse(&self, body: &[u8]) -> Result<ChatKitRequest, ChatKitError> {
        if body.len() > self.config.max_body_bytes {
            return Err(ChatKitError::PayloadTooLarge {
                size: body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        Ok(ChatKitRequest::from_slice(body)?)
    }

    /// Handles a parsed request: the second half of [`Self::process`]. The request's
    /// `metadata` becomes the context's.
    pub async fn process_request(
        &self,
        request: ChatKitRequest,
        mut context: RequestContext,
    ) -> Result<ChatKitResponse, ChatKitError> {
        if let Some(this) = self.function {
            let serving = request.op.function();
            if serving != this {
                let request_type = request.op.type_name();
                return Err(ChatKitError::WrongFunction { request_type, serving, this });
            }
        }
        self.config.limits.check(&context, &request.op)?;
        let now = std::time::SystemTime::now();
        self.meter.admit(&self.config.container_limits, &context.user, &request.op, now)?;
        // a later message's history read does not depend on its admission: both run at once
        // (a refused turn wastes that one read)
        let prefetch = match &request.op {
            Operation::AddUserMessage(p) if p.input.attachments.is_empty() => {
                Some(handlers::pipeline::load_recent(self, &context, &p.thread_id))
            }
            _ => None,
        };
        let admit = async {
            match &self.usage {
                Some(usage) if usage::calls_a_model(&request.op) => {
                    usage.admit(&context, request.op.is_streaming()).await?;
                    Ok::<_, ChatKitError>(Some(usage))
                }
                _ => Ok(None),
            }
        };
        let (admitted, prefetched) = tokio::join!(admit, async {
            match prefetch {
                Some(read) => Some(read.await),
                None => None,
            }
        });
        let admitted = admitted?.map(|usage| (usage, context.clone()));
        context.metadata = request.metadata;
        let response = self.dispatch(request.op, context, prefetched).await;
        // a stream settles its turn's tokens when it ends; anything else settles now (a
        // refused request or a dictation gives back what its admission reserved)
        if let Some((usage, context)) = admitted {
            if !matches!(response, Ok(ChatKitResponse::Stream(_))) {
                usage.settle(&context).await;
            }
        }
        response
    }

    async fn dispatch(
        &self,
        op: Operation,
        ctx: RequestContext,
        prefetched: Option<Result<chatkit_store::ThreadWithItems, ChatKitError>>,
    ) -> Result<ChatKitResponse, ChatKitError> {
        use handlers::*;
        use ChatKitResponse::{Json, Stream};
        Ok(match op {
            Operation::CreateThread(p) => Stream(turns::create_thread(self, ctx, p).await?),
            Operation::AddUserMessage(p) => {
                Stream(turns::add_user_message(self, ctx, p, prefetched).await?)
            }
            Operation::AddClientToolOutput(p) => {
                Stream(turns::add_client_tool_output(self, ctx, p).await?)
            }
            Operation::AddStructuredInput(p) => {
                Stream(turns::add_structured_input(self, ctx, p).await?)
            }
            Operation::RetryAfterItem(p) => Stream(turns::retry_after_item(self, ctx, p).await?),
            Operation::CustomAction(p) => Stream(actions::custom_action(self, ctx, p).await?),
            Operation::SyncCustomAction(p) => {
                Json(actions::sync_custom_action(self, ctx, p).await?)
            }
            Operation::GetThread(p) => Json(threads::get_by_id(self, ctx, p).await?),
            Operation::ListThreads(p) => Json(threads::list(self, ctx, p).await?),
            Operation::UpdateThread(p) => Json(threads::update(self, ctx, p).await?),
            Operation::DeleteThread(p) => Json(threads::delete(self, ctx, p).await?),
            Operation::ListItems(p) => Json(items::list(self, ctx, p).await?),
            Operation::Feedback(p) => Json(items::feedback(self, ctx, p).await?),
            Operation::CreateAttachment(p) => Json(attachments::create(self, ctx, p).await?),
            Operation::DeleteAttachment(p) => Json(attachments::delete(self, ctx, p).await?),
            Operation::Transcribe(p) => Json(transcribe::transcribe(self, ctx, p).await?),
            Operation::CancelTurn(p) => Json(turns::cancel(self, ctx, p).await?),
        })
    }
}
