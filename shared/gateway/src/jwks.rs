//! An issuer's JSON Web Key Set (RS256/ES256 tokens): fetched on first use, cached by `kid`,
//! refreshed, with unknown `kid`s remembered; the cache rules are in [`crate::secrets`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatkit_retry::{Attempts, Backoff};
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use tracing::{info, warn};

use crate::secrets::{lock, unavailable, KeyError, FETCH_BACKOFF, NEGATIVE_TTL, REFETCH_INTERVAL};

/// Most `kid`s remembered as unknown.
const NEGATIVE_CACHE_MAX: usize = 1024;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 512 * 1024;

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
                attempts: Attempts::new(FETCH_BACKOFF),
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
        lock(&self.state).attempts.set_backoff(Backoff::new(first, FETCH_BACKOFF.max));
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
                Plan::Answer(Err(unavailable(&state.attempts, "the issuer's JWKS")))
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
        state.attempts.record(now, fetched.as_ref().map(drop).map_err(|e| e.0.as_str()));
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
