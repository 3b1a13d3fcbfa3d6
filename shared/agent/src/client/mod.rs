//! The model client: one streaming call to an OpenAI-compatible API (Responses or Chat
//! Completions) or to Amazon Bedrock (Converse stream), normalized into [`ModelEvent`]s, with
//! timeouts and a bounded retry.

mod bedrock;
mod chat;
mod error;
mod responses;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use chatkit_retry::Backoff;
use chatkit_settings::catalog::OPENAI_BASE_URL;
use serde_json::Value;
use tokio::time::{sleep, timeout_at, Instant};
use tracing::warn;

pub use error::{redact, ModelError};
pub use stream::ModelStream;

/// Who says a message of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// Notes from the application (hidden context): `developer` in the Responses API,
    /// `system` in Chat Completions.
    Developer,
}

/// One element of the model input, API-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    Message {
        role: Role,
        text: String,
    },
    /// A user message with attachments: text, images and files, in order.
    UserParts(Vec<InputPart>),
    /// A tool call the model made earlier; `arguments` is a JSON string.
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The output of that call, as a string (usually JSON).
    FunctionCallOutput {
        call_id: String,
        output: String,
    },
}

/// A part of a user message with attachments.
#[derive(Debug, Clone, PartialEq)]
pub enum InputPart {
    Text(String),
    /// An image: an expiring `https` URL the provider fetches, or a `data:` URL.
    Image {
        url: String,
    },
    /// A file the provider reads (PDF): an expiring `https` URL, or a `data:` URL, and its
    /// estimated tokens.
    File {
        filename: String,
        url: String,
        tokens: usize,
    },
}

/// The largest backoff step between two model call attempts.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(10);

impl InputItem {
    pub fn message(role: Role, text: impl Into<String>) -> Self {
        InputItem::Message { role, text: text.into() }
    }

    /// Characters of content, for the token estimate.
    pub fn chars(&self) -> usize {
        match self {
            InputItem::Message { text, .. } => text.len(),
            InputItem::UserParts(parts) => parts
                .iter()
                .map(|p| match p {
                    InputPart::Text(text) => text.len(),
                    // as characters, like text: what the provider charges, not the URL's length
                    InputPart::Image { .. } => crate::attachments::estimate::IMAGE_TOKENS * 4,
                    InputPart::File { tokens, .. } => tokens.saturating_mul(4),
                })
                .sum(),
            InputItem::FunctionCall { name, arguments, .. } => name.len() + arguments.len(),
            InputItem::FunctionCallOutput { output, .. } => output.len(),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Some tool of `tools`.
    Required,
    /// This function.
    Function(String),
}

/// One model call.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model: String,
    pub instructions: String,
    pub input: Vec<InputItem>,
    pub tools: Vec<ToolSpec>,
    /// `None`: the model decides (`auto`).
    pub tool_choice: Option<ToolChoice>,
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A function call the model asked for; `arguments` is the raw JSON string.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub call_id: String,
    pub name: String,
    pub arguments: String,
}

/// What a model stream produces, whichever API it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    TextDelta(String),
    /// A citation on the text streamed so far.
    Annotation(chatkit_protocol::Annotation),
    ToolCall(ToolCall),
    /// The model declined; the text is its explanation.
    Refusal(String),
    /// The response finished normally (always the last event).
    Completed {
        usage: Option<Usage>,
    },
}

/// Where the model API key comes from when it can change while the process runs (a secret
/// in Secrets Manager that is rotated, or still holds a placeholder). Asked before every
/// model call, so it should cache.
#[async_trait::async_trait]
pub trait ApiKeySource: Send + Sync {
    /// The key; `Ok(None)` while none is configured; `Err` (logged, never shown) when it
    /// cannot be read right now.
    async fn api_key(&self) -> Result<Option<Arc<str>>, String>;
}

/// The key a client sends.
#[derive(Clone)]
enum ApiKey {
    Fixed(Option<Arc<str>>),
    Source(Arc<dyn ApiKeySource>),
}

/// Which API the model is called through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelApi {
    /// `POST {base}/responses` (OpenAI's Responses API).
    Responses,
    /// `POST {base}/chat/completions` (what most OpenAI-compatible servers speak).
    ChatCompletions,
    /// Amazon Bedrock's `ConverseStream`, signed with the function's role (no key; the client
    /// comes from [`ModelClient::with_bedrock`]).
    Bedrock,
}

