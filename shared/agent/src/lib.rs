//! The default ChatKit responder: a real agent against an OpenAI-compatible model API
//! (Responses or Chat Completions, streamed) or Amazon Bedrock (Converse stream), with server tools, client tools, thread titles
//! and request context; or, when no model is configured, an offline responder that says how
//! to configure one.
//!
//! ```no_run
//! # fn main() -> Result<(), chatkit_agent::ConfigError> {
//! let http = reqwest::Client::new(); // once per process (Lambda container)
//! let responder = chatkit_agent::responder_from_env(http, None, None)?;
//! let store = std::sync::Arc::new(chatkit_store::MemoryStore::new());
//! let server = chatkit_server::ChatKitServer::new(store, responder);
//! # drop(server);
//! # Ok(())
//! # }
//! ```

mod agent;
pub mod attachments;
pub mod budget;
pub mod capped;
pub mod client;
pub mod config;
pub mod context;
pub mod input;
pub mod mcp;
mod offline;
mod reply;
pub mod text;
mod title;
pub mod token_exchange;
pub mod tools;
pub mod transcribe;
pub mod upstream_auth;
pub mod workflow;

use std::sync::Arc;

use chatkit_server::Responder;

pub use agent::Agent;
pub use config::{AgentConfig, ClientToolSpec, ConfigError, ModelApi};
pub use offline::{offline_reply, OfflineResponder};
pub use tools::{RetrievalTool, Tool, ToolContext, ToolError};
pub use transcribe::Transcriber;

/// Reads [`AgentConfig`] from the environment; `api_key` (e.g. from Secrets Manager), when
/// given and non-empty, replaces `OPENAI_API_KEY`. Returns an [`Agent`] when a model is
/// configured (a key, or a custom `OPENAI_BASE_URL`), else the [`OfflineResponder`].
/// `service_tokens` reads the tokens of MCP servers configured with `{"secret_arn": …}`.
pub fn responder_from_env(
    http: reqwest::Client,
    api_key: Option<String>,
    service_tokens: Option<Arc<dyn mcp::ServiceTokens>>,
) -> Result<Arc<dyn Responder>, ConfigError> {
    let mut config = AgentConfig::from_env()?;
    if let Some(key) = api_key.filter(|k| !k.trim().is_empty()) {
        config.api_key = Some(key.trim().to_string());
    }
    Ok(responder_from_config(http, config, service_tokens))
}

/// An [`Agent`] on `config` whose API key comes from `source` on every model call (see
/// [`Agent::with_api_key_source`]): a key put into the secret after the deploy is picked up
/// within the source's refresh period. `service_tokens` as in [`responder_from_env`].
pub fn responder_with_key_source(
    http: reqwest::Client,
    config: AgentConfig,
    source: Arc<dyn client::ApiKeySource>,
    service_tokens: Option<Arc<dyn mcp::ServiceTokens>>,
) -> Arc<dyn Responder> {
    tracing::info!(model = %config.model, api = ?config.api, mcp_servers = config.mcp_servers.len(),
        "using the model agent (the key is read from its secret; the offline responder answers while it holds none)");
    let mut agent = Agent::new(config, http).with_api_key_source(source);
    if let Some(tokens) = service_tokens {
        agent = agent.with_service_tokens(tokens);
    }
    Arc::new(agent)
}

/// [`responder_from_env`] with an explicit config.
pub fn responder_from_config(
    http: reqwest::Client,
    config: AgentConfig,
    service_tokens: Option<Arc<dyn mcp::ServiceTokens>>,
) -> Arc<dyn Responder> {
    if config.has_model() {
        tracing::info!(model = %config.model, api = ?config.api, base_url = %config.base_url,
            mcp_servers = config.mcp_servers.len(), "using the model agent");
        let mut agent = Agent::new(config, http);
        if let Some(tokens) = service_tokens {
            agent = agent.with_service_tokens(tokens);
        }
        Arc::new(agent)
    } else {
        tracing::warn!(
            "no model configured (OPENAI_API_KEY / OPENAI_BASE_URL): using the offline responder"
        );
        Arc::new(OfflineResponder)
    }
}
