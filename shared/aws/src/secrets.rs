//! Secrets from AWS Secrets Manager, cached per container: the JWT secret (with the previous
//! version accepted for a grace period after a rotation), the model key, MCP service tokens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use chatkit_gateway::secrets::{
    lock, unavailable, KeyError, SecretSource, SecretVersions, FETCH_BACKOFF, REFETCH_INTERVAL,
};
use chatkit_retry::{Attempts, Backoff};
use tracing::{error, info, warn};

use crate::clients::AwsClients;

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
                attempts: Attempts::new(FETCH_BACKOFF),
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
        lock(&self.state).attempts.set_backoff(Backoff::new(first, FETCH_BACKOFF.max));
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
        state.attempts.record(now, fetched.as_ref().map(drop).map_err(|e| e.0.as_str()));
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
                        return Err(unavailable(&state.attempts, &format!("secret {}", self.arn)))
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
