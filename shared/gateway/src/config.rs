//! The function's settings, read once from the environment and checked before anything
//! starts: a setting that would weaken verification (a JWKS without `iss`/`aud`, a short
//! HS256 secret, a plain-http key URL) stops the function with a message naming it.

use std::time::Duration;

use jsonwebtoken::Algorithm;

use chatkit_store::UsageLimits;

use crate::aws::AwsTimeouts;

/// Why the configuration is unusable; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// The shortest accepted HMAC secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// The shortest accepted `CHATKIT_USER_HASH_KEY`, in bytes.
pub const MIN_USER_HASH_KEY_BYTES: usize = 16;

/// Where the HS256 secret comes from.
#[derive(Clone)]
pub enum SecretSetting {
    /// `CHATKIT_JWT_SECRET` (local use).
    Value(String),
    /// `CHATKIT_JWT_SECRET_ARN`: fetched from Secrets Manager, cached.
    Arn(String),
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSetting::Value(_) => f.write_str("Value(<redacted>)"),
            SecretSetting::Arn(arn) => f.debug_tuple("Arn").field(arn).finish(),
        }
    }
}

/// Token verification settings.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub hs_secret: Option<SecretSetting>,
    /// `CHATKIT_JWKS_URL`: RS256/ES256 keys by `kid` (https only, except loopback locally).
    pub jwks_url: Option<String>,
    /// `CHATKIT_JWT_ALGORITHMS`: pinned; default HS256 with a secret, RS256 with a JWKS.
    pub algorithms: Vec<Algorithm>,
    /// `CHATKIT_JWT_ISSUER`: checked when set; required with a JWKS.
    pub issuer: Option<String>,
    /// `CHATKIT_JWT_AUDIENCE`: checked when set; required with a JWKS.
    pub audience: Option<String>,
    /// `CHATKIT_AUTH_COOKIE`: also accept the token from this (httpOnly) cookie.
    pub cookie_name: Option<String>,
    /// `CHATKIT_DEV_AUTH=1`: trust an `X-User-ID` header. Local development only.
    pub dev_auth: bool,
    /// How long fetched secrets and keys are reused (`CHATKIT_SECRET_REFRESH_SECONDS`, 300).
    pub refresh: Duration,
    /// `CHATKIT_JWKS_TIMEOUT_MS` (3000): total time limit of one JWKS fetch.
    pub jwks_timeout: Duration,
    /// `CHATKIT_JWT_PREVIOUS_GRACE_SECONDS` (86400): how long after a rotation tokens signed
    /// with the secret's `AWSPREVIOUS` version stay valid; 0 accepts only `AWSCURRENT`.
    pub previous_grace: Duration,
    /// `CHATKIT_TENANT_CLAIM` (e.g. `org_id`): when set, every token must carry this claim
    /// and each organisation's users get their own key space.
    pub tenant_claim: Option<String>,
}

/// Transport settings.
#[derive(Clone)]
pub struct GatewayConfig {
    pub auth: AuthConfig,
    /// `CHATKIT_ALLOWED_ORIGINS`: comma-separated origins, or `*`. Empty: no CORS headers.
    pub allowed_origins: Vec<String>,
    /// `CHATKIT_COOKIE_ORIGINS`: the origins whose requests may authenticate with the cookie
    /// (default: the named origins of `CHATKIT_ALLOWED_ORIGINS`; `*` never counts).
    pub cookie_origins: Vec<String>,
    /// `CHATKIT_MAX_BODY_BYTES` (default 4 MiB; Lambda's own limit is 6 MB).
    pub max_body_bytes: usize,
    /// Time limits of every AWS call.
    pub aws_timeouts: AwsTimeouts,
    /// `CHATKIT_CONNECT_TIMEOUT_MS` (5000): connect limit of the shared HTTP client.
    pub connect_timeout: Duration,
    /// `CHATKIT_IDLE_TIMEOUT_MS` (30000): longest wait for any read on the shared HTTP client.
    pub read_timeout: Duration,
    /// `CHATKIT_USER_HASH_KEY`: the HMAC key of the user hash in logs. Unset: a random key
    /// per container (hashes then differ between containers).
    pub user_hash_key: Option<String>,
    /// `CHATKIT_TURNS_PER_MINUTE` (20) and `CHATKIT_TOKENS_PER_DAY` (1000000): what one user
    /// may use; 0 turns a limit off.
    pub usage_limits: UsageLimits,
    /// `CHATKIT_WARMUP` (on; `0` turns it off) and `CHATKIT_WARMUP_TIMEOUT_MS` (5000): warm
    /// up before serving, bounded by this.
    pub warm_up: Option<Duration>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("auth", &self.auth)
            .field("allowed_origins", &self.allowed_origins)
            .field("cookie_origins", &self.cookie_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("aws_timeouts", &self.aws_timeouts)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("user_hash_key", &self.user_hash_key.as_ref().map(|_| "<redacted>"))
            .field("usage_limits", &self.usage_limits)
            .field("warm_up", &self.warm_up)
            .finish()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            allowed_origins: Vec::new(),
            cookie_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            aws_timeouts: AwsTimeouts::default(),
            connect_timeout: Duration::from_millis(5000),
            read_timeout: Duration::from_millis(30_000),
            user_hash_key: None,
            usage_limits: DEFAULT_USAGE_LIMITS,
            warm_up: Some(Duration::from_millis(5000)),
        }
    }
}

