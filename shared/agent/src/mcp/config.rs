//! `CHATKIT_MCP_SERVERS`: the MCP servers whose tools the agent offers.

use std::time::Duration;

use serde::Deserialize;

pub use crate::upstream_auth::UpstreamAuth as McpAuth;
use crate::upstream_auth::UpstreamAuth;

/// The default longest wait for one MCP request (connect + answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One MCP server (streamable HTTP).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Prefixes its tools: `<name>__<tool>` (letters, digits, `-`; no `__`).
    pub name: String,
    /// The streamable HTTP endpoint, e.g. `https://tasks.example.com/mcp`.
    pub url: String,
    /// How the agent authenticates to it (see [`UpstreamAuth`]).
    pub auth: UpstreamAuth,
    /// Allowlist of the server's tool names; absent = all of them.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Longest wait for one request to this server (listing, a call). Default 30000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// `https` hosts whose images its widgets may show; absent = none (they are removed).
    #[serde(default)]
    pub image_hosts: Option<Vec<String>>,
    /// Action types its widgets' buttons and forms may send (your handlers must expect them);
    /// absent = none (they are removed).
    #[serde(default)]
    pub actions: Option<Vec<String>>,
}

impl McpServerConfig {
    pub fn timeout(&self) -> Duration {
        self.timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    }

    /// Whether the allowlist lets `tool` through.
    pub fn allows(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|list| list.iter().any(|t| t == tool))
    }
}

/// Parses and checks `CHATKIT_MCP_SERVERS`.
pub fn parse_servers(json: &str) -> Result<Vec<McpServerConfig>, String> {
    let servers: Vec<McpServerConfig> = serde_json::from_str(json).map_err(|e| {
        format!(
            r#"expected a JSON array of {{"name", "url", "auth", "tools"?, "timeout_ms"?, "image_hosts"?, "actions"?}}: {e}"#
        )
    })?;
    for (i, server) in servers.iter().enumerate() {
        let name = &server.name;
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !name.contains("__");
        if !valid {
            return Err(format!(
                "server name `{name}` must be 1-32 letters, digits, `-` or `_`, without `__`"
            ));
        }
        if servers[..i].iter().any(|s| &s.name == name) {
            return Err(format!("server name `{name}` is used twice"));
        }
        if !(server.url.starts_with("http://") || server.url.starts_with("https://")) {
            return Err(format!("server `{name}`: url must start with http:// or https://"));
        }
        if server.timeout_ms == Some(0) {
            return Err(format!("server `{name}`: timeout_ms must be greater than 0"));
        }
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_auth_form_and_names_the_mistakes() {
        let servers = parse_servers(
            r#"[{"name": "tasks", "url": "https://tasks.test/mcp", "auth": "user_token", "tools": ["create_task"], "timeout_ms": 5000},
                {"name": "crm", "url": "http://crm.test/mcp", "auth": {"secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:crm"}},
                {"name": "docs", "url": "http://docs.test/mcp", "auth": "none"}]"#,
        )
        .unwrap();
        assert_eq!(servers[0].auth, McpAuth::UserToken);
        assert_eq!(servers[0].timeout(), Duration::from_millis(5000));
        assert!(servers[0].allows("create_task") && !servers[0].allows("delete_task"));
        assert_eq!(
            servers[1].auth,
            McpAuth::SecretArn("arn:aws:secretsmanager:eu-west-1:1:secret:crm".into())
        );
        assert_eq!(servers[1].timeout(), DEFAULT_TIMEOUT);
        assert!(servers[2].allows("anything"));
        assert_eq!(servers[2].auth, McpAuth::None);

        for (json, needle) in [
            (r#"[{"name": "a", "url": "http://x", "auth": "bearer"}]"#, "auth"),
            (r#"[{"name": "a", "url": "http://x", "auth": {"secret_arn": ""}}]"#, "auth"),
            (r#"[{"name": "a__b", "url": "http://x", "auth": "none"}]"#, "a__b"),
            (r#"[{"name": "a b", "url": "http://x", "auth": "none"}]"#, "a b"),
            (r#"[{"name": "a", "url": "ftp://x", "auth": "none"}]"#, "http"),
            (
                r#"[{"name": "a", "url": "http://x", "auth": "none"}, {"name": "a", "url": "http://y", "auth": "none"}]"#,
                "twice",
            ),
            (
                r#"[{"name": "a", "url": "http://x", "auth": "none", "timeout_ms": 0}]"#,
                "timeout_ms",
            ),
            (r#"[{"name": "a", "url": "http://x", "auth": "none", "token": "t"}]"#, "token"),
            (r#"{"name": "a"}"#, "JSON array"),
        ] {
            let err = parse_servers(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
