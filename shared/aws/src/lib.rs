//! The wiring of the ChatKit functions on AWS, called by each `functions/*` binary: the AWS
//! clients (built once per container, lazily), secrets from Secrets Manager, the DynamoDB and
//! S3 stores, and the [`Gateway`] that serves them. The HTTP layer itself
//! ([`chatkit_gateway`]) knows none of these.

#[cfg(feature = "agent")]
pub mod agent;
mod clients;
mod secrets;
mod server;

use std::sync::Arc;
use std::time::Duration;

use chatkit_cleanup::ThreadCleanup;
use chatkit_dynamodb::{DynamoStore, Settings};
use chatkit_gateway::{Gateway, GatewayConfig, SecretSetting, SecretSource, StaticSecret};
use chatkit_protocol::Function;
use chatkit_s3::{AttachmentSettings, S3AttachmentStore};
use chatkit_server::{NoResponder, Responder};
use chatkit_settings::{Lookup, SettingError};
use futures::future::BoxFuture;
use futures::FutureExt;

pub use clients::{AwsClients, AwsTimeouts};
pub use secrets::ManagedSecret;

/// What a responder may use: the shared AWS clients and HTTP client.
#[derive(Clone)]
pub struct Resources {
    pub aws: Arc<AwsClients>,
    pub http: reqwest::Client,
    /// How long fetched secrets are reused (`CHATKIT_SECRET_REFRESH_SECONDS`).
    pub secret_refresh: Duration,
}

/// Builds the responder on first use (it may need secrets, e.g. the model API key).
pub type ResponderInit =
    Arc<dyn Fn(Resources) -> BoxFuture<'static, Result<Arc<dyn Responder>, String>> + Send + Sync>;

/// The cleanup of deleted threads as the environment configures it: the table, and the
/// attachment bytes on S3 when attachments are on (`CHATKIT_ATTACHMENTS_BUCKET`; without it
/// only their metadata is deleted).
pub async fn thread_cleanup_from_env() -> Result<ThreadCleanup, SettingError> {
    let get = &chatkit_settings::env;
    let aws = AwsClients::with_timeouts(AwsTimeouts::from_lookup(get)?);
    let sdk = aws.config().await;
    let mut cleanup =
        ThreadCleanup::new(DynamoStore::from_settings(sdk, &Settings::from_lookup(get)?));
    if let Some(settings) = AttachmentSettings::from_lookup(get)? {
        cleanup = cleanup.with_attachment_store(Arc::new(S3AttachmentStore::new(sdk, settings)));
    }
    Ok(cleanup)
}

/// The gateway as the environment configures it: settings read and checked now, clients and
/// secrets on first use (the warm-up, in Lambda's init phase), then reused.
pub fn gateway_from_env(make_responder: ResponderInit) -> Result<Gateway, SettingError> {
    gateway_from_lookup(&chatkit_settings::env, make_responder)
}

/// The gateway of one function of the set (docs/functions.md): [`gateway_from_env`] serving
/// only `function`'s operations, answering the others 400 `wrong_function`.
pub fn function_from_env(
    function: Function,
    make_responder: ResponderInit,
) -> Result<Gateway, SettingError> {
    Ok(gateway_from_env(make_responder)?.with_function(function))
}

/// The responder of a function that calls no model (`threads`): nothing to build, no secret
/// to read.
pub fn no_responder() -> ResponderInit {
    Arc::new(|_| futures::future::ready(Ok(Arc::new(NoResponder) as Arc<dyn Responder>)).boxed())
}

/// [`gateway_from_env`] with the settings read through `get`.
pub fn gateway_from_lookup(
    get: &dyn Lookup,
    make_responder: ResponderInit,
) -> Result<Gateway, SettingError> {
    let config = GatewayConfig::from_lookup(get)?;
    let resources = Resources {
        aws: Arc::new(AwsClients::with_timeouts(AwsTimeouts::from_lookup(get)?)),
        http: chatkit_gateway::http_client(&config),
        secret_refresh: config.auth.refresh,
    };
    let hs_secret: Option<Arc<dyn SecretSource>> = match &config.auth.hs_secret {
        Some(SecretSetting::Value(v)) => Some(Arc::new(StaticSecret(v.as_str().into()))),
        Some(SecretSetting::Arn(arn)) => Some(Arc::new(
            ManagedSecret::new(resources.aws.clone(), arn, config.auth.refresh)
                .with_min_len(chatkit_gateway::MIN_HMAC_SECRET_BYTES)
                .with_previous(config.auth.previous_grace),
        )),
        None => None,
    };
    let init = server::lazy(get, resources.clone(), make_responder)?;
    Ok(chatkit_gateway::gateway(&config, init, hs_secret, &resources.http))
}
