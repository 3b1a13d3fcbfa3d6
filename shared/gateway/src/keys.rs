//! Verification keys: shared secrets (env or Secrets Manager, with the previous version during
//! a rotation) and an issuer's JWKS (cached by `kid`).
//!
//! Both caches follow the same rules: a fetch never runs under the lock that readers take (a
//! reader with a cached key never waits for the network); one fetch at a time (single-flight:
//! callers that need the same fetch wait for it and share its result); every fetch has a total
//! timeout; after a failure, fetches back off (1 s, doubling, at most 60 s) whatever the
//! callers ask for; a stale value keeps being served while a refresh fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use tracing::{error, info, warn};

use crate::aws::AwsClients;

/// A key could not be obtained (the token is not at fault: answered 503, not 401).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The usable values of a shared secret: the current one and, during a rotation, the previous.
#[derive(Clone)]
pub struct SecretVersions {
    pub current: Arc<str>,
    pub previous: Option<Arc<str>>,
}

impl std::fmt::Debug for SecretVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersions")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a shared secret comes from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current value, and the previous one while it is still accepted.
    async fn versions(&self) -> Result<SecretVersions, KeyError>;

    /// The current value.
    async fn secret(&self) -> Result<Arc<str>, KeyError> {
        Ok(self.versions().await?.current)
    }

    /// Called when a token verified with none of the cached values: re-reads the secret now
    /// if the rate limit allows (the issuer may already sign with a newer version). Returns
    /// whether the values changed.
    async fn refresh_after_failure(&self) -> bool {
        false
    }
}

/// A secret given directly (local use).
pub struct StaticSecret(pub Arc<str>);

#[async_trait]
impl SecretSource for StaticSecret {
    async fn versions(&self) -> Result<SecretVersions, KeyError> {
        Ok(SecretVersions { current: self.0.clone(), previous: None })
    }
}

/// Backoff after failed fetches: 1 s, doubling, at most [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// By default, at most one refetch per this period for an unknown `kid` (or, for a secret,
/// after a token that verified with no cached value).
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// By default, how long a `kid` the issuer did not have is answered "unknown" without a fetch.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Most `kid`s remembered as unknown.
const NEGATIVE_CACHE_MAX: usize = 1024;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 512 * 1024;

/// When fetches are allowed: the last attempt, and consecutive failures with their last error.
#[derive(Debug, Default)]
struct Attempts {
    last: Option<Instant>,
    failures: u32,
    last_error: Option<String>,
    first_backoff: Duration,
}

impl Attempts {
    fn new(first_backoff: Duration) -> Self {
        Self { first_backoff, ..Self::default() }
    }

    /// Whether a failure backoff is running at `now`.
    fn backing_off(&self, now: Instant) -> bool {
        if self.failures == 0 {
            return false;
        }
        let exponent = (self.failures - 1).min(16);
        let wait = self
            .first_backoff
            .saturating_mul(1 << exponent)
            .min(MAX_BACKOFF.max(self.first_backoff));
        self.last.is_some_and(|at| now.saturating_duration_since(at) < wait)
    }

    /// Whether at least `interval` passed since the last attempt.
    fn quiet_for(&self, interval: Duration, now: Instant) -> bool {
        self.last.is_none_or(|at| now.saturating_duration_since(at) >= interval)
    }

    fn record(&mut self, now: Instant, outcome: Result<(), &KeyError>) {
        self.last = Some(now);
        match outcome {
            Ok(()) => {
                self.failures = 0;
                self.last_error = None;
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(err.0.clone());
            }
        }
    }

