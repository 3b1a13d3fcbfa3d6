//! The function's settings, read once from the environment.

use std::time::Duration;

use jsonwebtoken::Algorithm;

/// Why the configuration is unusable; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the HS256 secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSetting {
    /// `CHATKIT_JWT_SECRET` (local use).
    Value(String),
    /// `CHATKIT_JWT_SECRET_ARN`: fetched from Secrets Manager, cached.
    Arn(String),
}

/// Token verification settings.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub hs_secret: Option<SecretSetting>,
    /// `CHATKIT_JWKS_URL`: RS256/ES256 keys by `kid`.
    pub jwks_url: Option<String>,
    /// `CHATKIT_JWT_ALGORITHMS`: pinned; default HS256 with a secret, RS256 with a JWKS.
    pub algorithms: Vec<Algorithm>,
    /// `CHATKIT_JWT_ISSUER`, checked when set.
    pub issuer: Option<String>,
    /// `CHATKIT_JWT_AUDIENCE`, checked when set.
    pub audience: Option<String>,
    /// `CHATKIT_AUTH_COOKIE`: also accept the token from this (httpOnly) cookie.
    pub cookie_name: Option<String>,
    /// `CHATKIT_DEV_AUTH=1`: trust an `X-User-ID` header. Local development only.
    pub dev_auth: bool,
    /// How long fetched secrets and keys are reused (`CHATKIT_SECRET_REFRESH_SECONDS`, 300).
    pub refresh: Duration,
}

/// Transport settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub auth: AuthConfig,
    /// `CHATKIT_ALLOWED_ORIGINS`: comma-separated origins, or `*`. Empty: no CORS headers.
    pub allowed_origins: Vec<String>,
    /// `CHATKIT_MAX_BODY_BYTES` (default 4 MiB; Lambda's own limit is 6 MB).
    pub max_body_bytes: usize,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError(format!("{name}={v:?} is not a valid number"))),
    }
}

fn algorithm(name: &str) -> Result<Algorithm, ConfigError> {
    match name.trim() {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        other => Err(ConfigError(format!("CHATKIT_JWT_ALGORITHMS: unsupported algorithm {other:?}"))),
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let hs_secret = match (var("CHATKIT_JWT_SECRET_ARN"), var("CHATKIT_JWT_SECRET")) {
            (Some(arn), _) => Some(SecretSetting::Arn(arn)),
            (None, Some(secret)) => Some(SecretSetting::Value(secret)),
            (None, None) => None,
        };
        let jwks_url = var("CHATKIT_JWKS_URL");
        let algorithms = match var("CHATKIT_JWT_ALGORITHMS") {
            Some(list) => list.split(',').map(algorithm).collect::<Result<Vec<_>, _>>()?,
            None => {
                let mut algs = Vec::new();
                if hs_secret.is_some() {
                    algs.push(Algorithm::HS256);
                }
                if jwks_url.is_some() {
                    algs.push(Algorithm::RS256);
                }
                algs
            }
        };
        let dev_auth = matches!(var("CHATKIT_DEV_AUTH").as_deref(), Some("1" | "true"));
        if !dev_auth && algorithms.is_empty() {
            return Err(ConfigError(
                "no authentication configured: set CHATKIT_JWT_SECRET_ARN (or CHATKIT_JWT_SECRET) for HS256, \
                 CHATKIT_JWKS_URL for RS256/ES256, or CHATKIT_DEV_AUTH=1 for local development"
                    .into(),
            ));
        }
        Ok(Self {
            hs_secret,
            jwks_url,
            algorithms,
            issuer: var("CHATKIT_JWT_ISSUER"),
            audience: var("CHATKIT_JWT_AUDIENCE"),
            cookie_name: var("CHATKIT_AUTH_COOKIE"),
            dev_auth,
            refresh: Duration::from_secs(parse("CHATKIT_SECRET_REFRESH_SECONDS", 300)?),
        })
    }
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let allowed_origins = var("CHATKIT_ALLOWED_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        Ok(Self {
            auth: AuthConfig::from_env()?,
            allowed_origins,
            max_body_bytes: parse("CHATKIT_MAX_BODY_BYTES", 4 * 1024 * 1024)?,
        })
    }
}
