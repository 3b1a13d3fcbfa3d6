//! The HTTP front of the ChatKit function: JWT auth (HS256 secret, RS256/ES256 JWKS, cookie),
//! CORS, body limits, JSON and SSE responses; served by Lambda response streaming or, outside
//! Lambda, by a local HTTP server.

pub mod app;
mod auth;
mod aws;
mod config;
mod cookie_guard;
mod cors;
mod gateway;
mod keys;
pub mod lambda;
pub mod local;

pub use auth::{cookie, AuthError, Authenticator, Identity, LEEWAY_SECONDS};
pub use aws::{AwsClients, AwsTimeouts};
pub use config::{
    check_outbound_url, is_local, AuthConfig, ConfigError, GatewayConfig, Lookup, SecretSetting,
    MIN_HMAC_SECRET_BYTES,
};
pub use cookie_guard::{CookieGuard, CookieRefusal};
pub use cors::{Cors, ALLOWED_HEADERS};
pub use gateway::{Gateway, ResponseBody, UserHasher, WarmUp};
pub use keys::{Jwks, KeyError, ManagedSecret, SecretSource, SecretVersions, StaticSecret};

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