/// What a [`ModelClient`] is configured with (assembled by [`crate::AgentConfig::client_config`]).
#[derive(Clone)]
pub struct ClientConfig {
    pub api: ModelApi,
    /// The API root, without a trailing slash.
    pub base_url: String,
    /// Sent as the bearer token; `None`: no key (or one from [`ModelClient::with_key_source`]).
    pub api_key: Option<String>,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    /// Retries before the first token.
    pub max_retries: u32,
    /// The first retry's backoff step.
    pub retry_backoff: Duration,
    pub max_output_tokens: Option<u32>,
}

/// Calls one configured model API over a shared `reqwest::Client`.
#[derive(Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    api: ModelApi,
    base_url: String,
    api_key: ApiKey,
    first_token_timeout: Duration,
    idle_timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
    max_output_tokens: Option<u32>,
    bedrock: Option<aws_sdk_bedrockruntime::Client>,
}

impl ModelClient {
    pub fn new(http: reqwest::Client, config: ClientConfig) -> Self {
        Self {
            http,
            api: config.api,
            base_url: config.base_url,
            api_key: ApiKey::Fixed(config.api_key.as_deref().map(Arc::from)),
            first_token_timeout: config.first_token_timeout,
            idle_timeout: config.idle_timeout,
            max_retries: config.max_retries,
            retry_backoff: config.retry_backoff,
            max_output_tokens: config.max_output_tokens,
            bedrock: None,
        }
    }

    /// The Bedrock client [`ModelApi::Bedrock`] calls through (built once per process from
    /// the AWS config, its own retries off: this client retries).
    pub fn with_bedrock(mut self, client: aws_sdk_bedrockruntime::Client) -> Self {
        self.bedrock = Some(client);
        self
    }

    /// Takes the key from `source` on every call instead of the config's.
    pub fn with_key_source(mut self, source: Arc<dyn ApiKeySource>) -> Self {
        self.api_key = ApiKey::Source(source);
        self
    }

    /// The key to send now.
    pub async fn api_key(&self) -> Result<Option<Arc<str>>, ModelError> {
        match &self.api_key {
            ApiKey::Fixed(key) => Ok(key.clone()),
            ApiKey::Source(source) => source.api_key().await.map_err(ModelError::Unavailable),
        }
    }

    /// Whether a model can be called now: a key, or a base URL other than OpenAI's (a local
    /// OpenAI-compatible server needs no key).
    pub async fn has_model(&self) -> Result<bool, ModelError> {
        if self.api == ModelApi::Bedrock {
            return Ok(self.bedrock.is_some());
        }
        Ok(self.base_url != OPENAI_BASE_URL.default || self.api_key().await?.is_some())
    }

    fn url(&self) -> String {
        match self.api {
            ModelApi::ChatCompletions => format!("{}/chat/completions", self.base_url),
            ModelApi::Responses | ModelApi::Bedrock => format!("{}/responses", self.base_url),
        }
    }

    /// The JSON body of an OpenAI-compatible call (Bedrock's request is built by the SDK).
    fn body(&self, request: &ModelRequest, stream: bool) -> Value {
        let mut body = match self.api {
            ModelApi::ChatCompletions => chat::body(request, stream),
            ModelApi::Responses | ModelApi::Bedrock => responses::body(request, stream),
        };
        // the cap on what one call can cost in output (CHATKIT_MAX_OUTPUT_TOKENS)
        if let Some(max) = self.max_output_tokens {
            match self.api {
                ModelApi::ChatCompletions => body["max_tokens"] = max.into(),
                ModelApi::Responses | ModelApi::Bedrock => body["max_output_tokens"] = max.into(),
            }
        }
        body
    }

