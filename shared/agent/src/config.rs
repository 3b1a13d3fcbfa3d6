//! The agent's settings, read from environment variables with defaults.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use chatkit_settings::catalog::{
    ATTACHMENT_INLINE, ATTACHMENT_TEXT_MAX_BYTES, CLIENT_TOOLS, CONNECT_TIMEOUT_MS,
    FIRST_TOKEN_TIMEOUT_MS, HISTORY_TOKEN_BUDGET, IDLE_TIMEOUT_MS, JWT_AUDIENCE, MAX_OUTPUT_TOKENS,
    MAX_TOOL_ITERATIONS, MCP_SERVERS, MCP_TOOLS_TTL_SECONDS, MODEL, MODELS, MODEL_API,
    MODEL_MAX_RETRIES, MODEL_RETRY_BACKOFF_MS, OPENAI_API_KEY, OPENAI_BASE_URL, RETRIEVAL_AUTH,
    RETRIEVAL_URL, SYSTEM_PROMPT, SYSTEM_PROMPT_FILE, TITLE_MODEL, TRANSCRIBE_MAX_BYTES,
    TRANSCRIBE_MODEL,
};
use chatkit_settings::{Lookup, SettingError};

use crate::budget::InputBudgets;
use crate::client::ClientConfig;
pub use crate::client::ModelApi;
use crate::mcp::{parse_servers, McpServerConfig};
use crate::transcribe::TranscriberConfig;
use crate::upstream_auth::{parse_auth, UpstreamAuth};

/// The default model API base URL.
pub const DEFAULT_BASE_URL: &str = OPENAI_BASE_URL.default;
/// The default model.
pub const DEFAULT_MODEL: &str = MODEL.default;
/// The system prompt used when none is configured.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a helpful assistant embedded in a web application. Answer concisely in Markdown.";

/// A tool the *client* (browser) runs: the model's call becomes a pending `client_tool_call`
/// item, and the turn resumes once the client posts the output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClientToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON schema of the arguments; an empty object schema when absent.
    #[serde(default = "empty_schema")]
    pub parameters: Value,
}

pub(crate) fn empty_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// A setting that could not be read; names the variable.
pub type ConfigError = SettingError;

