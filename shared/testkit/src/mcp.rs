//! The real MCP test server (`tests/mcp/server.py`: the Python `mcp` SDK over streamable
//! HTTP, refusing requests without an accepted bearer token), started per test. Its Python
//! comes from `CHATKIT_MCP_PYTHON`, else `.cache/venv-mcp` (both set up by `make test`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct McpServer {
    /// The streamable HTTP endpoint.
    pub url: String,
    base: String,
    _child: Child,
}

fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/mcp/server.py").exists() {
        assert!(dir.pop(), "tests/mcp/server.py not found above {}", env!("CARGO_MANIFEST_DIR"));
    }
    dir
}

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CHATKIT_MCP_PYTHON") {
        return python.into();
    }
    let venv = repo_root().join(".cache/venv-mcp/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run the tests through `make test`, which installs the MCP test server",
        venv.display()
    );
    venv
}

impl McpServer {
    /// Starts the server accepting `tokens` (`(token, user)`); `stateless`: no sessions,
    /// JSON answers.
    pub async fn start(stateless: bool, tokens: &[(&str, &str)]) -> Self {
        Self::start_with(stateless, tokens, &[]).await
    }

    /// Also an identity provider for RFC 8693 token exchange, accepting on `/mcp` only the
    /// tokens it issued for its own URL (see `tests/mcp/server.py`): subject tokens are HS256
    /// JWTs under `jwt_secret`, the client is `client` (`(id, secret)`), and `args` adds
    /// `--subject-audience`, `--exchange-ttl`, `--resource`.
    pub async fn start_idp(jwt_secret: &str, client: (&str, &str), args: &[&str]) -> Self {
        let mut all = vec!["--jwt-secret", jwt_secret];
        let client = format!("{}:{}", client.0, client.1);
        all.extend(["--client", client.as_str()]);
        all.extend(args);
        Self::start_with(false, &[], &all).await
    }

    /// `start` with more command-line arguments.
    pub async fn start_with(stateless: bool, tokens: &[(&str, &str)], args: &[&str]) -> Self {
        let mut command = Command::new(python());
        command.arg(repo_root().join("tests/mcp/server.py"));
        if stateless {
            command.arg("--stateless");
        }
        for (token, user) in tokens {
            command.arg("--token").arg(format!("{token}={user}"));
        }
        command.args(args);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the MCP test server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.strip_prefix("PORT ") {
                    return port.trim().to_string();
                }
            }
            panic!("the MCP test server exited before listening");
        })
        .await
        .expect("the MCP test server started in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base = format!("http://127.0.0.1:{port}");
        // uvicorn starts serving right after the port is printed: wait until it answers
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/_log")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Self { url: format!("{base}/mcp"), base, _child: child }
    }

    /// The identity provider's token endpoint (see [`McpServer::start_idp`]).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// Makes every later token exchange fail with `invalid_grant` (whose description echoes
    /// the subject token, as a careless provider might).
    pub async fn refuse_exchanges(&self) {
        reqwest::Client::new().post(format!("{}/_idp/refuse", self.base)).send().await.unwrap();
    }

    /// Every request the server received: `{http, method, token, session}` (token exchanges:
    /// `{method: "token_exchange", resource, subject_user, content_type}`).
    pub async fn log(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_log", self.base)).await.unwrap().json().await.unwrap()
    }

    /// The JSON-RPC methods received, in order (`DELETE`/`GET` requests as such).
    pub async fn methods(&self) -> Vec<String> {
        self.log()
            .await
            .iter()
            .map(|r| {
                r["method"]
                    .as_str()
                    .map_or_else(|| r["http"].as_str().unwrap().to_string(), str::to_string)
            })
            .collect()
    }
}
