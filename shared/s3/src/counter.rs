//! An SDK interceptor counting every request S3 answered (retries included). Presigning runs
//! the pipeline up to transmission and sends nothing, so it is not counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

#[derive(Debug)]
pub(crate) struct RequestCounter(pub(crate) Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "ChatKitS3RequestCounter"
    }

    fn read_before_deserialization(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        chatkit_store::meter::record_blob_request();
        Ok(())
    }
}