/// Everything the agent needs to know about its model and tools.
#[derive(Clone)]
pub struct AgentConfig {
    /// `OPENAI_BASE_URL`: the API root, without a trailing slash. Default
    /// [`DEFAULT_BASE_URL`]; point it at any OpenAI-compatible server (e.g. Ollama's
    /// `http://localhost:11434/v1`).
    pub base_url: String,
    /// `OPENAI_API_KEY`: optional; may also be supplied by the caller (e.g. from Secrets
    /// Manager) with [`AgentConfig::with_api_key`]. Never logged.
    pub api_key: Option<String>,
    /// `CHATKIT_MODEL`: default [`DEFAULT_MODEL`]; used when the composer picks none.
    pub model: String,
    /// `CHATKIT_MODELS`: comma-separated models the composer may pick
    /// (`inference_options.model`) besides `model`; any other gets a 400. Default: none.
    pub models: Vec<String>,
    /// `CHATKIT_MODEL_API`: `responses` (default), `chat_completions` or `bedrock`.
    pub api: ModelApi,
    /// `CHATKIT_SYSTEM_PROMPT`, or the contents of the file named by
    /// `CHATKIT_SYSTEM_PROMPT_FILE`; default [`DEFAULT_SYSTEM_PROMPT`].
    pub system_prompt: String,
    /// `CHATKIT_HISTORY_TOKEN_BUDGET`: estimated tokens (characters / 4) of history sent to
    /// the model; oldest items are dropped first. Default 8000.
    pub history_token_budget: usize,
    /// `CHATKIT_MESSAGE_TOKEN_BUDGET`, `CHATKIT_TOOL_OUTPUT_TOKEN_BUDGET`,
    /// `CHATKIT_MODEL_INPUT_TOKEN_BUDGET`: what one message, one tool result and one model
    /// request may hold (see [`crate::budget`]).
    pub budgets: InputBudgets,
    /// `CHATKIT_MAX_OUTPUT_TOKENS`: the most tokens one model call may write (Responses
    /// `max_output_tokens`, Chat Completions `max_tokens`). Default 4096; 0 sends no cap.
    pub max_output_tokens: Option<u32>,
    /// `CHATKIT_TITLE_MODEL`: the model that writes thread titles; default = `model`.
    pub title_model: String,
    /// `CHATKIT_CONNECT_TIMEOUT_MS`: TCP/TLS connect timeout. Default 5000. (Applied by the
    /// shared client, `chatkit_gateway::http_client`.)
    pub connect_timeout: Duration,
    /// `CHATKIT_FIRST_TOKEN_TIMEOUT_MS`: from sending the request to the first output
    /// event. Default 30000.
    pub first_token_timeout: Duration,
    /// `CHATKIT_IDLE_TIMEOUT_MS`: longest silence between two stream events. Default 30000.
    pub idle_timeout: Duration,
    /// `CHATKIT_MODEL_MAX_RETRIES`: retries of a connection failure or a 429/5xx answer
    /// before the first token. Default 2.
    pub max_retries: u32,
    /// `CHATKIT_MODEL_RETRY_BACKOFF_MS`: the first retry's delay, doubled per retry.
    /// Default 300.
    pub retry_backoff: Duration,
    /// `CHATKIT_MAX_TOOL_ITERATIONS`: model → tool → model rounds per turn. Default 5.
    pub max_tool_iterations: usize,
    /// `CHATKIT_RETRIEVAL_URL`: enables the built-in retrieval tool, which POSTs
    /// `{"query", "user_id"}` there.
    pub retrieval_url: Option<String>,
    /// `CHATKIT_RETRIEVAL_AUTH`: how the retrieval tool authenticates. Default `user_token`.
    pub retrieval_auth: UpstreamAuth,
    /// `CHATKIT_CLIENT_TOOLS`: JSON array of `{name, description, parameters}`.
    pub client_tools: Vec<ClientToolSpec>,
    /// `CHATKIT_MCP_SERVERS`: JSON array of `{"name", "url", "auth", "tools"?, "timeout_ms"?}`.
    pub mcp_servers: Vec<McpServerConfig>,
    /// `CHATKIT_MCP_TOOLS_TTL_SECONDS`: how long a warm container reuses a listed tool set.
    /// Default 300.
    pub mcp_tools_ttl: Duration,
    /// `CHATKIT_ATTACHMENT_INLINE=1`: images and PDFs go to the model as `data:` URLs
    /// (read by the function) instead of expiring URLs the provider fetches.
    pub attachment_inline: bool,
    /// `CHATKIT_ATTACHMENT_TEXT_MAX_BYTES`: most bytes of a text attachment inlined into the
    /// model input. Default 32768.
    pub attachment_text_max_bytes: u64,
    /// `CHATKIT_TRANSCRIBE_MODEL`: the model of `input.transcribe`, called at
    /// `{base_url}/audio/transcriptions`. Default [`DEFAULT_TRANSCRIBE_MODEL`].
    pub transcribe_model: String,
    /// `CHATKIT_TRANSCRIBE_MAX_BYTES`: largest recording accepted (413 above). Default
    /// [`DEFAULT_TRANSCRIBE_MAX_BYTES`].
    pub transcribe_max_bytes: usize,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("models", &self.models)
            .field("api", &self.api)
            .field("history_token_budget", &self.history_token_budget)
            .field("budgets", &self.budgets)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("title_model", &self.title_model)
            .field("max_tool_iterations", &self.max_tool_iterations)
            .field("retrieval_url", &self.retrieval_url)
            .field("retrieval_auth", &self.retrieval_auth)
            .field("client_tools", &self.client_tools.iter().map(|t| &t.name).collect::<Vec<_>>())
            .field("mcp_servers", &self.mcp_servers.iter().map(|s| &s.name).collect::<Vec<_>>())
            .field("attachment_inline", &self.attachment_inline)
            .field("transcribe_model", &self.transcribe_model)
            .finish_non_exhaustive()
    }
}

