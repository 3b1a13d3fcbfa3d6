//! The default agent as the responder: its model key from Secrets Manager
//! (`OPENAI_API_KEY_SECRET_ARN`, rotation picked up within one refresh period) or the
//! environment, and MCP service tokens from Secrets Manager.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatkit_agent::client::ApiKeySource;
use chatkit_agent::mcp::ServiceTokens;
use chatkit_agent::AgentConfig;
use chatkit_gateway::SecretSource;
use chatkit_settings::catalog::OPENAI_API_KEY_SECRET_ARN;
use chatkit_settings::SettingError;
use futures::FutureExt;

use crate::{ManagedSecret, Resources, ResponderInit};

/// The value the SAM template puts in the key secret until the operator replaces it.
const PLACEHOLDER_PREFIX: &str = "REPLACE_WITH";

/// The model API key in Secrets Manager, cached and re-read every
/// `CHATKIT_SECRET_REFRESH_SECONDS`: the template's placeholder counts as no key.
struct SecretKey(ManagedSecret);

#[async_trait::async_trait]
impl ApiKeySource for SecretKey {
    async fn api_key(&self) -> Result<Option<Arc<str>>, String> {
        let key = self.0.secret().await.map_err(|e| e.to_string())?;
        Ok(Some(key).filter(|k| !k.is_empty() && !k.starts_with(PLACEHOLDER_PREFIX)))
    }
}

/// MCP service tokens (`auth: {"secret_arn": …}`), each cached and refreshed like the other
/// secrets.
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(secret_arn.to_string())
            .or_insert_with(|| {
                let (aws, refresh) = (self.resources.aws.clone(), self.resources.secret_refresh);
                Arc::new(ManagedSecret::new(aws, secret_arn, refresh))
            })
            .clone();
        secret.secret().await.map_err(|e| e.to_string())
    }
}

/// The default agent ([`chatkit_agent`]) configured by the environment. Its settings are
/// read and checked now, at start (a malformed one stops the function); the agent itself is
/// built on first use, with the key and service tokens from Secrets Manager.
pub fn default_responder() -> Result<ResponderInit, SettingError> {
    let config = AgentConfig::from_env()?;
    let key_secret = OPENAI_API_KEY_SECRET_ARN.raw(&chatkit_settings::env);
    Ok(Arc::new(move |resources: Resources| {
        let (config, key_secret) = (config.clone(), key_secret.clone());
        async move {
            let tokens: Arc<dyn ServiceTokens> = Arc::new(SecretsManagerTokens {
                resources: resources.clone(),
                secrets: Mutex::default(),
            });
            let http = resources.http.clone();
            Ok(match key_secret {
                Some(arn) => {
                    let secret =
                        ManagedSecret::new(resources.aws.clone(), arn, resources.secret_refresh);
                    // read it now (during warm-up, in Lambda's init phase); a failure is retried on use
                    let _ = secret.versions().await;
                    let key = Arc::new(SecretKey(secret));
                    chatkit_agent::responder_with_key_source(http, config, key, Some(tokens))
                }
                None => chatkit_agent::responder_from_config(http, config, Some(tokens)),
            })
        }
        .boxed()
    }))
}
