//! Server tools: functions the model can call that run here, with the caller's identity
//! carried through code (never through the prompt). Ships [`RetrievalTool`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatkit_server::{EventSink, RequestContext};
use serde_json::{json, Value};

use crate::client::ToolSpec;
use crate::upstream_auth::{Credentials, UpstreamAuth};

/// What a tool may know about the turn it runs in, and how it shows things to the user.
#[derive(Clone)]
pub struct ToolContext {
    /// The caller: `user` (verified id), `access_token` (for calls on the user's behalf),
    /// `request_id`, and the request's `metadata`.
    pub request: RequestContext,
    /// The thread the turn belongs to.
    pub thread_id: String,
    /// The turn's event stream: `events.widget(…)`, `events.stream_widget(…)`,
    /// `events.client_effect(…)`, `events.notice(…)` show things while the tool runs (the
    /// returned JSON still goes to the model).
    pub events: EventSink,
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("request", &self.request)
            .field("thread_id", &self.thread_id)
            .finish_non_exhaustive()
    }
}

/// A tool failure; its message goes back to the model (so it must hold no secret), and the
/// turn goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl ToolError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A function the model can call, run by the server.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The function name the model sees (`^[a-zA-Z0-9_-]+$`).
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON schema of the arguments.
    fn parameters(&self) -> Value;
    /// Shown as the `progress_update` while the tool runs.
    fn progress_text(&self) -> String {
        format!("Running {}…", self.name())
    }
    /// Longest the call may run; `None`: the agent's default (60 s).
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// Runs the call. The returned JSON is sent to the model as the call's output.
    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<Value, ToolError>;
}

pub(crate) fn spec(tool: &dyn Tool) -> ToolSpec {
    ToolSpec {
        name: tool.name().to_string(),
        description: tool.description().to_string(),
        parameters: tool.parameters(),
    }
}

/// Searches a retrieval service: POSTs `{"query", "user_id"}` as JSON to the configured URL,
/// authenticated as `CHATKIT_RETRIEVAL_AUTH` says (default: the caller's bearer token when
/// there is one), and hands the JSON answer to the model.
pub struct RetrievalTool {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    auth: UpstreamAuth,
    credentials: Arc<Credentials>,
}

impl RetrievalTool {
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        let credentials = Arc::new(Credentials::new(http.clone()));
        let (url, auth) = (url.into(), UpstreamAuth::UserToken);
        Self { http, url, timeout: Duration::from_secs(15), auth, credentials }
    }

    /// How it authenticates (see [`UpstreamAuth`]), through the agent's `credentials`.
    pub fn with_auth(mut self, auth: UpstreamAuth, credentials: Arc<Credentials>) -> Self {
        self.auth = auth;
        self.credentials = credentials;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl Tool for RetrievalTool {
    fn name(&self) -> &str {
        "search_knowledge_base"
    }

    fn description(&self) -> &str {
        "Searches the organisation's knowledge base and returns relevant passages. Use it for questions about \
         the product, its documentation or the user's data."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
            "additionalProperties": false
        })
    }

    fn progress_text(&self) -> String {
        "Searching the knowledge base…".into()
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let query = args
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| ToolError::new("the `query` argument is required"))?;
        let mut request = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .json(&json!({"query": query, "user_id": ctx.request.user.as_str()}));
        let bearer = match (&self.auth, &ctx.request.access_token) {
            // without a token (dev auth), the default form sends none, as before
            (UpstreamAuth::UserToken, None) => None,
            (auth, _) => {
                self.credentials.bearer(auth, &self.url, &ctx.request).await.map_err(|e| {
                    ToolError::new(format!("the search service is unavailable: {e}"))
                })?
            }
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| {
            ToolError::new(format!("the search service is unreachable: {}", e.without_url()))
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ToolError::new(format!(
                "the search service answered HTTP {}",
                status.as_u16()
            )));
        }
        let body =
            crate::capped::body(response, crate::capped::MAX_ANSWER_BYTES).await.map_err(|e| {
                match e {
                    crate::capped::ReadError::Transport(e) => ToolError::new(format!(
                        "the search service's answer broke off: {}",
                        e.without_url()
                    )),
                    too_large => {
                        ToolError::new(format!("the search service's answer: {too_large}"))
                    }
                }
            })?;
        serde_json::from_slice::<Value>(&body)
            .map_err(|_| ToolError::new("the search service sent invalid JSON"))
    }
}
