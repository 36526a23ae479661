//! Task errors as Lambda reports them to Step Functions.
//!
//! Step Functions matches `Retry` and `Catch` on the Lambda error type, so every
//! failure is turned into a [`Diagnostic`] here, by hand: `lambda_runtime` would
//! otherwise name it after a Rust type, which no state machine clause matches.

use gbr_core::ErrorName;
use gbr_core::tasks::TaskError;
use lambda_runtime::Diagnostic;

/// The error a task reports: its stable name as the type, its Display text as the message.
pub fn diagnostic(error: &TaskError) -> Diagnostic {
    named(error.error_name(), error.to_string())
}

/// An error outside the task's own (an event the function cannot read at all).
pub fn named(error_type: &str, message: String) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: message,
    }
}

#[cfg(test)]
mod tests {
    use gbr_core::LambdaErrorType;
    use gbr_core::manifest::ManifestError;

    use super::*;

    #[test]
    fn the_error_type_is_the_stable_name() {
        let cases = [
            (TaskError::Retryable("throttled".into()), "Retryable"),
            (
                TaskError::InvalidInput("job_id: missing".into()),
                "InvalidTaskInput",
            ),
            (TaskError::JobNotFound("j1".into()), "JobNotFound"),
            (
                TaskError::ManifestUnreadable("gone".into()),
                "ManifestUnreadable",
            ),
            (TaskError::Manifest(ManifestError::Empty), "ManifestEmpty"),
            (TaskError::BatchJobRejected("no".into()), "BatchJobRejected"),
            (TaskError::StoreRejected("no".into()), "StoreRejected"),
        ];
        for (error, name) in cases {
            let d = diagnostic(&error);
            assert_eq!(d.error_type, name);
            assert!(
                LambdaErrorType::ALL
                    .iter()
                    .any(|t| t.as_str() == d.error_type)
            );
            assert_eq!(d.error_message, error.to_string());
            assert!(
                !d.error_type.contains("::"),
                "a Rust type name leaked: {}",
                d.error_type
            );
        }
    }
}
