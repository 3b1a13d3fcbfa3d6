//! The default agent as the responder, customized by the team's `shared/app`: its model key
//! from Secrets Manager (`OPENAI_API_KEY_SECRET_ARN`, rotation picked up within one refresh
//! period) or the environment, or Amazon Bedrock with the function's role; MCP service
//! tokens from Secrets Manager.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatkit_agent::client::ApiKeySource;
use chatkit_agent::mcp::ServiceTokens;
use chatkit_agent::{Agent, AgentConfig, ModelApi, OfflineResponder};
use chatkit_gateway::SecretSource;
use chatkit_server::Responder;
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

/// What the functions serve on the default agent: [`chatkit_app::App::responder`]-shaped (add
/// tools and actions to the agent, or return another responder).
pub type Customize = Arc<dyn Fn(Agent) -> Arc<dyn Responder> + Send + Sync>;

/// The Bedrock client: the function's role signs the calls; the SDK's own retries are off
/// (the model client retries before the first token) and the stream's own limits (first
/// token, idle) govern instead of the AWS calls' ones.
async fn bedrock_client(resources: &Resources) -> aws_sdk_bedrockruntime::Client {
    let sdk = resources.aws.config().await;
    let timeouts = sdk
        .timeout_config()
        .map(aws_config::timeout::TimeoutConfig::to_builder)
        .unwrap_or_default()
        .disable_operation_timeout()
        .disable_operation_attempt_timeout()
        .build();
    let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts)
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// The default agent ([`chatkit_agent`]) configured by the environment, made into the
/// responder by `customize` (the team's `shared/app`). Its settings are read and checked now,
/// at start (a malformed one stops the function); the agent itself is built on first use:
/// on Bedrock with the function's role, or with the key from Secrets Manager (re-read as it
/// rotates), and the MCP service tokens from Secrets Manager. Without any model configured
/// the offline responder answers.
pub fn default_responder(customize: Customize) -> Result<ResponderInit, SettingError> {
    let config = AgentConfig::from_env()?;
    let key_secret = OPENAI_API_KEY_SECRET_ARN.raw(&chatkit_settings::env);
    Ok(Arc::new(move |resources: Resources| {
        let (config, key_secret, customize) =
            (config.clone(), key_secret.clone(), customize.clone());
        async move {
            let tokens: Arc<dyn ServiceTokens> = Arc::new(SecretsManagerTokens {
                resources: resources.clone(),
                secrets: Mutex::default(),
            });
            let bedrock = config.api == ModelApi::Bedrock;
            if !bedrock && key_secret.is_none() && !config.has_model() {
                tracing::warn!("no model configured (OPENAI_API_KEY / OPENAI_BASE_URL): using the offline responder");
                return Ok(Arc::new(OfflineResponder) as Arc<dyn Responder>);
            }
            tracing::info!(model = %config.model, api = ?config.api, mcp_servers = config.mcp_servers.len(), "using the model agent");
            let agent = Agent::new(config, resources.http.clone()).with_service_tokens(tokens);
            let agent = if bedrock {
                agent.with_bedrock(bedrock_client(&resources).await)
            } else if let Some(arn) = key_secret {
                let secret = ManagedSecret::new(resources.aws.clone(), arn, resources.secret_refresh);
                // read it now (during warm-up, in Lambda's init phase); a failure is retried on use
                let _ = secret.versions().await;
                agent.with_api_key_source(Arc::new(SecretKey(secret)))
            } else {
                agent
            };
            Ok(customize(agent))
        }
        .boxed()
    }))
}
