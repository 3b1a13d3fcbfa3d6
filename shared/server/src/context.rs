//! What a request knows about its caller.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use chatkit_store::UserId;
use serde_json::{Map, Value};

/// The authenticated caller and the request's own data, handed to handlers and responders.
#[derive(Clone)]
pub struct RequestContext {
    /// Whose data this request touches: from the verified token, never from the body.
    pub user: UserId,
    /// Correlates logs, error bodies and error events.
    pub request_id: String,
    /// The request's `metadata` object (`userInfo`, `pageContext`, …): untrusted frontend data.
    pub metadata: Map<String, Value>,
    /// The caller's bearer token, for tools that call APIs on the user's behalf. Never logged
    /// (Debug redacts it) and never to be put into a model prompt.
    pub access_token: Option<Arc<str>>,
    /// The request's `Idempotency-Key` header: a retried `threads.create` /
    /// `threads.add_user_message` with the same key within 24 hours stores nothing twice.
    pub idempotency_key: Option<String>,
    /// Model tokens this request's turn used, as the responder reports them
    /// ([`TokenMeter::add`]); counted against the user's daily limit when the turn ends.
    pub tokens: TokenMeter,
    /// When the invocation is killed (Lambda's deadline), if known: a turn stops a margin
    /// before it, keeps what was written and ends with a retryable `error` event.
    pub deadline: Option<Instant>,
}

/// A running count of the model tokens a turn used, and what it reserved of the user's day
/// under the usage limits (shared by every clone of the context).
#[derive(Clone, Debug, Default)]
pub struct TokenMeter(Arc<MeterState>);

#[derive(Default)]
struct MeterState {
    used: AtomicU64,
    reserved: AtomicU64,
    /// Set when a usage limit admitted the turn: reserves more of the day, and when.
    reserver: OnceLock<(Arc<dyn TokenReserver>, SystemTime)>,
    /// What to do once when the turn ends (free its in-flight slot).
    on_end: std::sync::Mutex<Option<OnEnd>>,
}

/// Work for the end of a turn.
pub(crate) type OnEnd = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

impl fmt::Debug for MeterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMeter")
            .field("used", &self.used)
            .field("reserved", &self.reserved)
            .finish()
    }
}

/// Reserves more of a user's daily token allowance (the usage limits' counters).
#[async_trait::async_trait]
pub trait TokenReserver: Send + Sync {
    /// Whether `tokens` more could be reserved.
    async fn reserve(&self, tokens: u64) -> bool;
}

impl TokenMeter {
    /// Counts `tokens` more (input and output, as reported by the provider; an estimate
    /// before the report comes, see [`TokenMeter::settle`]).
    pub fn add(&self, tokens: u64) {
        self.0.used.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Replaces an earlier estimate by the reported count.
    pub fn settle(&self, estimate: u64, reported: u64) {
        let _ = self.0.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(estimate).saturating_add(reported))
        });
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Takes the count (leaving zero): what is still to be recorded.
    pub fn take(&self) -> u64 {
        self.0.used.swap(0, Ordering::Relaxed)
    }

    /// Whether the turn may use `tokens` more (a model round's worst case, before it is
    /// sent): within what it reserved, or once the rest is reserved; always when no usage
    /// limit counts tokens. A turn that gets `false` stops: the user's day is spent.
    pub async fn ensure(&self, tokens: u64) -> bool {
        let Some((reserver, _)) = self.0.reserver.get() else { return true };
        let reserved = self.0.reserved.load(Ordering::Relaxed);
        let needed = self.get().saturating_add(tokens).saturating_sub(reserved);
        if needed == 0 {
            return true;
        }
        let granted = reserver.reserve(needed).await;
        if granted {
            self.0.reserved.fetch_add(needed, Ordering::Relaxed);
        }
        granted
    }

    /// Records the reservation made when the turn was admitted.
    pub(crate) fn start_reservation(
        &self,
        reserved: u64,
        reserver: Arc<dyn TokenReserver>,
        at: SystemTime,
    ) {
        self.0.reserved.store(reserved, Ordering::Relaxed);
        let _ = self.0.reserver.set((reserver, at));
    }

    /// Runs `work` once when the turn ends (settled, or dropped).
    pub(crate) fn on_end(&self, work: OnEnd) {
        *self.0.on_end.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(work);
    }

    /// Takes the end-of-turn work, if any is left.
    pub(crate) fn take_on_end(&self) -> Option<OnEnd> {
        self.0.on_end.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Takes what was reserved (leaving zero), and when: what settling gives back.
    pub(crate) fn take_reserved(&self) -> (u64, Option<SystemTime>) {
        let at = self.0.reserver.get().map(|(_, at)| *at);
        (self.0.reserved.swap(0, Ordering::Relaxed), at)
    }
}

impl RequestContext {
    pub fn new(user: UserId, request_id: impl Into<String>) -> Self {
        Self {
            user,
            request_id: request_id.into(),
            metadata: Map::new(),
            access_token: None,
            idempotency_key: None,
            tokens: TokenMeter::default(),
            deadline: None,
        }
    }

    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_access_token(mut self, token: impl Into<Arc<str>>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// `metadata.userInfo`, if the frontend sent an object there.
    pub fn user_info(&self) -> Option<&Map<String, Value>> {
        self.metadata.get("userInfo").and_then(Value::as_object)
    }

    /// `metadata.pageContext`, if the frontend sent an object there.
    pub fn page_context(&self) -> Option<&Map<String, Value>> {
        self.metadata.get("pageContext").and_then(Value::as_object)
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("user", &self.user)
            .field("request_id", &self.request_id)
            .field("metadata", &self.metadata)
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .field("idempotency_key", &self.idempotency_key)
            .field("deadline", &self.deadline)
            .finish()
    }
}
