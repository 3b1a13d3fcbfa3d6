//! Maps SDK errors to [`StoreError`]: throttling, 5xx, timeouts and network failures are
//! `Unavailable` (worth retrying); everything else is `Internal`.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use chatkit_store::StoreError;

/// Error codes DynamoDB uses for transient conditions.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Cancellation reasons of a transaction that are transient.
const RETRYABLE_REASONS: &[&str] =
    &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];

/// Maps an SDK error of operation `op` (e.g. `"Query"`).
/// A conditional write's outcome: `true` written, `false` refused by its condition.
pub(crate) fn conditional<O, E>(
    op: &str,
    result: Result<O, SdkError<E, HttpResponse>>,
) -> chatkit_store::StoreResult<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(ctx))
            if ctx.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk(op, e)),
    }
}

pub(crate) fn sdk<E>(op: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(ctx) => ctx.raw().status().is_server_error(),
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error()
                || ctx.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    let message = match err.code() {
        Some(code) => format!("DynamoDB {op}: {code}: {}", err.message().unwrap_or("(no message)")),
        None => format!("DynamoDB {op}: {}", DisplayErrorContext(&err)),
    };
    if transient {
        StoreError::Unavailable(message)
    } else {
        StoreError::Internal(message)
    }
}

/// What cancelled a transaction, when DynamoDB says so.
pub(crate) enum Cancelled {
    /// Conditions failed: the positions of the failed actions in the transaction, with the
    /// record as it was when the action asked for it (`ReturnValuesOnConditionCheckFailure`).
    ConditionFailed(Vec<(usize, Option<crate::records::Item>)>),
    /// Anything else: already mapped.
    Other(StoreError),
}

/// Maps a TransactWriteItems error, telling failed conditions apart.
pub(crate) fn transact(err: SdkError<TransactWriteItemsError, HttpResponse>) -> Cancelled {
    if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
        let codes: Vec<&str> = e.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
        if codes.contains(&"ConditionalCheckFailed") {
            let failed = e
                .cancellation_reasons()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, r)| (i, r.item().cloned()))
                .collect();
            return Cancelled::ConditionFailed(failed);
        }
        if codes.iter().any(|c| RETRYABLE_REASONS.contains(c)) {
            return Cancelled::Other(StoreError::Unavailable(format!(
                "DynamoDB TransactWriteItems cancelled: {}",
                codes.join(", ")
            )));
        }
    }
    Cancelled::Other(sdk("TransactWriteItems", err))
}
