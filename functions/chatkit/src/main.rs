//! The ChatKit function: configuration read once, clients built on first use and reused by
//! every warm invocation; Lambda response streaming, or plain HTTP outside Lambda.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatkit_agent::client::ApiKeySource;
use chatkit_agent::mcp::ServiceTokens;
use chatkit_gateway::app::{self, Resources};
use chatkit_gateway::{ManagedSecret, SecretSource};

/// mimalloc instead of glibc's malloc: a request allocates and frees many small values
/// (SDK records, JSON), and this is the cheaper allocator for that (see `make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The model API key in Secrets Manager (`OPENAI_API_KEY_SECRET_ARN`), cached and re-read
/// every `CHATKIT_SECRET_REFRESH_SECONDS`: the template's placeholder counts as no key, and
/// the real key is used within one refresh period of being put in, without a redeploy.
struct SecretKey(ManagedSecret);

/// The value the SAM template puts in the secret until the operator replaces it.
const PLACEHOLDER_PREFIX: &str = "REPLACE_WITH";

#[async_trait::async_trait]
impl ApiKeySource for SecretKey {
    async fn api_key(&self) -> Result<Option<Arc<str>>, String> {
        let key = self.0.secret().await.map_err(|e| e.to_string())?;
        Ok(Some(key).filter(|k| !k.is_empty() && !k.starts_with(PLACEHOLDER_PREFIX)))
    }
}

/// MCP service tokens (`auth: {"secret_arn": …}`) from Secrets Manager, each cached and
/// refreshed every `CHATKIT_SECRET_REFRESH_SECONDS` like the other secrets.
struct SecretsManagerTokens {
    resources: Resources,
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
            .or_insert_with(|| {
                Arc::new(ManagedSecret::new(
                    self.resources.aws.clone(),
                    secret_arn,
                    self.resources.secret_refresh,
                ))
            })
            .clone();
        secret.secret().await.map_err(|e| e.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    chatkit_gateway::init_tracing();
    let gateway = app::from_env(Arc::new(|resources: Resources| {
        Box::pin(async move {
            let tokens: Arc<dyn ServiceTokens> = Arc::new(SecretsManagerTokens {
                resources: resources.clone(),
                secrets: Mutex::default(),
            });
            match std::env::var("OPENAI_API_KEY_SECRET_ARN").ok().filter(|v| !v.trim().is_empty()) {
                Some(arn) => {
                    let secret = ManagedSecret::new(
                        resources.aws.clone(),
                        arn.trim(),
                        resources.secret_refresh,
                    );
                    // read it now (during warm-up, in Lambda's init phase); a failure is retried on use
                    let _ = secret.versions().await;
                    chatkit_agent::responder_with_key_source(
                        resources.http.clone(),
                        Arc::new(SecretKey(secret)),
                        Some(tokens),
                    )
                }
                None => {
                    chatkit_agent::responder_from_env(resources.http.clone(), None, Some(tokens))
                }
            }
            .map_err(|e| e.to_string())
        })
    }))?;
    app::serve(Arc::new(gateway)).await
}
