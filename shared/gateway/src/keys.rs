//! Verification keys: the HS256 secret (env or Secrets Manager, cached with a refresh period)
//! and an issuer's JWKS (cached by `kid`, one rate-limited refetch on an unknown `kid`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use crate::aws::AwsClients;

/// A key could not be obtained (the token is not at fault: answered 503, not 401).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// Where a shared secret comes from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret(&self) -> Result<Arc<str>, KeyError>;
}

/// A secret given directly (local use).
pub struct StaticSecret(pub Arc<str>);

#[async_trait]
impl SecretSource for StaticSecret {
    async fn secret(&self) -> Result<Arc<str>, KeyError> {
        Ok(self.0.clone())
    }
}

/// A Secrets Manager secret, fetched on first use and refreshed after `refresh`.
pub struct ManagedSecret {
    aws: Arc<AwsClients>,
    arn: String,
    refresh: Duration,
    cached: Mutex<Option<(Arc<str>, Instant)>>,
}

impl ManagedSecret {
    pub fn new(aws: Arc<AwsClients>, arn: impl Into<String>, refresh: Duration) -> Self {
        Self { aws, arn: arn.into(), refresh, cached: Mutex::new(None) }
    }
}

#[async_trait]
impl SecretSource for ManagedSecret {
    async fn secret(&self) -> Result<Arc<str>, KeyError> {
        let mut cached = self.cached.lock().await;
        if let Some((value, at)) = cached.as_ref() {
            if at.elapsed() < self.refresh {
                return Ok(value.clone());
            }
        }
        let client = self.aws.secrets_manager().await;
        let fetched = client.get_secret_value().secret_id(&self.arn).send().await;
        match fetched {
            Ok(out) => {
                let value: Arc<str> = out
                    .secret_string()
                    .ok_or_else(|| KeyError(format!("secret {} has no string value", self.arn)))?
                    .trim()
                    .into();
                *cached = Some((value.clone(), Instant::now()));
                Ok(value)
            }
            // keep serving a stale value rather than failing every request during an outage
            Err(err) => match cached.as_ref() {
                Some((value, _)) => {
                    tracing::warn!(secret = %self.arn, error = %err, "secret refresh failed; using the cached value");
                    Ok(value.clone())
                }
                None => Err(KeyError(format!("could not read secret {}: {err}", self.arn))),
            },
        }
    }
}

/// An issuer's JSON Web Key Set.
pub struct Jwks {
    http: reqwest::Client,
    url: String,
    refresh: Duration,
    refetch_interval: Duration,
    state: Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

/// By default, at most one refetch for unknown `kid`s per this period.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

impl Jwks {
    pub fn new(http: reqwest::Client, url: impl Into<String>, refresh: Duration) -> Self {
        Self { http, url: url.into(), refresh, refetch_interval: REFETCH_INTERVAL, state: Mutex::new(JwksState::default()) }
    }

    /// Changes how often an unknown `kid` may trigger a refetch.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, KeyError> {
        let response = self.http.get(&self.url).send().await.map_err(|e| KeyError(format!("JWKS fetch failed: {e}")))?;
        if !response.status().is_success() {
            return Err(KeyError(format!("JWKS fetch failed: HTTP {}", response.status())));
        }
        let set: JwkSet = response.json().await.map_err(|e| KeyError(format!("JWKS is not valid: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(DecodingKey::from_jwk(jwk).ok()?))))
            .collect())
    }

    /// The key for `kid`; `Ok(None)` when the issuer does not have it.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, KeyError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= self.refresh);
        let unknown_may_refetch =
            !state.keys.contains_key(kid) && state.fetched_at.is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if stale || unknown_may_refetch {
            match self.fetch().await {
                Ok(keys) => {
                    state.keys = keys;
                    state.fetched_at = Some(Instant::now());
                }
                Err(err) if state.keys.is_empty() => return Err(err),
                Err(err) => tracing::warn!(error = %err, "JWKS refresh failed; using cached keys"),
            }
        }
        Ok(state.keys.get(kid).cloned())
    }
}
