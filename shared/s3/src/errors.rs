//! Reading an S3 SDK error: the HTTP status S3 answered with, its code and message, and the
//! store error it becomes.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chatkit_store::StoreError;

/// An error's HTTP status, when S3 answered.
pub(crate) fn status_of<E, R: HttpStatus>(err: &SdkError<E, R>) -> Option<u16> {
    err.raw_response().map(HttpStatus::status_code)
}

/// The status of the SDK's raw HTTP response.
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// S3's error code and message, or the SDK's whole error chain when S3 did not answer.
fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no details")
        ),
        None => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// S3 failed at `doing`: a 503 saying what could not be done, and S3's own words.
pub(crate) fn unavailable<E, R>(doing: impl std::fmt::Display, err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("could not {doing}: {}", describe(err)))
}
