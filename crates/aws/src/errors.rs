//! One mapping from SDK failures to [`PortError`], used by every adapter.
//!
//! Throttling, 5xx, timeouts and connection failures are `Retryable` (the state
//! machine retries them); 404s are `NotFound`; failed preconditions are `Conflict`;
//! any other 4xx is `Rejected`. Each message names the operation and the resource, so
//! an error that reaches a person says what was being done to what.

use std::error::Error as StdError;
use std::fmt::Display;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use gbr_core::ports::PortError;

/// Error codes that mean "slow down and try again", across the services we call.
const RETRYABLE_CODES: &[&str] = &[
    // DynamoDB
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    // S3
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    // S3 Control
    "TooManyRequestsException",
    "InternalServiceException",
    // SNS and SQS
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "InternalFailure",
    "KMSThrottlingException",
    // Generic
    "RequestTimeoutException",
    "PriorRequestNotComplete",
];

const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchVersion",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "ExecutionDoesNotExist",
    "StateMachineDoesNotExist",
];

const CONFLICT_CODES: &[&str] = &[
    "ConditionalCheckFailedException",
    "PreconditionFailed",
    "IdempotencyException",
    "IdempotentParameterMismatchException",
    "ExecutionAlreadyExists",
    "JobStatusException",
];

/// What a failure means for the caller, before a message is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Retryable,
    NotFound,
    Conflict,
    Rejected,
}

impl FailureKind {
    pub fn into_port_error(self, message: String) -> PortError {
        match self {
            FailureKind::Retryable => PortError::Retryable(message),
            FailureKind::NotFound => PortError::NotFound(message),
            FailureKind::Conflict => PortError::Conflict(message),
            FailureKind::Rejected => PortError::Rejected(message),
        }
    }
}

/// Classifies a service's answer by its error code and HTTP status.
pub fn classify(status: Option<u16>, code: Option<&str>) -> FailureKind {
    let code = code.unwrap_or_default();
    // The code first: services answer throttling with 400 and some 404s with a code.
    if RETRYABLE_CODES.contains(&code) {
        return FailureKind::Retryable;
    }
    if NOT_FOUND_CODES.contains(&code) {
        return FailureKind::NotFound;
    }
    if CONFLICT_CODES.contains(&code) {
        return FailureKind::Conflict;
    }
    match status {
        Some(429) | Some(500..=599) => FailureKind::Retryable,
        Some(404) => FailureKind::NotFound,
        Some(409) | Some(412) => FailureKind::Conflict,
        Some(_) => FailureKind::Rejected,
        // A modelled error with no HTTP answer attached: only the code can tell.
        None => FailureKind::Rejected,
    }
}

/// The error code and HTTP status of a failed call, when the service answered.
pub fn code_and_status<E>(err: &SdkError<E, HttpResponse>) -> (Option<String>, Option<u16>)
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().map(str::to_owned),
            Some(ctx.raw().status().as_u16()),
        ),
        other => (None, other.raw_response().map(|r| r.status().as_u16())),
    }
}

/// Maps any SDK failure of `operation` on `resource` to a [`PortError`].
pub fn port_error<E>(
    operation: &str,
    resource: impl Display,
    err: SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let kind = failure_kind(&err);
    let detail = match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                // A HEAD answer has no body, so no code: the status is all there is.
                _ => format!("HTTP {} with no error code", ctx.raw().status().as_u16()),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    };
    kind.into_port_error(format!("{operation} on {resource}: {detail}"))
}

/// The kind of any SDK failure: timeouts and connection or response failures are
/// retryable, a request the SDK could not build is rejected.
pub fn failure_kind<E>(err: &SdkError<E, HttpResponse>) -> FailureKind
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(_) => {
            let (code, status) = code_and_status(err);
            classify(status, code.as_deref())
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            FailureKind::Retryable
        }
        SdkError::ConstructionFailure(_) => FailureKind::Rejected,
        // SdkError is non-exhaustive: an unknown failure is assumed transient rather
        // than failing the job for good.
        _ => FailureKind::Retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "SlowDown",
            "TooManyRequestsException",
            "Throttling",
        ] {
            assert_eq!(
                classify(Some(400), Some(code)),
                FailureKind::Retryable,
                "{code}"
            );
        }
        assert_eq!(classify(Some(500), None), FailureKind::Retryable);
        assert_eq!(
            classify(Some(503), Some("Whatever")),
            FailureKind::Retryable
        );
        assert_eq!(classify(Some(429), None), FailureKind::Retryable);
    }

    #[test]
    fn not_found_conflict_and_rejected() {
        assert_eq!(classify(Some(404), None), FailureKind::NotFound);
        assert_eq!(
            classify(Some(400), Some("ResourceNotFoundException")),
            FailureKind::NotFound
        );
        assert_eq!(
            classify(Some(404), Some("NoSuchKey")),
            FailureKind::NotFound
        );
        assert_eq!(
            classify(Some(400), Some("ConditionalCheckFailedException")),
            FailureKind::Conflict
        );
        assert_eq!(
            classify(Some(412), Some("PreconditionFailed")),
            FailureKind::Conflict
        );
        assert_eq!(
            classify(Some(400), Some("ValidationException")),
            FailureKind::Rejected
        );
        assert_eq!(
            classify(Some(403), Some("AccessDenied")),
            FailureKind::Rejected
        );
    }
}
