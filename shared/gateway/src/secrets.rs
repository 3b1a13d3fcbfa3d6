//! Shared secrets that verify tokens (HS256): where they come from, and the rules every
//! cache of a remote key follows.
//!
//! A cache of a remote value (a Secrets Manager secret, an issuer's JWKS) never fetches under
//! the lock its readers take (a reader with a cached key never waits for the network); makes
//! one fetch at a time (single-flight: callers that need the same fetch wait for it and share
//! its result); bounds every fetch with a total timeout; backs off after a failure
//! ([`FETCH_BACKOFF`]) whatever the callers ask for; and keeps serving a stale value while a
//! refresh fails.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chatkit_retry::{Attempts, Backoff};

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

/// Backoff after failed fetches of a secret or key set: 1 s, doubling, at most 60 s, jittered.
pub const FETCH_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// By default, at most one refetch per this period for an unknown `kid` (or, for a secret,
/// after a token that verified with no cached value).
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// By default, how long a `kid` the issuer did not have is answered "unknown" without a fetch.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);

/// The error of a fetch that is backing off, with the last failure's reason.
pub fn unavailable(attempts: &Attempts, what: &str) -> KeyError {
    let reason = attempts.last_error.as_deref().unwrap_or("no attempt yet");
    KeyError(format!("{what} is unavailable (retrying after a backoff): {reason}"))
}

/// Locks a cache's state, whatever a panicking holder left.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