/// The default limits of one user.
pub const DEFAULT_USAGE_LIMITS: UsageLimits =
    UsageLimits { turns_per_minute: 20, tokens_per_day: 1_000_000 };

/// A source of settings by name (the process environment, or a map in tests).
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn var(get: &dyn Lookup, name: &str) -> Option<String> {
    get.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(get: &dyn Lookup, name: &str, default: T) -> Result<T, ConfigError> {
    match var(get, name) {
        None => Ok(default),
        Some(v) => {
            v.parse().map_err(|_| ConfigError(format!("{name}={v:?} is not a valid number")))
        }
    }
}

fn millis(get: &dyn Lookup, name: &str, default: u64) -> Result<Duration, ConfigError> {
    match parse(get, name, default)? {
        0 => Err(ConfigError(format!("{name} must be greater than 0"))),
        ms => Ok(Duration::from_millis(ms)),
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
        other => {
            Err(ConfigError(format!("CHATKIT_JWT_ALGORITHMS: unsupported algorithm {other:?}")))
        }
    }
}

/// Local mode: not on Lambda (the plain HTTP server), or local development
/// (`CHATKIT_DEV_AUTH=1`, as `make dev` sets under `cargo lambda watch`). Only then may
/// outbound URLs be plain `http://`, and only to a loopback host.
pub fn is_local(get: &dyn Lookup) -> bool {
    var(get, "AWS_LAMBDA_RUNTIME_API").is_none() || dev_auth(get)
}

fn dev_auth(get: &dyn Lookup) -> bool {
    matches!(var(get, "CHATKIT_DEV_AUTH").as_deref(), Some("1" | "true"))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks an outbound URL: `https://`, or `http://` to a loopback host in local mode.
pub fn check_outbound_url(name: &str, value: &str, local: bool) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(value)
        .map_err(|e| ConfigError(format!("{name}={value:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if local && is_loopback(&url) => Ok(()),
        "http" if local => Err(ConfigError(format!(
            "{name}={value:?}: plain http:// is accepted only for a loopback host (localhost, 127.0.0.1, ::1); use https://"
        ))),
        _ => Err(ConfigError(format!(
            "{name}={value:?}: outbound URLs must use https:// (plain http:// only to a loopback host when running locally)"
        ))),
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, ConfigError> {
        let hs_secret = match (var(get, "CHATKIT_JWT_SECRET_ARN"), var(get, "CHATKIT_JWT_SECRET")) {
            (Some(arn), _) => Some(SecretSetting::Arn(arn)),
            (None, Some(secret)) => Some(SecretSetting::Value(secret)),
            (None, None) => None,
        };
        if let Some(SecretSetting::Value(secret)) = &hs_secret {
            if secret.len() < MIN_HMAC_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "CHATKIT_JWT_SECRET is {} bytes long; HS256 needs at least {MIN_HMAC_SECRET_BYTES} random bytes \
                     (e.g. `openssl rand -hex 32`)",
                    secret.len()
                )));
            }
        }
        let jwks_url = var(get, "CHATKIT_JWKS_URL");
        let local = is_local(get);
        if let Some(url) = &jwks_url {
            check_outbound_url("CHATKIT_JWKS_URL", url, local)?;
        }
        let algorithms = match var(get, "CHATKIT_JWT_ALGORITHMS") {
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
        let dev_auth = dev_auth(get);
        if !dev_auth && algorithms.is_empty() {
            return Err(ConfigError(
                "no authentication configured: set CHATKIT_JWT_SECRET_ARN (or CHATKIT_JWT_SECRET) for HS256, \
                 CHATKIT_JWKS_URL for RS256/ES256, or CHATKIT_DEV_AUTH=1 for local development"
                    .into(),
            ));
        }
        let issuer = var(get, "CHATKIT_JWT_ISSUER");
        let audience = var(get, "CHATKIT_JWT_AUDIENCE");
        if jwks_url.is_some() {
            let missing: Vec<&str> =
                [("CHATKIT_JWT_ISSUER", &issuer), ("CHATKIT_JWT_AUDIENCE", &audience)]
                    .into_iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(name, _)| name)
                    .collect();
            if !missing.is_empty() {
                return Err(ConfigError(format!(
                    "CHATKIT_JWKS_URL is set, so {} must be set too: an identity provider's keys sign tokens for \
                     every application of every tenant, and only `iss` and `aud` tell this function's tokens apart",
                    missing.join(" and ")
                )));
            }
        }
        Ok(Self {
            hs_secret,
            jwks_url,
            algorithms,
            issuer,
            audience,
            cookie_name: var(get, "CHATKIT_AUTH_COOKIE"),
            dev_auth,
            refresh: Duration::from_secs(parse(get, "CHATKIT_SECRET_REFRESH_SECONDS", 300)?),
            jwks_timeout: millis(get, "CHATKIT_JWKS_TIMEOUT_MS", 3000)?,
            previous_grace: Duration::from_secs(parse(
                get,
                "CHATKIT_JWT_PREVIOUS_GRACE_SECONDS",
                86_400,
            )?),
            tenant_claim: var(get, "CHATKIT_TENANT_CLAIM"),
        })
    }
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, ConfigError> {
        let origins = |name: &str| -> Vec<String> {
            var(get, name)
                .map(|v| {
                    v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect()
                })
                .unwrap_or_default()
        };
        let allowed_origins = origins("CHATKIT_ALLOWED_ORIGINS");
        let cookie_origins = match var(get, "CHATKIT_COOKIE_ORIGINS") {
            Some(_) => origins("CHATKIT_COOKIE_ORIGINS"),
            None => allowed_origins.iter().filter(|o| *o != "*").cloned().collect(),
        };
        let user_hash_key = var(get, "CHATKIT_USER_HASH_KEY");
        if user_hash_key.as_ref().is_some_and(|k| k.len() < MIN_USER_HASH_KEY_BYTES) {
            return Err(ConfigError(format!(
                "CHATKIT_USER_HASH_KEY must be at least {MIN_USER_HASH_KEY_BYTES} bytes"
            )));
        }
        let defaults = AwsTimeouts::default();
        Ok(Self {
            auth: AuthConfig::from_lookup(get)?,
            allowed_origins,
            cookie_origins,
            max_body_bytes: parse(get, "CHATKIT_MAX_BODY_BYTES", 4 * 1024 * 1024)?,
            aws_timeouts: AwsTimeouts {
                connect: defaults.connect,
                attempt: millis(
                    get,
                    "CHATKIT_AWS_ATTEMPT_TIMEOUT_MS",
                    defaults.attempt.as_millis() as u64,
                )?,
                operation: millis(
                    get,
                    "CHATKIT_AWS_TIMEOUT_MS",
                    defaults.operation.as_millis() as u64,
                )?,
            },
            connect_timeout: millis(get, "CHATKIT_CONNECT_TIMEOUT_MS", 5000)?,
            read_timeout: millis(get, "CHATKIT_IDLE_TIMEOUT_MS", 30_000)?,
            user_hash_key,
            usage_limits: UsageLimits {
                turns_per_minute: parse(
                    get,
                    "CHATKIT_TURNS_PER_MINUTE",
                    DEFAULT_USAGE_LIMITS.turns_per_minute,
                )?,
                tokens_per_day: parse(
                    get,
                    "CHATKIT_TOKENS_PER_DAY",
                    DEFAULT_USAGE_LIMITS.tokens_per_day,
                )?,
            },
            warm_up: match var(get, "CHATKIT_WARMUP").as_deref() {
                Some("0" | "false" | "off") => None,
                _ => Some(millis(get, "CHATKIT_WARMUP_TIMEOUT_MS", 5000)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const LAMBDA: (&str, &str) = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
    const SECRET: (&str, &str) = ("CHATKIT_JWT_SECRET", "0123456789abcdef0123456789abcdef");

    fn error(pairs: &[(&str, &str)]) -> String {
        GatewayConfig::from_lookup(&lookup(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn a_jwks_needs_issuer_and_audience() {
        let jwks = ("CHATKIT_JWKS_URL", "https://idp.example/.well-known/jwks.json");
        let err = error(&[LAMBDA, jwks]);
        assert!(err.contains("CHATKIT_JWT_ISSUER and CHATKIT_JWT_AUDIENCE"), "{err}");
        let err = error(&[LAMBDA, jwks, ("CHATKIT_JWT_ISSUER", "https://idp.example/")]);
        assert!(
            err.contains("CHATKIT_JWT_AUDIENCE") && !err.contains("CHATKIT_JWT_ISSUER and"),
            "{err}"
        );
        let ok = GatewayConfig::from_lookup(&lookup(&[
            LAMBDA,
            jwks,
            ("CHATKIT_JWT_ISSUER", "https://idp.example/"),
            ("CHATKIT_JWT_AUDIENCE", "app"),
        ]));
        assert_eq!(ok.unwrap().auth.algorithms, vec![Algorithm::RS256]);
        // a secret alone needs neither
        assert!(GatewayConfig::from_lookup(&lookup(&[LAMBDA, SECRET])).is_ok());
    }

    #[test]
    fn outbound_urls_are_https_except_loopback_locally() {
        let iss = ("CHATKIT_JWT_ISSUER", "i");
        let aud = ("CHATKIT_JWT_AUDIENCE", "a");
        let err = error(&[LAMBDA, iss, aud, ("CHATKIT_JWKS_URL", "http://idp.example/jwks.json")]);
        assert!(err.contains("CHATKIT_JWKS_URL") && err.contains("https://"), "{err}");
        let err =
            error(&[LAMBDA, iss, aud, ("CHATKIT_JWKS_URL", "http://127.0.0.1:8080/jwks.json")]);
        assert!(err.contains("https://"), "loopback http is refused on Lambda: {err}");
        // local (no Lambda runtime API): loopback only
        let local = GatewayConfig::from_lookup(&lookup(&[
            iss,
            aud,
            ("CHATKIT_JWKS_URL", "http://127.0.0.1:8080/jwks.json"),
        ]));
        assert!(local.is_ok());
        assert!(GatewayConfig::from_lookup(&lookup(&[
            iss,
            aud,
            ("CHATKIT_JWKS_URL", "http://localhost/jwks.json")
        ]))
        .is_ok());
        assert!(GatewayConfig::from_lookup(&lookup(&[
            iss,
            aud,
            ("CHATKIT_JWKS_URL", "http://[::1]:1/jwks.json")
        ]))
        .is_ok());
        let err = error(&[iss, aud, ("CHATKIT_JWKS_URL", "http://10.0.0.5/jwks.json")]);
        assert!(err.contains("loopback"), "{err}");
        // `make dev` (cargo lambda watch sets the runtime API) counts as local
        let dev = GatewayConfig::from_lookup(&lookup(&[
            LAMBDA,
            ("CHATKIT_DEV_AUTH", "1"),
            iss,
            aud,
            ("CHATKIT_JWKS_URL", "http://localhost:1/j"),
        ]));
        assert!(dev.is_ok());
        assert!(
            error(&[iss, aud, ("CHATKIT_JWKS_URL", "ftp://idp.example/j")]).contains("https://")
        );
        assert!(error(&[iss, aud, ("CHATKIT_JWKS_URL", "idp.example/j")]).contains("not a URL"));
    }

    #[test]
    fn short_hmac_secrets_and_hash_keys_are_refused() {
        let err = error(&[LAMBDA, ("CHATKIT_JWT_SECRET", "too-short-secret")]);
        assert!(
            err.contains("CHATKIT_JWT_SECRET is 16 bytes") && err.contains("at least 32"),
            "{err}"
        );
        assert!(GatewayConfig::from_lookup(&lookup(&[LAMBDA, SECRET])).is_ok());
        let err = error(&[LAMBDA, SECRET, ("CHATKIT_USER_HASH_KEY", "short")]);
        assert!(err.contains("CHATKIT_USER_HASH_KEY"), "{err}");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let key = "a-user-hash-key-of-some-length";
        let config =
            GatewayConfig::from_lookup(&lookup(&[LAMBDA, SECRET, ("CHATKIT_USER_HASH_KEY", key)]))
                .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains(SECRET.1) && !printed.contains(key), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
