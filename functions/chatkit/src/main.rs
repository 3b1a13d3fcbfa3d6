//! The ChatKit function: configuration read once, clients built on first use and reused by
//! every warm invocation; Lambda response streaming, or plain HTTP outside Lambda.

use std::sync::Arc;

use chatkit_gateway::app::{self, Resources};
use chatkit_gateway::{ManagedSecret, SecretSource};

/// The model API key: Secrets Manager (`OPENAI_API_KEY_SECRET_ARN`) or `OPENAI_API_KEY`.
async fn api_key(resources: &Resources) -> Result<Option<String>, String> {
    match std::env::var("OPENAI_API_KEY_SECRET_ARN").ok().filter(|v| !v.is_empty()) {
        Some(arn) => {
            let secret = ManagedSecret::new(resources.aws.clone(), arn, std::time::Duration::from_secs(3600));
            let key = secret.secret().await.map_err(|e| e.to_string())?;
            // the SAM template creates the secret with a placeholder until a key is put in
            Ok(Some(key.to_string()).filter(|k| !k.starts_with("REPLACE_WITH")))
        }
        None => Ok(std::env::var("OPENAI_API_KEY").ok().filter(|v| !v.is_empty())),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    chatkit_gateway::init_tracing();
    let gateway = app::from_env(Arc::new(|resources: Resources| {
        Box::pin(async move {
            let key = api_key(&resources).await?;
            chatkit_agent::responder_from_env(resources.http.clone(), key).map_err(|e| e.to_string())
        })
    }))?;
    app::serve(Arc::new(gateway)).await
}
