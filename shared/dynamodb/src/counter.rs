//! An SDK interceptor counting every request attempt (retries included) and adding up the
//! time each attempt took (request sent → response read), for the store as a whole and for
//! the request in scope ([`chatkit_store::meter`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use chatkit_store::meter;

/// Request attempts made, and the microseconds they took in all.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub(crate) count: AtomicU64,
    pub(crate) micros: AtomicU64,
}

/// Adds one to the shared counter before each attempt is sent, and its duration after.
#[derive(Debug)]
pub(crate) struct RequestCounter(Arc<Requests>);

impl RequestCounter {
    pub(crate) fn new(requests: Arc<Requests>) -> Self {
        Self(requests)
    }
}

/// When the current attempt started.
#[derive(Debug, Clone)]
struct AttemptStart(Instant);

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "ChatKitRequestCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.count.fetch_add(1, Ordering::Relaxed);
        meter::record_store_request();
        cfg.interceptor_state().store_put(AttemptStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(AttemptStart(started)) = cfg.load::<AttemptStart>() {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.0.micros.fetch_add(micros, Ordering::Relaxed);
            meter::record_store_micros(micros);
        }
        Ok(())
    }
}
