//! The function's HTTP-side settings, read once from the environment and checked before
//! anything starts: a setting that would weaken verification (a JWKS without `iss`/`aud`, a
//! short HS256 secret, a plain-http key URL) stops the function with a message naming it.

use std::time::Duration;

use chatkit_settings::catalog::{
    ALLOWED_ORIGINS, AUTH_COOKIE, CONNECT_TIMEOUT_MS, COOKIE_ORIGINS, DEV_AUTH, IDLE_TIMEOUT_MS,
    JWKS_TIMEOUT_MS, JWKS_URL, JWT_ALGORITHMS, JWT_AUDIENCE, JWT_ISSUER,
    JWT_PREVIOUS_GRACE_SECONDS, JWT_SECRET, JWT_SECRET_ARN, MAX_BODY_BYTES, SECRET_REFRESH_SECONDS,
    TENANT_CLAIM, USER_HASH_KEY, WARMUP, WARMUP_TIMEOUT_MS,
};
use chatkit_settings::{Lookup, SettingError};
use jsonwebtoken::Algorithm;

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
    /// `CHATKIT_CONNECT_TIMEOUT_MS` (5000): connect limit of the shared HTTP client.
    pub connect_timeout: Duration,
    /// `CHATKIT_IDLE_TIMEOUT_MS` (30000): longest wait for any read on the shared HTTP client.
    pub read_timeout: Duration,
    /// `CHATKIT_USER_HASH_KEY`: the HMAC key of the user hash in logs. Unset: a random key
    /// per container (hashes then differ between containers).
    pub user_hash_key: Option<String>,
    /// `CHATKIT_WARMUP` (on; `0` turns it off) and `CHATKIT_WARMUP_TIMEOUT_MS` (5000): warm
    /// up as the process starts (alongside serving), bounded by this.
    pub warm_up: Option<Duration>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("auth", &self.auth)
            .field("allowed_origins", &self.allowed_origins)
            .field("cookie_origins", &self.cookie_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("user_hash_key", &self.user_hash_key.as_ref().map(|_| "<redacted>"))
            .field("warm_up", &self.warm_up)
            .finish()
    }
}

fn algorithm(name: &str) -> Result<Algorithm, SettingError> {
    match name.trim() {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        other => Err(JWT_ALGORITHMS.error(format!("unsupported algorithm {other:?}"))),
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        let hs_secret = match (JWT_SECRET_ARN.raw(get), JWT_SECRET.raw(get)) {
            (Some(arn), _) => Some(SecretSetting::Arn(arn)),
            (None, Some(secret)) => Some(SecretSetting::Value(secret)),
            (None, None) => None,
        };
        if let Some(SecretSetting::Value(secret)) = &hs_secret {
            if secret.len() < MIN_HMAC_SECRET_BYTES {
                return Err(JWT_SECRET.error(format!(
                    "CHATKIT_JWT_SECRET is {} bytes long; HS256 needs at least {MIN_HMAC_SECRET_BYTES} random bytes \
                     (e.g. `openssl rand -hex 32`)",
                    secret.len()
                )));
            }
        }
        let jwks_url = JWKS_URL.url(get)?;
        let algorithms = if JWT_ALGORITHMS.is_set(get) {
            JWT_ALGORITHMS.list(get).iter().map(|a| algorithm(a)).collect::<Result<Vec<_>, _>>()?
        } else {
            let mut algs = Vec::new();
            if hs_secret.is_some() {
                algs.push(Algorithm::HS256);
            }
            if jwks_url.is_some() {
                algs.push(Algorithm::RS256);
            }
            algs
        };
        let dev_auth = DEV_AUTH.flag(get)?;
        if dev_auth && chatkit_settings::is_deployed_lambda(get) {
            return Err(DEV_AUTH.error(
                "is on in a deployed Lambda function, where it would trust any caller's X-User-ID header: \
                 it is for local development only (make dev); remove it",
            ));
        }
        if !dev_auth && algorithms.is_empty() {
            return Err(JWT_SECRET_ARN.error(
                "no authentication configured: set CHATKIT_JWT_SECRET_ARN (or CHATKIT_JWT_SECRET) for HS256, \
                 CHATKIT_JWKS_URL for RS256/ES256, or CHATKIT_DEV_AUTH=1 for local development",
            ));
        }
        let issuer = JWT_ISSUER.text(get);
        let audience = JWT_AUDIENCE.text(get);
        if jwks_url.is_some() {
            let missing: Vec<&str> = [(JWT_ISSUER.name, &issuer), (JWT_AUDIENCE.name, &audience)]
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(name, _)| name)
                .collect();
            if !missing.is_empty() {
                return Err(JWKS_URL.error(format!(
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
            cookie_name: AUTH_COOKIE.text(get),
            dev_auth,
            refresh: SECRET_REFRESH_SECONDS.seconds(get)?,
            jwks_timeout: JWKS_TIMEOUT_MS.millis(get)?,
            previous_grace: JWT_PREVIOUS_GRACE_SECONDS.seconds(get)?,
            tenant_claim: TENANT_CLAIM.text(get),
        })
    }
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        let allowed_origins = ALLOWED_ORIGINS.list(get);
        let cookie_origins = if COOKIE_ORIGINS.is_set(get) {
            COOKIE_ORIGINS.list(get)
        } else {
            allowed_origins.iter().filter(|o| *o != "*").cloned().collect()
        };
        let user_hash_key = USER_HASH_KEY.raw(get);
        if user_hash_key.as_ref().is_some_and(|k| k.len() < MIN_USER_HASH_KEY_BYTES) {
            return Err(
                USER_HASH_KEY.error(format!("must be at least {MIN_USER_HASH_KEY_BYTES} bytes"))
            );
        }
        Ok(Self {
            auth: AuthConfig::from_lookup(get)?,
            allowed_origins,
            cookie_origins,
            max_body_bytes: MAX_BODY_BYTES.number(get)?,
            connect_timeout: CONNECT_TIMEOUT_MS.millis(get)?,
            read_timeout: IDLE_TIMEOUT_MS.millis(get)?,
            user_hash_key,
            warm_up: if WARMUP.flag(get)? { Some(WARMUP_TIMEOUT_MS.millis(get)?) } else { None },
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
    fn dev_auth_stops_a_deployed_function() {
        let dev = ("CHATKIT_DEV_AUTH", "1");
        let deployed = ("LAMBDA_TASK_ROOT", "/var/task");
        let err = error(&[LAMBDA, deployed, dev, SECRET]);
        assert!(err.contains("CHATKIT_DEV_AUTH") && err.contains("deployed"), "{err}");
        // `make dev` runs under cargo lambda watch, which sets no LAMBDA_TASK_ROOT
        assert!(GatewayConfig::from_lookup(&lookup(&[LAMBDA, dev])).is_ok());
        assert!(GatewayConfig::from_lookup(&lookup(&[LAMBDA, deployed, SECRET])).is_ok());
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