/// A token exchange's endpoint is an outbound URL like the others; its client secret in the
/// environment must be there; and since the identity provider issues tokens for other
/// audiences, this function must check its own (`CHATKIT_JWT_AUDIENCE`), or a service could
/// replay the token issued to it here.
fn check_auth(
    setting: &'static str,
    auth: &UpstreamAuth,
    get: &dyn Lookup,
    local: bool,
) -> Result<(), SettingError> {
    let UpstreamAuth::TokenExchange(exchange) = auth else { return Ok(()) };
    chatkit_settings::check_outbound_url(setting, &exchange.token_url, local)?;
    if let Some(name) = auth.secret_env() {
        if get.get(name).is_none_or(|v| v.is_empty()) {
            return Err(SettingError::new(
                setting,
                format!("the token exchange's client secret `{name}` is not set"),
            ));
        }
    }
    if JWT_AUDIENCE.text(get).is_none() {
        return Err(SettingError::new(
            setting,
            format!("`token_exchange` needs {} set, so that tokens the identity provider issues for other services are refused here", JWT_AUDIENCE.name),
        ));
    }
    Ok(())
}

impl Default for AgentConfig {
    /// Every declared default.
    fn default() -> Self {
        Self::from_lookup(|_: &str| None).expect("the declared defaults parse")
    }
}