    fn unavailable(&self, what: &str) -> KeyError {
        let reason = self.last_error.as_deref().unwrap_or("no attempt yet");
        KeyError(format!("{what} is unavailable (retrying after a backoff): {reason}"))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Secrets Manager secret, fetched on first use, refreshed after `refresh`, with the
/// `AWSPREVIOUS` version accepted for a grace period after a rotation.
pub struct ManagedSecret {
    aws: Arc<AwsClients>,
    arn: String,
    refresh: Duration,
    refetch_interval: Duration,
    /// `Some`: also read `AWSPREVIOUS`, accepted while the current version is younger than this.
    previous_grace: Option<Duration>,
    /// Shorter values are refused (the JWT secret: 32 bytes).
    min_len: usize,
    state: Mutex<SecretState>,
    /// Held by the one caller that fetches.
    gate: tokio::sync::Mutex<()>,
}

struct SecretState {
    current: Option<Arc<str>>,
    /// The previous value and until when it is accepted.
    previous: Option<(Arc<str>, SystemTime)>,
    fetched_at: Option<Instant>,
    attempts: Attempts,
}

impl SecretState {
    fn versions(&self) -> Option<SecretVersions> {
        let current = self.current.clone()?;
        let now = SystemTime::now();
        let previous =
            self.previous.as_ref().filter(|(_, until)| now < *until).map(|(v, _)| v.clone());
        Some(SecretVersions { current, previous })
    }
}

/// A fetched secret: the current value, when it was created, and the previous value.
struct Fetched {
    current: Arc<str>,
    created: Option<SystemTime>,
    previous: Option<Arc<str>>,
}

impl ManagedSecret {
    pub fn new(aws: Arc<AwsClients>, arn: impl Into<String>, refresh: Duration) -> Self {
        Self {
            aws,
            arn: arn.into(),
            refresh,
            refetch_interval: REFETCH_INTERVAL,
            previous_grace: None,
            min_len: 0,
            state: Mutex::new(SecretState {
                current: None,
                previous: None,
                fetched_at: None,
                attempts: Attempts::new(FIRST_BACKOFF),
            }),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Also accepts the `AWSPREVIOUS` version until the current one is `grace` old.
    pub fn with_previous(mut self, grace: Duration) -> Self {
        self.previous_grace = Some(grace).filter(|g| !g.is_zero());
        self
    }

    /// Refuses values shorter than `bytes`.
    pub fn with_min_len(mut self, bytes: usize) -> Self {
        self.min_len = bytes;
        self
    }

    /// Changes how often a verification failure may trigger a re-read.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Changes the first failure backoff (doubling up to 60 s).
    pub fn with_failure_backoff(self, first: Duration) -> Self {
        lock(&self.state).attempts.first_backoff = first;
        self
    }

    /// The secret's ARN or name.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    async fn get(
        &self,
        stage: &'static str,
    ) -> Result<Option<(Arc<str>, Option<SystemTime>)>, KeyError> {
        let client = self.aws.secrets_manager().await;
        match client.get_secret_value().secret_id(&self.arn).version_stage(stage).send().await {
            Ok(out) => {
                let value: Arc<str> = out
                    .secret_string()
                    .ok_or_else(|| {
                        KeyError(format!("secret {} ({stage}) has no string value", self.arn))
                    })?
                    .trim()
                    .into();
                let created = out.created_date().and_then(|d| SystemTime::try_from(*d).ok());
                Ok(Some((value, created)))
            }
            Err(err)
                if stage == "AWSPREVIOUS"
                    && err
                        .as_service_error()
                        .is_some_and(aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError::is_resource_not_found_exception) =>
            {
                Ok(None)
            }
            Err(err) => {
                let detail = aws_sdk_secretsmanager::error::DisplayErrorContext(&err);
                Err(KeyError(format!("could not read secret {} ({stage}): {detail}", self.arn)))
            }
        }
    }

    async fn fetch(&self) -> Result<Fetched, KeyError> {
        let (current, previous) = match self.previous_grace {
            Some(_) => {
                let (current, previous) =
                    tokio::join!(self.get("AWSCURRENT"), self.get("AWSPREVIOUS"));
                (current?, previous.unwrap_or_else(|err| {
                    warn!(error = %err, "could not read the previous version of a secret; only the current one is accepted");
                    None
                }))
            }
            None => (self.get("AWSCURRENT").await?, None),
        };
        let (current, created) = current
            .ok_or_else(|| KeyError(format!("secret {} has no current version", self.arn)))?;
        if current.len() < self.min_len {
            let err = KeyError(format!(
                "secret {} is {} bytes long; at least {} are required. Put a longer random value in it",
                self.arn,
                current.len(),
                self.min_len
            ));
            error!(error = %err, "refusing a secret");
            return Err(err);
        }
        let previous =
            previous.map(|(v, _)| v).filter(|v| v.len() >= self.min_len && *v != current);
        Ok(Fetched { current, created, previous })
    }

    /// Fetches (the caller holds the gate) and stores the outcome.
    async fn fetch_and_store(&self) -> Result<(), KeyError> {
        let fetched = self.fetch().await;
        let mut state = lock(&self.state);
        let now = Instant::now();
        state.attempts.record(now, fetched.as_ref().map(drop));
        let fetched = fetched?;
        let until = match (self.previous_grace, fetched.created) {
            (Some(grace), Some(created)) => Some(created + grace),
            // no creation date: accept the previous version for one grace period from now
            (Some(grace), None) => Some(SystemTime::now() + grace),
            (None, _) => None,
        };
        state.previous = fetched.previous.zip(until);
        state.current = Some(fetched.current);
        state.fetched_at = Some(now);
        Ok(())
    }
}

#[async_trait]
impl SecretSource for ManagedSecret {
    async fn versions(&self) -> Result<SecretVersions, KeyError> {
        loop {
            let (stale, attempts_before) = {
                let state = lock(&self.state);
                let now = Instant::now();
                let fresh = state
                    .fetched_at
                    .is_some_and(|at| now.saturating_duration_since(at) < self.refresh);
                let stale = match state.versions() {
                    Some(values) if fresh || state.attempts.backing_off(now) => return Ok(values),
                    Some(values) => Some(values),
                    None if state.attempts.backing_off(now) => {
                        return Err(state.attempts.unavailable(&format!("secret {}", self.arn)))
                    }
                    None => None,
                };
                (stale, state.attempts.last)
            };
            match stale {
                // stale: one caller refreshes, the others keep using the cached values
                Some(values) => {
                    let Ok(_gate) = self.gate.try_lock() else { return Ok(values) };
                    if let Err(err) = self.fetch_and_store().await {
                        warn!(error = %err, "secret refresh failed; using the cached value");
                        return Ok(values);
                    }
                }
                // nothing cached: wait for the one fetch in flight, or make it
                None => {
                    let _gate = self.gate.lock().await;
                    if lock(&self.state).attempts.last != attempts_before {
                        continue; // another caller fetched while this one waited: use its outcome
                    }
                    self.fetch_and_store().await?;
                }
            }
        }
    }

    async fn refresh_after_failure(&self) -> bool {
        let allowed = |state: &SecretState| {
            let now = Instant::now();
            !state.attempts.backing_off(now) && state.attempts.quiet_for(self.refetch_interval, now)
        };
        let before = {
            let state = lock(&self.state);
            if !allowed(&state) {
                return false;
            }
            state.current.clone()
        };
        let _gate = self.gate.lock().await;
        if !allowed(&lock(&self.state)) {
            // another caller re-read it while this one waited
            return lock(&self.state).current != before;
        }
        match self.fetch_and_store().await {
            Ok(()) => {
                let changed = lock(&self.state).current != before;
                if changed {
                    info!(secret = %self.arn, "secret re-read after a verification failure: it had changed");
                }
                changed
            }
            Err(err) => {
                warn!(error = %err, "secret re-read failed");
                false
            }
        }
    }
}

/// An issuer's JSON Web Key Set.
pub struct Jwks {
    http: reqwest::Client,
    url: String,
    refresh: Duration,
    refetch_interval: Duration,
    negative_ttl: Duration,
    timeout: Duration,
    state: Mutex<JwksState>,
    /// Held by the one caller that fetches.
    gate: tokio::sync::Mutex<()>,
}

struct JwksState {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    /// `kid`s the issuer did not have at the last fetch, and when that was seen.
    unknown: HashMap<String, Instant>,
    attempts: Attempts,
}

/// By default, the total time a JWKS fetch may take.
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(3);

/// What a lookup does next.
enum Plan {
    Answer(Result<Option<Arc<DecodingKey>>, KeyError>),
    /// A cached key past its refresh period: refresh if no one else is, else use it.
    Refresh(Arc<DecodingKey>),
    /// Nothing usable cached: fetch (or wait for the fetch in flight).
    Fetch,
}

impl Jwks {
    pub fn new(http: reqwest::Client, url: impl Into<String>, refresh: Duration) -> Self {
        Self {
            http,
            url: url.into(),
            refresh,
            refetch_interval: REFETCH_INTERVAL,
            negative_ttl: NEGATIVE_TTL,
            timeout: JWKS_TIMEOUT,
            state: Mutex::new(JwksState {
                keys: HashMap::new(),
                fetched_at: None,
                unknown: HashMap::new(),
                attempts: Attempts::new(FIRST_BACKOFF),
            }),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Changes how often an unknown `kid` may trigger a refetch (attempts, failed or not).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Changes how long a `kid` the issuer did not have is refused without a fetch.
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Changes the total time limit of one fetch.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Changes the first failure backoff (doubling up to 60 s).
    pub fn with_failure_backoff(self, first: Duration) -> Self {
        lock(&self.state).attempts.first_backoff = first;
        self
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, KeyError> {
        let failed =
            |e: reqwest::Error| KeyError(format!("JWKS fetch failed: {}", e.without_url()));
        let mut response =
            self.http.get(&self.url).timeout(self.timeout).send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(KeyError(format!("JWKS fetch failed: HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(KeyError(format!(
                    "JWKS document is larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| KeyError(format!("JWKS is not valid: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .filter_map(|jwk| {
                Some((jwk.common.key_id.clone()?, Arc::new(DecodingKey::from_jwk(jwk).ok()?)))
            })
            .collect())
    }

    fn plan(&self, state: &JwksState, kid: &str, now: Instant) -> Plan {
        let backing_off = state.attempts.backing_off(now);
        let fresh =
            state.fetched_at.is_some_and(|at| now.saturating_duration_since(at) < self.refresh);
        if let Some(key) = state.keys.get(kid) {
            return if fresh || backing_off {
                Plan::Answer(Ok(Some(key.clone())))
            } else {
                Plan::Refresh(key.clone())
            };
        }
        if state.fetched_at.is_none() {
            // never fetched successfully: nothing to verify with until a fetch works
            return if backing_off {
                Plan::Answer(Err(state.attempts.unavailable("the issuer's JWKS")))
            } else {
                Plan::Fetch
            };
        }
        let known_unknown = state
            .unknown
            .get(kid)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.negative_ttl);
        if known_unknown
            || backing_off
            || (fresh && !state.attempts.quiet_for(self.refetch_interval, now))
        {
            return Plan::Answer(Ok(None));
        }
        Plan::Fetch
    }

    /// Fetches (the caller holds the gate) and stores the outcome; `kid` is remembered as
    /// unknown when the new set does not have it either.
    async fn fetch_and_store(&self, kid: Option<&str>) -> Result<(), KeyError> {
        let fetched = self.fetch().await;
        let mut state = lock(&self.state);
        let now = Instant::now();
        state.attempts.record(now, fetched.as_ref().map(drop));
        match fetched {
            Ok(keys) => {
                state.keys = keys;
                state.fetched_at = Some(now);
                let negative_ttl = self.negative_ttl;
                state.unknown.retain(|_, at| now.saturating_duration_since(*at) < negative_ttl);
                if let Some(kid) = kid.filter(|kid| !state.keys.contains_key(*kid)) {
                    if state.unknown.len() < NEGATIVE_CACHE_MAX {
                        state.unknown.insert(kid.to_string(), now);
                    }
                }
                info!(keys = state.keys.len(), "JWKS fetched");
                Ok(())
            }
            Err(err) => {
                warn!(error = %err, failures = state.attempts.failures, "JWKS fetch failed; backing off");
                Err(err)
            }
        }
    }

    /// Fetches the key set now unless it is cached and fresh (warm-up): the first request
    /// then finds its key, and the connection to the issuer open.
    pub async fn warm_up(&self) -> Result<(), KeyError> {
        let _gate = self.gate.lock().await;
        let fresh = lock(&self.state).fetched_at.is_some_and(|at| at.elapsed() < self.refresh);
        if fresh {
            return Ok(());
        }
        self.fetch_and_store(None).await
    }

    /// The key for `kid`; `Ok(None)` when the issuer does not have it; `Err` when no key
    /// could be obtained at all.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, KeyError> {
        let mut fetched = false;
        loop {
            let (plan, attempts_before) = {
                let state = lock(&self.state);
                (self.plan(&state, kid, Instant::now()), state.attempts.last)
            };
            match plan {
                Plan::Answer(answer) => return answer,
                Plan::Refresh(key) => {
                    let Ok(_gate) = self.gate.try_lock() else { return Ok(Some(key)) };
                    if fetched {
                        return Ok(Some(key));
                    }
                    let _ = self.fetch_and_store(Some(kid)).await;
                    fetched = true;
                }
                Plan::Fetch => {
                    if fetched {
                        // this caller's own fetch did not settle it (a race with a refresh): answer from the cache
                        return Ok(lock(&self.state).keys.get(kid).cloned());
                    }
                    let _gate = self.gate.lock().await;
                    if lock(&self.state).attempts.last != attempts_before {
                        continue; // another caller fetched while this one waited: use its result
                    }
                    let _ = self.fetch_and_store(Some(kid)).await;
                    fetched = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let mut a = Attempts::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(!a.backing_off(t0));
        let err = KeyError("down".into());
        a.record(t0, Err(&err));
        assert!(a.backing_off(t0 + Duration::from_millis(900)));
        assert!(!a.backing_off(t0 + Duration::from_secs(1)));
        for _ in 0..10 {
            a.record(t0, Err(&err));
        }
        assert!(a.backing_off(t0 + Duration::from_secs(59)));
        assert!(!a.backing_off(t0 + Duration::from_secs(60)));
        a.record(t0, Ok(()));
        assert!(!a.backing_off(t0));
        assert!(a.unavailable("x").0.contains("x is unavailable"));
    }
}
