//! The ChatKit function: configuration read once, clients built on first use and reused by
//! every warm invocation; Lambda response streaming, or plain HTTP outside Lambda.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatkit_agent::mcp::ServiceTokens;
use chatkit_gateway::app::{self, Resources};
use chatkit_gateway::{ManagedSecret, SecretSource};

/// The model API key: Secrets Manager (`OPENAI_API_KEY_SECRET_ARN`) or `OPENAI_API_KEY`.
async fn api_key(resources: &Resources) -> Result<Option<String>, String> {
    match std::env::var("OPENAI_API_KEY_SECRET_ARN").ok().filter(|v| !v.is_empty()) {
        Some(arn) => {
            let secret = ManagedSecret::new(resources.aws.clone(), arn, Duration::from_secs(3600));
            let key = secret.secret().await.map_err(|e| e.to_string())?;
            // the SAM template creates the secret with a placeholder until a key is put in
            Ok(Some(key.to_string()).filter(|k| !k.starts_with("REPLACE_WITH")))
        }
        None => Ok(std::env::var("OPENAI_API_KEY").ok().filter(|v| !v.is_empty())),
    }
}

/// MCP service tokens (`auth: {"secret_arn": …}`) from Secrets Manager, each cached and
/// refreshed every `CHATKIT_SECRET_REFRESH_SECONDS` like the other secrets.
struct SecretsManagerTokens {
    resources: Resources,
    refresh: Duration,
    secrets: Mutex<HashMap<String, Arc<ManagedSecret>>>,
}

#[async_trait::async_trait]
impl ServiceTokens for SecretsManagerTokens {
    async fn token(&self, secret_arn: &str) -> Result<Arc<str>, String> {
        let secret = self
            .secrets
            .lock()
            .expect("secrets lock")
            .entry(secret_arn.to_string())
            .or_insert_with(|| Arc::new(ManagedSecret::new(self.resources.aws.clone(), secret_arn, self.refresh)))
            .clone();
        secret.secret().await.map_err(|e| e.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    chatkit_gateway::init_tracing();
    let gateway = app::from_env(Arc::new(|resources: Resources| {
        Box::pin(async move {
            let key = api_key(&resources).await?;
            let refresh = std::env::var("CHATKIT_SECRET_REFRESH_SECONDS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(300);
            let tokens = SecretsManagerTokens { resources: resources.clone(), refresh: Duration::from_secs(refresh), secrets: Mutex::default() };
            chatkit_agent::responder_from_env(resources.http.clone(), key, Some(Arc::new(tokens))).map_err(|e| e.to_string())
        })
    }))?;
    app::serve(Arc::new(gateway)).await
}
