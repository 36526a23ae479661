//! Every decision of a Glacier bulk restore, with no AWS SDK and no I/O.
//!
//! The Lambda handlers, the local stack and the command-line client all call into this
//! crate, so a rule (how a key is decoded, when a job is complete, which event to send)
//! is written once and tested once.

pub mod api;
pub mod completion_report;
pub mod decide;
pub mod estimate;
pub mod event;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod filter;
pub mod idempotency;
pub mod inventory;
pub mod job;
pub mod list_source;
pub mod listing;
pub mod manifest;
pub mod object_id;
pub mod policy;
pub mod ports;
pub mod prices;
pub mod request;
pub mod restore_event;
pub mod settings;
pub mod status;
pub mod tasks;

/// An error whose name is stable across releases.
///
/// Handlers report this name as the Lambda error type, so the state machine's
/// `Retry` and `Catch` clauses can match it; renaming one is a breaking change.
pub trait ErrorName {
    fn error_name(&self) -> &'static str;
}

/// Every error type the functions report to Lambda: what the state machine's `Retry`
/// and `Catch` can match, and what the restore-events queue's failures are named.
/// `lambdas/tests/deployment.rs` checks the state machine names no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr)]
pub enum LambdaErrorType {
    /// Throttling, a 5xx, a timeout: the state machine retries these.
    Retryable,
    InvalidTaskInput,
    JobNotFound,
    ManifestUnreadable,
    ManifestChanged,
    ManifestMalformed,
    ManifestEmpty,
    BatchJobRejected,
    StoreRejected,
    JobEnded,
    /// An SQS event the restore-event function cannot read at all.
    RestoreEventMalformed,
}

impl LambdaErrorType {
    pub const ALL: &'static [LambdaErrorType] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
