//! The HTTP front of the ChatKit function: JWT auth (HS256 secret, RS256/ES256 JWKS, cookie),
//! CORS, body limits, JSON and SSE responses; served by Lambda response streaming or, outside
//! Lambda, by a local HTTP server.

mod app;
mod auth;
mod config;
mod cookie_guard;
mod cors;
mod gateway;
mod jwks;
pub mod lambda;
pub mod local;
mod request_log;
mod responses;
pub mod roots;
pub mod secrets;
mod users;

pub use app::{gateway, http_client, serve};
pub use auth::{cookie, AuthError, Authenticator, Identity, LEEWAY_SECONDS};
pub use config::{AuthConfig, GatewayConfig, SecretSetting, MIN_HMAC_SECRET_BYTES};
pub use cookie_guard::{CookieGuard, CookieRefusal};
pub use cors::{Cors, ALLOWED_HEADERS};
pub use gateway::{Gateway, ServerInit, WarmUp};
pub use jwks::Jwks;
pub use responses::ResponseBody;
pub use secrets::{KeyError, SecretSource, SecretVersions, StaticSecret};
pub use users::UserHasher;

/// JSON logs for CloudWatch (`RUST_LOG` filters; default `info`).
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