impl AgentConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(chatkit_settings::env)
    }

    /// Reads settings through `get` (for tests and non-env sources). Empty values count as
    /// unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get: &dyn Lookup = &get;
        let model = MODEL.text(get).unwrap_or_default();
        let system_prompt = match (SYSTEM_PROMPT.raw(get), SYSTEM_PROMPT_FILE.raw(get)) {
            (Some(prompt), _) => prompt,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|e| SYSTEM_PROMPT_FILE.error(format!("cannot read {path}: {e}")))?,
            (None, None) => DEFAULT_SYSTEM_PROMPT.into(),
        };
        let client_tools = serde_json::from_str(&CLIENT_TOOLS.text(get).unwrap_or_default())
            .map_err(|e| {
                CLIENT_TOOLS.error(format!(
                    "expected a JSON array of {{name, description, parameters}}: {e}"
                ))
            })?;
        let local = chatkit_settings::is_local(get);
        let mcp_servers = parse_servers(&MCP_SERVERS.text(get).unwrap_or_default())
            .map_err(|e| MCP_SERVERS.error(e))?;
        for server in &mcp_servers {
            chatkit_settings::check_outbound_url(MCP_SERVERS.name, &server.url, local)?;
        }
        let retrieval_auth = parse_auth(&RETRIEVAL_AUTH.text(get).unwrap_or_default())
            .map_err(|e| RETRIEVAL_AUTH.error(e))?;
        let auths = mcp_servers
            .iter()
            .map(|server| (MCP_SERVERS.name, &server.auth))
            .chain([(RETRIEVAL_AUTH.name, &retrieval_auth)]);
        for (setting, auth) in auths {
            check_auth(setting, auth, get, local)?;
        }
        let max_output_tokens: u32 = MAX_OUTPUT_TOKENS.number(get)?;
        Ok(Self {
            base_url: OPENAI_BASE_URL
                .url(get)?
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            api_key: OPENAI_API_KEY.raw(get),
            title_model: TITLE_MODEL.raw(get).unwrap_or_else(|| model.clone()),
            model,
            models: MODELS.list(get),
            api: match MODEL_API.choice(get)?.as_str() {
                "chat_completions" => ModelApi::ChatCompletions,
                "bedrock" => ModelApi::Bedrock,
                _ => ModelApi::Responses,
            },
            system_prompt,
            history_token_budget: HISTORY_TOKEN_BUDGET.number(get)?,
            budgets: InputBudgets::from_lookup(get)?,
            max_output_tokens: (max_output_tokens > 0).then_some(max_output_tokens),
            connect_timeout: CONNECT_TIMEOUT_MS.millis(get)?,
            first_token_timeout: FIRST_TOKEN_TIMEOUT_MS.millis(get)?,
            idle_timeout: IDLE_TIMEOUT_MS.millis(get)?,
            max_retries: MODEL_MAX_RETRIES.number(get)?,
            retry_backoff: MODEL_RETRY_BACKOFF_MS.millis(get)?,
            max_tool_iterations: MAX_TOOL_ITERATIONS.number(get)?,
            retrieval_url: RETRIEVAL_URL.url(get)?,
            retrieval_auth,
            client_tools,
            mcp_servers,
            mcp_tools_ttl: MCP_TOOLS_TTL_SECONDS.seconds(get)?,
            attachment_inline: ATTACHMENT_INLINE.flag(get)?,
            attachment_text_max_bytes: ATTACHMENT_TEXT_MAX_BYTES.number(get)?,
            transcribe_model: TRANSCRIBE_MODEL.text(get).unwrap_or_default(),
            transcribe_max_bytes: TRANSCRIBE_MAX_BYTES.number(get)?,
        })
    }

    /// What the model client needs of this config.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            api: self.api,
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            first_token_timeout: self.first_token_timeout,
            idle_timeout: self.idle_timeout,
            max_retries: self.max_retries,
            retry_backoff: self.retry_backoff,
            max_output_tokens: self.max_output_tokens,
        }
    }

    /// What the transcriber needs of this config.
    pub fn transcriber_config(&self) -> TranscriberConfig {
        TranscriberConfig {
            base_url: self.base_url.clone(),
            model: self.transcribe_model.clone(),
            max_bytes: self.transcribe_max_bytes,
        }
    }

    /// Sets the API key (e.g. one read from Secrets Manager), replacing any from the env.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Whether the composer may pick `model`: the default model or one of `models`.
    pub fn offers_model(&self, model: &str) -> bool {
        model == self.model || self.models.iter().any(|m| m == model)
    }

    /// Whether a model is configured: an API key, or a base URL other than OpenAI's (a local
    /// OpenAI-compatible server needs no key).
    pub fn has_model(&self) -> bool {
        self.api == ModelApi::Bedrock || self.api_key.is_some() || self.base_url != DEFAULT_BASE_URL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults() {
        let c = AgentConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.model, DEFAULT_MODEL);
        assert_eq!(c.title_model, DEFAULT_MODEL);
        assert_eq!(c.api, ModelApi::Responses);
        assert_eq!(c.max_tool_iterations, 5);
        assert!(!c.has_model());
    }

    #[test]
    fn a_token_exchange_needs_an_audience_an_https_endpoint_and_its_secret() {
        let exchange = |url: &str| {
            format!(
                r#"{{"token_exchange": {{"token_url": "{url}", "client_id": "c", "client_secret_env": "IDP_SECRET"}}}}"#
            )
        };
        let mcp = |auth: &str| {
            format!(r#"[{{"name": "v", "url": "https://v.test/mcp", "auth": {auth}}}]"#)
        };
        let good = exchange("https://idp.test/token");
        let audience = ("CHATKIT_JWT_AUDIENCE", "chatkit-api");
        let secret = ("IDP_SECRET", "s3cret");
        for var in ["CHATKIT_MCP_SERVERS", "CHATKIT_RETRIEVAL_AUTH"] {
            let value = |auth: &str| {
                if var == "CHATKIT_MCP_SERVERS" {
                    mcp(auth)
                } else {
                    auth.to_string()
                }
            };
            let ok = value(&good);
            let c = AgentConfig::from_lookup(lookup(&[(var, &ok), audience, secret])).unwrap();
            let auth = if var == "CHATKIT_MCP_SERVERS" {
                &c.mcp_servers[0].auth
            } else {
                &c.retrieval_auth
            };
            assert!(matches!(auth, UpstreamAuth::TokenExchange(_)));
            let on_lambda = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
            let plain = value(&exchange("http://idp.test/token"));
            for (pairs, needle) in [
                (vec![(var, ok.as_str()), secret], "CHATKIT_JWT_AUDIENCE"),
                (vec![(var, ok.as_str()), audience], "IDP_SECRET"),
                (vec![(var, plain.as_str()), audience, secret, on_lambda], "https://"),
            ] {
                let err = AgentConfig::from_lookup(lookup(&pairs)).unwrap_err();
                assert_eq!(err.variable, var);
                assert!(err.message.contains(needle), "{err}");
            }
        }
        assert_eq!(AgentConfig::default().retrieval_auth, UpstreamAuth::UserToken);
    }

    #[test]
    fn outbound_urls_are_https_except_loopback_locally() {
        let on_lambda = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        for var in ["OPENAI_BASE_URL", "CHATKIT_RETRIEVAL_URL"] {
            assert!(AgentConfig::from_lookup(lookup(&[(var, "https://api.example/v1")])).is_ok());
            assert!(AgentConfig::from_lookup(lookup(&[
                on_lambda,
                (var, "https://api.example/v1")
            ]))
            .is_ok());
            assert!(
                AgentConfig::from_lookup(lookup(&[(var, "http://127.0.0.1:11434/v1")])).is_ok(),
                "loopback, locally"
            );
            assert!(AgentConfig::from_lookup(lookup(&[(var, "http://[::1]:11434/v1")])).is_ok());
            let dev = [on_lambda, ("CHATKIT_DEV_AUTH", "1"), (var, "http://localhost:11434/v1")];
            assert!(AgentConfig::from_lookup(lookup(&dev)).is_ok(), "make dev is local");
            for bad in [
                vec![on_lambda, (var, "http://127.0.0.1:11434/v1")],
                vec![(var, "http://10.1.2.3/v1")],
                vec![(var, "ftp://x/v1")],
            ] {
                let err = AgentConfig::from_lookup(lookup(&bad)).unwrap_err();
                assert_eq!(err.variable, var);
                assert!(err.message.contains("https://"), "{err}");
            }
        }
    }

    #[test]
    fn values_and_errors_name_the_variable() {
        let c = AgentConfig::from_lookup(lookup(&[
            ("OPENAI_BASE_URL", "http://localhost:11434/v1/"),
            ("CHATKIT_MODEL", "llama3"),
            ("CHATKIT_MODEL_API", "chat_completions"),
            ("CHATKIT_CLIENT_TOOLS", r#"[{"name": "get_selection"}]"#),
            ("CHATKIT_MODELS", " gpt-4.1, ,o4-mini "),
        ]))
        .unwrap();
        assert_eq!(c.models, ["gpt-4.1", "o4-mini"]);
        assert!(c.offers_model("llama3") && c.offers_model("o4-mini") && !c.offers_model("gpt-5"));
        assert_eq!(c.base_url, "http://localhost:11434/v1");
        assert_eq!(c.title_model, "llama3");
        assert_eq!(c.api, ModelApi::ChatCompletions);
        assert_eq!(c.client_tools[0].parameters, empty_schema());
        assert!(c.has_model());
        let key = AgentConfig::default().with_api_key("sk-secret");
        assert!(!format!("{key:?}").contains("sk-secret"));

        for (var, value) in [
            ("CHATKIT_MODEL_API", "grpc"),
            ("CHATKIT_IDLE_TIMEOUT_MS", "soon"),
            ("CHATKIT_FIRST_TOKEN_TIMEOUT_MS", "0"),
            ("CHATKIT_CLIENT_TOOLS", "{}"),
            ("CHATKIT_MCP_SERVERS", r#"[{"name": "x", "url": "http://x", "auth": "bearer"}]"#),
            ("CHATKIT_MCP_TOOLS_TTL_SECONDS", "-1"),
            (
                "CHATKIT_MCP_SERVERS",
                r#"[{"name": "x", "url": "http://mcp.example/mcp", "auth": "none"}]"#,
            ),
            ("OPENAI_BASE_URL", "localhost"),
            ("OPENAI_BASE_URL", "http://models.internal/v1"),
            ("CHATKIT_RETRIEVAL_URL", "http://search.example/q"),
            ("CHATKIT_SYSTEM_PROMPT_FILE", "/nonexistent/prompt.txt"),
        ] {
            let err = AgentConfig::from_lookup(lookup(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var));
        }
    }
}
