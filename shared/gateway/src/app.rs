//! Builds the whole function from the environment, once per container: configuration now,
//! clients and secrets lazily on first use, then reused by every warm invocation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatkit_dynamodb::DynamoStore;
use chatkit_s3::{AttachmentSettings, S3AttachmentStore};
use chatkit_server::{ChatKitServer, Responder, ServerConfig};
use futures::future::BoxFuture;
use tracing::{info, warn};

use crate::auth::Authenticator;
use crate::aws::AwsClients;
use crate::config::{ConfigError, GatewayConfig, SecretSetting, MIN_HMAC_SECRET_BYTES};
use crate::cors::Cors;
use crate::gateway::{Gateway, UserHasher};
use crate::keys::{Jwks, ManagedSecret, SecretSource, StaticSecret};

/// What a responder may use: the shared AWS clients and HTTP client.
#[derive(Clone)]
pub struct Resources {
    pub aws: Arc<AwsClients>,
    pub http: reqwest::Client,
    /// How long fetched secrets are reused (`CHATKIT_SECRET_REFRESH_SECONDS`, 300).
    pub secret_refresh: Duration,
}

/// Builds the responder on first use (it may need secrets, e.g. the model API key).
pub type ResponderInit =
    Arc<dyn Fn(Resources) -> BoxFuture<'static, Result<Arc<dyn Responder>, String>> + Send + Sync>;

/// The HTTP client shared by JWKS fetches, the model and tools: a connect limit
/// (`CHATKIT_CONNECT_TIMEOUT_MS`, 5000) and a limit on every read (`CHATKIT_IDLE_TIMEOUT_MS`,
/// 30000), so no outbound call can hang a request; each call adds its own total limit.
pub fn http_client() -> reqwest::Client {
    let ms = |name: &str, default: u64| {
        let value =
            std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).filter(|ms| *ms > 0);
        Duration::from_millis(value.unwrap_or(default))
    };
    let config = GatewayConfig {
        connect_timeout: ms("CHATKIT_CONNECT_TIMEOUT_MS", 5000),
        read_timeout: ms("CHATKIT_IDLE_TIMEOUT_MS", 30_000),
        ..GatewayConfig::default()
    };
    http_client_with(&config)
}

fn http_client_with(config: &GatewayConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds")
}

fn authenticator(config: &GatewayConfig, resources: &Resources) -> Authenticator {
    let auth = &config.auth;
    let secret: Option<Arc<dyn SecretSource>> = match &auth.hs_secret {
        Some(SecretSetting::Value(v)) => Some(Arc::new(StaticSecret(v.as_str().into()))),
        Some(SecretSetting::Arn(arn)) => Some(Arc::new(
            ManagedSecret::new(resources.aws.clone(), arn, auth.refresh)
                .with_min_len(MIN_HMAC_SECRET_BYTES)
                .with_previous(auth.previous_grace),
        )),
        None => None,
    };
    let jwks = auth.jwks_url.as_ref().map(|url| {
        Jwks::new(resources.http.clone(), url, auth.refresh).with_timeout(auth.jwks_timeout)
    });
    if auth.dev_auth {
        warn!("CHATKIT_DEV_AUTH is on: the X-User-ID header is trusted as the user id. Never use this outside local development.");
    }
    Authenticator::new(secret, jwks, auth.algorithms.clone())
        .with_issuer(auth.issuer.clone())
        .with_audience(auth.audience.clone())
        .with_cookie(auth.cookie_name.clone())
        .with_dev_auth(auth.dev_auth)
        .with_tenant_claim(auth.tenant_claim.clone())
}

/// The gateway as configured by the environment (see the README's settings table).
pub fn from_env(make_responder: ResponderInit) -> Result<Gateway, ConfigError> {
    let config = GatewayConfig::from_env()?;
    let resources = Resources {
        aws: Arc::new(AwsClients::with_timeouts(config.aws_timeouts)),
        http: http_client_with(&config),
        secret_refresh: config.auth.refresh,
    };
    let auth = authenticator(&config, &resources);
    let server_config = ServerConfig {
        max_body_bytes: config.max_body_bytes,
        ..ServerConfig::from_env().map_err(ConfigError)?
    };
    // attachments are on when CHATKIT_ATTACHMENTS_BUCKET is set
    let attachment_settings =
        AttachmentSettings::from_env().map_err(|e| ConfigError(e.to_string()))?;
    let usage_limits = config.usage_limits;
    if usage_limits.is_off() {
        warn!("CHATKIT_TURNS_PER_MINUTE and CHATKIT_TOKENS_PER_DAY are 0: nothing limits what one user can make the model do");
    }
    let init = Box::new(move || {
        let resources = resources.clone();
        let make_responder = make_responder.clone();
        let server_config = server_config.clone();
        let attachment_settings = attachment_settings.clone();
        let usage_limits = usage_limits;
        Box::pin(async move {
            let sdk = resources.aws.config().await;
            let store = DynamoStore::from_env(sdk).map_err(|e| e.to_string())?;
            if std::env::var("CHATKIT_CREATE_TABLE").is_ok_and(|v| v == "1") {
                // local development: make the table on first use (never set by the SAM template)
                chatkit_dynamodb::create_table(store.client(), store.table_name())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let responder = make_responder(resources.clone()).await?;
            let store = Arc::new(store);
            let mut server = ChatKitServer::new(store.clone(), responder)
                .with_config(server_config)
                .with_usage_limits(store, usage_limits);
            if let Some(settings) = attachment_settings {
                // S3 client from the same lazily loaded AWS config
                server =
                    server.with_attachment_store(Arc::new(S3AttachmentStore::new(sdk, settings)));
            }
            Ok(server)
        }) as BoxFuture<'static, Result<ChatKitServer, String>>
    });
    if config.auth.cookie_name.is_some() && config.cookie_origins.is_empty() {
        warn!("CHATKIT_AUTH_COOKIE is set but no origin may use it (CHATKIT_COOKIE_ORIGINS, or named CHATKIT_ALLOWED_ORIGINS): cookie requests get 403");
    }
    let users = match &config.user_hash_key {
        Some(key) => UserHasher::new(key.as_bytes()),
        None => {
            info!("CHATKIT_USER_HASH_KEY is not set: user hashes in logs use a random per-container key");
            UserHasher::random()
        }
    };
    Ok(Gateway::lazy(init, auth, Cors::new(config.allowed_origins.clone()), config.max_body_bytes)
        .with_user_hasher(users)
        .with_warm_up(config.warm_up)
        .with_cookie_origins(config.cookie_origins.clone()))
}

/// Serves on Lambda when the runtime API is present; otherwise over HTTP on `PORT` (or
/// `--port N`), default 8080, on 127.0.0.1 (`CHATKIT_BIND` overrides the address).
pub async fn serve(gateway: Arc<Gateway>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // on Lambda this runs in the init phase, before the first invocation is taken
    if let Some(limit) = gateway.warm_up_limit() {
        gateway.warm_up(limit).await;
    }
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return crate::lambda::run(gateway).await;
    }
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("PORT").ok())
        .unwrap_or_else(|| "8080".into());
    let host = std::env::var("CHATKIT_BIND").unwrap_or_else(|_| "127.0.0.1".into());
    let addr: SocketAddr =
        format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    let (bound, serving) = crate::local::bind(gateway, addr).await?;
    println!("ChatKit endpoint: http://{bound}/chatkit");
    serving.await;
    Ok(())
}