    /// Opens one streamed call (one attempt).
    async fn open(
        &self,
        request: &ModelRequest,
        body: &Value,
        deadline: Instant,
    ) -> Result<ModelStream, ModelError> {
        let (first, idle) = (self.first_token_timeout, self.idle_timeout);
        if self.api == ModelApi::Bedrock {
            let client = self
                .bedrock
                .as_ref()
                .ok_or_else(|| ModelError::Unavailable("no Bedrock client is configured".into()))?;
            let events = bedrock::open(client, request, self.max_output_tokens).await?;
            return Ok(ModelStream::bedrock(events, deadline, first, idle));
        }
        let response = self.send(body).await?;
        let parser = match self.api {
            ModelApi::ChatCompletions => stream::Parser::Chat(chat::Parser::default()),
            ModelApi::Responses | ModelApi::Bedrock => {
                stream::Parser::Responses(responses::Parser::default())
            }
        };
        Ok(ModelStream::new(response, parser, deadline, first, idle))
    }

    /// Starts a streamed call. Connection failures and 429/5xx answers are retried (with
    /// doubling backoff) up to the configured count; nothing is retried once the response
    /// started. Within the first-token timeout the stream must produce its first output.
    pub async fn stream(&self, request: &ModelRequest) -> Result<ModelStream, ModelError> {
        let body = self.body(request, true);
        let mut attempt = 0;
        loop {
            let deadline = Instant::now() + self.first_token_timeout;
            let err = match timeout_at(deadline, self.open(request, &body, deadline)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(err)) => err,
                Err(_) => ModelError::Timeout {
                    waiting_for: "the first token",
                    after: self.first_token_timeout,
                },
            };
            let err = err.redacted();
            if attempt >= self.max_retries || !err.is_retryable() {
                return Err(err);
            }
            attempt += 1;
            let delay = Backoff::new(self.retry_backoff, MAX_RETRY_BACKOFF).delay(attempt);
            warn!(error = %err, attempt, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "model call failed before the first token; retrying");
            sleep(delay).await;
        }
    }

    /// A non-streamed call returning the reply's text (for short side calls like titles).
    pub async fn complete(
        &self,
        request: &ModelRequest,
        limit: Duration,
    ) -> Result<String, ModelError> {
        if self.api == ModelApi::Bedrock {
            return self.complete_streamed(request, limit).await;
        }
        let body = self.body(request, false);
        let call = async {
            let response = self.send(&body).await?;
            let bytes = crate::capped::body(response, crate::capped::MAX_ANSWER_BYTES)
                .await
                .map_err(|e| ModelError::Invalid(format!("unreadable reply: {e}")))?;
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Invalid(format!("unreadable reply: {e}")))?;
            match self.api {
                ModelApi::ChatCompletions => chat::output_text(&value),
                ModelApi::Responses | ModelApi::Bedrock => responses::output_text(&value),
            }
            .ok_or_else(|| ModelError::Invalid("the reply holds no text".into()))
        };
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(ModelError::Timeout { waiting_for: "the reply", after: limit }))
            .map_err(ModelError::redacted)
    }

    /// [`Self::complete`] as a streamed call whose text is collected (Bedrock: one IAM action,
    /// `InvokeModelWithResponseStream`, covers every call).
    async fn complete_streamed(
        &self,
        request: &ModelRequest,
        limit: Duration,
    ) -> Result<String, ModelError> {
        let call = async {
            let mut stream = self.stream(request).await?;
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                match event? {
                    ModelEvent::TextDelta(delta) => text.push_str(&delta),
                    ModelEvent::Completed { .. } => break,
                    _ => {}
                }
            }
            Some(text)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| ModelError::Invalid("the reply holds no text".into()))
        };
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(ModelError::Timeout { waiting_for: "the reply", after: limit }))
    }

    /// Sends the request; a non-2xx answer becomes [`ModelError::Status`] with the
    /// provider's message (the API key redacted).
    async fn send(&self, body: &Value) -> Result<reqwest::Response, ModelError> {
        let key = self.api_key().await?;
        let mut request = self.http.post(self.url()).json(body);
        if let Some(key) = &key {
            request = request.bearer_auth(key);
        }
        let response =
            request.send().await.map_err(|e| ModelError::transport(&e, key.as_deref()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // an error body is read up to the cap: what was read of a larger one is not kept
        let body = crate::capped::body(response, crate::capped::MAX_ANSWER_BYTES).await;
        let text = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
        Err(ModelError::status(status.as_u16(), &text, key.as_deref()))
    }
}
