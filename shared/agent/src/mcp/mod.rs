//! MCP tools: the agent as a client of MCP servers over streamable HTTP (the `rmcp` crate's
//! reqwest transport, sharing the container's HTTP client).
//!
//! - Each allowed tool of server `tasks` is offered to the model as `tasks__<tool>`, with the
//!   server's description and input schema.
//! - Credentials go only into the `Authorization` header of MCP requests (`token_exchange`: a
//!   token issued for that server alone; `user_token`: the caller's verified bearer token;
//!   `secret_arn`: a service token from Secrets Manager; see [`crate::upstream_auth`]).
//!   They are never in the model input, the instructions, tool arguments, stored items or logs.
//! - Tool lists are cached per warm container for `CHATKIT_MCP_TOOLS_TTL_SECONDS`. A
//!   per-user server's list (`user_token`, `token_exchange`) is cached per user; sessions are never cached across turns,
//!   so one user's token never serves another user's call.
//! - A server that is down or refuses at listing time leaves the turn running without its
//!   tools (a warning is logged); a call that fails or times out is a failed tool call for
//!   the model, and the turn goes on.

mod config;
mod session;
mod widget;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatkit_server::RequestContext;

pub use crate::upstream_auth::{Credentials, ServiceTokens};
pub use config::{parse_servers, McpAuth, McpServerConfig, DEFAULT_TIMEOUT};
pub use session::{McpTool, McpTurn};

/// Default `CHATKIT_MCP_TOOLS_TTL_SECONDS`.
pub const DEFAULT_TOOLS_TTL: Duration = Duration::from_secs(300);
/// Most cached tool lists (per server and, for per-user servers, per user).
const MAX_CACHED_LISTS: usize = 1024;
/// Longest tool description passed to the model.
const MAX_DESCRIPTION: usize = 1024;

/// A tool as listed by a server (after the allowlist), with the name the model sees.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedTool {
    /// `<server>__<tool>`, reduced to `[a-zA-Z0-9_-]`, at most 64 characters.
    pub function: String,
    /// The server's own name for it.
    pub tool: String,
    pub description: String,
    pub input_schema: serde_json::Value,
}

/// Whose tool list a cache entry is: one list per server, or per user for per-user
/// servers (what a server lists may depend on who asks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    server: usize,
    user: Option<String>,
}

/// A listed tool set and when it was listed.
type CachedList = (Instant, Arc<Vec<ListedTool>>);

/// The configured MCP servers and the container's tool-list cache. Build it once per
/// process; each turn works through an [`McpTurn`].
pub struct McpClient {
    http: reqwest::Client,
    servers: Vec<McpServerConfig>,
    credentials: Arc<Credentials>,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, CachedList>>,
}

impl McpClient {
    /// A client on `http`, authenticating through `credentials` (shared with the other tools).
    pub fn new(
        http: reqwest::Client,
        servers: Vec<McpServerConfig>,
        ttl: Duration,
        credentials: Arc<Credentials>,
    ) -> Self {
        Self { http, servers, credentials, ttl, cache: Mutex::new(HashMap::new()) }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn servers(&self) -> &[McpServerConfig] {
        &self.servers
    }

    /// Starts a turn for the caller in `context`.
    pub fn begin(self: &Arc<Self>, context: &RequestContext) -> Arc<McpTurn> {
        Arc::new(McpTurn::new(self.clone(), context))
    }

    fn cache_key(&self, server: usize, context: &RequestContext) -> CacheKey {
        let user =
            self.servers[server].auth.is_per_user().then(|| context.user.as_str().to_string());
        CacheKey { server, user }
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<Vec<ListedTool>>> {
        let cache = self.cache.lock().expect("cache lock");
        cache.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, list)| list.clone())
    }

    fn remember(&self, key: CacheKey, list: Arc<Vec<ListedTool>>) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= MAX_CACHED_LISTS {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        if cache.len() >= MAX_CACHED_LISTS {
            if let Some(oldest) =
                cache.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(key, (Instant::now(), list));
    }
}

/// `<server>__<tool>` as a function name the model APIs accept (`^[a-zA-Z0-9_-]{1,64}$`);
/// `None` when it would be too long.
pub fn function_name(server: &str, tool: &str) -> Option<String> {
    let tool: String = tool
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    let name = format!("{server}__{tool}");
    (!tool.is_empty() && name.len() <= 64).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_prefixed_and_sanitized() {
        assert_eq!(function_name("tasks", "create_task").as_deref(), Some("tasks__create_task"));
        assert_eq!(
            function_name("tasks", "tasks.create/v2").as_deref(),
            Some("tasks__tasks_create_v2")
        );
        assert_eq!(function_name("tasks", &"x".repeat(60)), None);
        assert_eq!(function_name("tasks", ""), None);
    }
}
