//! Putting the HTTP front together: the HTTP client the function shares, the authenticator
//! its settings describe, and serving on Lambda or, outside it, over local HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatkit_settings::catalog::{BIND, PORT};
use tracing::{info, warn};

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::cors::Cors;
use crate::gateway::{Gateway, ServerInit};
use crate::jwks::Jwks;
use crate::secrets::SecretSource;
use crate::users::UserHasher;

/// The HTTP client shared by JWKS fetches, the model and tools: a connect limit
/// (`CHATKIT_CONNECT_TIMEOUT_MS`) and a limit on every read (`CHATKIT_IDLE_TIMEOUT_MS`), so no
/// outbound call can hang a request; each call adds its own total limit. It follows no
/// redirect: the https and host checks made on a configured URL hold for every request. It
/// trusts the system's roots, read once for the process ([`crate::roots`]).
pub fn http_client(config: &GatewayConfig) -> reqwest::Client {
    let roots = crate::roots::native_roots()
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok());
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds")
}

fn authenticator(
    config: &GatewayConfig,
    hs_secret: Option<Arc<dyn SecretSource>>,
    http: &reqwest::Client,
) -> Authenticator {
    let auth = &config.auth;
    let jwks = auth
        .jwks_url
        .as_ref()
        .map(|url| Jwks::new(http.clone(), url, auth.refresh).with_timeout(auth.jwks_timeout));
    if auth.dev_auth {
        warn!("CHATKIT_DEV_AUTH is on: the X-User-ID header is trusted as the user id. Never use this outside local development.");
    }
    Authenticator::new(hs_secret, jwks, auth.algorithms.clone())
        .with_issuer(auth.issuer.clone())
        .with_audience(auth.audience.clone())
        .with_cookie(auth.cookie_name.clone())
        .with_dev_auth(auth.dev_auth)
        .with_tenant_claim(auth.tenant_claim.clone())
}

/// The gateway `config` describes, over the core `init` builds on first use; `hs_secret` is
/// where the HS256 secret comes from (see [`crate::AuthConfig::hs_secret`]).
pub fn gateway(
    config: &GatewayConfig,
    init: ServerInit,
    hs_secret: Option<Arc<dyn SecretSource>>,
    http: &reqwest::Client,
) -> Gateway {
    let auth = authenticator(config, hs_secret, http);
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
    Gateway::lazy(init, auth, Cors::new(config.allowed_origins.clone()), config.max_body_bytes)
        .with_user_hasher(users)
        .with_warm_up(config.warm_up)
        .with_cookie_origins(config.cookie_origins.clone())
}

/// Whether the warm-up runs to its end before serving: only where no request is waiting for
/// the start, an environment Lambda initialises ahead of traffic (provisioned concurrency,
/// `AWS_LAMBDA_INITIALIZATION_TYPE`). A cold start on demand has its request waiting, and
/// serves at once with the warm-up alongside.
fn warm_up_before_serving() -> bool {
    std::env::var_os("AWS_LAMBDA_INITIALIZATION_TYPE")
        .is_some_and(|t| t == "provisioned-concurrency")
}

/// Serves on Lambda when the runtime API is present; otherwise over HTTP on `PORT` (or
/// `--port N`), on `CHATKIT_BIND`.
pub async fn serve(gateway: Arc<Gateway>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if let Some(limit) = gateway.warm_up_limit() {
        if warm_up_before_serving() {
            gateway.warm_up(limit).await;
        } else {
            // alongside the first request: it waits only for what it shares with the warm-up
            // (the core being built, a key set being fetched), never for the rest (the
            // DynamoDB ping, keys it does not need)
            let warming = gateway.clone();
            tokio::spawn(async move { warming.warm_up(limit).await });
        }
    }
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return crate::lambda::run(gateway).await;
    }
    let get = &chatkit_settings::env;
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.iter().position(|a| a == "--port").and_then(|i| args.get(i + 1)) {
        Some(port) => port.parse().map_err(|_| format!("--port {port} is not a port"))?,
        None => PORT.number(get)?,
    };
    let host = BIND.text(get).unwrap_or_default();
    let addr: SocketAddr =
        format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    let (bound, serving) =
        crate::local::bind(gateway, addr, crate::local::ReadTimeouts::default()).await?;
    println!("ChatKit endpoint: http://{bound}/chatkit");
    serving.await;
    Ok(())
}
