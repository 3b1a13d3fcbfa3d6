//! An SDK interceptor counting every request attempt (retries included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// Adds one to the shared counter before each attempt is sent.
#[derive(Debug)]
pub(crate) struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub(crate) fn new(counter: Arc<AtomicU64>) -> Self {
        Self(counter)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "ChatKitRequestCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
